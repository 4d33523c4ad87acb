"""Read access to a canonical CRM database: lazy tables, settings, team scope, fingerprint.

A :class:`Store` hands out one narwhals ``LazyFrame`` per canonical table. On the embedded
DuckDB store the frames are DuckDB relations, so filters and aggregations run inside DuckDB
and only results are materialised; on a PostgreSQL database (``$CRMKIT_DATABASE_URL``) they
are ibis tables, so the same metric code compiles to SQL that PostgreSQL runs
(:mod:`crmkit.backends.postgres`); :meth:`Store.from_frames` gives the same interface over
plain pandas frames (an analyst's data in JupyterLab, or unit tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import pandas as pd

from crmkit.backends import fingerprint as fp
from crmkit.backends.postgres import Location
from crmkit.errors import StoreError
from crmkit.metrics import _frames as F
from crmkit.model import TABLES, DataNote, empty_frame, read_notes, read_settings
from crmkit.parameters import connect, find_database
from crmkit.periods import resolve_team

ALL_TEAMS = "all"

__all__ = ["ALL_TEAMS", "Store", "StoreError", "Tables", "find_database", "scope_to_team"]


@dataclass
class Tables(Mapping[str, nw.LazyFrame]):
    """The canonical tables as lazy frames, possibly narrowed to one team."""

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
    _connection: Any = None
    _fingerprint: str | None = None
    _digest: Callable[[], str] | None = None

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, database: str | os.PathLike[str] | Location | None = None) -> Store:
        """Open a canonical database read-only: a DuckDB file, or a PostgreSQL schema
        (see :func:`crmkit.parameters.find_database` for where it is looked for)."""
        path = find_database(database)
        if isinstance(path, Location):
            return cls._open_postgres(path)
        con = connect(path)
        present = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        }
        missing = [t for t in TABLES if t not in present]
        if missing:
            con.close()
            raise StoreError(
                f"{path} is not a crmkit database: missing tables {', '.join(missing)}; "
                "import your data with crmkit (see README, 'Adding a data source')"
            )
        frames = {name: nw.from_native(con.table(name)) for name in TABLES}
        store = cls(
            Tables(frames),
            settings=read_settings(con),
            notes=read_notes(con),
            location=str(path),
            _connection=con,
            _digest=lambda: fp.of_duckdb(con),
        )
        return store

    @classmethod
    def _open_postgres(cls, location: Location) -> Store:
        from crmkit.backends import postgres

        opened = postgres.open_dataset(location)
        return cls(
            Tables(opened.frames),
            settings=opened.settings,
            notes=opened.notes,
            location=str(location),
            _connection=opened,
            _digest=lambda: fp.of_postgres(opened.connection, location.schema),
        )

    @classmethod
    def from_frames(
        cls, frames: Mapping[str, pd.DataFrame], settings: Mapping[str, str] | None = None
    ) -> Store:
        """Wrap in-memory frames (validated elsewhere) with the same interface.

        Tables that are missing are treated as empty tables with the canonical columns.
        """
        lazies: dict[str, nw.LazyFrame] = {}
        for name in TABLES:
            df = frames.get(name)
            if df is None:
                df = empty_frame(name)
            lazies[name] = F.lazy(df)
        return cls(
            Tables(lazies),
            settings=dict(settings or {}),
            _digest=lambda: fp.of_frames({n: frames[n] for n in TABLES if n in frames}),
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

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
        df = F.to_pandas(self.tables["teams"].select("team_id", "name"))
        df = df.sort_values("name")
        return dict(zip(df["team_id"].astype(str), df["name"].astype(str), strict=True))

    def resolve_team(self, team: str) -> str:
        """Validate a team argument (id, name or ``all``) and return its id."""
        return resolve_team(team, self.teams())

    def team_name(self, team: str) -> str:
        return "All teams" if team == ALL_TEAMS else self.teams().get(team, team)

    def employees(self) -> pd.DataFrame:
        """The employees table, materialised (it is small)."""
        return F.to_pandas(self.tables["employees"])

    def scoped(self, team: str) -> Tables:
        """The tables narrowed to one team (DATA_MODEL.md, "team of a fact")."""
        if team == ALL_TEAMS:
            return self.tables
        return scope_to_team(self.tables, team)

    # -- reproducibility ---------------------------------------------------------------
    def fingerprint(self) -> str:
        """A short hash of every canonical table's content, the same for the same data on
        every engine (:mod:`crmkit.backends.fingerprint`)."""
        if self._fingerprint is None:
            if self._digest is not None:
                self._fingerprint = self._digest()
            else:
                frames = {name: F.to_pandas(self.tables[name]) for name in TABLES}
                self._fingerprint = fp.of_frames(frames)
        return self._fingerprint


def scope_to_team(tables: Mapping[str, nw.LazyFrame], team: str) -> Tables:
    """Narrow every table to the facts of one team.

    The team of a fact is the current team of its own employee column; a fact with no
    employee falls back to its customer's owner. Campaigns carry their own ``team_id``.
    """
    employees = F.to_pandas(tables["employees"].select("employee_id", "team_id"))
    members = sorted(employees.loc[employees["team_id"] == team, "employee_id"].astype(str))
    customers = tables["customers"].select(
        nw.col("customer_id"), nw.col("owner_id").alias("_customer_owner")
    )

    def by_employee(name: str, column: str) -> nw.LazyFrame:
        frame = tables[name]
        if "customer_id" in F.columns(frame):
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
    return Tables(frames, team=team)
