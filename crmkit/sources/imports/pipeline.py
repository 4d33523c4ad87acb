"""One import: mapping -> sources -> staged tables -> validation -> database + report."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from crmkit.backends.duckdb import write_database
from crmkit.errors import shown
from crmkit.model import TABLES, DataNote, DataValidationError, empty_frame, validate_all
from crmkit.parameters import team_id_problem
from crmkit.sources.imports.errors import ImportFailed, Problem
from crmkit.sources.imports.mapping import Mapping, TableMap, canonical_mapping, load_mapping
from crmkit.sources.imports.quality import note_finding, write_quality_report
from crmkit.sources.imports.sources import FILE_COL, SourceFrame, read_source
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


def _team_ids(teams: pd.DataFrame, staged: MappingABC[str, StagedTable]) -> list[Problem]:
    """Team ids name output folders and are typed on the command line: each must pass the
    check of a typed team (:func:`crmkit.parameters.team_id_problem`), else the import
    stops naming the row."""
    bad = [(t, r) for t in teams["team_id"] if (r := team_id_problem(t)) is not None]
    if not bad:
        return []
    (team_id, reason), st = bad[0], staged.get("teams")
    place = locate(st, {"team_id": team_id}) if st is not None else None
    file, line, loc = place if place else (None, None, f"teams row with team_id {shown(team_id)}")
    src = st.direct.get("team_id") if st is not None and file else None
    col = f" (column {src!r})" if src else ""
    more = f" ({len(bad)} team ids are not usable)" if len(bad) > 1 else ""
    return [
        Problem(
            f"{loc}{col}: teams.team_id {shown(team_id)} is not a usable team id: {reason}{more}. "
            "Team ids name output folders: use letters, digits, spaces, '-' and '_', not 'all' "
            "or 'each'; fix the id in the export, or map another column to team_id.",
            table="teams",
            column="team_id",
            rule="team id is usable",
            count=len(bad),
            examples=[{"team_id": str(t)} for t, _ in bad[:5]],
            file=file,
            line=line,
            value=team_id,
        )
    ]


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


def _reads(tm: TableMap, source: str) -> bool:
    """Whether table map ``tm`` reads ``source`` (as from:, join: or in its SQL)."""
    if tm.sql is not None:
        return re.search(rf"\b{re.escape(source)}\b", tm.sql, flags=re.IGNORECASE) is not None
    return tm.source == source or any(j.source == source for j in tm.joins)


def _encoding_notes(
    mapping: Mapping, sources: MappingABC[str, SourceFrame], staged: MappingABC[str, StagedTable]
) -> list[DataNote]:
    """A data note per table fed by a file whose encoding was guessed (it is not UTF-8 and
    the mapping gives none): names in it may be garbled if the guess is wrong."""
    notes: list[DataNote] = []
    for name, sf in sources.items():
        for file, encoding in sf.guessed.items():
            for table, st in staged.items():
                if table not in mapping.tables or not _reads(mapping.tables[table], name):
                    continue
                df = st.frame
                count = int((df[FILE_COL] == file).sum()) if FILE_COL in df.columns else len(df)
                if count:
                    rule = (
                        f"read from {file} as {encoding}: the file is not UTF-8, so its encoding "
                        f"was guessed; if text looks garbled, set encoding: for source {name} in "
                        "the mapping (or save the file as UTF-8)"
                    )
                    notes.append(DataNote(table, None, rule, count, [{"file": file}]))
    return notes


@dataclass
class _Import:
    """One import under way: what it has read so far, for the report of a failure."""

    folder: Path
    mapping_file: Path | None
    database: Path
    mapping: Mapping | None = None
    sources: dict[str, SourceFrame] = field(default_factory=dict)
    staged: dict[str, StagedTable] = field(default_factory=dict)

    @property
    def mapping_label(self) -> str:
        return str(self.mapping_file) if self.mapping_file else "(none: canonical-shape files)"

    def read(self) -> None:
        """Check the paths, parse the mapping and read every source."""
        if not self.folder.is_dir():
            raise ImportFailed(
                Problem(
                    f"{self.folder}: no such folder. Give the folder that holds the export files.",
                    file=str(self.folder),
                )
            )
        if self.database.exists() and self.database.is_dir():
            raise ImportFailed(
                Problem(
                    f"--database {self.database} is a folder: give a file path such as "
                    f"{self.database / 'crm.duckdb'}."
                )
            )
        m = (
            load_mapping(self.mapping_file, self.folder)
            if self.mapping_file
            else canonical_mapping(self.folder)
        )
        self.mapping = m
        for name, spec in m.sources.items():
            self.sources[name] = read_source(spec, self.folder, m.label if m.path else "")

    def validated(self) -> tuple[dict[str, pd.DataFrame], list[DataNote], list[DataNote]]:
        """Stage and validate every table: the checked frames, the data notes (soft rules
        and value readings) and the notes of how the files were read (``info``)."""
        assert self.mapping is not None
        self.staged, failures = stage_tables(self.mapping, self.sources)
        if failures:
            raise ImportFailed([p for f in failures for p in f.problems])
        frames = {n: self.staged[n].frame if n in self.staged else empty_frame(n) for n in TABLES}
        checked, found, errors = validate_all(frames)
        if errors:
            raise ImportFailed([_problem_from_validation(e, self.staged) for e in errors])
        teams = _team_ids(checked["teams"], self.staged)
        if teams:
            raise ImportFailed(teams)
        read_notes = [n for st in self.staged.values() for n in st.notes]
        infos = [n for n in read_notes if n.severity == "info"]
        notes = [n for n in read_notes if n.severity != "info"]
        notes += [_with_places(n, self.staged) for n in found]
        notes += _encoding_notes(self.mapping, self.sources, self.staged)
        return checked, notes, infos

    def write(self, checked: dict[str, pd.DataFrame], notes: list[DataNote]) -> None:
        """Replace the database (atomically) with the checked tables and the notes."""
        assert self.mapping is not None
        settings = {
            **self.mapping.settings,
            "source": "import",
            "import_source_dir": str(self.folder.resolve()),
            "import_mapping": str(self.mapping_file.resolve()) if self.mapping_file else "",
        }
        try:
            write_database(self.database, checked, settings=settings, notes=notes, validate_first=False)
        except OSError as exc:
            raise ImportFailed(
                Problem(
                    f"{self.database}: cannot write the database ({exc.strerror or exc}). Check the "
                    "path and its permissions."
                )
            ) from None

    def report(
        self, findings: list[dict[str, Any]], rows: MappingABC[str, int], failure: str | None
    ) -> tuple[Path, Path]:
        """Write the data-quality report of this import (of its failure: ``failure``)."""
        return write_quality_report(
            database=self.database,
            source_dir=self.folder,
            mapping_label=self.mapping_label,
            mapping=self.mapping,
            sources=self.sources,
            findings=findings,
            rows=rows,
            failure=failure,
        )

    def failed(self, exc: ImportFailed) -> ImportFailed:
        """The failure, its message pointing at the failure report written for it (none
        for a wrong folder or mapping: the message says it all)."""
        if not self.sources:
            return exc
        broken = {p.table for p in exc.problems}
        rows = {t: len(st.frame) for t, st in self.staged.items() if t not in broken}
        try:
            html_path, _ = self.report([p.as_dict() for p in exc.problems], rows, exc.problems[0].message)
        except OSError:
            return exc
        return exc.with_report(str(html_path))


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
    run = _Import(Path(source_dir), Path(mapping) if mapping else None, _database_path(database))
    try:
        run.read()
        checked, notes, infos = run.validated()
        run.write(checked, notes)
    except ImportFailed as exc:
        raise run.failed(exc) from None
    rows = {t: len(checked[t]) for t in TABLES}
    html_path, json_path = run.report([note_finding(n) for n in [*notes, *infos]], rows, None)
    files = [f for sf in run.sources.values() for f in sf.files]
    return ImportResult(run.database, rows, notes, html_path, json_path, files)
