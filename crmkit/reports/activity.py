"""The Customer activity report: interactions, active and new customers, status at the
period end, RFM segments, cohorts, the customers that went quiet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from crmkit import i18n, stats
from crmkit.catalog import CATALOG
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
from crmkit.metrics import activity, customers
from crmkit.metrics.activity import ACTIVITY_TYPES
from crmkit.parameters import ALL_TEAMS
from crmkit.periods import trend_months
from crmkit.reports.context import ReportContext, as_of_in_words
from crmkit.reports.data import ReportData
from crmkit.reports.spec import ReportSpec

HEADLINE = ("interactions", "active_customers", "new_customers", "customers_active",
            "customers_at_risk", "customers_lost")
PERIOD_CARDS = HEADLINE[:3]
STATUS_CARDS = HEADLINE[3:]
TYPE_CARDS = tuple(f"interactions_{t}" for t in ACTIVITY_TYPES)

#: The columns of deals this report reads (import findings about others are not its concern).
_DEAL_COLUMNS_USED = ("deal_id", "owner_id", "customer_id", "status", "amount", "closed_at")


@dataclass
class Breakdowns:
    """The Customer activity report's tables."""

    interactions_by_type: pd.DataFrame
    customer: pd.DataFrame
    top_revenue: pd.DataFrame
    employee: pd.DataFrame
    customer_status: pd.DataFrame
    rfm_segments: pd.DataFrame
    cohorts: pd.DataFrame
    went_quiet: pd.DataFrame


def build(ctx: ReportContext, active_days: float = 90, lost_days: float = 180, top: int = 50,
          cohort_months: int = 12) -> ReportData[Breakdowns, None]:
    """Compute the whole Customer activity report.

    ``active_days`` / ``lost_days``: status thresholds; ``top``: rows of the top-customer
    breakdowns; ``cohort_months``: cohorts shown (ending with the period's last month).
    """
    t, everyone = ctx.tables, ctx.store.tables
    book = customers.book(everyone, ctx.team)
    at = activity.snapshot_at(ctx.counted, ctx.as_of_end)
    snapshots = [(ctx.counted, at)]
    if ctx.comparison is not None:
        snapshots.append((ctx.comparison, activity.snapshot_at(ctx.comparison, ctx.as_of_end)))
    current, *before = activity.summaries(t["activities"], t["deals"], t["customers"], snapshots,
                                          active_days, lost_days, book=book)
    previous = before[0] if before else None
    lists = activity.customer_lists(book.activities, book.deals, everyone["customers"],
                                    everyone["employees"], ctx.counted, ctx.comparison, at, top)
    scored = activity.rfm(book.deals, at)
    breakdowns = Breakdowns(
        interactions_by_type=activity.interactions_by_type(
            current["metrics"], previous["metrics"] if previous else None,
            (current["days"], previous["days"]) if previous else (1.0, 1.0)),
        customer=lists.customer,
        top_revenue=lists.top_revenue,
        employee=activity.by_employee(t["activities"], t["employees"], ctx.counted),
        customer_status=activity.status_table(current["status_counts"],
                                              previous["status_counts"] if previous else None),
        rfm_segments=activity.rfm_segments(scored),
        cohorts=activity.cohort_retention(book.deals, trend_months(ctx.counted, cohort_months), at),
        went_quiet=lists.went_quiet,
    )
    if not ctx.compared:  # the comparison's counts shown, no change stated or tested
        for table in (breakdowns.interactions_by_type, breakdowns.customer_status):
            table[["change", "p_value"]] = None
    data = ReportData.from_summaries(
        ctx, current, previous, activity.significance, breakdowns,
        extra=None,
        notes=[*ctx.coverage_notes(),
               *([] if ctx.coverage.empty
                 else _notes(ctx, current, at, active_days, lost_days, len(scored)))],
    )
    data.samples = {"rfm": len(scored)}
    return data


def _notes(ctx: ReportContext, current: activity.Summary, at: datetime, active_days: float,
           lost_days: float, rfm_customers: int) -> list[str]:
    notes = [*_gap_notes(activity.data_gaps(ctx.tables["activities"], ctx.tables["deals"],
                                            ctx.counted, at))]
    notes.append(_status_note(ctx, at, active_days, lost_days))
    never = current["status_counts"]["never_active"]
    if never:
        notes.append(_count_note(never, ngettext(
            "{n} customer created before that instant has no activity and no purchase "
            "before it: status 'never active', in none of the status counts.",
            "{n} customers created before that instant have no activity and no purchase "
            "before it: status 'never active', in none of the status counts.", never)))
    if ctx.team != ALL_TEAMS:
        notes.append(_(
            "Team report: interactions and the per-employee table count this team's activities "
            "(by the activity's employee, else the customer's owner). Customer figures count "
            "this team's customers (owned by a member; a customer without an owner goes with "
            "the owner of its first won deal) with all their activities and won deals, "
            "whichever team logged them, so every customer counts for one team. A customer is "
            "new once, company-wide: in the period of its first won deal ever."))
    if rfm_customers and rfm_customers < stats.SMALL_SAMPLE:
        notes.append(ngettext(
            "Only {n} customer purchased in the 365-day RFM window: quintile scores on so "
            "few customers are rough.", "Only {n} customers purchased in the 365-day RFM "
            "window: quintile scores on so few customers are rough.", rfm_customers
        ).format(n=rfm_customers))
    if ctx.comparison is None:
        notes.append(_("No comparison period: changes, tests and the 'went quiet' list are not "
                       "shown."))
    return notes + ctx.import_notes("activities", "customers", "employees", "teams",
                                    columns={"deals": _DEAL_COLUMNS_USED})


def _status_note(ctx: ReportContext, at: datetime, active_days: float, lost_days: float) -> str:
    """The instant customer status is taken at, and its thresholds."""
    when = (_("the period end") if at == ctx.period.end_utc
            else _("the as-of time {time}").format(time=as_of_in_words(ctx.as_of))
            if isinstance(ctx.as_of, datetime)
            else _("the end of the as-of day {day}").format(day=ctx.as_of))
    return _("Customer status is taken at {when} ({at} UTC): active if the last contact is at "
             "most {active} days before it, at risk up to {lost} days, lost beyond.").format(
        when=when, at=f"{at:%Y-%m-%d %H:%M}", active=i18n.decimal(f"{active_days:g}"),
        lost=i18n.decimal(f"{lost_days:g}"))


def _gap_notes(gaps: dict[str, int]) -> list[str]:
    notes = []
    if gaps["activities_without_customer"]:
        notes.append(_count_note(gaps["activities_without_customer"], _(
            "Activities in the period without a customer: {n}. They count in the interactions "
            "and in no per-customer figure.")))
    if gaps["won_without_customer"]:
        notes.append(_count_note(gaps["won_without_customer"], _(
            "Won deals before the period end without a customer: {n}. They are left out of "
            "every customer figure.")))
    if gaps["won_without_amount"]:
        notes.append(_count_note(gaps["won_without_amount"], _(
            "Won deals before the period end without an amount: {n}. They count as purchases "
            "of amount 0.")))
    return notes


def _count_note(n: int, text: str) -> str:
    """A note about ``n`` records: ``text`` (its plural form chosen) with the count."""
    return text.format(n=i18n.decimal(f"{n:,}"))


SPEC = ReportSpec.of(
    CATALOG["activity"],
    headline=HEADLINE,
    definitions=(*HEADLINE, *TYPE_CARDS, "rfm", "cohort_retention", "went_quiet"),
    build=build,
    reads=("activities", "customers", "deals", "employees"),
)
