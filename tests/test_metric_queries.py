"""The metrics' grouped queries give what the per-period and per-row versions give.

Several periods' figures come from one engine query (:func:`activity.summaries`,
:func:`satisfaction.retentions`), customer status is counted in the engine
(:func:`activity.status_counts`), the customer lists read only the rows that can matter
(the top customers, the went-quiet customers' recent contacts) and ``distinct`` replaces
narwhals' ``unique``. Each is checked here against the straightforward computation, on
the hand-made CRMs of ``test_activity_metrics`` and ``test_satisfaction_metrics``, on
pandas and on DuckDB.
"""

from __future__ import annotations

from datetime import datetime as dt

import pandas as pd
import pytest
from engines import on_engine
from test_activity_metrics import END, JUNE, MAY, _activities, _customers, _deals, _employees
from test_satisfaction_metrics import FRAMES

from crmkit.metrics import _frames as F
from crmkit.metrics import activity, satisfaction
from crmkit.periods import parse_period


@pytest.fixture(params=["pandas", "duckdb"])
def engine(request):
    return request.param


def _crm(engine: str, extra_deals: list[tuple] = ()) -> dict:
    deals = _deals()
    if extra_deals:
        more = pd.DataFrame(list(extra_deals), columns=deals.columns)
        deals = pd.concat([deals, more], ignore_index=True)
    frames = {"activities": _activities(), "deals": deals, "customers": _customers(),
              "employees": _employees()}
    return on_engine(frames, engine)


def test_distinct_is_unique_with_null_keys(engine):
    df = pd.DataFrame({"a": ["x", "x", None, None, "y"], "b": [1, 1, 2, 2, 3]})
    frames = on_engine({"df": df}, engine)
    got = F.to_pandas(F.distinct(F.lazy(frames["df"]), "a", "b"))
    assert sorted(got.itertuples(index=False), key=str) == sorted(
        df.drop_duplicates().itertuples(index=False), key=str)
    assert list(got.columns) == ["a", "b"]


def test_status_counts_are_the_statuses_counted(engine):
    t = _crm(engine)
    status = activity.customer_status(t["activities"], t["deals"], t["customers"], END)
    counts = status["status"].value_counts()
    assert activity.status_counts(t["activities"], t["deals"], t["customers"], END) == {
        s: int(counts.get(s, 0)) for s in activity.STATUSES}
    with pytest.raises(ValueError, match="active_days"):
        activity.status_counts(t["activities"], t["deals"], t["customers"], END, 90, 30)


def test_summaries_of_two_periods_are_each_periods_summary(engine):
    t = _crm(engine)
    args = (t["activities"], t["deals"], t["customers"])
    both = activity.summaries(*args, [(JUNE, END), (MAY, MAY.end_utc)])
    assert both == [activity.summary(*args, JUNE, END), activity.summary(*args, MAY, MAY.end_utc)]
    assert both[0]["status_counts"] == {"active": 6, "at_risk": 2, "lost": 1, "never_active": 1}


def test_went_quiet_revenue_reaches_before_the_comparison_period(engine):
    # c11 went quiet (a message in May, nothing in June) and bought in January: its revenue
    # of the 365 days before July counts that purchase, though only its May contact is
    # read for its last contact; c4's last contact is its May purchase
    t = _crm(engine, [("d8", "e1", "c11", "won", dt(2024, 12, 1), dt(2025, 1, 10), 250.0),
                      ("d9", "e1", "c11", "won", dt(2024, 1, 1), dt(2024, 6, 1), 99.0)])
    quiet = activity.went_quiet(t["activities"], t["deals"], JUNE, MAY, END).set_index("customer_id")
    assert quiet.loc["c11", "revenue_365d"] == 250.0  # not d9: more than 365 days before
    assert quiet.loc["c11", "last_contact"] == pd.Timestamp(2025, 5, 3, 12)
    assert quiet.loc["c4", "revenue_365d"] == 2000.0
    assert quiet.loc["c4", "last_contact"] == pd.Timestamp(2025, 5, 20)


def test_went_quiet_when_the_comparison_ends_after_the_instant(engine):
    # a comparison period that is not over at the status instant: every contact before
    # the instant is read
    t = _crm(engine)
    later = parse_period("2025-07")
    quiet = activity.went_quiet(t["activities"], t["deals"], MAY, later, END)
    assert set(quiet["customer_id"]) == {"c1"}  # a5 on July 1, nothing in May
    assert quiet["last_contact"].iloc[0] == pd.Timestamp(2025, 6, 5)


def test_top_lists_are_the_head_of_the_full_ordering(engine):
    t = _crm(engine)
    full = activity.by_customer(t["activities"], t["deals"], JUNE)
    for top in (1, 2, 50):
        lists = activity.customer_lists(t["activities"], t["deals"], t["customers"],
                                        t["employees"], JUNE, MAY, END, top=top)
        want = full[full["interactions"] > 0].head(top).reset_index(drop=True)
        got = lists.customer.drop(columns="name")
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        assert list(lists.customer["name"]) == [f"Customer {c}" for c in want["customer_id"]]
        by_revenue = full[full["deals_won"] > 0].sort_values(
            ["revenue", "deals_won", "customer_id"], ascending=[False, False, True]).head(top)
        assert list(lists.top_revenue["customer_id"]) == list(by_revenue["customer_id"])
        assert list(lists.top_revenue["interactions"]) == list(by_revenue["interactions"])
    assert list(lists.went_quiet.columns) == ["customer_id", "name", "owner", "last_contact",
                                              "days_since_contact", "revenue_365d"]
    assert set(lists.went_quiet["owner"]) <= {"Ann"}


def test_retentions_of_two_periods_are_each_periods_retention(engine):
    t = on_engine({name: make() for name, make in FRAMES.items()}, engine)
    june, may = parse_period("2025-06"), parse_period("2025-05")
    for as_of in (None, dt(2025, 6, 12)):
        both = satisfaction.retentions(t["activities"], t["deals"], [june, may], as_of_end=as_of)
        assert both == [satisfaction.retention(t["activities"], t["deals"], june, as_of_end=as_of),
                        satisfaction.retention(t["activities"], t["deals"], may, as_of_end=as_of)]
    assert both[0]["retention_start_customers"] == 5



def test_ties_at_the_cut_are_decided_in_pandas_by_customer_id(engine):
    """The engine keeps every row tied at the cut and pandas orders the ties by id, code
    point by code point: a database's collation (PostgreSQL under en_US ignores the hyphen
    and the case) never decides which customers are listed."""
    ids = ["ab", "a-c", "C2", "c1", "b", "Z"]
    df = pd.DataFrame({"customer_id": ids, "interactions": [5, 3, 3, 3, 3, 1],
                       "revenue": [0.0, 2.0, 1.0, 1.0, 1.0, 0.0]})
    lf = F.lazy(on_engine({"df": df}, engine)["df"])
    kept = F.to_pandas(activity._top(lf, ["interactions", "revenue"], 3))
    assert sorted(kept["customer_id"]) == sorted(["ab", "a-c", "C2", "c1", "b"])  # all tied at 3 kept
    assert len(F.to_pandas(activity._top(lf, ["interactions", "revenue"], 10))) == len(ids)
    ordered = kept.sort_values(["interactions", "revenue", "customer_id"],
                               ascending=[False, False, True]).head(3)
    assert list(ordered["customer_id"]) == ["ab", "a-c", "C2"]  # "C" (67) < "b" (98) < "c" (99)
