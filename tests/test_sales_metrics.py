"""Sales metrics on a hand-made CRM whose answers were worked out by hand.

June 2025 (UTC) holds: d1 and d2 won (1000 + 3000, cycles 40 and 20 days), d3 lost; d4,
d6 open and created in June; d5 and d9 close after June, so they are open at its end;
d8 is created exactly at the end (not in June); d7 is May's only deal.
"""

from __future__ import annotations

from datetime import datetime as dt

import duckdb
import pandas as pd
import pytest

from crmkit import stats
from crmkit.metrics import sales
from crmkit.periods import parse_period

JUNE = parse_period("2025-06")
MAY = parse_period("2025-05")
EMPTY = parse_period("2024-01")


def _deals() -> pd.DataFrame:
    # fmt: off
    rows = [
        # id   owner created                      closed           status  amount  prob  stage            expected close   product
        ("d1", "e1", dt(2025, 5, 1),              dt(2025, 6, 10), "won",  1000.0, 0.5,  "negotiation",   dt(2025, 6, 12), "A"),
        ("d2", "e1", dt(2025, 6, 1),              dt(2025, 6, 21), "won",  3000.0, 0.6,  "negotiation",   dt(2025, 6, 25), "B"),
        ("d3", "e2", dt(2025, 4, 1),              dt(2025, 6, 15), "lost", 500.0,  0.4,  "proposal",      dt(2025, 6, 30), "A"),
        ("d4", "e2", dt(2025, 6, 5),              None,            "open", 2000.0, 0.25, "discovery",     dt(2025, 7, 15), "A"),
        ("d5", "e1", dt(2025, 3, 1),              dt(2025, 7, 2),  "won",  4000.0, 0.75, "negotiation",   dt(2025, 6, 20), "B"),
        ("d6", "e2", dt(2025, 6, 20),             None,            "open", 1000.0, None, "qualification", None,            "A"),
        ("d7", "e1", dt(2025, 5, 15),             dt(2025, 5, 30), "won",  700.0,  0.5,  "proposal",      dt(2025, 5, 30), "A"),
        ("d8", "e2", dt(2025, 7, 1),              None,            "open", 9999.0, 0.1,  "qualification", dt(2025, 8, 1),  "A"),
        ("d9", "e1", dt(2025, 6, 30, 23, 59, 59), dt(2025, 7, 1),  "won",  100.0,  0.9,  "commitment",    dt(2025, 7, 1),  "A"),
    ]
    # fmt: on
    cols = ["deal_id", "owner_id", "created_at", "closed_at", "status", "amount", "probability",
            "stage", "expected_close_at", "product"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("created_at", "closed_at", "expected_close_at"):
        df[c] = pd.to_datetime(df[c])
    return df


def _leads() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "lead_id": ["l1", "l2", "l3", "l4"],
            "created_at": pd.to_datetime(["2025-06-02", "2025-06-03", "2025-06-30", "2025-05-31"]),
            "converted_at": pd.to_datetime(["2025-06-10", None, "2025-07-05", "2025-06-01"]),
        }
    )
    return df


def _quotas() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "employee_id": ["e1", "e2"],
            "period_start": pd.to_datetime(["2025-04-01", "2025-06-15"]),
            "period_end": pd.to_datetime(["2025-07-01", "2025-07-15"]),
            "target_amount": [9100.0, 600.0],
        }
    )


def _employees() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "employee_id": ["e1", "e2", "e3"],
            "name": ["Ann", "Bob", "Cy"],
            "team_id": ["a", "b", "a"],
            "role": ["sales", "sales", "sales"],
        }
    )


@pytest.fixture(params=["pandas", "duckdb"])
def deals(request):
    df = _deals()
    if request.param == "pandas":
        return df
    con = duckdb.connect()
    con.register("deals_df", df)
    return con.sql("select * from deals_df")


def test_counts_and_revenue(deals):
    assert sales.deals_created(deals, JUNE) == 4  # d2 (at the start), d4, d6, d9; not d8
    assert sales.deals_closed(deals, JUNE) == {"deals_won": 2, "deals_lost": 1}
    assert sales.revenue(deals, JUNE) == 4000.0
    assert sales.revenue(deals, MAY) == 700.0


def test_win_rate_has_wilson_interval(deals):
    wr = sales.win_rate(deals, JUNE)
    assert wr.value == pytest.approx(2 / 3)
    assert wr.n == 3
    # Wilson 95% for 2/3 (by hand: centre 0.5618, half-width 0.3847)
    assert wr.low == pytest.approx(0.2077, abs=1e-4)
    assert wr.high == pytest.approx(0.9385, abs=1e-4)


def test_deal_size_and_cycle(deals):
    size = sales.deal_size(deals, JUNE)
    assert size["avg_deal_size"] == 2000.0
    assert size["deal_size_median"] == 2000.0
    cycle = sales.sales_cycle(deals, JUNE)
    assert cycle["sales_cycle_days_median"] == pytest.approx(30.0)
    assert cycle["sales_cycle_days_mean"] == pytest.approx(30.0)
    assert cycle["sales_cycle_days_p90"] == pytest.approx(38.0)  # 20 + 0.9 × (40 − 20)


def test_cycle_leaves_out_deals_closed_before_created():
    df = _deals()
    bad = df.iloc[[1]].assign(deal_id="dx", created_at=pd.Timestamp("2025-06-25"),
                              closed_at=pd.Timestamp("2025-06-20"))
    cycle = sales.sales_cycle(pd.concat([df, bad], ignore_index=True), JUNE)
    assert cycle["excluded"] == 1 and cycle["n"] == 2
    assert cycle["sales_cycle_days_median"] == pytest.approx(30.0)


def test_pipeline_at_period_end(deals):
    pipe = sales.pipeline(deals, JUNE.end_utc)
    assert pipe["open_deals"] == 4  # d4, d5, d6, d9 (closed exactly at the end: still open)
    assert pipe["open_pipeline"] == 7100.0
    assert pipe["weighted_pipeline"] == pytest.approx(500 + 3000 + 90)
    assert pipe["missing_probability"] == 1


def test_lead_conversion():
    conv = sales.lead_conversion(_leads(), JUNE)
    assert (conv.value, conv.n) == (pytest.approx(2 / 3), 3)


def test_lead_conversion_counts_conversions_before_an_instant():
    """l3 converted on 5 July: not yet on 1 July, nor at the same age in a comparison."""
    at = dt(2025, 7, 1)
    conv = sales.lead_conversion(_leads(), JUNE, at)
    assert (conv.value, conv.n) == (pytest.approx(1 / 3), 3)
    both = sales.lead_conversions(_leads(), [JUNE, JUNE], [at, None])
    assert [(c.value, c.n) for c in both] == [(pytest.approx(1 / 3), 3), (pytest.approx(2 / 3), 3)]
    found = sales.summaries(_deals(), _leads(), _quotas(), [JUNE], at, [dt(2025, 6, 5)])[0]
    assert found["metrics"]["lead_conversion"] == 0  # l1 converted on 10 June
    assert found["lead_conversion_by_now"].value == pytest.approx(1 / 3)
    assert found["converted_by"] == dt(2025, 6, 5)


def test_quota_target_prorates_by_days():
    # e1: 9100 over 91 days, 30 in June -> 3000; e2: 600 over 30 days, 16 in June -> 320
    assert sales.quota_target(_quotas(), JUNE) == pytest.approx(3320.0)
    assert sales.quota_target(_quotas(), parse_period("2024-01")) is None


def test_pipeline_velocity():
    assert sales.pipeline_velocity(4, 2 / 3, 2000.0, 30.0) == pytest.approx(177.7777, abs=1e-3)
    assert sales.pipeline_velocity(4, None, 2000.0, 30.0) is None
    assert sales.pipeline_velocity(4, 0.5, 2000.0, 0.0) is None


def test_forecast_past_period_is_made_at_start(deals):
    fc = sales.forecast(deals, JUNE, dt(2025, 8, 1))
    # open at June 1 and expected in June: d1 1000×.5 + d3 500×.4 + d5 4000×.75
    assert fc["kind"] == "at_start"
    assert fc["forecast"] == pytest.approx(3700.0)
    assert fc["forecast_error"] == pytest.approx(-0.075)


def test_forecast_running_period(deals):
    fc = sales.forecast(deals, JUNE, dt(2025, 6, 16))
    # won so far: d1 1000; open on June 16 expected by June 30: d2 3000×.6, d5 4000×.75
    assert fc["kind"] == "in_progress"
    assert fc["forecast"] == pytest.approx(1000 + 1800 + 3000)
    assert fc["forecast_error"] is None


def test_summary_and_empty_period(deals):
    s = sales.summary(deals, _leads(), _quotas(), JUNE, dt(2025, 8, 1))["metrics"]
    assert s["quota_attainment"] == pytest.approx(4000 / 3320)
    assert s["pipeline_velocity"] == pytest.approx(177.7777, abs=1e-3)
    empty = sales.summary(deals, _leads(), _quotas(), EMPTY, dt(2025, 8, 1))["metrics"]
    assert empty["revenue"] == 0 and empty["deals_won"] == 0 and empty["deals_created"] == 0
    for name in (
        "win_rate",
        "avg_deal_size",
        "sales_cycle_days_median",
        "lead_conversion",
        "quota_attainment",
        "pipeline_velocity",
        "forecast_error",
    ):
        assert empty[name] is None, name


def test_period_cut_in_company_time_zone():
    df = pd.DataFrame(
        {
            "deal_id": ["x"],
            "owner_id": ["e1"],
            "status": ["won"],
            "amount": [10.0],
            "created_at": pd.to_datetime(["2025-05-01"]),
            "closed_at": pd.to_datetime(["2025-05-31 23:00"]),  # 01:00 on June 1 in Berlin
        }
    )
    assert sales.revenue(df, parse_period("2025-06", timezone="Europe/Berlin")) == 10.0
    assert sales.revenue(df, JUNE) == 0.0


def test_breakdowns():
    emp = sales.by_employee(_deals(), _employees(), JUNE, JUNE.end_utc).set_index("employee_id")
    assert emp.loc["e1", "deals_won"] == 2 and emp.loc["e1", "revenue"] == 4000.0
    assert emp.loc["e2", "deals_lost"] == 1 and emp.loc["e2", "win_rate"] == 0.0
    assert emp.loc["e3", "closed"] == 0 and pd.isna(emp.loc["e3", "win_rate"])  # idle, shown
    assert emp.loc["e1", "open_pipeline"] == 4100.0  # d5 + d9
    prod = sales.by_product(_deals(), JUNE).set_index("product")
    assert prod.loc["B", "revenue"] == 3000.0 and prod.loc["A", "revenue_share"] == 0.25
    trend = sales.monthly_trend(_deals(), [MAY, JUNE]).set_index("month")
    assert trend.loc["2025-05", "revenue"] == 700.0 and trend.loc["2025-06", "deals_lost"] == 1
    funnel = sales.stage_funnel(_deals(), JUNE, order=sales.STAGE_ORDER_HINT).set_index("stage")
    # created in June: d2 won, d4 discovery, d6 qualification, d9 won
    assert funnel.loc["qualification", "reached"] == 4
    assert funnel.loc["discovery", "reached"] == 3
    assert funnel.loc["proposal", "reached"] == 2
    assert funnel.loc["won", "reached"] == 2


def test_metrics_do_not_mutate_inputs():
    df = _deals()
    before = df.copy()
    sales.summary(df, _leads(), _quotas(), JUNE, dt(2025, 8, 1))
    sales.by_employee(df, _employees(), JUNE, JUNE.end_utc)
    pd.testing.assert_frame_equal(df, before)


def test_the_change_of_quota_attainment_is_tested_as_on_the_performance_page(demo_db):
    """METRICS.md tests quota attainment with a z-test from the variances; the Sales card
    showed its change untested (p null) while Employee performance tested it."""
    from crmkit.reports import REPORTS, open_report

    twin = REPORTS["sales"].build(open_report("sales", period="2025-06", as_of="2025-07-01",
                                              database=demo_db)).to_json()
    with duckdb.connect(str(demo_db), read_only=True) as con:
        june, may = (con.execute(
            "SELECT sum(amount * amount) FROM deals WHERE status = 'won' AND closed_at >= ? "
            "AND closed_at < ?", [s, e]).fetchone()[0] for s, e in (
                ("2025-06-01", "2025-07-01"), ("2025-05-01", "2025-06-01")))
    c, p = twin["metrics"], twin["comparison"]
    z = stats.two_sample_z_test(c["quota_attainment"] - p["quota_attainment"],
                                june / c["quota_target"] ** 2, may / p["quota_target"] ** 2)
    assert twin["changes"]["quota_attainment"]["p_value"] == pytest.approx(z.p_value)
