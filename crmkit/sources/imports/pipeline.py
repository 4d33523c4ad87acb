"""One import: mapping -> sources -> staged tables -> validation -> database + report."""

from __future__ import annotations

import os
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmkit.model import TABLES, DataNote, DataValidationError, empty_frame, validate_all, write_database
from crmkit.sources.imports.errors import ImportFailed, Problem
from crmkit.sources.imports.mapping import Mapping, canonical_mapping, load_mapping
from crmkit.sources.imports.quality import write_quality_report
from crmkit.sources.imports.sources import SourceFrame, read_source
from crmkit.sources.imports.staging import StagedTable, locate, stage_tables

__all__ = ["DEFAULT_IMPORT_DATABASE", "ImportResult", "import_exports"]

DEFAULT_IMPORT_DATABASE = Path("data") / "crm.duckdb"


@dataclass
class ImportResult:
    """What an import wrote: the database, rows per table, the notes and the report."""

    database: Path
    rows: dict[str, int]
    notes: list[DataNote]
    quality_html: Path
    quality_json: Path
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the terminal: rows per table, the notes, where the report is."""
        counts = ", ".join(f"{n:,} {t}" for t, n in self.rows.items() if n)
        lines = [f"imported {counts or 'no rows'} from {len(self.files)} file(s) into {self.database}"]
        if self.notes:
            lines.append(f"{len(self.notes)} data note(s), imported and shown in the reports:")
            lines += [f"  {n.table}.{n.column}: {n.count:,} row(s): {n.rule}" for n in self.notes]
        else:
            lines.append("no data notes")
        lines.append(f"data-quality report: {self.quality_html}")
        return "\n".join(lines)


def _database_path(database: str | os.PathLike[str] | None) -> Path:
    if database:
        return Path(database)
    env = os.environ.get("CRMKIT_DATABASE")
    return Path(env) if env else DEFAULT_IMPORT_DATABASE


def _problem_from_validation(err: DataValidationError, staged: MappingABC[str, StagedTable]) -> Problem:
    """A model validation error, told with the file and line of its first example row."""
    st = staged.get(err.table)
    place = None
    if st is not None:
        for ex in err.examples:
            if isinstance(ex, MappingABC):
                place = locate(st, ex)
                if place:
                    break
    message = err.message
    if place:
        file, line, loc = place
        src = st.direct.get(err.column or "") if st is not None else None
        col = f" (column {src!r})" if src else ""
        message = f"{loc}{col}: {message}"
    else:
        file, line = None, None
    if err.column and err.rule.startswith(f"{err.column} in {{"):
        bad = next(
            (ex[err.column] for ex in err.examples if isinstance(ex, MappingABC) and err.column in ex),
            "Source value",
        )
        enum = TABLES[err.table].column(err.column).enum or ("...",)
        message += (
            f" Map each source value onto one of them under values: in the mapping, e.g. "
            f"values: {{{err.column}: {{{bad}: {enum[0]}}}}}."
        )
    return Problem(
        message,
        table=err.table,
        column=err.column,
        rule=err.rule,
        count=err.count,
        examples=err.examples,
        file=file,
        line=line,
    )


def _with_places(note: DataNote, staged: MappingABC[str, StagedTable]) -> DataNote:
    """The note with ``at`` (file and line) added to its example rows."""
    st = staged.get(note.table)
    if st is None or not note.examples:
        return note
    examples = []
    for ex in note.examples:
        if isinstance(ex, dict) and "at" not in ex and "line" not in ex:
            place = locate(st, ex)
            if place:
                ex = {**ex, "at": place[2]}
        examples.append(ex)
    return DataNote(note.table, note.column, note.rule, note.count, examples, note.severity)


def _finding(note: DataNote) -> dict[str, Any]:
    return {
        "table": note.table,
        "column": note.column,
        "rule": note.rule,
        "severity": note.severity,
        "count": note.count,
        "examples": note.examples,
    }


def _source_rows(sources: MappingABC[str, SourceFrame]) -> list[dict[str, Any]]:
    return [
        {
            "name": sf.name,
            "files": sf.files,
            "rows": len(sf.frame),
            "columns": sf.columns,
            "read_as": sf.read_as,
        }
        for sf in sources.values()
    ]


def _info(mapping: Mapping | None, sources: MappingABC[str, SourceFrame]) -> list[dict[str, Any]]:
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
                    "count": len(sf.frame),
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


def import_exports(
    source_dir: str | os.PathLike[str],
    mapping: str | os.PathLike[str] | None = None,
    database: str | os.PathLike[str] | None = None,
) -> ImportResult:
    """Import CRM export files into a canonical DuckDB database.

    ``source_dir`` holds the files; ``mapping`` is a YAML mapping (None: the folder holds one
    canonical-shape file per table, e.g. ``deals.csv``); ``database`` defaults to
    ``$CRMKIT_DATABASE``, else ``data/crm.duckdb``.

    Hard problems raise :class:`ImportFailed` (one line: file, column, line, value, fix),
    after writing ``<database>.import-failed.html/json``; the database is then untouched.
    On success the database is replaced atomically and ``<database>.quality.html/json``
    lists the data notes per table and rule.
    """
    folder = Path(source_dir)
    db = _database_path(database)
    mapping_label = str(mapping) if mapping else "(none: canonical-shape files)"
    sources: dict[str, SourceFrame] = {}
    staged: dict[str, StagedTable] = {}
    m: Mapping | None = None
    try:
        if not folder.is_dir():
            raise ImportFailed(
                Problem(
                    f"{folder}: no such folder. Give the folder that holds the export files.",
                    file=str(folder),
                )
            )
        if db.exists() and db.is_dir():
            raise ImportFailed(
                Problem(f"--database {db} is a folder: give a file path such as {db / 'crm.duckdb'}.")
            )
        m = load_mapping(Path(mapping), folder) if mapping else canonical_mapping(folder)
        for name, spec in m.sources.items():
            sources[name] = read_source(spec, folder, m.label if m.path else "")
        staged, failures = stage_tables(m, sources)
        if failures:
            raise ImportFailed([p for f in failures for p in f.problems])
        frames = {n: staged[n].frame if n in staged else empty_frame(n) for n in TABLES}
        checked, found, errors = validate_all(frames)
        if errors:
            raise ImportFailed([_problem_from_validation(e, staged) for e in errors])
        read_notes = [n for st in staged.values() for n in st.notes]
        infos = [n for n in read_notes if n.severity == "info"]
        notes = [n for n in read_notes if n.severity != "info"]
        notes += [_with_places(n, staged) for n in found]
        settings = {
            **m.settings,
            "source": "import",
            "import_source_dir": str(folder.resolve()),
            "import_mapping": str(Path(mapping).resolve()) if mapping else "",
        }
        try:
            write_database(db, checked, settings=settings, notes=notes, validate_first=False)
        except OSError as exc:
            raise ImportFailed(
                Problem(
                    f"{db}: cannot write the database ({exc.strerror or exc}). Check the path "
                    "and its permissions."
                )
            ) from None
    except ImportFailed as exc:
        if not sources:  # a wrong folder or mapping: the message says it all
            raise
        findings = [p.as_dict() for p in exc.problems] + _info(m, sources)
        broken = {p.table for p in exc.problems}
        try:
            html_path, _ = write_quality_report(
                database=db,
                source_dir=folder,
                mapping=mapping_label,
                failed=True,
                message=exc.problems[0].message,
                findings=findings,
                tables=_table_rows(
                    m,
                    {t: len(st.frame) for t, st in staged.items() if t not in broken},
                    failed=True,
                ),
                sources=_source_rows(sources),
            )
        except OSError:
            raise exc from None
        raise exc.with_report(str(html_path)) from None
    rows = {t: len(checked[t]) for t in TABLES}
    findings = [_finding(n) for n in notes] + [_finding(n) for n in infos] + _info(m, sources)
    html_path, json_path = write_quality_report(
        database=db,
        source_dir=folder,
        mapping=mapping_label,
        failed=False,
        message=None,
        findings=findings,
        tables=_table_rows(m, rows, failed=False),
        sources=_source_rows(sources),
    )
    files = [f for sf in sources.values() for f in sf.files]
    return ImportResult(db, rows, notes, html_path, json_path, files)
