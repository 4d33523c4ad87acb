"""Sales metrics (METRICS.md, "Sales").

Every function is pure: it takes canonical tables (any frame :func:`crmkit.metrics._frames.lazy`
accepts) and a :class:`~crmkit.periods.Period`, and returns a number, an
:class:`~crmkit.stats.Interval`, a dict of numbers or a small pandas frame. The work runs
inside whatever engine holds the tables; only aggregates are collected.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any, TypedDict

import narwhals as nw
import pandas as pd

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics._frames import Frame
from crmkit.periods import Period

__all__ = [
    "STAGE_ORDER_HINT",
    "Summary",
    "by_employee",
    "by_product",
    "deal_figures",
    "deal_size",
    "deals_closed",
    "deals_created",
    "forecast",
    "lead_conversion",
    "lead_conversions",
    "monthly_trend",
    "pipeline",
    "pipeline_by_expected_close",
    "pipeline_velocity",
    "quota_target",
    "quota_targets",
    "revenue",
    "sales_cycle",
    "snapshot_at",
    "stage_funnel",
    "summaries",
    "summary",
    "win_rate",
]

STAGE_ORDER_HINT = ("qualification", "discovery", "proposal", "negotiation", "commitment")


def _won_in(period: Period) -> nw.Expr:
    return (nw.col("status") == "won") & F.in_window("closed_at", period.start_utc, period.end_utc)


def _open_at(at: datetime) -> nw.Expr:
    """Open at instant ``at``: created before it and not closed before it."""
    return (nw.col("created_at") < at) & (
        nw.col("closed_at").is_null() | (nw.col("closed_at") >= at)
    )


def deals_created(deals: Frame, period: Period) -> int:
    """Deals whose ``created_at`` falls in the period."""
    row = F.one_row(
        F.lazy(deals)
        .filter(F.in_window("created_at", period.start_utc, period.end_utc))
        .select(n=nw.len())
    )
    return int(row["n"] or 0)


def deals_closed(deals: Frame, period: Period) -> dict[str, int]:
    """``{"deals_won": …, "deals_lost": …}`` by status and ``closed_at`` in period."""
    row = F.one_row(
        F.lazy(deals)
        .filter(F.in_window("closed_at", period.start_utc, period.end_utc))
        .select(
            deals_won=(nw.col("status") == "won").cast(nw.Int64).sum(),
            deals_lost=(nw.col("status") == "lost").cast(nw.Int64).sum(),
        )
    )
    return {k: int(v or 0) for k, v in row.items()}


def revenue(deals: Frame, period: Period) -> float:
    """Sum of ``amount`` of deals won in the period (0 when none)."""
    row = F.one_row(F.lazy(deals).filter(_won_in(period)).select(r=nw.col("amount").sum()))
    return float(row["r"] or 0.0)


def win_rate(deals: Frame, period: Period) -> stats.Interval:
    """won / (won + lost) of deals closed in the period, with a Wilson interval."""
    closed = deals_closed(deals, period)
    return stats.wilson(closed["deals_won"], closed["deals_won"] + closed["deals_lost"])


def deal_size(deals: Frame, period: Period) -> dict[str, Any]:
    """Average and median amount of deals won in the period, with n, mean, variance.

    ``avg_deal_size`` is revenue / deals won (deals without an amount count as 0 in the
    revenue sum but still count as won deals, exactly as the definition reads).
    """
    row = F.one_row(
        F.lazy(deals)
        .filter(_won_in(period))
        .select(
            n=nw.len(),
            total=nw.col("amount").sum(),
            median=nw.col("amount").median(),
            sumsq=(nw.col("amount") * nw.col("amount")).sum(),
            n_amount=nw.col("amount").count(),
            var=nw.col("amount").var(ddof=1),
        )
    )
    return _size(int(row["n"] or 0), row)


def _size(n: int, row: dict[str, Any]) -> dict[str, Any]:
    """:func:`deal_size` of ``n`` won deals from their amounts' aggregates."""
    return {
        "avg_deal_size": stats.ratio(row["total"] or 0.0, n),
        "deal_size_median": row["median"],
        "n": n,
        "amount_sumsq": float(row["sumsq"] or 0.0),
        "amount_var": row["var"],
        "amount_n": int(row["n_amount"] or 0),
    }


def sales_cycle(deals: Frame, period: Period) -> dict[str, Any]:
    """Days from ``created_at`` to ``closed_at`` of deals won in the period.

    A deal recorded as closed before it was created (an import data note) has no
    meaningful cycle: it is left out and counted in ``excluded``.
    """
    lf = F.lazy(deals).filter(_won_in(period))
    excluded = F.one_row(
        lf.filter(nw.col("closed_at") < nw.col("created_at")).select(n=nw.len())
    )["n"]
    row = F.one_row(
        lf.filter(nw.col("closed_at") >= nw.col("created_at"))
        .with_columns(_days=F.days_between("created_at", "closed_at", lf))
        .select(
            n=nw.len(),
            median=nw.col("_days").median(),
            mean=nw.col("_days").mean(),
            p90=nw.col("_days").quantile(0.9, interpolation="linear"),
            var=nw.col("_days").var(ddof=1),
        )
    )
    return _cycle(row, excluded)


def _cycle(row: dict[str, Any], excluded: Any) -> dict[str, Any]:
    """:func:`sales_cycle` from the cycles' aggregates and the deals left out."""
    n = int(row["n"] or 0)
    return {
        "sales_cycle_days_median": row["median"] if n else None,
        "sales_cycle_days_mean": row["mean"] if n else None,
        "sales_cycle_days_p90": row["p90"] if n else None,
        "n": n,
        "var": row["var"],
        "excluded": int(excluded or 0),
    }


def lead_conversion(leads: Frame, period: Period, converted_by: datetime | None = None
                    ) -> stats.Interval:
    """Leads created in the period that have ``converted_at`` / leads created. With
    ``converted_by``, the leads seen by that instant: created before it and converted
    before it."""
    row = F.one_row(
        F.lazy(leads)
        .filter(F.in_window("created_at", period.start_utc, _seen_end(period, converted_by)))
        .select(n=nw.len(), converted=_converted(converted_by).cast(nw.Int64).sum())
    )
    return stats.wilson(int(row["converted"] or 0), int(row["n"] or 0))


def _seen_end(period: Period, by: datetime | None) -> datetime:
    """The end of the period's leads seen by the instant ``by`` (None: all of them)."""
    return period.end_utc if by is None else max(period.start_utc, min(period.end_utc, by))


def _converted(by: datetime | None) -> nw.Expr:
    """A lead converted (before ``by``, when given)."""
    done = ~nw.col("converted_at").is_null()
    return done if by is None else done & (nw.col("converted_at") < by)


def pipeline(deals: Frame, at: datetime) -> dict[str, Any]:
    """Deals open at instant ``at``: count, amount, probability-weighted amount.

    ``missing_probability`` counts open deals whose probability is null (left out of the
    weighted pipeline); ``missing_amount`` those without an amount.
    """
    row = F.one_row(
        F.lazy(deals)
        .filter(_open_at(at))
        .select(
            open_deals=nw.len(),
            open_pipeline=nw.col("amount").sum(),
            weighted_pipeline=(nw.col("amount") * nw.col("probability")).sum(),
            with_probability=nw.col("probability").count(),
            with_amount=nw.col("amount").count(),
        )
    )
    return _pipeline(row)


def _pipeline(row: dict[str, Any]) -> dict[str, Any]:
    """:func:`pipeline` from the open deals' aggregates."""
    n = int(row["open_deals"] or 0)
    return {
        "open_deals": n,
        "open_pipeline": float(row["open_pipeline"] or 0.0),
        "weighted_pipeline": float(row["weighted_pipeline"] or 0.0),
        "missing_probability": n - int(row["with_probability"] or 0),
        "missing_amount": n - int(row["with_amount"] or 0),
    }


def quota_target(quotas: Frame, period: Period) -> float | None:
    """Σ target × (days of the quota inside the period / days of the quota).

    Quotas are half-open ``[period_start, period_end)`` in local calendar days; a to-date
    period ends at its cut, so it holds a fraction of its last day. Returns None when no
    quota overlaps the period (quota attainment is then N/A).
    """
    return quota_targets(quotas, [period])[0]


def _local_bounds(period: Period) -> tuple[datetime, datetime]:
    """The period as local naive instants: its first day's midnight and its end."""
    return datetime.combine(period.start, time()), period.end_local


def quota_targets(quotas: Frame, periods: Sequence[Period]) -> list[float | None]:
    """:func:`quota_target` of each period, from one engine query: the quotas overlapping
    any of them are read once, and each period's are prorated in pandas."""
    bounds = [_local_bounds(p) for p in periods]
    overlaps = [(nw.col("period_start") < end) & (nw.col("period_end") > start)
                for start, end in bounds]
    q = F.to_pandas(
        F.lazy(quotas)
        .filter(functools.reduce(operator.or_, overlaps))
        .select("period_start", "period_end", "target_amount")
    )
    start = pd.to_datetime(q["period_start"])
    end = pd.to_datetime(q["period_end"])
    out: list[float | None] = []
    for p_start, p_end in bounds:
        inside = (start < pd.Timestamp(p_end)) & (end > pd.Timestamp(p_start))
        out.append(_prorated(q[inside], p_start, p_end) if inside.any() else None)
    return out


def _prorated(q: pd.DataFrame, p_start: datetime, p_end: datetime) -> float:
    """Σ target × the share of each quota's days inside ``[p_start, p_end)``."""
    start = pd.to_datetime(q["period_start"]).dt.normalize()
    end = pd.to_datetime(q["period_end"]).dt.normalize()
    day = pd.Timedelta(days=1)
    inside = ((end.clip(upper=p_end) - start.clip(lower=p_start)) / day).clip(lower=0)
    length = (end - start) / day
    share = (inside / length).where(length > 0, 0.0)
    return float((q["target_amount"].astype(float) * share).sum())


def pipeline_velocity(
    open_deals: int,
    win_rate_value: float | None,
    avg_deal_size: float | None,
    mean_cycle_days: float | None,
) -> float | None:
    """Open deals × win rate × average deal size / mean sales-cycle days (money per day)."""
    if win_rate_value is None or avg_deal_size is None:
        return None
    return stats.ratio(open_deals * win_rate_value * avg_deal_size, mean_cycle_days)


def forecast(deals: Frame, period: Period, as_of_end: datetime) -> dict[str, Any]:
    """Revenue forecast for the period (METRICS.md "forecast").

    ``as_of_end`` is the instant the report is made at (the end of the as-of day, or the
    as-of instant). What is known then, ``now`` (the earlier of it and the period's end; a
    to-date period's cut): while the whole unit is not over, revenue won from the period
    start up to ``now`` plus the weighted deals open at ``now`` expected to close between
    ``now`` and the unit's natural end (the month end for month-to-date; a deal whose
    expected close has passed is overdue and not counted). Once it is over: the
    forecast made at the period start, compared with the actual revenue
    (``forecast_error``).
    """
    lf = F.lazy(deals)
    in_progress, now, horizon = _forecast_window(period, as_of_end)
    due = F.one_row(
        lf.filter(_open_at(now) & F.in_window("expected_close_at", now, horizon)).select(
            w=(nw.col("amount") * nw.col("probability")).sum(), n=nw.len()
        )
    )
    if in_progress:
        so_far = F.one_row(
            lf.filter(
                (nw.col("status") == "won") & F.in_window("closed_at", period.start_utc, now)
            ).select(r=nw.col("amount").sum())
        )["r"]
        return _in_progress(so_far, due)
    return _at_start(due, revenue(lf, period))


def _in_progress(so_far: Any, expected: dict[str, Any]) -> dict[str, Any]:
    """:func:`forecast` of a period not over: revenue won ``so_far`` plus the weighted
    deals due (``expected``: their Σ amount × probability ``w`` and count ``n``)."""
    so_far = so_far or 0.0
    value = float(so_far) + float(expected["w"] or 0.0)
    return {
        "forecast": value,
        "kind": "in_progress",
        "revenue_so_far": float(so_far),
        "forecast_error": None,
        "open_deals_counted": int(expected["n"] or 0),
    }


def _at_start(at_start: dict[str, Any], actual: float) -> dict[str, Any]:
    """:func:`forecast` of a period over: the weighted deals due made at its start
    (``at_start``: ``w`` and ``n``) against the ``actual`` revenue."""
    value = float(at_start["w"] or 0.0)
    return {
        "forecast": value,
        "kind": "at_start",
        "revenue_so_far": actual,
        "forecast_error": stats.change(value, actual),
        "open_deals_counted": int(at_start["n"] or 0),
    }


class Summary(TypedDict):
    """One period's Sales figures: the headline metrics and what tests and notes need."""

    metrics: dict[str, Any]  # every headline KPI under its METRICS.md name (None when N/A)
    intervals: dict[str, stats.Interval]
    samples: dict[str, int]
    moments: dict[str, Any]  # variances and counts for the significance tests
    forecast: dict[str, Any]
    pipeline: dict[str, Any]
    snapshot_at: datetime  # the instant the open pipeline is taken at
    cycle_excluded: int  # won deals closed before they were created
    converted_by: datetime  # the period's leads count as converted before this instant
    lead_conversion_by_now: stats.Interval  # ... and by the as-of instant
    days: float  # the period's length, the exposure of its counts and revenue in the tests


def summary(
    deals: Frame, leads: Frame, quotas: Frame, period: Period, as_of_end: datetime
) -> Summary:
    """Every headline Sales KPI for one period, with its intervals, samples and moments."""
    return summaries(deals, leads, quotas, [period], as_of_end)[0]


def summaries(
    deals: Frame, leads: Frame, quotas: Frame, periods: Sequence[Period], as_of_end: datetime,
    converted_by: Sequence[datetime] | None = None,
    quota_periods: Sequence[Period] | None = None,
) -> list[Summary]:
    """:func:`summary` of each period, from four engine queries whatever their number (one
    more for each period overlapping another): two over the deals (every deal figure of
    every period: :func:`deal_figures`), one over the leads (:func:`lead_conversions`) and
    one over the quotas (:func:`quota_targets`).

    A period's leads count as converted up to its instant in ``converted_by`` (default: the
    as-of instant; a comparison period's leads at the same age as the period's,
    :func:`crmkit.periods.same_age`), and by the as-of instant in its
    ``lead_conversion_by_now``. Its quota target is its own, or that of its whole period in
    ``quota_periods`` (a month not over, counted up to the as-of instant: the month's
    target, of which its revenue so far is the attainment)."""
    until = list(converted_by) if converted_by is not None else [as_of_end] * len(periods)
    later = [i for i, at in enumerate(until) if at != as_of_end]
    found = deal_figures(deals, periods, as_of_end)
    conversions = lead_conversions(leads, [*periods, *(periods[i] for i in later)],
                                   [*until, *[as_of_end] * len(later)])
    by_now = dict(zip(later, conversions[len(periods):], strict=True))
    targets = quota_targets(quotas, periods if quota_periods is None else quota_periods)
    return [_summary(figures, conv, target, at, by_now.get(i, conv), p.length_days)
            for i, (p, figures, conv, target, at)
            in enumerate(zip(periods, found, conversions[:len(periods)], targets, until,
                             strict=True))]


def _summary(figures: dict[str, Any], conv: stats.Interval, target: float | None,
             converted_by: datetime, by_now: stats.Interval, days: float) -> Summary:
    """One period's :class:`Summary` from its :func:`deal_figures`, its lead conversion
    (counted before ``converted_by``, and ``by_now``), its quota target and its length."""
    closed, size, cycle = figures["closed"], figures["size"], figures["cycle"]
    pipe, fc, rev = figures["pipeline"], figures["forecast"], figures["revenue"]
    wr = stats.wilson(closed["deals_won"], closed["deals_won"] + closed["deals_lost"])
    metrics = {
        "deals_created": figures["deals_created"],
        "deals_won": closed["deals_won"],
        "deals_lost": closed["deals_lost"],
        "revenue": rev,
        "win_rate": wr.value,
        "avg_deal_size": size["avg_deal_size"],
        "deal_size_median": size["deal_size_median"],
        "sales_cycle_days_median": cycle["sales_cycle_days_median"],
        "sales_cycle_days_mean": cycle["sales_cycle_days_mean"],
        "sales_cycle_days_p90": cycle["sales_cycle_days_p90"],
        "lead_conversion": conv.value,
        "open_deals": pipe["open_deals"],
        "open_pipeline": pipe["open_pipeline"],
        "weighted_pipeline": pipe["weighted_pipeline"],
        "quota_target": target,
        "quota_attainment": stats.ratio(rev, target),
        "pipeline_velocity": pipeline_velocity(
            pipe["open_deals"], wr.value, size["avg_deal_size"], cycle["sales_cycle_days_mean"]
        ),
        "forecast": fc["forecast"],
        "forecast_error": fc["forecast_error"],
    }
    return Summary(
        metrics=metrics,
        intervals={"win_rate": wr, "lead_conversion": conv},
        samples=_samples(wr, conv, size["n"], cycle["n"]),
        moments={
            "amount_sumsq": size["amount_sumsq"],
            "amount_var": size["amount_var"],
            "amount_n": size["amount_n"],
            "cycle_var": cycle["var"],
            "cycle_n": cycle["n"],
        },
        forecast=fc,
        pipeline=pipe,
        snapshot_at=figures["snapshot_at"],
        cycle_excluded=cycle["excluded"],
        converted_by=converted_by,
        lead_conversion_by_now=by_now,
        days=days,
    )


def snapshot_at(period: Period, as_of_end: datetime) -> datetime:
    """The instant a period's open pipeline is taken at: its end, or the instant the
    report is made at when earlier (never before the period start)."""
    return min(period.end_utc, max(as_of_end, period.start_utc))


def _forecast_window(period: Period, as_of_end: datetime) -> tuple[bool, datetime, datetime]:
    """How :func:`forecast` reads a period: whether it is still in progress, the instant
    the open deals are taken at (``now``, or the period start once it is over) and the
    end of the expected closes counted."""
    now = max(min(as_of_end, period.end_utc), period.start_utc)
    horizon = period.uncut.end_utc  # the natural end: the period's own unless it is cut
    if now < horizon:
        return True, now, horizon
    return False, period.start_utc, period.end_utc


def _open_flags(i: int, period: Period, as_of_end: datetime) -> dict[str, nw.Expr]:
    """Period ``i``'s row flags but for its won deals: lost in it, created in it, open at
    its snapshot, open deals due and won so far (:func:`forecast`)."""
    in_progress, now, horizon = _forecast_window(period, as_of_end)
    flags = {
        f"_lost{i}": (nw.col("status") == "lost")
        & F.in_window("closed_at", period.start_utc, period.end_utc),
        f"_new{i}": F.in_window("created_at", period.start_utc, period.end_utc),
        f"_open{i}": _open_at(snapshot_at(period, as_of_end)),
        f"_due{i}": _open_at(now) & F.in_window("expected_close_at", now, horizon),
    }
    if in_progress:
        flags[f"_sofar{i}"] = (nw.col("status") == "won") & F.in_window(
            "closed_at", period.start_utc, now)
    return flags


def _open_sums(i: int, in_progress: bool) -> dict[str, nw.Expr]:
    """Period ``i``'s aggregates over the rows its :func:`_open_flags` mark."""
    def where(flag: str, col: str) -> nw.Expr:
        return nw.when(nw.col(f"_{flag}{i}")).then(nw.col(col))

    def count(flag: str) -> nw.Expr:
        return nw.col(f"_{flag}{i}").cast(nw.Int64).sum()

    sums = {
        "deals_lost": count("lost"), "deals_created": count("new"),
        "open_deals": count("open"), "open_pipeline": where("open", "amount").sum(),
        "weighted_pipeline": where("open", "_w").sum(),
        "with_probability": where("open", "probability").count(),
        "with_amount": where("open", "amount").count(),
        "due_w": where("due", "_w").sum(), "due_n": count("due"),
    }
    if in_progress:
        sums["so_far"] = where("sofar", "amount").sum()
    return {f"{name}__{i}": expr for name, expr in sums.items()}


def _open_figures(deals: nw.LazyFrame, periods: Sequence[Period], as_of_end: datetime
                  ) -> list[dict[str, Any]]:
    """Per period: the deals lost and created in it, its open pipeline and its forecast's
    sums, from one engine query of conditional aggregates (a deal counts in every period it
    belongs to). Only deals open at, closed at or after, or created at or after the first
    period's start are read."""
    flags: dict[str, nw.Expr] = {}
    sums: dict[str, nw.Expr] = {}
    for i, period in enumerate(periods):
        flags |= _open_flags(i, period, as_of_end)
        sums |= _open_sums(i, _forecast_window(period, as_of_end)[0])
    first = min(p.start_utc for p in periods)
    row = F.one_row(
        deals.filter(nw.col("closed_at").is_null() | (nw.col("closed_at") >= first)
                     | (nw.col("created_at") >= first))
        .with_columns(**flags, _w=nw.col("amount") * nw.col("probability"))
        .select(**sums)
    )
    return [{k.rsplit("__", 1)[0]: v for k, v in row.items() if k.endswith(f"__{i}")}
            for i in range(len(periods))]


def _disjoint(periods: Sequence[Period]) -> list[list[int]]:
    """The periods' indexes in batches of periods that do not overlap (one batch, unless
    some do)."""
    batches: list[list[int]] = []
    for i, p in enumerate(periods):
        for batch in batches:
            if all(p.end_utc <= periods[j].start_utc or p.start_utc >= periods[j].end_utc
                   for j in batch):
                batch.append(i)
                break
        else:
            batches.append([i])
    return batches


_WON = {"n": 0, "revenue": None, "median": None, "sumsq": None, "n_amount": 0, "var": None,
        "excluded": 0, "cycle_n": 0, "cycle_median": None, "cycle_mean": None,
        "cycle_p90": None, "cycle_var": None}


def _won_figures(deals: nw.LazyFrame, periods: Sequence[Period]) -> list[dict[str, Any]]:
    """Per period: its deals won, with their amount and cycle aggregates
    (:func:`deal_size`, :func:`sales_cycle`), from one grouped query per batch of periods
    that do not overlap: each deal won in one is labelled with it, and grouped by label."""
    out: list[dict[str, Any]] = [{} for _ in periods]
    for batch in _disjoint(periods):
        buckets = [(str(i), periods[i].start_utc, periods[i].end_utc) for i in batch]
        first, last = min(b[1] for b in buckets), max(b[2] for b in buckets)
        amount, days = nw.col("amount"), nw.col("_days")
        found = F.to_pandas(
            deals.filter((nw.col("status") == "won") & F.in_window("closed_at", first, last))
            .with_columns(_period=F.bucket("closed_at", buckets), _sq=amount * amount,
                          _early=(nw.col("closed_at") < nw.col("created_at")).cast(nw.Int64),
                          _days=nw.when(nw.col("closed_at") >= nw.col("created_at"))
                          .then(F.days_between("created_at", "closed_at", deals)))
            .filter(~nw.col("_period").is_null())  # won between the periods (year_ago)
            .group_by("_period")
            .agg(n=nw.len(), revenue=amount.sum(), median=amount.median(),
                 sumsq=nw.col("_sq").sum(), n_amount=amount.count(), var=amount.var(ddof=1),
                 excluded=nw.col("_early").sum(), cycle_n=days.count(),
                 cycle_median=days.median(), cycle_mean=days.mean(),
                 cycle_p90=days.quantile(0.9, interpolation="linear"),
                 cycle_var=days.var(ddof=1))
        )
        groups = {str(r.pop("_period")): r for r in found.to_dict(orient="records")}
        for i in batch:
            won = {k: F.clean(v) for k, v in groups.get(str(i), _WON).items()}
            out[i] = {**won, "deals_won": int(won["n"] or 0)}
    return out


def deal_figures(deals: Frame, periods: Sequence[Period], as_of_end: datetime
                 ) -> list[dict[str, Any]]:
    """The deal figures of :func:`summary` for each period, from two engine queries
    whatever their number (one more for each period overlapping another): what
    :func:`deals_closed`, :func:`revenue`, :func:`deal_size` and :func:`sales_cycle` give
    (:func:`_won_figures` and ``deals_lost``), and what :func:`deals_created`, :func:`pipeline` (at
    :func:`snapshot_at`) and :func:`forecast` give (:func:`_open_figures`)."""
    lf = F.lazy(deals)
    return [_deal_figures_of({**closed, **opened}, period, as_of_end)
            for closed, opened, period in zip(_won_figures(lf, periods),
                                              _open_figures(lf, periods, as_of_end), periods,
                                              strict=True)]


def _deal_figures_of(row: dict[str, Any], period: Period, as_of_end: datetime
                     ) -> dict[str, Any]:
    """One period's :func:`deal_figures` from its aggregates, as the single-period
    functions give them."""
    won = int(row["deals_won"] or 0)
    rev = float(row["revenue"] or 0.0)
    size = _size(won, {"total": row["revenue"], "median": row["median"],
                       "sumsq": row["sumsq"], "n_amount": row["n_amount"], "var": row["var"]})
    cycle = _cycle({"n": row["cycle_n"], "median": row["cycle_median"],
                    "mean": row["cycle_mean"], "p90": row["cycle_p90"],
                    "var": row["cycle_var"]}, row["excluded"])
    pipe = _pipeline(row)
    due = {"w": row["due_w"], "n": row["due_n"]}
    in_progress = _forecast_window(period, as_of_end)[0]
    fc = (_in_progress(row["so_far"], due) if in_progress else _at_start(due, rev))
    return {"closed": {"deals_won": won, "deals_lost": int(row["deals_lost"] or 0)},
            "revenue": rev, "size": size, "cycle": cycle, "pipeline": pipe, "forecast": fc,
            "deals_created": int(row["deals_created"] or 0),
            "snapshot_at": snapshot_at(period, as_of_end)}


def lead_conversions(leads: Frame, periods: Sequence[Period],
                     converted_by: Sequence[datetime | None] | None = None
                     ) -> list[stats.Interval]:
    """:func:`lead_conversion` of each period (its leads seen by its instant in
    ``converted_by``, when given), from one engine query."""
    by = list(converted_by) if converted_by is not None else [None] * len(periods)
    sums: dict[str, nw.Expr] = {}
    for i, (p, until) in enumerate(zip(periods, by, strict=True)):
        created = F.in_window("created_at", p.start_utc, _seen_end(p, until))
        sums[f"n{i}"] = created.cast(nw.Int64).sum()
        sums[f"converted{i}"] = (created & _converted(until)).cast(nw.Int64).sum()
    first, last = min(p.start_utc for p in periods), max(p.end_utc for p in periods)
    row = F.one_row(F.lazy(leads).filter(F.in_window("created_at", first, last)).select(**sums))
    return [stats.wilson(int(row[f"converted{i}"] or 0), int(row[f"n{i}"] or 0))
            for i in range(len(periods))]


def _samples(wr: stats.Interval, conv: stats.Interval, won: int, cycles: int) -> dict[str, int]:
    """The sample behind each headline figure (flagged on the page when small)."""
    return {
        "win_rate": wr.n,
        "lead_conversion": conv.n,
        "avg_deal_size": won,
        "deal_size_median": won,
        "sales_cycle_days_median": cycles,
        "sales_cycle_days_mean": cycles,
        "sales_cycle_days_p90": cycles,
    }


def significance(current: Summary, previous: Summary) -> dict[str, stats.Test]:
    """Tests of the change of each KPI between two :func:`summary` results.

    Counts: conditional binomial test of two Poisson counts, as rates over the periods'
    lengths; rates: two-proportion z-test; revenue: z-test of two compound-Poisson totals
    (variance Σ amount²) over the periods' lengths, and quota attainment the same divided by
    each target (variance Σ amount² / target²); average deal size and mean cycle: Welch
    t-test from the moments. Snapshots (pipeline) are not tested.
    """
    cm, pm = current["metrics"], previous["metrics"]
    days = current["days"], previous["days"]
    out: dict[str, stats.Test] = {}
    for name in ("deals_created", "deals_won", "deals_lost"):
        out[name] = stats.poisson_rate_test(int(cm[name]), int(pm[name]), *days)
    for name in ("win_rate", "lead_conversion"):
        a, b = current["intervals"][name], previous["intervals"][name]
        if a.value is None or b.value is None:
            out[name] = stats.Test(None, None)
        else:
            out[name] = stats.two_proportion_test(
                round(a.value * a.n), a.n, round(b.value * b.n), b.n
            )
    cmo, pmo = current["moments"], previous["moments"]
    out["revenue"] = stats.compound_poisson_test(
        cm["revenue"], cmo["amount_sumsq"], pm["revenue"], pmo["amount_sumsq"], *days)
    t1, t2 = cm["quota_target"], pm["quota_target"]
    if (cm["quota_attainment"] is not None and pm["quota_attainment"] is not None and t1 and t2
            and cmo["amount_sumsq"] + pmo["amount_sumsq"] > 0):  # as Employee performance
        out["quota_attainment"] = stats.two_sample_z_test(
            cm["quota_attainment"] - pm["quota_attainment"],
            cmo["amount_sumsq"] / t1**2, pmo["amount_sumsq"] / t2**2)
    out["avg_deal_size"] = _welch(
        cm["avg_deal_size"],
        cmo["amount_var"],
        cmo["amount_n"],
        pm["avg_deal_size"],
        pmo["amount_var"],
        pmo["amount_n"],
    )
    out["sales_cycle_days_mean"] = _welch(
        cm["sales_cycle_days_mean"],
        cmo["cycle_var"],
        cmo["cycle_n"],
        pm["sales_cycle_days_mean"],
        pmo["cycle_var"],
        pmo["cycle_n"],
    )
    return out


def _welch(m1: Any, v1: Any, n1: int, m2: Any, v2: Any, n2: int) -> stats.Test:
    if None in (m1, v1, m2, v2) or n1 < 2 or n2 < 2:
        return stats.Test(None, None)
    se = math.sqrt(v1 / n1 + v2 / n2)
    if se == 0:
        return stats.Test(0.0, 1.0)
    return stats.welch_from_moments(m1, v1, n1, m2, v2, n2)


# -- breakdowns --------------------------------------------------------------------------


def by_employee(deals: Frame, employees: Frame, period: Period, at: datetime) -> pd.DataFrame:
    """Per deal owner: deals won and lost, revenue, win rate with its Wilson interval,
    average deal size and open pipeline at ``at``. Employees of the frame with no deals
    are listed with zeros (an idle seller should be visible, not missing)."""
    in_period = F.in_window("closed_at", period.start_utc, period.end_utc)
    since = min(period.start_utc, at)  # a deal closed before both counts nowhere
    agg = F.to_pandas(
        F.lazy(deals)
        .filter(nw.col("closed_at").is_null() | (nw.col("closed_at") >= since))
        .select(
            "owner_id",
            deals_won=((nw.col("status") == "won") & in_period).cast(nw.Int64),
            deals_lost=((nw.col("status") == "lost") & in_period).cast(nw.Int64),
            revenue=nw.when(_won_in(period)).then(nw.col("amount")).otherwise(0.0),
            open_pipeline=nw.when(_open_at(at)).then(nw.col("amount")).otherwise(0.0),
        )
        .group_by("owner_id")
        .agg(nw.col("deals_won", "deals_lost", "revenue", "open_pipeline").sum())
    ).rename(columns={"owner_id": "employee_id"})
    staff = F.to_pandas(F.lazy(employees).select("employee_id", "name", "team_id", "role"))
    df = staff.merge(agg, on="employee_id", how="outer")
    keep = (
        (df["role"].isin(["sales", "manager"]))
        | (df[["deals_won", "deals_lost"]].fillna(0).sum(axis=1) > 0)
        | (df["open_pipeline"].fillna(0) > 0)
    )
    df = df[keep].copy()
    for col in ("deals_won", "deals_lost"):
        df[col] = df[col].fillna(0).astype(int)
    for col in ("revenue", "open_pipeline"):
        df[col] = df[col].fillna(0.0).astype(float)
    df["closed"] = df["deals_won"] + df["deals_lost"]
    df["win_rate"], df["win_rate_low"], df["win_rate_high"] = stats.wilson_columns(
        df["deals_won"], df["closed"])
    df["avg_deal_size"] = stats.ratio_columns(df["revenue"], df["deals_won"])
    df["name"] = df["name"].fillna(df["employee_id"])
    return df.sort_values(["revenue", "name"], ascending=[False, True]).reset_index(drop=True)[
        [
            "employee_id",
            "name",
            "team_id",
            "deals_won",
            "deals_lost",
            "closed",
            "win_rate",
            "win_rate_low",
            "win_rate_high",
            "revenue",
            "avg_deal_size",
            "open_pipeline",
        ]
    ]


def by_product(deals: Frame, period: Period) -> pd.DataFrame:
    """Per product: deals won, revenue, average deal size and share of revenue."""
    df = F.to_pandas(
        F.lazy(deals)
        .filter(_won_in(period))
        .group_by(nw.col("product").fill_null("(none)"))
        .agg(deals_won=nw.len(), revenue=nw.col("amount").sum())
    )
    total = df["revenue"].sum()
    df["avg_deal_size"] = [
        stats.ratio(r, n) for r, n in zip(df["revenue"], df["deals_won"], strict=True)
    ]
    df["revenue_share"] = [stats.ratio(r, total) for r in df["revenue"]]
    return df.sort_values(["revenue", "product"], ascending=[False, True]).reset_index(drop=True)


def monthly_trend(deals: Frame, months: list[Period]) -> pd.DataFrame:
    """Per month: revenue, deals won and lost, win rate (one engine query; the deals
    closed outside every month fall in a group of their own, which no month takes)."""
    buckets = [(m.label, m.start_utc, m.end_utc) for m in months]
    in_months = (F.in_window("closed_at", min(m.start_utc for m in months),
                             max(m.end_utc for m in months)) if months else nw.lit(False))
    agg = F.to_pandas(
        F.lazy(deals)
        .filter(nw.col("status").is_in(["won", "lost"]) & in_months)
        .with_columns(
            month=F.bucket("closed_at", buckets),
            deals_won=(nw.col("status") == "won").cast(nw.Int64),
            deals_lost=(nw.col("status") == "lost").cast(nw.Int64),
            revenue=nw.when(nw.col("status") == "won").then(nw.col("amount")).otherwise(0.0),
        )
        .group_by("month")
        .agg(nw.col("deals_won", "deals_lost", "revenue").sum())
    )
    frame = pd.DataFrame({"month": [m.label for m in months]}).merge(agg, on="month", how="left")
    frame[["deals_won", "deals_lost"]] = frame[["deals_won", "deals_lost"]].fillna(0).astype(int)
    frame["revenue"] = frame["revenue"].fillna(0.0).astype(float)
    frame["win_rate"] = [
        stats.ratio(w, w + lo)
        for w, lo in zip(frame["deals_won"], frame["deals_lost"], strict=True)
    ]
    return frame


def stage_funnel(
    deals: Frame, period: Period, order: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Deals created in the period by the furthest stage reached.

    Each row counts the deals that reached at least that stage; won deals count as having
    passed every stage. The stage order comes from ``order`` or, failing that, from the
    stages' mean probability (a CRM orders its stages by probability).
    """
    lf = F.lazy(deals).filter(F.in_window("created_at", period.start_utc, period.end_utc))
    per_stage = F.to_pandas(
        lf.group_by(nw.col("stage").fill_null("(none)"), "status")
        .agg(n=nw.len(), p=nw.col("probability").mean())
    )
    if per_stage.empty:
        return pd.DataFrame({"stage": [], "reached": [], "share": []})
    if order is None:
        known = per_stage.groupby("stage")["p"].mean().sort_values(kind="stable")
        order = tuple(s for s in known.index if s != "(none)")
    rows = []
    n_won = int(per_stage.loc[per_stage["status"] == "won", "n"].sum())
    not_won = per_stage[per_stage["status"] != "won"].groupby("stage")["n"].sum()
    for i, stage in enumerate(order):
        later = sum(int(not_won.get(s, 0)) for s in order[i:])
        rows.append({"stage": stage, "reached": later + n_won})
    rows.append({"stage": "won", "reached": n_won})
    funnel = pd.DataFrame(rows)
    top = funnel["reached"].iloc[0] if len(funnel) else 0
    funnel["share"] = [stats.ratio(r, top) for r in funnel["reached"]]
    return funnel


def pipeline_by_expected_close(deals: Frame, at: datetime, months: list[Period]) -> pd.DataFrame:
    """Open deals at ``at`` by month of expected close: amount and weighted amount.

    Deals whose expected close is before the first month are labelled ``overdue``; later
    than the last month ``later``; missing ``no date``.
    """
    buckets = [(m.label, m.start_utc, m.end_utc) for m in months]
    first, last = months[0].start_utc, months[-1].end_utc
    label = (
        nw.when(nw.col("expected_close_at").is_null())
        .then(nw.lit("no date"))
        .otherwise(
            nw.when(nw.col("expected_close_at") < first)
            .then(nw.lit("overdue"))
            .otherwise(
                nw.when(nw.col("expected_close_at") >= last)
                .then(nw.lit("later"))
                .otherwise(F.bucket("expected_close_at", buckets))
            )
        )
    )
    agg = F.to_pandas(
        F.lazy(deals)
        .filter(_open_at(at))
        .with_columns(month=label, weighted=nw.col("amount") * nw.col("probability"))
        .group_by("month")
        .agg(deals=nw.len(), amount=nw.col("amount").sum(), weighted=nw.col("weighted").sum())
    )
    order = ["overdue", *[m.label for m in months], "later", "no date"]
    frame = pd.DataFrame({"month": order}).merge(agg, on="month", how="left")
    frame["deals"] = frame["deals"].fillna(0).astype(int)
    frame[["amount", "weighted"]] = frame[["amount", "weighted"]].fillna(0.0).astype(float)
    keep = frame["month"].isin([m.label for m in months]) | (frame["deals"] > 0)
    return frame[keep].reset_index(drop=True)
