"""Customer satisfaction metrics on a hand-made CRM whose answers were worked out by hand.

June 2025 (UTC) holds these survey responses:
- nps: n1 10, n2 9, n3 8, n4 9, n5 6, n6 0, n7 10 (23:59:59 on June 30), n10 4 — 8 responses,
  promoters n1 n2 n4 n7 = 4, passives n3 = 1, detractors n5 n6 n10 = 3; n8 is exactly at the
  end (July) and n9 is in May (score 3).
- csat: 5, 4, 4, 3, 1 — 3 of 5 score 4–5; one more in July.
- ces: 7, 5, 3, 5 — mean 5; one more in May (score 1).

Teams: e1 is in t1, e2 in t2, t3 has no one. Customers: cu1 (owner e1, enterprise), cu2 (owner
e2, smb), cu3 (no owner, no segment).
"""

from __future__ import annotations

import math
from datetime import datetime as dt

import pandas as pd
import pytest
from engines import on_engine

from crmkit import stats
from crmkit.metrics import satisfaction
from crmkit.periods import parse_period

JUNE = parse_period("2025-06")
MAY = parse_period("2025-05")
EMPTY = parse_period("2024-01")
SCRIPT = "<script>alert(1)</script> too slow"


def _survey() -> pd.DataFrame:
    rows = [
        # id, kind, score, responded_at, customer, employee, comment
        ("n1", "nps", 10, dt(2025, 6, 1), "cu1", None, "Love it"),
        ("n2", "nps", 9, dt(2025, 6, 5), "cu2", None, None),
        ("n3", "nps", 8, dt(2025, 6, 10), "cu3", None, ""),
        ("n4", "nps", 9, dt(2025, 6, 12), None, None, None),
        ("n5", "nps", 6, dt(2025, 6, 20), "cu1", "e2", "   "),  # blank: not a verbatim
        ("n6", "nps", 0, dt(2025, 6, 25), "cu2", None, SCRIPT),
        ("n7", "nps", 10, dt(2025, 6, 30, 23, 59, 59), "cu1", "e2", None),
        ("n8", "nps", 0, dt(2025, 7, 1), "cu1", None, "July: outside"),
        ("n9", "nps", 3, dt(2025, 5, 15), "cu2", None, "May: outside"),
        ("n10", "nps", 4, dt(2025, 6, 15), "cu3", None, "Bad support"),
        ("s1", "csat", 5, dt(2025, 6, 2), "cu1", "e1", None),
        ("s2", "csat", 4, dt(2025, 6, 3), "cu1", "e1", None),
        ("s3", "csat", 4, dt(2025, 6, 4), "cu1", "e1", None),
        ("s4", "csat", 3, dt(2025, 6, 5), "cu1", "e1", None),
        ("s5", "csat", 1, dt(2025, 6, 6), "cu1", "e1", "slow"),
        ("s6", "csat", 1, dt(2025, 7, 2), "cu1", "e1", None),
        ("c1", "ces", 7, dt(2025, 6, 2), "cu2", "e2", None),
        ("c2", "ces", 5, dt(2025, 6, 3), "cu2", "e2", None),
        ("c3", "ces", 3, dt(2025, 6, 4), "cu2", "e2", None),
        ("c4", "ces", 5, dt(2025, 6, 5), "cu2", "e2", None),
        ("c5", "ces", 1, dt(2025, 5, 5), "cu2", "e2", None),
    ]
    df = pd.DataFrame(rows, columns=["response_id", "kind", "score", "responded_at",
                                     "customer_id", "employee_id", "comment"])
    df["score"] = df["score"].astype(float)
    df["responded_at"] = pd.to_datetime(df["responded_at"])
    return df


def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["cu1", "cu2", "cu3"], "name": ["Acme", "Bolt", "Crux"],
        "created_at": pd.to_datetime(["2024-01-01"] * 3),
        "segment": ["enterprise", "smb", None], "owner_id": ["e1", "e2", None],
    })


def _employees() -> pd.DataFrame:
    return pd.DataFrame({"employee_id": ["e1", "e2"], "name": ["Ann", "Bob"],
                         "team_id": ["t1", "t2"], "role": ["support", "sales"]})


def _teams() -> pd.DataFrame:
    return pd.DataFrame({"team_id": ["t1", "t2", "t3"], "name": ["Alpha", "Beta", "Gamma"]})


# Retention in June, 90-day window: active at the start = something in
# [2025-03-03, 2025-06-01), active at the end = something in [2025-04-02, 2025-07-01).
#   ca: activity May 10             -> start and end
#   cb: activity Mar 10             -> start only (lost)
#   cc: first won deal Jun 15       -> end; new in June
#   cd: won deal 2024, activity Jun 20 -> end only (came back); not new
#   ce: activity exactly Jul 1 00:00 -> neither (the window is half-open)
#   cf: activity exactly Mar 3 00:00 -> start only (the first instant of the window)
#   cg: lost deal May 1             -> neither (only won deals count)
#   cj: won deals May 20 and Jun 10 -> start and end; not new (first won deal in May)
#   ck: activity Apr 15             -> start and end
#   an activity without customer    -> ignored
# S = {ca, cb, cf, cj, ck} = 5, E = {ca, cc, cd, cj, ck} = 5, N = {cc} = 1,
# still active at the end R = S ∩ E = {ca, cj, ck} = 3: retention = R / S = 3 / 5 = 0.6
# (the old (E − N) / S gave 0.8, counting cd, who came back, as retained).
def _activities() -> pd.DataFrame:
    rows = [("a1", "ca", dt(2025, 5, 10)), ("a2", "cb", dt(2025, 3, 10)),
            ("a3", "cd", dt(2025, 6, 20)), ("a4", "ce", dt(2025, 7, 1)),
            ("a5", "cf", dt(2025, 3, 3)), ("a6", "ck", dt(2025, 4, 15)),
            ("a7", None, dt(2025, 6, 1))]
    df = pd.DataFrame(rows, columns=["activity_id", "customer_id", "occurred_at"])
    df["occurred_at"] = pd.to_datetime(df["occurred_at"])
    df["type"] = "call"
    return df


def _deals() -> pd.DataFrame:
    rows = [("d1", "cc", "won", dt(2025, 6, 15)), ("d2", "cd", "won", dt(2024, 1, 1)),
            ("d3", "cg", "lost", dt(2025, 5, 1)), ("d4", "cj", "won", dt(2025, 5, 20)),
            ("d5", "cj", "won", dt(2025, 6, 10)), ("d6", "cj", "open", None)]
    df = pd.DataFrame(rows, columns=["deal_id", "customer_id", "status", "closed_at"])
    df["closed_at"] = pd.to_datetime(df["closed_at"])
    df["owner_id"] = "e1"
    df["created_at"] = pd.Timestamp("2023-12-01")
    df["amount"] = 100.0
    return df


FRAMES = {"survey_responses": _survey, "customers": _customers, "employees": _employees,
          "teams": _teams, "activities": _activities, "deals": _deals}


@pytest.fixture(params=["pandas", "duckdb"])
def t(request):
    """The hand-made tables, as pandas frames or as DuckDB relations."""
    frames = {name: make() for name, make in FRAMES.items()}
    return on_engine(frames, request.param)


# -- NPS ---------------------------------------------------------------------------------------


def test_published_nps_example():
    # 39 responses, 8 promoters, 22 detractors: 100 × (8 − 22) / 39 = −35.897...
    # adjusted Wald: n = 42, p = 8.75/42 = 0.20833, d = 22.75/42 = 0.54167, p − d = −0.33333,
    # SE = √((0.75 − 0.11111) / 42) = 0.12333; ±1.96 × SE = ±0.24173 -> −57.5 .. −9.2
    scores = [10] * 8 + [7] * 9 + [0] * 22
    df = pd.DataFrame({"response_id": [f"r{i}" for i in range(39)], "kind": "nps",
                       "score": [float(x) for x in scores],
                       "responded_at": pd.Timestamp("2025-06-10")})
    i = satisfaction.nps(df, JUNE)
    assert round(i.value, 1) == -35.9
    assert round(i.low, 1) == -57.5 and round(i.high, 1) == -9.2
    assert i.n == 39 and not i.small_sample


def test_nps_of_the_period(t):
    assert satisfaction.nps_counts(t["survey_responses"], JUNE) == {
        "responses": 8, "promoters": 4, "passives": 1, "detractors": 3}
    i = satisfaction.nps(t["survey_responses"], JUNE)
    # 100 × (4 − 3) / 8 = 12.5; n = 11, p = 4.75/11, d = 3.75/11, p − d = 0.090909,
    # SE = √((0.772727 − 0.008264) / 11) = 0.26362 -> 0.09091 ± 0.51669 -> −42.58 .. 60.76
    assert i.value == pytest.approx(12.5)
    assert i.low == pytest.approx(-42.578, abs=1e-3)
    assert i.high == pytest.approx(60.760, abs=1e-3)
    may = satisfaction.nps(t["survey_responses"], MAY)
    assert (may.value, may.n) == (-100.0, 1)  # n9 only


def test_period_cut_in_company_time_zone(t):
    # n7 (23:59:59 UTC on June 30) is 01:59:59 on July 1 in Berlin; n8 (00:00 UTC July 1)
    # is 02:00 on July 1 there; nothing of May 31 after 22:00 UTC exists.
    berlin = parse_period("2025-06", timezone="Europe/Berlin")
    assert satisfaction.nps_counts(t["survey_responses"], berlin)["responses"] == 7


# -- CSAT and CES --------------------------------------------------------------------------------


def test_csat_wilson_interval(t):
    i = satisfaction.csat(t["survey_responses"], JUNE)
    # 3 of 5 score 4–5. Wilson: denominator 1 + 1.96²/5 = 1.76829; centre
    # (0.6 + 1.96²/10) / 1.76829 = 0.55655; half 1.96 × √(0.24/5 + 1.96²/100) / 1.76829 = 0.32583
    assert (i.value, i.n) == (0.6, 5)
    assert i.low == pytest.approx(0.2307, abs=1e-4)
    assert i.high == pytest.approx(0.8824, abs=1e-4)


def test_ces_t_interval(t):
    i = satisfaction.ces(t["survey_responses"], JUNE)
    # mean 5; variance (4 + 0 + 4 + 0) / 3 = 8/3; SE = √(8/3 / 4) = 0.81650;
    # t(0.975, 3) = 3.18245 -> half-width 2.59846
    assert (i.value, i.n) == (5.0, 4)
    assert i.low == pytest.approx(2.4015, abs=1e-4)
    assert i.high == pytest.approx(7.5985, abs=1e-4)
    raw = stats.mean_t_interval([7, 5, 3, 5])
    assert (i.low, i.high) == (pytest.approx(raw.low), pytest.approx(raw.high))


def test_t_interval_edge_cases():
    assert satisfaction.t_interval(0, None, None) == stats.Interval(None, None, None, 0)
    assert satisfaction.t_interval(1, 4.0, None) == stats.Interval(4.0, None, None, 1)
    same = satisfaction.t_interval(3, 2.0, 0.0)
    assert (same.low, same.high) == (2.0, 2.0)


# -- retention -----------------------------------------------------------------------------------


def test_retention_with_hand_made_customers(t):
    r = satisfaction.retention(t["activities"], t["deals"], JUNE, active_days=90)
    assert r["retention_start_customers"] == 5
    assert r["retention_end_customers"] == 5
    assert r["retention_retained_customers"] == 3
    assert r["retention_rate"] == pytest.approx(0.6)


def test_retention_window_is_a_parameter(t):
    # 30 days: start window [May 2, Jun 1): ca (May 10), cj (May 20); ck (Apr 15) is out.
    # End window [Jun 1, Jul 1): cc, cd, cj. Active at both: cj only: 1 / 2 (the old
    # (E − N) / S said (3 − 1) / 2 = 100%).
    r = satisfaction.retention(t["activities"], t["deals"], JUNE, active_days=30)
    assert (r["retention_start_customers"], r["retention_end_customers"]) == (2, 3)
    assert r["retention_retained_customers"] == 1
    assert r["retention_rate"] == pytest.approx(0.5)


def test_retention_of_a_period_not_over_stops_at_the_as_of_instant(t):
    # as of Jun 12: end window [Mar 14, Jun 12): ca, cj (May 20, Jun 10), ck; cb (Mar 10)
    # and cf (Mar 3) have dropped out, cc (Jun 15) and cd (Jun 20) are still ahead.
    r = satisfaction.retention(t["activities"], t["deals"], JUNE, as_of_end=dt(2025, 6, 12))
    assert (r["retention_start_customers"], r["retention_retained_customers"],
            r["retention_end_customers"]) == (5, 3, 3)


# -- one period, comparison, empty period --------------------------------------------------------


def test_summary_and_tests(t):
    june = satisfaction.summary(t["survey_responses"], t["activities"], t["deals"], JUNE)
    m = june["metrics"]
    assert m["nps"] == pytest.approx(12.5) and m["nps_responses"] == 8
    assert (m["nps_promoters"], m["nps_passives"], m["nps_detractors"]) == (4, 1, 3)
    assert m["nps_promoter_share"] == 0.5 and m["nps_detractor_share"] == 0.375
    assert (m["csat"], m["csat_responses"], m["ces"], m["ces_responses"]) == (0.6, 5, 5.0, 4)
    assert m["retention_rate"] == pytest.approx(0.6)
    may = satisfaction.summary(t["survey_responses"], t["activities"], t["deals"], MAY)
    tests = satisfaction.significance(june, may)
    # NPS: diff (0.125 − (−1)) against the adjusted variances of June and May
    v1 = stats.nps_variance(4, 3, 8)
    v2 = stats.nps_variance(0, 1, 1)
    assert tests["nps"].statistic == pytest.approx(1.125 / math.sqrt(v1 + v2))
    assert tests["csat"].p_value is None  # no csat in May
    assert tests["ces"].p_value is None  # May has a single ces response: no variance
    assert 0 < tests["nps"].p_value <= 1


def test_welch_from_moments_matches_raw_values():
    a = {"n": 4, "mean": 5.0, "var": 8 / 3}
    b = {"n": 3, "mean": 2.0, "var": 1.0}  # e.g. 1, 2, 3
    got = satisfaction._welch(a, b)
    raw = stats.welch_t_test([7, 5, 3, 5], [1, 2, 3])
    assert got.statistic == pytest.approx(raw.statistic)
    assert got.p_value == pytest.approx(raw.p_value)


def test_empty_period_is_na_not_an_error(t):
    s = satisfaction.summary(t["survey_responses"], t["activities"], t["deals"], EMPTY)
    m = s["metrics"]
    for name in ("nps", "nps_promoter_share", "nps_detractor_share", "csat", "ces",
                 "retention_rate"):
        assert m[name] is None, name
    for name in ("nps_responses", "nps_promoters", "nps_detractors", "csat_responses",
                 "ces_responses"):
        assert m[name] == 0, name
    tests = satisfaction.significance(s, s)
    assert all(test.p_value is None for test in tests.values())
    assert satisfaction.verbatims(t["survey_responses"], t["customers"], EMPTY).empty
    assert satisfaction.nps_by_segment(t["survey_responses"], t["customers"], EMPTY).empty
    teams = satisfaction.nps_by_team(t["survey_responses"], t["customers"], t["employees"],
                                     t["teams"], EMPTY)
    assert list(teams["responses"]) == [0, 0, 0] and teams["nps"].isna().all()
    dist = satisfaction.score_distribution(t["survey_responses"], EMPTY)
    assert dist["responses"].sum() == 0 and dist["share"].isna().all()


# -- breakdowns ----------------------------------------------------------------------------------


def test_nps_by_team_uses_employee_then_customer_owner(t):
    df = satisfaction.nps_by_team(t["survey_responses"], t["customers"], t["employees"],
                                  t["teams"], JUNE).set_index("team_id")
    # t1: n1 (cu1's owner e1) -> promoter. t2: n2, n6 (cu2's owner e2), n5 and n7 (rated
    # employee e2, although cu1 is e1's) -> 2 promoters, 2 detractors. No team: n3 and n10
    # (cu3 has no owner), n4 (no customer). t3: nobody, listed with 0.
    assert list(df.index) == ["t1", "t2", "t3", satisfaction.NO_TEAM]
    assert (df.loc["t1", "responses"], df.loc["t1", "nps"]) == (1, 100.0)
    assert (df.loc["t2", "promoters"], df.loc["t2", "detractors"], df.loc["t2", "nps"]) == (2, 2, 0.0)
    assert df.loc["t3", "responses"] == 0 and pd.isna(df.loc["t3", "nps"])
    assert (df.loc[satisfaction.NO_TEAM, "responses"], df.loc[satisfaction.NO_TEAM, "passives"]) == (3, 1)
    assert df["small_sample"].all() and df["responses"].sum() == 8
    assert df.loc["t2", "team"] == "Beta"


def test_nps_by_segment(t):
    df = satisfaction.nps_by_segment(t["survey_responses"], t["customers"], JUNE).set_index("segment")
    # enterprise (cu1): n1, n5, n7 -> 2 P, 1 D = 33.3; smb (cu2): n2 P, n6 D = 0;
    # unknown: n3 (cu3 without segment), n4 (no customer), n10 -> 1 P, 1 pass., 1 D = 0
    assert list(df.index) == ["enterprise", "smb", satisfaction.NO_SEGMENT]
    assert df.loc["enterprise", "nps"] == pytest.approx(100 / 3)
    assert df.loc["enterprise", "nps_low"] == pytest.approx(stats.nps_interval(2, 1, 3).low)
    assert (df.loc["smb", "responses"], df.loc["smb", "nps"]) == (2, 0.0)
    assert df.loc[satisfaction.NO_SEGMENT, "responses"] == 3


def test_score_distribution(t):
    df = satisfaction.score_distribution(t["survey_responses"], JUNE)
    assert len(df) == 11 + 5 + 7  # every score of every scale, zeros included
    nps = df[df["kind"] == "nps"].set_index("score")
    assert nps.loc[10, "responses"] == 2 and nps.loc[10, "share"] == 0.25
    assert nps.loc[1, "responses"] == 0 and nps.loc[1, "share"] == 0.0
    assert (nps.loc[6, "band"], nps.loc[7, "band"], nps.loc[9, "band"]) == (
        "detractor", "passive", "promoter")
    csat = df[df["kind"] == "csat"].set_index("score")
    assert csat.loc[4, "responses"] == 2 and csat.loc[3, "band"] == "not satisfied"
    ces = df[df["kind"] == "ces"].set_index("score")
    assert ces.loc[5, "responses"] == 2 and ces["responses"].sum() == 4


def test_monthly_trend(t):
    df = satisfaction.monthly_trend(t["survey_responses"], [MAY, JUNE]).set_index("month")
    assert df.loc["2025-05", "nps"] == -100.0 and df.loc["2025-05", "nps_responses"] == 1
    assert df.loc["2025-06", "nps"] == pytest.approx(12.5)
    assert df.loc["2025-06", "csat"] == 0.6 and df.loc["2025-05", "csat_responses"] == 0
    assert pd.isna(df.loc["2025-05", "csat"])
    assert df.loc["2025-06", "ces"] == 5.0 and df.loc["2025-06", "ces_low"] == pytest.approx(2.4015, abs=1e-4)
    assert df.loc["2025-05", "ces"] == 1.0 and pd.isna(df.loc["2025-05", "ces_low"])  # n = 1


def test_verbatims_latest_detractor_comments(t):
    df = satisfaction.verbatims(t["survey_responses"], t["customers"], JUNE)
    # detractors with a non-blank comment in June, newest first: n6 (June 25), n10 (June 15);
    # n5 has a blank comment, n8 is in July, n9 in May
    assert list(df["response_id"]) == ["n6", "n10"]
    assert list(df["date"]) == ["2025-06-25", "2025-06-15"]
    assert list(df["score"]) == [0, 4]
    assert list(df["segment"]) == ["smb", satisfaction.NO_SEGMENT]
    assert df["comment"].iloc[0] == SCRIPT
    assert list(satisfaction.verbatims(t["survey_responses"], t["customers"], JUNE, limit=1)["response_id"]) == ["n6"]


def test_verbatims_are_shown_as_text():
    from crmkit.render.charts import satisfaction as charts

    html = charts.verbatims(satisfaction.verbatims(_survey(), _customers(), JUNE))._repr_html_()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_small_samples_are_flagged_in_tables():
    from crmkit.render.charts import satisfaction as charts

    frame = satisfaction.nps_by_segment(_survey(), _customers(), JUNE)
    html = charts.nps_table(frame, "segment", "NPS by segment")._repr_html_()
    assert html.count(charts.SMALL_FLAG.replace("<", "&lt;")) == 3


# -- the whole report on in-memory frames, and purity --------------------------------------------






def test_metrics_do_not_mutate_inputs():
    frames = {name: make() for name, make in FRAMES.items()}
    before = {name: df.copy() for name, df in frames.items()}
    satisfaction.summary(frames["survey_responses"], frames["activities"], frames["deals"], JUNE)
    satisfaction.nps_by_team(frames["survey_responses"], frames["customers"],
                             frames["employees"], frames["teams"], JUNE)
    satisfaction.nps_by_segment(frames["survey_responses"], frames["customers"], JUNE)
    satisfaction.score_distribution(frames["survey_responses"], JUNE)
    satisfaction.monthly_trend(frames["survey_responses"], [MAY, JUNE])
    satisfaction.verbatims(frames["survey_responses"], frames["customers"], JUNE)
    for name, df in frames.items():
        pd.testing.assert_frame_equal(df, before[name])
