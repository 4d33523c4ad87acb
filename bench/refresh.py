"""Benchmark of the refresh cache: the monthly preset rendered in full (the naive path:
``run-all --force``) against a refresh when nothing changed, and after one team's new won
deal, at each data scale.

Run with ``make bench`` (scales 1 and 100) or ``python bench/refresh.py --scales 1,10``.
Each refresh is timed in a fresh process, several times; medians are reported, with the
ratio to the full render and the growth from one scale to the next. Targets: a no-change
refresh under 3 s at scale 1 and under 10 s at scale 100; after the change, only the pages
of that team and of the company re-render.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
CRMKIT = [sys.executable, "-m", "crmkit.cli"]
WON_DEAL = """
insert into deals (deal_id, owner_id, created_at, status, customer_id, stage, amount,
                   probability, expected_close_at, closed_at, product)
select 'bench-deal-' || '{n}', e.employee_id, TIMESTAMP '2025-06-02 09:00', 'won', c.customer_id,
       w.stage, 1000.0, 1.0, TIMESTAMP '2025-06-20 15:00', TIMESTAMP '2025-06-20 15:00', w.product
from employees e join customers c on c.owner_id = e.employee_id,
     (select stage, product from deals where status = 'won' limit 1) w
where e.team_id = 'enterprise' limit 1
"""
_COUNTS = re.compile(r"(\d+) ok, (\d+) failed \((\d+) fresh, (\d+) re-rendered\)")


def timed(args: list[str]) -> tuple[float, tuple[int, ...]]:
    """Wall seconds of one command and its (ok, failed, fresh, re-rendered) counts."""
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    found = _COUNTS.search(proc.stdout)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"benchmark command failed: {' '.join(args)}\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wall, tuple(int(g) for g in found.groups())


def scale_rows(tmp: Path, scale: int, repeat: int) -> list[dict]:
    db, out = tmp / f"demo-{scale}.duckdb", tmp / f"out-{scale}"
    started = time.perf_counter()
    subprocess.run([*CRMKIT, "demo", "--database", str(db), "--scale", str(scale), "--end", "2025-06-30"],
                   cwd=ROOT, check=True, capture_output=True)
    print(f"scale {scale}: demo built in {time.perf_counter() - started:.0f} s", flush=True)
    run = [*CRMKIT, "run-all", "params/monthly.yaml", "--database", str(db), "--output", str(out),
           "--as-of", "2025-07-01", "--no-progress"]
    full, counts = timed([*run, "--force"])
    rows = [{"what": f"monthly preset, full render (--force), scale {scale}", "median_s": full,
             "runs": 1, "counts": counts}]
    quiet = [timed(run) for _ in range(repeat)]
    rows.append({"what": f"monthly preset, no-change refresh, scale {scale}",
                 "median_s": statistics.median(w for w, _ in quiet), "runs": repeat, "counts": quiet[-1][1]})
    changed = []
    for n in range(repeat):
        con = duckdb.connect(str(db))
        con.execute(WON_DEAL.format(n=n))
        con.close()
        changed.append(timed(run))
    rows.append({"what": f"monthly preset, one team's new deal, scale {scale}",
                 "median_s": statistics.median(w for w, _ in changed), "runs": repeat,
                 "counts": changed[-1][1]})
    for r in rows:
        print(json.dumps(r), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="1,100")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in [int(s) for s in args.scales.split(",")]:
            results[scale] = scale_rows(Path(tmp), scale, args.repeat)
    print()
    print(f"{'what':58} {'median s':>9}  ok/failed/fresh/re-rendered")
    for rows in results.values():
        for r in rows:
            print(f"{r['what']:58} {r['median_s']:9.2f}  {'/'.join(map(str, r['counts']))}")
        full, quiet = rows[0]["median_s"], rows[1]["median_s"]
        print(f"  no-change refresh / full render: {quiet / full:.3f} ({full / quiet:.0f}x faster)")
    scales = sorted(results)
    for a, b in zip(scales, scales[1:], strict=False):
        for i, name in ((0, "full render"), (1, "no-change refresh")):
            growth = results[b][i]["median_s"] / results[a][i]["median_s"]
            print(f"growth of the {name} from scale {a} to {b}: {growth:.1f}x")
    print("targets: no-change refresh under 3 s at scale 1 and under 10 s at scale 100; "
          "after one team's deal, only that team's and the company's pages re-render")


if __name__ == "__main__":
    main()
