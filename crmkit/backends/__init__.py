"""Where the canonical database is, and how :class:`crmkit.store.Store` reads it.

A canonical database is a DuckDB file (:mod:`crmkit.backends.duckdb`) or a PostgreSQL
schema (:mod:`crmkit.backends.postgres`); pandas frames in memory
(:mod:`crmkit.backends.frames`) read the same way. Each implements :class:`Backend`: one
narwhals ``LazyFrame`` per canonical table, backed by the engine itself, so the same metric
code compiles to the engine's SQL and only aggregated rows travel.
:mod:`crmkit.backends.fingerprint` computes the data fingerprint the same way on every
engine.

:func:`crmkit.backends.location.find_database` says where the database is (standard
library only, so the command line answers fast); :func:`crmkit.backends.engines.describe`
reads its settings and teams with two small queries, and
:func:`crmkit.backends.engines.open_backend` opens it for reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import narwhals as nw

    from crmkit.model import DataNote

__all__ = ["DATA_LAST_DAY", "Backend"]

#: The key under which :func:`crmkit.backends.engines.describe` adds the data's last day
#: (``YYYY-MM-DD``, UTC; absent on a database without data) to the settings it returns.
DATA_LAST_DAY = "data_last_day"


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
