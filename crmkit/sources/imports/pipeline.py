"""One import: mapping -> sources -> staged tables -> validation -> database + report.

A table fed by a large CSV file read in chunks is staged, validated and written chunk by
chunk (its key checked across the chunks, its notes summed); the others whole, first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from crmkit.backends.duckdb import DatabaseWriter
from crmkit.errors import plural, shown
from crmkit.model import MAX_EXAMPLES, TABLES, DataNote, DataValidationError, empty_frame, validate_table
from crmkit.model.validate import foreign_key_notes, key_values
from crmkit.parameters import team_id_problem
from crmkit.sources.imports.errors import ImportFailed, Problem
from crmkit.sources.imports.mapping import Mapping, TableMap, canonical_mapping, load_mapping
from crmkit.sources.imports.quality import note_finding, write_quality_report
from crmkit.sources.imports.sources import FILE_COL, SourceFrame, read_source
from crmkit.sources.imports.staging import (
    StagedTable,
    check_chunk_keys,
    key_frame,
    locate,
    stage_chunks,
    stage_tables,
)

__all__ = ["DEFAULT_IMPORT_DATABASE", "ImportResult", "import_exports"]

DEFAULT_IMPORT_DATABASE = Path("data") / "crm.duckdb"
#: What DuckDB may hold in memory while an import writes the database (it writes out the rest).
_DUCKDB_MEMORY = "256MB"


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
        files = f"{len(self.files)} {plural(len(self.files), 'file')}"
        lines = [f"imported {counts or 'no rows'} from {files} into {self.database}"]
        if self.notes:
            lines.append(f"{len(self.notes)} data {plural(len(self.notes), 'note')}, imported and "
                         "shown in the reports:")
            lines += [f"  {n.table}.{n.column}: {n.count:,} {plural(n.count, 'row')}: {n.rule}"
                      for n in self.notes]
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


def _streamable(mapping: Mapping, source: str) -> bool:
    """Whether ``source`` may be read in chunks: one table reads it, built from it alone
    row by row (no join, ``distinct`` or SQL), and not the teams (checked whole)."""
    users = [tm for tm in mapping.tables.values() if _reads(tm, source)]
    if len(users) != 1:
        return False
    tm = users[0]
    return tm.sql is None and tm.source == source and not tm.joins and not tm.distinct and tm.table != "teams"


def _merged(into: list[DataNote], notes: list[DataNote]) -> list[DataNote]:
    """``into`` with ``notes`` (of the next chunk) added: a note already there (same table,
    column, rule and severity) counts the new rows and keeps its first examples."""
    by_key = {(n.table, n.column, n.rule, n.severity): n for n in into}
    for n in notes:
        old = by_key.get((n.table, n.column, n.rule, n.severity))
        if old is None:
            new = DataNote(n.table, n.column, n.rule, n.count, list(n.examples), n.severity)
            into.append(new)
            by_key[(n.table, n.column, n.rule, n.severity)] = new
        else:
            old.count += n.count
            old.examples = (old.examples + list(n.examples))[:MAX_EXAMPLES]
    return into


class _Keys(MappingABC[str, pd.Series]):
    """The keys of each table, for foreign keys: from the validated frames, or from the
    key columns of a table read in chunks; each built when first asked for."""

    def __init__(self, checked: MappingABC[str, pd.DataFrame]) -> None:
        self.checked = checked
        self.parts: dict[str, list[pd.DataFrame]] = {}
        self._done: dict[str, pd.Series] = {}

    def __getitem__(self, table: str) -> pd.Series:
        if table not in self._done:
            if table in self.parts:
                parts = self.parts[table]
                frame = pd.concat(parts, ignore_index=True) if parts else empty_frame(table)
            else:
                frame = self.checked[table]
            self._done[table] = key_values(frame, table)
        return self._done[table]

    def __iter__(self) -> Iterator[str]:
        return iter(TABLES)

    def __len__(self) -> int:
        return len(TABLES)


@dataclass
class _Found:
    """The notes of an import by kind and table, put in order at the end."""

    read: dict[str, list[DataNote]] = field(default_factory=dict)
    table: dict[str, list[DataNote]] = field(default_factory=dict)
    fk: dict[str, list[DataNote]] = field(default_factory=dict)

    def add(self, kind: str, table: str, notes: list[DataNote]) -> None:
        group: dict[str, list[DataNote]] = getattr(self, kind)
        group[table] = _merged(group.get(table, []), notes)

    def ordered(self, kind: str) -> list[DataNote]:
        group: dict[str, list[DataNote]] = getattr(self, kind)
        return [n for t in TABLES for n in group.get(t, [])]


@dataclass
class _Import:
    """One import under way: what it has read so far, for the report of a failure."""

    folder: Path
    mapping_file: Path | None
    database: Path
    mapping: Mapping | None = None
    sources: dict[str, SourceFrame] = field(default_factory=dict)
    staged: dict[str, StagedTable] = field(default_factory=dict)
    #: tables built from a source read in chunks: staged, checked and written chunk by chunk
    streamed: list[str] = field(default_factory=list)
    found: _Found = field(default_factory=_Found)

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
            label = m.label if m.path else ""
            self.sources[name] = read_source(spec, self.folder, label, stream=_streamable(m, name))
        self.streamed = [
            t
            for t, tm in m.tables.items()
            if tm.sql is None and tm.source in self.sources and self.sources[tm.source].chunks is not None
        ]

    def validated(self) -> dict[str, pd.DataFrame]:
        """Stage and validate every table not read in chunks: the checked frames; the data
        notes (soft rules and value readings) go to ``found``."""
        assert self.mapping is not None
        self.staged, failures = stage_tables(self.mapping, self.sources, skip=self.streamed)
        if failures:
            raise ImportFailed([p for f in failures for p in f.problems])
        checked: dict[str, pd.DataFrame] = {}
        errors: list[DataValidationError] = []
        for name, spec in TABLES.items():
            if name in self.streamed:
                continue
            try:
                frame = self.staged[name].frame if name in self.staged else empty_frame(name)
                checked[name], notes = validate_table(spec, frame)
            except DataValidationError as exc:
                errors.append(exc)
                continue
            self.found.add("table", name, [_with_places(n, self.staged) for n in notes])
        if errors:
            raise ImportFailed([_problem_from_validation(e, self.staged) for e in errors])
        teams = _team_ids(checked["teams"], self.staged)
        if teams:
            raise ImportFailed(teams)
        for name, st in self.staged.items():
            self.found.add("read", name, st.notes)
        return checked

    def stream(self, w: DatabaseWriter, name: str, keys: _Keys) -> None:
        """Stage, validate and write table ``name`` chunk by chunk; then check its key
        across the chunks."""
        assert self.mapping is not None
        spec, parts, direct = TABLES[name], keys.parts.setdefault(name, []), {}
        for st in stage_chunks(self.mapping, self.sources, name):
            self.found.add("read", name, st.notes)
            here = {name: st}
            try:
                df, notes = validate_table(spec, st.frame)
            except DataValidationError as exc:
                raise ImportFailed(_problem_from_validation(exc, here)) from None
            self.found.add("table", name, [_with_places(n, here) for n in notes])
            self.found.add("fk", name, [_with_places(n, here) for n in foreign_key_notes(name, df, keys)])
            parts.append(key_frame(st))
            direct = st.direct
            w.append(name, df)
        check_chunk_keys(name, parts, direct)

    def notes(self) -> tuple[list[DataNote], list[DataNote]]:
        """The data notes in the order of an import read whole, and the ``info`` notes."""
        assert self.mapping is not None
        read_notes = self.found.ordered("read")
        infos = [n for n in read_notes if n.severity == "info"]
        notes = [n for n in read_notes if n.severity != "info"]
        notes += self.found.ordered("table") + self.found.ordered("fk")
        notes += _encoding_notes(self.mapping, self.sources, self.staged)
        return notes, infos

    def write(
        self, checked: dict[str, pd.DataFrame]
    ) -> tuple[dict[str, int], list[DataNote], list[DataNote]]:
        """Replace the database (atomically) with the checked tables, the tables read in
        chunks and the notes: rows per table, the data notes and the ``info`` notes."""
        assert self.mapping is not None
        settings = {
            **self.mapping.settings,
            "source": "import",
            "import_source_dir": str(self.folder.resolve()),
            "import_mapping": str(self.mapping_file.resolve()) if self.mapping_file else "",
        }
        keys = _Keys(checked)
        try:
            with DatabaseWriter(self.database, settings, checked=True, memory_limit=_DUCKDB_MEMORY) as w:
                for name in TABLES:
                    if name in self.streamed:
                        self.stream(w, name, keys)
                    else:
                        w.append(name, checked[name])
                        notes = foreign_key_notes(name, checked[name], keys)
                        self.found.add("fk", name, [_with_places(n, self.staged) for n in notes])
                notes, infos = self.notes()
                w.add_notes(notes)
        except OSError as exc:
            raise ImportFailed(
                Problem(
                    f"{self.database}: cannot write the database ({exc.strerror or exc}). Check the "
                    "path and its permissions."
                )
            ) from None
        return dict(w.rows), notes, infos

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
        checked = run.validated()
        rows, notes, infos = run.write(checked)
    except ImportFailed as exc:
        raise run.failed(exc) from None
    html_path, json_path = run.report([note_finding(n) for n in [*notes, *infos]], rows, None)
    files = [f for sf in run.sources.values() for f in sf.files]
    return ImportResult(run.database, rows, notes, html_path, json_path, files)
