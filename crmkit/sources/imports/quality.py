"""The data-quality report of an import: JSON and a self-contained HTML page.

Per table and rule: severity (``error`` stops the import, ``warning`` is imported and shown
in the reports as a data note, ``info`` says how the files were read), count and example
rows with the file and line they came from.  The page is rendered from
``templates/quality.html.j2`` (Jinja2, autoescaped): no scripts, no remote assets, every
value escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmkit._files import write_atomic
from crmkit._html import render
from crmkit.model import TABLES, DataNote
from crmkit.sources.imports.mapping import Mapping
from crmkit.sources.imports.sources import SourceFrame

__all__ = ["note_finding", "quality_paths", "write_quality_report"]

def _example_text(ex: Any) -> str:
    """An example row as one line: ``deal_id P-3, status open, at deals.csv, line 4``."""
    if isinstance(ex, dict):
        return ", ".join(f"{k} {v}" for k, v in ex.items() if v is not None)
    return str(ex)




def quality_paths(database: Path, failed: bool = False) -> tuple[Path, Path]:
    """``crm.quality.html/json`` next to ``crm.duckdb`` (``crm.import-failed.*`` for a
    failed attempt, so the report beside a database always describes that database)."""
    stem = database.name[: -len(database.suffix)] if database.suffix else database.name
    tag = "import-failed" if failed else "quality"
    return database.with_name(f"{stem}.{tag}.html"), database.with_name(f"{stem}.{tag}.json")


def note_finding(note: DataNote) -> dict[str, Any]:
    """A data note as a row of the report's findings."""
    return {
        "table": note.table,
        "column": note.column,
        "rule": note.rule,
        "severity": note.severity,
        "count": note.count,
        "examples": note.examples,
    }


def _source_rows(sources: MappingABC[str, SourceFrame]) -> list[dict[str, Any]]:
    """One row per source: its files, rows, columns and how they were read."""
    return [
        {
            "name": sf.name,
            "files": sf.files,
            "rows": sf.rows,
            "columns": sf.columns,
            "read_as": sf.read_as,
        }
        for sf in sources.values()
    ]


def _info(mapping: Mapping | None, sources: MappingABC[str, SourceFrame]) -> list[dict[str, Any]]:
    """How the files were read: sources no table uses, empty files, columns left out."""
    out: list[dict[str, Any]] = []
    if mapping is None:
        return out
    used = {t.source for t in mapping.tables.values()} | {
        j.source for t in mapping.tables.values() for j in t.joins
    }
    sql_tables = [t for t in mapping.tables.values() if t.sql is not None]
    for name, sf in sources.items():
        if name not in used and not any(name in (t.sql or "") for t in sql_tables):
            out.append(
                {
                    "table": None,
                    "column": None,
                    "rule": f"source {name} ({', '.join(sf.files)}) is not used by any table",
                    "severity": "info",
                    "count": sf.rows,
                    "examples": [],
                }
            )
        for f in sf.empty_files:
            out.append(
                {
                    "table": None,
                    "column": None,
                    "rule": f"{f} is empty (no header row)",
                    "severity": "info",
                    "count": 0,
                    "examples": [],
                }
            )
    for t in mapping.tables.values():
        if t.auto and t.source is not None and t.source in sources:
            extra = [c for c in sources[t.source].columns if c not in TABLES[t.table].column_names]
            if extra:
                out.append(
                    {
                        "table": t.table,
                        "column": None,
                        "rule": f"columns not in the data model, not imported: {', '.join(extra)}",
                        "severity": "info",
                        "count": len(extra),
                        "examples": [],
                    }
                )
    return out


def _table_rows(m: Mapping | None, rows: MappingABC[str, int], failed: bool) -> list[dict[str, Any]]:
    """Rows per canonical table, with its state: imported, failed or not mapped (empty)."""
    out = []
    for t in TABLES:
        mapped = m is not None and t in m.tables
        if not mapped:
            state = "not mapped (empty)"
        elif t in rows:
            state = "checked" if failed else "imported"
        else:
            state = "failed"
        out.append({"table": t, "rows": rows.get(t, 0 if not mapped else None), "state": state})
    return out


def write_quality_report(
    *,
    database: Path,
    source_dir: Path,
    mapping_label: str,
    mapping: Mapping | None,
    sources: MappingABC[str, SourceFrame],
    findings: Sequence[dict[str, Any]],
    rows: MappingABC[str, int],
    failure: str | None = None,
) -> tuple[Path, Path]:
    """Write the JSON and HTML report of an import (of a failed one: ``failure`` is its
    message); return their paths (HTML first).

    ``findings`` are the errors or data notes found; how the files were read is added.
    ``rows`` counts the rows per table imported (or, for a failure, checked).
    """
    failed = failure is not None
    report = {
        "status": "failed" if failed else "ok",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": str(database),
        "source_dir": str(source_dir),
        "mapping": mapping_label,
        "message": failure,
        "findings": [*findings, *_info(mapping, sources)],
        "tables": _table_rows(mapping, rows, failed),
        "sources": _source_rows(sources),
    }
    html_path, json_path = quality_paths(database, failed)
    write_atomic(json_path, json.dumps(report, indent=2, ensure_ascii=False, default=str))
    write_atomic(html_path, render("quality/quality.html.j2", example=_example_text, **report))
    if not failed:  # a stale failure report would contradict the database now in place
        for stale in quality_paths(database, failed=True):
            stale.unlink(missing_ok=True)
    return html_path, json_path
