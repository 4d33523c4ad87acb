"""The Customer satisfaction report: NPS, CSAT and CES with honest intervals and tests,
trends, NPS by team and segment, score distributions, retention, verbatims."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from crmkit import i18n, stats
from crmkit.catalog import CATALOG
from crmkit.i18n import N_, ngettext
from crmkit.i18n import gettext as _
from crmkit.metrics import customers, satisfaction
from crmkit.parameters import ALL_TEAMS
from crmkit.periods import trend_months
from crmkit.reports.context import ReportContext
from crmkit.reports.data import ReportData
from crmkit.reports.spec import ReportSpec

HEADLINE = ("nps", "nps_promoter_share", "nps_detractor_share", "csat", "ces", "retention_rate")
RETENTION = ("retention_rate", "retention_start_customers", "retention_retained_customers",
             "retention_end_customers")
#: Every metric this report defines, for the page's Definitions section.
DEFINED = (*HEADLINE, "nps_responses", "nps_promoters", "nps_passives", "nps_detractors",
           "csat_responses", "ces_responses", *RETENTION[1:])


@dataclass
class Breakdowns:
    """The Customer satisfaction report's tables."""

    month: pd.DataFrame
    nps_by_team: pd.DataFrame
    nps_by_segment: pd.DataFrame
    score_distribution: pd.DataFrame
    verbatims: pd.DataFrame


@dataclass
class Extra:
    """What the Customer satisfaction page shows beyond its numbers: the parts of the
    retention rate R / S (S, R, E, active days) of the period and its comparison, and
    the rate in words with the same numbers as its card."""

    retention: dict[str, Any]
    previous_retention: dict[str, Any] | None
    retention_text: str


def build(ctx: ReportContext, trend_months_shown: int = 12,
          active_days: int = satisfaction.ACTIVE_DAYS) -> ReportData[Breakdowns, Extra]:
    """Compute the whole Customer satisfaction report."""
    t, everyone = ctx.tables, ctx.store.tables
    responses = t["survey_responses"]
    book = customers.book(everyone, ctx.team)
    periods = [ctx.counted, *([ctx.comparison] if ctx.comparison else [])]
    retained = satisfaction.retentions(book.activities, book.deals, periods, active_days,
                                       ctx.as_of_end)
    current = satisfaction.summary(responses, book.activities, book.deals, ctx.counted,
                                   active_days, ctx.as_of_end, retained=retained[0])
    previous = (
        satisfaction.summary(responses, book.activities, book.deals, ctx.comparison,
                             active_days, ctx.as_of_end, retained=retained[1])
        if ctx.comparison else None
    )
    breakdowns = Breakdowns(
        month=satisfaction.monthly_trend(responses, trend_months(ctx.counted, trend_months_shown)),
        nps_by_team=satisfaction.nps_by_team(everyone["survey_responses"], everyone["customers"],
                                             everyone["employees"], everyone["teams"], ctx.counted),
        nps_by_segment=satisfaction.nps_by_segment(responses, everyone["customers"], ctx.counted),
        score_distribution=satisfaction.score_distribution(responses, ctx.counted),
        verbatims=satisfaction.verbatims(responses, everyone["customers"], ctx.counted),
    )
    return ReportData.from_summaries(
        ctx,
        current,
        previous,
        satisfaction.significance,
        breakdowns,
        extra=Extra(retention=current["retention"],
                    previous_retention=previous["retention"] if previous else None,
                    retention_text=retention_words(current["retention"])),
        notes=[*ctx.coverage_notes(),
               *([] if ctx.coverage.empty else _notes(breakdowns, current, ctx))],
    )


def nps_change_points(data: ReportData[Breakdowns, Extra]) -> dict[str, Any] | None:
    """The change of NPS against the comparison period in points (NPS is on −100..100, so
    a relative change in % reads badly), with its test; None without a comparison."""
    comparison = data.context.comparison
    if data.comparison is None or comparison is None:
        return None
    now, before = data.metrics.get("nps"), data.comparison.get("nps")
    points = data.changes_of("nps").get("change_points")
    return {"points": points, "current": now, "previous": before,
            "test": data.tests.get("nps", stats.Test(None, None)),
            "label": comparison.label, "compared": data.context.compared}


def retention_words(parts: dict[str, Any]) -> str:
    """The retention of :func:`crmkit.metrics.satisfaction.retention` (S, R, E, active days)
    in words, with the same numbers as its card."""
    s, r, e = (parts[k] for k in ("retention_start_customers", "retention_retained_customers",
                                  "retention_end_customers"))
    days = parts["active_days"]
    window = ngettext("(an activity or a won deal in the {days} days before the instant)",
                      "(an activity or a won deal in the {days} days before the instant)",
                      days).format(days=days)
    if not s:
        return (_("No customer was active at the period start {window}: retention is N/A.")
                .format(window=window) + " "
                + ngettext("{n} customer was active at its end.",
                           "{n} customers were active at its end.", e).format(n=_count(e)))
    rate = i18n.decimal(f"{100 * r / s:.1f}") + i18n.percent_sign()
    return (ngettext("Retention = R / S: {r} of the {s} customers active at the period start "
                     "{window} were still active at its end: {rate}.",
                     "Retention = R / S: {r} of the {s} customers active at the period start "
                     "{window} were still active at its end: {rate}.", s).format(
                r=_count(r), s=_count(s), window=window, rate=rate) + " "
            + ngettext("Of the {e} customers active at the end, {new} were not active at the "
                       "start (new customers, or back after a pause): they do not count in the "
                       "rate.", "Of the {e} customers active at the end, {new} were not active "
                       "at the start (new customers, or back after a pause): they do not count "
                       "in the rate.", e).format(e=_count(e), new=_count(e - r)))


#: The names of missing values the notes quote, as the catalogue has them.
_PLACEHOLDERS = (N_("(unknown)"),)


def _notes(breakdowns: Breakdowns, current: satisfaction.Summary, ctx: ReportContext) -> list[str]:
    m = current["metrics"]
    notes = [text for kind, text in (
        ("nps", _("No nps survey responses in this period: NPS is N/A.")),
        ("csat", _("No csat survey responses in this period: CSAT is N/A.")),
        ("ces", _("No ces survey responses in this period: CES is N/A."))
    ) if not m[f"{kind}_responses"]]
    ret = current["retention"]
    notes.append(ngettext(
        "Retention reads 'active at an instant' as: an activity or a won deal in the {days} "
        "days before it, whoever logged it.", "Retention reads 'active at an instant' as: an "
        "activity or a won deal in the {days} days before it, whoever logged it.",
        ret["active_days"]).format(days=ret["active_days"]))
    if ret["retention_start_customers"] == 0:
        notes.append(_("No customer was active at the period start: retention is N/A."))
    notes += _group_notes(breakdowns)
    if ctx.team != ALL_TEAMS:
        notes.append(_("NPS by team compares every team (company-wide responses); the other "
                       "scores cover this team's responses. Retention counts this team's "
                       "customers (owned by a member; a customer without an owner goes with the "
                       "owner of its first won deal) with all their activities and won deals, "
                       "so every customer counts for one team."))
    return notes + ctx.import_notes(
        "survey_responses", "customers", "activities", "employees", "teams",
        columns={"deals": ("deal_id", "owner_id", "customer_id", "status", "closed_at")})


def _group_notes(breakdowns: Breakdowns) -> list[str]:
    """The NPS responses without a team or a segment."""
    notes = []
    team_rows = breakdowns.nps_by_team
    no_team = int(team_rows.loc[team_rows["team_id"] == satisfaction.NO_TEAM, "responses"].sum())
    if no_team:
        notes.append(ngettext(
            "{n} NPS response has neither a rated employee nor a customer owner with a "
            "team: shown as '{name}' in NPS by team.", "{n} NPS responses have neither a "
            "rated employee nor a customer owner with a team: shown as '{name}' in NPS by team.",
            no_team).format(n=_count(no_team), name=_(satisfaction.NO_TEAM)))
    seg_rows = breakdowns.nps_by_segment
    unknown = int(seg_rows.loc[seg_rows["segment"] == satisfaction.NO_SEGMENT, "responses"].sum())
    if unknown:
        notes.append(ngettext(
            "{n} NPS response has no customer or no customer segment: shown as '{name}' in "
            "NPS by segment.", "{n} NPS responses have no customer or no customer segment: "
            "shown as '{name}' in NPS by segment.", unknown).format(
            n=_count(unknown), name=_(satisfaction.NO_SEGMENT)))
    return notes


def _count(n: int) -> str:
    return i18n.decimal(f"{n:,}")


SPEC = ReportSpec.of(
    CATALOG["satisfaction"],
    headline=HEADLINE,
    definitions=DEFINED,
    build=build,
    reads=("activities", "customers", "deals", "employees", "survey_responses", "teams"),
)
