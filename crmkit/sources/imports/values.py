"""Reading export values as canonical types: timestamps, dates, numbers, ids, enumerations.

Each parser takes one column of text (or already-typed values from SQL), returns the typed
column and raises :class:`ImportFailed` naming the first bad cell (file, line, column,
value), how many cells are bad, and the fix.

Dates and times
    ``2025-06-01``, ``2025-06-01 14:30[:05[.123]]``, ``2025-06-01T14:30:05Z`` (ISO, an offset
    is honoured), ``2025/06/01``, ``01/06/2025`` and ``06/01/2025`` (also with ``.`` or ``-``
    and a time, 12-hour clock with AM/PM accepted), and, as a last resort, spelled-out forms
    such as ``Jun 1, 2025``.  Whether ``01/06/2025`` is day-first or month-first is decided
    per column: a first part above 12 means day-first, a second part above 12 means
    month-first, both in one column is an error; a column with no telling value is read
    day-first (with a data note) unless the mapping says ``date_format: monthfirst``.  A date
    that does not exist (``31/02/2025``) is an error.  Values without an offset are local
    times of the mapping's time zone (``timezone`` of the source or table, else
    ``settings.timezone``) and are stored in UTC; ``date`` columns are calendar dates.

Numbers
    ``1234.5``, ``1,234.5``, ``1.234,5`` / ``1 234,5`` (decimal comma: from the mapping's
    ``decimal: ','``, or detected per column when only that reading works), currency
    symbols or codes around the number (``$1,200``, ``1200 EUR``) and ``25%`` (= 0.25).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dateutil import parser

from crmkit.sources.imports.errors import ImportFailed, Problem

__all__ = ["Cells", "Finding", "as_text", "parse_ids", "parse_numbers", "parse_timestamps"]


@dataclass
class Finding:
    """A soft note raised while reading values (the caller turns it into a DataNote)."""

    rule: str
    count: int
    examples: list[Any]
    severity: str = "warning"


@dataclass
class Cells:
    """One column being read, with what messages need to name its cells.

    ``where(i)`` gives ``(file, line, "deals.csv, line 7")`` for row position ``i``;
    ``label`` names the column (``column close_date (deals.closed_at)``).
    """

    values: pd.Series
    table: str
    column: str
    label: str
    where: Callable[[int], tuple[str | None, int | None, str]]

    def fail(self, mask: np.ndarray, what: str, fix: str, rule: str) -> ImportFailed:
        """The error for the cells in ``mask`` (the first one is shown)."""
        idx = np.flatnonzero(mask)
        i = int(idx[0])
        file, line, loc = self.where(i)
        value = self.values.iloc[i]
        n = len(idx)
        more = f" ({n:,} values of this column cannot be read)" if n > 1 else ""
        prefix = f"{loc}: " if loc else f"{self.table}: "
        examples = []
        for j in idx[:5]:
            f, ln, _ = self.where(int(j))
            examples.append({"file": f, "line": ln, "value": _text(self.values.iloc[int(j)])})
        return ImportFailed(
            Problem(
                f"{prefix}{self.label}: {_text(value)!r} {what}{more}. {fix}",
                table=self.table,
                column=self.column,
                rule=rule,
                count=n,
                examples=examples,
                file=file,
                line=line,
                value=_text(value),
            )
        )


def _text(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else str(v)


# --------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------

_TIME = (
    r"(?:(?:[T ]|,\s*|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
)
_OFFSET = r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
_YMD = re.compile(r"^(?P<y>\d{4})(?P<s>[-/.])(?P<a>\d{1,2})(?P=s)(?P<b>\d{1,2})" + _TIME + _OFFSET)
_DMY = re.compile(r"^(?P<a>\d{1,2})(?P<s>[-/.])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})" + _TIME + _OFFSET)
_PARTS = ("y", "s", "a", "b", "H", "M", "S", "f", "ampm", "tz")


def _offset_minutes(tz: pd.Series) -> pd.Series:
    """Minutes east of UTC for offsets like ``+02:00``, ``-0530``, ``Z`` (NaN: none)."""
    out = pd.Series(np.nan, index=tz.index)
    has = tz.notna()
    if not has.any():
        return out
    t = tz[has].astype(str)
    utc = t.isin(["Z", "UTC", "GMT"])
    m = t[~utc].str.extract(r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})?$")
    mins = m["h"].astype(float) * 60 + m["m"].fillna("0").astype(float)
    mins = mins.where(m["sign"] == "+", -mins)
    out.loc[t[utc].index] = 0.0
    out.loc[mins.index] = mins
    return out


def _compose(parts: pd.DataFrame, month: pd.Series, day: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Naive timestamps from extracted parts (NaT where the date does not exist) and
    offsets in minutes (NaN where the value had none)."""
    year = parts["y"].astype(float)
    year = year.where(year >= 100, np.where(year < 70, 2000 + year, 1900 + year))
    hour = parts["H"].astype(float).fillna(0)
    ampm = parts["ampm"].fillna("").str.lower().str[:1]
    bad_clock = (ampm != "") & ((hour > 12) | (hour == 0))
    hour = hour.where(ampm != "p", np.where(hour == 12, 12, hour + 12))
    hour = hour.where(ampm != "a", np.where(hour == 12, 0, hour))
    frac = parts["f"].fillna("0").str.ljust(6, "0").str[:6].astype(float)
    frame = pd.DataFrame(
        {
            "year": year,
            "month": month.astype(float),
            "day": day.astype(float),
            "hour": hour,
            "minute": parts["M"].astype(float).fillna(0),
            "second": parts["S"].astype(float).fillna(0),
            "us": frac,
        }
    )
    invalid = (
        (frame["month"] < 1)
        | (frame["month"] > 12)
        | (frame["day"] < 1)
        | (frame["hour"] > 23)
        | (frame["minute"] > 59)
        | (frame["second"] > 59)
        | bad_clock
    )
    frame.loc[invalid, ["month", "day", "hour", "minute", "second"]] = [1.0, 1.0, 0.0, 0.0, 0.0]
    ts = pd.to_datetime(frame, errors="coerce").where(~invalid)
    return ts.astype("datetime64[us]"), _offset_minutes(parts["tz"])


def _why_not_a_date(month: float, day: float, year: float, order: str) -> str:
    if not 1 <= month <= 12:
        return f"(read as {order}: there is no month {int(month)})"
    return f"(read as {order}: month {int(month):02d} has no day {int(day)})"


def parse_timestamps(
    cells: Cells,
    *,
    timezone: str,
    date_format: str | None = None,
    date_only: bool = False,
) -> tuple[pd.Series, list[Finding]]:
    """Read one column of dates/times; return naive UTC ``datetime64[us]`` and findings.

    ``date_only`` keeps calendar dates (no time-zone conversion, time dropped).
    ``date_format`` is ``dayfirst``, ``monthfirst`` or a strptime pattern for the values
    that are not ISO (``YYYY-MM-DD...``).
    """
    s = cells.values
    if len(s) == 0:
        return pd.Series([], dtype="datetime64[us]", index=s.index), []
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        return _typed_timestamps(s, timezone, date_only), []
    text = as_text(s)
    findings: list[Finding] = []
    parsed = _Parsed.empty(text)
    present = ~parsed.done
    fast = _one_format(text[present], date_format) if present.any() else None
    if fast is not None:
        values, aware = fast
        parsed.naive[present] = values.to_numpy()
        parsed.offset[:] = np.where(present & aware, 0.0, np.nan)
    else:
        _year_first(cells, text, parsed)
        if date_format is not None and "%" in date_format:
            _with_pattern(cells, text, parsed, date_format)
        _day_or_month_first(cells, text, parsed, date_format, findings)
        _spelled_out(cells, text, parsed, date_format)
    if date_only:
        return parsed.naive.dt.normalize(), findings
    return _to_utc(parsed.naive, parsed.offset, timezone), findings


def _typed_timestamps(s: pd.Series, timezone: str, date_only: bool) -> pd.Series:
    """A column already typed as timestamps (Parquet, Excel, SQL), as naive UTC."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = (
            s.dt.tz_localize(None).dt.normalize()
            if date_only
            else s.dt.tz_convert("UTC").dt.tz_localize(None)
        )
        return out.astype("datetime64[us]")
    out = s.astype("datetime64[us]")
    if date_only:
        return out.dt.normalize()
    return _to_utc(out, pd.Series(np.nan, index=s.index), timezone)


@dataclass
class _Parsed:
    """The values of a column read so far: naive timestamps, their offsets in minutes east
    of UTC (NaN: local time) and which values are ``done`` (read, or blank)."""

    naive: pd.Series
    offset: pd.Series
    done: np.ndarray

    @classmethod
    def empty(cls, text: pd.Series) -> _Parsed:
        return cls(
            pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]"),
            pd.Series(np.nan, index=text.index),
            ~text.notna().to_numpy(),
        )

    def set(self, rows: np.ndarray, ts: pd.Series, offset: pd.Series | float) -> None:
        """Store the values read for the positions in the boolean mask ``rows``."""
        self.naive[rows] = ts.to_numpy()
        self.offset[rows] = offset.to_numpy() if isinstance(offset, pd.Series) else offset
        self.done |= rows


def _within(rows: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """The mask over the whole column of the ``bad`` ones among the positions in ``rows``."""
    mask = np.zeros(len(rows), bool)
    mask[np.flatnonzero(rows)[bad]] = True
    return mask


def _unread_matching(
    text: pd.Series, parsed: _Parsed, pattern: re.Pattern[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The parts of the values not read yet that ``pattern`` matches, and their mask."""
    if parsed.done.all():
        return pd.DataFrame(columns=_PARTS), np.zeros(len(text), bool)
    parts = text.str.extract(pattern)
    rows = parts["y"].notna().to_numpy() & ~parsed.done
    return parts[rows], rows


def _year_first(cells: Cells, text: pd.Series, parsed: _Parsed) -> None:
    """ISO dates and times and ``2025/06/01``: the year comes first."""
    p, rows = _unread_matching(text, parsed, _YMD)
    if not rows.any():
        return
    ts, off = _compose(p, p["a"], p["b"])
    bad = ts.isna().to_numpy()
    if bad.any():
        row = p.iloc[int(np.flatnonzero(bad)[0])]
        raise cells.fail(
            _within(rows, bad),
            f"is not a valid date {_why_not_a_date(float(row['a']), float(row['b']), 0, 'YYYY-MM-DD')}",
            "Fix the value in the export.",
            f"{cells.column} is a valid date",
        )
    parsed.set(rows, ts, off)


def _with_pattern(cells: Cells, text: pd.Series, parsed: _Parsed, date_format: str) -> None:
    """The mapping's strptime pattern, for every value not read yet."""
    rows = ~parsed.done
    if not rows.any():
        return
    values = pd.to_datetime(text[rows], format=date_format, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        raise cells.fail(
            _within(rows, bad),
            f"does not match the mapping's date_format {date_format!r}",
            "Fix the value in the export or date_format: in the mapping.",
            f"{cells.column} matches date_format",
        )
    aware = isinstance(values.dtype, pd.DatetimeTZDtype)
    if aware:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    parsed.set(rows, values.astype("datetime64[us]"), 0.0 if aware else np.nan)


def _day_or_month_first(
    cells: Cells, text: pd.Series, parsed: _Parsed, date_format: str | None, findings: list[Finding]
) -> None:
    """``01/06/2025``, ``01.06.2025``: day or month first, as the column tells."""
    p, rows = _unread_matching(text, parsed, _DMY)
    if not rows.any():
        return
    a, b = p["a"].astype(int), p["b"].astype(int)
    order = _day_month_order(cells, p, a, b, date_format, rows, findings)
    month, day = (b, a) if order == "dayfirst" else (a, b)
    ts, off = _compose(p, month, day)
    bad = ts.isna().to_numpy()
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        name = "DD/MM/YYYY" if order == "dayfirst" else "MM/DD/YYYY"
        other = "monthfirst" if order == "dayfirst" else "dayfirst"
        raise cells.fail(
            _within(rows, bad),
            "is not a valid date " + _why_not_a_date(float(month.iloc[j]), float(day.iloc[j]), 0, name),
            "Fix the value in the export, or, if this column's dates are "
            f"{'month' if other == 'monthfirst' else 'day'}-first, set "
            f"date_format: {other} for its source in the mapping.",
            f"{cells.column} is a valid date",
        )
    parsed.set(rows, ts, off)


def _spelled_out(cells: Cells, text: pd.Series, parsed: _Parsed, date_format: str | None) -> None:
    """Anything else (``Jun 1, 2025`` and the like), one value at a time."""
    dayfirst = date_format != "monthfirst"
    bad = np.zeros(len(text), bool)
    for i in np.flatnonzero(~parsed.done).tolist():
        one = _parse_loose(text.iloc[i], dayfirst)
        if one is None:
            bad[i] = True
            continue
        parsed.naive.iloc[i], parsed.offset.iloc[i] = one
    if bad.any():
        raise cells.fail(
            bad,
            "is not a date crmkit can read",
            "Use YYYY-MM-DD[ HH:MM:SS], DD/MM/YYYY or MM/DD/YYYY in the export, or set "
            "date_format: (a strptime pattern such as '%d %b %Y') for its source in the mapping.",
            f"{cells.column} is a valid date",
        )


_FIRST_DMY = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:([ T])(\d{1,2}):(\d{2})(:\d{2})?)?$")


def _all_with(values: pd.Series, fmt: str) -> pd.Series | None:
    try:
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
    except (ValueError, TypeError):
        return None
    if parsed.isna().any() or not pd.api.types.is_datetime64_dtype(parsed.dtype):
        return None
    return parsed.astype("datetime64[us]")


def _one_format(values: pd.Series, date_format: str | None) -> tuple[pd.Series, bool] | None:
    """Fast path: every value in one format that needs no decision (C-speed parsing).

    Returns the parsed values (naive; UTC when ``aware``) or None, in which case the
    value-by-value path below decides, notes ambiguity and names bad cells.
    """
    first = str(values.iloc[0])
    if re.match(r"^\d{4}-\d{2}-\d{2}", first):
        try:
            parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
        except (ValueError, TypeError):
            return None
        if parsed.isna().any():
            return None
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            return parsed.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]"), True
        if pd.api.types.is_datetime64_dtype(parsed.dtype):
            return parsed.astype("datetime64[us]"), False
        return None
    if date_format is not None and "%" in date_format:
        out = _all_with(values, date_format)
        return None if out is None else (out, False)
    m = _FIRST_DMY.match(first)
    if not m:
        return None
    sep, tsep, seconds = m.group(2), m.group(5), m.group(8)
    clock = "" if tsep is None else f"{tsep}%H:%M" + (":%S" if seconds else "")
    day_first, month_first = f"%d{sep}%m{sep}%Y{clock}", f"%m{sep}%d{sep}%Y{clock}"
    if date_format == "monthfirst":
        out = _all_with(values, month_first)
    elif date_format == "dayfirst":
        out = _all_with(values, day_first)
    else:
        out = _all_with(values, day_first)
        other = _all_with(values, month_first)
        if out is None:
            out = other
        elif other is not None and sep != ".":
            return None  # both orders read every value: let the slow path note it
    return None if out is None else (out, False)


def _parse_loose(v: str, dayfirst: bool) -> tuple[pd.Timestamp, float] | None:
    if re.fullmatch(r"\d+(\.\d+)?", v) and not re.fullmatch(r"\d{8}", v):
        return None  # a bare number is not a date (an Excel serial number, an id, ...)
    if not re.search(r"\d", v):
        return None
    try:
        dt = parser.parse(v, dayfirst=dayfirst)
    except (ValueError, OverflowError):
        return None
    ts = pd.Timestamp(dt)
    if ts.tzinfo is not None:
        return ts.tz_convert("UTC").tz_localize(None), 0.0
    return ts, float("nan")


def _day_month_order(
    cells: Cells,
    p: pd.DataFrame,
    a: pd.Series,
    b: pd.Series,
    date_format: str | None,
    is_dmy: np.ndarray,
    findings: list[Finding],
) -> str:
    """``dayfirst`` or ``monthfirst`` for the ``01/06/2025``-style values of a column."""
    if date_format in ("dayfirst", "monthfirst"):
        return date_format
    day_evidence = (a > 12).to_numpy()
    month_evidence = (b > 12).to_numpy()
    if day_evidence.any() and month_evidence.any():
        rows = np.flatnonzero(is_dmy)
        i, j = rows[np.flatnonzero(day_evidence)[0]], rows[np.flatnonzero(month_evidence)[0]]
        _, _, loc_i = cells.where(int(i))
        _, _, loc_j = cells.where(int(j))
        mask = np.zeros(len(cells.values), bool)
        mask[j] = True
        raise cells.fail(
            mask,
            f"is month-first but {cells.values.iloc[i]!r} ({loc_i or 'another row'}) is "
            "day-first: the column mixes date orders",
            "Export the column in one format, or set date_format: (a strptime pattern) for "
            "its source in the mapping.",
            f"{cells.column} has one date order",
        )
    if day_evidence.any():
        return "dayfirst"
    if month_evidence.any():
        return "monthfirst"
    ambiguous = (a != b).to_numpy() & (p["s"] != ".").to_numpy()
    if ambiguous.any():
        rows = np.flatnonzero(is_dmy)[ambiguous]
        examples = []
        for i in rows[:3]:
            _, line, _ = cells.where(int(i))
            examples.append({"line": line, "value": cells.values.iloc[int(i)]})
        findings.append(
            Finding(
                f"dates such as {cells.values.iloc[int(rows[0])]!r} read day-first (DD/MM/YYYY); "
                "set date_format: monthfirst in the mapping if they are month-first",
                int(ambiguous.sum()),
                examples,
            )
        )
    return "dayfirst"


def _to_utc(naive: pd.Series, offset: pd.Series, timezone: str) -> pd.Series:
    """Naive local times (offset NaN) in ``timezone`` and times with a known offset, to
    naive UTC."""
    out = naive.copy()
    has_offset = offset.notna()
    if has_offset.any():
        out[has_offset] = naive[has_offset] - pd.to_timedelta(offset[has_offset], unit="min")
    local = ~has_offset & naive.notna()
    if local.any() and timezone != "UTC":
        vals = naive[local]
        aware = vals.dt.tz_localize(
            timezone, ambiguous=np.zeros(len(vals), dtype=bool), nonexistent="shift_forward"
        )
        out[local] = aware.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").to_numpy()
    return out.astype("datetime64[us]")


# --------------------------------------------------------------------------------------
# Numbers and ids
# --------------------------------------------------------------------------------------

_CURRENCY = r"(?:[A-Z]{3}|R\$|US\$|[$€£¥₽₹]|руб\.?)"
_DOT_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
_COMMA_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _strip_number(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    t = text.str.replace(r"[\s\u00a0\u202f']", "", regex=True)
    t = t.str.replace(rf"^{_CURRENCY}", "", regex=True).str.replace(rf"{_CURRENCY}$", "", regex=True)
    percent = t.str.endswith("%")
    t = t.where(~percent, t.str[:-1])
    return t, percent


def _numbers_with(t: pd.Series, decimal: str) -> pd.Series:
    if decimal == ",":
        t = t.where(~t.str.match(_DOT_THOUSANDS), t.str.replace(".", "", regex=False))
        t = t.str.replace(",", ".", regex=False)
    else:
        t = t.where(~t.str.match(_COMMA_THOUSANDS), t.str.replace(",", "", regex=False))
    return pd.to_numeric(t, errors="coerce")


def parse_numbers(
    cells: Cells, *, decimal: str | None = None, integer: bool = False
) -> tuple[pd.Series, list[Finding]]:
    """Read one column of numbers (float64, or Int64 with ``integer``)."""
    s = cells.values
    findings: list[Finding] = []
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype(float)
    if pd.api.types.is_numeric_dtype(s.dtype):
        out = s.astype("float64")
    else:
        out = _text_numbers(cells, as_text(s), decimal, findings)
    _check_numbers(cells, out, integer)
    return (out.astype("Int64") if integer else out), findings


def _check_numbers(cells: Cells, out: pd.Series, integer: bool) -> None:
    """Refuse, naming the first bad cell, a number that is infinite or, in a whole-number
    column, out of range or fractional (the first rule broken, in that order)."""
    rules = [(out.notna() & ~np.isfinite(out), "is not a finite number", "a finite number")]
    if integer:
        rules += [
            (out.abs() >= 2**63, "is too large for a whole-number column", "a whole number in range"),
            (out.notna() & (out != np.floor(out)), "is not a whole number", "a whole number"),
        ]
    for bad, problem, rule in rules:
        if bad.any():
            raise cells.fail(bad.to_numpy(), problem, "Fix the value in the export.",
                             f"{cells.column} is {rule}")


def _text_numbers(cells: Cells, text: pd.Series, decimal: str | None, findings: list[Finding]) -> pd.Series:
    """Numbers written as text: plain, with thousands separators, currency or percent."""
    present = text.notna()
    out = pd.Series(np.nan, index=text.index, dtype="float64")
    if not present.any():
        return out
    plain = pd.to_numeric(text[present], errors="coerce")
    if plain.notna().all() and decimal != ",":
        out[present] = plain.astype("float64").to_numpy()
        return out
    t, percent = _strip_number(text[present].astype(str))
    nums = _numbers_with(t, decimal or ".")
    if decimal is None and nums.isna().any():
        alt = _numbers_with(t, ",")
        if alt.notna().all():
            nums = alt
            commas = t.str.contains(",", regex=False)
            example = text[present].iloc[int(np.flatnonzero(commas)[0])]
            findings.append(
                Finding(
                    f"numbers read with a decimal comma (e.g. {example!r}); "
                    "set decimal: '.' in the mapping if that is wrong",
                    int(commas.sum()),
                    [],
                    "info",
                )
            )
    nums = nums.where(~percent, nums / 100.0)
    bad = nums.isna().to_numpy()
    if bad.any():
        hint = (
            "Fix the value, or set decimal: ',' for its source in the mapping if the export writes 1.234,5."
            if decimal != ","
            else "Fix the value (decimal: ',' is set for its source)."
        )
        raise cells.fail(
            _within(present.to_numpy(), bad), "is not a number", hint, f"{cells.column} is a number"
        )
    out[present] = nums.to_numpy()
    return out


def as_text(s: pd.Series) -> pd.Series:
    """An object column of trimmed text, ``None`` for missing or blank values."""
    present = s.notna().to_numpy()
    out = np.full(len(s), None, dtype=object)
    if present.any():
        t = s[present].astype(str).str.strip().to_numpy(dtype=object)
        t[t == ""] = None
        out[present] = t
    return pd.Series(out, index=s.index, dtype=object)


def parse_ids(s: pd.Series) -> pd.Series:
    """Ids as trimmed text (``17.0`` from a typed source becomes ``17``)."""
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.dropna()
        if (vals == np.floor(vals)).all():
            return as_text(s.astype("Int64"))
    return as_text(s)
