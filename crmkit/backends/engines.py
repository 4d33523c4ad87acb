"""Which engine reads a database: :func:`describe` (its settings and teams, two small
queries: the runner's check before anything runs) and :func:`open_backend`.

Each engine's module is loaded when a database of its kind is first described or opened:
describing a DuckDB file loads DuckDB alone (:mod:`crmkit.backends.duckdb_file`), so the
command that runs a report does not load the data libraries its kernel computes with.
"""

from __future__ import annotations

from crmkit.backends import Backend
from crmkit.backends.location import Database, Location, SparkLocation

__all__ = ["describe", "open_backend"]


def describe(database: Database) -> tuple[dict[str, str], dict[str, str]]:
    """A database's settings and its teams (team_id -> name), read with plain SQL."""
    if isinstance(database, Location):
        from crmkit.backends.postgres import describe as describe_postgres  # lazy: per engine

        return describe_postgres(database)
    if isinstance(database, SparkLocation):
        from crmkit.backends.spark import describe as describe_spark  # lazy: per engine

        return describe_spark(database)
    from crmkit.backends.duckdb_file import describe as describe_duckdb  # lazy: per engine

    return describe_duckdb(database)


def open_backend(database: Database) -> Backend:
    """Open a database (see :func:`find_database`) read-only."""
    if isinstance(database, Location):
        from crmkit.backends.postgres import PostgresBackend  # lazy: per engine

        return PostgresBackend(database)
    if isinstance(database, SparkLocation):
        from crmkit.backends.spark import SparkBackend  # lazy: per engine

        return SparkBackend(database)
    from crmkit.backends.duckdb import DuckDBBackend  # lazy: per engine

    return DuckDBBackend(database)
