"""Read access to a canonical CRM database: lazy tables, settings, team scope, fingerprint.

A :class:`Store` hands out one narwhals ``LazyFrame`` per canonical table, read through a
back-end (:class:`crmkit.backends.Backend`): on the embedded DuckDB store the frames are
DuckDB relations, so filters and aggregations run inside DuckDB and only results are
materialised; on a PostgreSQL database (``$CRMKIT_DATABASE_URL``) they are ibis tables, so
the same metric code compiles to SQL that PostgreSQL runs; :meth:`Store.from_frames` gives
the same interface over plain pandas frames (an analyst's data in JupyterLab, or unit
tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import narwhals as nw
import pandas as pd

from crmkit.backends import Backend
from crmkit.backends.base import SNAPSHOT_COLUMNS, SNAPSHOTS, team_names
from crmkit.backends.changes import stamp
from crmkit.backends.duckdb import DuckDBBackend
from crmkit.backends.engines import open_backend
from crmkit.backends.fingerprint import of_frames
from crmkit.backends.frames import FramesBackend
from crmkit.backends.location import Database, Location, SparkLocation, file_state, find_database
from crmkit.model import PANDAS_DTYPES, TABLES, DataNote
from crmkit.parameters import ALL_TEAMS, resolve_team

__all__ = ["Store", "Tables", "no_snapshots", "scope_to_team"]


@dataclass
class Tables(Mapping[str, nw.LazyFrame]):
    """The canonical tables and crmkit's pipeline snapshots (``pipeline_snapshots``) as
    lazy frames, possibly narrowed to one team."""

    frames: dict[str, nw.LazyFrame]
    team: str = ALL_TEAMS

    def __getitem__(self, name: str) -> nw.LazyFrame:
        return self.frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getattr__(self, name: str) -> nw.LazyFrame:
        try:
            return self.__dict__["frames"][name]
        except KeyError as exc:
            raise AttributeError(name) from exc


@dataclass
class Store:
    """A canonical CRM database opened for reading."""

    tables: Tables
    settings: dict[str, str] = field(default_factory=dict)
    notes: list[DataNote] = field(default_factory=list)
    location: str = "pandas frames"
    _backend: Backend | None = None
    _fingerprint: str | None = None
    _database: Database | None = None
    _scoped: dict[str, Tables] = field(default_factory=dict, repr=False)

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, database: str | os.PathLike[str] | Location | SparkLocation | None = None) -> Store:
        """Open a canonical database read-only: a DuckDB file, or a PostgreSQL schema
        (see :func:`crmkit.backends.location.find_database` for where it is looked for)."""
        where = find_database(database)
        store = cls.of(open_backend(where))
        store._database = where
        return store

    @classmethod
    def shared(
        cls, database: str | os.PathLike[str] | Location | SparkLocation | None = None
    ) -> Store:
        """:meth:`open`; in a kernel crmkit started to run reports one after another
        (:func:`keep_stores`), the store it opened for the previous report of the same
        DuckDB file, while the file has not changed since and the store is open: its
        connection, its tables narrowed to each team and what DuckDB has read carry over
        (a tenth of a page's first cell in a batch). PostgreSQL and Spark are opened anew."""
        where = find_database(database)
        if not _KEEP_STORES or not isinstance(where, Path):
            return cls.open(where)
        path = where.resolve()
        kept = _KEPT.pop(path, None)
        if kept is not None:
            if kept[1]._backend is not None and file_state(path) == kept[0]:
                _KEPT[path] = kept
                return kept[1]
            # closed before the file is opened again: while a connection to a path is open,
            # DuckDB hands a new one the same database, even when the file was replaced
            kept[1].close()
        store = cls.open(where)
        state = store._backend.opened if isinstance(store._backend, DuckDBBackend) else None
        if state is not None:
            _KEPT[path] = (state, store)
        return store

    @classmethod
    def from_frames(
        cls, frames: Mapping[str, pd.DataFrame], settings: Mapping[str, str] | None = None
    ) -> Store:
        """Wrap in-memory frames (validated elsewhere) with the same interface.

        Tables that are missing are treated as empty tables with the canonical columns;
        ``frames["pipeline_snapshots"]``, if given, is read as the pipeline snapshots.
        """
        store = cls.of(FramesBackend(frames, settings))
        if frames.get(SNAPSHOTS) is not None:
            store.tables.frames[SNAPSHOTS] = nw.from_native(frames[SNAPSHOTS], eager_only=True).lazy()
        return store

    @classmethod
    def of(cls, backend: Backend) -> Store:
        """A store that reads through ``backend`` (and closes it on :meth:`close`)."""
        frames = backend.frames()
        if SNAPSHOTS not in frames:  # a back-end that keeps none: no snapshot yet
            frames[SNAPSHOTS] = nw.from_native(no_snapshots(), eager_only=True).lazy()
        return cls(
            Tables(frames),
            settings=backend.settings(),
            notes=backend.notes(),
            location=backend.location,
            _backend=backend,
        )

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    # -- settings ----------------------------------------------------------------------
    @property
    def timezone(self) -> str:
        return self.settings.get("timezone") or "UTC"

    @property
    def currency(self) -> str:
        return self.settings.get("currency") or ""

    @property
    def fiscal_year_start_month(self) -> int:
        return int(self.settings.get("fiscal_year_start_month") or 1)

    # -- teams -------------------------------------------------------------------------
    def teams(self) -> dict[str, str]:
        """team_id -> name, sorted by name."""
        if self._backend is None:
            return team_names(self.tables["teams"])
        return self._backend.teams()

    def resolve_team(self, team: str) -> str:
        """Validate a team argument (id, name or ``all``) and return its id."""
        return resolve_team(team, self.teams())

    def team_name(self, team: str) -> str:
        return "All teams" if team == ALL_TEAMS else self.teams().get(team, team)

    def employees(self) -> pd.DataFrame:
        """The employees table, materialised (it is small)."""
        return self.tables["employees"].collect().to_pandas()

    def scoped(self, team: str) -> Tables:
        """The tables narrowed to one team (DATA_MODEL.md, "team of a fact"); narrowed once
        per store in a kernel crmkit runs reports in (:func:`keep_stores`)."""
        if team == ALL_TEAMS:
            return self.tables
        if not _KEEP_STORES:  # an analyst may change the tables between two calls
            return scope_to_team(self.tables, team)
        if team not in self._scoped:
            self._scoped[team] = scope_to_team(self.tables, team)
        return self._scoped[team]

    @property
    def database(self) -> Database | None:
        """Where the store was opened (:meth:`open`); None for tables given as frames."""
        return self._database

    # -- reproducibility ---------------------------------------------------------------
    def fingerprint(self) -> str:
        """A short hash of every canonical table's content, the same for the same data on
        every engine (:mod:`crmkit.backends.fingerprint`)."""
        if self._fingerprint is None:
            self._fingerprint = self._known_fingerprint()
        if self._fingerprint is None:
            if self._backend is not None:
                self._fingerprint = self._backend.fingerprint()
            else:
                frames = {name: self.tables[name].collect().to_pandas() for name in TABLES}
                self._fingerprint = of_frames(frames)
        return self._fingerprint

    def _known_fingerprint(self) -> str | None:
        """The fingerprint a batch run handed over (:data:`FINGERPRINT_ENV`), if the
        database has not changed since it was computed."""
        known, _, value = os.environ.get(FINGERPRINT_ENV, "").partition(":")
        if not (known and value) or self._database is None:
            return None
        try:
            return value if stamp(self._database) == known else None
        except Exception:  # noqa: BLE001 - the stamp is an optimisation: compute instead
            return None


def no_snapshots() -> pd.DataFrame:
    """The pipeline snapshots of a database that has none: no rows, the right columns."""
    return pd.DataFrame({name: pd.Series([], dtype=PANDAS_DTYPES[kind])
                         for name, kind in SNAPSHOT_COLUMNS.items()})


#: Whether :meth:`Store.shared` keeps stores (:func:`keep_stores`), and the store it kept
#: for each DuckDB file with the file's state as it was opened.
_KEEP_STORES = False
_KEPT: dict[Path, tuple[tuple[tuple[object, ...], ...], Store]] = {}


def stores_kept() -> bool:
    """Whether this process runs reports one after another on the same data
    (:func:`keep_stores`): what a report reads of the data may be remembered for the next."""
    return _KEEP_STORES


def keep_stores() -> None:
    """Let :meth:`Store.shared` keep each DuckDB store for the next report: called in the
    kernels crmkit starts (:func:`crmkit.publish.kernel.warm_up`), which run trusted reports
    one after another and are shut down after the last. Not in an analyst's session,
    where a store kept open would keep ``crmkit import`` from writing the file."""
    global _KEEP_STORES
    _KEEP_STORES = True


def release_stores() -> None:
    """Close the stores :meth:`Store.shared` kept: a kernel kept warm between batches
    (:class:`crmkit.publish.workers.WarmPool`) holds no database open while it waits, so
    nothing keeps an import or a snapshot from writing the file."""
    kept = list(_KEPT.values())
    _KEPT.clear()
    for _state, store in kept:
        store.close()


#: ``<stamp>:<fingerprint>`` of the database, computed once by a batch run for every
#: report it starts (:func:`crmkit.publish.cache.known_fingerprint`): a notebook uses it
#: while the database's stamp is unchanged instead of hashing every table again.
FINGERPRINT_ENV = "CRMKIT_FINGERPRINT"


def scope_to_team(tables: Mapping[str, nw.LazyFrame], team: str) -> Tables:
    """Narrow every table to the facts of one team.

    The team of a fact is the current team of its own employee column; a fact with no
    employee falls back to its customer's owner. Campaigns carry their own ``team_id``.
    A pipeline snapshot's row goes with the current team of the deal's owner then.
    """
    employees = tables["employees"].select("employee_id", "team_id").collect().to_pandas()
    members = sorted(employees.loc[employees["team_id"] == team, "employee_id"].astype(str))
    customers = tables["customers"].select(
        nw.col("customer_id"), nw.col("owner_id").alias("_customer_owner")
    )

    def by_employee(name: str, column: str) -> nw.LazyFrame:
        frame = tables[name]
        if "customer_id" in frame.collect_schema().names():
            return (
                frame.join(customers, on="customer_id", how="left")
                .filter(nw.coalesce(nw.col(column), nw.col("_customer_owner")).is_in(members))
                .drop("_customer_owner")
            )
        return frame.filter(nw.col(column).is_in(members))

    campaigns = tables["campaigns"].filter(nw.col("team_id") == team)
    frames = dict(tables)
    frames.update(
        teams=tables["teams"].filter(nw.col("team_id") == team),
        employees=tables["employees"].filter(nw.col("team_id") == team),
        customers=tables["customers"].filter(nw.col("owner_id").is_in(members)),
        campaigns=campaigns,
        campaign_costs=tables["campaign_costs"].join(
            campaigns.select("campaign_id"), on="campaign_id", how="semi"
        ),
        leads=by_employee("leads", "owner_id"),
        deals=by_employee("deals", "owner_id"),
        activities=by_employee("activities", "employee_id"),
        tickets=by_employee("tickets", "employee_id"),
        tasks=tables["tasks"].filter(nw.col("employee_id").is_in(members)),
        survey_responses=by_employee("survey_responses", "employee_id"),
        quotas=tables["quotas"].filter(nw.col("employee_id").is_in(members)),
    )
    if SNAPSHOTS in tables:  # a deal always has an owner: no customer to fall back on
        frames[SNAPSHOTS] = tables[SNAPSHOTS].filter(nw.col("owner_id").is_in(members))
    return Tables(frames, team=team)
