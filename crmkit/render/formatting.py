"""The look shared by every page and the index: colours, the stylesheet, number formats.

Kept free of heavy imports (no matplotlib, no pandas) so that the command line can build
the index without loading the charting stack.
"""

from __future__ import annotations

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

CSS = (
    """
.ck{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2933;
  line-height:1.4;max-width:1100px}
.ck-header{border-bottom:3px solid %(primary)s;padding:4px 0 10px;margin-bottom:8px}
.ck-header h1{margin:0 0 4px;font-size:26px}
.ck-meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:2px 16px;
  font-size:13px;color:#52606d}
.ck-meta b{color:#1f2933}
.ck-cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.ck-card{border:1px solid #d9dee4;border-radius:8px;padding:10px 12px;background:#fff}
.ck-card .l{font-size:12px;color:#52606d;text-transform:uppercase;letter-spacing:.03em}
.ck-card .v{font-size:24px;font-weight:600;margin:2px 0}
.ck-card .s{font-size:12px;color:#52606d}
.ck-up{color:%(good)s}.ck-down{color:%(bad)s}.ck-flat{color:%(neutral)s}
.ck-flag{display:inline-block;background:#fff3cd;color:#7a5b00;border-radius:4px;
  padding:0 4px;font-size:11px}
table.ck-table{border-collapse:collapse;font-size:13px;margin:6px 0 14px}
table.ck-table th{background:#f1f4f8;text-align:left;padding:4px 8px;border-bottom:2px solid #d9dee4}
table.ck-table td{padding:3px 8px;border-bottom:1px solid #edf0f3}
table.ck-table td.n{text-align:right;font-variant-numeric:tabular-nums}
figure.ck-fig{margin:8px 0 16px}figure.ck-fig img{max-width:100%%;height:auto}
figure.ck-fig figcaption{font-size:12px;color:#52606d}
dl.ck-defs dt{font-weight:600;margin-top:6px}dl.ck-defs dd{margin:0 0 0 16px;color:#3e4c59}
ul.ck-notes li{margin:2px 0}
p.ck-coverage,p.ck-empty{background:#fff3cd;color:#5c4500;border-radius:6px;padding:6px 10px;
  margin:8px 0;font-size:14px}
"""
    % PALETTE
)


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
