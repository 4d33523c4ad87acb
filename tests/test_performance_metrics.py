"""Employee performance metrics on a hand-made CRM whose answers were worked out by hand.

June 2025 (UTC), as of 2025-07-01 (so "now" is 2025-07-02 00:00 UTC). Employees: Ann (e1,
sales), Bob (e2, support), Cy (e3, sales, does nothing at all), Dee (e4, support, joined
2025-06-10: partial period) and Eve (e5, sales, left 2025-03-01: not listed).

Tickets (opened → first response → resolved, SLA deadline):
  t1 Bob  06-02 09:00 → 09:30 (30 min) → 19:00 (10 h), SLA 10:00: met
  t2 Bob  06-03 08:00 → 10:00 (120 min) → 06-04 08:00 (24 h), SLA 09:00: missed (late)
  t3 Bob  06-05 12:00, never answered, SLA 16:00 passed: missed, unanswered
  t4 Bob  06-10 00:00 → 01:00 (60 min), not resolved, SLA 04:00: met
  t5 Bob  05-30 10:00 → 11:00 → 06-01 10:00 (48 h): resolved in June, opened in May
  t6 Dee  06-12 10:00 → 10:45 (45 min) → 12:00 (2 h), SLA 11:00: met
  t7 —    06-20 09:00 (no assignee), never answered, SLA 13:00 passed: missed, unanswered
  t8 Bob  06-30 23:00, not answered yet, SLA 07-05 still ahead: pending, unanswered
  t9 Bob  06-15 08:00 → 14:00 (360 min) → 06-16 08:00 (24 h), no SLA
Bob's first responses 30, 60, 120, 360 min: median 90, p90 = 120 + 0.7 × 240 = 288
(linear, position 0.9 × 3 = 2.7). Team: 30, 45, 60, 120, 360: median 60,
p90 = 120 + 0.6 × 240 = 264 (position 3.6). Resolution hours resolved in June: Bob 10, 24,
48, 24 (median 24); team adds Dee's 2 (median 24).

Tasks (due → completed):
  k1 Ann 06-05 17:00 → 06-04: on time        k5 Ann no due date → 06-15: completed
  k2 Ann 06-10 17:00 → 06-12: late, overdue  k6 Ann 05-30 → 06-02: completed (due in May)
  k3 Ann 06-20 17:00, never: overdue         k7 Bob 07-03 → 06-29: completed (due in July)
  k4 Ann 06-28 17:00, never: overdue         k8 Dee 06-15 17:00 → 06-15 17:00: on time
     (as of 06-25 instead: not due yet)
Ann: completed k1 k2 k5 k6 = 4, overdue k2 k3 k4 = 3, on time 1 → 1 / 4 = 0.25.
"""

from __future__ import annotations

import math
from datetime import datetime as dt

import numpy as np
import pandas as pd
import pytest
from engines import on_engine

from crmkit.metrics import performance as people
from crmkit.metrics import sales
from crmkit.periods import parse_period

JUNE = parse_period("2025-06")
MAY = parse_period("2025-05")
EMPTY = parse_period("2024-01")
NOW = dt(2025, 7, 2)  # end of the as-of day 2025-07-01


def _ts(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_datetime(df[c], format="ISO8601")
    return df


def _employees() -> pd.DataFrame:
    return _ts(pd.DataFrame({
        "employee_id": ["e1", "e2", "e3", "e4", "e5"],
        "name": ["Ann", "Bob", "Cy", "Dee", "Eve"],
        "team_id": ["a"] * 5,
        "role": ["sales", "support", "sales", "support", "sales"],
        "hired_at": ["2020-01-01", "2020-01-01", "2020-01-01", "2025-06-10 09:00", "2020-01-01"],
        "left_at": [None, None, None, None, "2025-03-01 18:00"],
    }), "hired_at", "left_at")


def _tickets() -> pd.DataFrame:
    rows = [
        # id, employee, opened, first response, resolved, sla due
        ("t1", "e2", "2025-06-02 09:00", "2025-06-02 09:30", "2025-06-02 19:00", "2025-06-02 10:00"),
        ("t2", "e2", "2025-06-03 08:00", "2025-06-03 10:00", "2025-06-04 08:00", "2025-06-03 09:00"),
        ("t3", "e2", "2025-06-05 12:00", None, None, "2025-06-05 16:00"),
        ("t4", "e2", "2025-06-10 00:00", "2025-06-10 01:00", None, "2025-06-10 04:00"),
        ("t5", "e2", "2025-05-30 10:00", "2025-05-30 11:00", "2025-06-01 10:00", "2025-05-30 14:00"),
        ("t6", "e4", "2025-06-12 10:00", "2025-06-12 10:45", "2025-06-12 12:00", "2025-06-12 11:00"),
        ("t7", None, "2025-06-20 09:00", None, None, "2025-06-20 13:00"),
        ("t8", "e2", "2025-06-30 23:00", None, None, "2025-07-05 00:00"),
        ("t9", "e2", "2025-06-15 08:00", "2025-06-15 14:00", "2025-06-16 08:00", None),
    ]
    cols = ["ticket_id", "employee_id", "opened_at", "first_response_at", "resolved_at", "sla_due_at"]
    return _ts(pd.DataFrame(rows, columns=cols), *cols[2:])


def _tasks() -> pd.DataFrame:
    rows = [
        ("k1", "e1", "2025-06-01", "2025-06-05 17:00", "2025-06-04 10:00"),
        ("k2", "e1", "2025-06-01", "2025-06-10 17:00", "2025-06-12 10:00"),
        ("k3", "e1", "2025-06-01", "2025-06-20 17:00", None),
        ("k4", "e1", "2025-06-01", "2025-06-28 17:00", None),
        ("k5", "e1", "2025-06-01", None, "2025-06-15 10:00"),
        ("k6", "e1", "2025-05-20", "2025-05-30 17:00", "2025-06-02 10:00"),
        ("k7", "e2", "2025-06-20", "2025-07-03 17:00", "2025-06-29 10:00"),
        ("k8", "e4", "2025-06-11", "2025-06-15 17:00", "2025-06-15 17:00"),
    ]
    cols = ["task_id", "employee_id", "created_at", "due_at", "completed_at"]
    return _ts(pd.DataFrame(rows, columns=cols), *cols[2:])


def _deals() -> pd.DataFrame:
    rows = [
        ("d1", "e1", "2025-05-01", "2025-06-10", "won", 1000.0),
        ("d2", "e1", "2025-05-01", "2025-06-20", "won", 3000.0),
        ("d3", "e1", "2025-05-01", "2025-06-15", "lost", 800.0),
        ("d4", "e1", "2025-04-01", "2025-05-10", "won", 500.0),
        ("d5", "e3", "2025-06-01", None, "open", 700.0),
    ]
    cols = ["deal_id", "owner_id", "created_at", "closed_at", "status", "amount"]
    return _ts(pd.DataFrame(rows, columns=cols), "created_at", "closed_at")


def _quotas() -> pd.DataFrame:
    # Ann: 9100 over Apr–Jun (91 days, 30 in June) -> 3000; Cy: 1000 for June
    return _ts(pd.DataFrame({
        "employee_id": ["e1", "e3"],
        "period_start": ["2025-04-01", "2025-06-01"],
        "period_end": ["2025-07-01", "2025-07-01"],
        "target_amount": [9100.0, 1000.0],
    }), "period_start", "period_end")


def _activities() -> pd.DataFrame:
    rows = [
        ("a1", "e1", "2025-06-02 10:00", "call"),
        ("a2", "e1", "2025-06-03 10:00", "call"),
        ("a3", "e1", "2025-06-04 10:00", "email"),
        ("a4", "e1", "2025-05-20 10:00", "meeting"),  # May
        ("a5", None, "2025-06-05 10:00", "email"),  # no employee
        ("a6", "e4", "2025-06-11 10:00", "note"),
    ]
    return _ts(pd.DataFrame(rows, columns=["activity_id", "employee_id", "occurred_at", "type"]),
               "occurred_at")


def _surveys() -> pd.DataFrame:
    rows = [
        ("s1", "csat", 5.0, "2025-06-03", "e2"),
        ("s2", "csat", 3.0, "2025-06-04", "e2"),
        ("s3", "csat", 4.0, "2025-06-06", "e2"),
        ("s4", "csat", 2.0, "2025-06-07", None),  # rates nobody: not in CSAT here
        ("s5", "nps", 10.0, "2025-06-08", "e2"),  # not a CSAT response
        ("s6", "csat", 5.0, "2025-06-13", "e4"),
    ]
    cols = ["response_id", "kind", "score", "responded_at", "employee_id"]
    return _ts(pd.DataFrame(rows, columns=cols), "responded_at")


def _frames() -> dict[str, pd.DataFrame]:
    return {"employees": _employees(), "tickets": _tickets(), "tasks": _tasks(),
            "deals": _deals(), "quotas": _quotas(), "activities": _activities(),
            "survey_responses": _surveys()}


@pytest.fixture(params=["pandas", "duckdb"])
def tables(request):
    frames = _frames()
    return on_engine(frames, request.param)


def _by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("employee_id")


# -- per-table metrics ----------------------------------------------------------------------------


def test_tickets_per_agent(tables):
    t = _by_id(people.tickets_by_employee(tables["tickets"], JUNE, NOW))
    bob = t.loc["e2"]
    assert bob["tickets_assigned"] == 6  # t1 t2 t3 t4 t8 t9
    assert bob["tickets_resolved"] == 4  # t1 t2 t5 t9 (t5 opened in May, resolved June 1)
    assert bob["tickets_unanswered"] == 2  # t3 never answered, t8 not answered yet
    assert bob["first_response_minutes_median"] == pytest.approx(90.0)
    assert bob["first_response_minutes_p90"] == pytest.approx(288.0)
    assert bob["resolution_hours_median"] == pytest.approx(24.0)
    assert (bob["sla_met"], bob["sla_missed"], bob["sla_pending"], bob["no_sla"]) == (2, 2, 1, 1)
    assert t.loc["e4", "first_response_minutes_p90"] == pytest.approx(45.0)
    assert t.loc[people.UNASSIGNED, "tickets_unanswered"] == 1  # t7


def test_ticket_totals_and_never_answered_ticket(tables):
    total = people.tickets_total(tables["tickets"], JUNE, NOW)
    assert total["tickets_resolved"] == 5 and total["tickets_unanswered"] == 3
    assert total["first_response_minutes_median"] == pytest.approx(60.0)
    assert total["first_response_minutes_p90"] == pytest.approx(264.0)
    assert total["resolution_hours_median"] == pytest.approx(24.0)
    # met t1 t4 t6; missed t2 (late), t3 and t7 (never answered, deadline passed)
    assert (total["sla_met"], total["sla_missed"], total["unanswered_past_sla"]) == (3, 3, 2)
    # as of June 5 14:00 UTC, t3's deadline (16:00) is still ahead: pending, not a miss
    # (t7's and t8's deadlines too): only t2, answered late, is a miss
    early = people.tickets_total(tables["tickets"], JUNE, dt(2025, 6, 5, 14))
    assert (early["sla_met"], early["sla_missed"], early["sla_pending"]) == (3, 1, 3)


def test_tasks_late_and_never_completed(tables):
    t = _by_id(people.tasks_by_employee(tables["tasks"], JUNE, NOW))
    ann = t.loc["e1"]
    assert ann["tasks_completed"] == 4  # k1 k2 k5 k6 (k6 due in May, completed in June)
    assert ann["tasks_overdue"] == 3  # k2 completed late; k3, k4 never completed
    assert ann["tasks_on_time"] == 1 and ann["tasks_no_due"] == 1
    assert t.loc["e4", "tasks_on_time"] == 1  # completed exactly at due_at: on time
    assert t.loc["e2", "tasks_due"] == 0 and t.loc["e2", "tasks_completed"] == 1  # k7 due July
    # as of June 25 (end of day), k4 (due June 28) is not overdue yet
    before = _by_id(people.tasks_by_employee(tables["tasks"], JUNE, dt(2025, 6, 26)))
    assert before.loc["e1", "tasks_overdue"] == 2


def test_deals_quotas_activities_csat(tables):
    d = _by_id(people.deals_by_employee(tables["deals"], JUNE))
    assert (d.loc["e1", "deals_won"], d.loc["e1", "deals_lost"], d.loc["e1", "revenue"]) == (2, 1, 4000.0)
    assert "e3" not in d.index  # an open deal closes nothing
    q = _by_id(people.quota_by_employee(tables["quotas"], JUNE))
    assert q.loc["e1", "quota_target"] == pytest.approx(3000.0)
    assert q.loc["e3", "quota_target"] == pytest.approx(1000.0)
    a = _by_id(people.activities_by_employee(tables["activities"], JUNE))
    assert (a.loc["e1", "activities"], a.loc["e1", "activities_call"], a.loc["e1", "activities_email"]) == (3, 2, 1)
    assert a.loc["e1", "activities_meeting"] == 0  # May's meeting is not counted
    assert a.loc[people.UNASSIGNED, "activities"] == 1
    c = _by_id(people.csat_by_employee(tables["survey_responses"], JUNE))
    assert (c.loc["e2", "csat_responses"], c.loc["e2", "csat_good"]) == (3, 2)  # 5, 3, 4
    assert c.loc[people.UNASSIGNED, "csat_responses"] == 1


def test_quota_targets_agree_with_sales():
    for period in (JUNE, parse_period("2025-Q2"), parse_period("2025-06-10..2025-06-19")):
        mine = _by_id(people.quota_by_employee(_quotas(), period))["quota_target"]
        for emp in ("e1", "e3"):
            theirs = sales.quota_target(_quotas()[_quotas()["employee_id"] == emp], period)
            assert mine[emp] == pytest.approx(theirs)


# -- team totals ----------------------------------------------------------------------------------


def test_summary_team_totals(tables):
    s = people.summary(tables, JUNE, NOW)
    m = s["metrics"]
    assert (m["deals_won"], m["revenue"]) == (2, 4000.0)
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["quota_attainment"] == pytest.approx(4000 / 4000)  # targets 3000 + 1000
    assert m["activities"] == 5  # Ann 3, Dee 1, and one with no employee
    # completed: Ann 4, Bob k7, Dee k8; overdue: Ann 3; on time: k1, k8 -> 2 / 5
    assert (m["tasks_completed"], m["tasks_overdue"]) == (6, 3)
    assert m["tasks_on_time_rate"] == pytest.approx(0.4)
    assert (m["tickets_resolved"], m["tickets_unanswered"]) == (5, 3)
    assert m["first_response_minutes_median"] == pytest.approx(60.0)
    assert m["first_response_minutes_p90"] == pytest.approx(264.0)
    assert m["resolution_hours_median"] == pytest.approx(24.0)
    assert m["sla_compliance"] == pytest.approx(0.5)  # 3 met / (3 met + 3 missed)
    assert m["csat"] == pytest.approx(0.75)  # Bob 2/3 + Dee 1/1; the unrated response is out
    assert s["samples"]["sla_compliance"] == 6 and s["samples"]["csat"] == 4
    assert s["intervals"]["csat"].low == pytest.approx(0.3006, abs=1e-4)  # Wilson 3/4
    # the totals built from per-employee counts agree with the direct engine query
    direct = people.tickets_total(tables["tickets"], JUNE, NOW)
    for k, v in direct.items():
        assert s["tickets"][k] == pytest.approx(v), k


def test_empty_period_is_not_available(tables):
    m = people.summary(tables, EMPTY, NOW)["metrics"]
    for name in ("deals_won", "activities", "tasks_completed", "tasks_overdue",
                 "tickets_resolved", "tickets_unanswered"):
        assert m[name] == 0, name
    for name in ("win_rate", "quota_attainment", "tasks_on_time_rate",
                 "first_response_minutes_median", "first_response_minutes_p90",
                 "resolution_hours_median", "sla_compliance", "csat"):
        assert m[name] is None, name


# -- the leaderboard ------------------------------------------------------------------------------


def _board(tables, with_previous: bool = True):
    staff = people.roster(tables["employees"], JUNE, MAY)
    current = people.summary(tables, JUNE, NOW)
    if not with_previous:
        return people.by_employee(current, staff)
    previous = people.summary(tables, MAY, NOW)
    return people.by_employee(current, staff, previous, people.roster(tables["employees"], MAY))


def test_roster_notes_joiners_and_leavers(tables):
    staff = _by_id(people.roster(tables["employees"], JUNE, MAY))
    assert staff.loc["e4", "note"] == "joined 2025-06-10: partial period"
    assert not staff.loc["e4", "full_period"] and staff.loc["e4", "employed"]
    assert not staff.loc["e5", "employed"]  # left in March
    assert staff.loc["e1", "full_period"] and staff.loc["e1", "note"] == ""
    july = _by_id(people.roster(tables["employees"], parse_period("2025-07"), JUNE))
    assert july.loc["e4", "note"].startswith("joined 2025-06-10: no change vs 2025-06")


def test_by_employee_ranks_medians_and_partial_people(tables):
    emp, med = _board(tables)
    e = _by_id(emp)
    assert set(e.index) == {"e1", "e2", "e3", "e4"}  # Eve left before June, did nothing
    # Cy did nothing at all: listed with zeros, N/A rates
    assert e.loc["e3", "activities"] == 0 and e.loc["e3", "tasks_completed"] == 0
    assert pd.isna(e.loc["e3", "win_rate"]) and e.loc["e3", "quota_attainment"] == 0.0
    # Dee joined mid-June: shown with her figures and a note, no rank, not in the median
    assert e.loc["e4", "tickets_resolved"] == 1 and pd.isna(e.loc["e4", "tickets_resolved_rank"])
    assert "partial period" in e.loc["e4", "note"]
    medians = med.set_index("metric")
    assert medians.loc["tickets_resolved", "team_median"] == 4.0  # Bob only
    assert medians.loc["deals_won", "team_median"] == 1.0  # Ann 2, Cy 0
    assert medians.loc["tasks_completed", "team_median"] == 1.0  # Ann 4, Bob 1, Cy 0
    assert medians.loc["activities", "employees"] == 2  # sellers Ann and Cy; Bob logs none
    # ranks: 1 = best; fewer overdue is better (ties share the rank)
    assert (e.loc["e1", "tasks_completed_rank"], e.loc["e2", "tasks_completed_rank"],
            e.loc["e3", "tasks_completed_rank"]) == (1, 2, 3)
    assert (e.loc["e2", "tasks_overdue_rank"], e.loc["e3", "tasks_overdue_rank"],
            e.loc["e1", "tasks_overdue_rank"]) == (1, 1, 3)
    assert pd.isna(e.loc["e2", "deals_won_rank"])  # support is not ranked on deals
    assert pd.isna(e.loc["e2", "activities_rank"])
    # per-person change against May: Ann won 1 deal in May, 2 in June
    assert e.loc["e1", "deals_won_previous"] == 1 and e.loc["e1", "deals_won_change"] == pytest.approx(1.0)
    assert pd.isna(e.loc["e4", "deals_won_change"])  # not employed in May
    assert e.loc["e1", "workload"] == 3 + 4 + 0  # activities + tasks due (k1–k4) + tickets
    assert e.loc["e2", "workload"] == 0 + 0 + 6


def test_by_employee_without_comparison(tables):
    emp, med = _board(tables, with_previous=False)
    assert "deals_won_change" not in emp.columns
    assert med["team_median_previous"].isna().all()


def test_workload_flags_overload_and_idleness():
    loads = {
        "s": ("sales", [150, 160, 170, 140, 10]),  # 10: far below the others
        "u": ("support", [50, 55, 60, 58, 170]),  # 170: three times the others
        "m": ("manager", [4, 6, 8, 9]),  # small counts: never flagged
    }
    rows = [{"employee_id": f"{k}{i}", "name": f"{k}{i}", "role": role, "activities": w,
             "tasks_due": 0, "tickets_assigned": 0, "full_period": True}
            for k, (role, ws) in loads.items() for i, w in enumerate(ws)]
    rows.append({"employee_id": "new", "name": "new", "role": "sales", "activities": 1,
                 "tasks_due": 0, "tickets_assigned": 0, "full_period": False})
    df = _by_id(people._workload(pd.DataFrame(rows)))
    flagged = df.loc[df["workload_flag"] != "", "workload_flag"].to_dict()
    assert flagged == {"s4": "low", "u4": "high"}  # the partial-period joiner is not flagged
    assert df.loc["u4", "workload_role_median"] == 58.0
    assert df.loc["u4", "workload_ratio"] == pytest.approx(170 / 58)


def test_significance_between_periods(tables):
    cur = people.summary(tables, JUNE, NOW)
    prev = people.summary(tables, MAY, NOW)
    tests = people.significance(cur, prev)
    # 2 vs 1 in 30 and 31 days: Binomial(3, 30/61); outcomes at most as likely as 2: 0, 2, 3
    q = [math.comb(3, k) * (30 / 61) ** k * (31 / 61) ** (3 - k) for k in range(4)]
    assert tests["deals_won"].p_value == pytest.approx(q[0] + q[2] + q[3], rel=1e-12)
    assert tests["csat"].p_value is None  # no CSAT response in May
    assert set(tests) >= {"revenue", "first_response_minutes_median", "tasks_on_time_rate"}


def test_inputs_not_mutated():
    frames = _frames()
    before = {k: v.copy() for k, v in frames.items()}
    staff = people.roster(frames["employees"], JUNE, MAY)
    people.by_employee(people.summary(frames, JUNE, NOW), staff,
                       people.summary(frames, MAY, NOW), people.roster(frames["employees"], MAY))
    for k, v in frames.items():
        pd.testing.assert_frame_equal(v, before[k])


def test_p90_by_hand_matches_numpy():
    # the engine's p90 is the linear interpolation numpy calls "linear"
    assert np.quantile([30, 60, 120, 360], 0.9) == pytest.approx(288.0)
    assert np.quantile([30, 45, 60, 120, 360], 0.9) == pytest.approx(264.0)
