"""Hand-made test frames on each engine the metrics run on."""

from __future__ import annotations

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
