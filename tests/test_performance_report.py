"""The Employee performance report end to end, checked against independent SQL.

``run_report("performance", ...)`` for June 2025 company-wide and 2025-Q2 for one team, on
the pinned demo database (as of 2025-07-01: "now" is 2025-07-02 00:00 UTC). Per employee,
tickets resolved, median first response (minutes), SLA compliance and tasks completed in
the JSON twin must equal SQL written directly against the DuckDB file.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import duckdb
import pytest
from published import first_team, month_and_quarter

from crmkit.sources.demo import STORY_IDLE_REP, STORY_OVERLOADED_AGENT

AS_OF = "2025-07-01"
NOW = "2025-07-02 00:00:00"


@pytest.fixture(scope="module")
def published(tmp_path_factory, demo_db):
    team = first_team(demo_db)
    month, quarter = month_and_quarter("performance", demo_db, tmp_path_factory.mktemp("output"),
                                       team, as_of=AS_OF)
    return {"month": (month, None), "quarter": (quarter, team)}


def _sql_per_employee(db: Path, start: str, end: str, team: str | None) -> dict[str, dict]:
    """Per employee straight from the tables (the assignee's current team for a team)."""
    scope = "" if team is None else (
        f"and employee_id in (select employee_id from employees where team_id = '{team}')"
    )
    opened = f"opened_at >= '{start}' and opened_at < '{end}'"
    con = duckdb.connect(str(db), read_only=True)
    tickets = con.execute(f"""
        select employee_id,
               count(*) filter (where resolved_at >= '{start}' and resolved_at < '{end}'),
               quantile_cont(epoch(first_response_at - opened_at) / 60.0, 0.5)
                   filter (where {opened} and first_response_at is not null),
               count(*) filter (where {opened} and sla_due_at is not null
                                and first_response_at <= sla_due_at),
               count(*) filter (where {opened} and sla_due_at is not null
                                and (first_response_at > sla_due_at
                                     or (first_response_at is null and sla_due_at < '{NOW}')))
        from tickets where employee_id is not null {scope}
        group by employee_id""").fetchall()
    tasks = con.execute(f"""
        select employee_id, count(*) from tasks
        where completed_at >= '{start}' and completed_at < '{end}' {scope}
        group by employee_id""").fetchall()
    con.close()
    out: dict[str, dict] = {}
    for emp, resolved, fr, met, missed in tickets:
        out.setdefault(emp, {}).update(
            tickets_resolved=resolved, first_response_minutes_median=fr,
            sla_compliance=met / (met + missed) if met + missed else None,
        )
    for emp, done in tasks:
        out.setdefault(emp, {})["tasks_completed"] = done
    return out


@pytest.mark.parametrize("which", ["month", "quarter"])
def test_per_employee_values_equal_independent_sql(published, demo_db, which):
    result, team = published[which]
    data = json.loads(result.json.read_text())
    p = data["period"]
    truth = _sql_per_employee(demo_db, p["start_utc"], p["end_utc"], team)
    rows = {r["employee_id"]: r for r in data["breakdowns"]["employee"]}
    assert any(t.get("tickets_resolved") for t in truth.values()) or team is not None
    assert sum(t.get("tasks_completed", 0) for t in truth.values()) > 0
    for emp, expected in truth.items():
        assert emp in rows, f"{emp} has work in the period but is not listed"
        for name, value in expected.items():
            got = rows[emp][name]
            if value is None:
                assert got is None, (emp, name)
            else:
                assert got == pytest.approx(value, rel=1e-9), (emp, name)
    for emp, row in rows.items():  # everyone else listed did none of it
        if emp not in truth:
            assert row["tickets_resolved"] == 0 and row["tasks_completed"] == 0, emp
            assert row["first_response_minutes_median"] is None, emp


@pytest.mark.parametrize("which", ["month", "quarter"])
def test_team_totals_equal_independent_sql(published, demo_db, which):
    result, team = published[which]
    data = json.loads(result.json.read_text())
    p = data["period"]
    start, end = p["start_utc"], p["end_utc"]
    members = "" if team is None else f"(select employee_id from employees where team_id = '{team}')"
    # a ticket with no assignee belongs to its customer's owner's team (DATA_MODEL.md)
    scope = "" if team is None else f"and coalesce(t.employee_id, c.owner_id) in {members}"
    con = duckdb.connect(str(demo_db), read_only=True)
    resolved, unanswered = con.execute(f"""
        select count(*) filter (where resolved_at >= '{start}' and resolved_at < '{end}'),
               count(*) filter (where opened_at >= '{start}' and opened_at < '{end}'
                                and first_response_at is null)
        from tickets t left join customers c using (customer_id) where true {scope}""").fetchone()
    task_scope = "" if team is None else f"and employee_id in {members}"
    done = con.execute(f"""select count(*) from tasks where completed_at >= '{start}'
                           and completed_at < '{end}' {task_scope}""").fetchone()[0]
    con.close()
    m = data["metrics"]
    assert (m["tickets_resolved"], m["tickets_unanswered"], m["tasks_completed"]) == (
        resolved, unanswered, done)


def test_json_shape_and_planted_stories(published):
    result, _ = published["month"]
    data = json.loads(result.json.read_text())
    assert data["report"] == "performance" and data["comparison_period"]["label"] == "2025-05"
    names = ("deals_won", "revenue", "win_rate", "quota_attainment", "activities",
             "tasks_completed", "tasks_overdue", "tasks_on_time_rate", "tickets_resolved",
             "tickets_unanswered", "first_response_minutes_median", "first_response_minutes_p90",
             "resolution_hours_median", "sla_compliance", "csat")
    assert set(names) <= set(data["metrics"]) and set(data["comparison"]) == set(data["metrics"])
    for rate in ("win_rate", "tasks_on_time_rate", "sla_compliance", "csat"):
        assert 0 <= data["metrics"][rate] <= 1, rate  # fractions, not percentages
    assert {"employee", "team_median"} <= set(data["breakdowns"])
    assert {r["metric"] for r in data["breakdowns"]["team_median"]} == set(names)
    flags = {r["employee_id"]: r["workload_flag"] for r in data["breakdowns"]["employee"]}
    assert flags[STORY_OVERLOADED_AGENT] == "high" and flags[STORY_IDLE_REP] == "low"


def test_page(published):
    result, _ = published["month"]
    page = result.html.read_text()
    data = json.loads(result.json.read_text())
    title = f"Employee performance — {data['team_name']} — {data['period']['label']}"
    assert f"<h1>{title}</h1>" in page and "<script" not in page.lower()
    assert page.count("<img") >= 2 and page.count("<table") >= 4
    assert "Team median" in page
    assert "import crmkit" not in page  # code is hidden


def test_per_person_rates_from_small_samples_are_flagged(published):
    """A seller's win rate from 8 closed deals is not ranked and compared without saying
    that it rests on 8 deals (the same rule as the cards: n < 30)."""
    result, _ = published["month"]
    data = json.loads(result.json.read_text())
    page = html.unescape(result.html.read_text()).replace("\xa0", " ")  # a cell's parts
    small = [r for r in data["breakdowns"]["employee"]
             if r["is_seller"] and r["win_rate"] is not None and 0 < r["deals_closed"] < 30]
    assert small, "the demo month has sellers with few closed deals"
    for r in small:
        assert f"small sample, n={r['deals_closed']}" in page, r["name"]
    large = [r for r in data["breakdowns"]["employee"] if r["is_seller"] and r["deals_closed"] >= 30]
    for r in large:
        assert f"small sample, n={r['deals_closed']}" not in page
