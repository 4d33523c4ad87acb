"""The metric layer against hand-written SQL: each report's ``build(ctx)`` (what its
notebook calls, without charts or HTML) beside ``bench/sql_baseline.py``'s one query of the
same headline KPIs, timed side by side on one database.

Runs alternate (metric layer first on even repeats, SQL first on odd ones) so that neither
side always finds the caches warm; the medians and their ratio are printed, and every
headline number of the period and of its comparison period must agree (relative 1e-9),
else the run stops and names the numbers that differ.

    python bench/metric_layer.py DATABASE [--periods 2025-06,2024] [--reports all]
        [--repeat 3] [--as-of 2025-07-01] [--json FILE]

``rows(database, ...)`` returns the same figures as dicts, for ``bench/bench.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sql_baseline import kpis, windows_of  # noqa: E402

from crmkit.reports import REPORTS, open_report  # noqa: E402

#: The order reports are measured in (the slowest first, as the issue lists them).
ORDER = ("activity", "performance", "satisfaction", "marketing", "sales")


def _plain(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def disagreements(layer: dict[str, Any], sql: dict[str, Any], where: str) -> list[str]:
    """The headline numbers of ``sql`` that ``layer`` does not give (relative 1e-9)."""
    out = []
    for name, expected in sql.items():
        got, want = _plain(layer.get(name)), _plain(expected)
        same = (got is None and want is None) or (
            got is not None and want is not None
            and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9))
        if not same:
            out.append(f"{where} {name}: metric layer {got}, SQL {want}")
    return out


def _timed(run: Any) -> tuple[tuple[float, float], Any]:
    """``run()``'s wall seconds and CPU seconds (every thread of this process: the engine's
    too, so a busy machine inflates the first but hardly the second), and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    found = run()
    return (time.perf_counter() - wall, time.process_time() - cpu), found


def _metric_layer(report: str, period: str, store: Any, as_of: str | None) -> tuple[Any, Any]:
    """One ``build`` on a fresh context (nothing cached but the open store): seconds, data."""
    ctx = open_report(report, period=period, as_of=as_of, store=store)
    return _timed(lambda: REPORTS[report].build(ctx))


def _sql(con: duckdb.DuckDBPyConnection, report: str, windows: list) -> tuple[Any, Any]:
    return _timed(lambda: kpis(con, report, windows))


def measure(database: str, report: str, period: str, repeat: int,
            as_of: str | None = None, warm: bool = True) -> dict[str, Any]:
    """Median seconds of the metric layer and of the SQL baseline for one report and
    period (company-wide), after checking that their headline numbers agree; ``warm``: one
    untimed build first, so that no timed run pays for first imports."""
    from crmkit.store import Store  # lazy: the bench imports crmkit once, here is enough

    store = Store.open(database)
    con = duckdb.connect(database, read_only=True)  # the same DuckDB instance, its caches
    try:
        if warm:  # a warm kernel has imported what the first run would (scipy's tests...)
            _metric_layer(report, period, store, as_of)
        layer_s, sql_s = [], []
        for i in range(repeat):
            first_sql = i % 2 == 1
            if first_sql:
                s, found = _sql(con, report, windows_of(open_report(
                    report, period=period, as_of=as_of, store=store)))
                sql_s.append(s)
            m, data = _metric_layer(report, period, store, as_of)
            layer_s.append(m)
            if not first_sql:
                s, found = _sql(con, report, windows_of(data.context))
                sql_s.append(s)
        wrong = disagreements(data.metrics, found["current"], "period")
        if data.comparison is not None:
            wrong += disagreements(data.comparison, found["comparison"], "comparison")
        if wrong:
            raise SystemExit(f"{report} {period}: the numbers differ:\n  " + "\n  ".join(wrong))
    finally:
        con.close()
        store.close()
    layer, sql = (statistics.median(w for w, _ in layer_s), statistics.median(w for w, _ in sql_s))
    layer_cpu = statistics.median(c for _, c in layer_s)
    sql_cpu = statistics.median(c for _, c in sql_s)
    return {"report": report, "period": period, "repeat": repeat, "metric_layer_s": layer,
            "sql_s": sql, "ratio": layer / sql if sql else None, "metric_layer_cpu_s": layer_cpu,
            "sql_cpu_s": sql_cpu, "cpu_ratio": layer_cpu / sql_cpu if sql_cpu else None,
            "kpis": len(found["current"]), "agree": True}


def rows(database: str, periods: tuple[str, ...] = ("2025-06", "2024"),
         reports: tuple[str, ...] = ORDER, repeat: int = 3,
         as_of: str | None = None) -> list[dict[str, Any]]:
    """One row per report and period: medians of the metric layer and of the SQL baseline
    (seconds), their ratio, how many KPIs were compared; plus an ``overall`` row per period
    (the sums)."""
    out = []
    for period in periods:
        found = [measure(database, r, period, repeat, as_of, warm=period == periods[0])
                 for r in reports]
        out += found
        total = {k: sum(r[k] for r in found)
                 for k in ("metric_layer_s", "sql_s", "metric_layer_cpu_s", "sql_cpu_s", "kpis")}
        out.append({"report": "overall", "period": period, "repeat": repeat, **total,
                    "ratio": total["metric_layer_s"] / total["sql_s"] if total["sql_s"] else None,
                    "cpu_ratio": (total["metric_layer_cpu_s"] / total["sql_cpu_s"]
                                  if total["sql_cpu_s"] else None),
                    "agree": True})
    return out


def _times(value: float | None) -> str:
    return f"{value:.1f}x" if value is not None else "-"


def table(found: list[dict[str, Any]]) -> str:
    """The rows as a printable table: wall seconds (medians) and their ratio, then CPU
    seconds of every thread (medians) and their ratio."""
    lines = [f"{'report':<13}{'period':<9}{'layer s':>9}{'SQL s':>8}{'ratio':>7}"
             f"{'layer cpu':>11}{'SQL cpu':>9}{'ratio':>7}{'KPIs':>6}"]
    for r in found:
        lines.append(f"{r['report']:<13}{r['period']:<9}{r['metric_layer_s']:>9.2f}"
                     f"{r['sql_s']:>8.2f}{_times(r['ratio']):>7}{r['metric_layer_cpu_s']:>11.2f}"
                     f"{r['sql_cpu_s']:>9.2f}{_times(r['cpu_ratio']):>7}{r['kpis']:>6}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database")
    parser.add_argument("--periods", default="2025-06,2024")
    parser.add_argument("--reports", default="all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--as-of", default=None)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    reports = ORDER if args.reports == "all" else tuple(args.reports.split(","))
    found = rows(args.database, tuple(args.periods.split(",")), reports, args.repeat, args.as_of)
    print(table(found))
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
