"""The canonical CRM model: table contracts, validation and the DuckDB database.

Every report reads the twelve canonical tables described in ``DATA_MODEL.md`` and nothing
else.  This module is the one place where those tables are defined:

* :data:`TABLES` lists them in dependency (loading) order, with their columns, logical
  types, required columns, keys, enumerations and foreign keys;
* :func:`validate` checks a set of pandas frames against the contracts (pandera schemas
  built from :data:`TABLES` plus the cross-column rules), returns coerced copies and soft
  :class:`DataNote` findings, and raises :class:`DataValidationError` on the first hard
  violation;
* :func:`create_tables`, :func:`write_database` and :class:`DatabaseWriter` write a
  validated DuckDB database atomically; :func:`read_settings` and :func:`read_notes` read
  back the dataset settings and notes.

Logical types map to DuckDB as ``id``/``str`` -> VARCHAR, ``timestamp`` -> TIMESTAMP
(naive, UTC), ``date`` -> DATE, ``float`` -> DOUBLE, ``int`` -> BIGINT.  In validated pandas
frames they are ``str``, ``datetime64[us]`` (dates at midnight), ``float64`` and ``Int64``.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import numpy as np
import pandas as pd

from crmkit.errors import CrmkitError

if TYPE_CHECKING:  # pandera takes a third of a second to import: only validation needs it
    import pandera.pandas as pa

__all__ = [
    "ACTIVITY_TYPES",
    "DEAL_STATUSES",
    "DIRECTIONS",
    "LEAD_STATUSES",
    "ROLES",
    "SCORE_RANGES",
    "SETTINGS_DEFAULTS",
    "SURVEY_KINDS",
    "TABLES",
    "ColumnSpec",
    "DataNote",
    "DataValidationError",
    "DatabaseWriter",
    "TableSpec",
    "create_tables",
    "empty_frame",
    "read_notes",
    "read_settings",
    "validate",
    "validate_all",
    "write_database",
]

LogicalType = Literal["id", "str", "timestamp", "date", "float", "int"]

ROLES: tuple[str, ...] = ("sales", "marketing", "support", "manager", "other")
LEAD_STATUSES: tuple[str, ...] = ("new", "working", "converted", "disqualified")
DEAL_STATUSES: tuple[str, ...] = ("open", "won", "lost")
ACTIVITY_TYPES: tuple[str, ...] = (
    "call",
    "email",
    "meeting",
    "message",
    "site_visit",
    "request",
    "note",
    "other",
)
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
SURVEY_KINDS: tuple[str, ...] = ("nps", "csat", "ces")

#: Inclusive score range per survey kind (NPS scores must also be whole numbers).
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

#: Settings written to ``crmkit.settings`` when the caller does not give them.
SETTINGS_DEFAULTS: dict[str, str] = {"timezone": "UTC", "fiscal_year_start_month": "1"}

SQL_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "str": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "float": "DOUBLE",
    "int": "BIGINT",
}

_FIX_HINT = "Fix the source rows or the mapping."
_MAX_EXAMPLES = 5


# --------------------------------------------------------------------------------------
# Table contracts
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column.

    ``enum`` lists the allowed (lower-case) values, ``fk`` names the table whose key the
    column refers to, ``min``/``max`` bound numeric values (inclusive).  A required column
    with ``null_is_note`` must be present, but a null value in it is a soft data note (the
    row loads) rather than a hard error.
    """

    name: str
    type: LogicalType
    required: bool = False
    enum: tuple[str, ...] | None = None
    fk: str | None = None
    min: float | None = None
    max: float | None = None
    null_is_note: bool = False

    @property
    def not_null(self) -> bool:
        """Whether a null value is a hard error (and the DuckDB column NOT NULL)."""
        return self.required and not self.null_is_note

    @property
    def sql_type(self) -> str:
        """The DuckDB type of the column."""
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class TableSpec:
    """One canonical table: its columns in canonical order and its (maybe composite) key."""

    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]

    @property
    def column_names(self) -> list[str]:
        """Column names in canonical order."""
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Names of the required columns (keys included)."""
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def foreign_keys(self) -> dict[str, str]:
        """Foreign-key columns mapped to the table they refer to."""
        return {c.name: c.fk for c in self.columns if c.fk is not None}


def _c(name: str, type_: LogicalType, required: bool = False, **kw: Any) -> ColumnSpec:
    return ColumnSpec(name, type_, required, **kw)


def _table(name: str, key: str | tuple[str, ...], *columns: ColumnSpec) -> TableSpec:
    return TableSpec(name, (key,) if isinstance(key, str) else key, tuple(columns))


#: The canonical tables in dependency order (load them in this order).
TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        _table("teams", "team_id", _c("team_id", "id", True), _c("name", "str", True)),
        _table(
            "employees",
            "employee_id",
            _c("employee_id", "id", True),
            _c("name", "str", True),
            _c("team_id", "id", True, fk="teams"),
            _c("role", "str", enum=ROLES),
            _c("hired_at", "timestamp"),
            _c("left_at", "timestamp"),
        ),
        _table(
            "customers",
            "customer_id",
            _c("customer_id", "id", True),
            _c("name", "str", True),
            _c("created_at", "timestamp", True),
            _c("segment", "str"),
            _c("industry", "str"),
            _c("region", "str"),
            _c("owner_id", "id", fk="employees"),
        ),
        _table(
            "campaigns",
            "campaign_id",
            _c("campaign_id", "id", True),
            _c("name", "str", True),
            _c("channel", "str", True, null_is_note=True),
            _c("team_id", "id", fk="teams"),
            _c("started_at", "timestamp"),
            _c("ended_at", "timestamp"),
            _c("budget", "float", min=0.0),
        ),
        _table(
            "campaign_costs",
            ("campaign_id", "date"),
            _c("campaign_id", "id", True, fk="campaigns"),
            _c("date", "date", True),
            _c("cost", "float", True, min=0.0),
        ),
        _table(
            "leads",
            "lead_id",
            _c("lead_id", "id", True),
            _c("created_at", "timestamp", True),
            _c("campaign_id", "id", fk="campaigns"),
            _c("channel", "str"),
            _c("owner_id", "id", fk="employees"),
            _c("status", "str", enum=LEAD_STATUSES),
            _c("converted_at", "timestamp"),
            _c("customer_id", "id", fk="customers"),
        ),
        _table(
            "deals",
            "deal_id",
            _c("deal_id", "id", True),
            _c("owner_id", "id", True, fk="employees"),
            _c("created_at", "timestamp", True),
            _c("status", "str", True, enum=DEAL_STATUSES),
            _c("customer_id", "id", fk="customers"),
            _c("lead_id", "id", fk="leads"),
            _c("campaign_id", "id", fk="campaigns"),
            _c("stage", "str"),
            _c("amount", "float", min=0.0),
            _c("probability", "float", min=0.0, max=1.0),
            _c("expected_close_at", "timestamp"),
            _c("closed_at", "timestamp"),
            _c("product", "str"),
            _c("lost_reason", "str"),
        ),
        _table(
            "activities",
            "activity_id",
            _c("activity_id", "id", True),
            _c("occurred_at", "timestamp", True),
            _c("type", "str", True, enum=ACTIVITY_TYPES),
            _c("customer_id", "id", fk="customers"),
            _c("employee_id", "id", fk="employees"),
            _c("deal_id", "id", fk="deals"),
            _c("direction", "str", enum=DIRECTIONS),
            _c("duration_s", "int", min=0.0),
        ),
        _table(
            "tickets",
            "ticket_id",
            _c("ticket_id", "id", True),
            _c("opened_at", "timestamp", True),
            _c("customer_id", "id", fk="customers"),
            _c("employee_id", "id", fk="employees"),
            _c("channel", "str"),
            _c("priority", "str"),
            _c("first_response_at", "timestamp"),
            _c("resolved_at", "timestamp"),
            _c("sla_due_at", "timestamp"),
            _c("status", "str"),
        ),
        _table(
            "tasks",
            "task_id",
            _c("task_id", "id", True),
            _c("employee_id", "id", True, fk="employees"),
            _c("created_at", "timestamp", True),
            _c("due_at", "timestamp"),
            _c("completed_at", "timestamp"),
            _c("type", "str"),
        ),
        _table(
            "survey_responses",
            "response_id",
            _c("response_id", "id", True),
            _c("kind", "str", True, enum=SURVEY_KINDS),
            _c("score", "float", True),
            _c("responded_at", "timestamp", True),
            _c("customer_id", "id", fk="customers"),
            _c("employee_id", "id", fk="employees"),
            _c("ticket_id", "id", fk="tickets"),
            _c("comment", "str"),
        ),
        _table(
            "quotas",
            ("employee_id", "period_start"),
            _c("employee_id", "id", True, fk="employees"),
            _c("period_start", "date", True),
            _c("period_end", "date", True),
            _c("target_amount", "float", True, min=0.0),
        ),
    )
}


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes of ``table``."""
    spec = TABLES[table]
    return pd.DataFrame({c.name: pd.Series([], dtype=_PANDAS_DTYPES[c.type]) for c in spec.columns})


_PANDAS_DTYPES: dict[str, Any] = {
    "id": "str",
    "str": "str",
    "timestamp": "datetime64[us]",
    "date": "datetime64[us]",
    "float": "float64",
    "int": "Int64",
}


# --------------------------------------------------------------------------------------
# Findings: hard errors and soft notes
# --------------------------------------------------------------------------------------


def _format_examples(examples: Sequence[Any], key: Sequence[str]) -> str:
    """Render examples compactly: ``deal_id d-17, d-99`` or ``campaign_id=c1 date=...``."""
    if not examples:
        return ""
    parts: list[str] = []
    single = len(key) == 1
    for i, ex in enumerate(examples):
        if isinstance(ex, Mapping):
            if single and key[0] in ex:
                text = ("" if i else f"{key[0]} ") + str(ex[key[0]])
                extra = {k: v for k, v in ex.items() if k != key[0]}
                if extra:
                    text += " (" + ", ".join(f"{k} {v}" for k, v in extra.items()) + ")"
            else:
                text = " ".join(f"{k}={v}" for k, v in ex.items())
        else:
            text = str(ex)
        parts.append(text)
    return " (e.g. " + ", ".join(parts) + ")"


class DataValidationError(CrmkitError, ValueError):
    """A hard violation of the canonical model: the data cannot be loaded as it is.

    Attributes:
        table: canonical table name.
        column: offending column (``None`` for a missing table).
        rule: the rule in words, e.g. ``closed_at >= created_at``.
        count: number of offending rows.
        examples: up to five offending rows as short dicts (key columns and the value).
    """

    def __init__(
        self,
        table: str,
        column: str | None,
        rule: str,
        count: int,
        examples: Sequence[Any] = (),
        *,
        message: str | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.rule = rule
        self.count = int(count)
        self.examples = list(examples)[:_MAX_EXAMPLES]
        if message is None:
            where = f"{table}.{column}" if column else table
            key = TABLES[table].key if table in TABLES else ()
            noun = "row breaks" if self.count == 1 else "rows break"
            message = (
                f'{where}: {self.count} {noun} "{rule}"'
                f"{_format_examples(self.examples, key)}. {_FIX_HINT}"
            )
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_error,
            (self.table, self.column, self.rule, self.count, self.examples, self.message),
        )


def _rebuild_error(*args: Any) -> DataValidationError:
    table, column, rule, count, examples, message = args
    return DataValidationError(table, column, rule, count, examples, message=message)


@dataclass
class DataNote:
    """A soft data-quality finding: the data loads, but reports should mention it."""

    table: str
    column: str | None
    rule: str
    count: int
    examples: list[Any] = field(default_factory=list)
    severity: str = "warning"

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        key = TABLES[self.table].key if self.table in TABLES else ()
        noun = "row" if self.count == 1 else "rows"
        return f"{where}: {self.count} {noun}: {self.rule}{_format_examples(self.examples, key)}"


# --------------------------------------------------------------------------------------
# Coercion and pandera schemas
# --------------------------------------------------------------------------------------


def _blank_to_na(s: pd.Series) -> pd.Series:
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        stripped = s.astype("str").str.strip()
        return s.where(~(stripped == ""), None)
    return s


def _parse_timestamps(s: pd.Series) -> pd.Series:
    """Parse any timestamp-like series to naive UTC ``datetime64[us]``.

    Aware values are converted to UTC; naive values and strings without an offset are taken
    as UTC already.  Unparseable values become NaT (the caller counts them).
    """
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.astype("datetime64[us]")
    if pd.api.types.is_numeric_dtype(s.dtype) and not s.isna().all():
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    s = _blank_to_na(s.astype(object))
    out = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
    retry = out.isna() & s.notna()
    if retry.any():
        out.loc[retry] = pd.to_datetime(s[retry], errors="coerce", utc=True, format="mixed")
    return out.dt.tz_localize(None).astype("datetime64[us]")


def _prepare_ids(s: pd.Series) -> pd.Series:
    """Ids are strings; whole-number floats (ints that met a null) lose their ``.0``."""
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.dropna()
        if (vals == np.floor(vals)).all():
            return s.astype("Int64").astype("str").where(s.notna(), None)
    return s


def _type_error_rule(col: ColumnSpec) -> str:
    return f"{col.name} is a valid {col.type}"


def _schema_for(spec: TableSpec, columns: Iterable[str]) -> pa.DataFrameSchema:
    """The pandera schema of one table (column checks only; cross-column rules are separate).

    Timestamps and dates are parsed beforehand by :func:`_parse_timestamps` (pandera's own
    datetime coercion cannot handle mixed offsets), so the schema only checks them for nulls.
    """
    present = set(columns)
    import pandera.pandas as pa

    cols: dict[str, pa.Column] = {}
    for c in spec.columns:
        if c.name not in present:
            continue
        checks: list[pa.Check] = []
        if c.enum is not None:
            checks.append(pa.Check.isin(list(c.enum)))
        if c.min is not None:
            checks.append(pa.Check.ge(c.min))
        if c.max is not None:
            checks.append(pa.Check.le(c.max))
        dtype: Any
        if c.type in ("timestamp", "date"):
            dtype = None
        elif c.type == "int":
            dtype = pd.Int64Dtype()
        elif c.type == "float":
            dtype = "float64"
        else:
            dtype = str
        cols[c.name] = pa.Column(
            dtype, checks=checks, nullable=not c.not_null, coerce=dtype is not None
        )
    return pa.DataFrameSchema(cols, unique=list(spec.key), report_duplicates="all", strict=False)


_SCHEMAS: dict[str, pa.DataFrameSchema] = {}


def _schema(spec: TableSpec, columns: Iterable[str]) -> pa.DataFrameSchema:
    cols = tuple(columns)
    key = f"{spec.name}:{','.join(cols)}"
    if key not in _SCHEMAS:
        _SCHEMAS[key] = _schema_for(spec, cols)
    return _SCHEMAS[key]


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _examples(
    df: pd.DataFrame, mask: pd.Series | np.ndarray, spec: TableSpec, extra: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Up to five offending rows as short dicts: key columns plus ``extra`` columns.

    A row whose key is missing is named by its 1-based position instead (``row``).
    """
    rows = df.loc[np.asarray(mask, dtype=bool)].head(_MAX_EXAMPLES)
    cols = [*spec.key, *[c for c in extra if c not in spec.key]]
    out: list[dict[str, Any]] = []
    for pos, rec in zip(rows.index, rows[cols].to_dict("records"), strict=True):
        ex = {k: _short(v) for k, v in rec.items()}
        if any(ex[k] is None for k in spec.key):
            ex = {"row": int(pos) + 1, **{k: v for k, v in ex.items() if v is not None}}
        out.append(ex)
    return out


def _short(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, datetime):
        v = pd.Timestamp(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat(sep=" ") if (v.hour or v.minute or v.second) else v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and len(v) > 40:
        return v[:37] + "..."
    return v


_CHECK_PRIORITY = {"null": 0, "type": 1, "enum": 2, "key": 3, "range": 4}


def _classify_failure(check: str) -> str:
    """Map a pandera check description to a rule kind (see ``_CHECK_PRIORITY``)."""
    if check == "not_nullable":
        return "null"
    if check.startswith(("coerce_dtype", "dtype")):
        return "type"
    if check.startswith("isin"):
        return "enum"
    if "uniqueness" in check:
        return "key"
    return "range"


def _run_schema(spec: TableSpec, df: pd.DataFrame, original: pd.DataFrame) -> pd.DataFrame:
    """Run the pandera schema; raise the highest-priority failure as a DataValidationError."""
    import pandera.pandas as pa

    schema = _schema(spec, df.columns)
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    except pa.errors.SchemaError as exc:  # pragma: no cover - lazy mode reports SchemaErrors
        raise DataValidationError(spec.name, None, str(exc), 0) from exc
    best: tuple[int, str, str, pd.DataFrame] | None = None
    for (column, check), group in fc.groupby(["column", "check"], dropna=False, sort=False):
        kind = _classify_failure(str(check))
        col = str(column) if isinstance(column, str) else ""
        rank = _CHECK_PRIORITY[kind]
        if (
            best is None
            or rank < best[0]
            or (rank == best[0] and _col_pos(spec, col) < _col_pos(spec, best[2]))
        ):
            best = (rank, kind, col, group)
    assert best is not None
    _, kind, col, group = best
    idx = pd.Index(group["index"].dropna().unique())
    mask = original.index.isin(idx)
    if kind == "key":
        key = list(spec.key)
        dup = original.duplicated(key, keep=False)
        count = int(dup.sum())
        examples = _examples(original, dup, spec)
        raise DataValidationError(spec.name, ", ".join(key), "key is unique", count, examples)
    cspec = spec.column(col)
    if kind == "null":
        rule = f"{col} is required"
        examples = _examples(original, mask, spec)
    elif kind == "type":
        rule = _type_error_rule(cspec)
        examples = _examples(original, mask, spec, [col])
    elif kind == "enum":
        rule = f"{col} in {{{', '.join(cspec.enum or ())}}}"
        examples = _examples(original, mask, spec, [col])
    else:
        if cspec.min is not None and cspec.max is not None:
            rule = f"{cspec.min:g} <= {col} <= {cspec.max:g}"
        elif cspec.min is not None:
            rule = f"{col} >= {cspec.min:g}"
        else:
            rule = f"{col} <= {cspec.max:g}"
        examples = _examples(original, mask, spec, [col])
    raise DataValidationError(spec.name, col, rule, int(mask.sum()), examples)


def _col_pos(spec: TableSpec, col: str) -> int:
    names = spec.column_names
    return names.index(col) if col in names else len(names)


def _coerce_table(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Check presence of required columns, parse timestamps and add missing optional columns.

    Returns a new frame in canonical column order (extra source columns are dropped).
    """
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise DataValidationError(
            spec.name,
            missing[0],
            "required column is present",
            len(frame),
            message=(
                f"{spec.name}.{missing[0]}: required column is missing for all {len(frame)} rows "
                f"(missing: {', '.join(missing)}; present: "
                f"{', '.join(map(str, frame.columns)) or 'none'}). {_FIX_HINT}"
            ),
        )
    out: dict[str, pd.Series] = {}
    for c in spec.columns:
        if c.name not in frame.columns:
            out[c.name] = pd.Series(None, index=frame.index, dtype=_PANDAS_DTYPES[c.type])
            continue
        s = frame[c.name]
        if c.type in ("timestamp", "date"):
            parsed = _parse_timestamps(s)
            raw = (
                _blank_to_na(s.astype(object))
                if not pd.api.types.is_datetime64_any_dtype(s.dtype)
                else s
            )
            bad = parsed.isna() & raw.notna()
            if bad.any():
                df = frame.assign(**{c.name: s})
                raise DataValidationError(
                    spec.name,
                    c.name,
                    _type_error_rule(c),
                    int(bad.sum()),
                    _examples(df, bad, spec, [c.name]),
                )
            if c.type == "date":
                parsed = parsed.dt.normalize()
            s = parsed
        elif c.type == "id":
            s = _prepare_ids(s)
        elif c.type == "str" and s.dtype == object:
            s = s.where(s.notna(), None)
        out[c.name] = s
    return pd.DataFrame(out, index=frame.index)


def _rule_mask(df: pd.DataFrame, table: str) -> list[tuple[str, str, pd.Series, list[str]]]:
    """Hard cross-column rules of a table: (column, rule, offending mask, example columns)."""
    rules: list[tuple[str, str, pd.Series, list[str]]] = []
    if table == "deals":
        closed = df["status"].isin(["won", "lost"])
        rules.append(
            (
                "closed_at",
                "won/lost deal has closed_at",
                closed & df["closed_at"].isna(),
                ["status"],
            )
        )
        rules.append(
            (
                "closed_at",
                "open deal has no closed_at",
                (df["status"] == "open") & df["closed_at"].notna(),
                ["status", "closed_at"],
            )
        )
    elif table == "tickets":
        rules.append(
            (
                "first_response_at",
                "first_response_at >= opened_at",
                df["first_response_at"] < df["opened_at"],
                ["opened_at", "first_response_at"],
            )
        )
        rules.append(
            (
                "resolved_at",
                "resolved_at >= first_response_at",
                df["resolved_at"] < df["first_response_at"],
                ["first_response_at", "resolved_at"],
            )
        )
    elif table == "survey_responses":
        for kind, (lo, hi) in SCORE_RANGES.items():
            score = df["score"]
            bad = (df["kind"] == kind) & ((score < lo) | (score > hi))
            if kind == "nps":
                bad = bad | ((df["kind"] == kind) & score.notna() & (score != np.floor(score)))
                rule = f"nps score is a whole number {lo}..{hi}"
            else:
                rule = f"{kind} score is {lo}..{hi}"
            rules.append(("score", rule, bad, ["kind", "score"]))
    elif table == "quotas":
        rules.append(
            (
                "period_end",
                "period_end > period_start",
                df["period_end"] <= df["period_start"],
                ["period_start", "period_end"],
            )
        )
    return rules


def _is_blank(s: pd.Series) -> pd.Series:
    """Null, empty or whitespace-only text."""
    return s.isna() | (s.astype("str").str.strip() == "")


#: Soft rules "``later`` before ``earlier``": timestamps of a row in the wrong order.
_ORDER_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "campaigns": (("ended_at", "started_at"),),
    "employees": (("left_at", "hired_at"),),
    "leads": (("converted_at", "created_at"),),
    "deals": (("closed_at", "created_at"),),
    "tickets": (("sla_due_at", "opened_at"), ("resolved_at", "opened_at")),
    "tasks": (("completed_at", "created_at"), ("due_at", "created_at")),
}


def _soft_rules(df: pd.DataFrame, table: str) -> list[tuple[str, str, pd.Series, list[str]]]:
    """Soft row-level rules of a table: (column, rule, mask, example columns)."""
    rules: list[tuple[str, str, pd.Series, list[str]]] = []
    for later, earlier in _ORDER_RULES.get(table, ()):
        rules.append(
            (later, f"{later} before {earlier}", df[later] < df[earlier], [earlier, later])
        )
    if table == "campaigns":
        rules.append(("channel", "channel is blank", _is_blank(df["channel"]), []))
    elif table == "leads":
        rules.append(
            (
                "channel",
                "lead has neither campaign_id nor channel (shown as an unknown channel)",
                df["campaign_id"].isna() & _is_blank(df["channel"]),
                [],
            )
        )
        rules.append(
            (
                "status",
                "converted_at set but status is not converted",
                df["converted_at"].notna() & df["status"].notna() & (df["status"] != "converted"),
                ["status"],
            )
        )
        rules.append(
            (
                "converted_at",
                "status converted but converted_at is missing",
                (df["status"] == "converted") & df["converted_at"].isna(),
                [],
            )
        )
    elif table == "deals":
        is_open = df["status"] == "open"
        rules.append(
            (
                "probability",
                "open deal without probability (left out of the weighted pipeline)",
                is_open & df["probability"].isna(),
                [],
            )
        )
        rules.append(
            ("amount", "deal without amount (counts as no money)", df["amount"].isna(), ["status"])
        )
        rules.append(
            (
                "lost_reason",
                "lost_reason on a deal that is not lost",
                df["lost_reason"].notna() & (df["status"] != "lost"),
                ["status"],
            )
        )
    elif table == "survey_responses":
        rules.append(
            (
                "ticket_id",
                "csat/ces response without ticket_id",
                df["kind"].isin(["csat", "ces"])
                & df["ticket_id"].isna()
                & df["employee_id"].isna(),
                ["kind"],
            )
        )
    return rules


def _validate_table(spec: TableSpec, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[DataNote]]:
    """Validate one table on its own (no foreign keys); return a coerced copy and soft notes."""
    original = frame.reset_index(drop=True)
    df = _coerce_table(spec, original)
    df = _run_schema(spec, df, original)
    for column, rule, mask, extra in _rule_mask(df, spec.name):
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            raise DataValidationError(
                spec.name, column, rule, int(mask.sum()), _examples(df, mask, spec, extra)
            )
    notes: list[DataNote] = []
    for column, rule, mask, extra in _soft_rules(df, spec.name):
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            notes.append(
                DataNote(spec.name, column, rule, int(mask.sum()), _examples(df, mask, spec, extra))
            )
    for c in spec.columns:
        if c.type == "int":
            df[c.name] = df[c.name].astype("Int64")
        elif c.type == "float":
            df[c.name] = df[c.name].astype("float64")
    return df.reset_index(drop=True), notes


def _fk_notes(frames: Mapping[str, pd.DataFrame]) -> list[DataNote]:
    notes: list[DataNote] = []
    for name, spec in TABLES.items():
        df = frames[name]
        for col, target in spec.foreign_keys.items():
            vals = df[col]
            present = vals.notna()
            if not present.any():
                continue
            # object arrays and a hash lookup: arrow-string isin is slow against many keys
            keys = frames[target][TABLES[target].key[0]].dropna().astype(object)
            mask = present & ~vals.astype(object).isin(keys)
            if mask.any():
                notes.append(
                    DataNote(
                        name,
                        col,
                        f"{col} not found in {target}",
                        int(mask.sum()),
                        _examples(df, mask, spec, [col]),
                    )
                )
    return notes


def validate(frames: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], list[DataNote]]:
    """Validate a full set of canonical frames.

    Tables are checked in :data:`TABLES` order; within a table: presence of the table and
    of its required columns, types (timestamps parsed to naive UTC), required values,
    enumerations, key uniqueness, value ranges (amounts >= 0, probability 0..1), then the
    cross-column rules (won/lost deals have ``closed_at``, open deals have none, ticket
    response order, survey score ranges per kind, quota periods).  The first hard violation
    raises :class:`DataValidationError`.

    Soft findings (dangling foreign keys, blank channels, deals closed before they were
    created, lead status that contradicts ``converted_at``, open deals without probability,
    tasks completed before they were created, ...) are returned as :class:`DataNote` objects.

    Returns coerced copies in canonical column order (missing optional columns added as
    nulls, extra columns dropped); the input frames are never modified.
    """
    out, notes, errors = validate_all(frames)
    if errors:
        raise errors[0]
    return out, notes


def validate_all(
    frames: Mapping[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[DataNote], list[DataValidationError]]:
    """Like :func:`validate`, but check every table and collect instead of raising.

    Returns the coerced frames of the tables that passed, the soft notes and the first hard
    error of each table that failed (in :data:`TABLES` order).  Foreign keys are checked
    only when every table passed.  An importer uses this to report all broken tables at once.
    """
    out: dict[str, pd.DataFrame] = {}
    notes: list[DataNote] = []
    errors: list[DataValidationError] = []
    for name, spec in TABLES.items():
        if name not in frames or frames[name] is None:
            errors.append(
                DataValidationError(
                    name,
                    None,
                    "table is present",
                    0,
                    message=f"{name}: table is missing (got: "
                    f"{', '.join(sorted(frames)) or 'none'}). Map a source table to it or pass "
                    f"an empty frame. {_FIX_HINT}",
                )
            )
            continue
        try:
            out[name], table_notes = _validate_table(spec, frames[name])
        except DataValidationError as exc:
            errors.append(exc)
            continue
        notes.extend(table_notes)
    if not errors:
        notes.extend(_fk_notes(out))
    return out, notes, errors


# --------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the canonical tables (main schema) and the ``crmkit`` metadata schema.

    The main schema holds exactly the twelve canonical tables, with their canonical column
    names and order; required columns are NOT NULL.  Keys are checked by validation (and by
    :class:`DatabaseWriter` with SQL) rather than by index constraints, which keeps large
    loads fast.  ``crmkit.settings`` and ``crmkit.data_notes`` hold dataset metadata.
    """
    for spec in TABLES.values():
        cols = ",\n  ".join(
            f"{_q(c.name)} {c.sql_type}{' NOT NULL' if c.not_null else ''}" for c in spec.columns
        )
        con.execute(f"CREATE TABLE main.{_q(spec.name)} (\n  {cols}\n)")
    con.execute("CREATE SCHEMA IF NOT EXISTS crmkit")
    con.execute("CREATE TABLE crmkit.settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute(
        "CREATE TABLE crmkit.data_notes (table_name VARCHAR, column_name VARCHAR, "
        "rule VARCHAR, severity VARCHAR, count BIGINT, examples VARCHAR)"
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    spec = TABLES[table]
    if len(df) == 0:
        return
    df = df.copy(deep=False)
    for c in spec.columns:
        if c.name not in df.columns:
            df[c.name] = pd.Series(None, index=df.index, dtype=_PANDAS_DTYPES[c.type])
    view = f"_crmkit_chunk_{uuid.uuid4().hex}"
    con.register(view, df[spec.column_names])
    try:
        select = ", ".join(f"CAST({_q(c.name)} AS {c.sql_type})" for c in spec.columns)
        con.execute(f"INSERT INTO main.{_q(table)} SELECT {select} FROM {view}")
    finally:
        con.unregister(view)


def _check_settings(settings: Mapping[str, str]) -> dict[str, str]:
    out = dict(SETTINGS_DEFAULTS)
    out.update({str(k): str(v) for k, v in settings.items()})
    out.setdefault("built_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        ZoneInfo(out["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"setting timezone={out['timezone']!r} is not an IANA time zone") from exc
    month = out["fiscal_year_start_month"]
    if not (month.isdigit() and 1 <= int(month) <= 12):
        raise ValueError(f"setting fiscal_year_start_month={month!r} is not a month 1..12")
    return out


def _note_json(examples: Sequence[Any]) -> str:
    return json.dumps(list(examples), default=str, ensure_ascii=False)


def _write_meta(
    con: duckdb.DuckDBPyConnection, settings: Mapping[str, str], notes: Iterable[DataNote]
) -> None:
    con.executemany("INSERT INTO crmkit.settings VALUES (?, ?)", sorted(settings.items()))
    rows = [
        (n.table, n.column, n.rule, n.severity, int(n.count), _note_json(n.examples)) for n in notes
    ]
    if rows:
        con.executemany("INSERT INTO crmkit.data_notes VALUES (?, ?, ?, ?, ?, ?)", rows)


def read_settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The dataset settings (``timezone``, ``currency``, ``fiscal_year_start_month``, ...)."""
    rows = con.execute("SELECT key, value FROM crmkit.settings ORDER BY key").fetchall()
    return {str(k): str(v) for k, v in rows}


def read_notes(con: duckdb.DuckDBPyConnection) -> list[DataNote]:
    """The soft data notes recorded when the database was built."""
    rows = con.execute(
        "SELECT table_name, column_name, rule, count, examples, severity FROM crmkit.data_notes"
        " ORDER BY rowid"
    ).fetchall()
    return [DataNote(t, c, r, int(n), json.loads(e) if e else [], s) for t, c, r, n, e, s in rows]


def _remove_db_files(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


class _TempDatabase:
    """A DuckDB file built next to its final path and renamed over it on commit."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con: duckdb.DuckDBPyConnection | None = duckdb.connect(str(self.tmp))
        try:
            create_tables(self.con)
        except BaseException:
            self.abort()
            raise

    def commit(self) -> Path:
        assert self.con is not None
        self.con.execute("CHECKPOINT")
        self.con.close()
        self.con = None
        # A stale write-ahead log of the old file must not be replayed onto the new one.
        with contextlib.suppress(FileNotFoundError):
            self.path.with_name(self.path.name + ".wal").unlink()
        os.replace(self.tmp, self.path)
        _remove_db_files(self.tmp)
        return self.path

    def abort(self) -> None:
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.close()
            self.con = None
        _remove_db_files(self.tmp)


def write_database(
    path: str | os.PathLike[str],
    frames: Mapping[str, pd.DataFrame],
    *,
    settings: Mapping[str, str],
    notes: Iterable[DataNote] = (),
    validate_first: bool = True,
) -> Path:
    """Validate ``frames`` and write them as a canonical DuckDB database at ``path``.

    The database is built in a temporary file in the same directory and renamed over
    ``path`` only when everything succeeded: a failure leaves an existing database
    untouched and no temporary file behind.  ``settings`` are merged over
    :data:`SETTINGS_DEFAULTS` (``built_at`` is added); ``notes`` are stored with the notes
    found by validation.  With ``validate_first=False`` the frames are written as they are
    (for frames that :func:`validate` already returned).
    """
    all_settings = _check_settings(settings)
    all_notes = list(notes)
    if validate_first:
        checked, found = validate(frames)
        all_notes.extend(found)
    else:
        checked = dict(frames)
    db = _TempDatabase(path)
    try:
        assert db.con is not None
        for name in TABLES:
            if name in checked:
                _insert(db.con, name, checked[name])
        _write_meta(db.con, all_settings, all_notes)
        return db.commit()
    except BaseException:
        db.abort()
        raise


class DatabaseWriter:
    """Build a canonical database chunk by chunk (for data that does not fit in memory).

    Use as a context manager::

        with DatabaseWriter(path, {"currency": "EUR"}) as w:
            w.append("teams", teams)
            for chunk in chunks:
                w.append("customers", chunk.customers)
                ...

    :meth:`append` validates the chunk's table-level rules (types, required values,
    enumerations, ranges, cross-column rules, key uniqueness within the chunk) and inserts
    it.  On a clean exit the writer checks key uniqueness across chunks and foreign keys with
    SQL, stores settings and notes and renames the file over ``path``; on an exception the
    temporary file is removed and an existing database stays as it was.  Tables that were
    never appended stay empty.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        settings: Mapping[str, str] | None = None,
        *,
        notes: Iterable[DataNote] = (),
    ) -> None:
        self.path = Path(path)
        self.settings = _check_settings(settings or {})
        self._notes: dict[tuple[str, str | None, str], DataNote] = {}
        self.add_notes(notes)
        self._db: _TempDatabase | None = None
        self.rows: dict[str, int] = dict.fromkeys(TABLES, 0)

    def __enter__(self) -> DatabaseWriter:
        self._db = _TempDatabase(self.path)
        return self

    def add_notes(self, notes: Iterable[DataNote]) -> None:
        """Record soft notes; notes with the same table, column and rule are summed."""
        for n in notes:
            k = (n.table, n.column, n.rule)
            if k in self._notes:
                old = self._notes[k]
                old.count += n.count
                old.examples = (old.examples + list(n.examples))[:_MAX_EXAMPLES]
            else:
                self._notes[k] = DataNote(
                    n.table, n.column, n.rule, n.count, list(n.examples)[:_MAX_EXAMPLES], n.severity
                )

    @property
    def notes(self) -> list[DataNote]:
        """Soft notes recorded so far."""
        return list(self._notes.values())

    def append(self, table: str, frame: pd.DataFrame) -> None:
        """Validate one chunk of ``table`` on its own and insert it."""
        if self._db is None or self._db.con is None:
            raise RuntimeError("DatabaseWriter.append() outside of its 'with' block")
        if table not in TABLES:
            raise KeyError(f"{table!r} is not a canonical table ({', '.join(TABLES)})")
        df, notes = _validate_table(TABLES[table], frame)
        self.add_notes(notes)
        _insert(self._db.con, table, df)
        self.rows[table] += len(df)

    def _finish(self, con: duckdb.DuckDBPyConnection) -> None:
        for name, spec in TABLES.items():
            key = ", ".join(_q(k) for k in spec.key)
            dup_sql = (
                f"SELECT {key}, count(*) AS n FROM main.{_q(name)} "
                f"GROUP BY {key} HAVING count(*) > 1"
            )
            row = con.execute(f"SELECT count(*), sum(n) FROM ({dup_sql})").fetchone()
            if row and row[0]:
                examples = [
                    {k: _short(v) for k, v in zip(spec.key, r, strict=False)}
                    for r in con.execute(
                        f"SELECT * FROM ({dup_sql}) ORDER BY {key} LIMIT {_MAX_EXAMPLES}"
                    ).fetchall()
                ]
                raise DataValidationError(
                    name, ", ".join(spec.key), "key is unique", int(row[1]), examples
                )
        for name, spec in TABLES.items():
            for col, target in spec.foreign_keys.items():
                tkey = _q(TABLES[target].key[0])
                cols = [*spec.key, col] if col not in spec.key else list(spec.key)
                n, examples = _sql_findings(
                    con,
                    f"SELECT {', '.join(_q(c) for c in cols)} FROM main.{_q(name)} AS s "
                    f"WHERE s.{_q(col)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                    f"main.{_q(target)} AS t WHERE t.{tkey} = s.{_q(col)})",
                    cols,
                )
                if n:
                    self.add_notes(
                        [DataNote(name, col, f"{col} not found in {target}", n, examples)]
                    )
        _write_meta(con, self.settings, self.notes)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        if exc_type is not None:
            db.abort()
            return
        try:
            assert db.con is not None
            self._finish(db.con)
            db.commit()
        except BaseException:
            db.abort()
            raise


def _sql_findings(
    con: duckdb.DuckDBPyConnection, sql: str, cols: Sequence[str]
) -> tuple[int, list[dict[str, Any]]]:
    n = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
    count = int(n[0]) if n else 0
    if not count:
        return 0, []
    rows = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL LIMIT {_MAX_EXAMPLES}").fetchall()
    return count, [{c: _short(v) for c, v in zip(cols, r, strict=True)} for r in rows]
