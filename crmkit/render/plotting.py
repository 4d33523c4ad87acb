"""The charting stack, loaded once for every report: matplotlib drawing off-screen (charts
are embedded as PNG images) and seaborn, with the crmkit theme, new figures in it and the
axis formats of money and rates.

seaborn imports ``scipy.stats`` as it loads, only for its kernel density estimate, and
falls back to the copy of that estimator it ships when ``scipy.stats`` cannot be imported.
Importing ``scipy.stats`` costs about a second (it rewrites hundreds of docstrings), which
is a sixth of a single report run and is spent again in every new kernel, while the reports
draw no density estimate. So seaborn is imported here with ``scipy.stats`` hidden for that
moment; afterwards ``import scipy.stats`` works as usual. The one difference for a custom
report is that seaborn's KDE plots use seaborn's own estimator (same results), and a
cumulative KDE (``kdeplot(cumulative=True)``) needs ``import scipy.stats`` before
``import crmkit``.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import matplotlib
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.typing import RcKeyType

from crmkit.render.formatting import SERIES, compact

matplotlib.use("Agg")


def _import_seaborn() -> ModuleType:
    # imported here, not at the top, to hide scipy.stats for that moment (module docstring)
    if "seaborn" in sys.modules or "scipy.stats" in sys.modules:
        import seaborn

        return seaborn
    sys.modules["scipy.stats"] = None  # type: ignore[assignment]  # seaborn: use own KDE
    try:
        import seaborn
    finally:
        if sys.modules.get("scipy.stats", ...) is None:
            del sys.modules["scipy.stats"]
    return seaborn


sns = _import_seaborn()

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["PLAIN_TEXT", "figure", "money_axis", "percent_axis", "plain_text", "plt", "sns"]

#: Every text on a chart is plain text: names from the data (campaigns, channels, stages,
#: people, teams, segments, months) reach titles, tick labels, legends and annotations, and
#: matplotlib would otherwise read a text with two '$' as mathtext (``Q4 $ push #1 $``
#: fails to draw, ``a_b^c $x$`` comes out as a formula) or every text as LaTeX under
#: ``text.usetex``. A chart that wants mathtext for its own words passes ``parse_math=True``
#: to that text. Text objects take these settings when they are created, tick labels
#: included (they are made as the figure is drawn): hence the theme and :func:`plain_text`.
PLAIN_TEXT: dict[RcKeyType, Any] = {"text.parse_math": False, "text.usetex": False}


def _theme() -> None:
    sns.set_theme(
        style="whitegrid",
        palette=SERIES,
        rc={"figure.dpi": 96, "savefig.dpi": 96, "axes.titlesize": 12, "axes.labelsize": 10,
            **PLAIN_TEXT},
    )


def plain_text() -> AbstractContextManager[None]:
    """A context in which new texts are plain (see :data:`PLAIN_TEXT`): figures are drawn
    and saved in it, so tick labels made at that moment are plain whatever the rcParams."""
    return plt.rc_context(PLAIN_TEXT)


def figure(width: float = 9, height: float = 3.6) -> tuple[Any, Any]:
    """A new figure and its axes in the crmkit theme (embed it with
    :func:`crmkit.render.blocks.chart`)."""
    _theme()
    return plt.subplots(figsize=(width, height))


def money_axis(ax: Any, axis: str = "y") -> None:
    """Ticks of a money axis in the pages' compact form (12.3k, 1.20M); the currency goes
    in the axis label. Ticks under 1 (a near-empty axis) keep two decimals, so no two
    ticks read the same ("0, 0, 0, -0")."""
    formatter = FuncFormatter(lambda v, _: compact(v) if v == 0 or abs(v) >= 1 else f"{v:.2f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def percent_axis(ax: Any, axis: str = "y") -> None:
    """Ticks of a rate axis (0..1) in percent."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))
