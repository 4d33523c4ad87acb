"""Tests for crmkit.sources.demo: a deterministic demo database that tells the planted stories."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from crmkit.backends.duckdb import read_notes, read_settings
from crmkit.model import ACTIVITY_TYPES, TABLES, validate
from crmkit.sources.demo import (
    STAGES,
    STORY_IDLE_REP,
    STORY_NEGATIVE_ROI_CAMPAIGN,
    STORY_OVERLOADED_AGENT,
    build_demo,
    default_end,
)

END = date(2025, 6, 30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    messages: list[str] = []
    path = build_demo(
        tmp_path_factory.mktemp("demo") / "demo.duckdb", seed=7, end=END, progress=messages.append
    )
    return path, messages


@pytest.fixture(scope="module")
def con(demo: tuple[Path, list[str]]) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(demo[0]), read_only=True) as c:
        yield c


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def table_digest(path: Path) -> dict[str, tuple[int, int]]:
    with duckdb.connect(str(path), read_only=True) as c:
        return {
            t: c.execute(f"SELECT count(*), sum(hash(x)) FROM (SELECT * FROM {t}) AS x").fetchone()  # type: ignore[misc]
            for t in TABLES
        }


def test_default_end_is_last_day_of_last_full_month() -> None:
    assert default_end(date(2025, 7, 15)) == date(2025, 6, 30)
    assert default_end(date(2025, 7, 1)) == date(2025, 6, 30)
    assert default_end(date(2025, 1, 31)) == date(2024, 12, 31)
    assert default_end(date(2024, 3, 5)) == date(2024, 2, 29)


def test_deterministic(demo: tuple[Path, list[str]], tmp_path: Path) -> None:
    again = build_demo(tmp_path / "again.duckdb", seed=7, end=END)
    assert table_digest(again) == table_digest(demo[0])
    other = build_demo(tmp_path / "other.duckdb", seed=8, end=END)
    assert table_digest(other)["deals"] != table_digest(demo[0])["deals"]


def test_settings_and_schema(con: duckdb.DuckDBPyConnection) -> None:
    s = read_settings(con)
    assert s["timezone"] == "UTC" and s["currency"] == "EUR"
    assert s["fiscal_year_start_month"] == "1"
    assert s["source"] == "demo seed=7 end=2025-06-30 scale=1"
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY 1"
        ).fetchall()
    ]
    assert names == sorted(TABLES)


@pytest.mark.parametrize(
    ("table", "lo", "hi"),
    [
        ("teams", 4, 4),
        ("employees", 28, 32),
        ("customers", 3500, 4500),
        ("campaigns", 10, 14),
        ("campaign_costs", 2000, 8000),
        ("leads", 6500, 10000),
        ("deals", 13_000, 18_000),
        ("activities", 65_000, 90_000),
        ("tickets", 5000, 7000),
        ("tasks", 7000, 9000),
        ("survey_responses", 4300, 5800),
        ("quotas", 80, 200),
    ],
)
def test_row_counts(con: duckdb.DuckDBPyConnection, table: str, lo: int, hi: int) -> None:
    assert lo <= one(con, f"SELECT count(*) FROM {table}") <= hi


def test_progress_messages(demo: tuple[Path, list[str]], con: duckdb.DuckDBPyConnection) -> None:
    n = one(con, "SELECT count(*) FROM customers")
    assert f"customers {n:,}" in demo[1]


def test_validation_clean(con: duckdb.DuckDBPyConnection) -> None:
    frames = {t: con.execute(f"SELECT * FROM {t}").df() for t in TABLES}
    _, notes = validate(frames)  # raises on any hard error
    assert [(n.table, n.column) for n in notes] == [("deals", "probability")]
    stored = read_notes(con)
    assert [(n.table, n.column, n.count) for n in stored] == [("deals", "probability", 6)]


def test_history_window_and_business_hours(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "SELECT max(occurred_at) FROM activities") < duckdb_ts("2025-07-01")
    assert one(con, "SELECT min(occurred_at) FROM activities") >= duckdb_ts("2023-07-01")
    office = one(
        con,
        "SELECT avg((hour(occurred_at) BETWEEN 7 AND 18)::INT) FROM activities "
        "WHERE employee_id IS NOT NULL",
    )
    assert office > 0.9
    weekend = one(con, "SELECT avg((isodow(created_at) >= 6)::INT) FROM deals")
    assert weekend < 0.1


def attainment(con: duckdb.DuckDBPyConnection, first: str, last: str) -> pd.DataFrame:
    """Per seller and month from ``first`` to ``last`` (first days): the quota target (each
    quota pro rata of its days in the month, as METRICS.md defines it) and revenue won."""
    return con.execute(f"""
        WITH months AS (
            SELECT unnest(generate_series(DATE '{first}', DATE '{last}', INTERVAL 1 MONTH))::DATE AS m),
        target AS (
            SELECT m, q.employee_id, e.team_id,
                   sum(q.target_amount * (least(q.period_end, m + INTERVAL 1 MONTH)::DATE
                       - greatest(q.period_start, m)) / (q.period_end - q.period_start)) AS target
            FROM months, quotas q JOIN employees e USING (employee_id)
            WHERE q.period_start < m + INTERVAL 1 MONTH AND q.period_end > m GROUP BY ALL),
        won AS (
            SELECT date_trunc('month', closed_at)::DATE AS m, owner_id AS employee_id,
                   sum(amount) AS revenue
            FROM deals WHERE status = 'won' GROUP BY ALL)
        SELECT m, employee_id, team_id, target, coalesce(revenue, 0) AS revenue
        FROM target LEFT JOIN won USING (m, employee_id)""").df()


def duckdb_ts(text: str) -> Any:
    import pandas as pd

    return pd.Timestamp(text).to_pydatetime()


def test_every_activity_type_and_employee_rules(con: duckdb.DuckDBPyConnection) -> None:
    types = {r[0] for r in con.execute("SELECT DISTINCT type FROM activities").fetchall()}
    assert types == set(ACTIVITY_TYPES)
    assert one(con, "SELECT count(employee_id) FROM activities WHERE type = 'site_visit'") == 0
    share = one(
        con, "SELECT avg((employee_id IS NULL)::INT) FROM activities WHERE type = 'request'"
    )
    assert share > 0.6
    assert (
        one(
            con,
            "SELECT count(*) FROM activities WHERE type IN ('call', 'meeting') "
            "AND duration_s IS NULL",
        )
        == 0
    )
    assert one(con, "SELECT count(*) FROM activities WHERE deal_id IS NOT NULL") > 10_000


def test_teams_roles_and_staff_changes(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT team_id, name FROM teams ORDER BY 1").fetchall() == [
        ("enterprise", "Enterprise"),
        ("midmarket", "Mid-Market"),
        ("partners", "Partners"),
        ("smb", "SMB"),
    ]
    roles = dict(con.execute("SELECT role, count(*) FROM employees GROUP BY 1").fetchall())
    assert roles["manager"] == 4 and roles["sales"] > 15 and roles["support"] >= 4
    assert one(con, "SELECT count(*) FROM employees WHERE hired_at IS NULL") == 0
    assert one(con, "SELECT count(*) FROM employees WHERE hired_at >= '2024-07-01'") == 2
    left = con.execute(
        "SELECT employee_id, left_at FROM employees WHERE left_at IS NOT NULL"
    ).fetchall()
    assert len(left) == 1 and 100 <= (duckdb_ts("2025-07-01") - left[0][1]).days <= 140
    leaver = left[0][0]
    assert one(con, f"SELECT count(*) FROM customers WHERE owner_id = '{leaver}'") == 0
    assert (
        one(
            con,
            f"SELECT count(*) FROM deals WHERE owner_id = '{leaver}' "
            f"AND created_at >= '{left[0][1]}'",
        )
        == 0
    )


def test_deals_pipeline(con: duckdb.DuckDBPyConnection) -> None:
    stage_p = dict(STAGES)
    for stage, prob in con.execute(
        "SELECT DISTINCT stage, probability FROM deals WHERE probability IS NOT NULL"
    ).fetchall():
        assert stage_p[stage] == prob
    win_rate = one(con, "SELECT avg((status = 'won')::INT) FROM deals WHERE status <> 'open'")
    assert 0.3 <= win_rate <= 0.5  # new business wins less often than repeat business
    open_ = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE expected_close_at < '2025-07-01'), "
        "count(*) FILTER (WHERE expected_close_at >= '2025-08-01') FROM deals "
        "WHERE status = 'open'"
    ).fetchone()
    assert open_ is not None and open_[0] > 50 and open_[1] > 0 and open_[2] > 0
    assert one(con, "SELECT count(*) FROM deals WHERE status = 'lost' AND lost_reason IS NULL") == 0
    assert one(con, "SELECT count(DISTINCT product) FROM deals") in range(4, 7)
    cycles = dict(
        con.execute(
            "SELECT c.segment, median(date_diff('day', d.created_at, d.closed_at)) FROM deals d "
            "JOIN customers c USING (customer_id) WHERE d.status = 'won' GROUP BY 1"
        ).fetchall()
    )
    assert 10 <= cycles["smb"] <= 30 and 55 <= cycles["enterprise"] <= 120
    repeat = one(
        con,
        "SELECT count(*) FROM (SELECT customer_id FROM deals WHERE status = 'won'"
        " GROUP BY 1 HAVING count(*) >= 2)",
    )
    assert repeat >= 200


def test_lead_deal_attribution(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(
            con,
            "SELECT count(*) FROM deals d JOIN leads l USING (lead_id) "
            "WHERE d.campaign_id IS DISTINCT FROM l.campaign_id",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT count(*) FROM leads WHERE (status = 'converted') <> (converted_at IS NOT NULL)",
        )
        == 0
    )
    assert (
        one(con, "SELECT count(*) FROM leads WHERE status = 'converted' AND customer_id IS NULL")
        == 0
    )
    conv = dict(
        con.execute(
            "SELECT channel, avg((status = 'converted')::INT) FROM leads GROUP BY 1"
        ).fetchall()
    )
    assert conv["referral"] > 2 * conv["social"] and conv["display"] < 0.06


def test_story_midmarket_declines(con: duckdb.DuckDBPyConnection) -> None:
    rev = con.execute(
        "SELECT sum(amount) FILTER (WHERE closed_at >= '2025-04-01'), "
        "sum(amount) FILTER (WHERE closed_at < '2025-04-01') FROM deals d "
        "JOIN employees e ON e.employee_id = d.owner_id WHERE e.team_id = 'midmarket' "
        "AND d.status = 'won' AND closed_at >= '2025-01-01'"
    ).fetchone()
    assert rev is not None and rev[0] < rev[1]
    wr = con.execute(
        "SELECT avg((status = 'won')::INT) FILTER (WHERE closed_at >= '2025-01-01'), "
        "avg((status = 'won')::INT) FILTER (WHERE closed_at < '2025-01-01') FROM deals d "
        "JOIN employees e ON e.employee_id = d.owner_id WHERE e.team_id = 'midmarket' "
        "AND closed_at >= '2024-01-01'"
    ).fetchone()
    assert wr is not None and wr[0] < 0.8 * wr[1]
    # the quotas were set before the decline: the team misses them, the others do not
    last = attainment(con, "2025-04-01", "2025-06-01").groupby("team_id")[["revenue", "target"]].sum()
    share = last["revenue"] / last["target"]
    assert share["midmarket"] < 0.7 and share.drop("midmarket").min() > share["midmarket"] + 0.2


def test_story_overloaded_agent(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT employee_id, count(*) AS n, median(date_diff('minute', opened_at, "
        "first_response_at)) AS frt, avg((first_response_at < sla_due_at)::INT) AS sla "
        "FROM tickets WHERE employee_id IS NOT NULL GROUP BY 1 ORDER BY n DESC"
    ).fetchall()
    top, peers = rows[0], rows[1:]
    assert top[0] == STORY_OVERLOADED_AGENT
    assert top[1] > 2.5 * max(p[1] for p in peers)
    assert top[2] > 2 * max(p[2] for p in peers)
    assert top[3] < min(p[3] for p in peers) - 0.2
    csat = dict(
        con.execute(
            "SELECT employee_id, avg((score >= 4)::INT) FROM survey_responses "
            "WHERE kind = 'csat' GROUP BY 1"
        ).fetchall()
    )
    assert csat[STORY_OVERLOADED_AGENT] == min(csat.values())


def test_story_negative_roi_campaign(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("""
        WITH attributed AS (
            SELECT d.amount, coalesce(d.campaign_id, l.campaign_id) AS campaign_id
            FROM deals d LEFT JOIN leads l USING (lead_id) WHERE d.status = 'won')
        SELECT c.campaign_id,
               (SELECT sum(cost) FROM campaign_costs k WHERE k.campaign_id = c.campaign_id),
               coalesce((SELECT sum(amount) FROM attributed a
                         WHERE a.campaign_id = c.campaign_id), 0),
               c.started_at < TIMESTAMP '2025-07-01' - INTERVAL 180 DAY
        FROM campaigns c""").fetchall()
    roi = {cid: (revenue - cost) / cost for cid, cost, revenue, _ in rows}
    assert roi[STORY_NEGATIVE_ROI_CAMPAIGN] < -0.5
    # every other campaign old enough for its leads to have closed pays back or nearly (a
    # younger one may not have won its first deals yet)
    mature = [cid for cid, *_, old in rows if old and cid != STORY_NEGATIVE_ROI_CAMPAIGN]
    assert len(mature) >= 8 and all(roi[cid] > -0.5 for cid in mature)
    assert sum(roi[cid] > 0 for cid in mature) >= 0.75 * len(mature)
    running = one(
        con, f"SELECT ended_at IS NULL FROM campaigns WHERE campaign_id = '{STORY_NEGATIVE_ROI_CAMPAIGN}'"
    )
    assert running  # still spending in the last month, so the monthly pages show it
    channels = {r[0] for r in con.execute("SELECT DISTINCT channel FROM campaigns").fetchall()}
    assert {
        "email",
        "paid_search",
        "social",
        "events",
        "referral",
        "webinar",
        "display",
    } <= channels


def test_story_idle_rep(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT e.employee_id, count(a.activity_id) AS n FROM employees e "
        "LEFT JOIN activities a ON a.employee_id = e.employee_id "
        "AND a.occurred_at >= '2025-04-01' WHERE e.role = 'sales' AND e.left_at IS NULL "
        "GROUP BY 1 ORDER BY n"
    ).fetchall()
    assert rows[0][0] == STORY_IDLE_REP
    assert rows[0][1] < 0.2 * rows[1][1]
    quarter = attainment(con, "2025-04-01", "2025-06-01").groupby("employee_id")[["revenue", "target"]].sum()
    assert quarter.loc[STORY_IDLE_REP, "revenue"] < 0.5 * quarter.loc[STORY_IDLE_REP, "target"]


def test_tickets_and_surveys(con: duckdb.DuckDBPyConnection) -> None:
    t = con.execute(
        "SELECT count(*) FILTER (WHERE first_response_at IS NULL), "
        "count(*) FILTER (WHERE resolved_at IS NULL), count(DISTINCT priority), "
        "count(*) FILTER (WHERE sla_due_at IS NULL) FROM tickets"
    ).fetchone()
    assert t is not None and t[0] > 0 and t[1] > 0 and t[2] == 4 and t[3] == 0
    kinds = dict(con.execute("SELECT kind, count(*) FROM survey_responses GROUP BY 1").fetchall())
    assert set(kinds) == {"nps", "csat", "ces"} and min(kinds.values()) > 300
    assert (
        one(
            con,
            "SELECT count(*) FROM survey_responses WHERE kind IN ('csat', 'ces') "
            "AND (ticket_id IS NULL OR employee_id IS NULL)",
        )
        == 0
    )
    comments = {r[0] for r in con.execute("SELECT comment FROM survey_responses").fetchall()}
    assert len(comments - {None}) >= 10
    nps_by_team = dict(
        con.execute(
            "SELECT e.team_id, avg((s.score >= 9)::INT) - avg((s.score <= 6)::INT) "
            "FROM survey_responses s JOIN customers c USING (customer_id) "
            "JOIN employees e ON e.employee_id = c.owner_id WHERE s.kind = 'nps' GROUP BY 1"
        ).fetchall()
    )
    assert max(nps_by_team.values()) - min(nps_by_team.values()) > 0.15


def test_quotas_are_quarterly_half_open(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT period_start, period_end FROM quotas").fetchall()
    for start, end in rows:
        assert start.day == 1 and start.month in (1, 4, 7, 10)
        assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == 3
        assert end.day == 1
    assert one(con, "SELECT count(DISTINCT employee_id) FROM quotas") == one(
        con, "SELECT count(*) FROM employees WHERE role = 'sales'"
    )
    assert one(con, "SELECT max(period_start) FROM quotas") == date(2025, 4, 1)


def test_scale_two_time_zone(tmp_path: Path) -> None:
    path = build_demo(
        tmp_path / "two.duckdb",
        seed=3,
        end=date(2024, 12, 31),
        scale=2,
        timezone="Europe/Berlin",
        currency="USD",
    )
    with duckdb.connect(str(path), read_only=True) as c:
        assert read_settings(c)["timezone"] == "Europe/Berlin"
        assert read_settings(c)["currency"] == "USD"
        assert one(c, "SELECT count(*) FROM teams") == 4
        assert one(c, "SELECT count(*) FROM employees") == 60
        assert one(c, "SELECT count(DISTINCT substr(deal_id, 1, 3)) FROM deals") == 2
        # business hours are local: 09:00-17:00 Berlin is 07:00-16:00 UTC
        hours = one(
            c, "SELECT median(hour(occurred_at)) FROM activities WHERE employee_id IS NOT NULL"
        )
        assert 10 <= hours <= 12
        assert one(c, "SELECT max(occurred_at) FROM activities") < duckdb_ts("2024-12-31 23:00")


@pytest.mark.parametrize(
    ("table", "employee", "at"),
    [
        ("activities", "employee_id", "occurred_at"),
        ("deals", "owner_id", "created_at"),
        ("tasks", "employee_id", "created_at"),
        ("tickets", "employee_id", "opened_at"),
        ("leads", "owner_id", "created_at"),
    ],
)
def test_work_happens_while_employed(
    con: duckdb.DuckDBPyConnection, table: str, employee: str, at: str
) -> None:
    outside = one(
        con,
        f"SELECT count(*) FROM {table} f JOIN employees e ON e.employee_id = f.{employee} "
        f"WHERE f.{at} < e.hired_at OR f.{at} >= e.left_at",
    )
    assert outside == 0


@pytest.mark.parametrize(
    ("table", "at"),
    [
        ("activities", "occurred_at"),
        ("deals", "created_at"),
        ("tickets", "opened_at"),
        ("survey_responses", "responded_at"),
    ],
)
def test_facts_follow_customer_creation(
    con: duckdb.DuckDBPyConnection, table: str, at: str
) -> None:
    early = one(
        con,
        f"SELECT count(*) FROM {table} f JOIN customers c USING (customer_id) "
        f"WHERE f.{at} < c.created_at",
    )
    assert early == 0


def test_texts_are_plain(con: duckdb.DuckDBPyConnection) -> None:
    """The demo is a showcase: no markup, no spreadsheet formulas, no control or exotic
    characters in any text (the tests that check escaping plant their own hostile text)."""
    columns = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND data_type = 'VARCHAR'"
    ).fetchall()
    assert len(columns) > 20
    for table, column in columns:
        bad = one(
            con,
            f"SELECT count(*) FROM {table} WHERE regexp_matches({column}, '[<>]|^[=+@-]|[^ -~]')",
        )
        assert bad == 0, (table, column)


def test_a_plausible_company(con: duckdb.DuckDBPyConnection) -> None:
    """Over the last twelve months: marketing costs a few percent of revenue, most seller
    months and nearly all team months land near the quota (the stories aside), and the
    cost of a customer won through marketing is below what that customer first buys."""
    cost, revenue = con.execute(
        "SELECT (SELECT sum(cost) FROM campaign_costs WHERE date >= '2024-07-01'), "
        "(SELECT sum(amount) FROM deals WHERE status = 'won' AND closed_at >= '2024-07-01')"
    ).fetchone()  # type: ignore[misc]
    assert 0.03 <= cost / revenue <= 0.08
    df = attainment(con, "2024-07-01", "2025-06-01")
    story = (df["employee_id"] == STORY_IDLE_REP) | (
        (df["team_id"] == "midmarket") & (df["m"] >= pd.Timestamp("2025-01-01"))
    )
    share = (df["revenue"] / df["target"])[~story]
    assert share.between(0.6, 1.3).mean() >= 0.55 and 0.85 <= share.median() <= 1.15
    assert (share > 2.5).mean() < 0.05
    teams = df[~story].groupby(["team_id", "m"])[["revenue", "target"]].sum()
    assert (teams["revenue"] / teams["target"]).between(0.6, 1.3).mean() >= 0.75
    cac, first_deal = con.execute("""
        WITH first_won AS (
            SELECT customer_id, arg_min(campaign_id, closed_at) AS campaign_id,
                   arg_min(amount, closed_at) AS amount, min(closed_at) AS won_at
            FROM deals WHERE status = 'won' GROUP BY 1)
        SELECT (SELECT sum(cost) FROM campaign_costs WHERE date >= '2024-07-01') / count(*),
               avg(amount)
        FROM first_won WHERE campaign_id IS NOT NULL AND won_at >= '2024-07-01'""").fetchone()  # type: ignore[misc]
    assert cac < first_deal
