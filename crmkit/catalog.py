"""The standard reports as the pages name them: each one's id, title and the metrics the
index shows for it, in the order the index lists them.

This is what the command that runs a report needs of the registry
(:data:`crmkit.reports.REPORTS`) for the page's navigation, the index and the trust it
gives a notebook; the registry itself loads every report's metric layer (pandas,
narwhals: 0.3 s of the command's CPU while its kernel boots). Each report's
:class:`crmkit.reports.spec.ReportSpec` is made from its entry here
(:meth:`~crmkit.reports.spec.ReportSpec.of`), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOG", "Entry", "title"]


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for the catalogue of messages (as :func:`crmkit.i18n.N_`: this module
    loads no Babel, for a run's command reads it before it starts the kernel's process)."""
    return message


@dataclass(frozen=True)
class Entry:
    """A standard report: its id (its module, notebook and files), its title (English,
    translated where shown) and the metrics the index shows for it."""

    id: str
    title: str
    index_kpis: tuple[str, ...]


#: The standard reports by id, in the order the index lists them.
CATALOG: dict[str, Entry] = {
    entry.id: entry
    for entry in (
        Entry("sales", N_("Sales"), ("revenue", "deals_won", "win_rate")),
        Entry("activity", N_("Customer activity"), ("active_customers", "new_customers")),
        Entry("marketing", N_("Marketing campaigns"), ("cost", "leads", "roi")),
        Entry("performance", N_("Employee performance"), ("tickets_resolved", "sla_compliance")),
        Entry("satisfaction", N_("Customer satisfaction"), ("nps", "csat")),
    )
}


def title(report: str) -> str:
    """A report's title in the active locale: its entry's, or the id in words for a custom
    report."""
    from crmkit.i18n import gettext  # lazy: Babel, once a title is shown

    entry = CATALOG.get(report)
    return gettext(entry.title) if entry else report.replace("_", " ").title()
