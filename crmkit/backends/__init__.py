"""Where the canonical database is, and how :class:`crmkit.store.Store` reads it.

A canonical database is a DuckDB file (:mod:`crmkit.backends.duckdb`) or a PostgreSQL
schema (:mod:`crmkit.backends.postgres`); pandas frames in memory
(:mod:`crmkit.backends.frames`) read the same way. Each implements :class:`Backend`: one
narwhals ``LazyFrame`` per canonical table, backed by the engine itself, so the same metric
code compiles to the engine's SQL and only aggregated rows travel.
:mod:`crmkit.backends.fingerprint` computes the data fingerprint the same way on every
engine.

:func:`find_database` says where the database is, :func:`describe` reads its settings and
teams with two small queries (the runner's check before anything runs), :func:`open_backend`
opens it for reading.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from crmkit.backends.duckdb import DuckDBBackend
from crmkit.backends.duckdb import describe as describe_duckdb
from crmkit.backends.postgres import Location, PostgresBackend, from_environment, is_url
from crmkit.backends.postgres import describe as describe_postgres
from crmkit.backends.postgres import resolve as resolve_url

if TYPE_CHECKING:
    import narwhals as nw

    from crmkit.model import DataNote

__all__ = [
    "DEFAULT_DATABASE",
    "Backend",
    "Database",
    "Location",
    "describe",
    "find_database",
    "open_backend",
]

DEFAULT_DATABASE = Path("data") / "demo.duckdb"

#: A canonical database: a DuckDB file, or a PostgreSQL schema (:class:`Location`).
Database = Path | Location


class Backend(Protocol):
    """An open canonical database, as :class:`crmkit.store.Store` reads it."""

    @property
    def location(self) -> str:
        """Where the data is, safe to show (a PostgreSQL URL without its password)."""
        ...

    def frames(self) -> dict[str, nw.LazyFrame]:
        """One lazy frame per canonical table, in :data:`~crmkit.model.TABLES` order."""
        ...

    def settings(self) -> dict[str, str]:
        """The dataset settings (``timezone``, ``currency``, ...); empty: the defaults."""
        ...

    def notes(self) -> list[DataNote]:
        """The data notes recorded when the dataset was built, in their original order."""
        ...

    def teams(self) -> dict[str, str]:
        """``team_id -> name``, sorted by name."""
        ...

    def fingerprint(self) -> str:
        """A short hash of every canonical table's content (:mod:`crmkit.backends.fingerprint`)."""
        ...

    def close(self) -> None:
        """Release the connection; the frames are unusable afterwards."""
        ...


def find_database(database: str | os.PathLike[str] | Location | None = None) -> Database:
    """Where the canonical database is, first found of: the argument (a DuckDB file, or a
    ``postgresql://`` URL given programmatically), ``$CRMKIT_DATABASE`` (a DuckDB file),
    ``$CRMKIT_DATABASE_URL`` (PostgreSQL), ``data/demo.duckdb`` in the current directory
    or one of its parents.

    A PostgreSQL location prints without its password; a URL argument without one takes
    the password of ``$CRMKIT_DATABASE_URL`` when that names the same database.
    """
    if isinstance(database, Location):
        return resolve_url(database)
    if database and is_url(str(database)):
        return resolve_url(str(database))
    if database:
        return Path(database).expanduser().resolve()
    env = os.environ.get("CRMKIT_DATABASE")
    if env:
        return Path(env).expanduser().resolve()
    location = from_environment()
    if location is not None:
        return location
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_DATABASE
        if candidate.exists():
            return candidate
    return (here / DEFAULT_DATABASE).resolve()


def describe(database: Database) -> tuple[dict[str, str], dict[str, str]]:
    """A database's settings and its teams (team_id -> name), read with plain SQL."""
    if isinstance(database, Location):
        return describe_postgres(database)
    return describe_duckdb(database)


def open_backend(database: Database) -> Backend:
    """Open a database (see :func:`find_database`) read-only."""
    if isinstance(database, Location):
        return PostgresBackend(database)
    return DuckDBBackend(database)
