"""Apache Spark back-end: the same reports on data that outgrew one machine.

Spark reads the canonical tables from Parquet (a folder :mod:`crmkit.backends.parquet`
wrote, on any file system Spark reads: local, ``hdfs://``, ``s3a://`` through the cluster's
own configuration) or from a catalog database, each table under its canonical name beside
``crmkit_settings``, ``crmkit_data_notes`` and, optionally, ``crmkit_pipeline_snapshots``
(the names a PostgreSQL dataset uses). Where, and which Spark, come from
:class:`~crmkit.backends.location.SparkLocation` (``$CRMKIT_SPARK``, the master URL, and
``$CRMKIT_SPARK_SOURCE``).

Every frame is a Spark DataFrame wrapped by narwhals, so each metric (the same narwhals
expressions as on DuckDB and PostgreSQL) becomes Spark jobs: filters and aggregations run
on the executors, and only the aggregated rows a metric collects reach the driver (this
process). The data fingerprint is computed by Spark too, in the canonical text form of
:mod:`crmkit.backends.fingerprint`, so it equals DuckDB's for the same data.

pyspark is imported when a dataset is opened (it is an optional extra and costs a second to
import); a local master starts a JVM in this process, which needs Java 17 or newer. A
session is shared by every dataset this process opens (a warm report kernel reuses its
JVM); closing a dataset releases its cached tables, never the session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import narwhals as nw

from crmkit.backends import DATA_LAST_DAY
from crmkit.backends._sql import EVENT_COLUMNS
from crmkit.backends.base import (
    NOTES_TABLE,
    SETTINGS_TABLE,
    SNAPSHOT_COLUMNS,
    SNAPSHOTS,
    SNAPSHOTS_TABLE,
    OpenDataset,
)
from crmkit.backends.fingerprint import EXACT_BELOW, combine
from crmkit.backends.location import SparkLocation
from crmkit.errors import StoreError
from crmkit.model import TABLES, DataNote, checked_settings

__all__ = [
    "JAVA_HINT", "SPARK_TYPES", "SparkBackend", "change_stamp", "check_java", "check_source",
    "describe", "of_spark", "session", "stored_name",
]

#: Canonical logical types as Spark SQL types (timestamps naive, in UTC, like DuckDB's).
SPARK_TYPES: dict[str, str] = {
    "id": "string",
    "str": "string",
    "timestamp": "timestamp_ntz",
    "date": "date",
    "float": "double",
    "int": "bigint",
}

JAVA_HINT = "Spark needs Java 17+: apt install openjdk-17-jre-headless"
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')

#: Settings of every session: instants are naive and in UTC, like the canonical model's
#: (a metric's ``datetime`` bound is then a literal of the columns' own type, so Spark
#: compares the column as stored and the filter reaches the Parquet scan).
SQL_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.timestampType": "TIMESTAMP_NTZ"}
#: Settings of a driver this module starts: also no console progress bars in notebooks, and
#: results handed to Python over a local socket wait for Python up to 10 minutes (Spark's 15 s
#: fails a collect when a busy machine starves the Python side of the driver for that long).
AUTH_TIMEOUT_S = 600
SESSION_CONF = {**SQL_CONF, "spark.ui.showConsoleProgress": "false",
                "spark.python.authenticate.socketTimeout": f"{AUTH_TIMEOUT_S}s"}
#: What pyspark's side of that socket waits, in seconds (its own default is 15).
AUTH_TIMEOUT_ENV = "SPARK_AUTH_SOCKET_TIMEOUT"
#: Added for a local master: no web UI for a batch of reports, the status of the last few
#: queries only (a warm kernel runs hundreds; each keeps its plan's text otherwise).
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    # list the month folders of a table here, not in a Spark job of its own
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
    "spark.sql.ui.retainedExecutions": "50",
    "spark.ui.retainedJobs": "50",
    "spark.ui.retainedStages": "50",
}


# -- the session -----------------------------------------------------------------------------


def java_major() -> int | None:
    """The major version of the ``java`` Spark would start (``$JAVA_HOME``, else ``PATH``);
    None when there is none."""
    home = os.environ.get("JAVA_HOME", "").strip()
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    found = _JAVA_VERSION.search(out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def check_java() -> None:
    """A one-line error unless Java 17 or newer is there to start a local Spark."""
    major = java_major()
    if major is None or major < 17:
        found = "no java found" if major is None else f"found Java {major}"
        raise StoreError(f"{JAVA_HINT} (or set JAVA_HOME to a Java 17+ installation; {found})")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def jvm_log() -> Path:
    """Where the JVM this process starts writes its own log (never into a page or a
    notebook: it names the machine's addresses)."""
    return Path(tempfile.gettempdir()) / f"crmkit-spark-{os.getpid()}.log"


def _start_jvm(location: SparkLocation, conf: Mapping[str, str]) -> None:
    """Start this process's Spark driver, its JVM's output into :func:`jvm_log` (the JVM
    writes to the process's own error stream otherwise, which a notebook would publish)."""
    # lazy: pyspark is an optional extra, 1 s to import
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._active_spark_context is not None:  # started already: reused
        return
    check_java()
    # the Python side of a result's socket waits as long as the JVM side (SESSION_CONF)
    os.environ.setdefault(AUTH_TIMEOUT_ENV, str(AUTH_TIMEOUT_S))
    spark_conf = SparkConf().setMaster(location.master).setAppName("crmkit").setAll(list(conf.items()))
    with open(jvm_log(), "ab") as log:
        gateway = launch_gateway(spark_conf, popen_kwargs={"stdout": log, "stderr": log})
    SparkContext(conf=spark_conf, gateway=gateway).setLogLevel("ERROR")


def session(location: SparkLocation) -> Any:
    """The process's Spark session for ``location``'s master (started on first use), with
    :data:`SQL_CONF`."""
    try:
        from pyspark.sql import SparkSession  # lazy: pyspark is an optional extra, 1 s to import
    except ImportError:
        raise StoreError("Spark support needs pyspark: pip install 'crmkit[spark]' (or make env-spark)") \
            from None
    # pyspark warns on every conversion that it was tested with older pandas; the frames it
    # hands over are aggregates crmkit checks itself
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support", category=FutureWarning)
    try:
        if location.connect:
            spark = SparkSession.builder.remote(location.master).appName("crmkit").getOrCreate()
        else:
            _start_jvm(location, {**SESSION_CONF, **(LOCAL_CONF if location.local else {})})
            spark = SparkSession.builder.getOrCreate()
        for key, value in SQL_CONF.items():
            spark.conf.set(key, value)
    except StoreError:
        raise
    except Exception as exc:
        shown = _first_line(exc).replace(location.master, location.shown_master)
        raise StoreError(f"cannot start Spark for {location}: {shown} (the JVM's log: {jvm_log()})") from None
    return spark


# -- reading -----------------------------------------------------------------------------------


def stored_name(name: str) -> str:
    """The name a table is stored under: canonical tables by their own name, the snapshots
    as ``crmkit_pipeline_snapshots``."""
    return SNAPSHOTS_TABLE if name == SNAPSHOTS else name


def _local_folder(location: SparkLocation) -> Path | None:
    """The Parquet folder when it is on this machine's file system (no URI scheme)."""
    if location.kind != "parquet" or "://" in location.target:
        return None
    return Path(location.target)


def _read(spark: Any, location: SparkLocation, name: str) -> Any | None:
    """One stored table as a Spark DataFrame, None when there is none."""
    from pyspark.errors import AnalysisException  # lazy: pyspark is an optional extra

    stored = stored_name(name)
    if location.kind == "catalog":
        full = f"{location.target}.{stored}"
        return spark.table(full) if spark.catalog.tableExists(full) else None
    folder = _local_folder(location)
    if folder is not None and not (folder / stored).is_dir():
        return None
    try:
        return spark.read.parquet(f"{location.target.rstrip('/')}/{stored}")
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            return None
        raise StoreError(f"cannot read {stored} of {location}: {_first_line(exc)}") from None


def _canonical(df: Any, name: str, columns: Mapping[str, str], location: SparkLocation) -> Any:
    """``df`` with exactly the canonical columns, in order, cast to their Spark types."""
    from pyspark.sql import functions as F  # lazy: pyspark is an optional extra

    present = set(df.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise StoreError(
            f"{stored_name(name)} of {location} lacks columns {', '.join(missing)}: write the "
            "tables with `crmkit export-parquet` or give them the canonical columns (docs/DATA_MODEL.md)"
        )
    return df.select(*[F.col(c).cast(SPARK_TYPES[kind]).alias(c) for c, kind in columns.items()])


def _columns(name: str) -> dict[str, str]:
    if name == SNAPSHOTS:
        return dict(SNAPSHOT_COLUMNS)
    return {c.name: c.type for c in TABLES[name].columns}


def check_source(location: SparkLocation) -> None:
    """A one-line error when a local Parquet folder is not there or lacks a canonical table
    (checked before Spark starts; other sources are checked as Spark reads them)."""
    folder = _local_folder(location)
    if folder is None:
        return
    if not folder.is_dir():
        raise StoreError(
            f"no Parquet folder at {folder}: write one with `crmkit export-parquet --database DB "
            f"--to {folder}` or point {location.kind}: at the folder that holds the tables"
        )
    missing = [name for name in TABLES if not (folder / name).is_dir()]
    if missing:
        raise _not_crmkit(location, missing)


def _not_crmkit(location: SparkLocation, missing: list[str]) -> StoreError:
    return StoreError(
        f"{location} is not a crmkit dataset: it lacks tables {', '.join(missing)}; write one with "
        "`crmkit export-parquet --database DB --to FOLDER` (see docs/spark.md)"
    )


def read_tables(spark: Any, location: SparkLocation, names: list[str]) -> dict[str, Any]:
    """The canonical tables ``names`` as DataFrames with their canonical columns; a
    one-line error naming every missing one."""
    check_source(location)
    found = {name: _read(spark, location, name) for name in names}
    missing = [name for name, df in found.items() if df is None]
    if missing:
        raise _not_crmkit(location, missing)
    return {name: _canonical(df, name, _columns(name), location) for name, df in found.items()}


def _snapshots(spark: Any, location: SparkLocation) -> Any:
    """The pipeline snapshots (optional): an empty frame with their columns when absent."""
    df = _read(spark, location, SNAPSHOTS)
    if df is None:
        ddl = ", ".join(f"{c} {SPARK_TYPES[kind]}" for c, kind in SNAPSHOT_COLUMNS.items())
        return spark.createDataFrame([], ddl)
    return _canonical(df, SNAPSHOTS, SNAPSHOT_COLUMNS, location)


def read_settings(spark: Any, location: SparkLocation) -> dict[str, str]:
    """The dataset settings; none (the defaults apply) when the table is absent."""
    df = _read(spark, location, SETTINGS_TABLE)
    if df is None:
        return {}
    return checked_settings({str(r[0]): r[1] for r in df.select("key", "value").collect()})


def read_notes(spark: Any, location: SparkLocation) -> list[DataNote]:
    """The data notes recorded when the dataset was built, in their original order."""
    df = _read(spark, location, NOTES_TABLE)
    if df is None:
        return []
    cols = ["table_name", "column_name", "rule", "severity", "count", "examples"]
    return [DataNote.from_row(tuple(r)) for r in df.orderBy("position").select(*cols).collect()]


def last_day(tables: Mapping[str, Any]) -> str | None:
    """The last UTC day on which the data records anything (``YYYY-MM-DD``), one Spark job."""
    from pyspark.sql import functions as F  # lazy: pyspark is an optional extra

    parts = [
        tables[table].select(F.max(F.col(col)).cast("date").alias("d"))  # as last_day_sql
        for table, cols in EVENT_COLUMNS.items()
        for col in cols
    ]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionAll(part)
    [row] = union.agg(F.max("d").alias("d")).collect()
    return None if row[0] is None else row[0].isoformat()


def describe(location: SparkLocation) -> tuple[dict[str, str], dict[str, str]]:
    """Settings and teams (team_id -> name) of a Spark dataset (the runner's check)."""
    check_source(location)
    spark = session(location)
    tables = read_tables(spark, location, list(TABLES))
    settings = read_settings(spark, location)
    settings.pop(DATA_LAST_DAY, None)
    day = last_day(tables)
    if day is not None:
        settings[DATA_LAST_DAY] = day
    teams = tables["teams"].select("team_id", "name").orderBy("name").collect()
    return settings, {str(r[0]): str(r[1]) for r in teams}


class SparkBackend(OpenDataset):
    """A Spark dataset opened read-only: the :class:`crmkit.backends.Backend` of a Parquet
    folder or a catalog database. ``cache=True`` keeps every table in the executors' memory
    after its first use (small datasets read many times: tests, a demo)."""

    def __init__(self, location: SparkLocation, *, cache: bool = False) -> None:
        check_source(location)
        self.spark = session(location)
        self._tables = read_tables(self.spark, location, list(TABLES))
        self._tables[SNAPSHOTS] = _snapshots(self.spark, location)
        if cache:
            self._tables = {name: df.cache() for name, df in self._tables.items()}
        self.cached = cache
        frames = {name: nw.from_native(df) for name, df in self._tables.items()}
        settings, notes = read_settings(self.spark, location), read_notes(self.spark, location)
        super().__init__(str(location), frames, settings, notes)

    def fingerprint(self) -> str:
        return of_spark(self._tables)

    def close(self) -> None:
        """Release the cached tables (the session stays for the next dataset)."""
        if self.cached:
            for df in self._tables.values():
                with contextlib.suppress(Exception):
                    df.unpersist()


def change_stamp(location: SparkLocation) -> str:
    """A short text that changes whenever the data of ``location`` may have changed (for a
    refresh loop): for a Parquet folder on this machine, every file's name, size and
    modification time; for a catalog or a remote file system, which cannot be looked at
    cheaply from here, a new value on every look."""
    folder = _local_folder(location)
    digest = hashlib.sha256(location.source.encode())
    if folder is None or not folder.is_dir():
        digest.update(str(time.time_ns()).encode())
        return digest.hexdigest()[:24]
    for path in sorted(folder.rglob("*")):
        with contextlib.suppress(OSError):
            st = path.stat()
            digest.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:24]


# -- the fingerprint ---------------------------------------------------------------------------


def _text(col: str, kind: str) -> str:
    """Spark SQL for one column as the canonical text of :mod:`crmkit.backends.fingerprint`
    (NULL stays NULL)."""
    c = f"`{col}`"
    if kind in ("id", "str"):
        return f"CAST({c} AS STRING)"
    if kind == "int":
        return f"CAST(CAST({c} AS BIGINT) AS STRING)"
    if kind == "float":
        return _float_text(c)
    if kind == "timestamp":
        return f"CAST(unix_micros(CAST({c} AS TIMESTAMP_LTZ)) AS STRING)"
    if kind == "date":
        return f"CAST(datediff(CAST({c} AS DATE), DATE '1970-01-01') AS STRING)"
    raise ValueError(f"unknown logical type {kind!r}")  # pragma: no cover


def _float_text(c: str) -> str:
    """A float as DuckDB writes it for the fingerprint: ``floor(x * 10000 + 0.5)`` as an
    integer below :data:`EXACT_BELOW`, else ``e`` and the value; ``nan``, ``inf``, ``-inf``."""
    x = f"CAST({c} AS DOUBLE)"
    v = f"({x} * CAST(10000 AS DOUBLE) + CAST(0.5 AS DOUBLE))"
    return (
        f"CASE WHEN {x} IS NULL THEN NULL WHEN isnan({x}) THEN 'nan' "
        f"WHEN {x} = CAST('Infinity' AS DOUBLE) THEN 'inf' "
        f"WHEN {x} = CAST('-Infinity' AS DOUBLE) THEN '-inf' "
        f"WHEN abs({x}) < CAST({EXACT_BELOW:.0e} AS DOUBLE) THEN {_whole_text(v)} "
        f"ELSE concat('e', CAST({x} AS STRING)) END"
    )


def _whole_text(v: str) -> str:
    """``floor(v)`` in decimal digits, exactly as DuckDB prints it. Spark's ``floor`` of a
    double is a BIGINT, and its cast of a double to a decimal goes through the double's
    shortest text (``9.876543210000005E18``, not the exact ``9876543210000005120``), so a
    value past the BIGINT range (a whole number there) is split exactly into a multiple of
    2^62 and a remainder below it, and the two are added up as decimals."""
    step = "CAST(4611686018427387904 AS DOUBLE)"
    high = f"floor({v} / {step})"
    low = f"CAST({v} - {high} * {step} AS BIGINT)"
    exact = (
        f"CAST(CAST({high} AS DECIMAL(38, 0)) * CAST(4611686018427387904 AS DECIMAL(38, 0)) "
        f"+ CAST({low} AS DECIMAL(38, 0)) AS STRING)"
    )
    return f"CASE WHEN abs({v}) < CAST(9e18 AS DOUBLE) THEN CAST(floor({v}) AS STRING) ELSE {exact} END"


def _table_hash(df: Any, name: str) -> Any:
    """One row (name, rows, sum of row hashes) for a canonical table, as DuckDB computes it:
    the first 15 hex digits of the MD5 of each row's text, summed exactly."""
    from pyspark.sql import functions as F  # lazy: pyspark is an optional extra

    null, sep = F.lit("\\N"), F.lit(chr(31))
    parts: list[Any] = []
    for c in TABLES[name].columns:
        parts += [sep] if parts else []
        parts.append(F.coalesce(F.expr(_text(c.name, c.type)), null))
    h = F.conv(F.substring(F.md5(F.concat(*parts)), 1, 15), 16, 10).cast("decimal(38, 0)")
    return df.agg(
        F.lit(name).alias("name"),
        F.count(F.lit(1)).alias("n"),
        F.coalesce(F.sum(h), F.lit(0).cast("decimal(38, 0)")).cast("string").alias("h"),
    )


def of_spark(tables: Mapping[str, Any]) -> str:
    """The fingerprint of the canonical tables (Spark DataFrames): one Spark job."""
    rows = [_table_hash(tables[name], name) for name in TABLES]
    union = rows[0]
    for row in rows[1:]:
        union = union.unionAll(row)
    return combine((r[0], r[1], r[2]) for r in union.collect())
