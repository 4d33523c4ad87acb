"""The charting stack, loaded once for every report: matplotlib drawing off-screen (charts
are embedded as PNG images) and seaborn, with the crmkit theme, new figures in it and the
axis formats of money and rates.

A chart is a :class:`ChartFigure` (:mod:`crmkit.render.figures`): a matplotlib figure made
without pyplot (nothing to close, nothing a notebook's inline backend shows a second time),
which an analyst restyles and saves like any figure (``fig.axes[0].set_title(...)``,
``fig.savefig("x.png")``) and which becomes the page's embedded PNG only when it is
displayed (:meth:`ChartFigure._repr_html_`).

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

import sys
from types import ModuleType
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
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


def _import_seaborn() -> ModuleType:
    # imported here, not at the top, to hide scipy.stats and scipy.cluster for that moment
    with hidden(*([] if "seaborn" in sys.modules else _HIDDEN)):
        import seaborn
        import seaborn.matrix
    if seaborn.matrix._no_scipy:  # clustermap still works: scipy is imported on first use
        seaborn.matrix.hierarchy = OnFirstUse("scipy.cluster.hierarchy")
        seaborn.matrix._no_scipy = False
    return seaborn


sns = _import_seaborn()

import matplotlib.pyplot as plt  # noqa: E402

__all__ = [
    "DPI", "MAX_WIDTH", "MIN_TEXT_PX", "PHONE_WIDTH", "PLAIN_TEXT", "TICK_PT", "ChartFigure", "figure",
    "money_axis", "percent_axis", "plain_text", "plt", "png", "sns",
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


def _theme() -> None:
    sns.set_theme(
        style="whitegrid",
        palette=SERIES,
        rc={"figure.dpi": DPI, "savefig.dpi": DPI, **_TEXT, **_TITLE, **PLAIN_TEXT},
    )


def foot_legend(ax: Any, handles: list[Any] | None = None) -> Any:
    """The legend of ``ax`` across the foot of its figure, under the axis labels, where it
    covers no bar, point or value (inside the axes, a corner of it covered the ends of the
    bars and the values nearest that corner); the layout keeps room for it, in as many
    columns as fit (:meth:`ChartFigure.tight_layout`). ``handles``: the artists
    it names (by their labels), when not those of ``ax``: a figure of several panels."""
    if ax.get_legend() is not None:  # seaborn's, inside the axes
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


def money_axis(ax: Any, axis: str = "y") -> None:
    """Ticks of a money axis in the pages' compact form (12.3k, 1.20M); the currency goes
    in the axis label. Ticks under 1 (a near-empty axis) keep two decimals, so no two
    ticks read the same ("0, 0, 0, -0")."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(money_tick))


def percent_axis(ax: Any, axis: str = "y") -> None:
    """Ticks of a rate axis (0..1) in percent (the active locale's digits and sign)."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(LocalPercent(1.0))


