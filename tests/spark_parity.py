"""The Spark side of the engine comparison of ``tests/test_spark.py``: which runs, with which
settings, and :func:`spark_payloads`, which builds their JSON on a local Spark.

It runs in the session's background process (``tests/published.py``), started when the
tests are collected, so Spark's minutes of work overlap the tests before ``test_spark.py``
(the suite keeps about one core of two busy on its own). The comparison with DuckDB stays
in the test.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any

import narwhals as nw

from crmkit.backends import parquet as export
from crmkit.backends import spark as spark_engine
from crmkit.backends.location import SparkLocation
from crmkit.errors import StoreError
from crmkit.reports import REPORTS, open_report
from crmkit.store import Store, Tables

AS_OF = "2025-07-01"
MONTH, QUARTER = "2025-06", "2025-Q2"
#: One team of the pinned demo (checked against the data in the test): Mid-Market has
#: activities, tickets and survey responses without an employee, which the team scope
#: assigns through their customer's owner, so the scope's join to customers is compared too.
TEAM = "midmarket"
#: Every team of the pinned demo (checked in the test), for the whole matrix.
TEAMS = ("enterprise", "midmarket", "partners", "smb")
#: ``CRMKIT_TEST_SPARK_ALL=1``: every report for every scope (company-wide and each team) and
#: both periods, 50 runs (about 25 minutes on two idle cores).
ALL = os.environ.get("CRMKIT_TEST_SPARK_ALL", "") == "1"
#: (report, period, team). By default every report company-wide and for one team for the
#: month (the team scope is one function for every team), and Sales for the quarter (a
#: period of several months, whose comparison is the quarter before): 11 runs. Spark's fixed
#: cost per query makes each run take seconds, so the default runs are chosen, not multiplied.
RUNS = ([(report, period, team) for report in REPORTS for period in (MONTH, QUARTER) for team in ("all", *TEAMS)]
        if ALL else
        [*[(report, MONTH, team) for report in REPORTS for team in ("all", TEAM)], ("sales", QUARTER, "all")])

#: Settings that make a local Spark quick on small data.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # a short-lived JVM: the quick compiler only; out of memory, it stops (a test fails)
    # instead of leaving a query waiting forever
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError",
    "spark.driver.memory": "2g",
    # hundreds of small queries: keep the status of a few only
    "spark.sql.ui.retainedExecutions": "20",
    "spark.ui.retainedJobs": "20",
    "spark.ui.retainedStages": "20",
    "spark.sql.maxMetadataStringLength": "2000",  # plans show whole filters
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
    # a starved Python side still gets its results (Spark waits 15 s for it otherwise)
    "spark.python.authenticate.socketTimeout": f"{spark_engine.AUTH_TIMEOUT_S}s",
}


def spark_problem() -> str | None:
    """Why a local Spark cannot run here (no pyspark, no Java 17+), or None."""
    try:
        import pyspark  # noqa: F401  lazy: the optional extra, checked here
    except ImportError:
        return "pyspark is not installed (pip install 'crmkit[spark]', make env-dev)"
    try:
        spark_engine.check_java()
    except StoreError as exc:
        return str(exc)
    return None


def start_session() -> Any:
    """This process's local Spark with :data:`TEST_CONF`."""
    from pyspark.sql import SparkSession  # lazy: the optional extra

    os.environ.setdefault(spark_engine.AUTH_TIMEOUT_ENV, str(spark_engine.AUTH_TIMEOUT_S))  # as crmkit's
    return SparkSession.builder.master("local[2]").appName("crmkit-tests").config(map=TEST_CONF).getOrCreate()


def payload(report: str, period: str, team: str, store: Store, tables: Tables | None = None) -> dict[str, Any]:
    """A report's JSON twin as its notebook builds it (``tables``: the team's tables, when
    they are at hand already)."""
    ctx = open_report(report, period=period, team=team, as_of=AS_OF, store=store)
    if tables is not None:
        ctx._tables = tables
    return json.loads(json.dumps(REPORTS[report].build(ctx).to_json(), default=str))


def spark_payloads(demo_db: Path, folder: Path) -> dict[str, Any]:
    """Every run's JSON on Spark: ``{"problem": why}`` when Spark cannot run here, else
    ``{"payloads": {run: JSON, or the traceback of its failure as text}}``.

    ``demo_db`` is exported to Parquet in ``folder`` and read by one local Spark. The runs are
    built one after the other: two threads collecting at once can garble the handshake of a
    result's socket (the JVM's serving thread dies reading a negative length, and the caller
    then waits for its result forever). Each team's tables (``Store.scoped``, the lazy frames
    the notebooks read) are cached by Spark once instead of being joined again in every query."""
    problem = spark_problem()
    if problem is not None:
        return {"problem": problem}
    parquet = folder / "demo-parquet"
    export.export_parquet(demo_db, parquet)
    session = start_session()
    store = Store.of(spark_engine.SparkBackend(SparkLocation("local[2]", str(parquet)), cache=True))
    scoped = {
        team: Tables({k: nw.from_native(nw.to_native(v).cache()) for k, v in store.scoped(team).items()}, team=team)
        for team in {t for _, _, t in RUNS if t != "all"}
    }

    def build(run: tuple[str, str, str]) -> Any:
        report, period, team = run
        try:
            return payload(report, period, team, store, scoped.get(team))
        except Exception:  # noqa: BLE001 - reported by the run's own test
            return traceback.format_exc()

    try:
        return {"payloads": {run: build(run) for run in RUNS}}
    finally:
        store.close()
        session.stop()
