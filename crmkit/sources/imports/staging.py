"""Staging: one SQL query per canonical table over the sources, then canonical types.

Sources are DuckDB views named after the source, every column text, plus ``_file`` and
``_line``.  A declarative table (``from``/``join``/``columns``/``where``/``distinct``) is
turned into a SELECT; an ``sql:`` table is run as written (dbt's staging models, in
effect).  The SQL runs sandboxed on a private in-memory database that holds only the
source views: one SELECT statement, no file, network, extension or other database, and a
locked configuration.  The result is read into pandas, the ``values:`` maps and enumerations are
applied, and each column is read as its canonical type (:mod:`crmkit.sources.imports.values`), so a
bad cell is named by file, line and column.  Keys are checked for duplicates here too, with
the lines of both copies.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from crmkit.backends import sandbox
from crmkit.model import TABLES, DataNote, TableSpec
from crmkit.sources.imports.errors import ImportFailed, Problem
from crmkit.sources.imports.mapping import ColumnMap, Mapping, TableMap, normalize_value, suggest
from crmkit.sources.imports.sources import FILE_COL, LINE_COL, SourceFrame, location
from crmkit.sources.imports.values import Cells, Finding, as_text, parse_ids, parse_numbers, parse_timestamps

__all__ = ["StagedTable", "check_chunk_keys", "key_frame", "stage_chunks", "stage_tables"]

_HIDDEN = (FILE_COL, LINE_COL)


@dataclass
class StagedTable:
    """One canonical table built from the sources: typed canonical columns plus ``_file``
    and ``_line`` where known, the soft notes found while reading it, and its query."""

    name: str
    frame: pd.DataFrame
    notes: list[DataNote] = field(default_factory=list)
    sql: str = ""
    direct: dict[str, str] = field(default_factory=dict)  # canonical column -> source column

    def where(self, i: int) -> tuple[str | None, int | None, str]:
        """``(file, line, "deals.csv, line 7")`` of row position ``i``, or key values."""
        df = self.frame
        if FILE_COL in df.columns and df[FILE_COL].iloc[i] is not None:
            file = df[FILE_COL].iloc[i]
            line = df[LINE_COL].iloc[i] if LINE_COL in df.columns else None
            line = None if line is None or pd.isna(line) else int(line)
            return str(file), line, location(_kind(str(file)), file, line)
        key = TABLES[self.name].key
        if all(k in df.columns for k in key):
            vals = ", ".join(f"{k} {df[k].iloc[i]!r}" for k in key)
            return None, None, f"{self.name} row with {vals}"
        return None, None, f"{self.name} row {i + 1}"


def _kind(file: str) -> str:
    return "csv" if file.lower().endswith((".csv", ".tsv", ".txt", ".tab")) else "other"


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int | float):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


# --------------------------------------------------------------------------------------
# The DuckDB side
# --------------------------------------------------------------------------------------


def _connect(sources: MappingABC[str, SourceFrame]) -> duckdb.DuckDBPyConnection:
    """A private, sandboxed in-memory database (:mod:`crmkit.backends.sandbox`) holding one
    view per source, every column as text plus the file and line of each row: the mapping's
    SQL sees the sources and nothing else."""
    extra = (f"CAST({_q(FILE_COL)} AS VARCHAR) AS {_q(FILE_COL)}, "
             f"CAST({_q(LINE_COL)} AS BIGINT) AS {_q(LINE_COL)}")

    def view(name: str, raw: str) -> str:
        cols = [f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in sources[name].columns]
        return f"SELECT {', '.join([*cols, extra])} FROM {_q(raw)}"

    return sandbox.connect({name: sf.frame for name, sf in sources.items()}, view=view)


def _first_of_each(sql: str, columns: tuple[ColumnMap, ...], spec: TableSpec) -> str:
    """``distinct: true``: the first row (by file and line) of each distinct set of mapped
    values, leaving out rows whose key is empty."""
    cols = ", ".join(_q(c.canonical) for c in columns)
    keys = " OR ".join(f"{_q(k)} IS NOT NULL" for k in spec.key if k in {c.canonical for c in columns})
    return (
        f"SELECT * EXCLUDE (_crmkit_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {cols} "
        f"ORDER BY {_q(FILE_COL)}, {_q(LINE_COL)}) AS _crmkit_rn FROM ({sql}) "
        f"{'WHERE ' + keys if keys else ''}) WHERE _crmkit_rn = 1"
    )


class _Builder:
    """Turns each table map into one DuckDB query over the source views and runs it."""

    def __init__(self, mapping: Mapping, sources: MappingABC[str, SourceFrame]) -> None:
        self.m = mapping
        self.sources = sources

    def error(self, tm: TableMap, keys: tuple[Any, ...], text: str, **fields: Any) -> ImportFailed:
        dotted = ".".join(str(k) for k in ("tables", tm.table, *keys))
        at = self.m.at("tables", tm.table, *keys)
        lead = f"{at}: {dotted}: " if self.m.path else ""
        return ImportFailed(
            Problem(lead + text, table=tm.table, file=fields.pop("file", self.m.label), **fields)
        )

    def source(self, tm: TableMap, keys: tuple[Any, ...], name: str) -> SourceFrame:
        sf = self.sources[name]
        if not sf.columns:
            files = ", ".join(sf.empty_files or sf.files)
            fix = (
                f"delete the file to import {tm.table} as an empty table"
                if tm.auto
                else "remove it from the mapping"
            )
            raise self.error(
                tm,
                keys,
                f"{files} is empty (no header row, no data). Export it again with its header row, or {fix}.",
                file=files,
            )
        return sf

    def resolve(self, tm: TableMap, cm: ColumnMap, aliases: dict[str, SourceFrame]) -> str:
        """The SQL reference of a source column: ``col`` of ``from``, or ``source.col``."""
        source = tm.source or ""
        main = aliases[source]
        ref = str(cm.value)
        if ref in main.columns:
            return f"{_q(source)}.{_q(ref)}"
        if "." in ref:
            alias, col = ref.split(".", 1)
            if alias in aliases and col in aliases[alias].columns:
                return f"{_q(alias)}.{_q(col)}"
        files = ", ".join(main.files)
        pool = list(main.columns) + [
            f"{a}.{c}" for a, sf in aliases.items() if a != tm.source for c in sf.columns
        ]
        shown = ", ".join(main.columns[:15]) + (", ..." if len(main.columns) > 15 else "")
        required = " required" if TABLES[tm.table].column(cm.canonical).required else ""
        at = self.m.at("tables", tm.table, "columns", cm.canonical)
        raise ImportFailed(
            Problem(
                f"{files}, line 1: the header has no column {ref!r}, which {at} maps to the"
                f"{required} column {tm.table}.{cm.canonical} (the header has: {shown})."
                f"{suggest(ref, pool)} Add the column to the export, or fix the name in the "
                "mapping (names are case-sensitive).",
                table=tm.table,
                column=cm.canonical,
                rule="mapped column is present",
                file=files,
                line=1,
                value=ref,
            )
        )

    def auto_columns(self, tm: TableMap, main: SourceFrame) -> tuple[ColumnMap, ...]:
        """The canonical columns a canonical-shape file holds, taken by name; every
        required one must be there."""
        spec = TABLES[tm.table]
        missing = [c for c in spec.required if c not in main.columns]
        if missing:
            file = ", ".join(main.files)
            raise ImportFailed(
                Problem(
                    f"{file}: required column {missing[0]} of {tm.table} is missing "
                    f"(missing: {', '.join(missing)}; the file has: {', '.join(main.columns)}). "
                    "Add the column to the export, rename its header to the canonical name, "
                    "or write a mapping (see mappings/README.md).",
                    table=tm.table,
                    column=missing[0],
                    rule="required column is present",
                    file=file,
                    line=1,
                )
            )
        return tuple(
            ColumnMap.model_construct(canonical=c, kind="column", value=c)
            for c in spec.column_names
            if c in main.columns
        )

    def joins(self, tm: TableMap, main: SourceFrame, aliases: dict[str, SourceFrame]) -> list[str]:
        """The JOIN clauses of ``tm`` (each joined source added to ``aliases``)."""
        assert tm.source is not None
        clauses = []
        for i, j in enumerate(tm.joins):
            other = self.source(tm, ("join", i, "source"), j.source)
            aliases[j.source] = other
            conds = []
            for left, right in zip(j.left, j.right, strict=True):
                for col, name, sf in ((left, tm.source, main), (right, j.source, other)):
                    if col not in sf.columns:
                        raise self.error(
                            tm,
                            ("join", i, "on"),
                            f"column {col!r} is not in {name}.{suggest(col, sf.columns)}",
                        )
                conds.append(f"{_q(tm.source)}.{_q(left)} = {_q(j.source)}.{_q(right)}")
            clauses.append(f"{j.how.upper()} JOIN {_q(j.source)} AS {_q(j.source)} ON {' AND '.join(conds)}")
        return clauses

    def select_list(
        self, tm: TableMap, columns: tuple[ColumnMap, ...], aliases: dict[str, SourceFrame]
    ) -> tuple[list[str], dict[str, str]]:
        """``expr AS canonical`` per mapped column, and the source column of each direct one."""
        missing = [c for c in TABLES[tm.table].required if c not in {cm.canonical for cm in columns}]
        if missing:
            raise self.error(
                tm,
                ("columns",),
                f"required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} of {tm.table} "
                "not mapped. Add under columns: a source column, {sql: expression} or {const: value}.",
                column=missing[0],
            )
        exprs: list[str] = []
        direct: dict[str, str] = {}
        for cm in columns:
            if cm.kind == "column":
                ref = self.resolve(tm, cm, aliases)
                direct[cm.canonical] = str(cm.value)
            else:
                ref = f"({cm.value})" if cm.kind == "sql" else _literal(cm.value)
            exprs.append(f"{ref} AS {_q(cm.canonical)}")
        assert tm.source is not None
        return exprs + [f"{_q(tm.source)}.{_q(c)} AS {_q(c)}" for c in _HIDDEN], direct

    def declarative_sql(self, tm: TableMap) -> tuple[str, dict[str, str]]:
        """The SELECT of a ``from:``/``columns:`` table, and its direct source columns."""
        assert tm.source is not None
        main = self.source(tm, ("from",), tm.source)
        columns = self.auto_columns(tm, main) if tm.auto else tuple(tm.columns.values())
        aliases = {tm.source: main}
        joins = self.joins(tm, main, aliases)
        exprs, direct = self.select_list(tm, columns, aliases)
        sql = "\n".join(
            [f"SELECT {', '.join(exprs)}", f"FROM {_q(tm.source)} AS {_q(tm.source)}", *joins]
            + ([f"WHERE ({tm.where})"] if tm.where else [])
        )
        if tm.distinct:
            sql = _first_of_each(sql, columns, TABLES[tm.table])
        return f"{sql}\nORDER BY {_q(FILE_COL)}, {_q(LINE_COL)}", direct

    def query(self, con: duckdb.DuckDBPyConnection, tm: TableMap, sql: str) -> pd.DataFrame:
        """Run the one SELECT of ``tm`` in the sandbox; every refusal names the mapping."""
        what = "the SQL" if tm.sql is not None else "the query built from this mapping"
        keys: tuple[str, ...] = ("sql",) if tm.sql is not None else ()
        wrong = sandbox.one_select(con, sql)
        if wrong:
            raise self.error(
                tm,
                keys,
                f"{what} must be one SELECT statement, but {wrong}. Mapping SQL only reads the "
                "sources declared under sources:; write one SELECT (WITH ... SELECT for steps).",
            )
        try:
            df = con.execute(sql).df()
        except duckdb.PermissionException as exc:
            first = sandbox.permission_problem(exc)
            raise self.error(
                tm,
                keys,
                f"{what} reaches outside the sources ({first}). Mapping SQL runs sandboxed: it "
                "reads only the sources declared under sources: (no other file, database, network "
                "or extension); declare the file as a source instead.",
            ) from None
        except duckdb.Error as exc:
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            first = lines[0].rstrip("!.")
            hint = next((ln for ln in lines[1:] if ln.startswith(("Candidate", "Did you mean"))), "")
            if hint:
                first += f" ({hint.rstrip('.')})"
            raise self.error(
                tm,
                keys,
                f"DuckDB cannot run {what}: {first}. Source columns are text named as in the "
                "export header; cast them in SQL where needed (TRY_CAST(x AS DOUBLE)).",
            ) from None
        return df

    def run(self, con: duckdb.DuckDBPyConnection, tm: TableMap) -> StagedTable:
        spec = TABLES[tm.table]
        if tm.sql is not None:
            sql = tm.sql.strip().rstrip(";")
            direct: dict[str, str] = {}
        else:
            sql, direct = self.declarative_sql(tm)
        df = self.query(con, tm, sql)
        extra = [c for c in df.columns if c not in spec.column_names and c not in _HIDDEN]
        if extra:
            raise self.error(
                tm,
                ("sql",),
                f"the SQL returns column {extra[0]!r}, which is not a column of {tm.table} "
                f"({', '.join(spec.column_names)}).{suggest(str(extra[0]), spec.column_names)} "
                "Rename it with AS or leave it out.",
            )
        missing = [c for c in spec.required if c not in df.columns]
        if missing:
            raise self.error(
                tm,
                ("sql",),
                f"the SQL returns no column {missing[0]} (required in {tm.table}; it returns: "
                f"{', '.join(map(str, df.columns))}). Add ... AS {missing[0]} to the SELECT.",
                column=missing[0],
            )
        return StagedTable(tm.table, df.reset_index(drop=True), sql=sql, direct=direct)


# --------------------------------------------------------------------------------------
# pandas side: values, types, keys
# --------------------------------------------------------------------------------------


def _canonical_spelling(text: pd.Series) -> pd.Series:
    return text.map(lambda v: None if v is None else v.casefold().replace(" ", "_").replace("-", "_"))


def _map_values(s: pd.Series, table_map: dict[str, Any] | None, enum: tuple[str, ...] | None) -> pd.Series:
    """Apply a ``values:`` map (``*``: every other value, ``""``: blank cells), then spell
    values of an enumeration canonically (``Won`` -> ``won``)."""
    text = as_text(s)
    if table_map:
        key = text.map(lambda v: "" if v is None else normalize_value(v))
        hit = key.isin(list(table_map))
        mapped = key[hit].map(table_map)
        out = text.astype(object).copy()
        out[hit] = mapped.to_numpy()
        if "*" in table_map:
            rest = ~hit & text.notna()
            if enum is not None:
                rest &= ~_canonical_spelling(text).isin(list(enum))
            out[rest] = table_map["*"]
        text = as_text(out)
    if enum is not None:
        low = _canonical_spelling(text)
        ok = low.isin(list(enum))
        text = text.where(~ok, low)
    return text


def _convert(
    staged: StagedTable, tm: TableMap, spec: TableSpec, mapping: Mapping, src_opts: dict[str, Any]
) -> list[DataNote]:
    df = staged.frame
    notes: list[DataNote] = []
    tz = tm.timezone or src_opts.get("timezone") or mapping.settings.get("timezone") or "UTC"
    date_format = tm.date_format or src_opts.get("date_format")
    decimal = tm.decimal or src_opts.get("decimal")
    for c in spec.columns:
        if c.name not in df.columns:
            continue
        src = staged.direct.get(c.name)
        label = f"column {src!r} ({spec.name}.{c.name})" if src else f"{spec.name}.{c.name}"
        cells = Cells(df[c.name], spec.name, c.name, label, staged.where)
        findings: list[Finding] = []
        if c.type in ("timestamp", "date"):
            out, findings = parse_timestamps(
                cells, timezone=tz, date_format=date_format, date_only=c.type == "date"
            )
        elif c.type in ("float", "int"):
            out, findings = parse_numbers(cells, decimal=decimal, integer=c.type == "int")
        elif c.type == "id":
            out = parse_ids(
                _map_values(df[c.name], tm.values.get(c.name), None) if c.name in tm.values else df[c.name]
            )
        else:
            out = _map_values(df[c.name], tm.values.get(c.name), c.enum)
        df[c.name] = out
        notes.extend(DataNote(spec.name, c.name, f.rule, f.count, f.examples, f.severity) for f in findings)
    return notes


def _check_keys(staged: StagedTable, spec: TableSpec) -> None:
    df = staged.frame
    key = list(spec.key)
    if not all(k in df.columns for k in key) or len(df) == 0:
        return
    present = df[key].notna().all(axis=1)
    dup = df.duplicated(key, keep=False) & present
    if not dup.any():
        return
    rows = df[dup]
    groups = rows.groupby(key if len(key) > 1 else key[0], sort=False, dropna=True).groups
    first_key, idx = next(iter(groups.items()))
    positions = [int(df.index.get_loc(i)) for i in idx]
    places = [staged.where(p) for p in positions[:3]]
    key_text = (
        repr(first_key)
        if len(key) == 1
        else ", ".join(f"{k}={v!s}" for k, v in zip(key, first_key, strict=True))
    )
    files = {f for f, _, _ in places if f}
    if len(files) == 1 and all(ln is not None for _, ln, _ in places):
        word = "line" if _kind(next(iter(files))) == "csv" else "row"
        at = f"{next(iter(files))}, {word}s " + " and ".join(str(ln) for _, ln, _ in places)
    else:
        at = "; ".join(loc for _, _, loc in places)
    n_keys = len(groups)
    n_rows = int(dup.sum())
    also = f" ({n_rows:,} rows share {n_keys:,} keys)" if n_keys > 1 else ""
    src = staged.direct.get(key[0]) if len(key) == 1 else None
    col = f"column {src!r} ({spec.name}.{key[0]})" if src else f"{spec.name}.{', '.join(key)}"
    examples = []
    for p in positions[:5]:
        f, ln, _ = staged.where(p)
        examples.append({**{k: df[k].iloc[p] for k in key}, "file": f, "line": ln})
    raise ImportFailed(
        Problem(
            f"{at}: {col}: duplicate key {key_text}{also}. Keys must be unique: remove the "
            f"duplicate rows from the export, or map a column that is unique to {', '.join(key)}.",
            table=spec.name,
            column=", ".join(key),
            rule="key is unique",
            count=n_rows,
            examples=[
                {k: (str(v) if not isinstance(v, str | int | None) else v) for k, v in e.items()}
                for e in examples
            ],
            file=places[0][0],
            line=places[0][1],
            value=key_text,
        )
    )


def _source_options(mapping: Mapping, tm: TableMap) -> dict[str, Any]:
    """Read options that also steer value parsing: those of the ``from`` source, or for an
    ``sql:`` table those every source agrees on."""
    if tm.source is not None:
        s = mapping.sources[tm.source]
        return {"timezone": s.timezone, "date_format": s.date_format, "decimal": s.decimal}
    out: dict[str, Any] = {}
    for opt in ("timezone", "date_format", "decimal"):
        vals = {getattr(s, opt) for s in mapping.sources.values()}
        if len(vals) == 1:
            out[opt] = vals.pop()
    return out


def _built(name: str, build: Callable[[], StagedTable]) -> StagedTable:
    """``build()``, any failure crmkit did not foresee turned into one line naming the table."""
    try:
        return build()
    except ImportFailed:
        raise
    except Exception as exc:  # an export crmkit did not foresee: still one line
        raise ImportFailed(
            Problem(
                f"{name}: crmkit could not build this table ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}). Check the mapping of "
                f"{name}; if it looks right, report this with the mapping and a sample.",
                table=name,
            )
        ) from None


def _stage_one(
    builder: _Builder, con: duckdb.DuckDBPyConnection, tm: TableMap, *, keys: bool = True
) -> StagedTable:
    """Build and type one table (and check its key, with ``keys``)."""
    mapping = builder.m
    st = builder.run(con, tm)
    st.notes = _convert(st, tm, TABLES[tm.table], mapping, _source_options(mapping, tm))
    if keys:
        _check_keys(st, TABLES[tm.table])
    return st


def stage_tables(
    mapping: Mapping, sources: MappingABC[str, SourceFrame], skip: Collection[str] = ()
) -> tuple[dict[str, StagedTable], list[ImportFailed]]:
    """Build, type and key-check every mapped table (but those in ``skip``).  Returns the
    staged tables and the failures (at most one per table: the first problem found in it)."""
    con = _connect(sources)
    builder = _Builder(mapping, sources)
    staged: dict[str, StagedTable] = {}
    failures: list[ImportFailed] = []
    try:
        for name in TABLES:
            tm = mapping.tables.get(name)
            if tm is None or name in skip:
                continue
            try:
                staged[name] = _built(name, partial(_stage_one, builder, con, tm))
            except ImportFailed as exc:
                failures.append(exc)
    finally:
        con.close()
    return staged, failures


def stage_chunks(
    mapping: Mapping, sources: MappingABC[str, SourceFrame], table: str
) -> Iterator[StagedTable]:
    """Build and type ``table`` from its one source read in chunks: one staged table per
    chunk, keys unchecked (:func:`key_frame` and :func:`check_chunk_keys` check them)."""
    tm = mapping.tables[table]
    assert tm.source is not None
    sf = sources[tm.source]
    assert sf.chunks is not None
    builder = _Builder(mapping, sources)
    for chunk in sf.chunks():
        con = _connect({tm.source: replace(sf, frame=chunk, chunks=None)})
        try:
            yield _built(table, partial(_stage_one, builder, con, tm, keys=False))
        finally:
            con.close()


def key_frame(staged: StagedTable) -> pd.DataFrame:
    """The key columns of a staged chunk with ``_file`` and ``_line``, compact."""
    df = staged.frame
    cols = [k for k in TABLES[staged.name].key if k in df.columns]
    out = {k: df[k].astype("str") if df[k].dtype == object else df[k] for k in cols}
    if FILE_COL in df.columns:
        out[FILE_COL] = df[FILE_COL].astype("category")
    if LINE_COL in df.columns:
        out[LINE_COL] = df[LINE_COL]
    return pd.DataFrame(out)


def check_chunk_keys(table: str, parts: list[pd.DataFrame], direct: dict[str, str]) -> None:
    """Raise :class:`ImportFailed` for a key that repeats across the chunks of ``table``
    (``parts``: their :func:`key_frame`), as for a table read whole.

    Only hashes of the keys are compared across all chunks; the rows whose hash repeats
    are then checked as a table read whole would be (same message, same places)."""
    key = [k for k in TABLES[table].key if parts and k in parts[0].columns]
    if not parts or len(key) < len(TABLES[table].key):
        return
    hashes = [pd.util.hash_pandas_object(p[key], index=False).to_numpy() for p in parts]
    every = pd.Series(np.concatenate(hashes))
    repeated = set(every[every.duplicated(keep=False)].unique().tolist())
    if not repeated:
        return
    rows = [p[np.isin(h, list(repeated))] for p, h in zip(parts, hashes, strict=True)]
    frame = pd.concat(rows, ignore_index=True)
    if FILE_COL in frame.columns:
        frame[FILE_COL] = frame[FILE_COL].astype(object)
    _check_keys(StagedTable(table, frame, direct=direct), TABLES[table])


def locate(staged: StagedTable, example: MappingABC[str, Any]) -> tuple[str | None, int | None, str] | None:
    """Where the row of a validation example (key values, or ``row``) came from."""
    df = staged.frame
    if "row" in example:
        i = int(example["row"]) - 1
        return staged.where(i) if 0 <= i < len(df) else None
    spec = TABLES[staged.name]
    mask = np.ones(len(df), dtype=bool)
    used = False
    for k in spec.key:
        if k not in example or k not in df.columns or spec.column(k).type != "id":
            continue
        want = str(example[k])
        col = df[k].astype(object)
        hit = col.str.startswith(want[:-3], na=False) if want.endswith("...") else col == want
        mask &= hit.fillna(False).to_numpy(dtype=bool)
        used = True
    if not used or not mask.any():
        return None
    return staged.where(int(np.flatnonzero(mask)[0]))
