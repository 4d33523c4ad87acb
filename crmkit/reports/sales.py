"""The Sales report: deals, revenue, win rate, cycle, pipeline, quota, forecast, per seller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from crmkit.metrics import sales
from crmkit.periods import Period, parse_period, trend_months
from crmkit.reports.context import ReportContext
from crmkit.reports.data import ReportData
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


def build(ctx: ReportContext, trend_months_shown: int = 12) -> ReportData[Breakdowns, None]:
    """Compute the whole Sales report."""
    t = ctx.tables
    current = sales.summary(t["deals"], t["leads"], t["quotas"], ctx.period, ctx.as_of_end)
    previous = (
        sales.summary(t["deals"], t["leads"], t["quotas"], ctx.comparison, ctx.as_of_end)
        if ctx.comparison
        else None
    )
    at = current["snapshot_at"]
    breakdowns = Breakdowns(
        employee=sales.by_employee(t["deals"], t["employees"], ctx.period, at),
        product=sales.by_product(t["deals"], ctx.period),
        month=sales.monthly_trend(t["deals"], trend_months(ctx.period, trend_months_shown)),
        stage_funnel=sales.stage_funnel(t["deals"], ctx.period),
        pipeline_by_expected_close=sales.pipeline_by_expected_close(
            t["deals"], at, _months_after(ctx.period, 6)
        ),
    )
    return ReportData.from_summaries(
        ctx,
        current,
        previous,
        sales.significance,
        breakdowns,
        extra=None,
        notes=[*ctx.coverage_notes(), *([] if ctx.coverage.empty else _notes(current, ctx))],
    )


def _months_after(period: Period, n: int) -> list[Period]:
    """The month holding the period's last day, then the ``n`` months after the period (so
    nothing due this month is called "overdue")."""
    out = []
    first = period.end if period.end.day == 1 else period.end.replace(day=1)
    y, m = first.year, first.month
    for _ in range(n):
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
        notes.append(
            f"{pipe['missing_probability']:,} open deal(s) have no probability: left out of "
            "the weighted pipeline and the forecast."
        )
    if pipe["missing_amount"]:
        notes.append(
            f"{pipe['missing_amount']:,} open deal(s) have no amount: counted as open deals, "
            "add nothing to the pipeline sums."
        )
    if current["cycle_excluded"]:
        notes.append(
            f"{current['cycle_excluded']:,} won deal(s) closed before they were created: left "
            "out of the sales cycle (they still count as won, with their revenue)."
        )
    notes.append(_forecast_note(current["forecast"], ctx))
    if current["metrics"]["quota_target"] is None:
        notes.append("No quota overlaps this period: quota attainment is N/A.")
    return notes + ctx.import_notes("deals", "leads", "quotas", "employees", "teams",
                                    said={"deals": ("probability", "closed_at")})


def _forecast_note(fc: dict[str, Any], ctx: ReportContext) -> str:
    if fc["kind"] == "at_start":
        return (
            "The period is over: the forecast shown is the one made at the period start "
            f"from {fc['open_deals_counted']:,} open deal(s) expected to close in it, compared "
            "with the actual revenue."
        )
    return (
        f"The period is not over (as of {ctx.as_of}): the forecast is revenue so far plus "
        f"{fc['open_deals_counted']:,} weighted open deal(s) expected to close by its end."
    )


SPEC = ReportSpec(
    id="sales",
    title="Sales",
    headline=HEADLINE,
    index_kpis=("revenue", "deals_won", "win_rate"),
    definitions=HEADLINE,
    build=build,
)
