"""The published site: ``output/index.html`` links every report present.

The index is rebuilt from the JSON twins on disk (the single source of truth), so it is
always consistent with the pages it links, whichever run wrote them. Each row shows the
report's index KPIs (:attr:`crmkit.reports.ReportSpec.index_kpis`; the first three metrics
of a custom report) with their change; the page is rendered from an autoescaping Jinja2
template (``templates/site/index.html.j2``, through :mod:`crmkit._html`).

A JSON twin is data a custom report wrote: one that cannot be read, has not the shape of a
twin, or holds values the index cannot show (``"inf"`` as text, ``Infinity``) is left out
of the index and named on standard error, so one bad file never stops ``run``, ``run-all``
or ``index`` for the others. A page and its twin are read from the same published version
(see :func:`crmkit._files.publish_together`).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmkit import _html
from crmkit._files import locked, sweep_output, write_atomic
from crmkit.render.formatting import CSS, fmt, fmt_change
from crmkit.reports import REPORTS, title


@dataclass(frozen=True)
class Kpi:
    """A headline number as the index shows it: label, formatted value, change (or '')."""

    label: str
    value: str
    change: str


#: Told about each JSON twin the index leaves out: its path and why.
Skip = Callable[[Path, str], None]


def warn_skipped(path: Path, reason: str) -> None:
    """The default :data:`Skip`: one line on standard error."""
    print(f"crmkit: warning: index: skipped {path}: {reason}", file=sys.stderr)


def collect(output: Path, skip: Skip | None = None) -> list[dict[str, Any]]:
    """Every published report under ``output``: its JSON plus the page's relative path;
    twins that cannot be shown are passed to ``skip`` (default: ignored)."""
    entries = []
    for path in sorted(output.glob("*/*/*.json")):
        page = path.with_suffix(".html")
        if not page.exists():
            continue
        data, problem = _read(path)
        if data is None:
            if skip is not None:
                skip(path, problem)
            continue
        data["_href"] = page.relative_to(output).as_posix()
        entries.append(data)
    # newest period first; within a period company-wide first, then teams, then reports
    entries.sort(key=lambda d: (d.get("team") != "all", d.get("team", ""), d.get("report", "")))
    entries.sort(key=lambda d: (d["period"].get("start", ""), d["period"].get("end", "")), reverse=True)
    return entries


def _read(path: Path) -> tuple[dict[str, Any] | None, str]:
    """A JSON twin the index can show, or ``None`` and why not."""
    try:
        data = json.loads(path.resolve().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"not readable JSON ({type(exc).__name__}: {str(exc)[:80]})"
    if not isinstance(data, dict) or not isinstance(data.get("report"), str) \
            or not isinstance(data.get("period"), dict):
        return None, "not a report's JSON twin (no 'report' and 'period')"
    for key in ("label", "start", "end", "last_day"):
        if not isinstance(data["period"].get(key, ""), str):
            return None, f"period.{key} is not text"
    try:
        row(data | {"_href": ""})
    except Exception as exc:  # noqa: BLE001 - any value a custom report wrote
        return None, f"a value the index cannot show ({type(exc).__name__}: {str(exc)[:80]})"
    return data, ""


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool)
                             and math.isfinite(value))


def kpis(entry: dict[str, Any]) -> list[Kpi]:
    """The index KPIs of one published report, formatted from its JSON alone (each JSON
    carries the definitions of its metrics: no report code runs)."""
    metrics = entry.get("metrics", {})
    spec = REPORTS.get(entry["report"])
    names = spec.index_kpis if spec else tuple(metrics)[:3]
    shown = []
    for name in (n for n in names if n in metrics):
        if not _number(metrics[name]):
            raise ValueError(f"metrics.{name} is not a finite number or null")
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
    if not _number(change):
        raise ValueError(f"changes.{name}.change is not a finite number or null")
    return fmt_change(change) if change is not None else ""


def row(entry: dict[str, Any]) -> dict[str, Any]:
    """One line of the index."""
    return {
        "period": entry["period"].get("label", ""),
        "first_day": entry["period"].get("start", ""),
        "last_day": entry["period"].get("last_day", entry["period"].get("end", "")),
        "team": str(entry.get("team_name", entry.get("team", ""))),
        "href": entry["_href"],
        "title": title(entry["report"]),
        "kpis": kpis(entry),
        "generated_at": str(entry.get("generated_at", "")),
    }


def render(entries: list[dict[str, Any]]) -> str:
    """The index page of ``entries`` (as :func:`collect` returns them)."""
    return _html.render("site/index.html.j2", css=CSS, rows=[row(e) for e in entries])


def write_index(output: str | Path, skip: Skip | None = warn_skipped) -> Path:
    """Rebuild ``output/index.html`` from the reports present (under the output folder's
    lock); a twin it cannot show is left out and named through ``skip``. What killed runs
    left in the folder is removed first."""
    root = Path(output)
    target = root / "index.html"
    sweep_output(root)
    with locked(root):
        write_atomic(target, render(collect(root, skip)))
    return target
