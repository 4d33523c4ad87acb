"""Benchmark, side by side in one run on this machine (``make bench``):

1. one Sales report at scale 1: ``crmkit run`` cold (its own kernel), the same run handed to
   a report server (``crmkit serve`` up), and the naive pipeline on the same notebook
   (``papermill`` then ``jupyter nbconvert --to html``), with the ratios to the naive one;
2. the monthly preset (every report x team, ``--force``: nothing skipped by the refresh
   cache), then the same again without ``--force`` (what the cache keeps);
3. each report at scales 10 and 100: wall time, the growth 10 -> 100 and the peak memory of
   the whole process tree (the command, its kernel and every other descendant, summed);
4. the metric layer against hand-written SQL (``bench/metric_layer.py``);
5. the demo build and the import of a 200 MB activities CSV (``bench/big_export.py``).

Runs of one comparison are interleaved (their order rotates) and each is a fresh process;
medians are reported. Memory is the peak of the sum of the resident set sizes of a process
and all its descendants, sampled every 20 ms (``psutil``), not the largest single process.
``--quick`` skips scale 100, the import and the metric layer; ``--db100`` reuses a scale-100
database (opened read-only) instead of building one, which takes minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import metric_layer as bench_metric_layer  # bench/, on the path of a script run from it
import psutil
from big_export import write_export

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
BIN = Path(PY).parent
CRMKIT = [PY, "-m", "crmkit.cli"]
#: The demo's last day, the period every figure is of, the as-of day that pins it.
END, PERIOD, AS_OF = "2025-06-30", "2025-06", "2025-07-01"
#: The last whole year of the demo (the SQL baseline reads periods that are over).
YEAR = "2024"
REPORTS = ("sales", "activity", "marketing", "performance", "satisfaction")
MiB = 2**20


@dataclass
class Run:
    wall: float
    tree_mib: float
    stderr: str = ""


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its descendants."""
    total = 0
    with contextlib.suppress(psutil.Error):
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


def measure(cmd: list[str] | str, env: dict[str, str] | None = None) -> Run:
    """Wall seconds and peak process-tree memory (MiB) of one command; exits on failure."""
    peak, done = [0], threading.Event()
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                            env={**os.environ, **(env or {})}, shell=isinstance(cmd, str))

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss(proc))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        err.seek(0)
        said = err.read().decode(errors="replace")
        if code != 0:
            raise SystemExit(f"benchmark command failed ({code}): {cmd}\n{said[-2000:]}")
    return Run(wall, peak[0] / MiB, said)


def settle(proc: psutil.Popen | None, limit: float = 60.0) -> None:
    """Wait until ``proc``'s tree is idle (a report server booting its spare kernel) and
    started or ended no process meanwhile, so it takes no CPU from the run being measured."""
    if proc is None:
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        tree = [proc, *proc.children(recursive=True)]
        for p in tree:  # the first reading of each starts its count
            with contextlib.suppress(psutil.Error):
                p.cpu_percent(None)
        time.sleep(0.5)
        busy = 0.0
        for p in tree:
            with contextlib.suppress(psutil.Error):
                busy += p.cpu_percent(None)
        with contextlib.suppress(psutil.Error):  # a process started meanwhile: not idle yet
            if busy < 5 and {p.pid for p in proc.children(recursive=True)} == {p.pid for p in tree[1:]}:
                return


def median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.wall for r in runs), max(r.tree_mib for r in runs))


# -- 1. one report, cold, served and naive ---------------------------------------------------


def run_cmd(db: Path, out: Path, report: str = "sales", *extra: str) -> list[str]:
    return [*CRMKIT, "run", report, "--period", PERIOD, "--team", "all", "--as-of", AS_OF,
            "--database", str(db), "--output", str(out), *extra]


def naive_cmd(db: Path, tmp: Path) -> str:
    """papermill, then nbconvert: the notebook reads its database from $CRMKIT_DATABASE,
    like every run (its ``database`` parameter may also name it)."""
    executed = tmp / "naive.ipynb"
    return (f"CRMKIT_DATABASE={db} {BIN / 'papermill'} -k crmkit --log-level ERROR "
            f"notebooks/sales.ipynb {executed} -p period {PERIOD} -p team all -p as_of {AS_OF}"
            f" && {BIN / 'jupyter'} nbconvert --to html --log-level ERROR {executed}")


@contextlib.contextmanager
def report_server(tmp: Path) -> Iterator[tuple[psutil.Popen, dict[str, str]]]:
    """A ``crmkit serve`` on a socket of its own; its environment for the clients."""
    folder = tmp / "server"
    folder.mkdir(mode=0o700)
    env = {"CRMKIT_SERVE_SOCKET": str(folder / "serve.sock")}
    proc = psutil.Popen([*CRMKIT, "serve"], cwd=ROOT, env={**os.environ, **env},
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (folder / "serve.sock").exists():
            if proc.poll() is not None:
                raise SystemExit("crmkit serve did not start")
            time.sleep(0.1)
        yield proc, env
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(folder, ignore_errors=True)  # the next server gets a folder of its own


def served(run: Run) -> Run:
    """A run the report server carried out (not one it declined, which ran on its own)."""
    if "running here" in run.stderr:
        raise SystemExit(f"the report server did not serve a run: {run.stderr.strip()[-500:]}")
    return run


def one_report(db: Path, tmp: Path, repeat: int) -> dict[str, Run]:
    """Sales at scale 1, three ways, interleaved; a first served run warms the server up."""
    runs: dict[str, list[Run]] = {"cold": [], "served": [], "naive": []}
    with report_server(tmp) as (server, env):
        settle(server)
        measure(run_cmd(db, tmp / "out-served"), env)  # not counted: the server's first run
        ways = {
            "cold": lambda: measure(run_cmd(db, tmp / "out-cold", "sales", "--no-server")),
            "served": lambda: served(measure(run_cmd(db, tmp / "out-served"), env)),
            "naive": lambda: measure(naive_cmd(db, tmp)),
        }
        names = list(ways)
        for i in range(repeat):
            for name in names[i % 3:] + names[: i % 3]:
                settle(server)
                runs[name].append(ways[name]())
    return {name: median(found) for name, found in runs.items()}


# -- 2. the monthly preset -------------------------------------------------------------------


def pack(db: Path, tmp: Path, repeat: int) -> tuple[Run, Run, Run, str]:
    """The monthly preset with ``--force``, run by the command itself (cold) and handed to
    the report server (its batch workers kept warm), interleaved (medians); then once
    without ``--force`` (the refresh cache)."""
    out = tmp / "out-monthly"
    cmd = [*CRMKIT, "run-all", "params/monthly.yaml", "--database", str(db), "--output", str(out),
           "--as-of", AS_OF, "--no-progress", "--workers", "2"]
    runs: dict[str, list[Run]] = {"cold": [], "served": []}
    with report_server(tmp) as (server, env):
        settle(server)
        served(measure([*cmd, "--force"], env))  # not counted: starts the batch workers
        for i in range(repeat):
            for name in ("cold", "served") if i % 2 == 0 else ("served", "cold"):
                settle(server)
                if name == "cold":
                    runs[name].append(measure([*cmd, "--force", "--no-server"]))
                else:
                    runs[name].append(served(measure([*cmd, "--force"], env)))
    cached = measure([*cmd, "--no-server"])
    status = json.loads((out / "status.json").read_text())
    return median(runs["cold"]), median(runs["served"]), cached, json.dumps(status["counts"])


# -- 3. each report at scales 10 and 100 -----------------------------------------------------


def scales(dbs: dict[int, Path], tmp: Path, repeat: int) -> dict[tuple[str, int, str], Run]:
    """Every report on every database, cold (its own kernel) and through ``crmkit serve``,
    interleaved by report. First, uncounted runs of each database, served and cold, warm
    the server and the remembered data fingerprint (computed once per state of a database
    file: 6 s at scale 100; a served run alone left the first cold run to compute it)."""
    found: dict[tuple[str, int, str], list[Run]] = {}
    with report_server(tmp) as (server, env):
        for scale, db in dbs.items():
            settle(server)
            measure(run_cmd(db, tmp / f"out-{scale}", "sales"), env)
            settle(server)
            measure(run_cmd(db, tmp / f"out-{scale}", "sales", "--no-server"))
        for _ in range(repeat):
            for scale, db in dbs.items():
                for report in REPORTS:
                    settle(server)
                    run = measure(run_cmd(db, tmp / f"out-{scale}", report, "--no-server"))
                    found.setdefault((report, scale, "cold"), []).append(run)
                    settle(server)
                    run = served(measure(run_cmd(db, tmp / f"out-{scale}", report), env))
                    found.setdefault((report, scale, "served"), []).append(run)
    return {key: median(runs) for key, runs in found.items()}


# -- 4. the metric layer against hand-written SQL -------------------------------------------


def metric_layer(db: Path, repeat: int) -> str:
    """``bench/metric_layer.py``'s table: the metric layer vs ``bench/sql_baseline.py`` on
    ``db``, for the month and the last whole year."""
    rows = bench_metric_layer.rows(str(db), periods=(PERIOD, YEAR), repeat=repeat, as_of=AS_OF)
    return str(bench_metric_layer.table(rows))


# -- 5. the demo build and a big import ------------------------------------------------------


def build_demo(db: Path, scale: int) -> Run:
    return measure([*CRMKIT, "demo", "--database", str(db), "--scale", str(scale), "--end", END])


def big_import(tmp: Path, rows: int) -> tuple[str, Run]:
    csv = write_export(tmp / "big-export", rows)
    run = measure([*CRMKIT, "import", str(tmp / "big-export"), "--database", str(tmp / "big.duckdb")])
    return f"import of a {csv.stat().st_size / 1e6:.0f} MB activities CSV", run


# -- the report ------------------------------------------------------------------------------


def line(what: str, run: Run, note: str = "") -> str:
    return f"{what:<52}{run.wall:>9.2f}{run.tree_mib:>10.0f}  {note}"


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER THE BAR"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--scale-repeat", type=int, default=1, help="runs per report and scale")
    parser.add_argument("--pack-repeat", type=int, default=3)
    parser.add_argument("--db100", default=None, help="a scale-100 demo (end 2025-06-30) to reuse")
    parser.add_argument("--quick", action="store_true",
                        help="skip scale 100, the metric layer and the big import")
    parser.add_argument("--import-rows", type=int, default=3_300_000, help="0: skip the import")
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(args.keep or stack.enter_context(tempfile.TemporaryDirectory()))
        tmp.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp / "server", ignore_errors=True)
        # remembered data fingerprints of the bench's databases stay with them
        os.environ["CRMKIT_CACHE_DIR"] = str(tmp / "cache")
        report(args, tmp)


def report(args: argparse.Namespace, tmp: Path) -> None:
    print(f"{'what':<52}{'median s':>9}{'tree MiB':>10}", flush=True)
    dbs: dict[int, Path] = {}
    for scale in (1, 10) if args.quick or args.db100 else (1, 10, 100):
        dbs[scale] = tmp / f"demo-{scale}.duckdb"
        print(line(f"demo build, scale {scale}", build_demo(dbs[scale], scale)), flush=True)
    if args.db100 and not args.quick:
        dbs[100] = Path(args.db100)
    one = one_report(dbs[1], tmp, args.repeat)
    for name in ("cold", "served", "naive"):
        ratio = one[name].wall / one["naive"].wall
        note = "" if name == "naive" else f"{ratio:.2f}x the naive pipeline, {verdict(ratio <= 0.4)} (0.4)"
        print(line(f"one Sales report, scale 1, {name}", one[name], note), flush=True)
    forced, warm, cached, counts = pack(dbs[1], tmp, args.pack_repeat)
    print(line("monthly preset, --force, 2 workers", forced, verdict(forced.wall <= 20) + " (20 s)"))
    print(line("the same, served (batch workers kept warm)", warm, verdict(warm.wall <= 20) + " (20 s)"))
    print(line("monthly preset again, refresh cache", cached, counts), flush=True)
    each = scales({s: db for s, db in dbs.items() if s > 1}, tmp, args.scale_repeat)
    for (name, scale, way), run in each.items():
        note = ""
        if scale == 100 and (name, 10, way) in each:
            growth = run.wall / each[(name, 10, way)].wall
            note = f"growth 10->100 {growth:.1f}x {verdict(growth <= 10)}; {verdict(run.wall <= 5)} (5 s)"
            if way == "cold":  # a served run's tree is the client's: the kernel is the server's
                note += f"; memory {verdict(run.tree_mib <= 1024)} (1 GiB)"
        print(line(f"{name}, scale {scale}, {way}", run, note), flush=True)
    if 100 in dbs:
        print("\nmetric layer vs hand-written SQL, scale 100 (bar: 1.5x)", flush=True)
        print(metric_layer(dbs[100], 3), flush=True)
    if args.import_rows and not args.quick:
        what, run = big_import(tmp, args.import_rows)
        print(line(what, run, verdict(run.tree_mib <= 1024) + " (1 GiB)"))
    print(f"\n{os.cpu_count()} cores; medians of interleaved runs: read ratios, not single numbers")


if __name__ == "__main__":
    main()
