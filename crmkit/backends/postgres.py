"""PostgreSQL back-end: reports read the canonical tables where they are.

A PostgreSQL database (the CRM's own database, a replica, or one filled with
:func:`load`) holds the twelve canonical tables of ``DATA_MODEL.md`` in one schema
(``public`` unless the URL says ``?schema=NAME``), beside two metadata tables that mirror
the DuckDB file's ``crmkit`` schema: ``crmkit_settings`` (key, value) and
``crmkit_data_notes``. One schema is one dataset.

The URL comes from ``$CRMKIT_DATABASE_URL`` (or is passed programmatically); it is never a
notebook parameter or a command-line argument, and the password never appears in a message:
:class:`Location` prints as the URL without it. A URL without a password lets libpq find it
(``~/.pgpass``, ``PGPASSWORD``, a service file).

psycopg and ibis (the lazy-frame engine) are imported when a database is opened, so the
command line stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw

from crmkit.backends import DATA_LAST_DAY
from crmkit.backends._sql import last_day_sql
from crmkit.backends._sql import quote as _q
from crmkit.backends.base import (
    NOTES_TABLE,
    SETTINGS_TABLE,
    SNAPSHOT_COLUMNS,
    SNAPSHOTS,
    SNAPSHOTS_TABLE,
    OpenDataset,
    no_snapshots_sql,
)
from crmkit.backends.duckdb import SNAPSHOT_NOT_NULL, SNAPSHOT_TABLE
from crmkit.backends.duckdb import connect as duck_connect
from crmkit.backends.duckdb import read_notes as duck_notes
from crmkit.backends.duckdb import read_settings as duck_settings
from crmkit.backends.fingerprint import of_postgres
from crmkit.backends.location import ENV_URL, Location, from_environment, is_url, resolve_url
from crmkit.errors import StoreError
from crmkit.model import TABLES, DataNote, TableSpec, checked_settings

#: Canonical logical types as PostgreSQL column types.
PG_TYPES: dict[str, str] = {
    "id": "text",
    "str": "text",
    "timestamp": "timestamp",
    "date": "date",
    "float": "double precision",
    "int": "bigint",
}

#: The same logical types as ibis names them.
IBIS_TYPES: dict[str, str] = {
    "id": "string",
    "str": "string",
    "timestamp": "timestamp",
    "date": "date",
    "float": "float64",
    "int": "int64",
}

#: Columns indexed after a load: the time columns the period filters use and the
#: employee columns the team scope uses (the key columns get a primary key).
INDEXED: dict[str, tuple[str, ...]] = {
    "employees": ("team_id",),
    "customers": ("owner_id", "created_at"),
    "campaigns": ("team_id",),
    "campaign_costs": ("date",),
    "leads": ("created_at", "owner_id", "customer_id", "campaign_id"),
    "deals": ("created_at", "closed_at", "owner_id", "customer_id"),
    "activities": ("occurred_at", "employee_id", "customer_id"),
    "tickets": ("opened_at", "resolved_at", "employee_id", "customer_id"),
    "tasks": ("created_at", "due_at", "completed_at", "employee_id"),
    "survey_responses": ("responded_at", "employee_id", "customer_id"),
    "quotas": ("period_start",),
}


# -- connecting ----------------------------------------------------------------------------


def connect(location: Location, *, autocommit: bool = True) -> Any:
    """A psycopg connection, with a one-line error that never shows the password."""
    try:
        import psycopg  # lazy: psycopg costs 0.2 s of CLI start-up and is an optional extra
    except ImportError:  # pragma: no cover - the postgres extra is part of dev installs
        raise StoreError("PostgreSQL support needs psycopg: pip install 'crmkit[postgres]'") from None
    try:
        secret: dict[str, Any] = {} if location.password is None else {"password": location.password}
        con = psycopg.connect(
            location.conninfo, autocommit=autocommit, application_name="crmkit",
            connect_timeout=10, **secret,
        )
    except (psycopg.Error, ValueError) as exc:
        text = str(exc).strip().splitlines()
        first = location.scrub(text[0] if text else type(exc).__name__)
        raise StoreError(f"cannot connect to PostgreSQL at {location}: {first}") from None
    return con


def _missing_tables(con: Any, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = %s", (schema,)
    ).fetchall()
    present = {r[0] for r in rows}
    return [t for t in TABLES if t not in present]


def _not_crmkit(location: Location, missing: list[str]) -> Exception:
    return StoreError(
        f"{location} is not a crmkit database: schema {location.schema!r} lacks tables "
        f"{', '.join(missing)}; load one with `crmkit load-postgres` (see README, "
        "'Running on PostgreSQL')"
    )


def read_settings(con: Any, schema: str) -> dict[str, str]:
    """The dataset settings; none (the defaults apply) when the table is absent."""
    if not _exists(con, schema, SETTINGS_TABLE):
        return {}
    rows = con.execute(f"select key, value from {_q(schema)}.{SETTINGS_TABLE} order by key").fetchall()
    return checked_settings(dict(rows))


def read_notes(con: Any, schema: str) -> list[DataNote]:
    """The data notes recorded when the dataset was built, in their original order."""
    if not _exists(con, schema, NOTES_TABLE):
        return []
    rows = con.execute(
        "select table_name, column_name, rule, severity, count, examples "
        f"from {_q(schema)}.{NOTES_TABLE} order by position"
    ).fetchall()
    return [DataNote.from_row(row) for row in rows]


def _exists(con: Any, schema: str, table: str) -> bool:
    row = con.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        (schema, table),
    ).fetchone()
    return row is not None


def describe(location: Location) -> tuple[dict[str, str], dict[str, str]]:
    """Settings and teams (team_id -> name) with two small queries (the runner's check)."""
    con = connect(location)
    try:
        missing = _missing_tables(con, location.schema)
        if "teams" in missing:
            raise _not_crmkit(location, missing)
        teams = con.execute(f"select team_id, name from {_q(location.schema)}.teams order by name").fetchall()
        settings = read_settings(con, location.schema)
        settings.pop(DATA_LAST_DAY, None)
        if not missing:
            last = con.execute(last_day_sql(location.schema)).fetchone()
            if last and last[0] is not None:
                settings[DATA_LAST_DAY] = last[0].isoformat()
    finally:
        con.close()
    return settings, {str(k): str(v) for k, v in teams}


# -- lazy tables ---------------------------------------------------------------------------


class PostgresBackend(OpenDataset):
    """A PostgreSQL dataset opened read-only: the :class:`crmkit.backends.Backend` of a schema.

    The frames are ibis tables on a PostgreSQL connection: every filter, join and
    aggregation a metric builds is compiled to one SQL query that PostgreSQL runs, and
    only its (aggregated) result is fetched.
    """

    def __init__(self, location: Location) -> None:
        self.schema = location.schema
        self.connection = connect(location)
        try:
            missing = _missing_tables(self.connection, self.schema)
            if missing:
                raise _not_crmkit(location, missing)
            settings = read_settings(self.connection, self.schema)
            notes = read_notes(self.connection, self.schema)
            self.ibis = _ibis_backend(self.connection)
            frames = {name: nw.from_native(self.ibis.table(name, database=self.schema)) for name in TABLES}
            frames[SNAPSHOTS] = nw.from_native(
                self.ibis.table(SNAPSHOTS_TABLE, database=self.schema)
                if _exists(self.connection, self.schema, SNAPSHOTS_TABLE)
                # with its schema given: ibis would ask the server with a temporary view,
                # which a read-only transaction refuses
                else self.ibis.sql(no_snapshots_sql(PG_TYPES), schema={
                    name: IBIS_TYPES[kind] for name, kind in SNAPSHOT_COLUMNS.items()})
            )
        except BaseException:
            self.connection.close()
            raise
        super().__init__(str(location), frames, settings, notes)

    def fingerprint(self) -> str:
        return of_postgres(self.connection, self.schema)

    def close(self) -> None:
        for thing in (self.ibis, self.connection):
            with contextlib.suppress(Exception):
                thing.close() if hasattr(thing, "close") else thing.disconnect()


def _ibis_backend(con: Any) -> Any:
    """An ibis PostgreSQL backend on ``con``, its transactions read-only."""
    con.execute("set session characteristics as transaction read only")
    return _backend_class().from_connection(con)


@functools.cache
def _backend_class() -> Any:
    """ibis's PostgreSQL backend with one compiler fix.

    Metrics count with ``(condition).cast(nw.Int64).sum()``; ibis compiles that to
    ``CAST(boolean AS BIGINT)``, which PostgreSQL rejects (it casts boolean to integer
    only). The fix casts through ``integer``: ``CAST(CAST(b AS INTEGER) AS BIGINT)``.
    """
    # lazy: ibis costs 0.6 s of CLI start-up and is needed only on PostgreSQL
    import ibis.expr.datatypes as dt
    from ibis.backends.postgres import Backend
    from ibis.backends.sql.compilers.postgres import PostgresCompiler

    class Compiler(PostgresCompiler):
        def visit_Cast(self, op: Any, *, arg: Any, to: Any) -> Any:
            if op.arg.dtype.is_boolean() and to.is_integer() and not to.is_int32():
                return self.cast(self.cast(arg, dt.int32), to)
            return super().visit_Cast(op, arg=arg, to=to)

        visit_TryCast = visit_Cast

    class CrmkitPostgres(Backend):
        compiler = Compiler()

    return CrmkitPostgres


# -- loading -------------------------------------------------------------------------------


def load(
    duckdb_path: str | os.PathLike[str],
    location: Location | str,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Copy a crmkit DuckDB database into PostgreSQL (schema of ``location``).

    The canonical tables are created with their canonical types (required columns NOT
    NULL, keys as primary keys), filled with ``COPY`` and indexed on the time and employee
    columns the reports filter on; settings and data notes go to ``crmkit_settings`` and
    ``crmkit_data_notes``. Everything happens in one transaction that first drops the
    schema's previous crmkit tables, so a failed load leaves the previous data in place.
    Returns the rows copied per table.
    """
    loc = location if isinstance(location, Location) else resolve_url(location)
    say = progress or (lambda _msg: None)
    source = duck_connect(Path(duckdb_path).expanduser().resolve())
    settings, notes = duck_settings(source), duck_notes(source)
    con = connect(loc, autocommit=False)
    try:
        with con.transaction(), tempfile.TemporaryDirectory(prefix="crmkit-load-") as tmp:
            rows = _replace_tables(source, con, loc, Path(tmp), say)
            _write_meta(con, loc.schema, settings, notes)
            _copy_snapshots(source, con, loc.schema, Path(tmp))
            for name in TABLES:
                con.execute(f"analyze {_q(loc.schema)}.{_q(name)}")
    except duckdb.Error as exc:
        raise StoreError(f"cannot read {duckdb_path}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:
        import psycopg  # lazy: psycopg is an optional extra; connect() above imported it

        if isinstance(exc, psycopg.Error):
            text = str(exc).strip().splitlines()
            raise StoreError(
                f"loading into {loc} failed: {loc.scrub(text[0] if text else type(exc).__name__)}"
            ) from None
        raise
    finally:
        con.close()
        source.close()
    return rows


def _replace_tables(
    source: Any, con: Any, loc: Location, tmp: Path, say: Callable[[str], None]
) -> dict[str, int]:
    """Drop the schema's previous crmkit tables, then create, fill and index each canonical
    table; the rows copied per table."""
    schema = _q(loc.schema)
    con.execute(f"create schema if not exists {schema}")
    _check_replaceable(con, loc)
    for name in (*reversed(TABLES), SETTINGS_TABLE, NOTES_TABLE):
        con.execute(f"drop table if exists {schema}.{_q(name)}")
    rows: dict[str, int] = {}
    for name, spec in TABLES.items():
        started = time.perf_counter()
        _create_table(con, schema, spec)
        rows[name] = _copy(source, con, loc.schema, name, tmp)
        _index_table(con, schema, spec)
        say(f"{name}: {rows[name]:,} rows in {time.perf_counter() - started:.1f} s")
    return rows


def _create_table(con: Any, schema: str, spec: TableSpec) -> None:
    """One canonical table with its PostgreSQL types (``schema`` is quoted already)."""
    cols = ", ".join(
        f"{_q(c.name)} {PG_TYPES[c.type]}{' not null' if c.required else ''}" for c in spec.columns
    )
    con.execute(f"create table {schema}.{_q(spec.name)} ({cols})")


def _index_table(con: Any, schema: str, spec: TableSpec) -> None:
    """The primary key and the indexes of :data:`INDEXED`, added after the rows (faster)."""
    name = spec.name
    key = ", ".join(_q(k) for k in spec.key)
    con.execute(f"alter table {schema}.{_q(name)} add constraint {_q(f'{name}_pkey')} primary key ({key})")
    for col in INDEXED.get(name, ()):
        con.execute(f"create index {_q(f'{name}_{col}_idx')} on {schema}.{_q(name)} ({_q(col)})")


def _write_meta(con: Any, schema: str, settings: dict[str, str], notes: list[DataNote]) -> None:
    """The settings and data notes tables, filled."""
    con.execute(f"create table {_q(schema)}.{SETTINGS_TABLE} (key text primary key, value text not null)")
    with con.cursor() as cur:
        cur.executemany(
            f"insert into {_q(schema)}.{SETTINGS_TABLE} values (%s, %s)", sorted(settings.items())
        )
        con.execute(
            f"create table {_q(schema)}.{NOTES_TABLE} (position integer primary key, "
            "table_name text, column_name text, rule text, severity text, "
            "count bigint, examples text)"
        )
        cur.executemany(
            f"insert into {_q(schema)}.{NOTES_TABLE} values (%s, %s, %s, %s, %s, %s, %s)",
            [(i, *n.as_row()) for i, n in enumerate(notes)],
        )


def create_snapshot_table(con: Any, schema: str) -> None:
    """crmkit's pipeline snapshots table in ``schema``, unless it exists."""
    cols = ", ".join(
        f"{_q(name)} {PG_TYPES[kind]}{' not null' if name in SNAPSHOT_NOT_NULL else ''}"
        for name, kind in SNAPSHOT_COLUMNS.items()
    )
    con.execute(
        f"create table if not exists {_q(schema)}.{SNAPSHOTS_TABLE} ({cols}, "
        f"constraint {_q(SNAPSHOTS_TABLE + '_pkey')} primary key (snapshot_date, deal_id))"
    )
    # reports pick a snapshot by the instant it describes
    con.execute(f"create index if not exists {_q(SNAPSHOTS_TABLE + '_taken_at_idx')} "
                f"on {_q(schema)}.{SNAPSHOTS_TABLE} (taken_at)")


def _copy_snapshots(source: Any, con: Any, schema: str, tmp: Path) -> None:
    """The DuckDB file's pipeline snapshots, replacing the schema's; a file without any
    leaves the schema's history as it is."""
    found = source.execute(
        "select count(*) from information_schema.tables where table_schema = 'crmkit' "
        "and table_name = ?", [SNAPSHOTS]).fetchone()
    if not found or not found[0]:
        return
    [(n,)] = source.execute(f"select count(*) from {SNAPSHOT_TABLE}").fetchall()
    if not n:
        return
    con.execute(f"drop table if exists {_q(schema)}.{SNAPSHOTS_TABLE}")
    create_snapshot_table(con, schema)
    _stream(source, con, SNAPSHOT_TABLE, f"{_q(schema)}.{SNAPSHOTS_TABLE}", list(SNAPSHOT_COLUMNS),
            tmp / f"{SNAPSHOTS}.csv")


def _check_replaceable(con: Any, loc: Location) -> None:
    """Refuse to replace tables that an earlier load did not create (a CRM's own tables
    that happen to share a canonical name)."""
    if _exists(con, loc.schema, SETTINGS_TABLE):
        return
    clash = [t for t in TABLES if t not in _missing_tables(con, loc.schema)]
    if clash:
        raise StoreError(
            f"schema {loc.schema!r} already has tables {', '.join(clash)} that crmkit did not "
            "load (no crmkit_settings table): load into another schema with --schema"
        )


def _copy(source: Any, con: Any, schema: str, name: str, tmp: Path) -> int:
    """Stream one table from DuckDB to PostgreSQL as CSV (DuckDB writes it, COPY reads it)."""
    _stream(source, con, f"main.{_q(name)}", f"{_q(schema)}.{_q(name)}", TABLES[name].column_names,
            tmp / f"{name}.csv")
    [(n,)] = source.execute(f"select count(*) from main.{_q(name)}").fetchall()
    return int(n)


def _stream(source: Any, con: Any, table: str, target: str, columns: list[str], path: Path) -> None:
    """Copy DuckDB ``table`` into PostgreSQL ``target`` (both quoted already) through a CSV
    file at ``path`` (removed afterwards)."""
    cols = ", ".join(_q(c) for c in columns)
    where = str(path).replace("'", "''")
    # Doubles are written in their shortest exact form and timestamps with microseconds, so
    # every value arrives unchanged; empty strings are quoted, NULLs are empty fields.
    source.execute(
        f"copy (select {cols} from {table}) to '{where}' "
        "(format csv, header false, quote '\"', force_quote *, "
        "timestampformat '%Y-%m-%d %H:%M:%S.%f', dateformat '%Y-%m-%d')"
    )
    with (
        con.cursor() as cur,
        cur.copy(f"copy {target} ({cols}) from stdin (format csv)") as copy,
        open(path, "rb") as fh,
    ):
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    path.unlink()


def load_from_environment(
    database: str | os.PathLike[str],
    schema: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> tuple[Location, dict[str, int]]:
    """``crmkit load-postgres``: copy ``database`` into ``$CRMKIT_DATABASE_URL``
    (``schema`` overrides the URL's). The URL is read from the environment only."""
    target = from_environment()
    if target is None:
        raise StoreError(
            f"set {ENV_URL}=postgresql://USER@HOST:PORT/DBNAME (the password in the URL, "
            "~/.pgpass or PGPASSWORD): the URL is read from the environment only, never "
            "from the command line"
        )
    if schema:
        target = target.with_schema(schema)
    if is_url(str(database)):
        raise StoreError("--database is the crmkit DuckDB file to copy, not a URL")
    return target, load(database, target, progress=progress)
