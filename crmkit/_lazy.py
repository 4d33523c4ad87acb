"""A module imported when one of its names is first read."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class OnFirstUse(ModuleType):
    """Module ``name``, imported when one of its names is first read (seaborn's
    ``hierarchy``, the NumPy modules ``scipy.special`` names and no report uses)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)
