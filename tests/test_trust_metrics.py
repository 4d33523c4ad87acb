"""Numbers that cannot mislead: retention bounded 0..1, changes of rates in points, new
customers counted once company-wide, and team figures of every additive metric summing to
the company figure.

The end-to-end checks run on the pinned demo database of the root ``conftest.py`` and on
the public Olist example (``examples/olist``); the right answers are computed
independently, in SQL on the same DuckDB file, never by calling the metric code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import test_performance_metrics as P
from engines import on_engine

from crmkit import reports, stats
from crmkit.backends.duckdb import write_database
from crmkit.metrics import customers, performance, satisfaction
from crmkit.metrics.definitions import ADDITIVE_UNITS, CATALOGUE, METRICS, Metric
from crmkit.model import TABLES, empty_frame
from crmkit.periods import parse_period
from crmkit.reports import open_report
from crmkit.reports.data import ReportData
from crmkit.store import Store

AS_OF = "2025-07-01"


# -- the definitions say how changes read and what adds up ----------------------------------


def test_every_rate_changes_in_percentage_points_and_nps_in_points():
    for m in METRICS.values():
        if m.unit == "rate":
            assert m.change_in_points and m.change_reads == "pp", m.name
    assert METRICS["nps"].change_in_points and METRICS["nps"].change_reads == "pts"
    for name in ("revenue", "deals_won", "sales_cycle_days_median", "first_response_minutes_median",
                 "ces"):
        assert not METRICS[name].change_in_points and METRICS[name].change_reads == "%", name


def test_a_rate_cannot_be_declared_to_change_relatively():
    with pytest.raises(ValueError, match="percentage points"):
        Metric("odd_rate", "Odd rate", "rate", "A share.", change_in_points=False)


def test_additive_defaults_to_counts_and_money_and_averages_say_no():
    assert Metric("x", "X", "count", "A count.").additive
    assert Metric("x", "X", "money", "An amount.").additive
    assert not Metric("x", "X", "rate", "A share.").additive
    assert not Metric("x", "X", "money", "An average.", additive=False).additive
    with pytest.raises(ValueError, match="counts and money"):
        Metric("x", "X", "days", "A median.", additive=True)
    for name in ("avg_deal_size", "deal_size_median", "cost_per_lead", "cac", "pipeline_velocity",
                 "win_rate", "nps", "retention_rate", "sales_cycle_days_median"):
        assert not METRICS[name].additive, name
    for name in ("revenue", "deals_won", "open_pipeline", "new_customers", "active_customers",
                 "cost", "acquired_customers", "nps_responses", "retention_start_customers",
                 "retention_retained_customers"):
        assert METRICS[name].additive, name


def test_a_count_or_amount_that_does_not_add_up_says_why():
    for group in CATALOGUE.values():
        for m in group:
            if m.unit in ADDITIVE_UNITS and not m.additive:
                assert "not add up" in m.definition or "not summed" in m.definition, m.name


# -- the JSON `changes` shape ----------------------------------------------------------------


def _data(metrics: dict, comparison: dict | None, database: Path) -> ReportData:
    """Report data of ``metrics`` against ``comparison`` on a page that compares: a period
    that is over, with data (a page without data states no change)."""
    ctx = open_report("sales", period="2025-06", as_of=AS_OF, database=database)
    assert ctx.compared or comparison is None
    return ReportData(ctx, metrics=metrics, comparison=comparison)


def test_changes_of_rates_are_in_percentage_points_nps_in_points_counts_relative(demo_db):
    data = _data(
        {"win_rate": 0.366, "nps": 14.6, "revenue": 110.0, "deals_won": 0, "ces": 5.5,
         "sales_cycle_days_median": 30.0, "lead_conversion": None, "custom_number": 3},
        {"win_rate": 0.388, "nps": -9.6, "revenue": 100.0, "deals_won": 0, "ces": 5.0,
         "sales_cycle_days_median": 40.0, "lead_conversion": 0.2, "custom_number": 2},
        demo_db,
    )
    changes = json.loads(json.dumps(data.to_json(), allow_nan=False))["changes"]
    win = changes["win_rate"]
    # "Win rate 36.6% ▼ −5.5% vs 38.8%" read as points: it is −2.2 pp
    assert win["change"] is None and win["change_pp"] == pytest.approx(-2.2)
    assert "change_points" not in win
    nps = changes["nps"]
    assert nps["change"] is None and nps["change_points"] == pytest.approx(24.2)
    assert "change_pp" not in nps
    assert changes["revenue"]["change"] == pytest.approx(0.1)
    assert "change_pp" not in changes["revenue"] and "change_points" not in changes["revenue"]
    assert changes["sales_cycle_days_median"]["change"] == pytest.approx(-0.25)
    assert changes["ces"]["change"] == pytest.approx(0.1)
    assert changes["deals_won"]["change"] is None  # 0 against 0: no relative change
    assert changes["lead_conversion"] == {"change": None, "change_pp": None, "p_value": None,
                                          "significant": None}
    assert changes["custom_number"]["change"] == pytest.approx(0.5)  # not in the catalogue


def test_cards_carry_the_same_changes_as_the_json(demo_db):
    data = _data({"win_rate": 0.366, "nps": 14.6, "revenue": 110.0},
                 {"win_rate": 0.388, "nps": -9.6, "revenue": 100.0}, demo_db)
    win, nps, revenue = data.card("win_rate"), data.card("nps"), data.card("revenue")
    assert win["change"] is None and win["change_pp"] == pytest.approx(-2.2)
    assert nps["change"] is None and nps["change_points"] == pytest.approx(24.2)
    assert revenue["change"] == pytest.approx(0.1) and "change_pp" not in revenue


def test_no_comparison_no_changes(demo_db):
    data = _data({"win_rate": 0.366}, None, demo_db)
    assert data.to_json()["changes"] == {} and "change" not in data.card("win_rate")


def test_per_person_and_team_median_changes_of_rates_are_in_points():
    emp, med = P._board(on_engine(P._frames(), "pandas"))
    rates = [m for m in performance.PERSON_METRICS if METRICS[m].unit == "rate"]
    seen = 0
    for m in rates:
        assert emp[f"{m}_change"].isna().all(), m
        comparable = emp[f"{m}_change_pp"].notna()
        seen += int(comparable.sum())
        expected = 100 * (emp.loc[comparable, m] - emp.loc[comparable, f"{m}_previous"])
        assert emp.loc[comparable, f"{m}_change_pp"].tolist() == pytest.approx(expected.tolist())
    assert seen, "no person has a rate in both periods: the test checks nothing"
    medians = med.set_index("metric")
    assert medians.loc[rates, "change"].isna().all()
    both = medians.loc[rates].dropna(subset=["team_median", "team_median_previous"])
    assert len(both) and both["change_pp"].tolist() == pytest.approx(
        (100 * (both["team_median"] - both["team_median_previous"])).tolist())
    counts = emp["deals_won_change"].dropna()
    assert len(counts) and "deals_won_change_pp" not in emp.columns  # counts stay relative


# -- new customers: once, company-wide; a team's are those it owns ---------------------------


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


@pytest.fixture(params=["pandas", "duckdb"])
def two_teams(request, tmp_path) -> Iterator[Store]:
    """The hand-made two-team company (:func:`_two_teams`) as pandas frames or a DuckDB file."""
    frames = _two_teams()
    settings = {"timezone": "UTC", "currency": "EUR"}
    if request.param == "pandas":
        store = Store.from_frames(frames, settings=settings)
    else:
        store = Store.open(write_database(tmp_path / "two.duckdb", frames, settings=settings))
    yield store
    store.close()


def _two_teams() -> dict[str, pd.DataFrame]:
    """Teams a (e1) and b (e2). c1 belongs to a and bought first in May (from a), then in
    June from b's seller: not new in June, for anyone. c2 belongs to b and bought first in
    June from a's seller: new in June, for b (its owner's team). c3 has no owner; its first
    won deal (June) is b's, its second a's: new in June, for b. c4 (b) only lost a deal."""
    columns = {name: list(empty_frame(name).columns) for name in TABLES}
    frames = {name: empty_frame(name) for name in TABLES}

    def table(name: str, rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame([{c: r.get(c) for c in columns[name]} for r in rows])

    frames["teams"] = table("teams", [{"team_id": "a", "name": "A"}, {"team_id": "b", "name": "B"}])
    frames["employees"] = table("employees", [
        {"employee_id": "e1", "name": "Ann", "team_id": "a", "role": "sales",
         "hired_at": _ts("2020-01-01")},
        {"employee_id": "e2", "name": "Bob", "team_id": "b", "role": "sales",
         "hired_at": _ts("2020-01-01")}])
    frames["customers"] = table("customers", [
        {"customer_id": c, "name": c, "created_at": _ts("2024-01-01"), "owner_id": o}
        for c, o in (("c1", "e1"), ("c2", "e2"), ("c3", None), ("c4", "e2"))])
    won = [("d1", "e1", "c1", "2025-05-10"), ("d2", "e2", "c1", "2025-06-05"),
           ("d3", "e1", "c2", "2025-06-10"), ("d4", "e2", "c3", "2025-06-12"),
           ("d5", "e1", "c3", "2025-06-20")]
    frames["deals"] = table("deals", [
        *({"deal_id": d, "owner_id": o, "customer_id": c, "status": "won", "amount": 100.0,
           "created_at": _ts("2025-01-01"), "closed_at": _ts(at)} for d, o, c, at in won),
        {"deal_id": "d6", "owner_id": "e2", "customer_id": "c4", "status": "lost", "amount": 50.0,
         "created_at": _ts("2025-01-01"), "closed_at": _ts("2025-06-15")}])
    frames["activities"] = table("activities", [
        {"activity_id": "a1", "occurred_at": _ts("2025-06-03"), "type": "call",
         "customer_id": "c1", "employee_id": "e2"},
        {"activity_id": "a2", "occurred_at": _ts("2025-06-04"), "type": "email",
         "customer_id": "c4", "employee_id": "e1"},
        {"activity_id": "a3", "occurred_at": _ts("2025-06-05"), "type": "note",
         "customer_id": None, "employee_id": "e1"}])
    return frames


def _activity(store: Store, team: str, period: str = "2025-06") -> dict:
    ctx = open_report("activity", period=period, team=team, as_of="2025-07-15", store=store)
    return reports.activity.build(ctx).metrics


def test_a_customer_is_new_once_company_wide_and_for_the_team_that_owns_it(two_teams):
    company, a, b = (_activity(two_teams, t) for t in ("all", "a", "b"))
    assert company["new_customers"] == 2  # c2, c3
    assert (a["new_customers"], b["new_customers"]) == (0, 2)
    # every customer counts for one team: active in June c1 (a); c2, c3, c4 (b)
    assert company["active_customers"] == 4
    assert (a["active_customers"], b["active_customers"]) == (1, 3)
    # interactions stay the team's own activities (a2 and a3 are a's, a1 is b's)
    assert (a["interactions"], b["interactions"], company["interactions"]) == (2, 1, 3)
    for name in ("customers_active", "customers_at_risk", "customers_lost"):
        assert a[name] + b[name] == company[name], name


def test_retention_of_the_hand_made_teams_counts_each_customer_once(two_teams):
    got = {}
    for team in ("all", "a", "b"):
        ctx = open_report("satisfaction", period="2025-06", team=team, as_of="2025-07-15",
                          store=two_teams)
        got[team] = reports.satisfaction.build(ctx).metrics
    # at the June start only c1 (d1, May 10) was active; it still is at the end (a1, d2)
    assert (got["all"]["retention_start_customers"], got["all"]["retention_retained_customers"],
            got["all"]["retention_end_customers"]) == (1, 1, 4)
    assert got["a"]["retention_rate"] == 1.0 and got["b"]["retention_rate"] is None
    for name in ("retention_start_customers", "retention_retained_customers",
                 "retention_end_customers"):
        assert got["a"][name] + got["b"][name] == got["all"][name], name


# -- retention: R of S, bounded 0..1, equal to SQL on the demo and on Olist ------------------

#: Active customers at the start and at the end of [start, end), and each customer's team,
#: straight in SQL: a customer's team is its owner's, or, without an owner, its first won
#: deal's owner's (earliest closed_at, then the smallest deal_id).
RETENTION_SQL = """
with contacts as (
    select customer_id, occurred_at as t from activities where customer_id is not null
    union all
    select customer_id, closed_at from deals
    where status = 'won' and customer_id is not null and closed_at is not null),
first_won as (
    select customer_id, owner_id from (
        select customer_id, owner_id,
               row_number() over (partition by customer_id order by closed_at, deal_id) as rn
        from deals where status = 'won' and customer_id is not null and closed_at is not null)
    where rn = 1),
team_of as (
    select c.customer_id,
           case when c.owner_id is null then ef.team_id else eo.team_id end as team_id
    from customers c
    left join employees eo on eo.employee_id = c.owner_id
    left join first_won f on f.customer_id = c.customer_id
    left join employees ef on ef.employee_id = f.owner_id),
s as (select distinct customer_id from contacts
      where t >= $start - interval 90 day and t < $start),
e as (select distinct customer_id from contacts
      where t >= $end - interval 90 day and t < $end),
scoped as (
    select coalesce(s.customer_id, e.customer_id) as customer_id,
           s.customer_id is not null as at_start, e.customer_id is not null as at_end
    from s full join e on s.customer_id = e.customer_id)
select count(*) filter (where at_start), count(*) filter (where at_start and at_end),
       count(*) filter (where at_end)
from scoped left join team_of using (customer_id)
where $team is null or team_of.team_id = $team
"""


def _sql_retention(con: duckdb.DuckDBPyConnection, period, team: str | None) -> tuple[int, int, int]:
    s, r, e = con.execute(RETENTION_SQL, {"start": period.start_utc, "end": period.end_utc,
                                          "team": team}).fetchone()
    return s, r, e


def _months(con: duckdb.DuckDBPyConnection, timezone: str) -> list:
    first, last = con.execute("""
        select min(t), max(t) from (select occurred_at as t from activities union all
        select closed_at from deals where status = 'won')""").fetchone()
    months, (y, m) = [], (first.year, first.month)
    while (y, m) <= (last.year, last.month):
        months.append(parse_period(f"{y:04d}-{m:02d}", timezone=timezone))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _retention_everywhere(db: Path) -> list[tuple]:
    """(month, team, metric's retention parts, SQL's) for every month and team of ``db``."""
    store = Store.open(db)
    con = duckdb.connect(str(db), read_only=True)
    found = []
    try:
        for team in ["all", *store.teams()]:
            book = customers.book(store.tables, team)
            for month in _months(con, store.timezone):
                got = satisfaction.retention(book.activities, book.deals, month)
                mine = (got["retention_start_customers"], got["retention_retained_customers"],
                        got["retention_end_customers"], got["retention_rate"])
                found.append((month.label, team, mine,
                              _sql_retention(con, month, None if team == "all" else team)))
    finally:
        con.close()
        store.close()
    return found


def _check_retention(found: list[tuple]) -> None:
    assert found
    for month, team, (s, r, e, rate), truth in found:
        where = f"{month}, team {team}"
        assert (s, r, e) == truth, where
        if s == 0:
            assert rate is None, where
        else:
            assert 0.0 <= rate <= 1.0 and rate == pytest.approx(r / s), where


def test_retention_is_within_0_and_1_and_equals_sql_for_every_team_and_month_of_the_demo(demo_db):
    found = _retention_everywhere(demo_db)
    _check_retention(found)
    assert sum(1 for *_, (s, r, e, rate), _ in found if s and r < s) > 10  # not all trivial
    by_month: dict[str, dict[str, tuple]] = {}
    for month, team, parts, _ in found:
        by_month.setdefault(month, {})[team] = parts
    for month, teams in by_month.items():  # S, R and E of the teams add up to the company's
        for i, name in enumerate(("S", "R", "E")):
            assert sum(p[i] for t, p in teams.items() if t != "all") == teams["all"][i], (month, name)


def test_retention_is_within_0_and_1_and_equals_sql_on_the_public_olist_data(olist_db):
    found = _retention_everywhere(olist_db)
    _check_retention(found)
    assert any(s for _, _, (s, *_), _ in found)  # some month had customers active at its start


def test_the_satisfaction_page_says_the_same_retention_as_its_card(demo_db):
    ctx = open_report("satisfaction", period="2025-06", as_of=AS_OF, database=demo_db)
    data = reports.satisfaction.build(ctx)
    m, ret = data.metrics, data.extra.retention
    s, r = m["retention_start_customers"], m["retention_retained_customers"]
    assert (ret["retention_start_customers"], ret["retention_retained_customers"]) == (s, r)
    shown = f"{100 * m['retention_rate']:.1f}%"
    text = data.extra.retention_text
    assert f"{r:,} of the {s:,} customers" in text and shown in text, text
    assert "exceed" not in text and "E − N" not in text
    assert m["retention_rate"] == pytest.approx(r / s) and 0 <= m["retention_rate"] <= 1
    test = data.tests["retention_rate"]
    prev = data.comparison
    expected = stats.two_proportion_test(r, s, prev["retention_retained_customers"],
                                         prev["retention_start_customers"])
    assert (test.statistic, test.p_value) == pytest.approx((expected.statistic, expected.p_value))


# -- team figures of every additive metric sum to the company figure -------------------------

#: Records that belong to no team (DATA_MODEL.md, "team of a fact"), straight in SQL.
TEAMLESS = {
    f"{table} without a team": f"""
        select count(*) from {table} x left join customers c using (customer_id)
        where x.{who} is null and c.owner_id is null"""
    for table, who in (("activities", "employee_id"), ("tickets", "employee_id"),
                       ("survey_responses", "employee_id"), ("leads", "owner_id"))
} | {
    "customers with neither an owner nor a won deal": """
        select count(*) from customers c where owner_id is null and not exists (
            select 1 from deals d where d.customer_id = c.customer_id and d.status = 'won')""",
}


@pytest.fixture(scope="module")
def everyone_and_teams(monthly_pack):
    """Every report of June 2025 (the monthly preset's month at the pinned as-of date),
    company-wide and for each team: the JSON twins of the session's monthly pack
    (tests/conftest.py), published from the pinned demo with a team without records."""
    built = {("2025-06", report, team): twin
             for (report, team), twin in monthly_pack.twins("2025-06").items()}
    with duckdb.connect(str(monthly_pack.database), read_only=True) as con:
        teams = sorted(t for (t,) in con.execute("select team_id from teams").fetchall())
    assert {key for key in built} == {("2025-06", r, t) for r in reports.REPORTS
                                      for t in ["all", *teams]}
    return built, teams


def _campaigns_without_team(company: dict[str, Any]) -> dict[str, float]:
    """The part of Marketing's additive figures from campaigns without a team, read from the
    company-wide campaign table (they count for the company only)."""
    rows = pd.DataFrame(company["breakdowns"]["campaign"])
    rows = rows[rows["campaign_id"].notna() & rows["team_id"].isna()]
    return {name: float(rows[name].sum()) for name in
            ("cost", "leads", "deals_won", "revenue", "acquired_customers")}


def test_the_pinned_demo_has_no_records_without_a_team_but_one_campaign(demo_db):
    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        found = {what: con.execute(sql).fetchone()[0] for what, sql in TEAMLESS.items()}
        campaigns = con.execute("select count(*) from campaigns where team_id is null").fetchone()[0]
    finally:
        con.close()
    assert found == dict.fromkeys(TEAMLESS, 0), "extend the sum test to these records"
    assert campaigns >= 1  # its cost, leads and deals count for the company only


@pytest.mark.parametrize("period", ["2025-06"])
@pytest.mark.parametrize("report", sorted(reports.REPORTS))
def test_team_figures_of_every_additive_metric_sum_to_the_company_figure(
        everyone_and_teams, report, period):
    built, teams = everyone_and_teams
    company = built[period, report, "all"]
    outside = _campaigns_without_team(company) if report == "marketing" else {}
    additive = [n for n in company["metrics"] if n in METRICS and METRICS[n].additive]
    assert additive, f"{report} has no additive metric"
    for name in additive:
        parts = [built[period, report, team]["metrics"][name] or 0 for team in teams]
        expected = (company["metrics"][name] or 0) - outside.get(name, 0)
        assert sum(parts) == pytest.approx(expected, rel=1e-9, abs=1e-6), (name, parts)
    nonzero = [n for n in additive if company["metrics"][n]]
    assert len(nonzero) >= len(additive) // 2, "mostly zeros: the test would prove little"
