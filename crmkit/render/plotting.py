"""The charting stack, loaded once for every report: matplotlib drawing off-screen (charts
are embedded as PNG images), with the crmkit theme, new figures in it, the reports' bars and
the axis formats of money and rates.

A chart is a :class:`ChartFigure` (:mod:`crmkit.render.figures`): a matplotlib figure made
without pyplot (nothing to close, nothing a notebook's inline backend shows a second time),
which an analyst restyles and saves like any figure (``fig.axes[0].set_title(...)``,
``fig.savefig("x.png")``) and which becomes the page's embedded PNG only when it is
displayed (:meth:`ChartFigure._repr_html_`).

The theme is seaborn's "whitegrid" style in its "notebook" context with crmkit's colours
and text sizes, set as matplotlib's rcParams (:data:`THEME`, the very values
``seaborn.set_theme`` sets, tested), and the bars are drawn as seaborn's ``barplot`` draws
them (:func:`bars`), so a report that draws no heatmap loads neither seaborn nor pyplot
(about 0.1 s of every kernel's start). ``plotting.sns`` and ``plotting.plt`` load them on
first use, seaborn the quick way (:func:`seaborn`).

seaborn imports ``scipy.stats`` as it loads, only for its kernel density estimate, and
falls back to the copy of that estimator it ships when ``scipy.stats`` cannot be imported;
it imports ``scipy.cluster`` (with ``scipy.spatial`` and ``scipy.linalg``) only for
``clustermap``. Importing ``scipy.stats`` costs about a second (it rewrites hundreds of
docstrings) and ``scipy.cluster`` a third of one, spent again in every new kernel, while the
reports draw neither. So seaborn is imported here with both hidden for that moment;
afterwards ``import scipy.stats`` works as usual, and ``clustermap`` imports
``scipy.cluster.hierarchy`` when it is first called. The one difference for a custom report
is that seaborn's KDE plots use seaborn's own estimator (same results), and a cumulative KDE
(``kdeplot(cumulative=True)``) needs ``import scipy.stats`` before ``import crmkit``.
"""

from __future__ import annotations

import colorsys
import functools
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import matplotlib
import pandas as pd
from cycler import cycler
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import RcKeyType

from crmkit._lazy import OnFirstUse, hidden
from crmkit.render.figures import (
    DPI,
    FOOT_LEGEND,
    HEIGHT,
    MARGIN,
    MAX_WIDTH,
    MIN_TEXT_PX,
    PHONE_WIDTH,
    PLAIN_TEXT,
    TICK_PT,
    WIDTH,
    ChartFigure,
    LocalPercent,
    money_tick,
    plain_text,
    png,
)
from crmkit.render.formatting import SERIES

matplotlib.use("Agg")


#: What seaborn imports as it loads and the reports never use (module docstring).
_HIDDEN = ("scipy.stats", "scipy.cluster")


@functools.cache
def seaborn() -> ModuleType:
    """seaborn, imported the quick way (module docstring); its colormaps ("rocket", the
    theme's colormap of images) are known from then on."""
    with hidden(*([] if "seaborn" in sys.modules else _HIDDEN)):
        import seaborn
        import seaborn.matrix
    if seaborn.matrix._no_scipy:  # clustermap still works: scipy is imported on first use
        seaborn.matrix.hierarchy = OnFirstUse("scipy.cluster.hierarchy")
        seaborn.matrix._no_scipy = False
    return seaborn


def __getattr__(name: str) -> Any:
    """``sns`` (seaborn) and ``plt`` (pyplot), loaded when first asked for."""
    if name == "sns":
        return seaborn()
    if name == "plt":
        import matplotlib.pyplot as plt  # lazy: a report's charts do without pyplot

        return plt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DPI", "MAX_WIDTH", "MIN_TEXT_PX", "PHONE_WIDTH", "PLAIN_TEXT", "TICK_PT", "ChartFigure", "figure",
    "money_axis", "percent_axis", "plain_text", "png",
]

_TEXT: dict[RcKeyType, Any] = {
    "font.size": TICK_PT, "axes.titlesize": 12.5, "axes.labelsize": 11, "xtick.labelsize": TICK_PT,
    "ytick.labelsize": TICK_PT, "legend.fontsize": 10.5, "legend.title_fontsize": 11,
}


#: Titles sit just above their axes, where matplotlib's automatic placement puts them on
#: the reports' charts (no tick labels on top): placed, not searched for on every layout
#: pass and draw, which was a quarter of a chart's time. A chart with tick labels on top
#: lifts its title with ``ax.set_title(..., y=1.1)``.
_TITLE: dict[RcKeyType, Any] = {"axes.titley": 1.0}


#: seaborn's "whitegrid" style (``seaborn.axes_style("whitegrid")``) and "notebook" context
#: (``seaborn.plotting_context("notebook")``), as ``seaborn.set_theme`` sets them, but for
#: the colormap of images (seaborn's "rocket", known only once seaborn is loaded).
_SEABORN: dict[RcKeyType, Any] = {
    "figure.facecolor": "white", "axes.labelcolor": ".15", "xtick.direction": "out",
    "ytick.direction": "out", "xtick.color": ".15", "ytick.color": ".15",
    "axes.axisbelow": True, "grid.linestyle": "-", "text.color": ".15",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "xtick.top": False, "ytick.right": False, "axes.grid": True, "axes.facecolor": "white",
    "axes.edgecolor": ".8", "grid.color": ".8", "axes.spines.left": True,
    "axes.spines.bottom": True, "axes.spines.right": True, "axes.spines.top": True,
    "xtick.bottom": False, "ytick.left": False,
    "font.size": 12.0, "axes.labelsize": 12.0, "axes.titlesize": 12.0, "xtick.labelsize": 11.0,
    "ytick.labelsize": 11.0, "legend.fontsize": 11.0, "legend.title_fontsize": 12.0,
    "axes.linewidth": 1.25, "grid.linewidth": 1.0, "lines.linewidth": 1.5,
    "lines.markersize": 6.0, "patch.linewidth": 1.0, "xtick.major.width": 1.25,
    "ytick.major.width": 1.25, "xtick.minor.width": 1.0, "ytick.minor.width": 1.0,
    "xtick.major.size": 6.0, "ytick.major.size": 6.0, "xtick.minor.size": 4.0,
    "ytick.minor.size": 4.0,
}

#: The crmkit theme: what ``seaborn.set_theme(style="whitegrid", palette=SERIES, rc=...)``
#: sets, with crmkit's resolution, text sizes and titles.
THEME: dict[RcKeyType, Any] = {
    **_SEABORN, "axes.prop_cycle": cycler(color=[to_rgb(c) for c in SERIES]),
    "figure.dpi": DPI, "savefig.dpi": DPI, **_TEXT, **_TITLE, **PLAIN_TEXT,
}


def _theme() -> None:
    """The theme, set again for every new figure (a notebook may have changed it)."""
    matplotlib.rcParams.update(THEME)
    if "seaborn" in sys.modules:  # its colormaps are known
        matplotlib.rcParams["image.cmap"] = "rocket"


def foot_legend(ax: Any, handles: list[Any] | None = None) -> Any:
    """The legend of ``ax`` across the foot of its figure, under the axis labels, where it
    covers no bar, point or value (inside the axes, a corner of it covered the ends of the
    bars and the values nearest that corner); the layout keeps room for it, in as many
    columns as fit (:meth:`ChartFigure.tight_layout`). ``handles``: the artists
    it names (by their labels), when not those of ``ax``: a figure of several panels."""
    if ax.get_legend() is not None:  # matplotlib's or seaborn's, inside the axes
        ax.get_legend().remove()
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    else:  # as matplotlib does, leaving out artists without a label ('_...')
        handles = [h for h in handles if not str(h.get_label()).startswith("_")]
        labels = [str(h.get_label()) for h in handles]
    fig = ax.get_figure()
    for old in [legend for legend in fig.legends if getattr(legend, FOOT_LEGEND, False)]:
        old.remove()  # one legend at the foot
    if not labels:
        return None
    renderer = fig._get_renderer()
    room = fig.bbox.width - 2 * MARGIN * matplotlib.rcParams["font.size"] * fig.dpi / 72
    for columns in range(len(labels), 0, -1):  # in one row if it fits the width
        legend = fig.legend(handles, labels, loc="lower center", ncols=columns, frameon=False)
        if columns == 1 or legend.get_window_extent(renderer).width <= room:
            break
        legend.remove()
    setattr(legend, FOOT_LEGEND, True)
    return legend


def figure(width: float = WIDTH, height: float = HEIGHT) -> tuple[ChartFigure, Any]:
    """A new figure and its axes in the crmkit theme (give it a title with
    :func:`crmkit.render.blocks.chart`). Sizes are in inches; a width over
    :data:`MAX_WIDTH` is narrowed to it, so that no chart's text is too small to read on a
    phone (lay panels out one above the other rather than side by side). Titles and axis
    labels too long for the width wrap onto a second line. The figure is not pyplot's: it
    needs no closing, and ``plt.gcf()`` does not return it."""
    _theme()
    fig = ChartFigure(figsize=(min(width, MAX_WIDTH), height))
    FigureCanvasAgg(fig)  # draws off-screen whatever pyplot's backend is
    return fig, fig.subplots()


#: How much of its colour a bar keeps (seaborn's ``barplot`` saturation, which the
#: reports' bars have always been drawn with).
BAR_SATURATION = 0.75


def bars(ax: Any, categories: Sequence[str], values: Sequence[Sequence[float]],
         colours: Sequence[Any], *, labels: Sequence[str] | None = None,
         horizontal: bool = False) -> list[BarContainer]:
    """Bars by category: one series of ``values`` per colour (a value per category, NaN: no
    bar), side by side within each category, or one series whose bars take a colour each
    (``values`` of one series, ``colours`` one per category). ``labels`` name the series in
    the axes' legend (made by :func:`foot_legend`). Drawn as seaborn's ``barplot`` draws
    aggregated rows (the same image, byte for byte): the categories the axis's units (a
    line at ``"2025-03"`` goes through its bar), 0.8 of a category's width shared by the
    series, colours desaturated to :data:`BAR_SATURATION`, the category axis without grid
    lines from -0.5 to n - 0.5, the first category at the top of a horizontal chart. A tenth
    of seaborn's time: its barplot aggregates each bar's single row in pandas. One
    :class:`~matplotlib.container.BarContainer` per series (``ax.containers``)."""
    per_bar = _checked_bars(categories, values, colours, labels)
    shades = [desaturate(colour) for colour in colours]
    axis = ax.yaxis if horizontal else ax.xaxis
    axis.update_units(list(categories))
    width = 0.8 / len(values)
    drawn = []
    for n, series in enumerate(values):
        offset = width * n + width / 2 - 0.8 / 2
        kept = [(i, float(v)) for i, v in enumerate(series) if not pd.isna(v)]
        edges, lengths = [i + offset - width / 2 for i, _v in kept], [v for _i, v in kept]
        colour: Any = [shades[i] for i, _v in kept] if per_bar else shades[n]
        if horizontal:
            drawn.append(ax.barh(y=edges, width=lengths, height=width, align="edge", color=colour,
                                 facecolor=colour))
        else:
            drawn.append(ax.bar(x=edges, height=lengths, width=width, align="edge", color=colour,
                                facecolor=colour))
    for n, label in enumerate(labels or ()):  # a legend entry: an empty patch in its colour
        ax.add_artist(Rectangle((0, 0), 0, 0, facecolor=shades[n], label=label))
    axis.set_ticks(range(len(categories)), list(categories))
    axis.grid(False)
    if horizontal:
        ax.set_ylim(len(categories) - 0.5, -0.5, auto=None)
    else:
        ax.set_xlim(-0.5, len(categories) - 0.5, auto=None)
    return drawn


def _checked_bars(categories: Sequence[str], values: Sequence[Sequence[float]],
                  colours: Sequence[Any], labels: Sequence[str] | None) -> bool:
    """Whether :func:`bars` colours each bar (one series, a colour per category); a
    ValueError saying what does not fit."""
    if not values:
        raise ValueError("bars: no series to draw")
    if any(len(series) != len(categories) for series in values):
        raise ValueError(f"bars: each series needs a value per category ({len(categories)})")
    per_bar = len(values) == 1 and len(colours) == len(categories) > 1
    if not per_bar and len(colours) != len(values):
        raise ValueError(f"bars: {len(colours)} colours for {len(values)} series "
                         f"(one series may take one per category, {len(categories)})")
    if labels is not None and (per_bar or len(labels) != len(values)):
        raise ValueError("bars: a legend names each series once, in a colour of its own")
    return per_bar


def desaturate(colour: Any, keep: float = BAR_SATURATION) -> tuple[float, float, float]:
    """``colour`` with ``keep`` of its saturation (in HLS), as seaborn's ``desaturate``."""
    rgb = to_rgb(colour)
    if keep == 1:
        return rgb
    hue, lightness, saturation = colorsys.rgb_to_hls(*rgb)
    return colorsys.hls_to_rgb(hue, lightness, saturation * keep)


def money_axis(ax: Any, axis: str = "y") -> None:
    """Ticks of a money axis in the pages' compact form (12.3k, 1.20M); the currency goes
    in the axis label. Ticks under 1 (a near-empty axis) keep two decimals, so no two
    ticks read the same ("0, 0, 0, -0")."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(money_tick))


def percent_axis(ax: Any, axis: str = "y") -> None:
    """Ticks of a rate axis (0..1) in percent (the active locale's digits and sign)."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(LocalPercent(1.0))


