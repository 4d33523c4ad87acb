"""The metric layer against hand-written SQL: each report's ``build(ctx)`` (what its
notebook calls, without charts or HTML) beside two baselines, timed side by side on one
database: ``bench/sql_baseline.py``'s one query of the same headline KPIs ("headline"), and
that query plus ``bench/sql_page.py``'s queries of the breakdown tables the page shows
("page": the same work as the layer, for the tables it covers).

Runs alternate (metric layer first on even repeats, SQL first on odd ones) so that neither
side always finds the caches warm; the medians and both ratios are printed. Every headline
number of the period and of its comparison period must agree (relative 1e-9), and so must
every value of every breakdown the page baseline covers (same rows, sorted by a key; numbers
to relative 1e-9, text exactly, nulls as nulls), else the run stops and names what differs.
The breakdowns (or columns) the page baseline does not cover are printed under the table.

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
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sql_baseline import kpis, windows_of  # noqa: E402
from sql_page import COVERED, NOT_COVERED, breakdowns, page_windows  # noqa: E402

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


def _same(got: Any, want: Any) -> bool:
    """One breakdown cell: both null, the same text, or numbers equal to relative 1e-9
    (absolute 1e-12 around 0, where a Wilson bound may be 0 or 5.6e-17)."""
    got_null, want_null = bool(pd.isna(got)), bool(pd.isna(want))
    if got_null or want_null:
        return got_null and want_null
    if isinstance(got, str) or isinstance(want, str):
        return isinstance(got, str) and isinstance(want, str) and got == want
    if isinstance(got, (bool, np.bool_)) or isinstance(want, (bool, np.bool_)):
        return isinstance(got, (bool, np.bool_)) and isinstance(want, (bool, np.bool_)) \
            and bool(got) == bool(want)
    if isinstance(got, (date, np.datetime64)) or isinstance(want, (date, np.datetime64)):
        return pd.Timestamp(got) == pd.Timestamp(want)
    return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-12)


def breakdown_disagreements(layer: dict[str, pd.DataFrame], sql: dict[str, pd.DataFrame],
                            report: str) -> list[str]:
    """What the SQL breakdowns of ``report`` do not share with the layer's: missing
    tables or columns, other rows (keys), or cells that differ (:func:`_same`)."""
    out = []
    for name, (keys, columns) in COVERED.get(report, {}).items():
        if name not in layer or name not in sql:
            out.append(f"breakdown {name}: missing ({'layer' if name not in layer else 'SQL'})")
            continue
        # a column absent from both (a change without a comparison period) has nothing to check
        columns = tuple(c for c in columns if c in layer[name].columns or c in sql[name])
        missing = [c for c in columns if c not in layer[name].columns or c not in sql[name]]
        if missing:
            out.append(f"breakdown {name}: columns missing: {', '.join(missing)}")
            continue
        a = layer[name][list(columns)].sort_values(list(keys)).reset_index(drop=True)
        b = sql[name][list(columns)].sort_values(list(keys)).reset_index(drop=True)
        ka = [tuple(r) for r in a[list(keys)].itertuples(index=False)]
        kb = [tuple(r) for r in b[list(keys)].itertuples(index=False)]
        if ka != kb:
            out.append(f"breakdown {name}: rows differ: only in the layer "
                       f"{sorted(set(ka) - set(kb))[:5]}, only in SQL {sorted(set(kb) - set(ka))[:5]}"
                       f" ({len(ka)} vs {len(kb)} rows)")
            continue
        for column in columns:
            for i, (got, want) in enumerate(zip(a[column].tolist(), b[column].tolist(),
                                                strict=True)):
                if not _same(got, want):
                    out.append(f"breakdown {name} {ka[i]} {column}: metric layer {got!r}, "
                               f"SQL {want!r}")
    return out


def _timed(run: Any) -> tuple[tuple[float, float], Any]:
    """``run()``'s wall seconds and CPU seconds (every thread of this process: the engine's
    too, so a busy machine inflates the first but hardly the second), and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    found = run()
    return (time.perf_counter() - wall, time.process_time() - cpu), found


def _metric_layer(report: str, period: str, store: Any, as_of: str | None) -> tuple[Any, Any]:
    """One ``build`` on a fresh context (nothing cached but the open store: not the spans
    of the data a kernel remembers between pages): seconds, data."""
    from crmkit.reports import context  # lazy, as in measure

    context._SPANS.clear()
    ctx = open_report(report, period=period, as_of=as_of, store=store)
    return _timed(lambda: REPORTS[report].build(ctx))


def _sql(con: duckdb.DuckDBPyConnection, report: str, windows: list) -> tuple[Any, Any]:
    return _timed(lambda: kpis(con, report, windows))


def _page(con: duckdb.DuckDBPyConnection, report: str, ctx: Any) -> tuple[Any, Any]:
    """The page baseline: the headline query and the covered breakdown queries (the
    windows are resolved from ``ctx`` inside the timing, as the layer resolves its own)."""
    return _timed(lambda: (kpis(con, report, windows_of(ctx, con)),
                           breakdowns(con, report, page_windows(ctx))))


def measure(database: str, report: str, period: str, repeat: int,
            as_of: str | None = None, warm: bool = True) -> dict[str, Any]:
    """Median seconds of the metric layer and of the SQL baselines (headline only, and
    headline + covered breakdowns) for one report and period (company-wide), after checking
    that their headline numbers and covered breakdowns agree; ``warm``: one untimed build
    first, so that no timed run pays for first imports."""
    from crmkit.store import Store  # lazy: the bench imports crmkit once, here is enough

    store = Store.open(database)
    con = duckdb.connect(database, read_only=True)  # the same DuckDB instance, its caches
    try:
        if warm:  # a warm kernel has imported what the first run would (scipy's tests...)
            _metric_layer(report, period, store, as_of)
        layer_s, sql_s, page_s = [], [], []
        for i in range(repeat):
            first_sql = i % 2 == 1
            if first_sql:
                ctx = open_report(report, period=period, as_of=as_of, store=store)
                s, found = _sql(con, report, windows_of(ctx, con))
                sql_s.append(s)
                s, (_, tables) = _page(con, report, ctx)
                page_s.append(s)
            m, data = _metric_layer(report, period, store, as_of)
            layer_s.append(m)
            if not first_sql:
                s, found = _sql(con, report, windows_of(data.context, con))
                sql_s.append(s)
                s, (_, tables) = _page(con, report, data.context)
                page_s.append(s)
        wrong = disagreements(data.metrics, found["current"], "period")
        if data.comparison is not None:
            wrong += disagreements(data.comparison, found["comparison"], "comparison")
        wrong += breakdown_disagreements(data.breakdown_frames(), tables, report)
        if wrong:
            raise SystemExit(f"{report} {period}: the numbers differ:\n  " + "\n  ".join(wrong))
    finally:
        con.close()
        store.close()
    layer, sql = (statistics.median(w for w, _ in layer_s), statistics.median(w for w, _ in sql_s))
    layer_cpu = statistics.median(c for _, c in layer_s)
    sql_cpu = statistics.median(c for _, c in sql_s)
    page, page_cpu = (statistics.median(w for w, _ in page_s),
                      statistics.median(c for _, c in page_s))
    shown = set(data.breakdown_frames())
    covered = sorted(shown & set(COVERED.get(report, {})))
    left_out = sorted((shown - set(covered)) | set(NOT_COVERED.get(report, {})))
    return {"report": report, "period": period, "repeat": repeat, "metric_layer_s": layer,
            "sql_s": sql, "ratio": layer / sql if sql else None, "metric_layer_cpu_s": layer_cpu,
            "sql_cpu_s": sql_cpu, "cpu_ratio": layer_cpu / sql_cpu if sql_cpu else None,
            "sql_page_s": page, "page_ratio": layer / page if page else None,
            "sql_page_cpu_s": page_cpu,
            "page_cpu_ratio": layer_cpu / page_cpu if page_cpu else None,
            "kpis": len(found["current"]), "covered": covered, "not_covered": left_out,
            "agree": True}


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
                 for k in ("metric_layer_s", "sql_s", "metric_layer_cpu_s", "sql_cpu_s",
                           "sql_page_s", "sql_page_cpu_s", "kpis")}
        out.append({"report": "overall", "period": period, "repeat": repeat, **total,
                    "ratio": total["metric_layer_s"] / total["sql_s"] if total["sql_s"] else None,
                    "cpu_ratio": (total["metric_layer_cpu_s"] / total["sql_cpu_s"]
                                  if total["sql_cpu_s"] else None),
                    "page_ratio": (total["metric_layer_s"] / total["sql_page_s"]
                                   if total["sql_page_s"] else None),
                    "page_cpu_ratio": (total["metric_layer_cpu_s"] / total["sql_page_cpu_s"]
                                       if total["sql_page_cpu_s"] else None),
                    "covered": [], "not_covered": [], "agree": True})
    return out


def _times(value: float | None) -> str:
    return f"{value:.1f}x" if value is not None else "-"


def table(found: list[dict[str, Any]]) -> str:
    """The rows as a printable table: wall seconds (medians) of the layer, of the headline
    SQL and of the page SQL, and the layer's ratio to each; then the same in CPU seconds of
    every thread; then, per report, the breakdowns the page SQL covers and those it does
    not."""
    lines = [f"{'report':<13}{'period':<9}{'layer s':>9}{'sql headline':>13}{'sql page':>9}"
             f"{'ratio headline':>15}{'ratio page':>11}"
             f"{'layer cpu':>11}{'headline cpu':>13}{'page cpu':>9}"
             f"{'ratio headline':>15}{'ratio page':>11}{'KPIs':>6}"]
    notes = {}
    for r in found:
        lines.append(f"{r['report']:<13}{r['period']:<9}{r['metric_layer_s']:>9.2f}"
                     f"{r['sql_s']:>13.2f}{r['sql_page_s']:>9.2f}"
                     f"{_times(r['ratio']):>15}{_times(r['page_ratio']):>11}"
                     f"{r['metric_layer_cpu_s']:>11.2f}{r['sql_cpu_s']:>13.2f}"
                     f"{r['sql_page_cpu_s']:>9.2f}{_times(r['cpu_ratio']):>15}"
                     f"{_times(r['page_cpu_ratio']):>11}{r['kpis']:>6}")
        if r["report"] != "overall":
            notes[r["report"]] = (r["covered"], r["not_covered"])
    for report, (covered, left_out) in notes.items():
        lines.append(f"{report}: page SQL covers: {', '.join(covered) or 'no breakdown'}; "
                     f"not covered: {', '.join(left_out) or 'nothing'}")
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
