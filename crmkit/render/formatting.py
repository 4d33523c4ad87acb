"""The look shared by every page and the index: colours, the stylesheet, number formats.

Kept free of heavy imports (no matplotlib, no pandas) so that the command line can build
the index without loading the charting stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Colours used by every report, so a metric looks the same everywhere.
PALETTE = {
    "primary": "#2f6db5",
    "secondary": "#9bbbe0",
    "accent": "#e08a2f",
    "good": "#2e8b57",
    "bad": "#c0392b",
    "neutral": "#7f8c8d",
    "grid": "#e5e8ec",
}
SERIES = ["#2f6db5", "#e08a2f", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"]

#: The stylesheet shared by every page and the index (``page.css`` beside this module).
CSS = (Path(__file__).with_name("page.css")).read_text(encoding="utf-8")


# -- formatting ---------------------------------------------------------------------------


def fmt(value: Any, unit: str = "count", currency: str = "") -> str:
    """Format a value for people: thousands separators, %, units; '—' for N/A."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if unit == "count":
        return f"{int(round(value)):,}"
    if unit == "rate":
        return f"{100 * value:.1f}%"
    if unit in ("money", "money_per_day"):
        text = compact(value)
        suffix = f" {currency}" if currency else ""
        return f"{text}{suffix}" + ("/day" if unit == "money_per_day" else "")
    if unit == "days":
        return f"{value:.1f} d"
    if unit == "minutes":
        return f"{value:.0f} min"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit == "score":
        return f"{value:.1f}"
    return f"{value:,.2f}"


def compact(value: float) -> str:
    """A money amount in few characters: 950, 9,999, 12.3k, 1.20M (cards, tables, axes)."""
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if a >= 1e4:
        return f"{value / 1e3:,.1f}k"
    text = f"{value:,.0f}"
    return "0" if text == "-0" else text  # a rounding of a tiny negative (or -0.0) is 0


def fmt_change(change: float | None) -> str:
    """A relative change as a signed percentage (+12.5%, −3.0%); '—' without one."""
    if change is None:
        return "—"
    return f"{'+' if change >= 0 else '−'}{abs(100 * change):.1f}%"
