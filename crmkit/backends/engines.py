"""Which engine reads a database: :func:`describe` (its settings and teams, two small
queries: the runner's check before anything runs) and :func:`open_backend`."""

from __future__ import annotations

from crmkit.backends import Backend
from crmkit.backends import spark as spark_engine
from crmkit.backends.duckdb import DuckDBBackend
from crmkit.backends.duckdb import describe as describe_duckdb
from crmkit.backends.location import Database, Location, SparkLocation
from crmkit.backends.postgres import PostgresBackend
from crmkit.backends.postgres import describe as describe_postgres

__all__ = ["describe", "open_backend"]


def describe(database: Database) -> tuple[dict[str, str], dict[str, str]]:
    """A database's settings and its teams (team_id -> name), read with plain SQL."""
    if isinstance(database, Location):
        return describe_postgres(database)
    if isinstance(database, SparkLocation):
        return spark_engine.describe(database)
    return describe_duckdb(database)


def open_backend(database: Database) -> Backend:
    """Open a database (see :func:`find_database`) read-only."""
    if isinstance(database, Location):
        return PostgresBackend(database)
    if isinstance(database, SparkLocation):
        return spark_engine.SparkBackend(database)
    return DuckDBBackend(database)
