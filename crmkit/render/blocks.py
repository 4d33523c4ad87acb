"""Report building blocks: header, KPI cards, tables, charts, definitions, data notes, and
the JSON twin.

Each block returns an :class:`IPython.display.HTML` object that renders the same in
JupyterLab and in the published page, drawn from a template of
``crmkit/render/templates/`` by the package's one autoescaping environment
(:mod:`crmkit.render.templating`): every piece of user data that reaches HTML is escaped
there. Charts are PNG images embedded in the page (no scripts, no remote assets), so a page
opens offline.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import HTML, display
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.patches import Rectangle

from crmkit.metrics.definitions import METRICS, Metric
from crmkit.render.formatting import CSS, PALETTE, fmt, fmt_change
from crmkit.render.plotting import figure, money_axis, percent_axis, plain_text, plt
from crmkit.render.templating import html_block
from crmkit.reports.context import ReportContext
from crmkit.reports.data import JSON_MIMETYPE, ReportData
from crmkit.stats import SMALL_SAMPLE

__all__ = [
    "Cell", "Row", "card_specs", "cards", "chart", "definitions", "empty_note", "fmt", "header",
    "kpi_cards", "notes", "publish", "shows_data", "table", "text", "text_table", "trend_chart",
]


# -- header and KPI cards -------------------------------------------------------------------


def header(ctx: ReportContext | Mapping[str, Any]) -> HTML:
    """The standard report header: what, when, for whom, from which data, by which version.

    ``ctx`` is the report's context, or the mapping its ``meta()`` returns (title,
    period_label, period_dates, team_name, comparison, timezone, as_of, generated_at,
    fingerprint, version). The page's stylesheet comes with it.
    """
    meta = ctx if isinstance(ctx, Mapping) else ctx.meta()
    return html_block("header.html.j2", css=CSS, meta=meta)


def cards(data: ReportData[Any, Any], *names: str) -> HTML:
    """KPI cards of the named metrics of a report, with their comparison, change and test."""
    specs = card_specs(data, *names)
    return kpi_cards(specs, data.context.currency, note=empty_note(data.context, specs))


def card_specs(data: ReportData[Any, Any], *names: str) -> list[dict[str, Any]]:
    """The cards' data (:meth:`~crmkit.reports.data.ReportData.card`). Against a comparison
    period that begins before some kind of record does, a comparison value of 0 or N/A is
    missing data, not a quiet period: such a card drops its change and test and says so."""
    specs = [data.card(name) for name in names]
    if data.context.coverage.comparison_before_data:
        for spec in specs:
            if "previous" in spec and spec["previous"] in (None, 0):
                spec.update(change=None, before_data=True)
                spec.pop("test", None)
    return specs


def empty_note(ctx: ReportContext, cards: Sequence[Mapping[str, Any]]) -> str | None:
    """The sentence shown above KPI cards that all have nothing to show (every count 0,
    every other value N/A), so a row of zeros and dashes never stands without a reason
    (none when the page header already says that the whole page is empty)."""
    if ctx.coverage.empty or any(card.get("value") not in (None, 0) for card in cards):
        return None
    return (f"Nothing was recorded for these numbers for {ctx.team_name} in {ctx.period.label} "
            f"({ctx.period.start} to {ctx.period.last_day}): counts are 0 and rates, averages "
            "and times are N/A (—).")


@dataclass(frozen=True)
class _Change:
    words: str | None  # a change that cannot be shown, in words (never "— vs —")
    css_class: str  # ck-up (better), ck-down (worse) or ck-flat
    arrow: str
    shown: str
    previous: str
    significance: str


@dataclass(frozen=True)
class _Card:
    name: str
    label: str
    value: str
    interval: tuple[str, str] | None
    n: str | None
    small: bool
    change: _Change | None


def kpi_cards(cards: Sequence[Mapping[str, Any]], currency: str = "", note: str | None = None
              ) -> HTML:
    """KPI cards. Each card: ``name`` (a METRICS name), ``value``, optional ``previous``,
    ``change``, ``test`` (a :class:`~crmkit.stats.Test`), ``interval`` and ``n``; ``note``
    is a sentence shown above them (see :func:`empty_note`)."""
    return html_block("cards.html.j2", cards=[_card(card, currency) for card in cards],
                      note=note)


def _card(card: Mapping[str, Any], currency: str) -> _Card:
    m = METRICS[card["name"]]
    interval = card.get("interval")
    n = card.get("n")
    return _Card(
        name=m.name,
        label=m.label,
        value=fmt(card.get("value"), m.unit, currency),
        interval=(
            (fmt(interval.low, m.unit, currency), fmt(interval.high, m.unit, currency))
            if interval is not None and interval.low is not None
            else None
        ),
        n=None if n is None else (f"{n:,}" if n else "0 (no data)"),
        small=n is not None and 0 < n < SMALL_SAMPLE,
        change=_change(card, m, currency) if "previous" in card else None,
    )


def _no_change(value: Any, previous: Any, before_data: bool | None) -> str | None:
    if before_data:
        return "no comparison: that period is before the data"
    if value == 0 and previous == 0:
        return "0 in both periods"
    if previous is None:
        return "N/A in both periods" if value is None else "N/A in the comparison period"
    return None


def _change(card: Mapping[str, Any], m: Metric, currency: str) -> _Change:
    """The card's last line: the change (coloured by whether it is better), the previous
    value and the test in words."""
    ch = card.get("change")
    css_class = "ck-flat"
    if ch is not None and ch != 0:
        css_class = "ck-up" if (ch > 0) == m.higher_is_better else "ck-down"
    shown = fmt_change(ch)
    if m.change_in_points:
        now, before = card.get("value"), card.get("previous")
        shown = f"{now - before:+.1f} pts" if now is not None and before is not None else "—"
    test = card.get("test")
    significance = ""
    if test is not None and test.p_value is not None:
        significance = " · significant" if test.significant else " · not significant"
        significance += f" (p={test.p_value:.3f})" if test.p_value >= 0.001 else " (p<0.001)"
    return _Change(
        words=_no_change(card.get("value"), card.get("previous"), card.get("before_data")),
        css_class=css_class,
        arrow="▲" if (ch or 0) > 0 else ("▼" if (ch or 0) < 0 else ""),
        shown=shown,
        previous=fmt(card.get("previous"), m.unit, currency),
        significance=significance,
    )


# -- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, and optionally a class, an inline style, a tooltip and a
    flag (a small tag after the text, e.g. 'provisional')."""

    text: str
    css_class: str | None = None
    style: str | None = None
    title: str | None = None
    flag: str | None = None


@dataclass(frozen=True)
class Row:
    """One table row: its cells and optionally an inline style (e.g. a shaded loss-maker)."""

    cells: Sequence[Cell]
    style: str | None = None


def text_table(head: Sequence[str], rows: Sequence[Row], caption: str | None = None,
               hidden: int = 0) -> HTML:
    """A table of cells already formatted as text; ``hidden`` rows were left out (they are
    in the JSON). For tables whose rows or cells carry a style; :func:`table` draws a frame."""
    return html_block("table.html.j2", head=head, rows=rows, caption=caption, hidden=hidden)


def table(
    df: pd.DataFrame,
    units: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    currency: str = "",
    caption: str | None = None,
    max_rows: int = 50,
) -> HTML:
    """A small HTML table of a frame's first ``max_rows`` rows; numbers formatted by
    ``units``, headings from ``labels`` (else the column name)."""
    units = dict(units or {})
    labels = dict(labels or {})
    head = [labels.get(c, c.replace("_", " ")) for c in df.columns]
    rows = [
        Row([_frame_cell(row[c], units.get(c), currency) for c in df.columns])
        for _, row in df.head(max_rows).iterrows()
    ]
    return text_table(head, rows, caption, hidden=max(len(df) - max_rows, 0))


def _frame_cell(value: Any, unit: str | None, currency: str) -> Cell:
    if unit is not None:
        return Cell(fmt(None if pd.isna(value) else value, unit, currency), css_class="n")
    missing = value is None or (isinstance(value, float) and pd.isna(value))
    return Cell("" if missing else str(value))


# -- words ----------------------------------------------------------------------------------


def definitions(names: Iterable[str]) -> HTML:
    """The definition in words of every metric named."""
    return html_block("definitions.html.j2", metrics=[METRICS[name] for name in names])


def notes(lines: Sequence[str]) -> HTML:
    """Data notes: rows excluded and why, data-quality findings from the import."""
    return html_block("notes.html.j2", lines=lines)


def text(message: str) -> HTML:
    """A short paragraph (e.g. a chart's 'no data' message)."""
    return html_block("text.html.j2", message=message)


# -- charts ---------------------------------------------------------------------------------


def chart(fig: Any, title: str, caption: str = "") -> HTML:
    """Embed a matplotlib figure as a PNG image (self-contained), then close it.

    A figure that shows no data (no bar of any length, no point, no cell: a period or team
    without records) becomes a sentence instead, never empty axes."""
    if not shows_data(fig):
        plt.close(fig)
        return text(f"{title}: nothing to chart, every value is 0 or missing for this period "
                    "and team.")
    buf = io.BytesIO()
    with plain_text():  # tick labels are made as the figure is drawn: plain text too
        fig.tight_layout()
        fig.savefig(buf, format="png")
    plt.close(fig)
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    return html_block("figure.html.j2", title=title, caption=caption, png=png)


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
) -> HTML:
    """A bar chart of one measure over time (e.g. ``sales.monthly_trend``); bars whose ``x``
    is in ``highlight`` are drawn darker."""
    if df.empty:
        return text("Nothing to chart for this period.")
    fig, ax = figure()
    colours = [PALETTE["primary"] if v in highlight else PALETTE["secondary"] for v in df[x]]
    ax.bar(df[x].astype(str), df[y], color=colours)
    label = y.replace("_", " ").capitalize()
    ax.set_ylabel(f"{label} ({currency})" if unit == "money" and currency else label)
    ax.set_xlabel(x.replace("_", " ").capitalize())
    if unit == "money":
        money_axis(ax)
    elif unit == "rate":
        percent_axis(ax)
    ax.tick_params(axis="x", rotation=45)
    ax.set_title(title or f"{label} by {x}")
    return chart(fig, title or f"{label} by {x}")


# -- the JSON twin --------------------------------------------------------------------------


def publish(data: ReportData[Any, Any]) -> None:
    """Emit the report's JSON twin as a notebook output that the runner saves beside the page."""
    display(
        {
            JSON_MIMETYPE: data.to_json(),
            "text/plain": f"crmkit {data.context.report} report data ({len(data.metrics)} metrics)",
        },
        raw=True,
    )
