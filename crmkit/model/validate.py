"""Validation of pandas frames against the canonical contracts (:data:`~crmkit.model.tables.TABLES`).

:func:`validate` checks a full set of frames: per table the presence of the table and of
its required columns, types (timestamps parsed to naive UTC), required values,
enumerations, key uniqueness and value ranges (a pandera schema compiled from the
contract), then the hard cross-column rules; finally foreign keys across tables. The first
hard violation raises :class:`DataValidationError` (one line: table, column, rule, count,
examples, how to fix); soft findings come back as :class:`DataNote` objects, which the
reports list under *Data notes*. :func:`validate_all` collects instead of raising, and
:func:`validate_table` checks one table (or one chunk of it) on its own.
"""

from __future__ import annotations

import json
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from crmkit.errors import CrmkitError, ParameterError, shown
from crmkit.model.tables import PANDAS_DTYPES, SCORE_RANGES, TABLES, ColumnSpec, TableSpec

if TYPE_CHECKING:  # pandera takes a third of a second to import: only validation needs it
    import pandera.pandas as pa

__all__ = [
    "MAX_EXAMPLES",
    "DataNote",
    "DataValidationError",
    "SettingError",
    "check_setting",
    "foreign_key_notes",
    "key_values",
    "short_value",
    "validate",
    "validate_all",
    "validate_table",
]

_FIX_HINT = "Fix the source rows or the mapping."

#: How many offending rows an error or a note shows.
MAX_EXAMPLES = 5

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
        self.examples = list(examples)[:MAX_EXAMPLES]
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

    def as_row(self) -> tuple[str, str | None, str, str, int, str]:
        """The note as a database stores it: table, column, rule, severity, count and the
        examples as JSON text (read back with :meth:`from_row`)."""
        examples = json.dumps(list(self.examples), default=str, ensure_ascii=False)
        return (self.table, self.column, self.rule, self.severity, int(self.count), examples)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DataNote:
        """A note read back from a database row in the order of :meth:`as_row`."""
        table, column, rule, severity, count, examples = row
        found = json.loads(examples) if examples else []
        return cls(table, column, rule, int(count), found, severity)

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        key = TABLES[self.table].key if self.table in TABLES else ()
        noun = "row" if self.count == 1 else "rows"
        return f"{where}: {self.count} {noun}: {self.rule}{_format_examples(self.examples, key)}"


# --------------------------------------------------------------------------------------
# Dataset settings
# --------------------------------------------------------------------------------------


class SettingError(ParameterError):
    """A dataset setting (``currency``, ``timezone``, ``fiscal_year_start_month``) that is
    not valid; ``problem`` is the message after the value (``is not ...: use ...``)."""

    def __init__(self, name: str, value: object, problem: str) -> None:
        self.name, self.value, self.problem = name, value, problem
        super().__init__(f"setting {name}={shown(value)} {problem}")


_ISO_4217 = re.compile(r"^[A-Z]{3}$")
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$")
#: The longest currency symbol a setting may hold (``руб.``, ``US$``).
MAX_SYMBOL = 4


def _is_symbol(text: str) -> bool:
    """A short currency symbol: letters of any script, currency signs and dots, no space
    or markup (``€``, ``$``, ``R$``, ``kr``, ``zł``, ``руб.``)."""
    return 0 < len(text) <= MAX_SYMBOL and all(
        ch == "." or unicodedata.category(ch) in ("Sc", "Lu", "Ll", "Lo") for ch in text
    )


def _setting_problem(name: str, text: str) -> str | None:
    if name == "currency" and not (_ISO_4217.match(text) or _is_symbol(text)):
        return (
            "is not an ISO 4217 code or a short currency symbol: use a code such as EUR or "
            f"USD, or a symbol such as € or $ (at most {MAX_SYMBOL} letters or signs, no spaces "
            "or markup)"
        )
    if name == "timezone":
        try:
            ZoneInfo(text)
            valid = bool(_ZONE_NAME.match(text))
        except (ZoneInfoNotFoundError, ValueError):
            valid = False
        if not valid:
            return "is not an IANA time zone: use a name like Europe/Berlin, America/Sao_Paulo or UTC"
    if name == "fiscal_year_start_month" and not (text.isascii() and text.isdigit() and 1 <= int(text) <= 12):
        return "is not a month: use 1..12 (the month the fiscal year starts in)"
    return None


def check_setting(name: str, value: object) -> str:
    """``value`` of dataset setting ``name`` as text, checked: ``currency`` an ISO 4217
    code or a short symbol, ``timezone`` an IANA zone, ``fiscal_year_start_month`` 1..12
    (other settings pass as text).  Raises :class:`SettingError` naming the setting."""
    text = str(value)
    problem = _setting_problem(name, text)
    if problem:
        raise SettingError(name, value, problem)
    return str(int(text)) if name == "fiscal_year_start_month" else text


def checked_settings(settings: Mapping[str, object]) -> dict[str, str]:
    """Every setting as text, each checked by :func:`check_setting` (settings come from a
    mapping file, a program or a database table: all untrusted)."""
    return {str(k): check_setting(str(k), v) for k, v in settings.items()}


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
    pandera = _pandera()

    cols: dict[str, pa.Column] = {}
    for c in spec.columns:
        if c.name not in present:
            continue
        checks: list[pa.Check] = []
        if c.enum is not None:
            checks.append(pandera.Check.isin(list(c.enum)))
        if c.min is not None:
            checks.append(pandera.Check.ge(c.min))
        if c.max is not None:
            checks.append(pandera.Check.le(c.max))
        dtype: Any
        if c.type in ("timestamp", "date"):
            dtype = None
        elif c.type == "int":
            dtype = pd.Int64Dtype()
        elif c.type == "float":
            dtype = "float64"
        else:
            dtype = str
        cols[c.name] = pandera.Column(
            dtype, checks=checks, nullable=not c.not_null, coerce=dtype is not None
        )
    return pandera.DataFrameSchema(cols, unique=list(spec.key), report_duplicates="all", strict=False)


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
    rows = df.loc[np.asarray(mask, dtype=bool)].head(MAX_EXAMPLES)
    cols = [*spec.key, *[c for c in extra if c not in spec.key]]
    out: list[dict[str, Any]] = []
    for pos, rec in zip(rows.index, rows[cols].to_dict("records"), strict=True):
        ex = {k: short_value(v) for k, v in rec.items()}
        if any(ex[k] is None for k in spec.key):
            ex = {"row": int(pos) + 1, **{k: v for k, v in ex.items() if v is not None}}
        out.append(ex)
    return out


def short_value(v: Any) -> Any:
    """A value as an error or a note shows it: plain Python, dates in ISO form, long text cut."""
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
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
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


def _pandera() -> Any:
    """pandera's pandas API, imported when a table is first validated (0.3 s of CLI start-up
    otherwise)."""
    with _without_pyspark_warning():
        import pandera.pandas

    return pandera.pandas


@contextmanager
def _without_pyspark_warning() -> Iterator[None]:
    """pandera imports ``pyspark.pandas`` whenever PySpark is installed (the ``spark``
    extra), as it loads and as it first validates, and that warns it does not support
    pandas 3: three FutureWarnings on every demo or import, about a module crmkit does not
    use. Those are silenced here (only those)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        yield


def _run_schema(spec: TableSpec, df: pd.DataFrame, original: pd.DataFrame) -> pd.DataFrame:
    """Run the pandera schema; raise the highest-priority failure as a DataValidationError."""
    pandera = _pandera()

    schema = _schema(spec, df.columns)
    try:
        with _without_pyspark_warning():
            return schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    except pandera.errors.SchemaError as exc:  # pragma: no cover - lazy mode reports SchemaErrors
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
            out[c.name] = pd.Series(None, index=frame.index, dtype=PANDAS_DTYPES[c.type])
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


#: A row-level rule: (column, rule in words, offending-row mask, example columns).
Rule = tuple[str, str, pd.Series, list[str]]


def _rule_mask(df: pd.DataFrame, table: str) -> list[Rule]:
    """Hard cross-column rules of a table: (column, rule, offending mask, example columns)."""
    rules: list[Rule] = []
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


def _lead_rules(df: pd.DataFrame) -> list[Rule]:
    status, converted_at = df["status"], df["converted_at"]
    return [
        (
            "channel",
            "lead has neither campaign_id nor channel (shown as an unknown channel)",
            df["campaign_id"].isna() & _is_blank(df["channel"]),
            [],
        ),
        (
            "status",
            "converted_at set but status is not converted",
            converted_at.notna() & status.notna() & (status != "converted"),
            ["status"],
        ),
        (
            "converted_at",
            "status converted but converted_at is missing",
            (status == "converted") & converted_at.isna(),
            [],
        ),
    ]


def _deal_rules(df: pd.DataFrame) -> list[Rule]:
    return [
        (
            "probability",
            "open deal without probability (left out of the weighted pipeline)",
            (df["status"] == "open") & df["probability"].isna(),
            [],
        ),
        ("amount", "deal without amount (counts as no money)", df["amount"].isna(), ["status"]),
        (
            "lost_reason",
            "lost_reason on a deal that is not lost",
            df["lost_reason"].notna() & (df["status"] != "lost"),
            ["status"],
        ),
    ]


def _survey_rules(df: pd.DataFrame) -> list[Rule]:
    unrated = df["kind"].isin(["csat", "ces"]) & df["ticket_id"].isna() & df["employee_id"].isna()
    return [("ticket_id", "csat/ces response without ticket_id", unrated, ["kind"])]


def _campaign_rules(df: pd.DataFrame) -> list[Rule]:
    return [("channel", "channel is blank", _is_blank(df["channel"]), [])]


#: Soft rules beyond the timestamp order, per table.
_SOFT_RULES = {
    "campaigns": _campaign_rules,
    "leads": _lead_rules,
    "deals": _deal_rules,
    "survey_responses": _survey_rules,
}


def _soft_rules(df: pd.DataFrame, table: str) -> list[Rule]:
    """Soft row-level rules of a table: (column, rule, mask, example columns)."""
    rules: list[Rule] = [
        (later, f"{later} before {earlier}", df[later] < df[earlier], [earlier, later])
        for later, earlier in _ORDER_RULES.get(table, ())
    ]
    extra = _SOFT_RULES.get(table)
    return rules + extra(df) if extra else rules


def validate_table(spec: TableSpec, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[DataNote]]:
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


def foreign_key_notes(name: str, df: pd.DataFrame, keys: Mapping[str, pd.Series]) -> list[DataNote]:
    """The dangling foreign keys of table ``name`` (a validated frame, or a chunk of one) as
    notes; ``keys[target]`` holds the keys of each target table (object dtype, no nulls)."""
    notes: list[DataNote] = []
    spec = TABLES[name]
    for col, target in spec.foreign_keys.items():
        vals = df[col]
        present = vals.notna()
        if not present.any():
            continue
        # object arrays and a hash lookup: arrow-string isin is slow against many keys
        mask = present & ~vals.astype(object).isin(keys[target])
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


def key_values(frame: pd.DataFrame, table: str) -> pd.Series:
    """The keys of a validated ``table`` as :func:`foreign_key_notes` takes them."""
    return frame[TABLES[table].key[0]].dropna().astype(object)


def _fk_notes(frames: Mapping[str, pd.DataFrame]) -> list[DataNote]:
    targets = {t for spec in TABLES.values() for t in spec.foreign_keys.values()}
    keys = {t: key_values(frames[t], t) for t in targets}
    return [n for name in TABLES for n in foreign_key_notes(name, frames[name], keys)]


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
            out[name], table_notes = validate_table(spec, frames[name])
        except DataValidationError as exc:
            errors.append(exc)
            continue
        notes.extend(table_notes)
    if not errors:
        notes.extend(_fk_notes(out))
    return out, notes, errors

