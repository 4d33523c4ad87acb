"""Report building blocks: header, KPI cards, tables, charts, definitions, data notes, and
the JSON twin (the cards live in :mod:`crmkit.render.cards`, the tables in
:mod:`crmkit.render.tables`; both are re-exported here, where notebooks call them).

Each block renders the same in JupyterLab and in the published page, drawn from a template
of ``crmkit/render/templates/`` by the package's one autoescaping environment
(:mod:`crmkit.render.templating`): every piece of user data that reaches HTML is escaped
there. Words are :class:`IPython.display.HTML` objects; a chart is its matplotlib figure
(:class:`~crmkit.render.figures.ChartFigure`) and a table a pandas ``Styler``
(:class:`~crmkit.render.tables.Table`), which an analyst restyles before they are shown.
Charts are PNG images embedded in the page (no scripts, no remote assets), so a page opens
offline.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import HTML, display
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from crmkit.i18n import gettext as _
from crmkit.metrics.definitions import lookup
from crmkit.render.cards import card_specs, cards, empty_note, kpi_cards
from crmkit.render.formatting import CSS, PALETTE, fmt
from crmkit.render.plotting import ChartFigure, figure, money_axis, percent_axis, png
from crmkit.render.tables import Cell, Download, csv_download, table
from crmkit.render.templating import html_block
from crmkit.render.whatchanged import summary
from crmkit.reports.context import ReportContext
from crmkit.reports.data import JSON_MIMETYPE, ReportData

__all__ = [
    "Cell", "Download", "card_specs", "cards", "chart", "csv_download", "definitions",
    "empty_note", "fmt", "header", "kpi_cards", "notes", "publish", "shows_data", "summary", "table",
    "text", "trend_chart",
]


# -- header ---------------------------------------------------------------------------------


def header(ctx: ReportContext | Mapping[str, Any]) -> HTML:
    """The standard report header: what, when, for whom, from which data, by which version.

    ``ctx`` is the report's context, or the mapping its ``meta()`` returns (title,
    period_label, period_dates, team_name, comparison, timezone, as_of, generated_at,
    fingerprint, version). The page's stylesheet comes with it.
    """
    meta = ctx if isinstance(ctx, Mapping) else ctx.meta()
    return html_block("header.html.j2", css=CSS, meta=meta)


# -- words ----------------------------------------------------------------------------------


def definitions(names: Iterable[str], ctx: ReportContext | None = None) -> HTML:
    """The definition in words of every metric named: with the report's context, its
    custom metrics (:meth:`ReportContext.metric`) too."""
    find = ctx.definition if ctx is not None else lookup
    return html_block("definitions.html.j2", metrics=[find(name) for name in names])


def notes(lines: Sequence[str]) -> HTML:
    """Data notes: rows excluded and why, data-quality findings from the import."""
    return html_block("notes.html.j2", lines=lines)


def text(message: str) -> HTML:
    """A short paragraph (e.g. a chart's 'no data' message)."""
    return html_block("text.html.j2", message=message)


# -- charts ---------------------------------------------------------------------------------


def _close(fig: Figure) -> None:
    """Close ``fig`` in pyplot, if pyplot made it (then pyplot is loaded)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


def chart(fig: Figure, title: str, caption: str = "") -> ChartFigure | HTML:
    """A figure as a report chart: the figure itself, carrying its ``title`` and
    ``caption``, which a notebook shows as the page's embedded PNG (an analyst may restyle
    or save it first: ``fig.axes[0].set_title("Mine")``, ``fig.savefig("chart.png")``).

    A figure that shows no data (no bar of any length, no point, no cell: a period or team
    without records) becomes a sentence instead, never empty axes. A figure not made by
    :func:`~crmkit.render.plotting.figure` (``plt.subplots()``) is embedded at once and
    closed in pyplot."""
    if not shows_data(fig):
        _close(fig)
        return text(_("{title}: nothing to chart, every value is 0 or missing for this period "
                      "and team.").format(title=title))
    if not isinstance(fig, ChartFigure):
        image = html_block("figure.html.j2", title=title, caption=caption, png=png(fig))
        _close(fig)
        return image
    fig.page_title, fig.caption = title, caption
    return fig


def shows_data(fig: Any) -> bool:
    """Whether any axes of a figure draws data: a bar or patch of some size, a line or
    marker at a finite point in data coordinates, a non-empty collection or image.
    Reference lines (``axhline``, ``axvline``) and texts do not count."""
    return any(_axes_shows_data(ax) for ax in fig.axes)


def _finite_points(points: Any) -> bool:
    """Whether an (n, 2) array of points has a point with both coordinates finite."""
    xy = np.asarray(points, dtype=float).reshape(-1, 2)
    return bool(np.isfinite(xy).all(axis=1).any())


def _axes_shows_data(ax: Any) -> bool:
    if ax.images:
        return True
    data = ax.transData
    for patch in ax.patches:
        if patch.get_data_transform() is not data:
            continue  # a span across the axes (axvspan), not data
        if not isinstance(patch, Rectangle):
            return True
        area = patch.get_width() * patch.get_height()
        if np.isfinite(area) and area != 0:
            return True
    if any(line.get_transform() is data and _finite_points(line.get_xydata())
           for line in ax.lines):
        return True
    for collection in ax.collections:
        if isinstance(collection, PathCollection):  # scatter: markers at offsets
            if _finite_points(collection.get_offsets()):
                return True
        elif isinstance(collection, QuadMesh):  # heatmap cells
            cells = collection.get_array()
            if cells is not None and np.ma.masked_invalid(cells).count():
                return True
        elif any(_finite_points(path.vertices) for path in collection.get_paths()):
            return True
    return False


def trend_chart(
    df: pd.DataFrame, x: str, y: str, unit: str = "count", title: str = "", currency: str = "",
    highlight: Sequence[str] = (),
) -> ChartFigure | HTML:
    """A bar chart of one measure over time (e.g. ``sales.monthly_trend``); bars whose ``x``
    is in ``highlight`` are drawn darker."""
    if df.empty:
        return text(_("Nothing to chart for this period."))
    fig, ax = figure()
    colours = [PALETTE["primary"] if v in highlight else PALETTE["secondary"] for v in df[x]]
    ax.bar(df[x].astype(str), df[y], color=colours)
    label = _(y.replace("_", " ").capitalize())
    ax.set_ylabel(f"{label} ({currency})" if unit == "money" and currency else label)
    ax.set_xlabel(_(x.replace("_", " ").capitalize()))
    if unit == "money":
        money_axis(ax)
    elif unit == "rate":
        percent_axis(ax)
    ax.tick_params(axis="x", rotation=45, rotation_mode="xtick")  # each label ends at its tick
    title = title or _("{label} by {x}").format(label=label, x=x)
    ax.set_title(title)
    return chart(fig, title)


# -- the JSON twin --------------------------------------------------------------------------


def publish(data: ReportData[Any, Any]) -> None:
    """Emit the report's JSON twin as a notebook output that the runner saves beside the page.

    The twin goes as JSON text, not as an object: nbformat accepts either under a JSON
    media type, and text is one value to send, validate, copy and write, where an object
    of a large page (every person's figures at scale 100: 11 MB) is hundreds of thousands,
    which cost seconds on their way through papermill and nbconvert."""
    display(
        {
            JSON_MIMETYPE: json.dumps(data.to_json(), ensure_ascii=False, allow_nan=False),
            "text/plain": f"crmkit {data.context.report} report data ({len(data.metrics)} metrics)",
        },
        raw=True,
    )
