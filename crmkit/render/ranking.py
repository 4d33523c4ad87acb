"""The one rule for long ranked lists on a page: a chart or table that lists people,
customers, campaigns or sellers shows a list of up to :data:`WHOLE` rows whole, and a longer
one as its top and bottom :data:`ENDS` by its own ranking measure, with the rest counted
("⋯ 2,980 more") and its caption saying how it was cut. Every row stays in the table's CSV
download and the page's JSON twin, so a page is as large, and as quick to draw, for 3,000
people as for 30.

:func:`ends` says how many rows a list shows from each end; :func:`cut` cuts a frame by a
column; :func:`positions` and :func:`mark_gap` draw the cut on a bar chart (a gap between
the two ends that says how many rows it stands for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crmkit import i18n
from crmkit.i18n import ngettext
from crmkit.render.formatting import PALETTE

__all__ = ["ENDS", "WHOLE", "Cut", "cut", "ends", "gap_words", "mark_gap", "positions"]

#: Rows a long ranked list shows from each end.
ENDS = 10
#: A list this long or shorter is shown whole: cutting it would save little and hide some.
WHOLE = 40


def ends(total: int, n: int = ENDS, whole: int = WHOLE) -> tuple[int, int]:
    """How many rows of a ranked list of ``total`` rows a page shows from its top and from
    its bottom: all of them, ``(total, 0)``, up to ``whole`` rows (and up to ``2 * n``),
    else ``(n, n)``."""
    if total <= max(whole, 2 * n):
        return total, 0
    return n, n


@dataclass(frozen=True)
class Cut:
    """A frame cut to the rows a page shows: ``frame`` holds them in the order of the frame
    that was cut (so a chart sorts them as it sorts a whole list), ``total`` counts the
    rows of the whole list, ``top`` and ``bottom`` the rows shown from each end of the
    ranking (``bottom`` is 0 when nothing was cut). ``ranked`` holds the shown rows in the
    order of the ranking, first end first (a chart that draws a cut list in this order, or
    its reverse, puts its gap between the two ends even when values are tied across them);
    uncut, it is ``frame``."""

    frame: pd.DataFrame
    total: int
    top: int
    bottom: int
    ranked: pd.DataFrame

    @property
    def left(self) -> int:
        """The rows not shown."""
        return self.total - len(self.frame)

    @property
    def is_cut(self) -> bool:
        """Whether rows were left out."""
        return self.left > 0


def cut(frame: pd.DataFrame, by: str, *, ascending: bool = False, then: str | None = None,
        n: int = ENDS, whole: int = WHOLE) -> Cut:
    """``frame`` cut by the rule of this module: ranked by column ``by`` (highest first, or
    lowest first with ``ascending``; ties by column ``then``, then by position), a frame
    of up to ``whole`` rows whole, a longer one to its top ``n`` and bottom ``n`` rows.
    Rows whose ``by`` is missing rank at neither end: shown only when nothing is cut.
    The frame itself is left as it is."""
    top, bottom = ends(len(frame), n, whole)
    if not bottom:
        return Cut(frame, len(frame), top, 0, frame)
    ranked = frame[frame[by].notna()]
    keys = [by, *([then] if then else [])]
    order = ranked.reset_index(drop=True).sort_values(
        keys, ascending=[ascending, False][:len(keys)], kind="stable").index.to_numpy()
    shown = min(top, len(order) // 2), min(bottom, len(order) - len(order) // 2)
    picked = np.concatenate([order[:shown[0]], order[len(order) - shown[1]:]])
    in_frame = np.flatnonzero(frame[by].notna().to_numpy())
    return Cut(frame.iloc[in_frame[np.sort(picked)]], len(frame), shown[0], shown[1],
               frame.iloc[in_frame[picked]])


def positions(count: int, gap_after: int | None, step: float = 1.0) -> np.ndarray:
    """The bar positions of ``count`` bars, ``step`` apart, with a gap of two steps after
    the first ``gap_after`` of them (None: no gap), which :func:`mark_gap` labels."""
    y = np.arange(count, dtype=float) * step
    if gap_after is not None:
        y[gap_after:] += 2 * step
    return y


def gap_words(left: int) -> str:
    """What a gap in a cut list stands for: "⋯ 2,980 more"."""
    return ngettext("⋯ {n} more", "⋯ {n} more", left).format(n=i18n.decimal(f"{left:,}"))


def mark_gap(ax: Any, at: float, left: int) -> None:
    """Say on a horizontal bar chart, in the gap at ``at`` (a y position), how many rows
    it stands for."""
    ax.text(0.5, at, gap_words(left), transform=ax.get_yaxis_transform(), va="center",
            ha="center", fontsize="small", fontstyle="italic", color=PALETTE["neutral"],
            zorder=5, bbox={"facecolor": "white", "edgecolor": "none", "pad": 2})
