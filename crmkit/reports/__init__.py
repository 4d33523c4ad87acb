"""The reports: one module per report id, each declaring its :class:`ReportSpec` (made from
its entry of the catalogue, :data:`crmkit.catalog.CATALOG`, which names the reports without
loading them: what a run's command and the index read), and the registry of the specs
(presets' ``reports: all``, ``new-report``, the definitions docs).

A notebook opens its context with :func:`open_report` and builds its data with its
report's ``build`` (``crmkit.reports.sales.build(ctx)``).
"""

from __future__ import annotations

import os
from datetime import date

from crmkit import i18n
from crmkit._docstrings import doc
from crmkit.catalog import CATALOG, title
from crmkit.parameters import ALL_TEAMS, resolve
from crmkit.reports import activity, marketing, performance, sales, satisfaction
from crmkit.reports.context import ReportContext
from crmkit.reports.data import JSON_MIMETYPE, ReportData
from crmkit.reports.spec import ReportSpec
from crmkit.store import Store

__all__ = ["JSON_MIMETYPE", "REPORTS", "ReportContext", "ReportData", "ReportSpec",
           "open_report", "title"]

#: Each standard report's module by id.
MODULES = {module.SPEC.id: module for module in (sales, activity, marketing, performance, satisfaction)}

#: The standard reports by id, in the order the index lists them (that of
#: :data:`crmkit.catalog.CATALOG`, which names them without loading them).
REPORTS: dict[str, ReportSpec] = {report: MODULES[report].SPEC for report in CATALOG}


def open_report(
    report: str,
    *,
    period: str = "last-month",
    team: str = ALL_TEAMS,
    compare_to: str = "previous",
    as_of: str | date | None = None,
    database: str | os.PathLike[str] | None = None,
    timezone: str | None = None,
    store: Store | None = None,
    locale: str | None = None,
) -> ReportContext:
    """Resolve a report's parameters against the data; raise a one-line error if invalid.
    The report is written in ``locale`` (None: the dataset's ``locale`` setting, else
    English), which becomes the active locale of the run (:mod:`crmkit.i18n`)."""
    store = store or Store.shared(database)
    i18n.set_locale(locale or store.settings.get("locale") or i18n.DEFAULT)
    params = resolve(
        period=period,
        team=team,
        compare_to=compare_to,
        as_of=as_of,
        timezone=timezone,
        settings=store.settings,
        teams=store.teams(),
    )
    return ReportContext(report, title(report), store, params.period, params.comparison,
                         params.compare_to, params.team, params.as_of)


open_report.__doc__ = (
    (open_report.__doc__ or "")
    + "\n\n"
    + doc("period", "team", "compare_to", "as_of", "database", "timezone")
    + "\n    locale: the language and formats of the page (``ru``, ``en``); None: the dataset's."
)
