"""Employee performance metrics (METRICS.md, "Employee performance").

Per employee of the team: deals won, revenue, win rate, quota attainment; activities by
type; tasks completed, overdue and on time; tickets resolved and unanswered, first-response
and resolution times, SLA compliance; CSAT of the surveys that rate the person. Each person
is ranked against the team median of colleagues who were employed for the whole period.

The per-table functions are pure: canonical tables (any frame :func:`crmkit.metrics._frames.lazy`
accepts) and a :class:`~crmkit.periods.Period` in, a small pandas frame (one row per
employee) out. Filters and aggregations run in the engine that holds the tables; only the
per-employee aggregates are collected. Facts without an employee are kept under the key
:data:`UNASSIGNED`: they count in the team totals, never in a person's row.

Readings of METRICS.md taken here (the definitions below say the same in words):

* ``tasks_overdue``: due in the period, due before the report's as-of instant, and not
  completed by ``due_at`` (completed later, or not at all). ``tasks_on_time_rate`` is
  on-time / (on-time + overdue): tasks due in the period that are still open but not yet
  due are left out.
* ``sla_compliance``: tickets opened in the period that have an ``sla_due_at``; met when the
  first response came at or before it; an unanswered ticket is a miss once its deadline has
  passed (as of the report) and is left out while the deadline is still ahead.
* ``csat``: only the CSAT responses that rate an employee (``employee_id`` set).
* Team medians and ranks leave out people who joined or left during the period, and
  people who do not do that kind of work: only sellers for the sales metrics, only people
  who log activities for ``activities``, only agents for the support metrics (see
  :func:`by_employee`).
* Team totals count every fact of the team, also those with no employee (a ticket with no
  assignee, an activity logged by nobody); ``csat`` counts only responses that rate
  someone. The data notes say how many.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any, TypedDict

import narwhals as nw
import numpy as np
import pandas as pd

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics import sales
from crmkit.metrics._frames import Frame
from crmkit.metrics.definitions import METRICS
from crmkit.model import ACTIVITY_TYPES, empty_frame
from crmkit.periods import Period

__all__ = [
    "Summary",
    "PERSON_METRICS",
    "LOWER_IS_BETTER",
    "SALES_METRICS",
    "SUPPORT_METRICS",
    "UNASSIGNED",
    "WORK_METRICS",
    "activities_by_employee",
    "by_employee",
    "csat_by_employee",
    "deals_by_employee",
    "per_employee",
    "quota_by_employee",
    "roster",
    "significance",
    "summaries",
    "summary",
    "tasks_by_employee",
    "ticket_durations",
    "tickets_by_employee",
    "tickets_total",
]

#: Key of the facts that have no employee (they count in team totals only).
UNASSIGNED = "(no employee)"

SALES_METRICS = ("deals_won", "revenue", "win_rate", "quota_attainment")
WORK_METRICS = ("activities", "tasks_completed", "tasks_overdue", "tasks_on_time_rate")
SUPPORT_METRICS = (
    "tickets_resolved",
    "tickets_unanswered",
    "first_response_minutes_median",
    "first_response_minutes_p90",
    "resolution_hours_median",
    "sla_compliance",
    "csat",
)
#: Every per-person metric; the team totals carry the same names (the KPI cards).
#: Every metric computed per person, in the order the report shows them.
PERSON_METRICS = SALES_METRICS + WORK_METRICS + SUPPORT_METRICS
LOWER_IS_BETTER = frozenset(
    {
        "tasks_overdue",
        "tickets_unanswered",
        "first_response_minutes_median",
        "first_response_minutes_p90",
        "resolution_hours_median",
    }
)

#: A person's workload is flagged when it is this far from their role's median, further
#: than 3 robust spreads of the role, not chance by a Poisson test at this level, and the
#: role has at least this many colleagues employed all period (see :func:`_workload`).
OVERLOAD_RATIO, IDLE_RATIO = 1.5, 0.5
WORKLOAD_P = 0.01
WORKLOAD_MIN_PEERS = 3


# -- per-table metrics (one engine query per table for every period asked) ----------------------
#
# Each ``_..._of(table, periods, ...)`` stacks one filtered select per period (its rows
# labelled with the period's number, :func:`crmkit.metrics._frames.stacked`), groups them in
# one engine query by employee and period, and splits the small result per period; the
# public per-period functions are the one-period case.


def _in(col: str, period: Period) -> nw.Expr:
    return F.in_window(col, period.start_utc, period.end_utc)


def _key(col: str = "employee_id") -> nw.Expr:
    return nw.coalesce(nw.col(col), nw.lit(UNASSIGNED)).alias("employee_id")


def _part(index: int) -> nw.Expr:
    return nw.lit(index).alias(F.PART)


def _minutes(start: str, end: str, frame: nw.LazyFrame) -> nw.Expr:
    return F.seconds_between(start, end, frame) / 60.0


def _flag(cond: nw.Expr) -> nw.Expr:
    return cond.cast(nw.Int64)


def _grouped(parts: list[nw.LazyFrame], keys: tuple[str, ...], *aggs: nw.Expr,
             ints: tuple[str, ...] = (), **named: nw.Expr) -> list[pd.DataFrame]:
    """The per-period ``parts`` grouped by ``keys`` in one engine query, split per period;
    the ``ints`` (sums of flags) as 64-bit integers: an engine may widen a sum of integers
    to a decimal, which pandas would hold as Python objects."""
    found = F.stacked(parts).group_by(*keys, F.PART).agg(*aggs, **named)
    if ints:
        found = found.with_columns(nw.col(*ints).cast(nw.Int64))
    return F.split(F.to_pandas(found), len(parts))


def deals_by_employee(deals: Frame, period: Period) -> pd.DataFrame:
    """Per deal owner: deals won and lost with ``closed_at`` in the period, revenue of the
    won ones and the sum of their squared amounts (for the revenue test)."""
    return _deals_of(deals, [period])[0]


def _deals_of(deals: Frame, periods: list[Period]) -> list[pd.DataFrame]:
    """:func:`deals_by_employee` of each period, from one engine query."""
    won, lf = nw.col("status") == "won", F.lazy(deals)
    parts = [
        lf.filter(_in("closed_at", p) & nw.col("status").is_in(["won", "lost"])).select(
            _key("owner_id"),
            _part(i),
            deals_won=_flag(won),
            deals_lost=_flag(nw.col("status") == "lost"),
            revenue=nw.when(won).then(nw.col("amount")).otherwise(0.0),
            revenue_sumsq=nw.when(won).then(nw.col("amount") * nw.col("amount")).otherwise(0.0),
        )
        for i, p in enumerate(periods)
    ]
    found = _grouped(parts, ("employee_id",),
                     nw.col("deals_won", "deals_lost", "revenue", "revenue_sumsq").sum(),
                     ints=("deals_won", "deals_lost"))
    return [_fill(df, ints=("deals_won", "deals_lost"), floats=("revenue", "revenue_sumsq"))
            for df in found]


def _overlapping(period: Period) -> tuple[datetime, datetime]:
    """The local calendar bounds a quota must overlap to count in the period."""
    return datetime.combine(period.start, time()), period.end_local


def _quotas_in(quotas: Frame, period: Period) -> pd.DataFrame:
    return _quotas_of(quotas, [period])[0]


def _quotas_of(quotas: Frame, periods: list[Period]) -> list[pd.DataFrame]:
    """The quota rows overlapping each period, from one engine query of the rows that
    overlap any of them (each period's rows kept in the table's order)."""
    bounds = [_overlapping(p) for p in periods]
    start, end = nw.col("period_start"), nw.col("period_end")
    overlaps = [(start < p_end) & (end > p_start) for p_start, p_end in bounds]
    rows = F.to_pandas(
        F.lazy(quotas)
        .with_columns(nw.col("period_start", "period_end").cast(nw.Datetime()))
        .filter(nw.any_horizontal(*overlaps, ignore_nulls=False))
        .select("employee_id", "period_start", "period_end", "target_amount")
    )
    if len(periods) == 1:
        return [rows]
    out = []
    for p_start, p_end in bounds:
        inside = (rows["period_start"] < p_end) & (rows["period_end"] > p_start)
        out.append(rows[inside.fillna(False).to_numpy(dtype=bool)].reset_index(drop=True))
    return out


def quota_by_employee(quotas: Frame, period: Period) -> pd.DataFrame:
    """Per employee: the quota target of the period (:func:`crmkit.metrics.sales.quota_target`)."""
    return _targets(_quotas_in(quotas, period), period)


def _targets(quotas: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Per employee, the prorated target of :func:`crmkit.metrics.sales.quota_target`, vectorised
    (the same arithmetic on the collected quota rows; the tests check they agree)."""
    if quotas.empty:
        return pd.DataFrame({"employee_id": pd.Series([], dtype=object),
                             "quota_target": pd.Series([], dtype=float)})
    p_start, p_end = _overlapping(period)
    start = pd.to_datetime(quotas["period_start"]).dt.normalize()
    end = pd.to_datetime(quotas["period_end"]).dt.normalize()
    day = pd.Timedelta(days=1)  # a to-date period holds a fraction of its last day
    inside = ((end.clip(upper=p_end) - start.clip(lower=p_start)) / day).clip(lower=0)
    length = (end - start) / day
    share = (inside / length).where(length > 0, 0.0)
    target = (quotas["target_amount"].astype(float) * share).groupby(quotas["employee_id"]).sum()
    return target.rename("quota_target").rename_axis("employee_id").reset_index().astype(
        {"employee_id": object}
    )


def activities_by_employee(activities: Frame, period: Period) -> pd.DataFrame:
    """Per employee: activities with ``occurred_at`` in the period, in total
    (``activities``) and by type (``activities_call``, ``activities_email``, …)."""
    return _activities_of(activities, [period])[0]


def _activities_of(activities: Frame, periods: list[Period]) -> list[pd.DataFrame]:
    """:func:`activities_by_employee` of each period, from one engine query."""
    lf = F.lazy(activities)
    parts = [
        lf.filter(_in("occurred_at", p)).select(
            _key(), nw.coalesce(nw.col("type"), nw.lit("other")).alias("type"), _part(i))
        for i, p in enumerate(periods)
    ]
    return [_by_type(long) for long in _grouped(parts, ("employee_id", "type"), n=nw.len())]


def _by_type(long: pd.DataFrame) -> pd.DataFrame:
    """Activity counts per (employee, type) as one row per employee, a column per type."""
    types = list(ACTIVITY_TYPES) + sorted(set(long["type"]) - set(ACTIVITY_TYPES))
    wide = (
        long.groupby(["employee_id", "type"])["n"].sum().unstack("type")
        .reindex(columns=types)
        .fillna(0)
        .astype(int)
    )
    wide.columns = [f"activities_{t}" for t in types]
    wide.insert(0, "activities", wide.sum(axis=1).astype(int))
    return wide.rename_axis(None, axis=1).reset_index()


_TASK_COUNTS = ("tasks_due", "tasks_completed", "tasks_on_time", "tasks_overdue", "tasks_no_due")


def tasks_by_employee(tasks: Frame, period: Period, as_of_end: datetime) -> pd.DataFrame:
    """Per employee: tasks due, completed, on time, overdue, and completed without a due date.

    ``as_of_end`` is the instant the report is made at: a task due after it is not overdue.
    """
    return _tasks_of(tasks, [period], as_of_end)[0]


def _task_rows(tasks: nw.LazyFrame, period: Period, as_of_end: datetime,
               index: int) -> nw.LazyFrame:
    """One row per task due or completed in the period, with its flags."""
    due_in, done_in = _in("due_at", period), _in("completed_at", period)
    done = ~nw.col("completed_at").is_null()
    on_time = due_in & done & (nw.col("completed_at") <= nw.col("due_at"))
    overdue = (
        due_in
        & (nw.col("due_at") < as_of_end)
        & (~done | (nw.col("completed_at") > nw.col("due_at")))
    )
    return tasks.filter(due_in | done_in).select(
        _key(),
        _part(index),
        tasks_due=_flag(due_in),
        tasks_completed=_flag(done_in),
        tasks_on_time=_flag(on_time),
        tasks_overdue=_flag(overdue),
        tasks_no_due=_flag(done_in & nw.col("due_at").is_null()),
    )


def _tasks_of(tasks: Frame, periods: list[Period], as_of_end: datetime) -> list[pd.DataFrame]:
    """:func:`tasks_by_employee` of each period, from one engine query."""
    lf = F.lazy(tasks)
    parts = [_task_rows(lf, p, as_of_end, i) for i, p in enumerate(periods)]
    return [_fill(df, ints=_TASK_COUNTS)
            for df in _grouped(parts, ("employee_id",), nw.col(*_TASK_COUNTS).sum(),
                               ints=_TASK_COUNTS)]


_TICKET_COUNTS = (
    "tickets_assigned",
    "tickets_resolved",
    "tickets_answered",
    "tickets_unanswered",
    "unanswered_past_sla",
    "sla_met",
    "sla_missed",
    "sla_pending",
    "no_sla",
)


def _timed(tickets: Frame) -> nw.LazyFrame:
    """The tickets with their first-response minutes (``_fr``) and resolution hours
    (``_res``), built once for every period's rows that read them."""
    lf = F.lazy(tickets)
    return lf.with_columns(
        _fr=_minutes("opened_at", "first_response_at", lf),
        _res=_minutes("opened_at", "resolved_at", lf) / 60.0,
    )


def _ticket_rows(timed: nw.LazyFrame, period: Period, as_of_end: datetime,
                 index: int | None = None) -> nw.LazyFrame:
    """One row per ticket of :func:`_timed` opened or resolved in the period, with flags
    and durations (and the period's number in :data:`crmkit.metrics._frames.PART` when
    ``index`` is given)."""
    opened, resolved = _in("opened_at", period), _in("resolved_at", period)
    answered = ~nw.col("first_response_at").is_null()
    has_sla = ~nw.col("sla_due_at").is_null()
    passed = nw.col("sla_due_at") < as_of_end
    in_time = nw.col("first_response_at") <= nw.col("sla_due_at")
    late = nw.col("first_response_at") > nw.col("sla_due_at")
    return (
        timed
        .filter(opened | resolved)
        .select(
            _key(),
            *([] if index is None else [_part(index)]),
            tickets_assigned=_flag(opened),
            tickets_resolved=_flag(resolved),
            tickets_answered=_flag(opened & answered),
            tickets_unanswered=_flag(opened & ~answered),
            unanswered_past_sla=_flag(opened & ~answered & has_sla & passed),
            sla_met=_flag(opened & has_sla & answered & in_time),
            sla_missed=_flag(opened & has_sla & ((answered & late) | (~answered & passed))),
            sla_pending=_flag(opened & has_sla & ~answered & ~passed),
            no_sla=_flag(opened & ~has_sla),
            first_response_minutes=nw.when(opened & answered).then(nw.col("_fr")),
            resolution_hours=nw.when(resolved).then(nw.col("_res")),
        )
    )


def _ticket_aggs() -> list[nw.Expr]:
    fr, res = nw.col("first_response_minutes"), nw.col("resolution_hours")
    return [
        nw.col(*_TICKET_COUNTS).sum(),
        fr.median().alias("first_response_minutes_median"),
        fr.quantile(0.9, interpolation="linear").alias("first_response_minutes_p90"),
        res.median().alias("resolution_hours_median"),
    ]


def tickets_by_employee(tickets: Frame, period: Period, as_of_end: datetime) -> pd.DataFrame:
    """Per assignee: tickets assigned (opened in the period), resolved in the period,
    unanswered; first-response minutes (median, p90) of the answered tickets opened in the
    period; resolution hours (median) of the tickets resolved in it; SLA met/missed/pending."""
    return _tickets_of(_timed(tickets), [period], as_of_end)[0]


def _tickets_of(timed: nw.LazyFrame, periods: list[Period],
                as_of_end: datetime) -> list[pd.DataFrame]:
    """:func:`tickets_by_employee` of each period (``timed``: :func:`_timed` tickets), from
    one engine query."""
    parts = [_ticket_rows(timed, p, as_of_end, i) for i, p in enumerate(periods)]
    return [_fill(df, ints=_TICKET_COUNTS)
            for df in _grouped(parts, ("employee_id",), *_ticket_aggs(), ints=_TICKET_COUNTS)]


def tickets_total(tickets: Frame, period: Period, as_of_end: datetime) -> dict[str, Any]:
    """The same ticket figures for all the tickets given (a team's total)."""
    row = F.one_row(_ticket_rows(_timed(tickets), period, as_of_end).select(*_ticket_aggs()))
    out: dict[str, Any] = {k: int(row[k] or 0) for k in _TICKET_COUNTS}
    for k in ("first_response_minutes_median", "first_response_minutes_p90", "resolution_hours_median"):
        out[k] = None if row[k] is None else float(row[k])
    if not out["tickets_answered"]:
        out["first_response_minutes_median"] = out["first_response_minutes_p90"] = None
    if not out["tickets_resolved"]:
        out["resolution_hours_median"] = None
    return out


def _ticket_totals(per_person: pd.DataFrame, durations: dict[str, np.ndarray]) -> dict[str, Any]:
    """:func:`tickets_total` from the per-employee counts (whose key includes the
    unassigned tickets) and the collected times, saving an engine query."""
    out: dict[str, Any] = {k: int(per_person[k].sum()) for k in _TICKET_COUNTS}
    fr = pd.Series(durations["first_response_minutes"], dtype=float)
    res = pd.Series(durations["resolution_hours"], dtype=float)
    out["first_response_minutes_median"] = float(fr.median()) if len(fr) else None
    out["first_response_minutes_p90"] = float(fr.quantile(0.9)) if len(fr) else None
    out["resolution_hours_median"] = float(res.median()) if len(res) else None
    return out


def ticket_durations(tickets: Frame, period: Period) -> dict[str, np.ndarray]:
    """The first-response minutes and resolution hours themselves (for rank tests)."""
    return _durations_of(_timed(tickets), [period])[0]


def _durations_of(timed: nw.LazyFrame, periods: list[Period]) -> list[dict[str, np.ndarray]]:
    """:func:`ticket_durations` of each period (``timed``: :func:`_timed` tickets), from one
    engine query."""
    parts = []
    for i, p in enumerate(periods):
        opened, resolved = _in("opened_at", p), _in("resolved_at", p)
        parts.append(timed.filter(opened | resolved).select(
            _part(i),
            fr=nw.when(opened & ~nw.col("first_response_at").is_null()).then(nw.col("_fr")),
            res=nw.when(resolved).then(nw.col("_res")),
        ))
    return [
        {"first_response_minutes": df["fr"].dropna().to_numpy(dtype=float),
         "resolution_hours": df["res"].dropna().to_numpy(dtype=float)}
        for df in F.split(F.to_pandas(F.stacked(parts)), len(periods))
    ]


def csat_by_employee(survey_responses: Frame, period: Period) -> pd.DataFrame:
    """Per rated employee: CSAT responses in the period and those scoring 4–5."""
    return _csat_of(survey_responses, [period])[0]


def _csat_of(survey_responses: Frame, periods: list[Period]) -> list[pd.DataFrame]:
    """:func:`csat_by_employee` of each period, from one engine query."""
    lf, csat = F.lazy(survey_responses), nw.col("kind") == "csat"
    parts = [lf.filter(csat & _in("responded_at", p)).select(
        _key(), _part(i), csat_good=_flag(nw.col("score") >= 4)) for i, p in enumerate(periods)]
    found = _grouped(parts, ("employee_id",), csat_responses=nw.len(),
                     csat_good=nw.col("csat_good").sum(), ints=("csat_good",))
    return [_fill(df, ints=("csat_responses", "csat_good")) for df in found]


def _fill(df: pd.DataFrame, ints: tuple[str, ...] = (), floats: tuple[str, ...] = ()) -> pd.DataFrame:
    df = df.copy()
    for c in ints:
        df[c] = df[c].fillna(0).astype(int)
    for c in floats:
        df[c] = df[c].fillna(0.0).astype(float)
    df["employee_id"] = df["employee_id"].astype(object)
    return df


# -- per employee and team totals ---------------------------------------------------------------

def _table(tables: Mapping[str, Frame], name: str) -> Frame:
    frame = tables.get(name)
    return empty_frame(name) if frame is None else frame


def _share(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype(float)


def per_employee(
    tables: Mapping[str, Frame], period: Period, as_of_end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every performance figure per employee id (one row each, zeros where none).

    Returns ``(frame, quotas)``: the frame includes the :data:`UNASSIGNED` row of facts
    without an employee; ``quotas`` are the quota rows overlapping the period.
    """
    return _per_employee_of(tables, [period], as_of_end, _timed(_table(tables, "tickets")))[0]


def _per_employee_of(
    tables: Mapping[str, Frame], periods: list[Period], as_of_end: datetime,
    timed: nw.LazyFrame, quota_periods: list[Period] | None = None,
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """:func:`per_employee` of each period (``timed``: the :func:`_timed` tickets), from
    one engine query per table; the quota targets of ``quota_periods`` when given."""
    targeted = periods if quota_periods is None else quota_periods
    quotas = _quotas_of(_table(tables, "quotas"), targeted)
    by_table = [
        _deals_of(_table(tables, "deals"), periods),
        [_targets(q, p) for q, p in zip(quotas, targeted, strict=True)],
        _activities_of(_table(tables, "activities"), periods),
        _tasks_of(_table(tables, "tasks"), periods, as_of_end),
        _tickets_of(timed, periods, as_of_end),
        _csat_of(_table(tables, "survey_responses"), periods),
    ]
    return [(_joined([parts[i] for parts in by_table]), quotas[i]) for i in range(len(periods))]


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-table frames of one period side by side, one row per employee id."""
    df = pd.concat([part.set_index("employee_id") for part in parts], axis=1, join="outer")
    times = ["quota_target", "first_response_minutes_median", "first_response_minutes_p90",
             "resolution_hours_median"]
    counts = [c for c in df.columns if c not in times]
    df[counts] = df[counts].fillna(0)
    ints = [c for c in counts if c not in ("revenue", "revenue_sumsq")]
    df[ints] = df[ints].astype(int)
    df = df.rename_axis("employee_id").reset_index()
    return _with_rates(df)


def _with_rates(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["deals_closed"] = df["deals_won"] + df["deals_lost"]
    df["win_rate"] = _share(df["deals_won"], df["deals_closed"])
    df["quota_attainment"] = _share(df["revenue"], df["quota_target"].astype(float))
    df["tasks_on_time_rate"] = _share(df["tasks_on_time"], df["tasks_on_time"] + df["tasks_overdue"])
    df["sla_compliance"] = _share(df["sla_met"], df["sla_met"] + df["sla_missed"])
    df["csat"] = _share(df["csat_good"], df["csat_responses"])
    for rate, hits, n in (
        ("win_rate", "deals_won", "deals_closed"),
        ("csat", "csat_good", "csat_responses"),
    ):
        _, df[f"{rate}_low"], df[f"{rate}_high"] = stats.wilson_columns(df[hits], df[n])
    return df


class Summary(TypedDict):
    """One period's Employee performance figures: team totals and per-employee rows."""

    metrics: dict[str, Any]  # team totals under METRICS.md names (None when N/A)
    intervals: dict[str, stats.Interval]
    samples: dict[str, int]
    moments: dict[str, Any]  # inputs of the tests
    durations: pd.DataFrame  # ticket response and resolution times, inputs of the tests
    tickets: dict[str, Any]  # ticket totals, with the counts the data notes need
    tasks: dict[str, int]
    employees: pd.DataFrame  # one row per employee id, without the unassigned facts
    unassigned: dict[str, int]  # the figures of facts without an employee
    days: float  # the period's length, the exposure of its counts and revenue in the tests


def summary(tables: Mapping[str, Frame], period: Period, as_of_end: datetime) -> Summary:
    """Team totals of every headline metric for one period, and the per-employee figures.

    ``tables`` maps canonical table names to frames (a team's scoped tables, or plain
    pandas frames; a missing table counts as empty).
    """
    return summaries(tables, [period], as_of_end)[0]


def summaries(tables: Mapping[str, Frame], periods: Sequence[Period],
              as_of_end: datetime, quota_periods: Sequence[Period] | None = None,
              ) -> list[Summary]:
    """:func:`summary` of each period (the report's period and its comparison), from one
    engine query per table for all of them: each table's rows of every period are
    grouped by employee and period at once, and the small result split per period. The
    quota targets are each period's, or those of its whole period in ``quota_periods`` (a
    month not over, counted up to the as-of instant: the month's targets)."""
    periods = list(periods)
    targeted = periods if quota_periods is None else list(quota_periods)
    timed = _timed(_table(tables, "tickets"))
    found = _per_employee_of(tables, periods, as_of_end, timed, targeted)
    durations = _durations_of(timed, periods)
    return [_summary_of(df, quotas, times, period, whole)
            for (df, quotas), times, period, whole
            in zip(found, durations, periods, targeted, strict=True)]


def _summary_of(df: pd.DataFrame, quotas: pd.DataFrame, durations: dict[str, np.ndarray],
                period: Period, targeted: Period) -> Summary:
    """One period's :class:`Summary` from its per-employee figures, quota rows (of
    ``targeted``, its whole period) and times."""
    tickets = _ticket_totals(df, durations)
    people = df[df["employee_id"] != UNASSIGNED].reset_index(drop=True)
    nobody = df[df["employee_id"] == UNASSIGNED]
    unassigned = {c: (int(nobody[c].sum()) if len(nobody) else 0) for c in
                  ("activities", "tickets_assigned", "tickets_resolved", "csat_responses")}
    total = {c: int(df[c].sum()) for c in ("deals_won", "deals_closed", "activities",
                                           "tasks_completed", "tasks_overdue", "tasks_on_time",
                                           "tasks_no_due", "tasks_due")}
    revenue = float(df["revenue"].sum())
    target = sales.quota_target(quotas, targeted) if len(quotas) else None
    intervals = {
        "win_rate": stats.wilson(total["deals_won"], total["deals_closed"]),
        "tasks_on_time_rate": stats.wilson(total["tasks_on_time"],
                                           total["tasks_on_time"] + total["tasks_overdue"]),
        "sla_compliance": stats.wilson(tickets["sla_met"], tickets["sla_met"] + tickets["sla_missed"]),
        "csat": stats.wilson(int(people["csat_good"].sum()), int(people["csat_responses"].sum())),
    }
    return Summary(
        metrics=_team_metrics(total, revenue, target, intervals, tickets),
        intervals=intervals,
        samples={
            **{name: i.n for name, i in intervals.items()},
            "first_response_minutes_median": tickets["tickets_answered"],
            "first_response_minutes_p90": tickets["tickets_answered"],
            "resolution_hours_median": tickets["tickets_resolved"],
        },
        moments={"revenue_sumsq": float(df["revenue_sumsq"].sum()), "quota_target": target},
        durations=durations,
        tickets=tickets,
        tasks={"tasks_no_due": total["tasks_no_due"], "tasks_due": total["tasks_due"],
               "tasks_pending": total["tasks_due"] - total["tasks_on_time"] - total["tasks_overdue"]},
        employees=people,
        unassigned=unassigned,
        days=period.length_days,
    )


def _team_metrics(total: dict[str, int], revenue: float, target: float | None,
                  intervals: dict[str, stats.Interval], tickets: dict[str, Any]) -> dict[str, Any]:
    """The headline metrics of the team, in the order the report lists them."""
    return {
        "deals_won": total["deals_won"],
        "revenue": revenue,
        "win_rate": intervals["win_rate"].value,
        "quota_attainment": stats.ratio(revenue, target),
        "activities": total["activities"],
        "tasks_completed": total["tasks_completed"],
        "tasks_overdue": total["tasks_overdue"],
        "tasks_on_time_rate": intervals["tasks_on_time_rate"].value,
        "tickets_resolved": tickets["tickets_resolved"],
        "tickets_unanswered": tickets["tickets_unanswered"],
        "first_response_minutes_median": tickets["first_response_minutes_median"],
        "first_response_minutes_p90": tickets["first_response_minutes_p90"],
        "resolution_hours_median": tickets["resolution_hours_median"],
        "sla_compliance": intervals["sla_compliance"].value,
        "csat": intervals["csat"].value,
    }


# -- who is compared with whom ------------------------------------------------------------------


def _local_day(ts: Any, tz: str) -> str:
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz).date().isoformat()


def roster(employees: Frame, period: Period, comparison: Period | None = None) -> pd.DataFrame:
    """The employees with their standing in the period.

    Columns: ``employee_id, name, team_id, role, hired_at, left_at``; ``employed`` (worked
    at some time in the period), ``full_period`` (employed for all of it: not hired inside
    or after it, not left before its end), ``full_comparison`` (the same for the
    comparison period) and ``note`` ("joined 2025-06-10: partial period", …; dates are
    local days in the period's time zone).
    """
    df = F.to_pandas(F.lazy(employees)).copy()
    for c in ("role", "hired_at", "left_at"):
        if c not in df.columns:
            df[c] = None
    df["hired_at"] = pd.to_datetime(df["hired_at"])
    df["left_at"] = pd.to_datetime(df["left_at"])
    hired, left = df["hired_at"], df["left_at"]
    start, end = pd.Timestamp(period.start_utc), pd.Timestamp(period.end_utc)
    df["employed"] = (hired.isna() | (hired < end)) & (left.isna() | (left >= start))
    df["full_period"] = (hired.isna() | (hired < start)) & (left.isna() | (left >= end))
    if comparison is not None:
        c_start, c_end = pd.Timestamp(comparison.start_utc), pd.Timestamp(comparison.end_utc)
        df["full_comparison"] = (hired.isna() | (hired < c_start)) & (left.isna() | (left >= c_end))
    else:
        df["full_comparison"] = False
    df["note"] = _notes(hired, left, df["full_period"], df["full_comparison"], period, comparison)
    df["role"] = df["role"].astype(object)
    cols = ["employee_id", "name", "team_id", "role", "hired_at", "left_at", "employed",
            "full_period", "full_comparison", "note"]
    return df[cols].astype({"employee_id": object})


def _notes(hired: pd.Series, left: pd.Series, full: pd.Series, full_comparison: pd.Series,
           period: Period, comparison: Period | None) -> list[str]:
    """Each person's note (:func:`roster`); only the people with one are looked at (those
    not employed all period, or not all the comparison period)."""
    notes = [""] * len(hired)
    need = ~full.to_numpy(dtype=bool)
    if comparison is not None:
        need |= ~full_comparison.to_numpy(dtype=bool)
    tz = period.timezone
    start, end = pd.Timestamp(period.start_utc), pd.Timestamp(period.end_utc)
    for i in np.flatnonzero(need).tolist():
        h, lv = hired.iat[i], left.iat[i]
        parts = []
        if pd.notna(h) and h >= start:
            parts.append(f"joined {_local_day(h, tz)}")
        if pd.notna(lv) and lv < end:
            parts.append(f"left {_local_day(lv, tz)}")
        if not full.iat[i]:
            when = "partial period"
            if pd.notna(lv) and lv < start:
                when = "before the period"
            elif pd.notna(h) and h >= end:
                when = "after the period"
            notes[i] = f"{', '.join(parts)}: {when}"
        elif comparison is not None:
            day = _local_day(h, tz) if pd.notna(h) else "?"
            notes[i] = f"joined {day}: no change vs {comparison.label} (partial there)"
    return notes


# -- breakdown: the leaderboard ------------------------------------------------------------------


def _peers(frame: pd.DataFrame, prev: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Who is compared on which metrics: ``sales`` metrics people with role ``sales``, closed
    deals or a quota; ``activities`` people with role ``sales`` or activities; ``support``
    metrics people with role ``support``, tickets or CSAT responses (activity in the
    comparison period counts too). Everyone is compared on tasks."""
    role = frame["role"].fillna("").to_numpy(dtype=object)
    tickets = frame[["tickets_assigned", "tickets_resolved", "csat_responses"]].sum(axis=1)
    seller = ((role == "sales") | (frame["deals_closed"].to_numpy() > 0)
              | frame["quota_target"].notna().to_numpy())
    logger = (role == "sales") | (frame["activities"].to_numpy() > 0)
    agent = (role == "support") | (tickets.to_numpy() > 0)
    if prev is not None:
        p = frame[["employee_id"]].merge(prev, on="employee_id", how="left").fillna(
            {"deals_closed": 0, "tickets_assigned": 0, "tickets_resolved": 0, "activities": 0}
        )
        seller = seller | (p["deals_closed"].to_numpy() > 0)
        logger = logger | (p["activities"].to_numpy() > 0)
        agent = agent | ((p["tickets_assigned"] + p["tickets_resolved"]).to_numpy() > 0)
    return {"sales": seller, "activities": logger, "support": agent}


def _values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    return frame[metric].to_numpy(dtype=float, na_value=np.nan)


def _rank(values: np.ndarray, eligible: np.ndarray, metric: str) -> pd.Series:
    """Rank 1 = best among the eligible people (ties share the best rank)."""
    out = pd.Series(pd.NA, index=range(len(values)), dtype="Int64")
    if eligible.any():
        sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
        ranks = pd.Series(sign * values[eligible]).rank(method="min")
        out[eligible] = ranks.to_numpy(dtype=int)
    return out


def _eligibility(frame: pd.DataFrame, peers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per metric, who counts in the team median and the rank: employed all period, among
    the metric's peers (:func:`_peers`), with a value."""
    full = frame["full_period"].to_numpy(dtype=bool)
    out = {}
    for m in PERSON_METRICS:
        if m in SALES_METRICS:
            fam: Any = peers["sales"]
        elif m in SUPPORT_METRICS:
            fam = peers["support"]
        elif m == "activities":
            fam = peers["activities"]
        else:
            fam = True
        out[m] = full & fam & ~np.isnan(_values(frame, m))
    return out


def _assemble(figures: pd.DataFrame, staff: pd.DataFrame) -> pd.DataFrame:
    """Roster (people employed in the period) joined with their figures, plus anyone with
    figures who is not on it (left before the period, or not in the employees table)."""
    employed = list(staff.loc[staff["employed"], "employee_id"])
    seen = set(employed)
    ids = employed + [i for i in figures["employee_id"] if i not in seen]
    base = staff.set_index("employee_id").reindex(ids)
    unknown = base["name"].isna().to_numpy()
    if unknown.any():
        base.loc[unknown, "name"] = base.index[unknown]
        base.loc[unknown, "note"] = "not in the employee list"
    for col in ("employed", "full_period", "full_comparison"):
        base[col] = base[col].astype("boolean").fillna(False).astype(bool)
    base["note"] = base["note"].fillna("")
    fig = figures.set_index("employee_id").reindex(ids)
    ints = [c for c in figures.columns if figures[c].dtype.kind == "i"]
    fig[ints] = fig[ints].fillna(0).astype(int)
    fig[["revenue", "revenue_sumsq"]] = fig[["revenue", "revenue_sumsq"]].fillna(0.0)
    return pd.concat([base, fig], axis=1).rename_axis("employee_id").reset_index()


def _medians(frame: pd.DataFrame, eligible: dict[str, np.ndarray]) -> dict[str, tuple[Any, int]]:
    out: dict[str, tuple[Any, int]] = {}
    for m in PERSON_METRICS:
        values = _values(frame, m)[eligible[m]]
        out[m] = (float(np.median(values)) if len(values) else None, len(values))
    return out


def by_employee(
    current: Summary,
    staff: pd.DataFrame,
    previous: Summary | None = None,
    staff_previous: pd.DataFrame | None = None,
    compared: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leaderboard: one row per employee with every metric, its rank, the person's
    value in the comparison period and the change; and the team medians.

    ``current``/``previous`` are :func:`summary` results; ``staff`` is :func:`roster` for
    the period (with its comparison), ``staff_previous`` the roster of the comparison
    period. A metric's median and rank take the people employed for the whole period who
    have a value, among the metric's peers (:func:`_peers`: sellers for the sales metrics,
    people who log activities for ``activities``, agents for the support metrics, everyone
    for tasks). Changes are shown only for people employed for the whole of both periods,
    and none when the page does not compare (``compared`` False: a period not over, see
    :attr:`crmkit.reports.context.ReportContext.compared`).
    Rank 1 is the best (the lowest for times, overdue and unanswered counts).

    Returns ``(employee, team_median)``; ``team_median`` has one row per metric:
    ``metric, team_median, employees, team_median_previous, change``.
    """
    frame = _assemble(current["employees"], staff)
    prev_fig = previous["employees"] if previous is not None else None
    peers = _peers(frame, prev_fig)
    frame["is_seller"], frame["is_agent"] = peers["sales"], peers["support"]
    eligible = _eligibility(frame, peers)
    medians = _medians(frame, eligible)
    extra: dict[str, Any] = {
        f"{m}_rank": _rank(_values(frame, m), eligible[m], m) for m in PERSON_METRICS
    }
    prev_medians: dict[str, tuple[Any, int]] = {}
    if prev_fig is not None:
        extra |= _person_changes(frame, prev_fig, compared)
        if staff_previous is not None:
            pf = _assemble(prev_fig, staff_previous)
            prev_medians = _medians(pf, _eligibility(pf, _peers(pf, None)))

    frame = _workload(pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1))
    frame = frame.sort_values(
        ["full_period", "revenue", "tickets_resolved", "activities", "name"],
        ascending=[False, False, False, False, True],
    ).reset_index(drop=True)
    return frame, _team_medians(medians, prev_medians if compared else {})


def _person_changes(frame: pd.DataFrame, prev_fig: pd.DataFrame, compared: bool = True
                    ) -> dict[str, Any]:
    """Each person's value in the comparison period and its change (for the people
    employed for the whole of both periods): ``<metric>_change`` relative, and for a rate
    ``<metric>_change_pp`` in percentage points (its ``_change`` is then N/A), by
    :meth:`~crmkit.metrics.definitions.Metric.change_between`."""
    p = frame[["employee_id"]].merge(prev_fig, on="employee_id", how="left")
    counts = [c for c in prev_fig.columns if prev_fig[c].dtype.kind == "i"]
    p[counts] = p[counts].fillna(0)
    comparable = (frame["full_period"] & frame["full_comparison"]).to_numpy() & compared
    extra: dict[str, Any] = {}
    for m in PERSON_METRICS:
        extra[f"{m}_previous"] = p[m].to_numpy()
        extra |= _changes_between(m, _floats(frame[m]), _floats(p[m]), comparable)
    return extra


def _floats(values: pd.Series) -> np.ndarray:
    """A column as floats, NaN where it has no value (None, NaN, NA)."""
    return pd.to_numeric(values, errors="coerce").astype(float).to_numpy(na_value=np.nan)


def _changes_between(m: str, now: np.ndarray, before: np.ndarray,
                     comparable: np.ndarray) -> dict[str, list[float | None]]:
    """:meth:`~crmkit.metrics.definitions.Metric.change_between` for every person at once:
    ``<m>_change`` (and ``<m>_change_pp``/``_points``), None where not comparable or N/A."""
    both = comparable & ~np.isnan(now) & ~np.isnan(before)
    key = METRICS[m].points_key
    with np.errstate(divide="ignore", invalid="ignore"):
        if key is None:
            ok = both & (before != 0)
            return {f"{m}_change": _kept((now - before) / np.abs(before), ok)}
        scale = 100.0 if METRICS[m].unit == "rate" else 1.0
        return {f"{m}_change": [None] * len(now), f"{m}_{key}": _kept(scale * (now - before), both)}


def _kept(values: np.ndarray, ok: np.ndarray) -> list[float | None]:
    return [v if k else None for v, k in zip(values.tolist(), ok.tolist(), strict=True)]


def _team_medians(medians: dict[str, tuple[Any, int]],
                  prev_medians: dict[str, tuple[Any, int]]) -> pd.DataFrame:
    """One row per metric: the team median, its colleagues, the comparison period's median
    and the change (``change`` relative; ``change_pp`` for a rate, whose ``change`` is N/A)."""
    rows = []
    for m in PERSON_METRICS:
        now, before = medians[m][0], prev_medians.get(m, (None, 0))[0]
        rows.append({"metric": m, "team_median": now, "employees": medians[m][1],
                     "team_median_previous": before, "change_pp": None,
                     **METRICS[m].change_between(now, before)})
    return pd.DataFrame(rows)


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else float(v)


def _workload(frame: pd.DataFrame) -> pd.DataFrame:
    """Workload = activities + tasks due + tickets assigned in the period, against the
    median of the colleagues of the same role employed all period.

    A person employed all period is flagged ``high`` (possible overload) or ``low``
    (possibly idle) when all of these hold: the role has at least 3 such colleagues; the
    workload is ≥ 1.5× (≤ 0.5×) the role median; it is further from the median than 3
    robust spreads of the colleagues (1.4826 × the median absolute deviation of
    log(workload + 1)), so a role whose people always differ a lot is not flagged for
    ordinary spread; and a Poisson test with the median as the expected count gives
    p < 0.01, so small counts are not flagged by chance.
    """
    df = frame.copy()
    df["workload"] = (df["activities"] + df["tasks_due"] + df["tickets_assigned"]).astype(int)
    role = df["role"].fillna("(no role)")
    full = df["full_period"].to_numpy(dtype=bool)
    logs = np.log1p(df["workload"].to_numpy(dtype=float))
    median, spread, peers = {}, {}, {}
    for name, idx in pd.Series(np.flatnonzero(full)).groupby(role[full].to_numpy()):
        w = df["workload"].to_numpy()[idx.to_numpy()]
        lg = logs[idx.to_numpy()]
        median[name], peers[name] = float(np.median(w)), len(w)
        spread[name] = 1.4826 * float(np.median(np.abs(lg - np.median(lg))))
    df["workload_role_median"] = role.map(median).astype(float)
    df["workload_ratio"] = _share(df["workload"], df["workload_role_median"])
    flags = []
    for w, lg, r, name, m, f in zip(df["workload"], logs, df["workload_ratio"], role,
                                    df["workload_role_median"], full, strict=True):
        flag = ""
        if f and peers.get(name, 0) >= WORKLOAD_MIN_PEERS and pd.notna(r):
            far = abs(lg - math.log1p(m)) > 3 * spread[name]
            if far and r >= OVERLOAD_RATIO and stats.poisson_sf(w - 1, m) < WORKLOAD_P / 2:
                flag = "high"
            elif far and r <= IDLE_RATIO and stats.poisson_cdf(w, m) < WORKLOAD_P / 2:
                flag = "low"
        flags.append(flag)
    df["workload_flag"] = flags
    return df


# -- tests ---------------------------------------------------------------------------------------


def significance(current: Summary, previous: Summary) -> dict[str, stats.Test]:
    """Tests of the change of each team total between two :func:`summary` results.

    Counts: conditional binomial test of two Poisson counts, as rates over the periods'
    lengths; rates: two-proportion z-test; revenue: z-test of compound-Poisson totals
    (variance Σ amount²) over the periods' lengths, and quota attainment the same divided
    by each target (variance Σ amount² / target²); median times: Mann-Whitney U test of
    the times themselves. The p90 is not tested.
    """
    cm, pm = current["metrics"], previous["metrics"]
    days = current["days"], previous["days"]
    out: dict[str, stats.Test] = {}
    for name in ("deals_won", "activities", "tasks_completed", "tasks_overdue",
                 "tickets_resolved", "tickets_unanswered"):
        out[name] = stats.poisson_rate_test(int(cm[name]), int(pm[name]), *days)
    for name in ("win_rate", "tasks_on_time_rate", "sla_compliance", "csat"):
        a, b = current["intervals"][name], previous["intervals"][name]
        if a.value is None or b.value is None:
            out[name] = stats.Test(None, None)
        else:
            out[name] = stats.two_proportion_test(round(a.value * a.n), a.n,
                                                  round(b.value * b.n), b.n)
    cmo, pmo = current["moments"], previous["moments"]
    if cmo["revenue_sumsq"] + pmo["revenue_sumsq"] > 0:
        out["revenue"] = stats.compound_poisson_test(
            cm["revenue"], cmo["revenue_sumsq"], pm["revenue"], pmo["revenue_sumsq"], *days)
    t1, t2 = cmo["quota_target"], pmo["quota_target"]
    if cm["quota_attainment"] is not None and pm["quota_attainment"] is not None and t1 and t2:
        out["quota_attainment"] = stats.two_sample_z_test(
            cm["quota_attainment"] - pm["quota_attainment"],
            cmo["revenue_sumsq"] / t1**2, pmo["revenue_sumsq"] / t2**2,
        )
    for name, key in (("first_response_minutes_median", "first_response_minutes"),
                      ("resolution_hours_median", "resolution_hours")):
        out[name] = stats.mann_whitney_test(current["durations"][key], previous["durations"][key])
    return out


# -- the report ----------------------------------------------------------------------------------
