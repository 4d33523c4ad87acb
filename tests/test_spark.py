"""The same reports on Apache Spark (issue 15): locations, the Parquet export, and parity.

The pinned demo database is exported to Parquet (``crmkit export-parquet``) and read by a
local Spark (``local[2]``, its tables cached); every report's JSON is built on DuckDB and on
Spark through the notebooks' own code path (``REPORTS[id].build(ctx).to_json()``) and
compared, fingerprint included. The Spark side of that comparison is built in the session's
background process (``tests/spark_parity.py``), while the tests before this module run.

What the comparison covers: every report for a month, company-wide and for one team; and
Sales company-wide for a quarter. ``CRMKIT_TEST_SPARK_ALL=1`` compares every report for
every team and company-wide, for the month and the quarter. Spark needs Java 17+: without it (or without
pyspark) the Spark tests skip and say why, except under ``CI=true``, where they fail: CI
must not pass without having compared the engines. Locations, Java detection and the export
are tested without Spark.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import pandas as pd
import pyarrow.parquet as pq
import pytest

from crmkit.backends import parquet as export
from crmkit.backends import spark as spark_engine
from crmkit.backends.duckdb import DUCKDB_TYPES, create_tables
from crmkit.backends.engines import describe
from crmkit.backends.fingerprint import of_duckdb, of_frames
from crmkit.backends.location import SparkLocation, find_database
from crmkit.errors import StoreError
from crmkit.metrics import sales
from crmkit.model import TABLES
from crmkit.periods import parse_period
from crmkit.store import Store
from tests.engines import json_differences
from tests.spark_parity import (
    ALL,
    MONTH,
    RUNS,
    TEAM,
    TEAMS,
    payload,
    spark_problem,
    start_session,
)

#: The longest this module may take (seconds; about 5 minutes on two idle cores, the whole
#: matrix of ``CRMKIT_TEST_SPARK_ALL=1`` about 30). Past it
#: the test process prints every thread's stack and exits: a local Spark whose driver was
#: starved for 15 s can leave a collect waiting forever (its socket for the result stops
#: waiting for Python, and nothing tells the caller), and CI must fail, not hang.
WATCHDOG = 5400 if ALL else 1800


@pytest.fixture(scope="module", autouse=True)
def _watchdog():
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# -- without Spark: where the data is ---------------------------------------------------------


def test_spark_location_checks_and_hides_tokens(tmp_path):
    loc = SparkLocation("sc://spark.internal:15002/;user_id=ana;token=PLANTED-TOKEN", f"parquet:{tmp_path}")
    shown = f"{loc} {loc!r} {loc.redacted()} {loc.shown_master}"
    assert "PLANTED-TOKEN" not in shown and "token=***" in shown and str(tmp_path) in shown
    assert loc.connect and not loc.local and loc.kind == "parquet" and loc.target == str(tmp_path)
    assert loc.environment() == {"CRMKIT_SPARK": loc.master, "CRMKIT_SPARK_SOURCE": f"parquet:{tmp_path}"}
    assert SparkLocation("local[2]", "catalog:crm.sales").target == "crm.sales"
    assert SparkLocation("spark://a:7077,b:7077", "s3a://bucket/crm").source == "parquet:s3a://bucket/crm"
    assert SparkLocation("local[*]", "rel/folder").target == str(Path("rel/folder").resolve())
    for master in ("local[", "mysql://h", "local[2]; rm -rf /", "", "sc://h:1 /;token=PLANTED-TOKEN"):
        with pytest.raises(StoreError, match="not a Spark master URL") as err:
            SparkLocation(master, "/x")
        assert "PLANTED" not in str(err.value) and "rm -rf" not in str(err.value)
    for source in ("catalog:crm;drop table x", "catalog:", "catalog:a.b.c", "parquet:"):
        with pytest.raises(StoreError):
            SparkLocation("local[2]", source)


def test_find_database_reads_spark_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CRMKIT_DATABASE", raising=False)
    monkeypatch.delenv("CRMKIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("CRMKIT_SPARK", raising=False)
    monkeypatch.delenv("CRMKIT_SPARK_SOURCE", raising=False)
    with pytest.raises(StoreError, match="set CRMKIT_SPARK"):
        find_database(f"parquet:{tmp_path}")
    monkeypatch.setenv("CRMKIT_SPARK", "local[2]")
    assert find_database(f"parquet:{tmp_path}") == SparkLocation("local[2]", str(tmp_path))
    with pytest.raises(StoreError, match="CRMKIT_SPARK_SOURCE"):
        find_database()
    monkeypatch.setenv("CRMKIT_SPARK_SOURCE", "catalog:crm")
    assert find_database() == SparkLocation("local[2]", "catalog:crm")
    monkeypatch.setenv("CRMKIT_DATABASE", str(tmp_path / "a.duckdb"))  # a DuckDB file wins
    assert find_database() == tmp_path / "a.duckdb"
    monkeypatch.setenv("CRMKIT_SPARK", "nonsense://x")
    with pytest.raises(StoreError, match="not a Spark master URL"):
        find_database(f"parquet:{tmp_path}")


def test_without_java_spark_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(StoreError) as err:
        spark_engine.check_java()
    message = str(err.value)
    assert "Spark needs Java 17+: apt install openjdk-17-jre-headless" in message
    assert "\n" not in message
    old = tmp_path / "java8" / "bin"
    old.mkdir(parents=True)
    (old / "java").write_text('#!/bin/sh\necho \'openjdk version "1.8.0_402"\' >&2\n')
    (old / "java").chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(old.parent))
    with pytest.raises(StoreError, match="found Java 8"):
        spark_engine.check_java()


def test_missing_folder_and_missing_tables_are_one_line(tmp_path, exported):
    with pytest.raises(StoreError, match="no Parquet folder at .*crmkit export-parquet"):
        spark_engine.check_source(SparkLocation("local[2]", str(tmp_path / "nowhere")))
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("teams", "employees"):
        (partial / name).symlink_to(exported / name)
    with pytest.raises(StoreError, match="lacks tables customers, campaigns") as err:
        spark_engine.check_source(SparkLocation("local[2]", str(partial)))
    assert "\n" not in str(err.value)


# -- without Spark: the export -------------------------------------------------------------------


@pytest.fixture(scope="session")
def exported(demo_db, tmp_path_factory) -> Path:
    """The pinned demo database as a Parquet export (read-only use)."""
    folder = tmp_path_factory.mktemp("spark") / "demo-parquet"
    rows = export.export_parquet(demo_db, folder)
    assert rows["activities"] > 50_000
    return folder


def _read_back(folder: Path) -> dict[str, pd.DataFrame]:
    """Every canonical table of an export, read with DuckDB (not Spark), canonical columns."""
    con = duckdb.connect()
    try:
        return {
            name: con.sql(
                f"select {', '.join(TABLES[name].column_names)} from "
                f"read_parquet('{folder / name}/**/*.parquet', hive_partitioning = false)"
            ).df()
            for name in TABLES
        }
    finally:
        con.close()


def test_export_holds_the_same_data_partitioned_by_month(demo_db, exported):
    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        expected = of_duckdb(con)
        counts = {name: con.execute(f"select count(*) from {name}").fetchall()[0][0] for name in TABLES}
    finally:
        con.close()
    manifest = export.read_manifest(exported)
    assert {k: v for k, v in manifest["tables"].items() if k in TABLES} == counts
    assert of_frames(_read_back(exported)) == expected  # every value and type came through
    months = sorted(p.name for p in (exported / "activities").iterdir())
    assert months[0].startswith("crmkit_month=20") and len(months) > 12
    assert not any(p.name.startswith("crmkit_month") for p in (exported / "customers").iterdir())
    settings = pq.read_table(exported / "crmkit_settings").to_pandas()
    assert dict(zip(settings["key"], settings["value"], strict=True)) == Store.open(demo_db).settings
    assert (exported / "crmkit_pipeline_snapshots").is_dir()


def test_export_replaces_only_an_export_and_never_leaves_half_a_folder(demo_db, tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("not an export")
    with pytest.raises(StoreError, match="not a crmkit Parquet export.*--replace"):
        export.export_parquet(demo_db, target)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    export.export_parquet(demo_db, target, replace=True)
    assert export.is_export(target) and not (target / "mine.txt").exists()
    first = export.read_manifest(target)

    real = export._write_table

    def failing(frame, name, folder):
        if name == "tickets":
            raise OSError(28, "No space left on device")
        return real(frame, name, folder)

    monkeypatch.setattr(export, "_write_table", failing)
    with pytest.raises(Exception, match="No space left"):
        export.export_parquet(demo_db, target)  # a previous export may be replaced...
    assert export.read_manifest(target) == first  # ...but a failed one leaves it as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no temporary folder is left"
    monkeypatch.setattr(export, "_write_table", real)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        export.export_parquet(demo_db, tmp_path / "file")


def test_export_parquet_command(demo_db, tmp_path):
    env = {**os.environ, "CRMKIT_DATABASE": str(demo_db)}
    cmd = [sys.executable, "-m", "crmkit.cli", "export-parquet", "--to", str(tmp_path / "pq")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote ") and "in 13 tables" in proc.stdout
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    cmd[-1] = str(tmp_path / "other")
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "--replace" in refused.stderr and "Traceback" not in refused.stderr


# -- Spark ---------------------------------------------------------------------------------------


def _unavailable(problem: str) -> None:
    """Skip a test Spark cannot run here, or fail it under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem}: under CI=true the Spark comparison must run")
    pytest.skip(problem)


@pytest.fixture(scope="session")
def spark_session():
    """One local Spark for the tests of this process; skipped (failed under CI=true) without
    Java 17+ or pyspark."""
    problem = spark_problem()
    if problem is not None:
        _unavailable(problem)
    session = start_session()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_store(spark_session, exported):
    store = Store.of(spark_engine.SparkBackend(SparkLocation("local[2]", str(exported)), cache=True))
    yield store
    store.close()


@pytest.fixture(scope="session")
def duck_store(demo_db):
    store = Store.open(demo_db)
    yield store
    store.close()


def _differences(a: Any, b: Any) -> list[str]:
    """Where the JSON on DuckDB and on Spark differ (:func:`tests.engines.json_differences`)."""
    return json_differences(a, b, "Spark")


@pytest.fixture(scope="session")
def spark_payloads(demo_db, tmp_path_factory) -> dict[tuple[str, str, str], Any]:
    """Every run's JSON on Spark, built in the session's background process
    (:func:`spark_parity.spark_payloads`); skipped (failed under CI=true) without Spark."""
    from published import background  # lazy: as in tests/conftest.py

    built = background("spark_payloads", "spark_parity:spark_payloads", demo_db,
                       lambda: tmp_path_factory.mktemp("background"))
    if "problem" in built:
        _unavailable(built["problem"])
    payloads: dict[tuple[str, str, str], Any] = built["payloads"]
    return payloads


def test_the_team_compared_has_facts_placed_by_their_customer(duck_store):
    """The team the comparison scopes to has facts without an employee of their own; the
    whole matrix names every team."""
    assert sorted(TEAMS) == sorted(duck_store.teams()) and TEAM in TEAMS
    scoped = duck_store.scoped(TEAM)
    for table in ("activities", "tickets", "survey_responses"):
        rows = scoped[table].collect().to_pandas()
        assert rows["employee_id"].isna().sum() > 0, table


@pytest.mark.parametrize("report,period,team", RUNS, ids=["-".join(run) for run in RUNS])
def test_same_json_on_spark_and_duckdb(report, period, team, spark_payloads, duck_store):
    spark = spark_payloads[(report, period, team)]
    if isinstance(spark, str):
        pytest.fail(f"{report} {period} {team} on Spark:\n{spark}")
    duck = payload(report, period, team, duck_store)
    assert duck["report"] == report and duck["metrics"], "the report published no metrics"
    assert spark["data_fingerprint"] == duck["data_fingerprint"]
    differences = _differences(duck, spark)
    assert not differences, f"{report} {period} {team}: " + "; ".join(differences[:20])


def test_a_driver_crmkit_starts_writes_no_jvm_log(spark_session, tmp_path):
    """The JVM of a driver crmkit starts logs to a file, never to the process's error stream
    (a notebook would publish it, and it names the machine's addresses)."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = ("from crmkit.backends.location import SparkLocation\n"
            "from crmkit.backends.spark import session\n"
            f"print(session(SparkLocation('local[1]', {str(tmp_path)!r})).range(3).count())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "3" and proc.stderr == ""
    [log] = tmp_path.glob("crmkit-spark-*.log")
    assert log.stat().st_size > 0


def test_settings_notes_teams_and_last_day_are_the_same(spark_store, duck_store, demo_db, exported):
    assert spark_store.settings == duck_store.settings and spark_store.notes == duck_store.notes
    assert spark_store.teams() == duck_store.teams()
    assert spark_engine.describe(SparkLocation("local[2]", str(exported))) == describe(Path(demo_db))


#: Rows at the edges of the fingerprint's text forms, as SQL literals both engines read
#: alike: floats NaN, infinite, past the range of Spark's whole-number floor, below zero,
#: halves of the 1e-4 grid; instants before 1970 and with microseconds; nulls.
EDGE_DEALS = [
    ("'a'", "'e1'", "TIMESTAMP '1969-12-31 23:59:59.5'", "'won'", "CAST('0.00005' AS DOUBLE)", "CAST(NULL AS DOUBLE)"),
    ("'b'", "'e1'", "TIMESTAMP '2025-06-01 12:00:00.123456'", "'lost'", "CAST('-0.00005' AS DOUBLE)", "CAST('0.33333333' AS DOUBLE)"),
    ("'c'", "'e1'", "TIMESTAMP '1900-01-01 00:00:00'", "'open'", "CAST('987654321000000.5' AS DOUBLE)", "CAST('1.0' AS DOUBLE)"),
    ("'d'", "'e1'", "TIMESTAMP '2025-01-01 00:00:00'", "'won'", "CAST('1e15' AS DOUBLE)", "CAST('-1.5' AS DOUBLE)"),
    ("'e'", "'e1'", "TIMESTAMP '2025-01-01 00:00:00'", "'won'", "CAST('NaN' AS DOUBLE)", "CAST('-Infinity' AS DOUBLE)"),
    ("'f'", "'e1'", "TIMESTAMP '2025-01-01 00:00:00'", "'won'", "CAST('Infinity' AS DOUBLE)", "CAST('1e-9' AS DOUBLE)"),
]
EDGE_QUOTAS = [
    ("'e1'", "DATE '1950-03-01'", "DATE '1950-03-31'", "CAST('1.0' AS DOUBLE)"),
    ("'e2'", "DATE '2025-01-01'", "DATE '2025-03-31'", "CAST('2.5e20' AS DOUBLE)"),
    ("'e3'", "DATE '2025-04-01'", "DATE '2025-06-30'", "CAST('-9.8765432100000051e19' AS DOUBLE)"),
]


def _edge_sql(rows: list[tuple[str, ...]], columns: list[str], types: list[str]) -> str:
    values = ", ".join("(" + ", ".join(row) + ")" for row in rows)
    cast = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in zip(columns, types, strict=True))
    return f"SELECT {cast} FROM (VALUES {values}) AS v({', '.join(columns)})"


def test_fingerprint_of_every_kind_of_value(spark_session):
    edges = {"deals": (EDGE_DEALS, ["deal_id", "owner_id", "created_at", "status", "amount", "probability"]),
             "quotas": (EDGE_QUOTAS, ["employee_id", "period_start", "period_end", "target_amount"])}
    kinds = {name: {c.name: c.type for c in TABLES[name].columns} for name in TABLES}
    con = duckdb.connect()
    create_tables(con)
    tables = {}
    for name in TABLES:
        ddl = ", ".join(f"{c} {spark_engine.SPARK_TYPES[k]}" for c, k in kinds[name].items())
        tables[name] = spark_session.createDataFrame([], ddl)
    for name, (rows, columns) in edges.items():
        duck = [DUCKDB_TYPES[kinds[name][c]] for c in columns]
        con.execute(f"INSERT INTO {name} ({', '.join(columns)}) {_edge_sql(rows, columns, duck)}")
        spark_rows = [tuple(v.replace("TIMESTAMP '", "TIMESTAMP_NTZ '") for v in row) for row in rows]
        types = [spark_engine.SPARK_TYPES[kinds[name][c]] for c in columns]
        found = spark_session.sql(_edge_sql(spark_rows, columns, types)).selectExpr(*[
            c if c in columns else f"CAST(NULL AS {spark_engine.SPARK_TYPES[k]}) AS {c}"
            for c, k in kinds[name].items()])
        tables[name] = spark_engine._canonical(found, name, kinds[name], SparkLocation("local[2]", "/x"))
    assert spark_engine.of_spark(tables) == of_duckdb(con)
    con.close()


def test_filters_run_in_spark_and_only_aggregates_reach_the_driver(spark_session, exported, duck_store,
                                                                    tmp_path):
    """A metric's period filter reaches the Parquet scan (Spark skips row groups and files of
    other months), and what the metric collects is one aggregated row."""
    copy = shutil.copytree(exported, tmp_path / "copy")  # not the cached tables' files
    store = Store.of(spark_engine.SparkBackend(SparkLocation("local[2]", str(copy))))
    plans: list[tuple[str, int]] = []
    collect = nw.LazyFrame.collect

    def recording(self, *args, **kwargs):
        frame = collect(self, *args, **kwargs)
        plans.append((nw.to_native(self)._jdf.queryExecution().executedPlan().toString(), len(frame)))
        return frame

    try:
        nw.LazyFrame.collect = recording  # type: ignore[method-assign]
        closed = sales.deals_closed(store.scoped("smb")["deals"], parse_period(MONTH))
    finally:
        nw.LazyFrame.collect = collect  # type: ignore[method-assign]
        store.close()
    assert closed == sales.deals_closed(duck_store.scoped("smb")["deals"], parse_period(MONTH))
    [(plan, rows)] = [(p, n) for p, n in plans if "deals" in p]
    assert rows == 1
    scan = next(line for line in plan.splitlines() if "FileScan parquet" in line and "closed_at" in line)
    pushed = scan[scan.index("PushedFilters:"):]
    assert "GreaterThanOrEqual(closed_at,2025-06-01T00:00)" in pushed
    assert "LessThan(closed_at,2025-07-01T00:00)" in pushed
