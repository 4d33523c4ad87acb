"""The embedded DuckDB back-end: a crmkit database is one DuckDB file.

The file holds the twelve canonical tables in its ``main`` schema (canonical names, column
order and types; required columns NOT NULL) and dataset metadata in a ``crmkit`` schema:
``crmkit.settings`` (key, value) and ``crmkit.data_notes``, beside crmkit's own
``crmkit.pipeline_snapshots`` (:mod:`crmkit.backends.snapshots`), which a rebuild of the
canonical tables keeps.

Writing: :func:`write_database` validates a full set of frames and writes them;
:class:`DatabaseWriter` builds a database chunk by chunk (for data that does not fit in
memory). Both build a temporary file beside the target and rename it over the target only
when everything succeeded (:func:`crmkit._files.replacing`), so a failure leaves an
existing database untouched and nothing behind.

Reading: :func:`connect` opens a file read-only, :func:`describe` reads settings and teams
with plain SQL (the runner's quick check; both in :mod:`crmkit.backends.duckdb_file`,
with DuckDB alone), :class:`DuckDBBackend` hands
:class:`crmkit.store.Store` one narwhals ``LazyFrame`` per table, backed by DuckDB
relations, so filters and aggregations run inside DuckDB.

Logical types map to DuckDB as ``id``/``str`` -> VARCHAR, ``timestamp`` -> TIMESTAMP
(naive, UTC), ``date`` -> DATE, ``float`` -> DOUBLE, ``int`` -> BIGINT.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import narwhals as nw
import pandas as pd
import pyarrow as pa

from crmkit._files import replacing
from crmkit.backends._sql import quote as _q
from crmkit.backends.base import SNAPSHOT_COLUMNS, SNAPSHOTS, OpenDataset, no_snapshots_sql
from crmkit.backends.duckdb_file import OPEN_BACKENDS, connect, describe, has_table, reading
from crmkit.backends.fingerprint import of_duckdb
from crmkit.backends.remembered import fingerprint_of, opened_state
from crmkit.errors import StoreError
from crmkit.model import (
    MAX_EXAMPLES,
    PANDAS_DTYPES,
    SETTINGS_DEFAULTS,
    TABLES,
    DataNote,
    DataValidationError,
    checked_settings,
    short_value,
    validate,
    validate_table,
)

__all__ = [
    "DUCKDB_TYPES",
    "DatabaseWriter",
    "DuckDBBackend",
    "connect",
    "create_tables",
    "describe",
    "read_notes",
    "read_settings",
    "write_database",
]

#: The DuckDB type of each logical type.
DUCKDB_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "str": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "float": "DOUBLE",
    "int": "BIGINT",
}

_NOTE_COLUMNS = "table_name, column_name, rule, severity, count, examples"

#: The crmkit-owned pipeline snapshots (:data:`crmkit.backends.base.SNAPSHOTS`), in the
#: ``crmkit`` schema beside the settings; written by :mod:`crmkit.backends.snapshots`.
SNAPSHOT_TABLE = f"crmkit.{SNAPSHOTS}"
#: Snapshot columns that are never null (a deal's id, owner and creation are required).
SNAPSHOT_NOT_NULL = ("snapshot_date", "taken_at", "deal_id", "owner_id", "created_at")


# -- reading (opening a file and describing it: crmkit.backends.duckdb_file) ---------------


def read_settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The dataset settings (``timezone``, ``currency``, ``fiscal_year_start_month``, ...)."""
    rows = con.execute("SELECT key, value FROM crmkit.settings ORDER BY key").fetchall()
    return checked_settings(dict(rows))


def read_notes(con: duckdb.DuckDBPyConnection) -> list[DataNote]:
    """The soft data notes recorded when the database was built, in their original order."""
    rows = con.execute(f"SELECT {_NOTE_COLUMNS} FROM crmkit.data_notes ORDER BY rowid").fetchall()
    return [DataNote.from_row(row) for row in rows]


class DuckDBBackend(OpenDataset):
    """A crmkit DuckDB file opened read-only: the :class:`crmkit.backends.Backend` of a file."""

    _closed = False

    def __init__(self, path: Path) -> None:
        held = list(OPEN_BACKENDS.get(Path(path).resolve(), ()))
        self.connection, self._opened = opened_state(path, lambda: connect(path))
        if any(not b._closed and b._opened != self._opened for b in held):
            # DuckDB hands a connection to a path the database another connection holds
            # open, even when the file was replaced since: what it reads is not the state
            # of the file now, so nothing is remembered for that state
            self._opened = None
        OPEN_BACKENDS.setdefault(Path(path).resolve(), weakref.WeakSet()).add(self)
        try:
            with reading(path):
                self._open(path)
        except BaseException:
            self.close()
            raise

    def _open(self, path: Path) -> None:
        rows = self.connection.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
        ).fetchall()
        missing = [t for t in TABLES if t not in {r[0] for r in rows}]
        if missing:
            raise StoreError(
                f"{path} is not a crmkit database: missing tables {', '.join(missing)}; "
                "import your data with crmkit (see README, 'Adding a data source')"
            )
        frames = {name: nw.from_native(self.connection.table(name)) for name in TABLES}
        has_snapshots = has_table(self.connection, "crmkit", SNAPSHOTS)
        frames[SNAPSHOTS] = nw.from_native(
            self.connection.table(SNAPSHOT_TABLE) if has_snapshots
            else self.connection.sql(no_snapshots_sql(DUCKDB_TYPES))
        )
        super().__init__(str(path), frames, read_settings(self.connection), read_notes(self.connection))

    @property
    def opened(self) -> tuple[tuple[object, ...], ...] | None:
        """The file's state as it was opened (None: it changed meanwhile)."""
        return self._opened

    def teams(self) -> dict[str, str]:
        with reading(self.location):
            return super().teams()

    def fingerprint(self) -> str:
        """Remembered for the file's state (:mod:`crmkit.backends.remembered`): hashing
        every row costs seconds on a large database, once per change of the data."""
        with reading(self.location):
            return fingerprint_of(Path(self.location), self._opened, lambda: of_duckdb(self.connection))

    def close(self) -> None:
        self._closed = True
        self.connection.close()


# -- writing --------------------------------------------------------------------------------


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the canonical tables (main schema) and the ``crmkit`` metadata schema.

    The main schema holds exactly the twelve canonical tables, with their canonical column
    names and order; required columns are NOT NULL.  Keys are checked by validation (and by
    :class:`DatabaseWriter` with SQL) rather than by index constraints, which keeps large
    loads fast.  ``crmkit.settings`` and ``crmkit.data_notes`` hold dataset metadata.
    """
    for spec in TABLES.values():
        cols = ",\n  ".join(
            f"{_q(c.name)} {DUCKDB_TYPES[c.type]}{' NOT NULL' if c.not_null else ''}" for c in spec.columns
        )
        con.execute(f"CREATE TABLE main.{_q(spec.name)} (\n  {cols}\n)")
    con.execute("CREATE SCHEMA IF NOT EXISTS crmkit")
    con.execute("CREATE TABLE crmkit.settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute(
        "CREATE TABLE crmkit.data_notes (table_name VARCHAR, column_name VARCHAR, "
        "rule VARCHAR, severity VARCHAR, count BIGINT, examples VARCHAR)"
    )
    create_snapshot_table(con)


def create_snapshot_table(con: duckdb.DuckDBPyConnection) -> None:
    """The crmkit-owned pipeline snapshots table, unless it exists (``crmkit`` schema)."""
    cols = ", ".join(
        f"{_q(name)} {DUCKDB_TYPES[kind]}{' NOT NULL' if name in SNAPSHOT_NOT_NULL else ''}"
        for name, kind in SNAPSHOT_COLUMNS.items()
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS crmkit")
    con.execute(f"CREATE TABLE IF NOT EXISTS {SNAPSHOT_TABLE} ({cols})")


def insert_snapshots(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    """Append pipeline snapshot rows (a frame with the snapshot columns)."""
    if len(frame) == 0:
        return
    view = f"_crmkit_snapshots_{uuid.uuid4().hex}"
    # through Arrow: DuckDB scans it at half the cost of a pandas frame (demo builds)
    con.register(view, pa.Table.from_pandas(frame[list(SNAPSHOT_COLUMNS)], preserve_index=False))
    try:
        select = ", ".join(f"CAST({_q(c)} AS {DUCKDB_TYPES[t]})" for c, t in SNAPSHOT_COLUMNS.items())
        con.execute(f"INSERT INTO {SNAPSHOT_TABLE} SELECT {select} FROM {view}")
    finally:
        con.unregister(view)


def carry_snapshots(con: duckdb.DuckDBPyConnection, previous: Path) -> None:
    """Copy the pipeline snapshots of the database a new one replaces (an import rebuilds
    the canonical tables; the history crmkit took of them stays). A file that is not a
    readable crmkit database has none to give; one locked by a writer is an error, so that
    no history is lost."""
    if not previous.is_file():
        return
    target = str(previous).replace("'", "''")
    try:
        con.execute(f"ATTACH '{target}' AS crmkit_previous (READ_ONLY)")
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise StoreError(
                f"cannot keep the pipeline snapshots of {previous}: another process is writing "
                "to it; run again when it has finished"
            ) from None
        return
    try:
        found = con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_catalog = 'crmkit_previous' "
            "AND table_schema = 'crmkit' AND table_name = ?", [SNAPSHOTS]).fetchone()
        if found:
            cols = ", ".join(_q(c) for c in SNAPSHOT_COLUMNS)
            con.execute(f"INSERT INTO {SNAPSHOT_TABLE} ({cols}) SELECT {cols} "
                        f"FROM crmkit_previous.{SNAPSHOT_TABLE}")
    finally:
        con.execute("DETACH crmkit_previous")


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    """Append validated rows to a canonical table (missing optional columns as nulls)."""
    spec = TABLES[table]
    if len(df) == 0:
        return
    df = df.copy(deep=False)
    for c in spec.columns:
        if c.name not in df.columns:
            df[c.name] = pd.Series(None, index=df.index, dtype=PANDAS_DTYPES[c.type])
    view = f"_crmkit_chunk_{uuid.uuid4().hex}"
    con.register(view, df[spec.column_names])
    try:
        select = ", ".join(f"CAST({_q(c.name)} AS {DUCKDB_TYPES[c.type]})" for c in spec.columns)
        con.execute(f"INSERT INTO main.{_q(table)} SELECT {select} FROM {view}")
    finally:
        con.unregister(view)


def check_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """``settings`` over :data:`~crmkit.model.SETTINGS_DEFAULTS`, with ``built_at`` added,
    each checked (:func:`~crmkit.model.checked_settings`: a markup currency, an unknown
    time zone or a month outside 1..12 raise a one-line ``SettingError``)."""
    out = dict(SETTINGS_DEFAULTS)
    out.update(checked_settings(settings))
    out.setdefault("built_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out


def _write_meta(
    con: duckdb.DuckDBPyConnection, settings: Mapping[str, str], notes: Iterable[DataNote]
) -> None:
    con.executemany("INSERT INTO crmkit.settings VALUES (?, ?)", sorted(settings.items()))
    rows = [n.as_row() for n in notes]
    if rows:
        con.executemany(f"INSERT INTO crmkit.data_notes ({_NOTE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)


def _remove_wal(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.with_name(path.name + ".wal").unlink()


@contextlib.contextmanager
def _new_database(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a new, empty canonical database that replaces ``path`` when the
    block ends without an error (and is removed, with its write-ahead log, when it raises)."""
    with replacing(path) as tmp:
        tmp.unlink()  # DuckDB refuses the empty file that replacing() made: it creates its own
        con = duckdb.connect(str(tmp))
        try:
            create_tables(con)
            yield con
            con.execute("CHECKPOINT")
        finally:
            con.close()
            _remove_wal(tmp)
        # A stale write-ahead log of the old file must not be replayed onto the new one.
        _remove_wal(path)


def write_database(
    path: str | os.PathLike[str],
    frames: Mapping[str, pd.DataFrame],
    *,
    settings: Mapping[str, str],
    notes: Iterable[DataNote] = (),
    validate_first: bool = True,
) -> Path:
    """Validate ``frames`` and write them as a canonical DuckDB database at ``path``.

    The database is built in a temporary file in the same directory and renamed over
    ``path`` only when everything succeeded: a failure leaves an existing database
    untouched and no temporary file behind.  ``settings`` are merged over
    :data:`~crmkit.model.SETTINGS_DEFAULTS` (``built_at`` is added); ``notes`` are stored
    with the notes found by validation.  With ``validate_first=False`` the frames are
    written as they are (for frames that :func:`~crmkit.model.validate` already returned).
    """
    all_settings = check_settings(settings)
    all_notes = list(notes)
    if validate_first:
        checked, found = validate(frames)
        all_notes.extend(found)
    else:
        checked = dict(frames)
    with _new_database(Path(path)) as con:
        for name in TABLES:
            if name in checked:
                _insert(con, name, checked[name])
        _write_meta(con, all_settings, all_notes)
        carry_snapshots(con, Path(path))
    return Path(path)


class DatabaseWriter:
    """Build a canonical database chunk by chunk (for data that does not fit in memory).

    Use as a context manager::

        with DatabaseWriter(path, {"currency": "EUR"}) as w:
            w.append("teams", teams)
            for chunk in chunks:
                w.append("customers", chunk.customers)
                ...

    :meth:`append` validates the chunk's table-level rules (types, required values,
    enumerations, ranges, cross-column rules, key uniqueness within the chunk) and inserts
    it.  On a clean exit the writer checks key uniqueness across chunks and foreign keys with
    SQL, stores settings and notes and renames the file over ``path``; on an exception the
    temporary file is removed and an existing database stays as it was.  Tables that were
    never appended stay empty.  With ``checked=True`` the caller has validated every chunk
    and checked keys and foreign keys itself: chunks are inserted as they are and the notes
    are stored as given.  ``memory_limit`` (e.g. ``"256MB"``) bounds DuckDB's own memory.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        settings: Mapping[str, str] | None = None,
        *,
        notes: Iterable[DataNote] = (),
        checked: bool = False,
        memory_limit: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.memory_limit = memory_limit
        self.settings = check_settings(settings or {})
        self.checked = checked
        self._notes: dict[tuple[str, str | None, str], DataNote] = {}
        self._given: list[DataNote] = []
        self.add_notes(notes)
        self._build: contextlib.ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self.rows: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.snapshot_rows: int | None = None  # None: none appended, keep the old ones

    def __enter__(self) -> DatabaseWriter:
        self._build = contextlib.ExitStack()
        self._con = self._build.enter_context(_new_database(self.path))
        if self.memory_limit:  # DuckDB then writes table data out instead of holding it
            self._con.execute(f"SET memory_limit = '{self.memory_limit}'")
        return self

    def add_notes(self, notes: Iterable[DataNote]) -> None:
        """Record soft notes; notes with the same table, column and rule are summed (a
        ``checked`` writer stores them as given)."""
        if self.checked:
            self._given.extend(notes)
            return
        for n in notes:
            k = (n.table, n.column, n.rule)
            if k in self._notes:
                old = self._notes[k]
                old.count += n.count
                old.examples = (old.examples + list(n.examples))[:MAX_EXAMPLES]
            else:
                self._notes[k] = DataNote(
                    n.table, n.column, n.rule, n.count, list(n.examples)[:MAX_EXAMPLES], n.severity
                )

    @property
    def notes(self) -> list[DataNote]:
        """Soft notes recorded so far."""
        return list(self._given) if self.checked else list(self._notes.values())

    def append(self, table: str, frame: pd.DataFrame) -> None:
        """Validate one chunk of ``table`` on its own and insert it (a ``checked`` writer
        inserts it as it is: a frame :func:`~crmkit.model.validate_table` returned)."""
        if self._con is None:
            raise RuntimeError("DatabaseWriter.append() outside of its 'with' block")
        if table not in TABLES:
            raise KeyError(f"{table!r} is not a canonical table ({', '.join(TABLES)})")
        df = frame
        if not self.checked:
            df, notes = validate_table(TABLES[table], frame)
            self.add_notes(notes)
        _insert(self._con, table, df)
        self.rows[table] += len(df)

    def append_snapshots(self, frame: pd.DataFrame) -> None:
        """Append pipeline snapshot rows (the demo's history); a writer that appends any
        keeps no snapshot of the database it replaces (:func:`carry_snapshots`)."""
        if self._con is None:
            raise RuntimeError("DatabaseWriter.append_snapshots() outside of its 'with' block")
        insert_snapshots(self._con, frame)
        self.snapshot_rows = (self.snapshot_rows or 0) + len(frame)

    def _finish(self, con: duckdb.DuckDBPyConnection) -> None:
        """The checks across chunks (keys, then foreign keys as notes), then the metadata
        (a ``checked`` writer's caller checked both) and the pipeline snapshots kept."""
        if self.snapshot_rows is None:
            carry_snapshots(con, self.path)
        if self.checked:
            _write_meta(con, self.settings, self._given)
            return
        _check_keys(con)
        for name, spec in TABLES.items():
            for col, target in spec.foreign_keys.items():
                n, examples = _dangling(con, name, col, target)
                if n:
                    self.add_notes([DataNote(name, col, f"{col} not found in {target}", n, examples)])
        _write_meta(con, self.settings, self.notes)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        build, con = self._build, self._con
        self._build, self._con = None, None
        if build is None or con is None:
            return
        if exc_type is not None:
            build.__exit__(exc_type, exc, tb)  # removes the temporary file
            return
        try:
            self._finish(con)
        except BaseException as failure:
            build.__exit__(type(failure), failure, failure.__traceback__)
            raise
        build.close()  # renames the new database over the path


def _check_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Raise :class:`DataValidationError` for the first table whose key repeats."""
    for name, spec in TABLES.items():
        key = ", ".join(_q(k) for k in spec.key)
        dup_sql = f"SELECT {key}, count(*) AS n FROM main.{_q(name)} GROUP BY {key} HAVING count(*) > 1"
        row = con.execute(f"SELECT count(*), sum(n) FROM ({dup_sql})").fetchone()
        if row and row[0]:
            examples = [
                {k: short_value(v) for k, v in zip(spec.key, r, strict=False)}
                for r in con.execute(
                    f"SELECT * FROM ({dup_sql}) ORDER BY {key} LIMIT {MAX_EXAMPLES}"
                ).fetchall()
            ]
            raise DataValidationError(name, ", ".join(spec.key), "key is unique", int(row[1]), examples)


def _dangling(
    con: duckdb.DuckDBPyConnection, name: str, col: str, target: str
) -> tuple[int, list[dict[str, Any]]]:
    """How many rows of ``name`` have a ``col`` that is not a key of ``target``, and examples."""
    spec = TABLES[name]
    cols: Sequence[str] = [*spec.key, col] if col not in spec.key else list(spec.key)
    sql = (
        f"SELECT {', '.join(_q(c) for c in cols)} FROM main.{_q(name)} AS s "
        f"WHERE s.{_q(col)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
        f"main.{_q(target)} AS t WHERE t.{_q(TABLES[target].key[0])} = s.{_q(col)})"
    )
    n = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
    count = int(n[0]) if n else 0
    if not count:
        return 0, []
    rows = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL LIMIT {MAX_EXAMPLES}").fetchall()
    return count, [{c: short_value(v) for c, v in zip(cols, r, strict=True)} for r in rows]
