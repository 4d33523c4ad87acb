"""Benchmark: wall time and peak memory of the demo build, of one Sales report and of the
import of a 200 MB activities CSV (``bench/big_export.py`` writes it, once, not timed).

Run with ``make bench``. Each measurement runs in a fresh process (so peak memory is that
process's own) several times; the median is reported. Machines are noisy: read the
medians and the ratios, not single numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from big_export import write_export

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of the command and its children."""
    wrapper = (
        "import resource, subprocess, sys, time, json;"
        "t=time.perf_counter(); r=subprocess.run(sys.argv[1:]);"
        "w=time.perf_counter()-t;"
        "m=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024;"
        "print(json.dumps({'rc': r.returncode, 'wall': w, 'rss': m}))"
    )
    proc = subprocess.run(
        [PY, "-c", wrapper, *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    last = proc.stdout.strip().splitlines()[-1]
    res = json.loads(last)
    if res["rc"] != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return res["wall"], res["rss"]


def row(name: str, runs: list[tuple[float, float]]) -> dict:
    walls = [w for w, _ in runs]
    return {
        "what": name,
        "runs": len(runs),
        "wall_median_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "peak_rss_mib": max(m for _, m in runs),
    }


def import_row(tmp: Path, rows: int, crmkit: list[str]) -> dict:
    """One import of a canonical export whose activities.csv holds ``rows`` rows (3.3 M:
    about 200 MB), in a fresh process; the file is written first (not timed)."""
    csv = write_export(tmp / "big-export", rows)
    mb = csv.stat().st_size / 1e6
    db = tmp / "big-import.duckdb"
    run = measure([*crmkit, "import", str(tmp / "big-export"), "--database", str(db)])
    return row(f"import of a {mb:.0f} MB activities CSV", [run])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--preset-repeat", type=int, default=1)
    parser.add_argument(
        "--import-rows", type=int, default=3_300_000, help="activities rows to import (0: skip)"
    )
    args = parser.parse_args()
    crmkit = [PY, "-m", "crmkit.cli"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {}
        for scale in [int(s) for s in args.scales.split(",")]:
            db = Path(tmp) / f"demo-{scale}.duckdb"
            runs = [
                measure(
                    [
                        *crmkit,
                        "demo",
                        "--database",
                        str(db),
                        "--scale",
                        str(scale),
                        "--end",
                        "2025-06-30",
                    ]
                )
                for _ in range(args.repeat)
            ]
            results.append(row(f"demo build, scale {scale}", runs))
            dbs[scale] = db
            print(json.dumps(results[-1]), flush=True)
        for scale, db in dbs.items():
            out = Path(tmp) / f"out-{scale}"
            runs = [
                measure(
                    [
                        *crmkit,
                        "run",
                        "sales",
                        "--period",
                        "2025-06",
                        "--team",
                        "all",
                        "--database",
                        str(db),
                        "--output",
                        str(out),
                    ]
                )
                for _ in range(args.repeat)
            ]
            results.append(row(f"sales report 2025-06 all, scale {scale}", runs))
            print(json.dumps(results[-1]), flush=True)
        out = Path(tmp) / "out-monthly"
        runs = [
            measure(
                [
                    *crmkit,
                    "run-all",
                    "params/monthly.yaml",
                    "--database",
                    str(dbs[min(dbs)]),
                    "--output",
                    str(out),
                    "--as-of",
                    "2025-07-01",
                    "--no-progress",
                ]
            )
            for _ in range(args.preset_repeat)
        ]
        results.append(row(f"monthly preset (every report x team), scale {min(dbs)}", runs))
        print(json.dumps(results[-1]), flush=True)
        if args.import_rows:
            results.append(import_row(Path(tmp), args.import_rows, crmkit))
            print(json.dumps(results[-1]), flush=True)
    print()
    print(f"{'what':42} {'median s':>9} {'min s':>7} {'peak MiB':>9}")
    for r in results:
        print(f"{r['what']:42} {r['wall_median_s']:9.2f} {r['wall_min_s']:7.2f} {r['peak_rss_mib']:9.0f}")
    base = {r["what"].split(",")[0]: r["wall_median_s"] for r in results if r["what"].endswith("scale 1")}
    for r in results:
        head = r["what"].split(",")[0]
        if not r["what"].endswith("scale 1") and head in base and base[head]:
            print(f"ratio {r['what']} / scale 1: {r['wall_median_s'] / base[head]:.1f}x")
    print(
        f"targets on {os.cpu_count()} cores: one Sales report under 6 s at scale 1; "
        "the monthly preset under 60 s; the import of the 200 MB activities CSV under 1024 MiB"
    )


if __name__ == "__main__":
    main()
