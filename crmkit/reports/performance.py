"""The Employee performance report: per person deals, tasks, tickets, response times, SLA
and CSAT, with the team median, rank, change and workload flags."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crmkit.metrics import _frames as F
from crmkit.metrics import performance
from crmkit.reports.context import ReportContext
from crmkit.reports.data import ReportData
from crmkit.reports.spec import ReportSpec

HEADLINE = performance.PERSON_METRICS

#: Tables (and columns of deals) this report reads: import findings about them are noted.
_NOTE_TABLES = ("employees", "activities", "tasks", "tickets", "survey_responses", "quotas")
_NOTE_DEAL_COLUMNS = ("owner_id", "status", "amount", "closed_at")


@dataclass
class Breakdowns:
    """The Employee performance report's tables."""

    employee: pd.DataFrame
    team_median: pd.DataFrame


def build(ctx: ReportContext) -> ReportData[Breakdowns, None]:
    """Compute the whole Employee performance report."""
    t = ctx.tables
    current = performance.summary(t, ctx.period, ctx.as_of_end)
    previous = performance.summary(t, ctx.comparison, ctx.as_of_end) if ctx.comparison else None
    employees = F.to_pandas(F.lazy(t["employees"]))
    staff = performance.roster(employees, ctx.period, ctx.comparison)
    staff_prev = performance.roster(employees, ctx.comparison) if ctx.comparison else None
    employee, team_median = performance.by_employee(current, staff, previous, staff_prev)
    return ReportData.from_summaries(
        ctx,
        current,
        previous,
        performance.significance,
        Breakdowns(employee=employee, team_median=team_median),
        extra=None,
        notes=[*ctx.coverage_notes(),
               *([] if ctx.coverage.empty else _notes(current, staff, employee, ctx))],
    )


def _notes(current: performance.Summary, staff: pd.DataFrame, employee: pd.DataFrame,
           ctx: ReportContext) -> list[str]:
    """What the page's numbers leave out (a page without data has none: its coverage
    sentence says why)."""
    return [
        *_ticket_notes(current, f"as of {ctx.as_of}"),
        *_task_notes(current, f"as of {ctx.as_of}"),
        *_people_notes(current, staff, employee, ctx),
        *ctx.import_notes(*_NOTE_TABLES, columns={"deals": _NOTE_DEAL_COLUMNS}),
    ]


def _ticket_notes(current: performance.Summary, as_of: str) -> list[str]:
    tk, nobody = current["tickets"], current["unassigned"]
    notes = []
    if tk["tickets_unanswered"]:
        notes.append(
            f"{tk['tickets_unanswered']:,} ticket(s) opened in the period have no first response "
            f"({as_of}): left out of the first-response times, counted as tickets unanswered; "
            f"{tk['unanswered_past_sla']:,} of them are past their SLA deadline and count as "
            "SLA misses."
        )
    if tk["sla_pending"]:
        notes.append(
            f"{tk['sla_pending']:,} unanswered ticket(s) still have their SLA deadline ahead "
            f"({as_of}): left out of SLA compliance."
        )
    if tk["no_sla"]:
        notes.append(f"{tk['no_sla']:,} ticket(s) opened in the period have no sla_due_at: "
                     "left out of SLA compliance.")
    if nobody["tickets_assigned"] or nobody["tickets_resolved"]:
        notes.append(
            f"Tickets with no assignee: {nobody['tickets_assigned']:,} opened and "
            f"{nobody['tickets_resolved']:,} resolved in the period. They count in the team "
            "totals, in no person's row."
        )
    return notes


def _task_notes(current: performance.Summary, as_of: str) -> list[str]:
    tasks, nobody = current["tasks"], current["unassigned"]
    notes = []
    if nobody["activities"]:
        notes.append(f"{_count(nobody['activities'], 'activity', 'activities')} "
                     "have no employee: counted in the team total of activities, in no "
                     "person's row.")
    if nobody["csat_responses"]:
        notes.append(f"{nobody['csat_responses']:,} CSAT response(s) rate no employee: left out "
                     "of CSAT here (the Customer satisfaction report counts them).")
    if tasks["tasks_no_due"]:
        notes.append(f"{tasks['tasks_no_due']:,} task(s) completed in the period have no due "
                     "date: counted as completed, not in overdue or on-time.")
    if tasks["tasks_pending"]:
        notes.append(f"{tasks['tasks_pending']:,} task(s) due in the period are open but not due "
                     f"yet ({as_of}): not counted as overdue or on time.")
    return notes


def _people_notes(current: performance.Summary, staff: pd.DataFrame, employee: pd.DataFrame,
                  ctx: ReportContext) -> list[str]:
    notes = []
    partial = employee[~employee["full_period"]]
    for name, note in zip(partial["name"], partial["note"], strict=True):
        notes.append(f"{name}: {note}. Shown, but left out of the team medians and ranks.")
    no_change = employee[employee["full_period"] & ~employee["full_comparison"]]
    if ctx.comparison is not None and len(no_change):
        notes.append(
            f"Not compared with {ctx.comparison.label} (not employed all of it): "
            + ", ".join(no_change["name"].astype(str)) + "."
        )
    gone = staff[~staff["employed"] & staff["left_at"].notna()
                 & (staff["left_at"] < pd.Timestamp(ctx.period.start_utc))]
    gone = gone[~gone["employee_id"].isin(employee["employee_id"])]
    if len(gone):
        notes.append(f"{len(gone):,} former employee(s) who left before the period and have "
                     "nothing in it are not listed.")
    if current["metrics"]["quota_attainment"] is None:
        notes.append("No quota overlaps this period: quota attainment is N/A.")
    return notes


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


SPEC = ReportSpec(
    id="performance",
    title="Employee performance",
    headline=HEADLINE,
    index_kpis=("tickets_resolved", "sla_compliance"),
    definitions=(*HEADLINE, "tasks_due", "tickets_assigned", "workload"),
    build=build,
)
