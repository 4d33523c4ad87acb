"""The Marketing campaigns report: cost, leads, conversion, CAC and ROI per campaign and
channel, with a chi-square test of conversion across channels."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crmkit import i18n
from crmkit.catalog import CATALOG
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
from crmkit.metrics import marketing
from crmkit.metrics.definitions import METRICS
from crmkit.reports.context import ReportContext
from crmkit.reports.data import ReportData, SameAge
from crmkit.reports.spec import ReportSpec
from crmkit.verdict import MINUS, p_words

HEADLINE = (
    "cost", "leads", "lead_conversion", "deals_won", "revenue", "cost_per_lead", "cac",
    "roi", "acquired_customers",
)
#: The columns of deals this report reads (import findings about others are not its concern).
_DEAL_COLUMNS_USED = ("deal_id", "lead_id", "campaign_id", "customer_id", "status", "amount",
                      "closed_at")


@dataclass
class Breakdowns:
    """The Marketing campaigns report's tables."""

    campaign: pd.DataFrame
    channel: pd.DataFrame
    funnel: pd.DataFrame


@dataclass
class Extra:
    """What the Marketing page says beyond its numbers."""

    conversion_test: str  # the chi-square test across channels, in words
    roi_status: str  # whether ROI is final or provisional, in words
    roi_provisional: bool  # some campaign's ROI may still grow
    median_days_to_win: float | None  # lead to won deal, the yardstick of "provisional"


def build(ctx: ReportContext) -> ReportData[Breakdowns, Extra]:
    """Compute the whole Marketing report.

    Built from the unscoped tables (``ctx.store.tables``) narrowed to the team's campaigns,
    not from ``ctx.tables``: a team's campaigns bring all their leads and deals.
    """
    t = ctx.store.tables
    scope = marketing.campaign_scope(t["campaigns"], ctx.team)
    periods = [ctx.counted, ctx.comparison] if ctx.comparison else [ctx.counted]
    found = marketing.summaries(t["leads"], t["deals"], t["campaigns"], t["campaign_costs"],
                                periods, scope, ctx.as_of_end, ctx.converted_by)
    current, previous = found[0], (found[1] if ctx.comparison else None)
    return ReportData.from_summaries(
        ctx,
        current,
        previous,
        marketing.significance,
        Breakdowns(campaign=current["campaign"], channel=current["channel"],
                   funnel=current["funnel"]),
        extra=Extra(
            conversion_test=_test_words(current),
            roi_status=_roi_status(current),
            roi_provisional=current["provisional"],
            median_days_to_win=current["median_days_to_win"],
        ),
        notes=[*ctx.coverage_notes(),
               *([] if ctx.coverage.empty else _notes(current, ctx, scope))],
        same_age=SameAge.of_lead_conversion(ctx, previous),
    )


def _test_words(current: marketing.Summary) -> str:
    """The chi-square test across channels in words, under the label of its metric."""
    channels = int((current["channel"]["leads"] > 0).sum()) if len(current["channel"]) else 0
    said = f"{_(METRICS['conversion_chi2_p_value'].label)}: "
    if current["conversion_test"].p_value is None:
        why = (_("not testable, fewer than two channels have leads.") if channels < 2
               else _("not testable, no lead, or every lead, converted."))
        return said + why
    return said + ngettext("chi-square test of lead conversion over {n} channels, {test}.",
                           "chi-square test of lead conversion over {n} channels, {test}.",
                           channels).format(n=channels,
                                            test=p_words(current["conversion_test"].p_value))


def _roi_status(current: marketing.Summary) -> str:
    median = current["median_days_to_win"]
    if current["metrics"]["roi"] is None:
        return _("No ROI for this period: the campaigns in scope had no cost in it.")
    if median is None:
        return _("No won deal with a lead yet: lead maturity (provisional ROI) cannot be judged.")
    if current["provisional"]:
        return _("ROI is provisional: some campaigns still have leads younger than the median "
                 "{days} days from lead to won deal, so deals from this spend are still to be "
                 "won; they will count in the revenue of the months they close in, not in this "
                 "period's. Those campaigns are marked in the table.").format(
            days=f"{median:.0f}")
    return _("ROI is final: every lead of the period is older than the median {days} days to "
             "win.").format(days=f"{median:.0f}")


def _notes(current: marketing.Summary, ctx: ReportContext, scope: list[str] | None) -> list[str]:
    camp = current["campaign"]
    real = camp[camp["campaign_id"].notna()]
    notes = [_("Attribution is single-touch as recorded: a lead counts for its campaign; a deal "
               "for its own campaign, else its lead's. Headline totals cover the campaigns in "
               "scope only.")]
    if real.empty:
        notes.append(_("No campaign is in scope (the data has no campaigns for it): the headline "
                       "totals are empty; the channel table and the funnel show the leads by "
                       "their own channel."))
    notes += _scope_notes(camp, real, scope)
    notes += _campaign_notes(real, ctx.currency)
    blank = current["blank_channel_leads"]
    if blank:
        notes.append(ngettext(
            "{n} lead of the period has a blank channel (its campaign's or, without a "
            "campaign, its own): shown as '{name}'.", "{n} leads of the period have a blank "
            "channel (their campaign's or, without a campaign, their own): shown as '{name}'.",
            blank).format(n=i18n.decimal(f"{blank:,}"), name=_(marketing.UNKNOWN_CHANNEL)))
    median = current["median_days_to_win"]
    if median is not None:
        notes.append(_(
            "Provisional ROI: median lead-to-win time is {days} days (all won deals with a lead, "
            "closed before {instant} UTC); a campaign whose youngest lead of the period is "
            "younger than that is marked provisional.").format(
            days=i18n.decimal(f"{median:.1f}"), instant=f"{current['age_reference']:%Y-%m-%d %H:%M}"))
    notes.append(_("CAC counts a customer once, for the campaign its first won deal ever is "
                   "attributed to, and only when that first deal closes in the period."))
    return notes + ctx.import_notes("campaigns", "campaign_costs", "leads",
                                    columns={"deals": _DEAL_COLUMNS_USED})


def _campaign_notes(real: pd.DataFrame, currency: str) -> list[str]:
    """The campaigns without cost, or with cost but no leads, in the period."""
    notes = []
    zero = real[(real["cost"] == 0)]
    if len(zero):
        notes.append(ngettext(
            "{n} campaign had no cost in the period ({names}): a campaign with zero cost has "
            "no ROI, cost per lead or CAC (shown as —).", "{n} campaigns had no cost in the "
            "period ({names}): a campaign with zero cost has no ROI, cost per lead or CAC (shown "
            "as —).", len(zero)).format(n=len(zero), names=_names(zero)))
    notes += _unpaid_revenue_note(real, currency)
    no_leads = real[(real["cost"] > 0) & (real["leads"] == 0)]
    if len(no_leads):
        notes.append(ngettext(
            "{n} campaign had costs but no leads in the period ({names}): cost per lead is "
            "N/A.", "{n} campaigns had costs but no leads in the period ({names}): cost per "
            "lead is N/A.", len(no_leads)).format(n=len(no_leads),
                                                  names=_names(no_leads)))
    return notes


def _unpaid_revenue_note(real: pd.DataFrame, currency: str) -> list[str]:
    """The revenue of campaigns that cost nothing in the period (their spending fell in
    earlier periods, e.g. an event paid for last month): the headline ROI weighs it against
    this period's cost, so the note says how much it is and what ROI would be without it."""
    unpaid = real[(real["cost"] == 0) & (real["revenue"] > 0)]
    cost, revenue = float(real["cost"].sum()), float(real["revenue"].sum())
    if unpaid.empty or cost <= 0:
        return []
    amount = float(unpaid["revenue"].sum())
    without = (revenue - amount - cost) / cost
    roi = f"{abs(without):.1%}"
    roi = f"{MINUS}{roi}" if without < 0 and roi != "0.0%" else roi
    return [ngettext(
        "{money} of the attributed revenue ({share}) comes from {n} campaign with no cost in the "
        "period ({names}): its spending fell in earlier periods, so the headline ROI weighs "
        "that revenue against this period's cost only. Without it, ROI would be {roi}.",
        "{money} of the attributed revenue ({share}) comes from {n} campaigns with no cost in the "
        "period ({names}): their spending fell in earlier periods, so the headline ROI weighs "
        "that revenue against this period's cost only. Without it, ROI would be {roi}.",
        len(unpaid)).format(n=len(unpaid),
        money=i18n.decimal(f"{amount:,.0f}") + f" {i18n.currency_symbol(currency)}",
        share=_percent(f"{amount / revenue:.0%}"), names=_names(unpaid), roi=_percent(roi))]


def _scope_notes(camp: pd.DataFrame, real: pd.DataFrame, scope: list[str] | None) -> list[str]:
    """Which campaigns a team's report or the company-wide report covers."""
    if scope is not None:
        return [ngettext(
            "Team scope: the {n} campaign run by this team, with all its costs, leads and "
            "attributed deals, whoever owns them (the Sales report scopes by owner instead, so "
            "its numbers differ).", "Team scope: the {n} campaigns run by this team, with all "
            "their costs, leads and attributed deals, whoever owns them (the Sales report "
            "scopes by owner instead, so its numbers differ).", len(scope)
        ).format(n=len(scope))]
    notes = []
    n_team = int(real["team_id"].isna().sum())
    if n_team:
        notes.append(ngettext(
            "{n} campaign listed has no team: it appears only in this company-wide report.",
            "{n} campaigns listed have no team: they appear only in this company-wide report.",
            n_team).format(n=n_team))
    if (camp["campaign_id"].isna()).any():
        notes.append(_(
            "'{name}': leads without a campaign (by their own channel) and the deals won from "
            "them. They have no cost, so no cost per lead, CAC or ROI, and are left out of the "
            "headline totals. Deals with neither a campaign nor a lead are not "
            "marketing-sourced and appear only in the Sales report.").format(
            name=_(marketing.NO_CAMPAIGN)))
    return notes


def _names(df: pd.DataFrame, limit: int = 5) -> str:
    names = [str(n) for n in df["name"]]
    if len(names) <= limit:
        return ", ".join(names)
    return _("{names} and {n} more").format(names=", ".join(names[:limit]),
                                            n=len(names) - limit)


def _percent(text: str) -> str:
    """A percentage formatted by Python in the active locale (``12.5%`` → ``12,5 %``)."""
    return i18n.decimal(text).replace("%", i18n.percent_sign())


SPEC = ReportSpec.of(
    CATALOG["marketing"],
    headline=HEADLINE,
    definitions=(*HEADLINE, "conversion_chi2_p_value"),
    build=build,
    reads=("campaign_costs", "campaigns", "deals", "leads"),
)
