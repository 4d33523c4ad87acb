"""The mapping file: which export files feed which canonical table, and how.

A mapping is a YAML file with three sections (see ``mappings/README.md`` and the README,
"Adding a data source")::

    settings:            # dataset settings stored with the database
      timezone: Europe/Berlin
      currency: EUR
    sources:             # name -> file (a glob relative to SOURCE_DIR) and read options
      pipeline: {file: sales_pipeline.csv, date_format: "%d/%m/%Y"}
    tables:              # canonical table -> declarative form or SQL
      deals:
        from: pipeline
        columns: {deal_id: opportunity_id, owner_id: sales_agent, ...}
        values: {status: {Won: won, Lost: lost, Engaging: open}}

Without a mapping (or with a mapping that has no ``tables``) the folder must hold one file
per canonical table, named after it, with canonical column names.

This module only parses and checks the file; reading the sources and building the tables
is :mod:`crmkit.sources.imports.sources` and :mod:`crmkit.sources.imports.staging`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from crmkit.model import TABLES
from crmkit.sources.imports.errors import ImportFailed, Problem

__all__ = [
    "READABLE_SUFFIXES",
    "ColumnMap",
    "Join",
    "Mapping",
    "SourceSpec",
    "TableMap",
    "canonical_mapping",
    "load_mapping",
    "normalize_value",
]

#: File name endings the importer reads.
READABLE_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
}

SETTING_KEYS = ("timezone", "currency", "fiscal_year_start_month")
SOURCE_KEYS = (
    "file",
    "delimiter",
    "encoding",
    "sheet",
    "date_format",
    "decimal",
    "timezone",
    "null_values",
)
TABLE_KEYS = (
    "from",
    "join",
    "columns",
    "values",
    "distinct",
    "where",
    "sql",
    "date_format",
    "decimal",
    "timezone",
)
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DELIMITERS = {",": ",", ";": ";", "|": "|", "\\t": "\t", "\t": "\t", "tab": "\t"}


# --------------------------------------------------------------------------------------
# The parsed mapping
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    """One named source: a glob of files and how to read them (options may be ``None``)."""

    name: str
    file: str
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    date_format: str | None = None
    decimal: str | None = None
    timezone: str | None = None
    null_values: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class Join:
    """``LEFT JOIN source ON from.left = source.right`` (one or more column pairs)."""

    source: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    how: Literal["left", "inner"] = "left"


@dataclass(frozen=True)
class ColumnMap:
    """How one canonical column is filled: a source ``column``, an ``sql`` expression or a
    ``const`` value."""

    canonical: str
    kind: Literal["column", "sql", "const"]
    value: Any
    line: int | None = None


@dataclass(frozen=True)
class TableMap:
    """How one canonical table is built: declaratively (``source`` + ``columns``) or by
    ``sql``.  ``auto`` marks a canonical-shape file (its columns are taken by name)."""

    table: str
    source: str | None = None
    sql: str | None = None
    columns: tuple[ColumnMap, ...] = ()
    joins: tuple[Join, ...] = ()
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    distinct: bool = False
    where: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    timezone: str | None = None
    line: int | None = None
    auto: bool = False


@dataclass
class Mapping:
    """A parsed, checked mapping (or the implicit one of a canonical-shape folder)."""

    source_dir: Path
    settings: dict[str, str]
    sources: dict[str, SourceSpec]
    tables: dict[str, TableMap]
    path: Path | None = None
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name the mapping: its file name, or ``(no mapping)``."""
        return self.path.name if self.path else "(no mapping)"

    def at(self, *keys: Any) -> str:
        """``olist.yaml, line 12`` for the mapping entry at ``keys`` (best effort)."""
        if self.path is None:
            return self.label
        for n in range(len(keys), 0, -1):
            line = self.lines.get(tuple(keys[:n]))
            if line is not None:
                return f"{self.label}, line {line}"
        return self.label


def normalize_value(v: Any) -> str:
    """The form in which source values are compared with ``values:`` keys."""
    return str(v).strip().casefold()


# --------------------------------------------------------------------------------------
# YAML with line numbers
# --------------------------------------------------------------------------------------


def _load_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML safely; also return the 1-based line of every mapping key by path."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{path}: cannot read the mapping ({exc}).") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _fail(
            f"{path.name}{at}: the mapping is not valid YAML ({problem}). Check the indentation "
            "and quote values that contain ':' or '#'.",
            file=path.name,
        ) from None
    lines: dict[tuple[Any, ...], int] = {}
    constructor = yaml.SafeLoader("")

    def walk(n: yaml.Node | None, prefix: tuple[Any, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = constructor.construct_object(k, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue
                lines[(*prefix, key)] = k.start_mark.line + 1
                walk(v, (*prefix, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[(*prefix, i)] = v.start_mark.line + 1
                walk(v, (*prefix, i))

    walk(node, ())
    return data, lines


def _fail(message: str, **fields: Any) -> ImportFailed:
    return ImportFailed(Problem(message, **fields))


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, path: Path, source_dir: Path) -> None:
        self.path = path
        self.source_dir = source_dir
        data, self.lines = _load_yaml(path)
        self.data = data
        self.m = Mapping(source_dir, {}, {}, {}, path=path, lines=self.lines)

    def error(self, keys: tuple[Any, ...], text: str) -> ImportFailed:
        dotted = ".".join(str(k) for k in keys)
        return _fail(
            f"{self.m.at(*keys)}: {dotted}: {text}",
            file=self.path.name,
            line=self._line(keys),
        )

    def _line(self, keys: tuple[Any, ...]) -> int | None:
        for n in range(len(keys), 0, -1):
            if tuple(keys[:n]) in self.lines:
                return self.lines[tuple(keys[:n])]
        return None

    def check_keys(self, keys: tuple[Any, ...], value: dict[str, Any], allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for k in value:
            if k not in allowed:
                raise self.error(
                    (*keys, k),
                    f"unknown key {k!r} (allowed: {', '.join(allowed)}).{_suggest(str(k), allowed)}",
                )

    def mapping_of(self, keys: tuple[Any, ...], value: Any, what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(keys, f"must be {what}, not {type(value).__name__} {value!r}.")
        return value

    # -- sections -------------------------------------------------------------------
    def parse(self) -> Mapping:
        if self.data is None:
            raise _fail(
                f"{self.path.name}: the mapping is empty. Give at least 'tables:' (or only "
                "'settings:' for a folder of canonical-shape files).",
                file=self.path.name,
            )
        top = self.mapping_of((), self.data, "a YAML mapping with settings, sources, tables")
        self.check_keys((), top, ("settings", "sources", "tables", "description"))
        self.parse_settings(self.mapping_of(("settings",), top.get("settings"), "a mapping"))
        sources = self.mapping_of(("sources",), top.get("sources"), "a mapping of name: file")
        for name, spec in sources.items():
            self.m.sources[str(name)] = self.parse_source(str(name), spec)
        tables = top.get("tables")
        if tables is None:
            if sources:
                raise self.error(
                    ("sources",),
                    "sources are declared but no 'tables:' section maps them onto canonical "
                    "tables. Add tables: (see mappings/README.md).",
                )
            return self.m
        tables = self.mapping_of(("tables",), tables, "a mapping of canonical table: form")
        if not tables:
            raise self.error(("tables",), "maps no table. Map at least one canonical table.")
        for name, spec in tables.items():
            self.m.tables[str(name)] = self.parse_table(str(name), spec)
        return self.m

    def parse_settings(self, settings: dict[str, Any]) -> None:
        self.check_keys(("settings",), settings, SETTING_KEYS)
        out: dict[str, str] = {}
        for k, v in settings.items():
            if v is None:
                continue
            out[k] = str(v)
        tz = out.get("timezone")
        if tz is not None:
            _check_zone(tz, lambda text: self.error(("settings", "timezone"), text))
        month = out.get("fiscal_year_start_month")
        if month is not None and not (month.isdigit() and 1 <= int(month) <= 12):
            raise self.error(("settings", "fiscal_year_start_month"), f"{month!r} is not a month 1..12.")
        self.m.settings = out

    def parse_source(self, name: str, spec: Any) -> SourceSpec:
        keys = ("sources", name)
        if not _IDENT.match(name):
            raise self.error(
                keys,
                "a source name must start with a letter and hold only letters, digits and _ "
                "(it is the table name in SQL).",
            )
        if isinstance(spec, str):
            spec = {"file": spec}
        spec = self.mapping_of(keys, spec, "a file name or a mapping with file:")
        self.check_keys(keys, spec, SOURCE_KEYS)
        if not spec.get("file"):
            raise self.error(keys, "needs file: (a file name or glob relative to the source folder).")
        delimiter = spec.get("delimiter")
        if delimiter is not None:
            if str(delimiter) not in _DELIMITERS:
                raise self.error(
                    (*keys, "delimiter"),
                    f"{delimiter!r} is not a delimiter crmkit reads: use ',', ';', '|' or '\\t'.",
                )
            delimiter = _DELIMITERS[str(delimiter)]
        encoding = spec.get("encoding")
        if encoding is not None:
            import codecs

            try:
                codecs.lookup(str(encoding))
            except LookupError:
                raise self.error(
                    (*keys, "encoding"),
                    f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1, utf-16).",
                ) from None
        decimal = spec.get("decimal")
        if decimal is not None and str(decimal) not in (".", ","):
            raise self.error((*keys, "decimal"), f"{decimal!r} must be '.' or ','.")
        tz = spec.get("timezone")
        if tz is not None:
            _check_zone(str(tz), lambda text: self.error((*keys, "timezone"), text))
        nulls = spec.get("null_values") or ()
        if isinstance(nulls, str):
            nulls = (nulls,)
        sheet = spec.get("sheet")
        return SourceSpec(
            name,
            str(spec["file"]),
            delimiter=delimiter,
            encoding=None if encoding is None else str(encoding),
            sheet=sheet if isinstance(sheet, int) or sheet is None else str(sheet),
            date_format=_date_format(
                spec.get("date_format"), lambda t: self.error((*keys, "date_format"), t)
            ),
            decimal=None if decimal is None else str(decimal),
            timezone=None if tz is None else str(tz),
            null_values=tuple(str(v) for v in nulls),
            line=self._line(keys),
        )

    def parse_table(self, name: str, spec: Any) -> TableMap:
        keys = ("tables", name)
        if name not in TABLES:
            raise self.error(
                keys,
                f"{name!r} is not a canonical table ({', '.join(TABLES)}).{_suggest(name, TABLES)}",
            )
        spec = self.mapping_of(keys, spec, "a mapping with from: and columns:, or sql:")
        self.check_keys(keys, spec, TABLE_KEYS)
        tspec = TABLES[name]
        common: dict[str, Any] = {
            "date_format": _date_format(
                spec.get("date_format"), lambda t: self.error((*keys, "date_format"), t)
            ),
            "decimal": None if spec.get("decimal") is None else str(spec["decimal"]),
            "timezone": None if spec.get("timezone") is None else str(spec["timezone"]),
            "line": self._line(keys),
        }
        if common["decimal"] not in (None, ".", ","):
            raise self.error((*keys, "decimal"), f"{common['decimal']!r} must be '.' or ','.")
        if common["timezone"] is not None:
            _check_zone(common["timezone"], lambda t: self.error((*keys, "timezone"), t))
        values = self.parse_values(name, self.mapping_of((*keys, "values"), spec.get("values"), "a mapping"))
        if "sql" in spec:
            extra = [k for k in ("from", "join", "columns", "distinct", "where") if k in spec]
            if extra:
                raise self.error(
                    (*keys, extra[0]),
                    f"use either sql: or from:/columns:, not both ({extra[0]} given with sql:).",
                )
            if not isinstance(spec["sql"], str) or not spec["sql"].strip():
                raise self.error((*keys, "sql"), "must be a SELECT statement (text).")
            return TableMap(name, sql=spec["sql"], values=values, **common)
        if "from" not in spec:
            raise self.error(keys, "needs from: (a source name) and columns:, or sql:.")
        source = str(spec["from"])
        self.known_source((*keys, "from"), source)
        joins = tuple(
            self.parse_join((*keys, "join", i), j) for i, j in enumerate(_as_list(spec.get("join")))
        )
        columns_spec = self.mapping_of(
            (*keys, "columns"), spec.get("columns"), "a mapping of canonical: source column"
        )
        if not columns_spec:
            raise self.error((*keys,), "needs columns: (canonical column: source column).")
        columns: list[ColumnMap] = []
        for col, how in columns_spec.items():
            ckeys = (*keys, "columns", col)
            if col not in tspec.column_names:
                raise self.error(
                    ckeys,
                    f"{col!r} is not a column of {name} ({', '.join(tspec.column_names)})."
                    f"{_suggest(str(col), tspec.column_names)}",
                )
            columns.append(self.parse_column(ckeys, str(col), how))
        where = spec.get("where")
        return TableMap(
            name,
            source=source,
            columns=tuple(columns),
            joins=joins,
            values=values,
            distinct=bool(spec.get("distinct", False)),
            where=None if where is None else str(where),
            **common,
        )

    def known_source(self, keys: tuple[Any, ...], source: str) -> None:
        if source not in self.m.sources:
            raise self.error(
                keys,
                f"unknown source {source!r}: declare it under sources: (declared: "
                f"{', '.join(self.m.sources) or 'none'}).{_suggest(source, self.m.sources)}",
            )

    def parse_join(self, keys: tuple[Any, ...], spec: Any) -> Join:
        spec = self.mapping_of(keys, spec, "a mapping with source: and on:")
        if True in spec:  # YAML 1.1 reads a bare `on:` key as the boolean true
            spec = {("on" if k is True else k): v for k, v in spec.items()}
            self.lines[(*keys, "on")] = self.lines.get((*keys, True), self._line(keys) or 0)
        self.check_keys(keys, spec, ("source", "on", "how"))
        if "source" not in spec or "on" not in spec:
            raise self.error(keys, "a join needs source: and on: (a column, or {left: right}).")
        source = str(spec["source"])
        self.known_source((*keys, "source"), source)
        on = spec["on"]
        pairs: list[tuple[str, str]] = []
        for item in _as_list(on):
            if isinstance(item, dict):
                pairs.extend((str(a), str(b)) for a, b in item.items())
            else:
                pairs.append((str(item), str(item)))
        how = str(spec.get("how", "left")).lower()
        if how not in ("left", "inner"):
            raise self.error((*keys, "how"), f"{how!r} must be left or inner.")
        return Join(source, tuple(a for a, _ in pairs), tuple(b for _, b in pairs), how)  # type: ignore[arg-type]

    def parse_column(self, keys: tuple[Any, ...], col: str, how: Any) -> ColumnMap:
        line = self._line(keys)
        if how is None:
            return ColumnMap(col, "column", col, line)
        if isinstance(how, str):
            return ColumnMap(col, "column", how, line)
        if isinstance(how, dict) and len(how) == 1:
            ((kind, value),) = how.items()
            if kind == "sql" and isinstance(value, str):
                return ColumnMap(col, "sql", value, line)
            if kind == "const":
                if isinstance(value, datetime | date):
                    value = value.isoformat()
                if isinstance(value, list | dict):
                    raise self.error(keys, "const: takes one value (text, number, true/false or null).")
                return ColumnMap(col, "const", value, line)
        raise self.error(
            keys,
            f"give a source column name, {{sql: expression}} or {{const: value}} (got {how!r}).",
        )

    def parse_values(self, table: str, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
        spec = TABLES[table]
        out: dict[str, dict[str, Any]] = {}
        for col, table_map in values.items():
            keys = ("tables", table, "values", col)
            if col not in spec.column_names:
                raise self.error(
                    keys,
                    f"{col!r} is not a column of {table}.{_suggest(str(col), spec.column_names)}",
                )
            table_map = self.mapping_of(keys, table_map, "a mapping of source value: canonical value")
            cspec = spec.column(str(col))
            norm: dict[str, Any] = {}
            for src, dst in table_map.items():
                if dst is not None:
                    dst = str(dst)
                    if cspec.enum is not None and dst not in cspec.enum:
                        raise self.error(
                            (*keys, src),
                            f"{dst!r} is not a value of {table}.{col} ({', '.join(cspec.enum)})."
                            f"{_suggest(dst, cspec.enum)}",
                        )
                for key in _value_keys(src):
                    norm[key] = dst
            out[str(col)] = norm
        return out


def _value_keys(src: Any) -> list[str]:
    """Comparison keys of a ``values:`` entry. YAML reads Yes/No/On/Off as booleans and an
    empty key as null: both are mapped back to the words an export could hold."""
    if src is True:
        return ["true", "yes", "on", "y"]
    if src is False:
        return ["false", "no", "off", "n"]
    if src is None:
        return [""]
    if src == "*":
        return ["*"]
    return [normalize_value(src)]


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _check_zone(tz: str, error: Any) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise error(
            f"{tz!r} is not an IANA time zone (e.g. Europe/Berlin, America/Sao_Paulo, UTC)."
        ) from None


def _date_format(value: Any, error: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    aliases = {
        "dayfirst": "dayfirst",
        "day-first": "dayfirst",
        "dd/mm/yyyy": "dayfirst",
        "monthfirst": "monthfirst",
        "month-first": "monthfirst",
        "mm/dd/yyyy": "monthfirst",
    }
    if text.lower() in aliases:
        return aliases[text.lower()]
    if "%" in text:
        return text
    raise error(
        f"{text!r} is not a date format: use dayfirst, monthfirst or a strptime pattern such as "
        "'%d.%m.%Y %H:%M'."
    )


def load_mapping(path: str | Path, source_dir: str | Path) -> Mapping:
    """Parse and check a mapping file; raise :class:`ImportFailed` naming the line."""
    p = Path(path)
    if not p.is_file():
        raise _fail(f"mapping file {p} not found. Give the path of a .yaml mapping (see mappings/).")
    m = _Parser(p, Path(source_dir)).parse()
    if not m.tables:
        auto = canonical_mapping(m.source_dir, m.settings)
        auto.path, auto.lines = m.path, m.lines
        return auto
    return m


def canonical_mapping(source_dir: str | Path, settings: dict[str, str] | None = None) -> Mapping:
    """The implicit mapping of a folder of canonical-shape files (``deals.csv``, ...)."""
    folder = Path(source_dir)
    by_table: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if not (p.is_file() and p.stem.lower() in TABLES):
            continue
        if p.suffix.lower() == ".xls":
            raise _fail(
                f"{p.name}: crmkit reads Excel .xlsx files, not the older .xls: save it as .xlsx or CSV.",
                table=p.stem.lower(),
                file=p.name,
            )
        if p.suffix.lower() in READABLE_SUFFIXES:
            by_table.setdefault(p.stem.lower(), []).append(p)
    if not by_table:
        present = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file())[:8]) or "no files"
        raise _fail(
            f"{folder}: no file is named after a canonical table (teams.csv, employees.csv, "
            f"deals.csv, ...; found: {present}). Rename the files, or write a mapping and pass "
            "it with --mapping (see mappings/README.md).",
            file=str(folder),
        )
    sources: dict[str, SourceSpec] = {}
    tables: dict[str, TableMap] = {}
    for table, files in by_table.items():
        if len(files) > 1:
            raise _fail(
                f"{folder}: {', '.join(f.name for f in files)} are all named after table {table}: "
                "keep one of them.",
                table=table,
                file=files[0].name,
            )
        sources[table] = SourceSpec(table, files[0].name)
        tables[table] = TableMap(table, source=table, auto=True)
    return Mapping(folder, dict(settings or {}), sources, tables)
