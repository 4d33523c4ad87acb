"""What every back-end holds once a dataset is open: lazy tables, settings and notes.

:class:`OpenDataset` implements the reading half of :class:`crmkit.backends.Backend` the
same way for every engine; an engine adds where its data is, its fingerprint and how to
close it.
"""

from __future__ import annotations

from collections.abc import Mapping

import narwhals as nw

from crmkit.model import DataNote

#: The crmkit-owned table of pipeline snapshots (docs/DATA_MODEL.md, "Tables crmkit
#: keeps") under the name reports read it by (``ctx.tables["pipeline_snapshots"]``): one
#: row per snapshot day and deal open at the instant it was taken. Not a canonical table:
#: imports never fill it and the data fingerprint leaves it out.
SNAPSHOTS = "pipeline_snapshots"

#: crmkit's own tables beside the canonical ones in a database, a schema or a Parquet export:
#: the dataset's settings, its data notes, and the pipeline snapshots (where a load brings
#: them, or crmkit keeps them).
SETTINGS_TABLE = "crmkit_settings"
NOTES_TABLE = "crmkit_data_notes"
SNAPSHOTS_TABLE = f"crmkit_{SNAPSHOTS}"

#: Its columns and their logical types, in order.
SNAPSHOT_COLUMNS: dict[str, str] = {
    "snapshot_date": "date",
    "taken_at": "timestamp",
    "deal_id": "id",
    "owner_id": "id",
    "customer_id": "id",
    "created_at": "timestamp",
    "stage": "str",
    "amount": "float",
    "probability": "float",
    "expected_close_at": "timestamp",
}


def no_snapshots_sql(types: Mapping[str, str]) -> str:
    """A ``SELECT`` of no rows with the snapshot columns, typed with an engine's ``types``
    (logical type -> SQL type): what a database without the table reads as."""
    cols = ", ".join(f"CAST(NULL AS {types[kind]}) AS {name}" for name, kind in SNAPSHOT_COLUMNS.items())
    return f"SELECT {cols} WHERE 1 = 0"


def team_names(teams: nw.LazyFrame) -> dict[str, str]:
    """The teams table as ``team_id -> name``, sorted by name (the same on every engine:
    the sort runs in pandas, not in the database's collation)."""
    df = teams.select("team_id", "name").collect().to_pandas().sort_values("name")
    return dict(zip(df["team_id"].astype(str), df["name"].astype(str), strict=True))


class OpenDataset:
    """An open dataset: one lazy frame per canonical table, its settings and data notes
    (read once, when it was opened) and its teams (read once, when first asked for: a
    page asks for a team's name many times)."""

    def __init__(
        self,
        location: str,
        frames: Mapping[str, nw.LazyFrame],
        settings: Mapping[str, str],
        notes: list[DataNote],
    ) -> None:
        self.location = location
        self._frames = dict(frames)
        self._settings = dict(settings)
        self._notes = list(notes)
        self._teams: dict[str, str] | None = None

    def frames(self) -> dict[str, nw.LazyFrame]:
        return dict(self._frames)

    def settings(self) -> dict[str, str]:
        return dict(self._settings)

    def notes(self) -> list[DataNote]:
        return list(self._notes)

    def teams(self) -> dict[str, str]:
        if self._teams is None:
            self._teams = team_names(self._frames["teams"])
        return dict(self._teams)
