"""What makes a report: its :class:`ReportSpec`, declared once in ``crmkit/reports/<id>.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmkit.catalog import Entry
    from crmkit.reports.context import ReportContext
    from crmkit.reports.data import ReportData


@dataclass(frozen=True)
class ReportSpec:
    """A standard report: everything the runner, the index and the notebook need to know.

    ``id`` is the report's name everywhere: its module (``crmkit.reports.<id>``), its charts
    (``crmkit.render.charts.<id>``), its notebook (``notebooks/<id>.ipynb``) and its files.
    """

    id: str
    title: str
    #: Metrics on the page's KPI cards, in order.
    headline: tuple[str, ...]
    #: Metrics shown for this report on the index page.
    index_kpis: tuple[str, ...]
    #: The metrics the page shows (on its cards, tables and charts), each defined in its
    #: Definitions section; no other (the JSON twin defines every metric it holds).
    definitions: tuple[str, ...]
    #: ``build(ctx, **report_parameters) -> ReportData``: computes the whole report.
    build: Callable[..., ReportData[Any, Any]]
    #: The tables ``build`` reads (besides the coverage every page states): the refresh
    #: cache re-renders the page when one of them changes for its team. Empty: all tables.
    reads: tuple[str, ...] = ()

    @classmethod
    def of(cls, entry: Entry, **rest: Any) -> ReportSpec:
        """The spec of the standard report ``entry`` of :data:`crmkit.catalog.CATALOG` (its
        id, title and index metrics), with the ``rest`` of its fields."""
        return cls(id=entry.id, title=entry.title, index_kpis=entry.index_kpis, **rest)

    def defined_on(self, ctx: ReportContext) -> tuple[str, ...]:
        """The metrics a page defines: :attr:`definitions`, or none on a page whose period
        and team have no data (it shows no number; its header says why)."""
        return () if ctx.coverage.empty else self.definitions
