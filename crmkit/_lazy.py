"""Modules loaded when first used, and modules kept out of an import that loads them for
nothing."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


class OnFirstUse(ModuleType):
    """Module ``name``, imported when one of its names is first read (seaborn's
    ``hierarchy``, the NumPy modules ``scipy.special`` names and no report uses)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Inside, importing one of ``names`` (not loaded yet) fails as if it were not
    installed: for a library that imports it only for a feature crmkit does not use, and
    does without it (seaborn's ``scipy.stats``, papermill's PyArrow). Afterwards each
    imports as usual."""
    held = [name for name in names if name not in sys.modules]
    for name in held:
        sys.modules[name] = None  # type: ignore[assignment]  # import fails: do without it
    try:
        yield
    finally:
        for name in held:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
