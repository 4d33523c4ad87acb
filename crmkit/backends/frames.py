"""In-memory pandas frames as a back-end: an analyst's data in JupyterLab, or unit tests."""

from __future__ import annotations

from collections.abc import Mapping

import narwhals as nw
import pandas as pd

from crmkit.backends.base import OpenDataset
from crmkit.backends.fingerprint import of_frames
from crmkit.model import TABLES, empty_frame


class FramesBackend(OpenDataset):
    """Pandas frames, one per canonical table, read like a database.

    Tables that are missing are empty tables with the canonical columns. The frames are
    used as they are (validated elsewhere) and never modified.
    """

    def __init__(self, frames: Mapping[str, pd.DataFrame], settings: Mapping[str, str] | None = None) -> None:
        self._given = {name: frames[name] for name in TABLES if frames.get(name) is not None}
        lazies = {
            name: nw.from_native(self._given.get(name, empty_frame(name)), eager_only=True).lazy()
            for name in TABLES
        }
        super().__init__("pandas frames", lazies, settings or {}, [])

    def fingerprint(self) -> str:
        return of_frames(self._given)

    def close(self) -> None:
        """Nothing to release."""
