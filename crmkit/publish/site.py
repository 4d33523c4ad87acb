"""The published site: ``output/index.html`` links every report present.

The index is rebuilt from the JSON twins on disk (the single source of truth), so it is
always consistent with the pages it links, whichever run wrote them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from crmkit.render.formatting import CSS, fmt, fmt_change

#: Headline KPIs per report on the index page.
HEADLINES: dict[str, tuple[str, ...]] = {
    "sales": ("revenue", "deals_won", "win_rate"),
    "activity": ("active_customers", "new_customers"),
    "satisfaction": ("nps", "csat"),
    "marketing": ("cost", "leads", "roi"),
    "performance": ("tickets_resolved", "sla_compliance"),
}


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


def render(entries: list[dict[str, Any]]) -> str:
    e = html.escape
    rows = []
    for d in entries:
        names = HEADLINES.get(d["report"], tuple(list(d.get("metrics", {}))[:3]))
        kpis = []
        for name in names:
            if name not in d.get("metrics", {}):
                continue
            # each JSON carries the definitions of its metrics: no report code is imported
            spec = (d.get("definitions") or {}).get(name, {})
            unit, label = spec.get("unit", "score"), spec.get("label", name)
            value = fmt(d["metrics"].get(name), unit, d.get("currency", ""))
            ch = (d.get("changes") or {}).get(name, {}).get("change")
            change = f" <small>({e(fmt_change(ch))})</small>" if ch is not None else ""
            if spec.get("change_in_points"):
                now, before = d["metrics"].get(name), (d.get("comparison") or {}).get(name)
                change = (f" <small>({now - before:+.1f} pts)</small>"
                          if now is not None and before is not None else "")
            kpis.append(f"{e(label)}: <b>{e(value)}</b>{change}")
        p = d["period"]
        rows.append(
            "<tr>"
            f"<td>{e(p.get('label', ''))}<br><small>{e(p.get('start', ''))} to "
            f"{e(p.get('last_day', p.get('end', '')))}</small></td>"
            f"<td>{e(d.get('team_name', d.get('team', '')))}</td>"
            f"<td><a href='{e(d['_href'])}'>{e(d['report'])}</a></td>"
            f"<td>{' · '.join(kpis)}</td>"
            f"<td><small>{e(d.get('generated_at', ''))}</small></td>"
            "</tr>"
        )
    body = (
        "".join(rows)
        or "<tr><td colspan='5'>No reports yet: run <code>crmkit run</code>.</td></tr>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>crmkit reports</title><style>{CSS} body{{margin:24px}}</style></head>"
        "<body><div class='ck'><div class='ck-header'><h1>crmkit reports</h1>"
        f"<div class='ck-meta'><div>{len(entries)} report(s), newest period first</div></div></div>"
        "<table class='ck-table'><thead><tr><th>Period</th><th>Team</th><th>Report</th>"
        f"<th>Headline (change vs comparison)</th><th>Generated</th></tr></thead><tbody>{body}"
        "</tbody></table></div></body></html>"
    )


def write_index(output: str | Path) -> Path:
    """Rebuild ``output/index.html`` from the reports present."""
    from crmkit.publish.runner import write_atomic

    root = Path(output)
    target = root / "index.html"
    write_atomic(target, render(collect(root)))
    return target
