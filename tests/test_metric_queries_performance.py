"""The Employee performance metrics' grouped queries give what the per-period queries give.

:func:`performance.summaries` reads each table once for the period and its comparison
(each period's rows stacked with the period's number, grouped by employee and period in one
engine query, the small result split per period). Each grouped query is checked here
against the same query run for one period at a time: on the pinned demo database (DuckDB),
and on the hand-made CRM of ``test_performance_metrics`` on pandas and on DuckDB, with an
empty period and with periods that overlap (a month inside its quarter).
"""

from __future__ import annotations

import itertools

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import pytest
from engines import on_engine
from test_performance_metrics import EMPTY, JUNE, MAY, NOW, _frames

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics import performance as people
from crmkit.periods import parse_period
from crmkit.reports import open_report

Q2 = parse_period("2025-Q2")


@pytest.fixture(scope="module")
def demo(demo_db):
    """The demo's tables (company-wide), its June 2025 and the comparison month."""
    ctx = open_report("performance", period="2025-06", team="all", compare_to="previous",
                      as_of="2025-07-01", database=demo_db)
    return ctx.tables, [ctx.period, ctx.comparison], ctx.as_of_end


@pytest.fixture(params=["pandas", "duckdb"])
def crm(request):
    return on_engine(_frames(), request.param)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in employee order (an engine returns groups in no particular order)."""
    return df.sort_values("employee_id", kind="stable").reset_index(drop=True)


def _same(grouped: list[pd.DataFrame], one_by_one: list[pd.DataFrame]) -> None:
    assert len(grouped) == len(one_by_one)
    for got, want in zip(grouped, one_by_one, strict=True):
        pd.testing.assert_frame_equal(_sorted(got), _sorted(want), check_exact=True)


def _per_table(tables, periods, as_of_end) -> list[tuple[list, list]]:
    """(grouped over all periods, one query per period) for every per-table query."""
    t = {name: people._table(tables, name) for name in
         ("deals", "quotas", "activities", "tasks", "tickets", "survey_responses")}
    return [
        (people._deals_of(t["deals"], periods),
         [people.deals_by_employee(t["deals"], p) for p in periods]),
        (people._quotas_of(t["quotas"], periods),
         [people._quotas_in(t["quotas"], p) for p in periods]),
        (people._activities_of(t["activities"], periods),
         [people.activities_by_employee(t["activities"], p) for p in periods]),
        (people._tasks_of(t["tasks"], periods, as_of_end),
         [people.tasks_by_employee(t["tasks"], p, as_of_end) for p in periods]),
        (people._tickets_of(people._timed(t["tickets"]), periods, as_of_end),
         [people.tickets_by_employee(t["tickets"], p, as_of_end) for p in periods]),
        (people._csat_of(t["survey_responses"], periods),
         [people.csat_by_employee(t["survey_responses"], p) for p in periods]),
    ]


def _same_durations(tables, periods) -> None:
    grouped = people._durations_of(people._timed(tables["tickets"]), periods)
    for got, p in zip(grouped, periods, strict=True):
        want = people.ticket_durations(tables["tickets"], p)
        for key in ("first_response_minutes", "resolution_hours"):
            np.testing.assert_array_equal(np.sort(got[key]), np.sort(want[key]))


def test_grouped_queries_are_the_per_period_queries_on_the_demo(demo):
    tables, periods, as_of_end = demo
    for grouped, one_by_one in _per_table(tables, periods, as_of_end):
        _same(grouped, one_by_one)
        assert any(len(df) for df in grouped)  # the demo has figures in both months
    _same_durations(tables, periods)


@pytest.mark.parametrize("periods", [[JUNE, MAY], [EMPTY, JUNE], [Q2, JUNE]],
                         ids=["previous", "empty-period", "overlapping"])
def test_grouped_queries_are_the_per_period_queries(crm, periods):
    for grouped, one_by_one in _per_table(crm, periods, NOW):
        _same(grouped, one_by_one)
    _same_durations(crm, periods)


def test_overlapping_periods_count_a_row_in_each(crm):
    """A deal closed in June counts in June and in its quarter (the parts are stacked,
    not labelled by the first period that holds the row)."""
    quarter, june = people._deals_of(crm["deals"], [Q2, JUNE])
    ann_q = quarter.set_index("employee_id").loc["e1"]
    ann_j = june.set_index("employee_id").loc["e1"]
    assert (ann_j["deals_won"], ann_j["revenue"]) == (2, 4000.0)
    assert (ann_q["deals_won"], ann_q["revenue"]) == (3, 4500.0)  # and d4, closed in May


def _summary_equal(got: people.Summary, want: people.Summary) -> None:
    assert got["metrics"] == want["metrics"]
    assert got["intervals"] == want["intervals"]
    assert (got["samples"], got["moments"]) == (want["samples"], want["moments"])
    assert (got["tickets"], got["tasks"]) == (want["tickets"], want["tasks"])
    assert got["unassigned"] == want["unassigned"]
    pd.testing.assert_frame_equal(_sorted(got["employees"]), _sorted(want["employees"]),
                                  check_exact=True)


def test_summaries_are_each_periods_summary(demo):
    tables, periods, as_of_end = demo
    both = people.summaries(tables, periods, as_of_end)
    for got, p in zip(both, periods, strict=True):
        _summary_equal(got, people.summary(tables, p, as_of_end))


def test_summaries_of_two_periods_run_the_queries_of_one(demo, monkeypatch):
    """The comparison period costs no engine query of its own (one query per table, and
    one for the ticket times, whatever the number of periods)."""
    tables, periods, as_of_end = demo
    collected = []
    collect = nw.LazyFrame.collect

    def counting(self, *args, **kwargs):
        if self.implementation is not nw.Implementation.PANDAS:  # not collected rows
            collected.append(1)
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(nw.LazyFrame, "collect", counting)
    people.summary(tables, periods[0], as_of_end)
    one = len(collected)
    people.summaries(tables, periods, as_of_end)
    assert len(collected) - one == one == 7


def test_wilson_columns_are_the_wilson_interval():
    pairs = [(h, n) for n, h in itertools.product(range(0, 40), range(0, 40)) if h <= n]
    pairs += [(0, 1), (1, 1), (999, 1000), (1, 1000), (12345, 54321), (7, 3_000_000)]
    hits = pd.Series([h for h, _ in pairs])
    ns = pd.Series([n for _, n in pairs])
    share, low, high = stats.wilson_columns(hits, ns)
    for (h, n), p, lo, hi in zip(pairs, share.tolist(), low.tolist(), high.tolist(), strict=True):
        want = stats.wilson(h, n)
        if want.n == 0:
            assert np.isnan(p) and np.isnan(lo) and np.isnan(hi)
        else:
            assert (p, lo, hi) == (want.value, want.low, want.high)  # the same numbers


def test_ratio_columns_are_the_ratio():
    pairs = [(3.0, 4), (0.0, 0), (5.5, 0), (1.0, 3), (-2.0, 7), (1.0, float("nan"))]
    got = stats.ratio_columns([a for a, _ in pairs], [b for _, b in pairs]).tolist()
    for (a, b), value in zip(pairs, got, strict=True):
        want = stats.ratio(a, b)
        assert np.isnan(value) if want is None else value == want


def test_stacked_parts_keep_their_number_and_split_back():
    frames = [pd.DataFrame({"k": ["a", "b"], "v": [1, 2]}), pd.DataFrame({"k": ["a"], "v": [3]})]
    parts = [F.lazy(df).select("k", "v", nw.lit(i).alias(F.PART)) for i, df in enumerate(frames)]
    found = F.split(F.to_pandas(F.stacked(parts)), 3)
    assert [df.to_dict("list") for df in found] == [
        {"k": ["a", "b"], "v": [1, 2]}, {"k": ["a"], "v": [3]}, {"k": [], "v": []}]


def test_durations_on_duckdb_are_the_durations_from_date_parts():
    """DuckDB subtracts the instants (``epoch_us``); every other engine computes from date
    parts: the two agree to the microsecond, over leap days, centuries, nulls and negative
    spans."""
    starts = pd.to_datetime(["1999-12-31 23:59:59.999999", "2024-02-28 12:00:00", "2000-02-29",
                             "2025-06-30 08:15:30.250000", None, "2100-03-01 00:00:01"], format="ISO8601")
    ends = pd.to_datetime(["2000-01-01 00:00:00", "2024-03-01 12:00:00.000001", "1900-03-01",
                           "2025-06-30 08:15:30.250000", "2025-01-01", "2099-02-28 23:59:59"], format="ISO8601")
    frame = pd.DataFrame({"a": starts, "b": ends})
    native = F.lazy(duckdb.connect().from_df(frame))
    assert native.implementation is nw.Implementation.DUCKDB
    got = F.to_pandas(native.select(s=F.seconds_between("a", "b", native),
                                    d=F.days_between("a", "b", native)))
    want = F.to_pandas(F.lazy(frame).select(s=F.seconds_between("a", "b"),
                                            d=F.days_between("a", "b")))
    exact = [None if pd.isna(a) or pd.isna(b) else (b - a) / pd.Timedelta(microseconds=1)
             for a, b in zip(starts, ends, strict=True)]
    for mine, theirs, micros in zip(got["s"], want["s"], exact, strict=True):
        if micros is None:
            assert pd.isna(mine) and pd.isna(theirs)
        else:
            assert round(mine * 1_000_000) == round(theirs * 1_000_000) == micros
    assert np.allclose(got["d"], want["d"], rtol=1e-12, equal_nan=True)


def test_durations_between_dates_on_duckdb_are_computed_from_date_parts():
    """DATE columns (a CSV read by DuckDB) subtract to whole days, which ``epoch_us`` does
    not take: they go the date-parts way."""
    native = F.lazy(duckdb.connect().sql(
        "SELECT DATE '2024-02-28' AS a, DATE '2024-03-01' AS b"))
    got = F.one_row(native.select(d=F.days_between("a", "b", native)))
    assert got["d"] == 2.0
