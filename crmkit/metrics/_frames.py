"""Small helpers that let one metric function run on DuckDB, pandas and other engines.

Metric functions call :func:`lazy` on whatever frame they are given (a pandas or Polars
DataFrame, a DuckDB relation, a narwhals frame) and build narwhals expressions on it; only
the aggregated result is collected with :func:`one_row` or :func:`records`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from crmkit.errors import ParameterError, one_line
from crmkit.model.tables import TABLES

Frame = Any  # pandas/Polars DataFrame, DuckDB relation, or narwhals (Lazy)Frame


def lazy(frame: Frame) -> nw.LazyFrame:
    """Wrap any supported frame as a narwhals LazyFrame without copying or mutating it."""
    if isinstance(frame, nw.LazyFrame):
        return frame
    if isinstance(frame, nw.DataFrame):
        return frame.lazy()
    if isinstance(frame, pd.DataFrame):
        frame = tidy(frame)
    wrapped = nw.from_native(frame)
    return wrapped.lazy() if isinstance(wrapped, nw.DataFrame) else wrapped


#: Canonical columns by name whose values are an enumeration (lower-case) or instants.
_ENUMS = {c.name for t in TABLES.values() for c in t.columns if c.enum}
_INSTANTS = {c.name for t in TABLES.values() for c in t.columns if c.type in ("timestamp", "date")}


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """A plain pandas frame as the canonical model reads it (the frame itself when it
    already does; never mutated): enumerations in any case and with surrounding spaces as
    their lower-case values, time-zone-aware instants as naive UTC (naive ones are UTC
    already). A column that is neither raises one error that names it."""
    fixed = {}
    for name in frame.columns:
        s = frame[name]
        new = _instants(name, s) if name in _INSTANTS else _enum(name, s) if name in _ENUMS else s
        if new is not s:
            fixed[name] = new
    return frame.assign(**fixed) if fixed else frame


def _enum(name: str, s: pd.Series) -> pd.Series:
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        if s.isna().all():
            return s
        raise ParameterError(f"column {name} holds {s.dtype} values, not text (e.g. 'won')")
    present = s.dropna()
    if not present.map(lambda v: isinstance(v, str)).all():
        bad = present[~present.map(lambda v: isinstance(v, str))].iloc[0]
        raise ParameterError(f"column {name} holds {bad!r}, not text (e.g. 'won')")
    tidy = s.str.strip().str.lower()
    return s if tidy.equals(s) else tidy


def _instants(name: str, s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(s):
        return s
    if s.isna().all():
        return s.astype("datetime64[us]")
    bad = s.dropna().iloc[0]
    raise ParameterError(
        f"column {name} holds {bad!r} ({s.dtype}), not timestamps: parse it first, e.g. "
        f"pd.read_csv(..., parse_dates=[{name!r}]) or pd.to_datetime(frame[{name!r}], utc=True)")


def columns(frame: nw.LazyFrame) -> list[str]:
    return list(frame.collect_schema().names())


def clean(value: Any) -> Any:
    """Turn engine scalars into plain Python values; NaN/NaT/NA and infinities become None
    (JSON has no such numbers)."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(TypeError, ValueError):  # an array, not a scalar
            value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        if value is pd.NA or value is pd.NaT:
            return None
    except TypeError:  # pragma: no cover - exotic scalars
        pass
    return value


#: Types :func:`json_safe` returns as they are.
_PLAIN = frozenset({str, int, bool, type(None)})


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (anywhere inside) as None and anything JSON has
    no type for as text, so that the twin is always valid JSON (``allow_nan=False``)."""
    kind = type(value)
    if kind in _PLAIN:  # the bulk of a large twin: checked by exact type first
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {k if type(k) is str else str(k): json_safe(v) for k, v in value.items()}
    if kind is list:
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    cleaned = clean(value)
    if cleaned is not value:
        return json_safe(cleaned)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | Fraction):
        return json_safe(float(value))
    return one_line(str(value))


def distinct(frame: nw.LazyFrame, *names: str) -> nw.LazyFrame:
    """The distinct rows of ``names`` (nulls included), as a grouping: narwhals' ``unique``
    numbers every row in a window on SQL engines (DuckDB: several times the work of a
    GROUP BY, which every engine answers with one hash aggregate)."""
    return frame.group_by(*names).agg(nw.len().alias("_distinct_rows")).select(*names)


def one_row(frame: nw.LazyFrame) -> dict[str, Any]:
    """Collect a one-row aggregate as a dict of plain Python values."""
    table = frame.collect().to_pandas()
    if len(table) == 0:
        return {c: None for c in table.columns}
    return {c: clean(table[c].iloc[0]) for c in table.columns}


def to_pandas(frame: nw.LazyFrame) -> pd.DataFrame:
    """Collect a (small, aggregated) lazy frame into pandas."""
    return frame.collect().to_pandas()


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-safe records (NaN -> None, timestamps -> ISO strings, anything JSON
    has no type for as :func:`json_safe` makes it), made column by column: a page's
    breakdowns can hold a row for each of thousands of people."""
    keys = [str(k) for k in df.columns]
    if not keys:
        return [{} for _ in range(len(df))]
    values = [_plain_column(df, i) for i in range(len(keys))]
    return [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]


def _plain_column(df: pd.DataFrame, i: int) -> list[Any]:
    """The values of column ``i`` as :func:`clean` makes them, dates as ISO strings: NumPy
    numbers and booleans at once; text, whole numbers, dates and nulls (of any dtype) as they are;
    any other column value by value as pandas gives them out as records (which turns NumPy
    dates in an object column into timestamps)."""
    column = df.iloc[:, i]
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return column.to_numpy().tolist()  # type: ignore[no-any-return]
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        numbers = column.to_numpy()
        out = numbers.tolist()
        for j in np.flatnonzero(~np.isfinite(numbers)):
            out[j] = None
        return out  # type: ignore[no-any-return]
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        seconds = _whole_seconds(column.to_numpy())
        if seconds is not None:
            return seconds
    elif not (isinstance(dtype, np.dtype) and dtype.kind == "m"):
        out = column.tolist()
        if _plain_scalars(out):
            return out
    out = []
    for row in df.iloc[:, [i]].to_dict(orient="records"):
        (value,) = row.values()
        value = clean(value)
        out.append(json_safe(value.isoformat() if isinstance(value, datetime | date) else value))
    return out


#: The instants ``datetime`` holds (and ``isoformat`` writes).
_FIRST, _LAST = np.datetime64("0001-01-01T00:00:00"), np.datetime64("9999-12-31T23:59:59")
_TICKS_PER_SECOND = {"ms": 10**3, "us": 10**6, "ns": 10**9, "ps": 10**12, "fs": 10**15,
                     "as": 10**18}


def _whole_seconds(instants: np.ndarray) -> list[str | None] | None:
    """Naive instants as ``datetime.isoformat`` writes them, NaT as None, when none has a
    fraction of a second (None otherwise): written by NumPy at once, where pandas makes a
    timestamp of each (a tenth of a second for a page of 3,000 people's hiring dates)."""
    missing = np.isnat(instants)
    present = instants[~missing]
    unit, count = np.datetime_data(instants.dtype)
    ticks = _TICKS_PER_SECOND.get(unit, 0)  # 0: seconds or a coarser unit
    if ticks % count:
        return None  # an unusual unit ('7ms'): the old path
    per_second = ticks // count
    if per_second > 1 and (present.view("int64") % per_second).any():
        return None  # (in the column's own unit: nanoseconds overflow outside 1677..2262)
    seconds = present.astype("datetime64[s]")
    if len(seconds) and not (seconds.min() >= _FIRST and seconds.max() <= _LAST):
        return None  # a year isoformat cannot write: as before, it says so
    out: list[str | None] = np.datetime_as_string(instants, unit="s").tolist()
    for j in np.flatnonzero(missing):
        out[j] = None
    return out


def _plain_scalars(values: list[Any]) -> bool:
    """Whether ``values`` are all text, whole numbers, booleans, floats, dates and nulls (then
    made JSON-safe in place: a NaN, an infinity or a pandas NA becomes None, a date its ISO
    text)."""
    for j, value in enumerate(values):
        kind = type(value)
        if kind in _PLAIN:
            continue
        if kind is float:
            if not math.isfinite(value):
                values[j] = None
        elif value is pd.NA:
            values[j] = None
        elif kind is date or kind is datetime:
            values[j] = value.isoformat()
        else:
            return False
    return True


def in_window(col: str, start: datetime, end: datetime) -> nw.Expr:
    """``start <= col < end`` (naive UTC instants)."""
    return (nw.col(col) >= start) & (nw.col(col) < end)


def bucket(col: str, buckets: Sequence[tuple[str, datetime, datetime]]) -> nw.Expr:
    """Label of the half-open window that holds ``col`` (null when none does).

    Used to group by local calendar months in the company time zone inside the engine.
    """
    expr: Any = nw.lit(None, dtype=nw.String())
    for label, start, end in reversed(list(buckets)):
        expr = nw.when(in_window(col, start, end)).then(nw.lit(label)).otherwise(expr)
    return expr


def _whole_part(value: nw.Expr, divisor: int) -> nw.Expr:
    """``value // divisor`` for a whole ``value >= 0`` (null stays null), as a float that
    is a whole number, without a division: the multiple of ``divisor`` below ``value``
    times ``1 / divisor`` is within a rounding error of the quotient, which rounding
    removes. Spark expands every division into a guard against a zero divisor (a tree of
    cases per division that it analyses on each query); remainders and products it keeps
    as they are."""
    return ((value - value % divisor) * (1.0 / divisor)).round(0)


def _day_and_second(col: str) -> tuple[nw.Expr, nw.Expr]:
    """A timestamp as (days since 0001-01-01, seconds into the day), from date parts only.

    Every engine has date parts; not every one can take the seconds of a difference of
    timestamps (narwhals' ibis adapter, used for PostgreSQL, and its Spark adapter cannot),
    so durations are computed from these two numbers (whole numbers, so exact).
    """
    t = nw.col(col)
    y = t.dt.year() - 1
    leap_days = _whole_part(y, 4) - _whole_part(y, 100) + _whole_part(y, 400)
    day = y * 365 + leap_days + t.dt.ordinal_day()
    second = t.dt.hour() * 3600 + t.dt.minute() * 60 + t.dt.second()
    return day, second + t.dt.microsecond() / 1_000_000.0


def seconds_between(start_col: str, end_col: str, frame: nw.LazyFrame | None = None
                    ) -> nw.Expr:
    """Elapsed seconds from ``start_col`` to ``end_col`` (negative when end is earlier).

    On a DuckDB ``frame`` whose two columns are instants, the microseconds of the
    difference (``epoch_us``: exact, and half the time of a query that reads a duration per
    row); elsewhere (dates, another engine, or without the frame it is for), from date parts
    (:func:`_day_and_second`), which every engine has."""
    if frame is not None and frame.implementation is nw.Implementation.DUCKDB:
        schema = frame.collect_schema()
        if all(isinstance(schema.get(c), nw.Datetime) for c in (start_col, end_col)):
            return (nw.col(end_col) - nw.col(start_col)).dt.total_microseconds() / 1_000_000.0
    d0, s0 = _day_and_second(start_col)
    d1, s1 = _day_and_second(end_col)
    return (d1 - d0) * 86400 + (s1 - s0)


def days_between(start_col: str, end_col: str, frame: nw.LazyFrame | None = None) -> nw.Expr:
    """Fractional days from ``start_col`` to ``end_col`` (:func:`seconds_between`)."""
    return seconds_between(start_col, end_col, frame) / 86400.0


#: The column that :func:`stacked` frames carry their part's number in.
PART = "_part"


def stacked(parts: Sequence[nw.LazyFrame]) -> nw.LazyFrame:
    """Frames with the same columns one below the other (one ``UNION ALL``, so that one
    grouping answers them all); the frame itself when there is only one. Each part carries
    its number in column :data:`PART` (``nw.lit(i).alias(PART)`` in its select), so that
    overlapping parts (two periods that share days) still count each row in each."""
    return parts[0] if len(parts) == 1 else nw.concat(list(parts), how="vertical")


def split(df: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """A collected result of :func:`stacked` parts, one frame per part number ``0..n-1``
    (in the rows' order, without the :data:`PART` column, index reset)."""
    part = df[PART].to_numpy()
    rest = df.drop(columns=PART)
    return [rest[part == i].reset_index(drop=True) for i in range(n)]
