"""What every back-end holds once a dataset is open: lazy tables, settings and notes.

:class:`OpenDataset` implements the reading half of :class:`crmkit.backends.Backend` the
same way for every engine; an engine adds where its data is, its fingerprint and how to
close it.
"""

from __future__ import annotations

from collections.abc import Mapping

import narwhals as nw

from crmkit.model import DataNote


def team_names(teams: nw.LazyFrame) -> dict[str, str]:
    """The teams table as ``team_id -> name``, sorted by name (the same on every engine:
    the sort runs in pandas, not in the database's collation)."""
    df = teams.select("team_id", "name").collect().to_pandas().sort_values("name")
    return dict(zip(df["team_id"].astype(str), df["name"].astype(str), strict=True))


class OpenDataset:
    """An open dataset: one lazy frame per canonical table, its settings and data notes
    (read once, when it was opened)."""

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

    def frames(self) -> dict[str, nw.LazyFrame]:
        return dict(self._frames)

    def settings(self) -> dict[str, str]:
        return dict(self._settings)

    def notes(self) -> list[DataNote]:
        return list(self._notes)

    def teams(self) -> dict[str, str]:
        return team_names(self._frames["teams"])
