"""Every metric's name, label, unit and definition in words: the one catalogue.

Reports print these definitions next to the numbers, the JSON twin carries them, and
``docs/METRICS.md`` is generated from them. A name means one thing everywhere (``deals_won``
of Sales is the one Marketing shows), so each is defined once, grouped here by the report
that introduces it. Beside its words, a metric says as data how its change reads (in
points, or relative) and whether team figures add up to the company figure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from crmkit import i18n, stats
from crmkit.errors import CrmkitError, ParameterError, shown

__all__ = ["ADDITIVE_UNITS", "CATALOGUE", "METRICS", "UNITS", "Metric", "UnknownMetricError",
           "custom_metric", "lookup"]

#: Every unit a page knows how to show.
UNITS = ("count", "money", "rate", "days", "money_per_day", "score", "minutes", "hours", "p_value")

#: Units whose team figures add up to the company figure unless a metric says otherwise:
#: counts and money. Rates, scores, times, per-unit money and p-values never add up.
ADDITIVE_UNITS = frozenset({"count", "money"})

#: A field left to its unit (see :meth:`Metric.__post_init__`).
_FROM_UNIT: Any = None


@dataclass(frozen=True)
class Metric:
    """One metric of the catalogue: its name in the JSON, its label on the page, its unit,
    its definition in words, and how its changes and team figures read."""

    name: str
    label: str
    unit: str  # count | money | rate | days | money_per_day | score | minutes | hours | p_value
    definition: str
    higher_is_better: bool = True
    #: Whether a change reads as a difference in points rather than a relative change:
    #: every rate or share (in percentage points: ``change_pp`` in the JSON, "+3.1 pp" on
    #: the page) and signed scores such as NPS (in points: ``change_points``, "+24.2 pts"),
    #: whose relative change near zero means nothing. Not given: True for unit ``rate`` (a
    #: rate cannot say False), False otherwise (counts, money and times change relatively).
    change_in_points: bool = _FROM_UNIT
    #: Whether the team figures add up to the company figure (every team's report of the
    #: same period, summed). Not given: True for counts and money (:data:`ADDITIVE_UNITS`);
    #: an average, median or ratio in those units says False and its definition says why.
    additive: bool = _FROM_UNIT

    def __post_init__(self) -> None:
        if self.change_in_points is None:
            object.__setattr__(self, "change_in_points", self.unit == "rate")
        if self.additive is None:
            object.__setattr__(self, "additive", self.unit in ADDITIVE_UNITS)
        if self.unit == "rate" and not self.change_in_points:
            raise ValueError(f"metric {self.name!r}: a rate changes in percentage points")
        if self.additive and self.unit not in ADDITIVE_UNITS:
            raise ValueError(f"metric {self.name!r}: only counts and money add up over teams")

    @property
    def change_reads(self) -> str:
        """How a change of this metric is stated: ``pp`` (percentage points), ``pts``
        (points) or ``%`` (relative change)."""
        if not self.change_in_points:
            return "%"
        return "pp" if self.unit == "rate" else "pts"

    @property
    def points_key(self) -> str | None:
        """Where the JSON keeps a change in points: ``change_pp`` for a rate,
        ``change_points`` for a score that changes in points, None otherwise."""
        if not self.change_in_points:
            return None
        return "change_pp" if self.unit == "rate" else "change_points"

    def change_between(self, current: float | None, previous: float | None
                       ) -> dict[str, float | None]:
        """The change from ``previous`` to ``current`` as the JSON states it: ``change``,
        the relative change (None for a metric that changes in points, or when ``previous``
        is 0 or N/A), and for a metric that changes in points its difference, under
        :attr:`points_key`: in percentage points for a rate (3.1 for +3.1 pp), in points
        for a score."""
        if self.points_key is None:
            return {"change": stats.change(current, previous)}
        scale = 100.0 if self.unit == "rate" else 1.0
        diff = None if current is None or previous is None else scale * (current - previous)
        return {"change": None, self.points_key: diff}


_SALES = (
    Metric("deals_created", "Deals created", "count",
           "Deals whose created_at falls in the period."),
    Metric("deals_won", "Deals won", "count",
           "Deals with status won whose closed_at falls in the period."),
    Metric("deals_lost", "Deals lost", "count",
           "Deals with status lost whose closed_at falls in the period.",
           higher_is_better=False),
    Metric("revenue", "Revenue", "money",
           "Sum of amount of the deals won in the period."),
    Metric("win_rate", "Win rate", "rate",
           "Won / (won + lost) over the deals closed in the period, with a Wilson 95% interval."),
    Metric("avg_deal_size", "Average deal size", "money",
           "Revenue / deals won in the period (the median deal is in the JSON: deal_size_median). An "
           "average: team figures do not add up to the company figure.",
           additive=False),
    Metric("deal_size_median", "Median deal size", "money",
           "Median amount of the deals won in the period. A median: team figures do not add up to "
           "the company figure.",
           additive=False),
    Metric("sales_cycle_days_median", "Sales cycle (median)", "days",
           "closed_at − created_at in days (fractional: elapsed hours / 24) for the deals won in the period: "
           "the median.",
           higher_is_better=False),
    Metric("sales_cycle_days_mean", "Sales cycle (mean)", "days",
           "The same days-to-win for deals won in the period: the mean.",
           higher_is_better=False),
    Metric("sales_cycle_days_p90", "Sales cycle (90th percentile)", "days",
           "The same days-to-win: 90th percentile (linear interpolation).",
           higher_is_better=False),
    Metric("lead_conversion", "Lead conversion", "rate",
           "Of the leads created in the period (all of them, with or without a campaign; Marketing "
           "counts its campaigns' leads) and seen by the as-of instant, or by the end of the data's last "
           "day when that is earlier, the share converted by then (converted_at not null and before it), "
           "with a Wilson 95% interval. Compared at the same age: of the comparison period, only the "
           "leads created and converted as long after its start (the same wall-clock time) count, so "
           "leads that had days to convert are not held against leads that had a month more; the page "
           "and the JSON (compared_at_same_age) say so when it changes the comparison value."),
    Metric("open_deals", "Open deals", "count",
           "Deals open at the period end: created before the end and not closed before it. For a "
           "period over, compared with another that is over too, both as the pipeline snapshot taken at "
           "each end (up to a day before) recorded them, when both have one: as they stood then, not as "
           "the deals are recorded now (a deal won since carries its late-stage probability)."),
    Metric("open_pipeline", "Open pipeline", "money",
           "Sum of amount of the deals open at the period end (created_at < end and closed_at null or "
           "≥ end; from the snapshot at the end when the open deals are)."),
    Metric("weighted_pipeline", "Weighted pipeline", "money",
           "Sum of amount × probability over the same open deals (from the snapshot at the end when they "
           "are); deals without a probability are left out and counted in the data notes."),
    Metric("quota_attainment", "Quota attainment", "rate",
           "Revenue / target, where target = Σ quota × (days of the quota inside the period / days of the "
           "quota). Quotas are half-open [period_start, period_end)."),
    Metric("quota_target", "Quota target", "money",
           "Σ quota × (days of the quota inside the period / days of the quota)."),
    Metric("pipeline_velocity", "Pipeline velocity", "money_per_day",
           "Open deals × win rate × average deal size / mean sales cycle days: money per day."),
    Metric("forecast", "Forecast", "money",
           "Period not yet over (also a to-date period): revenue won up to the as-of instant + Σ amount × "
           "probability of deals open at it whose expected_close_at falls between it and the period's "
           "natural end (the month end for month-to-date; a deal whose expected close has passed is "
           "overdue and not counted). Past period: the forecast made at the period start (Σ amount "
           "× probability of deals open then with expected_close_at in the period) as the last pipeline "
           "snapshot taken in the 7 days before the period began recorded them (the snapshot the forecast "
           "accuracy table reads); without such a snapshot, from the deals' probability and expected close "
           "date as recorded now, which have since moved towards what happened (the page says which)."),
    Metric("forecast_error", "Forecast error", "rate",
           "(forecast made at period start − actual revenue) / actual revenue, past periods only.",
           higher_is_better=False),
)

_MOVED = (
    " A deal handed to another team between the snapshots leaves one team's pipeline as removed and "
    "joins the other's as new, so team parts do not add up to the company's (the opening and closing "
    "pipelines do).")

_PIPELINE_HISTORY = (
    Metric("pipeline_opening", "Opening pipeline", "money",
           "Sum of amount of the deals open in the pipeline snapshot at (or last before) the period start, "
           "or the first one in the period when none is older; its deals are counted beside it."),
    Metric("pipeline_new", "New", "money",
           "Deals in the closing snapshot that are not in the opening one (created in the period, or not "
           "open at its start): their amount." + _MOVED,
           additive=False),
    Metric("pipeline_advanced", "Advanced", "money",
           "Deals in both snapshots whose stage moved forward (stages ordered by their mean probability: "
           "the data model gives no order): how many, and the change of their amount (a deal whose stage "
           "moved carries its amount change here, not under Amount changes). Team figures do not add up to "
           "the company's: see New.",
           additive=False),
    Metric("pipeline_slipped", "Slipped", "money",
           "Deals in both snapshots whose stage moved back: how many, and the change of their amount. Team "
           "figures do not add up to the company's: see New.",
           additive=False),
    Metric("pipeline_amount_changes", "Amount changes", "money",
           "Deals in both snapshots at the same stage whose amount changed: how many, and the change of "
           "their amount. Team figures do not add up to the company's: see New.",
           additive=False),
    Metric("pipeline_won", "Won", "money",
           "Deals in the opening snapshot only, recorded won before the closing one was taken: the amount "
           "they had in the opening snapshot, taken out of the pipeline. Team figures do not add up to the "
           "company's: see New.",
           additive=False),
    Metric("pipeline_lost", "Lost", "money",
           "Deals in the opening snapshot only, recorded lost before the closing one was taken: their "
           "amount then, taken out. Team figures do not add up to the company's: see New.",
           higher_is_better=False, additive=False),
    Metric("pipeline_removed", "Removed", "money",
           "Deals in the opening snapshot only that are neither won nor lost (deleted, reopened later, or "
           "handed to another team): their amount then, taken out. Team figures do not add up to the "
           "company's: see New.",
           higher_is_better=False, additive=False),
    Metric("pipeline_closing", "Closing pipeline", "money",
           "Sum of amount of the deals open in the snapshot at (or last before) the period end. Opening + "
           "new + advanced + slipped + amount changes − won − lost − removed = closing, exactly (amounts "
           "added in cents; a deal without an amount counts as 0)."),
    Metric("forecast_at_month_start", "Forecast at start", "money",
           "For a past month with a pipeline snapshot taken in the 7 days before it began (the last one): "
           "Σ amount × probability of the deals open in that snapshot whose expected_close_at falls in the "
           "month, as they stood then (deals without a probability add nothing)."),
    Metric("forecast_month_error", "Forecast − won", "money",
           "Forecast at the month start − revenue won in the month (deals won with closed_at in it): "
           "above 0, the forecast promised more than was won. Its relative error divides it by that "
           "revenue."),
    Metric("forecast_bias", "Forecast bias", "money",
           "The mean of the monthly forecast errors over the months shown (at most the last 12 up to the "
           "period): how far, and which way, the forecast at a month start usually misses. Said in words "
           "against the mean revenue won (Σ error / Σ revenue)."),
)

_PERFORMANCE = (
    Metric("activities", "Activities", "count",
           "Activities (calls, emails, meetings, messages, …) with occurred_at in the period, counted for the"
           " employee who logged them, in total and by type. The team total also counts the team's activities"
           " that have no employee."),
    Metric("tasks_due", "Tasks due", "count",
           "Tasks whose due_at falls in the period."),
    Metric("tasks_completed", "Tasks completed", "count",
           "Tasks whose completed_at falls in the period."),
    Metric("tasks_overdue", "Tasks overdue", "count",
           "Tasks whose due_at falls in the period and that were not completed by due_at (completed later, or"
           " not completed). A task whose due_at is still ahead at the report's as-of time is not overdue "
           "yet.",
           higher_is_better=False),
    Metric("tasks_on_time_rate", "Tasks on time", "rate",
           "Tasks due in the period completed by their due_at / (those + the overdue ones); open tasks that "
           "are not due yet are left out. Wilson 95% interval."),
    Metric("tickets_assigned", "Tickets assigned", "count",
           "Tickets opened in the period, counted for their assignee (employee_id)."),
    Metric("tickets_resolved", "Tickets resolved", "count",
           "Tickets whose resolved_at falls in the period, counted for their assignee. The team total also "
           "counts the team's tickets that have no assignee."),
    Metric("tickets_unanswered", "Tickets unanswered", "count",
           "Tickets opened in the period with no first response (as of the report): left out of the "
           "first-response times.",
           higher_is_better=False),
    Metric("first_response_minutes_median", "First response (median)", "minutes",
           "first_response_at − opened_at in minutes for the tickets opened in the period that have a first "
           "response: the median.",
           higher_is_better=False),
    Metric("first_response_minutes_p90", "First response (90th percentile)", "minutes",
           "The same first-response minutes: 90th percentile (linear interpolation).",
           higher_is_better=False),
    Metric("resolution_hours_median", "Resolution time (median)", "hours",
           "resolved_at − opened_at in hours for the tickets resolved in the period: the median.",
           higher_is_better=False),
    Metric("sla_compliance", "SLA compliance", "rate",
           "Share of the tickets opened in the period that have an sla_due_at whose first response came at or"
           " before it. An unanswered ticket counts as a miss once its sla_due_at has passed (as of the "
           "report) and is left out while it is still ahead. Wilson 95% interval."),
    Metric("csat", "CSAT", "rate",
           "Share of csat survey responses in the period with score 4–5 (of 1–5); in the Employee performance"
           " report only the responses that rate an employee (employee_id set). Wilson 95% interval."),
    Metric("workload", "Workload", "count",
           "Activities logged + tasks due + tickets assigned in the period, compared with the median of the "
           "colleagues in the same role who were employed all period. Flagged high (possible overload) or low"
           " (possibly idle) at ≥ 1.5× or ≤ 0.5× that median when the gap is also beyond 3 robust spreads "
           "between colleagues (median absolute deviation of log workload) and not chance (Poisson test, p < "
           "0.01); only in roles with at least 3 colleagues employed all period. A per-person figure, read "
           "against colleagues: not summed over teams.",
           additive=False),
)

#: Which customers a team's customer figures count (activity and retention).
_TEAM_CUSTOMERS = (
    "For a team: the team's customers, those whose owner (customers.owner_id) is a member or, for a "
    "customer without an owner, whose first won deal's owner is, with all their activities and won "
    "deals whoever logged them, so each customer counts for one team (a customer with neither an "
    "owner nor a won deal counts for the company only)."
)

_ACTIVITY = (
    Metric("interactions", "Interactions", "count",
           "Activities whose occurred_at falls in the period, of every type; also shown per type, per "
           "customer and per employee. An activity without a customer counts here but in no per-customer "
           "figure. For a team: the team's activities (its members', and those without an employee whose "
           "customer the team owns)."),
    Metric("interactions_call", "Interactions: call", "count",
           "Activities of type call whose occurred_at falls in the period (0 when none)."),
    Metric("interactions_email", "Interactions: email", "count",
           "Activities of type email whose occurred_at falls in the period (0 when none)."),
    Metric("interactions_meeting", "Interactions: meeting", "count",
           "Activities of type meeting whose occurred_at falls in the period (0 when none)."),
    Metric("interactions_message", "Interactions: message", "count",
           "Activities of type message whose occurred_at falls in the period (0 when none)."),
    Metric("interactions_site_visit", "Interactions: site visit", "count",
           "Activities of type site_visit whose occurred_at falls in the period (0 when none)."),
    Metric("interactions_request", "Interactions: request", "count",
           "Activities of type request whose occurred_at falls in the period (0 when none)."),
    Metric("interactions_note", "Interactions: note", "count",
           "Activities of type note whose occurred_at falls in the period (0 when none)."),
    Metric("interactions_other", "Interactions: other", "count",
           "Activities of type other whose occurred_at falls in the period (0 when none)."),
    Metric("active_customers", "Active customers (in period)", "count",
           "Customers with at least one activity (occurred_at) or one won deal (closed_at) in the period. "
           + _TEAM_CUSTOMERS),
    Metric("new_customers", "New customers", "count",
           "Customers whose first won deal ever falls in the period: the earliest closed_at among all their "
           "won deals in the whole data, whichever team won them, so a customer is new once, company-wide. A"
           " team's new customers are those of its customers (owned by a member or, without an owner, whose "
           "first won deal's owner is a member): team figures add up to the company figure."),
    Metric("customers_active", "Status at end: active", "count",
           "Customers whose last contact (activity or won deal) before the period end is at most active_days "
           "(default 90) days before the end, counted exactly: a contact exactly 90 days before is active. "
           "The end is the period end, or the end of the as-of day when that is earlier. " + _TEAM_CUSTOMERS),
    Metric("customers_at_risk", "Status at end: at risk", "count",
           "Customers whose last contact before the period end is more than active_days (default 90) and at "
           "most lost_days (default 180) days before the end. " + _TEAM_CUSTOMERS,
           higher_is_better=False),
    Metric("customers_lost", "Status at end: lost", "count",
           "Customers whose last contact before the period end is more than lost_days (default 180) days "
           "before the end. Customers of the scope (created before the end) with no activity and no purchase "
           "ever before the end are 'never active' and are in none of the three status counts. "
           + _TEAM_CUSTOMERS,
           higher_is_better=False),
    Metric("rfm", "RFM segments", "score",
           "Customers with at least one won deal in the 365 days before the period end. Recency: whole days "
           "from the last such purchase to the end; frequency: number of won deals; monetary: sum of their "
           "amounts (no amount counts 0). Each is scored 1–5 by quintile: score = ceil(5 × rank / n), rank "
           "1..n from worst to best, tied values all taking the lowest rank of their run (so equal values "
           "always get the same score, and a tie never lifts a customer above the first of its group: one-off"
           " buyers all score F = 1); recency ranks the most recent best (5). FM = (F + M) / 2 rounded half "
           "up. Segments by R and FM: champions: R 5, FM 4–5; loyal: R 3–4, FM 4–5; potential loyalist: R "
           "4–5, FM 2–3; new: R 5, FM 1; promising: R 4, FM 1; need attention: R 3, FM 3; about to sleep: R "
           "3, FM 1–2; at risk: R 1–2, FM 3–4; can't lose: R 1–2, FM 5; hibernating: R 2, FM 1–2; lost: R 1, "
           "FM 1–2. For a team: the team's customers, with all their won deals."),
    Metric("cohort_retention", "Cohort retention", "rate",
           "Customers grouped by the month of their first won deal ever (cohort); for each later month, the "
           "share of the cohort with at least one won deal in that month. Month 0 is 100% by construction. "
           "Months are local calendar months; purchases after the period end are not counted. For a team: "
           "the team's customers, with all their won deals."),
    Metric("went_quiet", "Went quiet", "count",
           "Customers with at least one contact (activity or won deal) in the comparison period and none in "
           "this period, with their last contact before the period end, their owner and their revenue (won "
           "deals) in the 365 days before the period end. " + _TEAM_CUSTOMERS),
)

_MARKETING = (
    Metric("cost", "Marketing cost", "money",
           "Sum of campaign_costs.cost whose date (a calendar day in the company time zone) falls in the "
           "period, over the campaigns in scope (a team's report: the campaigns whose team_id is that team;"
           " a campaign without a team counts in the company figure only).",
           higher_is_better=False),
    Metric("leads", "Leads", "count",
           "Leads created in the period, attributed to a campaign by the lead's campaign_id, per campaign and"
           " per channel (the campaign's channel; a lead without a campaign keeps its own channel). Headline:"
           " leads of the campaigns in scope (a campaign without a team counts in the company figure "
           "only)."),
    Metric("cost_per_lead", "Cost per lead", "money",
           "Cost / leads of the same campaigns in the period; N/A when there are no leads. A ratio: "
           "team figures do not add up to the company figure.",
           additive=False,
           higher_is_better=False),
    Metric("acquired_customers", "Acquired customers", "count",
           "New customers acquired by marketing: customers whose first won deal ever (the earliest closed_at "
           "in the whole data, all teams; ties: the smallest deal_id) closes in the period, the new customers"
           " of Customer activity, each counted for the campaign that first deal is attributed to; the "
           "headline counts those attributed to a campaign in scope (a campaign without a team counts in the"
           " company figure only). The denominator of CAC."),
    Metric("cac", "Customer acquisition cost", "money",
           "Cost / acquired customers: the customers whose first won deal ever is attributed to the campaign "
           "and closes in the period. N/A when there are none. A ratio: team figures do not add up to the "
           "company figure.",
           additive=False,
           higher_is_better=False),
    Metric("roi", "ROI", "rate",
           "(revenue − cost) / cost, revenue of the attributed deals won in the period. N/A when cost is 0: a"
           " campaign with zero cost has no ROI. Provisional while the campaign's leads are still maturing: "
           "some lead created in the period is younger, at the period end (or the as-of day if earlier), than"
           " the median days from lead creation to won deal (all won deals with a lead, closed before that "
           "instant)."),
    Metric("conversion_chi2_p_value", "Conversion differs by channel (p-value)", "p_value",
           "p-value of a chi-square test of independence of converted / not converted by channel, over the "
           "leads created in the period (every channel listed, leads without a campaign included in the "
           "company-wide report). Below 0.05: conversion very likely differs across channels.",
           higher_is_better=False),
)

_SATISFACTION = (
    Metric("nps", "NPS", "score",
           "Net Promoter Score of the nps survey responses given in the period (responded_at in period): % "
           "promoters (score 9–10) − % detractors (score 0–6), on −100..100; never an average of scores. 95% "
           "interval: adjusted Wald (n + 3 responses, promoters + ¾, detractors + ¾, SE = √((p + d − (p − "
           "d)²) / n)). Its change against the comparison period is tested with a two-sample z-test from "
           "these variances.",
           change_in_points=True),
    Metric("nps_responses", "NPS responses", "count",
           "nps survey responses with responded_at in the period."),
    Metric("nps_promoters", "Promoters", "count",
           "nps responses in the period scoring 9 or 10."),
    Metric("nps_passives", "Passives", "count",
           "nps responses in the period scoring 7 or 8."),
    Metric("nps_detractors", "Detractors", "count",
           "nps responses in the period scoring 0 to 6.",
           higher_is_better=False),
    Metric("nps_promoter_share", "Promoters share", "rate",
           "Promoters / nps responses in the period, with a Wilson 95% interval."),
    Metric("nps_detractor_share", "Detractors share", "rate",
           "Detractors / nps responses in the period, with a Wilson 95% interval.",
           higher_is_better=False),
    Metric("csat_responses", "CSAT responses", "count",
           "csat survey responses with responded_at in the period."),
    Metric("ces", "CES", "score",
           "Customer Effort Score: mean score of the ces survey responses given in the period, on 1–7 where "
           "higher means the customer found it easier; Student t 95% interval. Its change is tested with "
           "Welch's t-test."),
    Metric("ces_responses", "CES responses", "count",
           "ces survey responses with responded_at in the period."),
    Metric("retention_rate", "Customer retention", "rate",
           "R / S: of the S customers active at the period start, the share R still active at its end (or "
           "at the end of the as-of day while the period is not over); always between 0 and 100%. A "
           "customer is active at an instant t when it has an activity (occurred_at) or a won deal "
           "(closed_at) in the 90 days before t (the window is a report parameter, stated on the page). "
           "Customers who were not active at the start (new ones, or back after a pause) are not in it. Its "
           "change is tested with a two-proportion z-test of R out of S. "
           + _TEAM_CUSTOMERS + " N/A when S is 0."),
    Metric("retention_start_customers", "Active at start (S)", "count",
           "Customers with an activity or a won deal in the 90 days before the period start. "
           + _TEAM_CUSTOMERS),
    Metric("retention_retained_customers", "Still active at end (R)", "count",
           "Customers active at the period start (S) who are also active at its end: an activity or a won "
           "deal in the 90 days before the period end. " + _TEAM_CUSTOMERS),
    Metric("retention_end_customers", "Active at end (E)", "count",
           "Customers with an activity or a won deal in the 90 days before the period end: the R still "
           "active since the start, and E − R who were not active at the start (new customers, or customers"
           " back after a pause). " + _TEAM_CUSTOMERS),
)

#: Every metric, grouped by the report that introduces it (a metric is defined once: a
#: report that shows a metric of another group, e.g. Marketing's ``deals_won``, uses it).
CATALOGUE: dict[str, tuple[Metric, ...]] = {
    "Sales": _SALES,
    "Sales: pipeline history": _PIPELINE_HISTORY,
    "Employee performance": _PERFORMANCE,
    "Customer activity": _ACTIVITY,
    "Marketing campaigns": _MARKETING,
    "Customer satisfaction": _SATISFACTION,
}

#: Every metric by name.
METRICS: dict[str, Metric] = {m.name: m for group in CATALOGUE.values() for m in group}


class UnknownMetricError(CrmkitError, LookupError):
    """A card, a definition or the JSON twin names a metric that has no definition."""


def lookup(name: str, custom: dict[str, Metric] | None = None) -> Metric:
    """The definition of metric ``name``: a custom metric of the report run (``custom``),
    else the catalogue's, its label and definition in the active locale (:mod:`crmkit.i18n`:
    the English text is the message); a name found in neither raises an error that names
    the fix."""
    m = (custom or {}).get(name) or METRICS.get(name)
    if m is not None and i18n.active() != i18n.DEFAULT:
        return dataclasses.replace(m, label=i18n.gettext(m.label),
                                   definition=i18n.gettext(m.definition))
    if m is None:
        raise UnknownMetricError(
            f"metric {shown(name)} has no definition: a card shows a label, a unit and a "
            f"definition in words, so define it first with ctx.metric({name!r}, label=..., "
            "unit=..., definition=...) before ctx.compute (README, 'Exploring in JupyterLab')"
        )
    return m


def custom_metric(name: str, label: str, unit: str, definition: str, **how: bool) -> Metric:
    """A metric of one report run, checked like the catalogue's (``how``: the keyword
    fields of :class:`Metric`); a catalogue name cannot be redefined."""
    if name in METRICS:
        raise ParameterError(
            f"metric {shown(name)} is in the catalogue already ({METRICS[name].label}); "
            "give a custom metric a name of its own")
    if unit not in UNITS:
        raise ParameterError(f"metric {shown(name)}: unit {shown(unit)} is not one of "
                             f"{', '.join(UNITS)}")
    if not (name and label and definition):
        raise ParameterError(f"metric {shown(name)}: a name, a label and a definition in "
                             "words are needed")
    try:
        return Metric(name, label, unit, definition, **how)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
