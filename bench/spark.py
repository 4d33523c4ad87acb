"""Benchmark: the Sales report on DuckDB and on a local Spark, at data scales 10 and 100.

Run with ``make bench`` (after ``bench.py``) or ``python bench/spark.py --scales 10,100``.
For each scale the demo database is built and exported to Parquet (``crmkit
export-parquet``; both timed once, not part of the figure). Then the Sales report's data is
built, in a fresh process each time, the way its notebook builds it (``open_report``, the
report's ``build``, the JSON twin) on DuckDB and on Spark ``local[2]``, whose JVM is given
``--driver-memory 1g``: the run at scale 100 completing is the check that no table is
collected to the driver. Rendering (charts, HTML) is the same work on both engines and is
left out. Reported: median wall seconds and peak memory (this process and the JVM), the
Spark / DuckDB ratio at the largest scale and how the Spark time grows with the data.

Without Java 17+ or pyspark the Spark rows are skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench import measure

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CRMKIT = [PY, "-m", "crmkit.cli"]
PERIOD, AS_OF = "2025-06", "2025-07-01"
#: The JVM of a Spark run: 1 GiB of heap for driver and executors alike (local mode).
SPARK_ENV = {
    "CRMKIT_SPARK": "local[2]",
    "PYSPARK_SUBMIT_ARGS": "--driver-memory 1g --conf spark.sql.shuffle.partitions=8 pyspark-shell",
}
ONE_REPORT = (
    "import sys, json\n"
    "from crmkit.reports import REPORTS, open_report\n"
    "ctx = open_report('sales', period=sys.argv[1], team='all', as_of=sys.argv[2], database=sys.argv[3])\n"
    "data = REPORTS['sales'].build(ctx).to_json()\n"
    "print(json.dumps({'metrics': len(data['metrics']), 'fingerprint': data['data_fingerprint']}))\n"
)


def spark_problem() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401

        from crmkit.backends.spark import check_java
        from crmkit.errors import StoreError
    except ImportError:
        return "pyspark is not installed (make env-spark)"
    try:
        check_java()
    except StoreError as exc:
        return str(exc)
    return None


def row(what: str, runs: list[tuple[float, float]]) -> dict:
    walls = [w for w, _ in runs]
    return {"what": what, "runs": len(runs), "wall_median_s": statistics.median(walls),
            "wall_min_s": min(walls), "peak_rss_mib": max(m for _, m in runs)}


def sales(database: str, env: dict[str, str] | None, repeat: int) -> list[tuple[float, float]]:
    return [measure([PY, "-c", ONE_REPORT, PERIOD, AS_OF, database], env) for _ in range(repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="10,100")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    problem = spark_problem()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in scales:
            db, folder = Path(tmp) / f"demo-{scale}.duckdb", Path(tmp) / f"parquet-{scale}"
            end = ["--end", "2025-06-30", "--scale", str(scale)]
            results.append(row(f"demo build, scale {scale}",
                               [measure([*CRMKIT, "demo", "--database", str(db), *end])]))
            results.append(row(f"export-parquet, scale {scale}", [measure(
                [*CRMKIT, "export-parquet", "--database", str(db), "--to", str(folder)])]))
            if scale == max(scales):
                results.append(row(f"sales data on DuckDB, scale {scale}", sales(str(db), None, args.repeat)))
            if problem is None:
                results.append(row(f"sales data on Spark local[2], scale {scale}",
                                   sales(f"parquet:{folder}", SPARK_ENV, args.repeat)))
            for r in results[-3:]:
                print(json.dumps(r), flush=True)
    report(results, scales, problem)


def report(results: list[dict], scales: list[int], problem: str | None) -> None:
    print()
    print(f"{'what':44} {'median s':>9} {'min s':>7} {'peak MiB':>9}")
    for r in results:
        print(f"{r['what']:44} {r['wall_median_s']:9.2f} {r['wall_min_s']:7.2f} {r['peak_rss_mib']:9.0f}")
    if problem is not None:
        print(f"Spark skipped: {problem}")
        return
    wall = {r["what"]: r["wall_median_s"] for r in results}
    top, low = max(scales), min(scales)
    spark_top = wall[f"sales data on Spark local[2], scale {top}"]
    print(f"Spark / DuckDB at scale {top}: {spark_top / wall[f'sales data on DuckDB, scale {top}']:.1f}x")
    if low != top:
        growth = spark_top / wall[f"sales data on Spark local[2], scale {low}"]
        print(f"Spark time, scale {top} / scale {low}: {growth:.1f}x for {top // low}x the data")
    print(f"on {os.cpu_count()} cores; the Spark JVM had --driver-memory 1g")


if __name__ == "__main__":
    main()
