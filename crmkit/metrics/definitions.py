"""Every metric's name, label, unit and definition in words (from ../shared/METRICS.md).

Reports print these definitions next to the numbers, and the JSON uses the same names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str  # count | money | rate | days | money_per_day | score | minutes | hours
    definition: str
    higher_is_better: bool = True
    #: A signed score (NPS, −100..100) whose change reads best as a difference in points:
    #: a relative change of a value near zero is meaningless. The JSON keeps the relative
    #: change of METRICS.md; pages show the points.
    change_in_points: bool = False


def _m(name: str, label: str, unit: str, definition: str, higher: bool = True) -> Metric:
    return Metric(name, label, unit, definition, higher)


_ALL = [
    # -- Sales -----------------------------------------------------------------------------
    _m("deals_created", "Deals created", "count", "Deals whose created_at falls in the period."),
    _m(
        "deals_won",
        "Deals won",
        "count",
        "Deals with status won whose closed_at falls in the period.",
    ),
    _m(
        "deals_lost",
        "Deals lost",
        "count",
        "Deals with status lost whose closed_at falls in the period.",
        higher=False,
    ),
    _m("revenue", "Revenue", "money", "Sum of amount of the deals won in the period."),
    _m(
        "win_rate",
        "Win rate",
        "rate",
        "Won / (won + lost) over the deals closed in the period, with a Wilson 95% interval.",
    ),
    _m(
        "avg_deal_size",
        "Average deal size",
        "money",
        "Revenue / deals won in the period (the median deal is shown beside it).",
    ),
    _m(
        "deal_size_median",
        "Median deal size",
        "money",
        "Median amount of the deals won in the period.",
    ),
    _m(
        "sales_cycle_days_median",
        "Sales cycle (median)",
        "days",
        "closed_at − created_at in days (fractional: elapsed hours / 24) for the deals won in "
        "the period: the median.",
        higher=False,
    ),
    _m(
        "sales_cycle_days_mean",
        "Sales cycle (mean)",
        "days",
        "The same days-to-win for deals won in the period: the mean.",
        higher=False,
    ),
    _m(
        "sales_cycle_days_p90",
        "Sales cycle (90th percentile)",
        "days",
        "The same days-to-win: 90th percentile (linear interpolation).",
        higher=False,
    ),
    _m(
        "lead_conversion",
        "Lead conversion",
        "rate",
        "Leads created in the period that are converted (converted_at not null) / leads "
        "created in the period, with a Wilson 95% interval.",
    ),
    _m(
        "open_deals",
        "Open deals",
        "count",
        "Deals open at the period end: created before the end and not closed before it.",
    ),
    _m(
        "open_pipeline",
        "Open pipeline",
        "money",
        "Sum of amount of the deals open at the period end (created_at < end and closed_at "
        "null or ≥ end).",
    ),
    _m(
        "weighted_pipeline",
        "Weighted pipeline",
        "money",
        "Sum of amount × probability over the same open deals; deals without a probability "
        "are left out and counted in the data notes.",
    ),
    _m(
        "quota_attainment",
        "Quota attainment",
        "rate",
        "Revenue / target, where target = Σ quota × (days of the quota inside the period / "
        "days of the quota). Quotas are half-open [period_start, period_end).",
    ),
    _m(
        "quota_target",
        "Quota target",
        "money",
        "Σ quota × (days of the quota inside the period / days of the quota).",
    ),
    _m(
        "pipeline_velocity",
        "Pipeline velocity",
        "money_per_day",
        "Open deals × win rate × average deal size / mean sales cycle days: money per day.",
    ),
    _m(
        "forecast",
        "Forecast",
        "money",
        "Period not yet over: revenue so far + Σ amount × probability of deals open now "
        "whose expected_close_at is in the rest of the period. Past period: the forecast "
        "made at the period start (Σ amount × probability of deals open then with "
        "expected_close_at in the period), using the recorded probability and expected close "
        "date (the CRM keeps no history of them).",
    ),
    _m(
        "forecast_error",
        "Forecast error",
        "rate",
        "(forecast made at period start − actual revenue) / actual revenue, past periods only.",
        higher=False,
    ),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def register(*metrics: Metric) -> None:
    """Add the definitions of a domain (each domain module registers its own on import).

    A name means one thing everywhere: registering a name that is already defined keeps
    the first definition (e.g. ``deals_won`` of Sales is the one Marketing shows).
    """
    for metric in metrics:
        METRICS.setdefault(metric.name, metric)


def define(name: str) -> Metric:
    """The definition of one metric; KeyError names the known metrics."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}") from None
