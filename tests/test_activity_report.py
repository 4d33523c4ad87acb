"""The Customer activity report end to end on the pinned demo database.

The JSON twin's interactions (total and per type), active and new customers and the status
counts are checked against independent SQL written directly against the DuckDB file, for a
month company-wide and for a quarter of one team. A team's interactions are its activities
(team of an activity: its employee's team, else its customer's owner's); its customer
figures count its customers (owner in the team; without an owner, the owner of the first won
deal) with all their activities and won deals, and a customer is new in the period of its
first won deal ever, company-wide.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from published import first_team, kpi_cards, month_and_quarter, unbroken

from crmkit.metrics import activity
from crmkit.metrics.definitions import METRICS
from crmkit.render.blocks import fmt

TYPES = ("call", "email", "meeting", "message", "site_visit", "request", "note", "other")
assert TYPES == activity.ACTIVITY_TYPES  # the canonical types, spelled out independently


@pytest.fixture(scope="module")
def published(tmp_path_factory, demo_db):
    team = first_team(demo_db)
    month, quarter = month_and_quarter("activity", demo_db, tmp_path_factory.mktemp("output"), team)
    return {"month": (month, None), "quarter": (quarter, team)}


def _scoped(team: str | None) -> tuple[str, str, str]:
    """CTEs of the team's activities, and of every activity and won deal of the team's
    customers, written straight in SQL."""
    if team is None:
        return ("select * from activities", "select * from activities",
                "select * from deals where status = 'won'")
    members = f"(select employee_id from employees where team_id = '{team}')"
    acts = f"""select a.* from activities a left join customers c using (customer_id)
               where coalesce(a.employee_id, c.owner_id) in {members}"""
    first_owner = """(select owner_id from deals f where f.customer_id = c.customer_id
                      and f.status = 'won' and f.closed_at is not null
                      order by f.closed_at, f.deal_id limit 1)"""
    theirs = f"""select customer_id from customers c
                 where c.owner_id in {members}
                    or (c.owner_id is null and {first_owner} in {members})"""
    return (acts, f"select * from activities where customer_id in ({theirs})",
            f"select * from deals where status = 'won' and customer_id in ({theirs})")


def _truth(db, start: str, end: str, team: str | None) -> dict:
    team_acts, acts, won = _scoped(team)
    con = duckdb.connect(str(db), read_only=True)
    cte = f"with team_acts as ({team_acts}), acts as ({acts}), won as ({won})"
    truth = {"interactions": con.execute(
        f"{cte} select count(*) from team_acts where occurred_at >= '{start}' "
        f"and occurred_at < '{end}'").fetchone()[0]}
    for t in TYPES:
        truth[f"interactions_{t}"] = con.execute(
            f"{cte} select count(*) from team_acts where type = '{t}' "
            f"and occurred_at >= '{start}' and occurred_at < '{end}'").fetchone()[0]
    truth["active_customers"] = con.execute(f"""{cte}
        select count(distinct customer_id) from (
            select customer_id from acts where occurred_at >= '{start}' and occurred_at < '{end}'
            union all
            select customer_id from won where closed_at >= '{start}' and closed_at < '{end}')
        where customer_id is not null""").fetchone()[0]
    truth["new_customers"] = con.execute(f"""{cte}
        select count(*) from (select customer_id, min(closed_at) as first from won
                              where customer_id is not null group by customer_id)
        where first >= '{start}' and first < '{end}'""").fetchone()[0]
    last = f"""{cte}, contact as (
            select customer_id, occurred_at as ts from acts where customer_id is not null
            union all select customer_id, closed_at from won where customer_id is not null),
        last as (select customer_id, max(ts) as ts from contact where ts < '{end}' group by 1)
        select count(*) filter (where ts >= timestamp '{end}' - interval 90 day),
               count(*) filter (where ts < timestamp '{end}' - interval 90 day
                                  and ts >= timestamp '{end}' - interval 180 day),
               count(*) filter (where ts < timestamp '{end}' - interval 180 day)
        from last"""
    truth["customers_active"], truth["customers_at_risk"], truth["customers_lost"] = (
        con.execute(last).fetchone())
    con.close()
    return truth


@pytest.mark.parametrize("which", ["month", "quarter"])
def test_json_equals_independent_sql(published, demo_db, which):
    result, team = published[which]
    data = json.loads(result.json.read_text())
    p = data["period"]
    assert p["label"] == ("2025-06" if which == "month" else "2025-Q2")
    assert data["team"] == (team or "all")
    truth = _truth(demo_db, p["start_utc"], p["end_utc"], team)
    assert truth["interactions"] > 0 and truth["active_customers"] > 0
    for name, expected in truth.items():
        assert data["metrics"][name] == expected, name
    by_type = {r["type"]: r["interactions"] for r in data["breakdowns"]["interactions_by_type"]}
    assert by_type == {t: truth[f"interactions_{t}"] for t in TYPES}


def test_json_shape(published):
    data = json.loads(published["month"][0].json.read_text())
    assert data["report"] == "activity" and data["comparison_period"]["label"] == "2025-05"
    names = {"interactions", "active_customers", "new_customers", "customers_active",
             "customers_at_risk", "customers_lost", *(f"interactions_{t}" for t in TYPES)}
    assert names <= set(data["metrics"]) and set(data["comparison"]) == set(data["metrics"])
    assert all(data["changes"][n]["p_value"] is not None for n in ("interactions", "active_customers"))
    b = data["breakdowns"]
    assert {"interactions_by_type", "customer", "top_revenue", "employee", "customer_status",
            "rfm_segments", "cohorts", "went_quiet"} <= set(b)
    assert [r["type"] for r in b["interactions_by_type"]] == list(TYPES)
    status = {r["status"]: r for r in b["customer_status"]}
    assert status["active"]["customers"] == data["metrics"]["customers_active"]
    assert sum(r["share"] for r in b["customer_status"]) == pytest.approx(1.0)  # fractions
    assert sum(r["share"] for r in b["rfm_segments"]) == pytest.approx(1.0)
    cohorts = {r["cohort"] for r in b["cohorts"]}
    assert max(cohorts) == "2025-06" and len(cohorts) <= 12 and min(cohorts) >= "2024-07"
    assert all(r["share"] == 1.0 for r in b["cohorts"] if r["month_offset"] == 0)
    assert all(0 <= r["share"] <= 1 for r in b["cohorts"])
    top = b["customer"]
    assert top and all(r["name"] for r in top)
    assert [r["interactions"] for r in top] == sorted((r["interactions"] for r in top), reverse=True)


def test_went_quiet_had_no_contact_in_the_period(published, demo_db):
    data = json.loads(published["month"][0].json.read_text())
    quiet = data["breakdowns"]["went_quiet"]
    assert quiet, "the demo has customers that went quiet"
    revenue = [r["revenue_365d"] for r in quiet]
    assert revenue == sorted(revenue, reverse=True)
    ids = ", ".join(f"'{r['customer_id']}'" for r in quiet)
    p, c = data["period"], data["comparison_period"]
    con = duckdb.connect(str(demo_db), read_only=True)
    touched_now = con.execute(f"""
        select count(*) from (
            select customer_id, occurred_at as ts from activities
            union all select customer_id, closed_at from deals where status = 'won')
        where customer_id in ({ids}) and ts >= '{p['start_utc']}' and ts < '{p['end_utc']}'
    """).fetchone()[0]
    touched_before = con.execute(f"""
        select count(distinct customer_id) from (
            select customer_id, occurred_at as ts from activities
            union all select customer_id, closed_at from deals where status = 'won')
        where customer_id in ({ids}) and ts >= '{c['start']}' and ts < '{c['end']}'
    """).fetchone()[0]
    con.close()
    assert touched_now == 0 and touched_before == len(quiet)


def test_html_matches_json(published):
    result = published["month"][0]
    data = json.loads(result.json.read_text())
    page = unbroken(result.html.read_text())
    cards = kpi_cards(page)
    assert len(cards) == 14
    for name, shown in cards.items():
        assert shown == fmt(data["metrics"][name], METRICS[name].unit), name
    assert f"<h1>Customer activity — {data['team_name']} — {data['period']['label']}</h1>" in page and "2025-06-01 to 2025-06-30" in page
    assert "<script" not in page.lower() and page.count("<img") >= 4
    assert "def " not in page and "import crmkit" not in page
