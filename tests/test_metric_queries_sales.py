"""The Sales summary's grouped queries give what the per-period functions give.

:func:`sales.summaries` reads every period's deal figures from one engine query
(:func:`sales.deal_figures`: flags per period, conditional aggregates), the lead
conversions from one (:func:`sales.lead_conversions`) and the quota targets from one
(:func:`sales.quota_targets`). Each is checked against the single-period functions it
replaces, on the hand-made CRM of ``test_sales_metrics`` (pandas and DuckDB) and on the
pinned demo database (company-wide and one team), for a period over, one in progress and
two that overlap.
"""

from __future__ import annotations

import math
from datetime import datetime as dt
from typing import Any

import pandas as pd
import pytest
from engines import on_engine
from test_sales_metrics import JUNE, MAY, _deals, _employees, _leads, _quotas

from crmkit.metrics import pipeline_history as ph
from crmkit.metrics import sales
from crmkit.periods import Period, parse_period
from crmkit.reports import open_report

Q2 = parse_period("2025-Q2")


def _same(a: Any, b: Any, rel: float) -> bool:
    """Equal, floats to ``rel`` (0: exactly); dicts and intervals field by field."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rel) for k in a)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=rel, abs_tol=0.0) if rel else a == b
    return a == b and type(a) is type(b)


def _per_period(deals: Any, period: Period, as_of_end: dt) -> dict[str, Any]:
    """What :func:`sales.deal_figures` must give for one period, from the single-period
    functions (one or two engine queries each)."""
    at = sales.snapshot_at(period, as_of_end)
    return {"closed": sales.deals_closed(deals, period), "revenue": sales.revenue(deals, period),
            "size": sales.deal_size(deals, period), "cycle": sales.sales_cycle(deals, period),
            "pipeline": sales.pipeline(deals, at),
            "forecast": sales.forecast(deals, period, as_of_end),
            "deals_created": sales.deals_created(deals, period), "snapshot_at": at}


def _check(t: dict[str, Any], periods: list[Period], as_of_end: dt, rel: float = 0.0) -> None:
    found = sales.deal_figures(t["deals"], periods, as_of_end)
    for period, got in zip(periods, found, strict=True):
        want = _per_period(t["deals"], period, as_of_end)
        assert _same(got, want, rel), (period.label, got, want)
    conversions = sales.lead_conversions(t["leads"], periods)
    assert _same(tuple(conversions), tuple(sales.lead_conversion(t["leads"], p) for p in periods), rel)
    targets = sales.quota_targets(t["quotas"], periods)
    assert targets == [sales.quota_target(t["quotas"], p) for p in periods]


@pytest.fixture(params=["pandas", "duckdb"])
def engine(request) -> str:
    return request.param


@pytest.fixture
def crm(engine) -> dict[str, Any]:
    """The hand-made CRM, and d10: won in June, recorded closed before it was created
    (left out of the cycle, counted everywhere else)."""
    deals = _deals()
    odd = pd.DataFrame([("d10", "e2", dt(2025, 6, 20), dt(2025, 6, 18), "won", 800.0, 0.5,
                         "proposal", dt(2025, 6, 18), "B")], columns=deals.columns)
    return on_engine({"deals": pd.concat([deals, odd], ignore_index=True), "leads": _leads(),
                      "quotas": _quotas()}, engine)


@pytest.mark.parametrize("as_of_end", [dt(2025, 7, 2), dt(2025, 6, 21, 12)],
                         ids=["june-over", "june-in-progress"])
def test_deal_figures_of_two_periods_are_each_periods(crm, as_of_end):
    _check(crm, [JUNE, MAY], as_of_end)
    found = sales.deal_figures(crm["deals"], [JUNE, MAY], as_of_end)
    assert found[0]["closed"] == {"deals_won": 3, "deals_lost": 1}  # worked out by hand
    assert found[0]["revenue"] == 4800.0 and found[1]["revenue"] == 700.0
    assert found[0]["cycle"]["n"] == 2 and found[0]["cycle"]["excluded"] == 1
    assert found[0]["cycle"]["sales_cycle_days_mean"] == 30.0  # d1 40 days, d2 20


def test_overlapping_periods_count_a_deal_in_each(crm):
    # Q2 holds June: its deals count in both, as two separate summaries would count them
    _check(crm, [Q2, JUNE], dt(2025, 7, 2))
    q2, june = sales.deal_figures(crm["deals"], [Q2, JUNE], dt(2025, 7, 2))
    assert q2["closed"]["deals_won"] == june["closed"]["deals_won"] + 1  # d7, in May


def test_a_period_without_deals_has_the_empty_figures(crm):
    empty = parse_period("2024-01")
    _check(crm, [empty, JUNE], dt(2025, 7, 2))
    none = sales.deal_figures(crm["deals"], [empty], dt(2025, 7, 2))[0]
    assert none["revenue"] == 0.0 and none["size"]["avg_deal_size"] is None
    assert sales.quota_targets(crm["quotas"], [empty]) == [None]


def test_summaries_are_each_periods_summary(crm):
    both = sales.summaries(crm["deals"], crm["leads"], crm["quotas"], [JUNE, MAY],
                           dt(2025, 7, 2))
    assert both == [sales.summary(crm["deals"], crm["leads"], crm["quotas"], p, dt(2025, 7, 2))
                    for p in (JUNE, MAY)]


@pytest.mark.parametrize("team", ["all", "smb"])
def test_deal_figures_on_the_demo_database(demo_db, team):
    """On the demo data, company-wide and for a team: counts exactly; sums, means and
    variances to 1e-12 (a team's rows come through a join whose row order depends on the
    rows filtered, and doubles added in another order differ in their last bits)."""
    ctx = open_report("sales", period="2025-06", team=team, compare_to="year_ago",
                      database=demo_db)
    t = ctx.tables
    frames = {"deals": t["deals"], "leads": t["leads"], "quotas": t["quotas"]}
    _check(frames, [ctx.period, ctx.comparison, parse_period("2025-W23")], ctx.as_of_end,
           rel=1e-12)


# -- the breakdowns and the forecast accuracy read only the rows that can count ---------------


def test_breakdowns_leave_out_only_deals_that_count_nowhere(engine):
    # e3 sells but closed its only deal long ago; e9 (not an employee) too: e3 is listed
    # idle, e9 not, exactly as when every deal is read; a deal closed outside the months
    # of the trend adds to none of them
    deals = _deals()
    old = pd.DataFrame([("d0", "e3", dt(2023, 1, 1), dt(2023, 2, 1), "won", 50.0, 0.5,
                         "proposal", dt(2023, 2, 1), "A"),
                        ("d00", "e9", dt(2023, 1, 1), dt(2023, 2, 1), "lost", 60.0, 0.5,
                         "proposal", dt(2023, 2, 1), "A")], columns=deals.columns)
    t = on_engine({"deals": pd.concat([deals, old], ignore_index=True),
                   "employees": _employees()}, engine)
    emp = sales.by_employee(t["deals"], t["employees"], JUNE, JUNE.end_utc).set_index("employee_id")
    assert emp.loc["e3", ["deals_won", "deals_lost", "revenue", "open_pipeline"]].tolist() == [
        0, 0, 0.0, 0.0]
    assert "e9" not in emp.index
    pd.testing.assert_frame_equal(
        emp.reset_index(), sales.by_employee(deals, _employees(), JUNE, JUNE.end_utc))
    trend = sales.monthly_trend(t["deals"], [MAY, JUNE])
    assert trend["month"].tolist() == ["2025-05", "2025-06"]
    pd.testing.assert_frame_equal(trend, sales.monthly_trend(deals, [MAY, JUNE]))


def _snapshot(taken: dt, rows: list[tuple[str, float, float, dt]]) -> pd.DataFrame:
    return pd.DataFrame({
        "snapshot_date": [taken.date()] * len(rows), "taken_at": [taken] * len(rows),
        "deal_id": [r[0] for r in rows], "owner_id": ["e1"] * len(rows),
        "customer_id": [None] * len(rows), "created_at": [dt(2025, 1, 1)] * len(rows),
        "stage": ["proposal"] * len(rows), "amount": [r[1] for r in rows],
        "probability": [r[2] for r in rows], "expected_close_at": [r[3] for r in rows]})


def test_forecast_accuracy_of_periods_sharing_a_snapshot(engine):
    # weeks 23 and 24 both take the snapshot of Monday 2 June (the second from 7 days
    # before it began): each counts only the deals due in its own week
    w23, w24 = parse_period("2025-W23"), parse_period("2025-W24")
    snaps = pd.concat([
        _snapshot(dt(2025, 5, 20), [("x", 999.0, 1.0, dt(2025, 6, 3))]),  # too early for both
        _snapshot(dt(2025, 6, 2), [("a", 100.0, 0.5, dt(2025, 6, 3)),
                                   ("b", 200.0, 0.25, dt(2025, 6, 10)),
                                   ("c", 300.0, None, dt(2025, 6, 11)),
                                   ("d", 400.0, 0.5, dt(2025, 7, 1))])], ignore_index=True)
    t = on_engine({"snapshots": snaps, "deals": _deals()}, engine)
    found = ph.forecast_accuracy(t["snapshots"], t["deals"], [w23, w24])
    assert found["month"].tolist() == ["2025-W23", "2025-W24"]
    assert found["forecast"].tolist() == [50.0, 50.0]  # a; b (c has no probability)
    assert found["deals_counted"].tolist() == [1, 2]
