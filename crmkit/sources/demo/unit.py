"""One business unit being generated: its random stream, the calendar, and its ids.

Every table group of a unit draws from the unit's own random stream, in a fixed order
(:func:`crmkit.sources.demo.unit_frames`), so the same seed gives the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crmkit.errors import ParameterError
from crmkit.sources.demo.clock import Clock


@dataclass
class Unit:
    """A business unit: random stream, calendar, its number and the width of that number
    in ids (0 at scale 1: ids carry no unit number), and the scale of the build."""

    rng: np.random.Generator
    clock: Clock
    number: int
    width: int
    scale: int

    def ids(self, prefix: str, n: int, width: int) -> np.ndarray:
        """``n`` ids ``prefix-<unit><serial>``, the serial zero-padded to ``width`` digits."""
        if n >= 10**width:
            raise ParameterError(f"too many {prefix} rows in one unit ({n:,}): its ids have {width} digits")
        head = f"{prefix}-{self.number:0{self.width}d}" if self.width else f"{prefix}-"
        return np.strings.add(head, np.strings.zfill(np.arange(1, n + 1).astype(str), width))


def pick(values: np.ndarray, idx: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``values[idx]`` as an object array with None where not valid."""
    out = values[np.clip(idx, 0, len(values) - 1)].astype(object)
    if valid is not None:
        out[~valid] = None
    return out


def none_where(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values`` as an object array with None where not valid."""
    out = np.asarray(values).astype(object)
    out[~valid] = None
    return out
