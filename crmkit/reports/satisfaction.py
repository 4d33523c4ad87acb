"""The Customer satisfaction report: NPS, CSAT and CES with honest intervals and tests,
trends, NPS by team and segment, score distributions, retention, verbatims."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from crmkit import stats
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
    current = satisfaction.summary(responses, book.activities, book.deals, ctx.period,
                                   active_days, ctx.as_of_end)
    previous = (
        satisfaction.summary(responses, book.activities, book.deals, ctx.comparison,
                             active_days, ctx.as_of_end)
        if ctx.comparison else None
    )
    breakdowns = Breakdowns(
        month=satisfaction.monthly_trend(responses, trend_months(ctx.period, trend_months_shown)),
        nps_by_team=satisfaction.nps_by_team(everyone["survey_responses"], everyone["customers"],
                                             everyone["employees"], everyone["teams"], ctx.period),
        nps_by_segment=satisfaction.nps_by_segment(responses, everyone["customers"], ctx.period),
        score_distribution=satisfaction.score_distribution(responses, ctx.period),
        verbatims=satisfaction.verbatims(responses, everyone["customers"], ctx.period),
    )
    return ReportData.from_summaries(
        ctx,
        current,
        previous,
        satisfaction.significance,
        breakdowns,
        extra=Extra(retention=current["retention"],
                    previous_retention=previous["retention"] if previous else None,
                    retention_text=satisfaction.retention_sentence(current["retention"])),
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
            "label": comparison.label}


def _notes(breakdowns: Breakdowns, current: satisfaction.Summary, ctx: ReportContext) -> list[str]:
    m = current["metrics"]
    notes = []
    for kind, name in (("nps", "NPS"), ("csat", "CSAT"), ("ces", "CES")):
        if not m[f"{kind}_responses"]:
            notes.append(f"No {kind} survey responses in this period: {name} is N/A.")
    ret = current["retention"]
    notes.append(
        f"Retention reads 'active at an instant' as: an activity or a won deal in the "
        f"{ret['active_days']} days before it, whoever logged it."
    )
    if ret["retention_start_customers"] == 0:
        notes.append("No customer was active at the period start: retention is N/A.")
    team_rows = breakdowns.nps_by_team
    no_team = team_rows.loc[team_rows["team_id"] == satisfaction.NO_TEAM, "responses"].sum()
    if no_team:
        notes.append(f"{int(no_team):,} NPS response(s) have neither a rated employee nor a "
                     "customer owner with a team: shown as '(no team)' in NPS by team.")
    seg_rows = breakdowns.nps_by_segment
    unknown = seg_rows.loc[seg_rows["segment"] == satisfaction.NO_SEGMENT, "responses"].sum()
    if unknown:
        notes.append(f"{int(unknown):,} NPS response(s) have no customer or no customer "
                     "segment: shown as '(unknown)' in NPS by segment.")
    if ctx.team != ALL_TEAMS:
        notes.append("NPS by team compares every team (company-wide responses); the other "
                     "scores cover this team's responses. Retention counts this team's customers "
                     "(owned by a member; a customer without an owner goes with the owner of its "
                     "first won deal) with all their activities and won deals, so every customer "
                     "counts for one team.")
    return notes + ctx.import_notes(
        "survey_responses", "customers", "activities", "employees", "teams",
        columns={"deals": ("deal_id", "owner_id", "customer_id", "status", "closed_at")})


SPEC = ReportSpec(
    id="satisfaction",
    title="Customer satisfaction",
    headline=HEADLINE,
    index_kpis=("nps", "csat"),
    definitions=DEFINED,
    build=build,
)
