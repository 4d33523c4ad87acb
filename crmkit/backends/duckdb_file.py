"""A crmkit DuckDB file, read with DuckDB alone: :func:`connect` opens it read-only,
:func:`describe` reads its settings and teams with plain SQL, and the one-line errors of a
file that cannot be opened or read.

No data library is loaded here (pandas, narwhals, PyArrow): the command that runs a report
checks its parameters against the data with this module while the report's kernel boots,
and does not load what only the kernel computes with (0.3 s of its CPU).
:class:`crmkit.backends.duckdb.DuckDBBackend`, which reads the tables, adds itself to
:data:`OPEN_BACKENDS`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from crmkit.backends import DATA_LAST_DAY
from crmkit.backends._sql import EVENT_COLUMNS, last_day_sql
from crmkit.backends.location import file_state
from crmkit.backends.remembered import settled
from crmkit.errors import StoreError

__all__ = ["OPEN_BACKENDS", "connect", "describe", "has_table", "reading", "unreadable"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unreadable(path: Path | str, exc: BaseException) -> StoreError:
    """The one-line error for a DuckDB file that opened but cannot be read (truncated or
    damaged, e.g. copied while it was being written)."""
    return StoreError(
        f"cannot read {path}: {_first_line(exc)}; the file is damaged or truncated: "
        "build it again (crmkit import / crmkit demo) or restore a good copy"
    )


@contextlib.contextmanager
def reading(path: Path | str) -> Iterator[None]:
    """Turn a DuckDB failure while reading ``path`` into :func:`unreadable`'s one line."""
    try:
        yield
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
            raise
        raise unreadable(path, exc) from None


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a crmkit DuckDB database read-only, with a one-line error if that fails."""
    if not path.exists():
        raise StoreError(
            f"no database at {path}: build the demo with `crmkit demo` "
            "or point --database / CRMKIT_DATABASE at your crmkit database"
        )
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a DuckDB database: give the database file")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open {path} as a DuckDB database: {_first_line(exc)}") from None


#: What :func:`describe` read, by file and state of the file: a batch worker checks the
#: parameters of page after page against the same database. Remembered only for a state
#: that was unchanged while it was read, settled (:func:`settled`: not written in the last
#: two seconds) and not perhaps read from an older file another connection holds open.
_DESCRIBED: dict[tuple[str, tuple[tuple[object, ...], ...]],
                 tuple[dict[str, str], dict[str, str]]] = {}


def describe(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A database's settings and its teams (team_id -> name), read with plain SQL; read
    again only when the file has changed (:func:`file_state`)."""
    key = (str(Path(path).resolve()), file_state(Path(path)))
    if key in _DESCRIBED:
        settings, teams = _DESCRIBED[key]
        return dict(settings), dict(teams)
    settings, teams = _describe(path)
    if file_state(Path(path)) == key[1] and settled(key[1]) and not _held(Path(path), key[1]):
        if len(_DESCRIBED) >= 16:
            _DESCRIBED.clear()
        _DESCRIBED[key] = (dict(settings), dict(teams))
    return settings, teams


def _describe(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    con = connect(path)
    try:
        with reading(path):
            if not has_table(con, "main", "teams"):
                raise StoreError(f"{path} is not a crmkit database: it has no teams table")
            teams = dict(con.execute("select team_id, name from teams order by name").fetchall())
            settings = {}
            if has_table(con, "crmkit", "settings"):  # without: the defaults apply
                settings = dict(con.execute("select key, value from crmkit.settings").fetchall())
            settings.pop(DATA_LAST_DAY, None)
            if all(has_table(con, "main", table) for table in EVENT_COLUMNS):
                [(last,)] = con.execute(last_day_sql("main")).fetchall()
                if last is not None:
                    settings[DATA_LAST_DAY] = last.isoformat()
    finally:
        con.close()
    return {str(k): str(v) for k, v in settings.items()}, {str(k): str(v) for k, v in teams.items()}


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``con``'s database has table ``schema.table``."""
    row = con.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return row is not None


#: The back-ends of each file this process opened
#: (:class:`crmkit.backends.duckdb.DuckDBBackend`, which adds itself).
OPEN_BACKENDS: dict[Path, weakref.WeakSet[Any]] = {}


def _held(path: Path, state: tuple[tuple[object, ...], ...] | None) -> bool:
    """Whether a backend of this process holds ``path`` open as it was in another state
    (DuckDB then hands a new connection that older database)."""
    return any(not b._closed and b._opened != state for b in OPEN_BACKENDS.get(path.resolve(), ()))
