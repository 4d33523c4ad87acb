"""The mapping file: which export files feed which canonical table, and how.

A mapping is a YAML file with three sections (see ``mappings/README.md``)::

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

The file's shape is a set of pydantic models (:class:`MappingFile` and the models it
holds); the rules that plain types cannot say are their validators.  The first problem
becomes one line naming the file, the line (from the line map of :func:`crmkit._yaml.load`),
what is wrong and how to fix it.  The models are also what the rest of the import reads:
:class:`SourceSpec`, :class:`TableMap`, :class:`Join` and :class:`ColumnMap`, gathered in a
:class:`Mapping`.  Reading the sources and building the tables is
:mod:`crmkit.sources.imports.sources` and :mod:`crmkit.sources.imports.staging`.
"""

from __future__ import annotations

import codecs
import difflib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crmkit._yaml import Lines, YamlSyntaxError, line_of, load
from crmkit.errors import shown
from crmkit.model import TABLES
from crmkit.model.validate import SettingError, check_setting
from crmkit.sources.imports.errors import ImportFailed, Problem

__all__ = [
    "READABLE_SUFFIXES",
    "outside_the_folder",
    "ColumnMap",
    "Join",
    "Mapping",
    "MappingFile",
    "SourceSpec",
    "TableMap",
    "canonical_mapping",
    "load_mapping",
    "normalize_value",
    "suggest",
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

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DELIMITERS = {",": ",", ";": ";", "|": "|", "\\t": "\t", "\t": "\t", "tab": "\t"}
_DATE_FORMATS = {
    "dayfirst": "dayfirst",
    "day-first": "dayfirst",
    "dd/mm/yyyy": "dayfirst",
    "monthfirst": "monthfirst",
    "month-first": "monthfirst",
    "mm/dd/yyyy": "monthfirst",
}


def normalize_value(v: Any) -> str:
    """The form in which source values are compared with ``values:`` keys."""
    return str(v).strip().casefold()


def suggest(word: str, options: Iterable[str]) -> str:
    """`` Did you mean 'deals'?`` for the option closest to ``word``, or nothing."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class Invalid(ValueError):
    """A broken rule of the mapping, raised inside a validator: ``text`` is the complete
    message after ``file, line N: where:``; ``at`` extends the location pydantic reports
    (keys below the value being validated), so that the message names the exact line."""

    def __init__(self, text: str, *at: Any) -> None:
        super().__init__(text)
        self.text, self.at = text, at


# --------------------------------------------------------------------------------------
# Values with a rule of their own
# --------------------------------------------------------------------------------------


def _setting(name: str) -> Any:
    """The validator of dataset setting ``name``: the model's own check
    (:func:`crmkit.model.validate.check_setting`), told as a mapping error."""

    def check(value: Any) -> Any:
        if value is None:  # not given: the database's default
            return None
        try:
            return check_setting(name, value)
        except SettingError as exc:
            raise Invalid(f"{shown(value)} {exc.problem}.") from None

    return check


_zone = _setting("timezone")


def outside_the_folder(pattern: str) -> str | None:
    """Why the file pattern of a source could reach outside the export folder (an absolute
    path, a drive, ``..``), or None: source files must resolve inside that folder."""
    if pattern.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", pattern):
        return (
            f"{shown(pattern)} is an absolute path: give file: relative to the export folder "
            "(e.g. deals.csv or 2025/*.csv), and pass that folder to crmkit import."
        )
    if ".." in re.split(r"[/\\]", pattern):
        return (
            f"{shown(pattern)} climbs out with '..': source files must be inside the export "
            "folder; copy the file into it, or import from a folder that holds every file."
        )
    return None


def _delimiter(text: str) -> str:
    if text not in _DELIMITERS:
        raise Invalid(f"{text!r} is not a delimiter crmkit reads: use ',', ';', '|' or '\\t'.")
    return _DELIMITERS[text]


def _encoding(text: str) -> str:
    try:
        codecs.lookup(text)
    except LookupError:
        raise Invalid(f"unknown encoding {text!r} (e.g. utf-8, cp1252, latin-1, utf-16).") from None
    return text


def _decimal(text: str) -> str:
    if text not in (".", ","):
        raise Invalid(f"{text!r} must be '.' or ','.")
    return text


def _date_format(value: str) -> str:
    text = value.strip()
    if text.lower() in _DATE_FORMATS:
        return _DATE_FORMATS[text.lower()]
    if "%" in text:
        return text
    raise Invalid(
        f"{text!r} is not a date format: use dayfirst, monthfirst or a strptime pattern such as "
        "'%d.%m.%Y %H:%M'."
    )


def _source_name(name: str) -> str:
    if not _IDENT.match(name):
        raise Invalid(
            "a source name must start with a letter and hold only letters, digits and _ "
            "(it is the table name in SQL)."
        )
    return name


def _table_name(name: str) -> str:
    if name not in TABLES:
        raise Invalid(f"{name!r} is not a canonical table ({', '.join(TABLES)}).{suggest(name, TABLES)}")
    return name


def _as_tuple(v: Any) -> Any:
    """A single value where a list is allowed, as a one-item list (None: empty)."""
    if v is None:
        return ()
    return v if isinstance(v, list | tuple) else (v,)


def _empty_if_none(v: Any) -> Any:
    """``key:`` with nothing after it: an empty mapping."""
    return {} if v is None else v


Zone = Annotated[str, AfterValidator(_zone)]
Delimiter = Annotated[str, AfterValidator(_delimiter)]
Encoding = Annotated[str, AfterValidator(_encoding)]
Decimal = Annotated[str, AfterValidator(_decimal)]
DateFormat = Annotated[str, AfterValidator(_date_format)]
Month = Annotated[str, BeforeValidator(_setting("fiscal_year_start_month"))]
Currency = Annotated[str, BeforeValidator(_setting("currency"))]
SourceName = Annotated[str, AfterValidator(_source_name)]
TableName = Annotated[str, AfterValidator(_table_name)]
#: ``source value: canonical value`` (keys as YAML reads them: text, numbers, booleans, null).
ValueMap = Annotated[dict[Any, Any], BeforeValidator(_empty_if_none)]


# --------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------


class _Section(BaseModel):
    """A YAML mapping with a fixed set of keys; ``expects`` says what it must be."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
    expects: ClassVar[str] = "a mapping"
    #: Fields crmkit fills from the surrounding document, not keys a file may hold.
    derived: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def keys(cls) -> list[str]:
        """The keys a mapping file may give in this section."""
        return [f.alias or n for n, f in cls.model_fields.items() if n not in cls.derived]

    @classmethod
    def shorthand(cls, data: Any) -> Any:
        """A short form of the section, written out (``None`` reads as empty)."""
        return {} if data is None else data

    @classmethod
    def shape(cls, data: dict[Any, Any]) -> dict[Any, Any]:
        """Rules on which keys go together, checked once every key is known."""
        return data

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """Anything but a mapping, or an unknown key, is refused with the keys allowed
        (``extra="forbid"`` would not name them)."""
        data = cls.shorthand(data)
        if not isinstance(data, dict):
            raise Invalid(f"must be {cls.expects}, not {type(data).__name__} {data!r}.")
        allowed = cls.keys()
        for k in data:
            if k not in allowed:
                raise Invalid(
                    f"unknown key {k!r} (allowed: {', '.join(allowed)}).{suggest(str(k), allowed)}", k
                )
        return cls.shape(data)


class Settings(_Section):
    """Dataset settings stored with the database."""

    timezone: Zone | None = None
    currency: Currency | None = None
    fiscal_year_start_month: Month | None = None

    def as_dict(self) -> dict[str, str]:
        """The settings given, as text (the database's settings table holds text)."""
        return {k: str(v) for k, v in self.model_dump().items() if v is not None}


class SourceSpec(_Section):
    """One named source: a glob of files and how to read them (options may be ``None``)."""

    expects: ClassVar[str] = "a file name or a mapping with file:"
    derived: ClassVar[tuple[str, ...]] = ("name",)

    name: str = ""
    file: str
    delimiter: Delimiter | None = None
    encoding: Encoding | None = None
    sheet: int | str | None = None
    date_format: DateFormat | None = None
    decimal: Decimal | None = None
    timezone: Zone | None = None
    null_values: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = ()

    @classmethod
    def shorthand(cls, data: Any) -> Any:
        """``name: file.csv`` is short for ``name: {file: file.csv}``."""
        return {"file": data} if isinstance(data, str) else super().shorthand(data)

    @model_validator(mode="after")
    def _has_file(self) -> SourceSpec:
        if not self.file:
            raise Invalid("needs file: (a file name or glob relative to the source folder).")
        outside = outside_the_folder(self.file)
        if outside:
            raise Invalid(outside, "file")
        return self


class Join(_Section):
    """``LEFT JOIN source ON from.left = source.right`` (one or more column pairs)."""

    expects: ClassVar[str] = "a mapping with source: and on:"

    source: str
    on: tuple[tuple[str, str], ...]
    how: Literal["left", "inner"] = "left"

    @classmethod
    def shorthand(cls, data: Any) -> Any:
        """YAML 1.1 reads a bare ``on:`` key as the boolean true: it is ``on``."""
        if isinstance(data, dict):
            return {("on" if k is True else k): v for k, v in data.items()}
        return super().shorthand(data)

    @classmethod
    def shape(cls, data: dict[Any, Any]) -> dict[Any, Any]:
        """A join needs both ``source`` and ``on``; ``how`` is read in any case."""
        if "source" not in data or "on" not in data:
            raise Invalid("a join needs source: and on: (a column, or {left: right}).")
        how = data.get("how")
        return {**data, "how": how.lower()} if isinstance(how, str) else data

    @field_validator("on", mode="before")
    @classmethod
    def _pairs(cls, on: Any) -> list[tuple[str, str]]:
        """``on: col``, ``on: {left: right}`` or a list of either, as column pairs."""
        pairs: list[tuple[str, str]] = []
        for item in _as_tuple(on):
            if isinstance(item, dict):
                pairs.extend((str(a), str(b)) for a, b in item.items())
            else:
                pairs.append((str(item), str(item)))
        return pairs

    @property
    def left(self) -> tuple[str, ...]:
        """The columns of the ``from`` source."""
        return tuple(a for a, _ in self.on)

    @property
    def right(self) -> tuple[str, ...]:
        """The columns of the joined source."""
        return tuple(b for _, b in self.on)


class ColumnMap(BaseModel):
    """How one canonical column is filled: a source ``column``, an ``sql`` expression or a
    ``const`` value.  In the file: ``col: source_col``, ``col: {sql: ...}``, ``col: {const:
    ...}`` (an empty value names the source column of the same name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canonical: str = ""
    kind: Literal["column", "sql", "const"]
    value: Any

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, how: Any) -> dict[str, Any]:
        if how is None or isinstance(how, str):
            return {"kind": "column", "value": how}
        if isinstance(how, dict) and len(how) == 1:
            ((kind, value),) = how.items()
            if kind == "sql" and isinstance(value, str):
                return {"kind": "sql", "value": value}
            if kind == "const":
                if isinstance(value, list | dict):
                    raise Invalid("const: takes one value (text, number, true/false or null).")
                return {
                    "kind": "const",
                    "value": value.isoformat() if isinstance(value, datetime | date) else value,
                }
        raise Invalid(f"give a source column name, {{sql: expression}} or {{const: value}} (got {how!r}).")

    def named(self, canonical: str) -> ColumnMap:
        """This column map for ``canonical`` (an empty source column is the same name)."""
        value = canonical if self.kind == "column" and self.value is None else self.value
        return self.model_copy(update={"canonical": canonical, "value": value})


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


class TableMap(_Section):
    """How one canonical table is built: declaratively (``source`` + ``columns``) or by
    ``sql``.  ``auto`` marks a canonical-shape file (its columns are taken by name)."""

    expects: ClassVar[str] = "a mapping with from: and columns:, or sql:"
    derived: ClassVar[tuple[str, ...]] = ("table", "auto")

    table: str = ""
    source: str | None = Field(None, alias="from")
    joins: Annotated[tuple[Join, ...], BeforeValidator(_as_tuple)] = Field((), alias="join")
    columns: Annotated[dict[str, ColumnMap], BeforeValidator(_empty_if_none)] = {}
    values: Annotated[dict[str, ValueMap], BeforeValidator(_empty_if_none)] = {}
    distinct: bool = False
    where: str | None = None
    sql: str | None = None
    date_format: DateFormat | None = None
    decimal: Decimal | None = None
    timezone: Zone | None = None
    auto: bool = False

    @classmethod
    def shape(cls, data: dict[Any, Any]) -> dict[Any, Any]:
        """Either ``sql:`` or ``from:``/``columns:``, and ``sql:`` holds text."""
        if "sql" in data:
            extra = [k for k in ("from", "join", "columns", "distinct", "where") if k in data]
            if extra:
                raise Invalid(
                    f"use either sql: or from:/columns:, not both ({extra[0]} given with sql:).", extra[0]
                )
            if not isinstance(data["sql"], str) or not data["sql"].strip():
                raise Invalid("must be a SELECT statement (text).", "sql")
        elif "from" not in data:
            raise Invalid("needs from: (a source name) and columns:, or sql:.")
        elif not data.get("columns"):
            raise Invalid("needs columns: (canonical column: source column).")
        return data

    def bound(self, table: str, sources: Collection[str]) -> TableMap:
        """This map as the one of ``table``, checked against the table's columns and the
        declared ``sources``, with ``values:`` keys normalised for matching."""
        refs: list[tuple[tuple[Any, ...], str]] = (
            [(("from",), self.source)] if self.source is not None else []
        )
        refs += [(("join", i, "source"), j.source) for i, j in enumerate(self.joins)]
        for at, source in refs:
            if source not in sources:
                raise Invalid(
                    f"unknown source {source!r}: declare it under sources: (declared: "
                    f"{', '.join(sources) or 'none'}).{suggest(str(source), sources)}",
                    table,
                    *at,
                )
        return self.model_copy(
            update={"table": table, "columns": self._columns(table), "values": self._values(table)}
        )

    def _columns(self, table: str) -> dict[str, ColumnMap]:
        names = TABLES[table].column_names
        for col in self.columns:
            if col not in names:
                raise Invalid(
                    f"{col!r} is not a column of {table} ({', '.join(names)}).{suggest(col, names)}",
                    table,
                    "columns",
                    col,
                )
        return {col: how.named(col) for col, how in self.columns.items()}

    def _values(self, table: str) -> dict[str, dict[str, Any]]:
        spec = TABLES[table]
        out: dict[str, dict[str, Any]] = {}
        for col, vmap in self.values.items():
            at = (table, "values", col)
            if col not in spec.column_names:
                raise Invalid(f"{col!r} is not a column of {table}.{suggest(col, spec.column_names)}", *at)
            enum = spec.column(col).enum
            out[col] = {}
            for src, dst in vmap.items():
                if dst is not None and enum is not None and str(dst) not in enum:
                    raise Invalid(
                        f"{str(dst)!r} is not a value of {table}.{col} ({', '.join(enum)})."
                        f"{suggest(str(dst), enum)}",
                        *at,
                        src,
                    )
                out[col].update(dict.fromkeys(_value_keys(src), None if dst is None else str(dst)))
        return out


class MappingFile(_Section):
    """A whole mapping file, checked."""

    expects: ClassVar[str] = "a YAML mapping with settings, sources, tables"

    description: str | None = None
    settings: Settings = Settings()
    sources: Annotated[dict[SourceName, SourceSpec], BeforeValidator(_empty_if_none)] = {}
    tables: dict[TableName, TableMap] | None = None

    @field_validator("sources", mode="after")
    @classmethod
    def _named_sources(cls, sources: dict[str, SourceSpec]) -> dict[str, SourceSpec]:
        return {name: spec.model_copy(update={"name": name}) for name, spec in sources.items()}

    @field_validator("tables", mode="after")
    @classmethod
    def _bound_tables(
        cls, tables: dict[str, TableMap] | None, info: ValidationInfo
    ) -> dict[str, TableMap] | None:
        if tables is None:
            return None
        if not tables:
            raise Invalid("maps no table. Map at least one canonical table.")
        sources = info.data.get("sources") or {}
        return {name: tm.bound(name, sources) for name, tm in tables.items()}

    @model_validator(mode="after")
    def _sources_are_used(self) -> MappingFile:
        if self.tables is None and self.sources:
            raise Invalid(
                "sources are declared but no 'tables:' section maps them onto canonical "
                "tables. Add tables: (see mappings/README.md).",
                "sources",
            )
        return self


# --------------------------------------------------------------------------------------
# The parsed mapping
# --------------------------------------------------------------------------------------


@dataclass
class Mapping:
    """A parsed, checked mapping (or the implicit one of a canonical-shape folder)."""

    source_dir: Path
    settings: dict[str, str]
    sources: dict[str, SourceSpec]
    tables: dict[str, TableMap]
    path: Path | None = None
    lines: Lines = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name the mapping: its file name, or ``(no mapping)``."""
        return self.path.name if self.path else "(no mapping)"

    def at(self, *keys: Any) -> str:
        """``olist.yaml, line 12`` for the mapping entry at ``keys`` (best effort)."""
        line = line_of(self.lines, keys) if self.path is not None else None
        return f"{self.label}, line {line}" if line is not None else self.label


def _fail(message: str, **fields: Any) -> ImportFailed:
    return ImportFailed(Problem(message, **fields))


def _read(path: Path) -> tuple[Any, Lines]:
    """The YAML document of ``path`` and its line map (``on`` keys read as true included)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{path}: cannot read the mapping ({exc}).") from None
    try:
        data, lines = load(text)
    except YamlSyntaxError as exc:
        at = f", line {exc.line}" if exc.line else ""
        raise _fail(
            f"{path.name}{at}: the mapping is not valid YAML ({exc.problem}). Check the indentation "
            "and quote values that contain ':' or '#'.",
            file=path.name,
            line=exc.line,
        ) from None
    lines.update({(*k[:-1], "on"): n for k, n in list(lines.items()) if k and k[-1] is True})
    return data, lines


def _problem(path: Path, error: ValidationError, lines: Lines) -> ImportFailed:
    """The first validation error as one line: file, line, where, what, and the fix."""
    first = error.errors(include_url=False)[0]
    loc = tuple(k for k in first["loc"] if k != "[key]")
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, Invalid):
        loc, text = (*loc, *cause.at), cause.text
    else:
        msg = str(first["msg"])
        text = (
            f"{msg[:1].lower()}{msg[1:]} (got {first.get('input')!r}). Fix it in the mapping "
            "(see mappings/README.md)."
        )
    line = line_of(lines, loc)
    at = f"{path.name}, line {line}" if line is not None else path.name
    where = ".".join(str(k) for k in loc)
    return _fail(f"{at}: {where + ': ' if where else ''}{text}", file=path.name, line=line)


def load_mapping(path: str | Path, source_dir: str | Path) -> Mapping:
    """Parse and check a mapping file; raise :class:`ImportFailed` naming the line."""
    p = Path(path)
    if not p.is_file():
        raise _fail(f"mapping file {p} not found. Give the path of a .yaml mapping (see mappings/).")
    data, lines = _read(p)
    if data is None:
        raise _fail(
            f"{p.name}: the mapping is empty. Give at least 'tables:' (or only 'settings:' for a "
            "folder of canonical-shape files).",
            file=p.name,
        )
    try:
        doc = MappingFile.model_validate(data)
    except ValidationError as exc:
        raise _problem(p, exc, lines) from None
    settings = doc.settings.as_dict()
    if doc.tables is None:
        auto = canonical_mapping(source_dir, settings)
        auto.path, auto.lines = p, lines
        return auto
    return Mapping(Path(source_dir), settings, doc.sources, doc.tables, path=p, lines=lines)


def _files_by_table(folder: Path) -> dict[str, list[Path]]:
    """The readable files of ``folder`` named after a canonical table, per table."""
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
    return by_table


def canonical_mapping(source_dir: str | Path, settings: dict[str, str] | None = None) -> Mapping:
    """The implicit mapping of a folder of canonical-shape files (``deals.csv``, ...)."""
    folder = Path(source_dir)
    by_table = _files_by_table(folder)
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
        # built here, not read from a file: nothing to validate
        sources[table] = SourceSpec.model_construct(name=table, file=files[0].name)
        tables[table] = TableMap.model_construct(table=table, source=table, auto=True)
    return Mapping(folder, dict(settings or {}), sources, tables)
