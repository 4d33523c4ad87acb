"""The Sales report: deals, revenue, win rate, cycle, pipeline, quota, forecast, per seller,
and, from crmkit's pipeline snapshots, how the pipeline moved and how good the forecast was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from crmkit import i18n, stats
from crmkit.backends.base import SNAPSHOTS
from crmkit.catalog import CATALOG
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
from crmkit.metrics import pipeline_history, sales
from crmkit.metrics.definitions import METRICS
from crmkit.periods import Period, parse_period, trend_months
from crmkit.reports.context import ReportContext, as_of_in_words
from crmkit.reports.data import ReportData, SameAge
from crmkit.reports.spec import ReportSpec

HEADLINE = (
    "revenue",
    "deals_won",
    "deals_lost",
    "win_rate",
    "deals_created",
    "avg_deal_size",
    "sales_cycle_days_median",
    "lead_conversion",
    "open_pipeline",
    "weighted_pipeline",
    "quota_attainment",
    "pipeline_velocity",
    "forecast",
)


@dataclass
class Breakdowns:
    """The Sales report's tables."""

    employee: pd.DataFrame
    product: pd.DataFrame
    month: pd.DataFrame
    stage_funnel: pd.DataFrame
    pipeline_by_expected_close: pd.DataFrame
    #: How the open pipeline moved over the period (pipeline_history.PARTS, in order; no
    #: rows without two snapshots to compare).
    pipeline_movement: pd.DataFrame
    #: Per past month with a snapshot at its start: forecast then, revenue won, errors.
    forecast_accuracy: pd.DataFrame


#: The pipeline history's metrics, defined on a page that shows them.
HISTORY = tuple(f"pipeline_{part}" for part in pipeline_history.PARTS) + (
    "forecast_at_month_start", "forecast_month_error", "forecast_bias")

#: How to start the pipeline history, said where it is missing.
START_SNAPSHOTS = i18n.N_("To collect them, run the command crmkit snapshot once a day (from cron "
                          "or a systemd timer), or keep crmkit watch running, which takes one on "
                          "each run")


@dataclass
class Extra:
    """What the Sales page says about its pipeline history beyond the two tables."""

    snapshots: bool  # the database holds pipeline snapshots
    movement: str  # which snapshots the movement compares, or why there is none
    accuracy: str  # the forecast bias in words, or why there is no accuracy table
    movement_from: date | None  # the snapshots compared (None without a movement)
    movement_to: date | None
    bias: dict[str, Any]  # pipeline_history.forecast_bias of the accuracy table


def build(ctx: ReportContext, trend_months_shown: int = 12) -> ReportData[Breakdowns, Extra]:
    """Compute the whole Sales report."""
    t = ctx.tables
    others = [ctx.comparison] if ctx.comparison else []
    periods = [ctx.counted, *others]
    current, *compared = sales.summaries(t["deals"], t["leads"], t["quotas"], periods,
                                         ctx.as_of_end, ctx.converted_by,
                                         quota_periods=[ctx.period, *others])
    previous = compared[0] if compared else None
    at = current["snapshot_at"]
    days = pipeline_history.snapshot_days(ctx.store.tables[SNAPSHOTS])  # the company's
    found = list(zip(periods, [current, *compared], strict=True))
    _made_at_start(ctx, days, found)
    _recorded_at_end(ctx, days, found)
    partial = ctx.before_quotas(found)
    month = sales.monthly_trend(t["deals"], trend_months(ctx.counted, trend_months_shown))
    movement, accuracy, extra = _history(ctx, days, trend_months_shown, month)
    breakdowns = Breakdowns(
        employee=sales.by_employee(t["deals"], t["employees"], ctx.counted, at),
        product=sales.by_product(t["deals"], ctx.counted),
        month=month,
        stage_funnel=sales.stage_funnel(t["deals"], ctx.counted),
        pipeline_by_expected_close=sales.pipeline_by_expected_close(
            t["deals"], at, _months_after(ctx.counted, 6)
        ),
        pipeline_movement=movement,
        forecast_accuracy=accuracy,
    )
    return ReportData.from_summaries(
        ctx,
        current,
        previous,
        sales.significance,
        breakdowns,
        extra=extra,
        notes=[*ctx.coverage_notes(),
               *([] if ctx.coverage.empty else [*_notes(current, ctx), *partial])],
        same_age=SameAge.of_lead_conversion(ctx, previous),
    )


def _made_at_start(ctx: ReportContext, days: pd.DataFrame,
                   found: list[tuple[Period, sales.Summary]]) -> None:
    """The forecast of each period that is over, as it was made at its start: from the
    pipeline snapshot taken then (in the 7 days before it began), where there is one,
    instead of from the deals' probabilities and expected closes as recorded now, which
    have since moved towards what happened (the forecast accuracy table reads the same
    snapshot). Its error is against the revenue won; ``snapshot_date`` names the snapshot.
    Only when every period shown is over and has such a snapshot: a forecast from a snapshot
    is not compared with one from the deals as they are now."""
    if days.empty or any(one["forecast"]["kind"] != "at_start" for _, one in found):
        return
    made = pipeline_history.forecasts_at_start(ctx.tables[SNAPSHOTS], [p for p, _ in found],
                                               days=days)
    if len(made) < len(found):  # one source for the periods compared: the deals as they are
        return
    for period, summary in found:
        then = made[period.label]
        fc = summary["forecast"]
        fc.update(forecast=then["forecast"], open_deals_counted=then["deals_counted"],
                  forecast_error=stats.change(then["forecast"], fc["revenue_so_far"]),
                  snapshot_date=then["snapshot_date"])
        summary["metrics"].update(forecast=fc["forecast"], forecast_error=fc["forecast_error"])


def _recorded_at_end(ctx: ReportContext, days: pd.DataFrame,
                     found: list[tuple[Period, sales.Summary]]) -> None:
    """The open pipeline at the end of each period that is over, as the pipeline snapshot
    taken then (up to a day before its end) recorded it, where there is one: rebuilt from the
    deals as they are now, a deal won since carried its late-stage probability back into a
    pipeline that had it early (May's weighted pipeline on June's page read 3.79M EUR, its
    snapshot 2.73M: a rise read as a fall). The pipeline velocity follows its open deals.
    Only when every period shown is whole (not cut at the as-of instant), over and has such a
    snapshot: one source for the figures compared."""
    if days.empty or any(p.cut is not None or p.end_utc > ctx.as_of_end for p, _ in found):
        return
    recorded = pipeline_history.pipelines_at(ctx.tables[SNAPSHOTS],
                                             [one["snapshot_at"] for _, one in found], days=days)
    if len(recorded) < len({one["snapshot_at"] for _, one in found}):
        return
    for _period, summary in found:
        then = recorded[summary["snapshot_at"]]
        summary["pipeline"].update(then)
        m = summary["metrics"]
        m.update({k: then[k] for k in ("open_deals", "open_pipeline", "weighted_pipeline")})
        m["pipeline_velocity"] = sales.pipeline_velocity(
            then["open_deals"], m["win_rate"], m["avg_deal_size"], m["sales_cycle_days_mean"])


def _history(ctx: ReportContext, days: pd.DataFrame, months_shown: int, won: pd.DataFrame
             ) -> tuple[pd.DataFrame, pd.DataFrame, Extra]:
    """The pipeline movement over the period and the forecast accuracy of the past months
    (at most ``months_shown``, up to the period; ``won``: their revenue), from the pipeline
    snapshots (``days``: the company's, :func:`~crmkit.metrics.pipeline_history.snapshot_days`)."""
    snapshots, deals = ctx.tables[SNAPSHOTS], ctx.tables["deals"]
    movement = pipeline_history.pipeline_movement(snapshots, deals, ctx.period, days=days,
                                                  until=ctx.as_of_end)
    months = [m for m in trend_months(ctx.period, months_shown) if m.end_utc <= ctx.as_of_end]
    accuracy = pipeline_history.forecast_accuracy(snapshots, deals, months, days=days, won=won)
    bias = pipeline_history.forecast_bias(accuracy)
    parts = movement["parts"] if movement else pd.DataFrame(
        {"part": [], "deals": [], "amount": [], "snapshot_date": []})
    extra = Extra(
        snapshots=not days.empty,
        movement=_movement_words(ctx, days, movement),
        accuracy=_accuracy_words(days, bias, ctx.currency, len(months)),
        movement_from=movement["start"]["snapshot_date"] if movement else None,
        movement_to=movement["end"]["snapshot_date"] if movement else None,
        bias=bias,
    )
    return parts, accuracy, extra


def _movement_words(ctx: ReportContext, days: pd.DataFrame,
                    movement: pipeline_history.Movement | None) -> str:
    """Which snapshots the movement compares, or why there is no movement."""
    if days.empty:
        return _("No pipeline snapshots yet, so how the pipeline moved cannot be shown. {start}: "
                 "movement and forecast accuracy appear once the snapshots cover a period.").format(
            start=_(START_SNAPSHOTS))
    first, last = days["snapshot_date"].iloc[0], days["snapshot_date"].iloc[-1]
    if movement is None:
        return _("No pipeline movement for this period: it needs two pipeline snapshots, one at or "
                 "before its start (or in it) and a later one by its end, and the snapshots run "
                 "from {first} to {last}. {start}.").format(first=first, last=last,
                                                            start=_(START_SNAPSHOTS))
    start, end = movement["start"]["snapshot_date"], movement["end"]["snapshot_date"]
    late = (" " + _("(the first snapshot in the period: none was taken before it began)")
            if movement["start"]["taken_at"] > ctx.period.start_utc else "")
    return _("From the pipeline snapshot at the end of {start}{late} to the one at the end of "
             "{end}: every deal open in either is counted once, in the part that says what "
             "became of it.").format(start=start, late=late, end=end)


def _accuracy_words(days: pd.DataFrame, bias: dict[str, Any], currency: str, months: int) -> str:
    """The forecast bias in one sentence, or why there is no accuracy table."""
    if days.empty:
        return ""
    if not bias["months"]:
        if not months:
            return _("No forecast accuracy yet: no month up to this period is over.")
        return ngettext("No forecast accuracy yet: the {n} past month shown has no "
                        "pipeline snapshot taken in the 7 days before it began.",
                        "No forecast accuracy yet: none of the {n} past months shown has a "
                        "pipeline snapshot taken in the 7 days before it began.", months
                        ).format(n=months)
    n, relative = bias["months"], bias["bias_relative"]
    money = (i18n.decimal(f"{abs(bias['bias']):,.0f}")
             + (f" {i18n.currency_symbol(currency)}" if currency else ""))
    label = _(METRICS["forecast_bias"].label)
    if relative is None:
        if not bias["bias"]:
            return ngettext("{label}: nothing was forecast and nothing was won in the {n} "
                            "month shown.", "{label}: nothing was forecast and nothing was "
                            "won in the {n} months shown.", n).format(label=label, n=n)
        return ngettext("{label}: nothing was won in the {n} month shown, so the forecast at "
                        "the month start was on average {money} too high.",
                        "{label}: nothing was won in the {n} months shown, so the forecast at "
                        "the month start was on average {money} too high.", n
                        ).format(label=label, n=n, money=money)
    share = i18n.decimal(f"{abs(relative):.0%}").replace("%", i18n.percent_sign())
    text = (ngettext("{label}: over the {n} month shown, on average the forecast at the month "
                     "start was {share} above what was won ({money} a month).",
                     "{label}: over the {n} months shown, on average the forecast at the month "
                     "start was {share} above what was won ({money} a month).", n)
            if relative > 0 else
            ngettext("{label}: over the {n} month shown, on average the forecast at the month "
                     "start was {share} below what was won ({money} a month).",
                     "{label}: over the {n} months shown, on average the forecast at the month "
                     "start was {share} below what was won ({money} a month).", n))
    return text.format(label=label, n=n, share=share, money=money)


def definitions(data: ReportData[Breakdowns, Extra]) -> tuple[str, ...]:
    """The metrics the page defines: the spec's, and the pipeline history's where it shows."""
    if data.context.coverage.empty:  # a page without data shows none of them
        return SPEC.defined_on(data.context)
    shown = {"pipeline_": len(data.breakdowns.pipeline_movement) > 0,
             "forecast_": len(data.breakdowns.forecast_accuracy) > 0}
    return SPEC.defined_on(data.context) + tuple(
        name for name in HISTORY if shown[name[: name.index("_") + 1]])


def _months_after(period: Period, n: int) -> list[Period]:
    """The month holding the period's last day, then the ``n`` months after the period (so
    nothing due this month is called "overdue")."""
    out = []
    y, m = period.end.year, period.end.month
    if period.end.day != 1:  # the period ends inside this month: it is the one holding its last day
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    for _month in range(n):
        out.append(parse_period(f"{y:04d}-{m:02d}", timezone=period.timezone))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    current_month = parse_period(period.last_day.strftime("%Y-%m"), timezone=period.timezone)
    return [current_month, *out]


def _notes(current: sales.Summary, ctx: ReportContext) -> list[str]:
    """What the page's numbers leave out, once each (a page without data has none: its
    coverage sentence says why). The import's findings about open deals without a
    probability and deals closed before they were created are stated here for the period,
    so they are not repeated as import findings."""
    pipe = current["pipeline"]
    notes = []
    if pipe["missing_probability"]:
        notes.append(_count_note(
            pipe["missing_probability"], ngettext(
                "{n} open deal has no probability: left out of the weighted pipeline and "
                "the forecast.", "{n} open deals have no probability: left out of the "
                "weighted pipeline and the forecast.", pipe["missing_probability"])))
    if pipe["missing_amount"]:
        notes.append(_count_note(
            pipe["missing_amount"], ngettext(
                "{n} open deal has no amount: counted as an open deal, adds nothing to the "
                "pipeline sums.", "{n} open deals have no amount: counted as open deals, add "
                "nothing to the pipeline sums.", pipe["missing_amount"])))
    if current["cycle_excluded"]:
        notes.append(_count_note(
            current["cycle_excluded"], ngettext(
                "{n} won deal closed before it was created: left out of the sales cycle "
                "(it still counts as won, with its revenue).", "{n} won deals closed "
                "before they were created: left out of the sales cycle (they still count as "
                "won, with their revenue).", current["cycle_excluded"])))
    notes.append(_forecast_note(current["forecast"], ctx))
    if current["metrics"]["quota_target"] is None:
        notes.append(_("No quota overlaps this period: quota attainment is N/A."))
    return notes + ctx.import_notes("deals", "leads", "quotas", "employees", "teams",
                                    said={"deals": ("probability", "closed_at")})


def _count_note(n: int, text: str) -> str:
    """A note about ``n`` records: ``text`` (its plural form chosen) with the count."""
    return text.format(n=i18n.decimal(f"{n:,}"))


def _forecast_note(fc: dict[str, Any], ctx: ReportContext) -> str:
    n = fc["open_deals_counted"]
    if fc["kind"] == "at_start" and fc.get("snapshot_date") is not None:
        return _count_note(n, ngettext(
            "The period is over: the forecast shown is the one made at the period start, as the "
            "pipeline snapshot of {day} recorded it: {n} open deal expected to close in it, "
            "compared with the actual revenue.",
            "The period is over: the forecast shown is the one made at the period start, as the "
            "pipeline snapshot of {day} recorded it: {n} open deals expected to close in it, "
            "compared with the actual revenue.", n).replace("{day}", str(fc["snapshot_date"])))
    if fc["kind"] == "at_start":
        return _count_note(n, ngettext(
            "The period is over: the forecast shown is the one made at the period start from {n} "
            "open deal expected to close in it, with its probability and expected close as "
            "recorded now (no pipeline snapshot was taken in the 7 days before the period "
            "began), compared with the actual revenue.",
            "The period is over: the forecast shown is the one made at the period start from {n} "
            "open deals expected to close in it, with their probabilities and expected closes as "
            "recorded now (no pipeline snapshot was taken in the 7 days before the period "
            "began), compared with the actual revenue.", n))
    return _count_note(n, ngettext(
        "The period is not over (as of {as_of}): the forecast is revenue so far plus {n} "
        "weighted open deal expected to close by its end.",
        "The period is not over (as of {as_of}): the forecast is revenue so far plus {n} "
        "weighted open deals expected to close by its end.", n).replace("{as_of}",
                                                                          as_of_in_words(ctx.as_of)))


SPEC = ReportSpec.of(
    CATALOG["sales"],
    headline=HEADLINE,
    definitions=HEADLINE,
    build=build,
    reads=("deals", "employees", "leads", "quotas", SNAPSHOTS),
)
