"""The data-quality report of an import: JSON and a self-contained HTML page.

Per table and rule: severity (``error`` stops the import, ``warning`` is imported and shown
in the reports as a data note, ``info`` says how the files were read), count and example
rows with the file and line they came from.  The page has no scripts and no remote assets;
every value is escaped.
"""

from __future__ import annotations

import html
import json
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["quality_paths", "write_quality_report"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1f2933;
margin:2rem auto;max-width:1100px;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.meta{color:#52606d}.status{padding:.7rem 1rem;border-radius:6px;margin:1rem 0;font-weight:600}
.ok{background:#e3f9e5;color:#05400a}.failed{background:#ffe3e3;color:#610404}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #e4e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f7fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.sev{font-size:.8rem;font-weight:700;text-transform:uppercase;padding:.1rem .4rem;border-radius:3px}
.error{background:#ffe3e3;color:#8a041a}.warning{background:#fff3c4;color:#8d2b0b}
.info{background:#e6f6ff;color:#035388}code{font-size:.92em}ul{margin:.2rem 0;padding-left:1.2rem}
table.narrow{width:auto;min-width:20rem}
"""


def quality_paths(database: Path, failed: bool = False) -> tuple[Path, Path]:
    """``crm.quality.html/json`` next to ``crm.duckdb`` (``crm.import-failed.*`` for a
    failed attempt, so the report beside a database always describes that database)."""
    stem = database.name[: -len(database.suffix)] if database.suffix else database.name
    tag = "import-failed" if failed else "quality"
    return database.with_name(f"{stem}.{tag}.html"), database.with_name(f"{stem}.{tag}.json")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _example_text(ex: Any) -> str:
    if isinstance(ex, dict):
        return ", ".join(f"{k} {v}" for k, v in ex.items() if v is not None)
    return str(ex)


def _html(report: dict[str, Any]) -> str:
    e = html.escape
    failed = report["status"] == "failed"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Data quality: {e(report['source_dir'])}</title><style>{_CSS}</style></head><body>",
        "<h1>Data quality of an import</h1>",
        f"<p class='meta'>From <code>{e(report['source_dir'])}</code> with mapping "
        f"<code>{e(report['mapping'])}</code> into <code>{e(report['database'])}</code>, "
        f"{e(report['generated_at'])}.</p>",
    ]
    if failed:
        parts.append(
            "<div class='status failed'>Import failed: nothing was written; the database "
            f"(if one was there) is unchanged.<br>{e(report.get('message') or '')}</div>"
        )
    else:
        n_warn = sum(1 for f in report["findings"] if f["severity"] == "warning")
        parts.append(
            f"<div class='status ok'>Imported. {n_warn} data note{'s' if n_warn != 1 else ''}: "
            "the rows are loaded and the reports list these notes.</div>"
        )
    parts.append(
        "<h2>Findings per table and rule</h2><p class='meta'>Errors stop the import; warnings are "
        "imported and listed as data notes in the reports; info says how the files were read. "
        "Times in the examples are UTC, as stored.</p>"
    )
    if report["findings"]:
        parts.append(
            "<table><tr><th>table</th><th>column</th><th>rule</th><th>severity</th>"
            "<th>count</th><th>examples</th></tr>"
        )
        for f in report["findings"]:
            examples = "".join(f"<li>{e(_example_text(x))}</li>" for x in f.get("examples") or [])
            rule = e(f.get("message") or f["rule"]) if f["severity"] == "error" else e(f["rule"])
            parts.append(
                f"<tr><td>{e(str(f.get('table') or ''))}</td><td>{e(str(f.get('column') or ''))}</td>"
                f"<td>{rule}</td><td><span class='sev {e(f['severity'])}'>{e(f['severity'])}</span></td>"
                f"<td class='n'>{int(f.get('count') or 0):,}</td><td><ul>{examples}</ul></td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No findings: every rule of the data model holds.</p>")
    parts.append(
        "<h2>Rows per canonical table</h2><table class='narrow'><tr><th>table</th><th>rows</th><th></th></tr>"
    )
    for t in report["tables"]:
        rows = "" if t["rows"] is None else f"{t['rows']:,}"
        parts.append(
            f"<tr><td>{e(t['table'])}</td><td class='n'>{e(rows)}</td><td>{e(t.get('state', ''))}</td></tr>"
        )
    parts.append("</table><h2>Files read</h2>")
    if report["sources"]:
        parts.append("<table><tr><th>source</th><th>rows</th><th>read as</th><th>columns</th></tr>")
        for s in report["sources"]:
            parts.append(
                f"<tr><td>{e(s['name'])}</td><td class='n'>{s['rows']:,}</td>"
                f"<td>{'<br>'.join(e(x) for x in s['read_as'])}</td>"
                f"<td>{e(', '.join(s['columns']))}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No file was read.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_quality_report(
    *,
    database: Path,
    source_dir: Path,
    mapping: str,
    failed: bool,
    message: str | None,
    findings: Sequence[dict[str, Any]],
    tables: Sequence[dict[str, Any]],
    sources: Sequence[dict[str, Any]],
) -> tuple[Path, Path]:
    """Write the JSON and HTML report; return their paths (HTML first)."""
    report = {
        "status": "failed" if failed else "ok",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": str(database),
        "source_dir": str(source_dir),
        "mapping": mapping,
        "message": message,
        "findings": list(findings),
        "tables": list(tables),
        "sources": list(sources),
    }
    html_path, json_path = quality_paths(database, failed)
    _atomic_write(json_path, json.dumps(report, indent=2, ensure_ascii=False, default=str))
    _atomic_write(html_path, _html(report))
    if not failed:  # a stale failure report would contradict the database now in place
        for stale in quality_paths(database, failed=True):
            stale.unlink(missing_ok=True)
    return html_path, json_path
