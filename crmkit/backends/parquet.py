"""``crmkit export-parquet``: a dataset's canonical tables as Parquet, for Spark.

One folder per table under its canonical name (``deals/``, ``activities/``, ...), the large
fact tables partitioned by the UTC month of their event column
(``activities/crmkit_month=2025-06/part-0.parquet``; Spark skips the files of other months
by their column statistics), beside ``crmkit_settings/``, ``crmkit_data_notes/``,
``crmkit_pipeline_snapshots/`` (when the dataset has snapshots) and ``crmkit_export.json``,
which says what was written (tables, rows, partitioning) and marks the folder as an export.
Columns carry their canonical types (timestamps as naive microseconds, UTC), so Spark
(:mod:`crmkit.backends.spark`) reads exactly what DuckDB or PostgreSQL held.

Rows stream from the source engine in batches (DuckDB's Arrow reader, ibis's batches on
PostgreSQL), so a table need not fit in memory. Everything is written into a temporary
folder beside the target and renamed into place only when complete: a failure, or a kill,
leaves the previous folder as it was and no half-written export (what a killed export left
is removed by the next one). A folder that is neither empty nor a previous export is not
replaced without ``replace=True`` (``--replace``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import narwhals as nw
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from crmkit._files import sweep_temporaries
from crmkit.backends import Backend
from crmkit.backends.base import SNAPSHOT_COLUMNS, SNAPSHOTS
from crmkit.backends.engines import open_backend
from crmkit.backends.location import SparkLocation, find_database
from crmkit.backends.spark import NOTES_TABLE, SETTINGS_TABLE, stored_name
from crmkit.errors import OutputError, StoreError
from crmkit.model import TABLES

__all__ = ["MANIFEST", "MONTH_COLUMN", "PARTITIONED", "export_parquet"]

#: The file that marks a folder as a crmkit Parquet export and lists what it holds.
MANIFEST = "crmkit_export.json"
#: The partition column of the fact tables: the UTC month of :data:`PARTITIONED`'s column.
MONTH_COLUMN = "crmkit_month"
#: The fact tables written one folder per month, by the column that says when.
PARTITIONED: dict[str, str] = {
    "campaign_costs": "date",
    "leads": "created_at",
    "deals": "created_at",
    "activities": "occurred_at",
    "tickets": "opened_at",
    "tasks": "created_at",
    "survey_responses": "responded_at",
}
BATCH_ROWS = 131_072

_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.string(),
    "str": pa.string(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "float": pa.float64(),
    "int": pa.int64(),
}
_NOTES_SCHEMA = pa.schema([
    ("position", pa.int64()), ("table_name", pa.string()), ("column_name", pa.string()),
    ("rule", pa.string()), ("severity", pa.string()), ("count", pa.int64()), ("examples", pa.string()),
])


def _schema(name: str) -> pa.Schema:
    columns = SNAPSHOT_COLUMNS if name == SNAPSHOTS else {c.name: c.type for c in TABLES[name].columns}
    return pa.schema([(c, _ARROW_TYPES[kind]) for c, kind in columns.items()])


# -- reading the source in batches ----------------------------------------------------------------


def _reader(frame: nw.LazyFrame) -> pa.RecordBatchReader:
    """The rows of ``frame`` as a stream of Arrow batches, read where the data is."""
    native = nw.to_native(frame)
    if hasattr(native, "to_pyarrow_batches"):  # ibis (PostgreSQL): a server-side cursor
        return native.to_pyarrow_batches(chunk_size=BATCH_ROWS)
    if hasattr(native, "to_arrow_reader"):  # a DuckDB relation
        return native.to_arrow_reader(BATCH_ROWS)
    return frame.collect().to_arrow().to_reader()  # frames already in memory


def _batches(reader: pa.RecordBatchReader, name: str, counter: list[int]) -> Iterator[pa.RecordBatch]:
    """Each batch with the canonical columns and types, plus the month column of a
    partitioned table; ``counter`` counts the rows."""
    schema = _schema(name)
    column = PARTITIONED.get(name)
    for batch in reader:
        table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
        if column is not None:
            when = table[column]
            if pa.types.is_date32(when.type):
                when = when.cast(pa.timestamp("s"))
            table = table.append_column(MONTH_COLUMN, pc.strftime(when, format="%Y-%m"))
        counter[0] += table.num_rows
        yield from table.to_batches()


def _write_table(frame: nw.LazyFrame, name: str, folder: Path) -> int:
    """One table into ``folder/<stored name>/``; the rows written."""
    target = folder / stored_name(name)
    schema = _schema(name)
    partitioned = name in PARTITIONED
    if partitioned:
        schema = schema.append(pa.field(MONTH_COLUMN, pa.string()))
    counter = [0]
    ds.write_dataset(
        _batches(_reader(frame), name, counter),
        target,
        schema=schema,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([(MONTH_COLUMN, pa.string())]), flavor="hive")
        if partitioned else None,
        basename_template="part-{i}.parquet",
        max_partitions=12 * 500,
        max_rows_per_group=BATCH_ROWS,
        existing_data_behavior="error",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )
    if counter[0] == 0:  # an empty table is still a table: one file with its columns
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(_schema(name).empty_table(), target / "part-0.parquet")
    return counter[0]


def _write_meta(backend: Backend, folder: Path) -> None:
    settings = sorted(backend.settings().items())
    (folder / SETTINGS_TABLE).mkdir()
    pq.write_table(
        pa.table({"key": [k for k, _ in settings], "value": [v for _, v in settings]}),
        folder / SETTINGS_TABLE / "part-0.parquet",
    )
    rows = [(i, *note.as_row()) for i, note in enumerate(backend.notes())]
    columns = {f.name: [r[i] for r in rows] for i, f in enumerate(_NOTES_SCHEMA)}
    (folder / NOTES_TABLE).mkdir()
    pq.write_table(pa.table(columns, schema=_NOTES_SCHEMA), folder / NOTES_TABLE / "part-0.parquet")


# -- the folder --------------------------------------------------------------------------------------


def is_export(folder: Path) -> bool:
    """Whether ``folder`` is a crmkit Parquet export (it has the manifest)."""
    return (folder / MANIFEST).is_file()


def _check_target(target: Path, replace: bool) -> None:
    """A one-line error unless ``target`` may be (re)written: new, empty, a previous
    export, or anything with ``replace``."""
    if not target.exists():
        return
    if not target.is_dir():
        raise StoreError(f"{target} is a file: export-parquet writes a folder; give a folder name")
    if replace or is_export(target) or not any(target.iterdir()):
        return
    raise StoreError(
        f"{target} is not empty and is not a crmkit Parquet export (no {MANIFEST}): give a new "
        "or empty folder, or add --replace to replace everything in it"
    )


def _temporary_folder(target: Path) -> Path:
    """A new folder beside ``target``, named after this process (``.<name>.<pid>-<token>.tmp``,
    which the next export removes if this process is killed)."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent))


def _swap(new: Path, target: Path) -> None:
    """Put ``new`` where ``target`` is, the old folder removed afterwards; a reader sees the
    old export or the new one (for an instant, none), never a half-written one."""
    if not target.exists():
        os.rename(new, target)
        return
    old = _temporary_folder(target)
    os.rename(target, old / "previous")
    try:
        os.rename(new, target)
    except OSError:
        os.rename(old / "previous", target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_all(backend: Backend, tmp: Path, say: Callable[[str], None]) -> dict[str, int]:
    frames = backend.frames()
    names = [*TABLES, *([SNAPSHOTS] if SNAPSHOTS in frames else [])]
    rows: dict[str, int] = {}
    for name in names:
        started = time.perf_counter()
        rows[name] = _write_table(frames[name], name, tmp)
        say(f"{name}: {rows[name]:,} rows in {time.perf_counter() - started:.1f} s")
    _write_meta(backend, tmp)
    manifest = {
        "crmkit_export": 1,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tables": {stored_name(name): n for name, n in rows.items()},
        "partitioned_by_month": {name: col for name, col in PARTITIONED.items()},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return rows


def export_parquet(
    database: str | os.PathLike[str] | None,
    to: str | os.PathLike[str],
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the canonical tables, settings, data notes and pipeline snapshots of
    ``database`` (a DuckDB file or a PostgreSQL schema, see
    :func:`~crmkit.backends.location.find_database`) as Parquet into the folder ``to``;
    the rows written per table."""
    target = Path(to).expanduser().resolve()
    _check_target(target, replace)
    source = find_database(database)
    if isinstance(source, SparkLocation):
        raise StoreError(f"{source} is read by Spark already: export a DuckDB or PostgreSQL database")
    backend = open_backend(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(target.parent, target=target.name)
        tmp = _temporary_folder(target)
    except OSError as exc:
        backend.close()
        raise OutputError.of(target.parent, exc) from None
    try:
        rows = _write_all(backend, tmp, progress or (lambda _msg: None))
        _check_target(target, replace)  # again: something may have appeared meanwhile
        _swap(tmp, target)
    except OSError as exc:
        raise OutputError.of(target, exc) from None
    finally:
        backend.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    return rows


def read_manifest(folder: Path) -> Mapping[str, Any]:
    """What an export holds, as its manifest says."""
    return dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
