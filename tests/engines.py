"""Hand-made test frames on each engine the metrics run on."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import pandas as pd

ENGINES = ["pandas", "duckdb"]


def on_engine(frames: dict[str, pd.DataFrame], engine: str) -> dict:
    """The frames as they are (pandas) or as DuckDB relations over them (duckdb)."""
    if engine == "pandas":
        return frames
    con = duckdb.connect()
    out = {}
    for name, df in frames.items():
        con.register(f"{name}_df", df)
        out[name] = con.sql(f"select * from {name}_df")
    return out


def json_differences(a: Any, b: Any, other: str, path: str = "") -> list[str]:
    """Where a report's JSON on DuckDB (``a``) and on ``other`` (``b``) differ, ignoring
    ``generated_at``.

    Floats are equal when they agree to 1e-9 relative: the engines add doubles up in
    different orders, so the last bits of a sum, variance or quantile may differ; every
    other value (counts, strings, nulls, structure, the fingerprint) must be identical.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key == "generated_at":
                continue
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only on one engine")
            else:
                out += json_differences(a[key], b[key], other, f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items on DuckDB, {len(b)} on {other}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in json_differences(x, y, other, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]
