"""Customer activity metrics on a hand-made CRM whose answers were worked out by hand.

Report period June 2025 (UTC), comparison May 2025; status is taken at 2025-07-01 00:00.

Activities: a1 call c1 06-02, a2 email c1 06-03, a3 meeting c2 06-10, a4 note c3 06-30
23:59:59 (the last second of June), a5 call c1 07-01 00:00 (the first second after June),
a6 call c4 05-15, a7 site_visit with no customer and no employee 06-20, a8 email c5 04-02
00:00 (exactly 90 days before 07-01), a9 call c6 01-02 00:00 (exactly 180 days), a10 call
c9 01-01 23:59:59 (180 days + 1 s), a11 message c11 05-03, a12 email c10 04-01 23:59:59
(90 days + 1 s).

Won deals (purchases): d1 c1 06-05 1000, d2 c2 2024-12-01 500, d3 c2 06-15 300, d4 c4
05-20 2000, d6 no customer 06-10 400. d5 (c1) is lost and d7 (c1) open: not purchases.

Customers c1–c6, c9–c11 were created in 2024; c7 on 2025-06-15 (never any contact: "never
active"); c8 on 2025-07-05 (after the end: not in the status population).
"""

from __future__ import annotations

from datetime import datetime as dt

import pandas as pd
import pytest
from engines import on_engine

from crmkit.metrics import activity
from crmkit.periods import parse_period

JUNE = parse_period("2025-06")
MAY = parse_period("2025-05")
EMPTY = parse_period("2024-02")
END = dt(2025, 7, 1)


def _activities() -> pd.DataFrame:
    rows = [
        ("a1", dt(2025, 6, 2, 10), "call", "c1", "e1"),
        ("a2", dt(2025, 6, 3, 11), "email", "c1", "e1"),
        ("a3", dt(2025, 6, 10, 9), "meeting", "c2", "e2"),
        ("a4", dt(2025, 6, 30, 23, 59, 59), "note", "c3", "e1"),
        ("a5", dt(2025, 7, 1), "call", "c1", "e1"),
        ("a6", dt(2025, 5, 15, 14), "call", "c4", "e2"),
        ("a7", dt(2025, 6, 20, 8), "site_visit", None, None),
        ("a8", dt(2025, 4, 2), "email", "c5", "e1"),
        ("a9", dt(2025, 1, 2), "call", "c6", "e2"),
        ("a10", dt(2025, 1, 1, 23, 59, 59), "call", "c9", "e2"),
        ("a11", dt(2025, 5, 3, 12), "message", "c11", "e1"),
        ("a12", dt(2025, 4, 1, 23, 59, 59), "email", "c10", "e1"),
    ]
    df = pd.DataFrame(rows, columns=["activity_id", "occurred_at", "type", "customer_id", "employee_id"])
    df["occurred_at"] = pd.to_datetime(df["occurred_at"])
    return df


def _deals() -> pd.DataFrame:
    rows = [
        ("d1", "e1", "c1", "won", dt(2025, 5, 1), dt(2025, 6, 5), 1000.0),
        ("d2", "e2", "c2", "won", dt(2024, 11, 1), dt(2024, 12, 1), 500.0),
        ("d3", "e2", "c2", "won", dt(2025, 6, 1), dt(2025, 6, 15), 300.0),
        ("d4", "e2", "c4", "won", dt(2025, 5, 1), dt(2025, 5, 20), 2000.0),
        ("d5", "e1", "c1", "lost", dt(2025, 6, 1), dt(2025, 6, 20), 700.0),
        ("d6", "e1", None, "won", dt(2025, 6, 1), dt(2025, 6, 10), 400.0),
        ("d7", "e1", "c1", "open", dt(2025, 6, 1), None, 100.0),
    ]
    df = pd.DataFrame(rows, columns=["deal_id", "owner_id", "customer_id", "status", "created_at",
                                     "closed_at", "amount"])
    for c in ("created_at", "closed_at"):
        df[c] = pd.to_datetime(df[c])
    return df


def _customers() -> pd.DataFrame:
    ids = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"]
    created = [dt(2024, 1, 1)] * 11
    created[6] = dt(2025, 6, 15)
    created[7] = dt(2025, 7, 5)
    return pd.DataFrame({"customer_id": ids, "name": [f"Customer {i}" for i in ids],
                         "created_at": pd.to_datetime(created), "owner_id": ["e1"] * 11})


def _employees() -> pd.DataFrame:
    return pd.DataFrame({"employee_id": ["e1", "e2", "e3", "e4"], "name": ["Ann", "Bob", "Cy", "Dee"],
                         "team_id": ["a", "b", "a", "a"], "role": ["sales", "sales", "sales", "marketing"]})


@pytest.fixture(params=["pandas", "duckdb"])
def tables(request):
    frames = {"activities": _activities(), "deals": _deals(), "customers": _customers(),
              "employees": _employees()}
    return on_engine(frames, request.param)


def test_interactions_by_type(tables):
    got = activity.interactions(tables["activities"], JUNE)
    # a1 call, a2 email, a3 meeting, a4 note (last second), a7 site_visit (no customer);
    # not a5 (exactly at the end)
    assert got == {"interactions": 5, "interactions_call": 1, "interactions_email": 1,
                   "interactions_meeting": 1, "interactions_message": 0,
                   "interactions_site_visit": 1, "interactions_request": 0,
                   "interactions_note": 1, "interactions_other": 0}
    may = activity.interactions(tables["activities"], MAY)  # a6 call, a11 message
    assert may["interactions"] == 2 and may["interactions_call"] == 1 and may["interactions_message"] == 1
    frame = activity.interactions_by_type(got, may).set_index("type")
    assert list(frame.index) == list(activity.ACTIVITY_TYPES)
    assert frame.loc["call", "comparison"] == 1 and frame.loc["call", "change"] == 0.0
    assert pd.isna(frame.loc["email", "change"])  # previous 0: change N/A
    assert frame.loc["email", "p_value"] == pytest.approx(1.0)  # 1 vs 0: binomial p = 1
    assert pd.isna(frame.loc["request", "p_value"])  # 0 vs 0: not testable


def test_active_and_new_customers(tables):
    acts, deals = tables["activities"], tables["deals"]
    # June: activities of c1, c2, c3 (a7 has no customer) and purchases of c1, c2 -> 3
    assert activity.active_customers(acts, deals, JUNE) == 3
    # May: c4 (activity and purchase, counted once) and c11 (activity, no purchase) -> 2
    assert activity.active_customers(acts, deals, MAY) == 2
    # first won deals: c1 06-05 (June), c2 2024-12-01, c4 05-20 (May); d6 has no customer
    assert activity.new_customers(deals, JUNE) == 1
    assert activity.new_customers(deals, MAY) == 1


def test_empty_period_is_zero_not_an_error(tables):
    acts, deals = tables["activities"], tables["deals"]
    got = activity.interactions(acts, EMPTY)
    assert got["interactions"] == 0 and all(v == 0 for v in got.values())
    assert activity.active_customers(acts, deals, EMPTY) == 0
    assert activity.new_customers(deals, EMPTY) == 0
    assert activity.by_customer(acts, deals, EMPTY).empty
    emp = activity.by_employee(acts, tables["employees"], EMPTY)
    assert set(emp["employee_id"]) == {"e1", "e2", "e3"} and emp["interactions"].sum() == 0


def test_status_thresholds_exactly_at_90_and_180_days(tables):
    status = activity.customer_status(tables["activities"], tables["deals"], tables["customers"], END)
    by_id = status.set_index("customer_id")["status"].to_dict()
    assert by_id == {
        "c1": "active",  # d1 06-05 (a5 at 07-01 00:00 is not before the end)
        "c2": "active", "c3": "active", "c4": "active", "c11": "active",
        "c5": "active",  # exactly 90 days
        "c10": "at_risk",  # 90 days + 1 s
        "c6": "at_risk",  # exactly 180 days
        "c9": "lost",  # 180 days + 1 s
        "c7": "never_active",  # created in June, no contact; c8 (created after the end) left out
    }
    days = status.set_index("customer_id")["days"]
    assert days["c5"] == 90.0 and days["c6"] == 180.0 and days["c1"] == pytest.approx(26.0)
    # thresholds are parameters: with 30 / 60 days, c4 (05-20, 41.x days) is at risk
    narrow = activity.customer_status(tables["activities"], tables["deals"], tables["customers"], END,
                                      active_days=30, lost_days=60).set_index("customer_id")["status"]
    assert narrow["c4"] == "at_risk" and narrow["c11"] == "at_risk" and narrow["c5"] == "lost"
    with pytest.raises(ValueError, match="active_days"):
        activity.customer_status(tables["activities"], tables["deals"], tables["customers"], END,
                                 active_days=180, lost_days=90)


def test_status_at_the_comparison_end(tables):
    status = activity.customer_status(tables["activities"], tables["deals"], tables["customers"],
                                      MAY.end_utc)
    counts = status["status"].value_counts().to_dict()
    # at 06-01: c4, c5 (60 d), c10 (60 d), c11 active; c6 (150 d), c9 at risk; c2 (d2 2024-12-01,
    # 182 d) lost; c1 and c3 never active (first contact in June); c7 not yet created
    assert counts == {"active": 4, "at_risk": 2, "lost": 1, "never_active": 2}


def test_status_table_shares_and_test():
    now = {"active": 6, "at_risk": 2, "lost": 1, "never_active": 1}
    before = {"active": 4, "at_risk": 2, "lost": 1, "never_active": 2}
    table = activity.status_table(now, before).set_index("status")
    assert table.loc["active", "share"] == pytest.approx(0.6)
    assert table.loc["active", "comparison_share"] == pytest.approx(4 / 9)
    assert table.loc["active", "change"] == pytest.approx(0.5)
    assert 0 < table.loc["active", "p_value"] < 1
    alone = activity.status_table(now, None)
    assert alone["comparison"].isna().all() and alone["p_value"].isna().all()


def test_quintile_scores_with_ties_by_hand():
    # n = 5, ranks with ties at the lowest of their run: 10 -> 1; 20, 20, 20 -> 2; 30 -> 5
    # score = ceil(5 × rank / 5) = rank
    s = pd.Series([20, 10, 20, 30, 20])
    assert activity.quintile_scores(s).tolist() == [2, 1, 2, 5, 2]
    # n = 10: 1 (×4) rank 1 -> ceil(0.5) = 1; 2 (×2) rank 5 -> ceil(2.5) = 3; 3 rank 7 -> 4;
    # 4 rank 8 -> 4; 5 rank 9 -> ceil(4.5) = 5; 6 rank 10 -> 5
    s = pd.Series([1, 1, 1, 1, 2, 2, 3, 4, 5, 6])
    assert activity.quintile_scores(s).tolist() == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]
    # lower is better (recency): the same values reversed; ties still share one score
    assert activity.quintile_scores(pd.Series([3, 1, 1, 9]), higher_is_better=False).tolist() == [3, 4, 4, 2]
    # every value tied: all take rank 1 -> ceil(5 / n) = 1 for n >= 5
    assert activity.quintile_scores(pd.Series([7] * 6)).tolist() == [1] * 6
    # row order does not matter
    shuffled = pd.Series([2, 1, 6, 1, 5, 1, 4, 2, 1, 3])
    assert activity.quintile_scores(shuffled).tolist() == [3, 1, 5, 1, 5, 1, 4, 3, 1, 4]
    assert activity.quintile_scores(pd.Series([], dtype=float)).tolist() == []


def test_rfm_scores_and_segments(tables):
    scored = activity.rfm(tables["deals"], END).set_index("customer_id")
    # lookback [2024-07-01, 2025-07-01): c1 (d1), c2 (d2, d3), c4 (d4); c3 and c11 have
    # activity but no purchase: not scored; d6 has no customer
    assert sorted(scored.index) == ["c1", "c2", "c4"]
    assert scored["recency_days"].to_dict() == {"c1": 26, "c2": 16, "c4": 42}
    assert scored["frequency"].to_dict() == {"c1": 1, "c2": 2, "c4": 1}
    assert scored["monetary"].to_dict() == {"c1": 1000.0, "c2": 800.0, "c4": 2000.0}
    # n = 3. R (recent best): 42 rank 1 -> 2, 26 rank 2 -> 4, 16 rank 3 -> 5
    assert scored["r"].to_dict() == {"c1": 4, "c2": 5, "c4": 2}
    # F: 1, 1 tie at rank 1 -> ceil(5/3) = 2; 2 rank 3 -> 5
    assert scored["f"].to_dict() == {"c1": 2, "c2": 5, "c4": 2}
    # M: 800 rank 1 -> 2, 1000 rank 2 -> 4, 2000 rank 3 -> 5
    assert scored["m"].to_dict() == {"c1": 4, "c2": 2, "c4": 5}
    # FM = (F + M) / 2 half up: c1 3, c2 3.5 -> 4, c4 3.5 -> 4
    assert scored["fm"].to_dict() == {"c1": 3, "c2": 4, "c4": 4}
    assert scored["segment"].to_dict() == {"c1": "potential loyalist", "c2": "champions", "c4": "at risk"}
    seg = activity.rfm_segments(scored.reset_index()).set_index("segment")
    assert list(seg.index) == list(activity.SEGMENTS)  # every segment, best first
    assert seg.loc["champions", "customers"] == 1 and seg.loc["champions", "revenue"] == 800.0
    assert seg.loc["at risk", "revenue_share"] == pytest.approx(2000 / 3800)
    assert seg.loc["potential loyalist", "share"] == pytest.approx(1 / 3)
    assert seg.loc["lost", "customers"] == 0 and seg.loc["lost", "share"] == 0.0
    # a shorter lookback leaves c2's December purchase out
    short = activity.rfm(tables["deals"], END, lookback_days=180).set_index("customer_id")
    assert short.loc["c2", "frequency"] == 1 and short.loc["c2", "monetary"] == 300.0


def test_rfm_grid_covers_every_cell():
    assert len(activity.RFM_GRID) == 25
    assert set(activity.RFM_GRID.values()) == set(activity.SEGMENTS)
    assert activity.rfm_segment(5, 5) == "champions" and activity.rfm_segment(1, 1) == "lost"
    assert activity.rfm_segment(5, 1) == "new" and activity.rfm_segment(1, 5) == "can't lose"
    assert activity.rfm_segments(activity.rfm(_deals(), dt(2020, 1, 1)))["share"].isna().all()


def test_cohort_retention(tables):
    months = [parse_period(m) for m in ("2024-12", "2025-01", "2025-02", "2025-03", "2025-04",
                                        "2025-05", "2025-06")]
    got = activity.cohort_retention(tables["deals"], months, END)
    # first purchases: c2 2024-12, c4 2025-05, c1 2025-06. c2 buys again in 2025-06 (offset 6)
    rows = {(r.cohort, r.month_offset): (r.customers, r.retained) for r in got.itertuples()}
    assert len(rows) == 7 + 2 + 1
    assert rows[("2024-12", 0)] == (1, 1) and rows[("2024-12", 6)] == (1, 1)
    assert all(rows[("2024-12", k)] == (1, 0) for k in range(1, 6))
    assert rows[("2025-05", 0)] == (1, 1) and rows[("2025-05", 1)] == (1, 0)
    assert rows[("2025-06", 0)] == (1, 1)
    assert got.loc[got["month_offset"] == 0, "share"].eq(1.0).all()
    # cut at 06-10: d3 (06-15) and d1 (06-05 is before: c1 still a June cohort) -> c2 not retained
    cut = activity.cohort_retention(tables["deals"], months, dt(2025, 6, 10))
    rows = {(r.cohort, r.month_offset): r.retained for r in cut.itertuples()}
    assert rows[("2024-12", 6)] == 0 and rows[("2025-06", 0)] == 1


def test_went_quiet(tables):
    quiet = activity.went_quiet(tables["activities"], tables["deals"], JUNE, MAY, END)
    # in touch in May: c4 (a6, d4), c11 (a11); none of them in June. c4 first: 2000 of revenue
    assert quiet["customer_id"].tolist() == ["c4", "c11"]
    assert quiet["revenue_365d"].tolist() == [2000.0, 0.0]
    assert quiet["last_contact"].tolist() == [pd.Timestamp("2025-05-20"), pd.Timestamp("2025-05-03 12:00")]


def test_breakdowns_per_customer_and_employee(tables):
    cust = activity.by_customer(tables["activities"], tables["deals"], JUNE)
    assert cust["customer_id"].tolist() == ["c1", "c2", "c3"]  # 2 interactions, then revenue 300 > 0
    c1 = cust.iloc[0]
    assert (c1["interactions"], c1["call"], c1["email"], c1["deals_won"], c1["revenue"]) == (2, 1, 1, 1, 1000.0)
    assert cust.iloc[2]["note"] == 1 and cust.iloc[2]["revenue"] == 0.0  # activity, no purchase
    emp = activity.by_employee(tables["activities"], tables["employees"], JUNE).set_index("employee_id")
    assert emp.loc["e1", "interactions"] == 3 and emp.loc["e1", "note"] == 1  # a1, a2, a4
    assert emp.loc["e2", "meeting"] == 1
    assert emp.loc["(no employee)", "site_visit"] == 1  # a7
    assert emp.loc["e3", "interactions"] == 0  # an idle seller is listed
    assert "e4" not in emp.index  # marketing, no activity


def test_summary_and_significance(tables):
    acts, deals, cust = tables["activities"], tables["deals"], tables["customers"]
    now = activity.summary(acts, deals, cust, JUNE, END)
    before = activity.summary(acts, deals, cust, MAY, MAY.end_utc)
    m = now["metrics"]
    assert (m["interactions"], m["active_customers"], m["new_customers"]) == (5, 3, 1)
    assert (m["customers_active"], m["customers_at_risk"], m["customers_lost"]) == (6, 2, 1)
    assert now["status_counts"]["never_active"] == 1
    tests = activity.significance(now, before)
    assert set(tests) == set(activity.COUNTS)
    # interactions 5 vs 2, in June's 30 days and May's 31: the exact binomial test of 5 of 7
    # at 30/61; customers, counted once a period or by status at an instant, at 1/2
    from scipy.stats import binomtest
    assert tests["interactions"].p_value == pytest.approx(binomtest(5, 7, 30 / 61).pvalue)
    assert tests["interactions"].p_value != pytest.approx(58 / 128)  # as if of equal lengths
    assert (m["customers_active"], before["metrics"]["customers_active"]) == (6, 4)
    assert tests["customers_active"].p_value == pytest.approx(binomtest(6, 10, 0.5).pvalue)
    assert tests["interactions_request"].p_value is None


def test_period_cut_in_company_time_zone():
    acts = pd.DataFrame({"activity_id": ["x"], "type": ["call"], "customer_id": ["c1"], "employee_id": ["e1"],
                         "occurred_at": pd.to_datetime(["2025-05-31 23:30"])})  # 01:30 June 1 in Berlin
    assert activity.interactions(acts, parse_period("2025-06", timezone="Europe/Berlin"))["interactions"] == 1
    assert activity.interactions(acts, JUNE)["interactions"] == 0


def test_metrics_do_not_mutate_inputs():
    frames = {"activities": _activities(), "deals": _deals(), "customers": _customers(),
              "employees": _employees()}
    before = {k: v.copy() for k, v in frames.items()}
    activity.summary(frames["activities"], frames["deals"], frames["customers"], JUNE, END)
    activity.rfm(frames["deals"], END)
    activity.went_quiet(frames["activities"], frames["deals"], JUNE, MAY, END)
    activity.by_employee(frames["activities"], frames["employees"], JUNE)
    activity.cohort_retention(frames["deals"], [MAY, JUNE], END)
    for name, df in frames.items():
        pd.testing.assert_frame_equal(df, before[name])



def test_rfm_definition_quotes_the_grid_in_code():
    from crmkit.metrics.definitions import METRICS

    assert activity.rfm_grid_words() in METRICS["rfm"].definition
