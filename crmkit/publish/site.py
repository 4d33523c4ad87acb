"""The published site: ``output/index.html`` links every report present.

The index is rebuilt from the JSON twins on disk (the single source of truth), so it is
always consistent with the pages it links, whichever run wrote them. Each row shows the
report's index KPIs (:attr:`crmkit.reports.ReportSpec.index_kpis`; the first three metrics
of a custom report) with their change; the page is rendered from an autoescaping Jinja2
template (``templates/site/index.html.j2``, through :mod:`crmkit._html`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmkit import _html
from crmkit._files import write_atomic
from crmkit.render.formatting import CSS, fmt, fmt_change
from crmkit.reports import REPORTS, title


@dataclass(frozen=True)
class Kpi:
    """A headline number as the index shows it: label, formatted value, change (or '')."""

    label: str
    value: str
    change: str


def collect(output: Path) -> list[dict[str, Any]]:
    """Every published report under ``output``: its JSON plus the page's relative path."""
    entries = []
    for path in sorted(output.glob("*/*/*.json")):
        page = path.with_suffix(".html")
        if not page.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict) or "report" not in data or "period" not in data:
            continue
        data["_href"] = page.relative_to(output).as_posix()
        entries.append(data)
    # newest period first; within a period company-wide first, then teams, then reports
    entries.sort(key=lambda d: (d.get("team") != "all", d.get("team", ""), d.get("report", "")))
    entries.sort(key=lambda d: (d["period"].get("start", ""), d["period"].get("end", "")), reverse=True)
    return entries


def kpis(entry: dict[str, Any]) -> list[Kpi]:
    """The index KPIs of one published report, formatted from its JSON alone (each JSON
    carries the definitions of its metrics: no report code runs)."""
    metrics = entry.get("metrics", {})
    spec = REPORTS.get(entry["report"])
    names = spec.index_kpis if spec else tuple(metrics)[:3]
    shown = []
    for name in (n for n in names if n in metrics):
        definition = (entry.get("definitions") or {}).get(name, {})
        value = fmt(metrics.get(name), definition.get("unit", "score"), entry.get("currency", ""))
        shown.append(Kpi(definition.get("label", name), value, _change(entry, name, definition)))
    return shown


def _change(entry: dict[str, Any], name: str, definition: dict[str, Any]) -> str:
    """A metric's change against the comparison period: relative, or in points for rates
    defined that way; '' when there is none."""
    if definition.get("change_in_points"):
        now, before = entry["metrics"].get(name), (entry.get("comparison") or {}).get(name)
        return f"{now - before:+.1f} pts" if now is not None and before is not None else ""
    change = (entry.get("changes") or {}).get(name, {}).get("change")
    return fmt_change(change) if change is not None else ""


def render(entries: list[dict[str, Any]]) -> str:
    """The index page of ``entries`` (as :func:`collect` returns them)."""
    rows = [
        {
            "period": entry["period"].get("label", ""),
            "first_day": entry["period"].get("start", ""),
            "last_day": entry["period"].get("last_day", entry["period"].get("end", "")),
            "team": entry.get("team_name", entry.get("team", "")),
            "href": entry["_href"],
            "title": title(entry["report"]),
            "kpis": kpis(entry),
            "generated_at": entry.get("generated_at", ""),
        }
        for entry in entries
    ]
    return _html.render("site/index.html.j2", css=CSS, rows=rows)


def write_index(output: str | Path) -> Path:
    """Rebuild ``output/index.html`` from the reports present."""
    root = Path(output)
    target = root / "index.html"
    write_atomic(target, render(collect(root)))
    return target
