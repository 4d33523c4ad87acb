"""The Employee performance report: per person deals, tasks, tickets, response times, SLA
and CSAT, with the team median, rank, change and workload flags."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from crmkit import i18n
from crmkit.catalog import CATALOG
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
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
    others = [] if ctx.comparison is None else [ctx.comparison]
    current, *rest = performance.summaries(t, [ctx.counted, *others], ctx.as_of_end,
                                           quota_periods=[ctx.period, *others])
    previous = rest[0] if rest else None
    partial = ctx.before_quotas(list(zip([ctx.counted, *others], [current, *rest], strict=True)))
    for summary in (current, *rest):  # each person's too, where the team's is N/A
        if summary["metrics"]["quota_attainment"] is None and summary["moments"]["quota_target"]:
            summary["employees"]["quota_attainment"] = float("nan")
    employees = F.to_pandas(F.lazy(t["employees"]))
    staff = performance.roster(employees, ctx.counted, ctx.comparison)
    staff_prev = performance.roster(employees, ctx.comparison) if ctx.comparison else None
    employee, team_median = performance.by_employee(current, staff, previous, staff_prev,
                                                   compared=ctx.compared)
    return ReportData.from_summaries(
        ctx,
        current,
        previous,
        performance.significance,
        Breakdowns(employee=employee, team_median=team_median),
        extra=None,
        notes=[*ctx.coverage_notes(),
               *([] if ctx.coverage.empty else [*_notes(current, staff, employee, ctx),
                                                *partial])],
    )


def _notes(current: performance.Summary, staff: pd.DataFrame, employee: pd.DataFrame,
           ctx: ReportContext) -> list[str]:
    """What the page's numbers leave out (a page without data has none: its coverage
    sentence says why)."""
    as_of = _("as of {as_of}").format(as_of=ctx.as_of)
    return [
        *_ticket_notes(current, as_of),
        *_task_notes(current, as_of),
        *_people_notes(current, staff, employee, ctx),
        *ctx.import_notes(*_NOTE_TABLES, columns={"deals": _NOTE_DEAL_COLUMNS}),
    ]


def _unanswered_note(n: int, past: int, as_of: str) -> str:
    """The tickets of the period without a first response, and how many of them are past
    their SLA deadline (counted as SLA misses)."""
    note = ngettext(
        "{n} ticket opened in the period has no first response ({as_of}): left out of the "
        "first-response times, counted as unanswered.", "{n} tickets opened in the period have "
        "no first response ({as_of}): left out of the first-response times, counted as "
        "unanswered.", n).format(n=_count(n), as_of=as_of)
    if not past:
        return note
    if n == 1:
        return note + " " + _("It is past its SLA deadline and counts as an SLA miss.")
    return note + " " + ngettext(
        "{past} of them is past its SLA deadline and counts as an SLA miss.",
        "{past} of them are past their SLA deadline and count as SLA misses.", past
    ).format(past=_count(past))


def _ticket_notes(current: performance.Summary, as_of: str) -> list[str]:
    tk, nobody = current["tickets"], current["unassigned"]
    notes = []
    if tk["tickets_unanswered"]:
        notes.append(_unanswered_note(tk["tickets_unanswered"], tk["unanswered_past_sla"], as_of))
    if tk["sla_pending"]:
        notes.append(ngettext(
            "{n} unanswered ticket still has its SLA deadline ahead ({as_of}): left out of "
            "SLA compliance.", "{n} unanswered tickets still have their SLA deadline ahead "
            "({as_of}): left out of SLA compliance.", tk["sla_pending"]).format(
            n=_count(tk["sla_pending"]), as_of=as_of))
    if tk["no_sla"]:
        notes.append(ngettext(
            "{n} ticket opened in the period has no sla_due_at: left out of SLA compliance.",
            "{n} tickets opened in the period have no sla_due_at: left out of SLA compliance.",
            tk["no_sla"]).format(n=_count(tk["no_sla"])))
    if nobody["tickets_assigned"] or nobody["tickets_resolved"]:
        notes.append(_(
            "Tickets with no assignee: {opened} opened and {resolved} resolved in the period. "
            "They count in the team totals, in no person's row.").format(
            opened=_count(nobody["tickets_assigned"]), resolved=_count(nobody["tickets_resolved"])))
    return notes


def _task_notes(current: performance.Summary, as_of: str) -> list[str]:
    tasks, nobody = current["tasks"], current["unassigned"]
    notes = []
    if nobody["activities"]:
        notes.append(ngettext(
            "{n} activity has no employee: counted in the team total of activities, in no "
            "person's row.", "{n} activities have no employee: counted in the team total of "
            "activities, in no person's row.", nobody["activities"]).format(
            n=_count(nobody["activities"])))
    if nobody["csat_responses"]:
        notes.append(ngettext(
            "{n} CSAT response rates no employee: left out of CSAT here (the Customer "
            "satisfaction report counts it).", "{n} CSAT responses rate no employee: left "
            "out of CSAT here (the Customer satisfaction report counts them).",
            nobody["csat_responses"]).format(n=_count(nobody["csat_responses"])))
    if tasks["tasks_no_due"]:
        notes.append(ngettext(
            "{n} task completed in the period has no due date: counted as completed, not in "
            "overdue or on-time.", "{n} tasks completed in the period have no due date: "
            "counted as completed, not in overdue or on-time.", tasks["tasks_no_due"]).format(
            n=_count(tasks["tasks_no_due"])))
    if tasks["tasks_pending"]:
        notes.append(ngettext(
            "{n} task due in the period is open but not due yet ({as_of}): not counted as "
            "overdue or on time.", "{n} tasks due in the period are open but not due yet "
            "({as_of}): not counted as overdue or on time.", tasks["tasks_pending"]).format(
            n=_count(tasks["tasks_pending"]), as_of=as_of))
    return notes


def _people_notes(current: performance.Summary, staff: pd.DataFrame, employee: pd.DataFrame,
                  ctx: ReportContext) -> list[str]:
    notes = []
    partial = employee[~employee["full_period"]]
    for name, note in zip(partial["name"], partial["note"], strict=True):
        notes.append(_("{name}: {note}. Shown, but left out of the team medians and ranks.")
                     .format(name=name, note=_person_note(note)))
    no_change = employee[employee["full_period"] & ~employee["full_comparison"]]
    if ctx.comparison is not None and ctx.compared and len(no_change):
        notes.append(_("Not compared with {period} (not employed all of it): {names}.").format(
            period=ctx.comparison.label, names=", ".join(no_change["name"].astype(str))))
    gone = staff[~staff["employed"] & staff["left_at"].notna()
                 & (staff["left_at"] < pd.Timestamp(ctx.period.start_utc))]
    gone = gone[~gone["employee_id"].isin(employee["employee_id"])]
    if len(gone):
        notes.append(ngettext(
            "{n} former employee who left before the period and has nothing in it is not "
            "listed.", "{n} former employees who left before the period and have nothing in "
            "it are not listed.", len(gone)).format(n=_count(len(gone))))
    if current["metrics"]["quota_attainment"] is None:
        notes.append(_("No quota overlaps this period: quota attainment is N/A."))
    return notes


#: The words of a person's note (``crmkit.metrics.performance.roster``), translated one by
#: one as the leaderboard translates them: the note's dates and period stay as they are.
_NOTE = re.compile(r"joined|left|partial period|before the period|after the period|"
                   r"no change vs|\(partial there\)|not in the employee list")


def _person_note(note: object) -> str:
    """A note on a person ("joined 2025-06-10: partial period") in the active locale."""
    return _NOTE.sub(lambda m: _(m.group(0)), str(note))


def _count(n: int) -> str:
    return i18n.decimal(f"{n:,}")


SPEC = ReportSpec.of(
    CATALOG["performance"],
    headline=HEADLINE,
    definitions=(*HEADLINE, "tasks_due", "tickets_assigned", "workload"),
    build=build,
    reads=("activities", "deals", "employees", "quotas", "survey_responses", "tasks", "tickets"),
)
