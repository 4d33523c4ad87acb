"""Batch runs of presets: parallel workers, failure isolation, atomic outputs, the index,
no secrets in outputs, safe parameters and custom reports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from published import BEFORE_THE_DATA, first_team

from crmkit.errors import ParameterError, PresetError
from crmkit.publish.batch import expand, load_preset, run_all, summary_table
from crmkit.publish.runner import run_report

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


@pytest.fixture
def notebooks(tmp_path):
    """A notebooks folder with the Sales report and the deliberately broken fixture."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "sales.ipynb", folder)
    shutil.copy(FIXTURES / "broken.ipynb", folder)
    return folder


def _preset(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preset.yaml"
    path.write_text(text)
    return path


def _cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, "-m", "crmkit.cli", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})},
    )


def test_failing_report_is_isolated(tmp_path, notebooks, demo_db):
    team = first_team(demo_db)
    out = tmp_path / "out"
    preset = _preset(tmp_path, f"reports: [sales, broken]\nperiods: ['2025-06']\nteams: [all, {team}]\n")
    proc = _cli("run-all", str(preset), "--database", str(demo_db), "--output", str(out),
                "--notebooks", str(notebooks), "--workers", "2", "--as-of", "2025-07-01", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    # the summary names report, parameters, cell and error of each failure
    failed = [line for line in proc.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 2 and all("broken" in f and "2025-06" in f for f in failed)
    assert all("cell 3: raise ValueError" in f and "planted failure" in f for f in failed)
    assert "2 ok, 2 failed" in proc.stdout
    # the others published, the failed notebooks are kept, the index lists what exists
    for t in ("all", team):
        assert (out / "2025-06" / t / "sales.html").exists()
        assert (out / "2025-06" / t / "broken.failed.ipynb").exists()
        assert not (out / "2025-06" / t / "broken.html").exists()
    index = (out / "index.html").read_text()
    assert index.count("sales.html") == 2 and "broken.html" not in index
    # the progress bar reports done / failed / remaining
    assert "failed 2" in proc.stderr and "remaining 0" in proc.stderr


def test_index_lists_every_report_newest_first(monthly_pack):
    """The session's monthly pack (tests/conftest.py): June 2025, then a period before the
    data, of every report."""
    out, outcomes = monthly_pack.output, monthly_pack.outcomes
    assert outcomes and all(o.ok for o in outcomes)
    index = (out / "index.html").read_text()
    for report in {o.job.report for o in outcomes}:
        assert index.index(f"2025-06/all/{report}.html") < index.index(f"{BEFORE_THE_DATA}/all/{report}.html")
    june = json.loads((out / "2025-06" / "all" / "sales.json").read_text())
    # headline KPI and its change are on the index, in the entry of the page
    entry = index[index.index('href="2025-06/all/sales.html"'):]
    entry = entry[:entry.index('class="ck-report-title"')]
    assert "Revenue" in entry and "Win rate" in entry
    change = june["changes"]["revenue"]["change"]
    assert f"{'+' if change >= 0 else '−'}{abs(100 * change):.1f}%" in entry
    assert "<script" not in index.lower() and "http" not in index
    assert "sales" in summary_table(outcomes)


def test_preset_expansion_and_validation(tmp_path, demo_db):
    team = first_team(demo_db)
    preset = load_preset(_preset(tmp_path, "reports: [sales]\nperiods: [last-month]\nteams: [all, each]\n"))
    jobs = expand(preset, demo_db, ROOT / "notebooks", as_of="2025-07-01")
    assert len(jobs) == 5 and jobs[0].team == "all" and jobs[0].period == "2025-06"
    assert team in {j.team for j in jobs}
    for text, needle in [
        ("teams: ['../../etc']\n", "../../etc"),
        ("periods: [\"2025-06\\n\"]\n", "2025-06"),
        ("reports: ['../x']\n", "../x"),
        ("reports: [nosuch]\n", "nosuch"),
        ("colour: blue\n", "colour"),
        ("teams: [\"a'b\"]\n", "a'b"),
        ("[unclosed\n", "YAML"),
    ]:
        with pytest.raises(PresetError) as err:
            expand(load_preset(_preset(tmp_path, text)), demo_db, ROOT / "notebooks")
        message = str(err.value)
        assert "\n" not in message and (needle in message or repr(needle)[1:-1] in message), message
    proc = _cli("run-all", str(_preset(tmp_path, "teams: ['../../etc']\n")), "--database",
                str(demo_db), "--output", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "index.html").exists()


def test_unsafe_report_id_is_rejected(tmp_path, demo_db):
    with pytest.raises(ParameterError, match="lower-case"):
        run_report("../sales", period="2025-06", database=demo_db, output=tmp_path)


def test_planted_secret_appears_in_no_output(tmp_path, demo_db):
    secret = "PLANTED-s3cret-7f3a9"
    hidden = tmp_path / f"vault-{secret}"
    hidden.mkdir()
    db = hidden / "crm.duckdb"
    shutil.copy(demo_db, db)
    out = tmp_path / "out"
    preset = _preset(tmp_path, "reports: [sales]\nperiods: ['2025-06']\nteams: [all]\n")
    env = {"CRMKIT_DATABASE": str(db),
           "CRMKIT_DATABASE_URL": f"postgresql://crmkit:{secret}@127.0.0.1:5432/crm"}
    proc = _cli("run-all", str(preset), "--output", str(out), "--as-of", "2025-07-01",
                "--notebooks", str(ROOT / "notebooks"), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.suffix == ".html" for p in files)
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert secret not in text, path
    # papermill records parameters twice: in the metadata and in the injected cell
    nb = json.loads((out / "2025-06" / "all" / "sales.ipynb").read_text())
    params = nb["metadata"]["papermill"]["parameters"]
    assert "database" not in params and all(secret not in str(v) for v in params.values())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "database" not in "".join(injected[0]["source"])


def _complete(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return True  # renamed away between listing and reading: not a partial file
    if path.suffix == ".json":
        json.loads(text)
        return True
    return text.rstrip().endswith("</html>")


def test_killed_run_leaves_only_complete_files_and_rerun_is_idempotent(tmp_path, demo_db):
    team = first_team(demo_db)
    out = tmp_path / "out"
    preset = _preset(tmp_path, f"reports: [sales]\nperiods: ['2025-05', '2025-06']\nteams: [all, {team}]\n")
    args = [sys.executable, "-m", "crmkit.cli", "run-all", str(preset), "--database", str(demo_db),
            "--output", str(out), "--as-of", "2025-07-01", "--notebooks", str(ROOT / "notebooks"),
            "--no-progress"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        published = [p for p in out.rglob("*") if p.suffix in (".html", ".json")]
        for path in published:  # at no point is a published file partial
            assert _complete(path), path
        if any(p.name == "sales.html" for p in published):
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed, "the run finished before it could be killed"
    for path in out.rglob("*"):
        if path.suffix in (".html", ".json"):
            assert _complete(path), path
    # re-run: everything published, complete, and stale temporaries cleaned up
    outcomes = run_all(preset, database=demo_db, output=out, notebooks=ROOT / "notebooks",
                       workers=2, as_of="2025-07-01", progress=False)
    assert all(o.ok for o in outcomes)
    pages = sorted(out.glob("*/*/sales.html"))
    assert len(pages) == 4 and all(_complete(p) for p in pages)
    assert not list(out.glob(".tmp-*"))


def test_two_runs_of_the_same_preset_at_once(tmp_path, demo_db):
    out = tmp_path / "out"
    preset = _preset(tmp_path, "reports: [sales]\nperiods: ['2025-06']\nteams: [all]\n")
    args = ["run-all", str(preset), "--database", str(demo_db), "--output", str(out), "--as-of",
            "2025-07-01", "--notebooks", str(ROOT / "notebooks"), "--workers", "1", "--no-progress"]
    procs = [subprocess.Popen([sys.executable, "-m", "crmkit.cli", *args], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    data = json.loads((out / "2025-06" / "all" / "sales.json").read_text())
    assert data["period"]["label"] == "2025-06"
    assert _complete(out / "2025-06" / "all" / "sales.html") and _complete(out / "index.html")


def test_new_report_is_picked_up_everywhere(tmp_path, notebooks, demo_db):
    proc = _cli("new-report", "q3_review", "--notebooks", str(notebooks), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    created = notebooks / "q3_review.ipynb"
    nb = json.loads(created.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "crmkit"
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert _cli("new-report", "q3_review", "--notebooks", str(notebooks), cwd=tmp_path).returncode == 2
    assert _cli("new-report", "../evil", "--notebooks", str(notebooks), cwd=tmp_path).returncode == 2
    out = tmp_path / "out"
    preset = _preset(tmp_path, "reports: [q3_review]\nperiods: ['2025-06']\nteams: [all]\n")
    outcomes = run_all(preset, database=demo_db, output=out, notebooks=notebooks, workers=1,
                       as_of="2025-07-01", progress=False)
    assert outcomes[0].ok, outcomes[0].error
    data = json.loads((out / "2025-06" / "all" / "q3_review.json").read_text())
    assert data["report"] == "q3_review" and data["metrics"]["revenue"] > 0
    assert "q3_review.html" in (out / "index.html").read_text()
    page = (out / "2025-06" / "all" / "q3_review.html").read_text()
    assert "<title>Q3 Review — All teams — 2025-06</title>" in page and page.count("<img") >= 1
    # the template's page says what changed, and which changes are significant
    assert "ck-summary" in page and data["summary"]
    assert data["changes"]["win_rate"]["p_value"] is not None
    assert isinstance(data["changes"]["win_rate"]["significant"], bool)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("reports: [sales]\ncolour: blue\n", "preset.yaml, line 2: unknown key colour; valid keys:"),
        ("reports: [sales]\nperiods: []\n", "preset.yaml, line 2: periods: must be a value"),
        ("timeout: 0\n", "preset.yaml, line 1: timeout: must be a positive number"),
        ("params: {activity: 60}\n", "preset.yaml, line 1: params: maps a report"),
        ("reports: [sales\n", "preset.yaml, line 2: not valid YAML"),
        ("- sales\n", "preset.yaml: a preset is a mapping"),
    ],
)
def test_preset_errors_name_file_and_line(tmp_path, text, needle):
    with pytest.raises(PresetError) as err:
        load_preset(_preset(tmp_path, text))
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_preset_that_is_a_folder_or_binary_is_one_line(tmp_path):
    binary = tmp_path / "preset.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 64)
    for path, needle in [(tmp_path, "folder"), (binary, "not a text file"),
                         (tmp_path / "none.yaml", "no such preset")]:
        with pytest.raises(PresetError, match=needle) as err:
            load_preset(path)
        assert "\n" not in str(err.value)


def test_preset_values_are_typed(tmp_path):
    preset = load_preset(_preset(
        tmp_path, "reports: sales\nperiods: [2025, '2025-06']\nas_of: 2025-07-01\ntimeout: 30\n"
                  "compare_to: year_ago\nparams: {sales: {x: 1}}\n"))
    assert preset.reports == ("sales",) and preset.periods == ("2025", "2025-06")
    assert preset.as_of == "2025-07-01" and preset.timeout == 30 and preset.compare_to == "year_ago"
    assert preset.params == {"sales": {"x": 1}} and preset.teams == ("all",)
    assert preset.path == tmp_path / "preset.yaml"


def test_index_escapes_and_shows_titles_and_index_kpis(tmp_path):
    from crmkit.publish.site import render
    from crmkit.reports import REPORTS, title

    report, spec = next(iter(REPORTS.items()))
    entry = {
        "report": report, "_href": f"2025-06/x/{report}.html", "team": "x",
        "team_name": "<script>alert(1)</script>", "currency": "EUR",
        "period": {"label": "2025-06", "start": "2025-06-01", "last_day": "2025-06-30"},
        "metrics": {name: 1 for name in (*spec.index_kpis, "not_on_the_index")},
        "definitions": {name: {"label": f"Label {name}", "unit": "count"} for name in spec.index_kpis},
    }
    custom = {**entry, "report": "q3_review", "_href": "2025-06/x/q3_review.html",
              "metrics": {"a": 1, "b": 2, "c": 3, "d": 4}, "definitions": {}}
    page = render([entry, custom])
    assert "<script" not in page and "&lt;script&gt;" in page
    assert title(report) in page and "Q3 Review" in page
    assert all(f"Label {name}" in page for name in spec.index_kpis)
    assert "not_on_the_index" not in page
    assert 'data-metric="c"' in page and 'data-metric="d"' not in page  # a custom report: 3
    assert "No reports yet" in render([])


def _descendants(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children(recursive=True)


def _batch_at_its_first_page(tmp_path: Path, demo_db: Path, out: Path, runtime: Path, *,
                             text: bool = True) -> subprocess.Popen:
    """``crmkit run-all`` of 8 pages on one worker, once its first page is published (its
    workers' kernels' files in the runtime folder ``runtime``; its output as text or bytes)."""
    team = first_team(demo_db)
    preset = _preset(tmp_path, f"reports: [sales, marketing]\nperiods: ['2025-05', '2025-06']\n"
                               f"teams: [all, {team}]\n")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmkit.cli", "run-all", str(preset), "--database", str(demo_db),
         "--output", str(out), "--as-of", "2025-07-01", "--notebooks", str(ROOT / "notebooks"),
         "--workers", "1", "--no-progress", "--no-server"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, env=env,
        start_new_session=True)  # a process group of its own, as in a terminal
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if list(out.glob("*/*/*.html")):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no page was published: {proc.communicate()[1][-2000:]}")


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_a_stopped_batch_finishes_its_page_and_leaves_no_process_behind(tmp_path, demo_db, how,
                                                                       runtime_dir):
    """A scheduler stops ``crmkit run-all`` with SIGTERM, sent to it alone; Ctrl-C sends
    SIGINT to the terminal's whole process group. Either way the page in progress finishes,
    no other starts, the index and status are written, the command says so in one line and
    exits with 128 + the signal. Before, SIGTERM killed it at once and its worker and kernel
    went on running with nobody to hand them a page (about 500 MB, for good); Ctrl-C
    printed the kernels' tracebacks, failed the pages in progress, and the workers went on
    with every other page before the command exited, writing no index or status."""
    out = tmp_path / "out"
    proc = _batch_at_its_first_page(tmp_path, demo_db, out, runtime_dir)
    family = _descendants(proc.pid)
    assert family  # its worker and the worker's kernel
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    name = "SIGTERM" if how == "SIGTERM" else "SIGINT"
    assert proc.returncode == 128 + signal.Signals[name].value, stderr[-2000:]
    not_started = sum("not run: the batch was stopped" in line for line in stdout.splitlines())
    assert 1 <= not_started <= 7  # 8 pages, the first published
    pages = "page" if not_started == 1 else "pages"
    assert f"crmkit: stopped by {name}: {not_started} {pages} not started" in stderr
    assert "Traceback" not in stderr
    failed = [line for line in stdout.splitlines() if "FAILED" in line]
    assert len(failed) == not_started  # the page in progress was not failed
    status = json.loads((out / "status.json").read_text())
    assert sum("not run" in (r.get("error") or "") for r in status["reports"]) == not_started
    assert (out / "index.html").exists()
    for path in out.rglob("*"):
        if path.suffix in (".html", ".json"):
            assert _complete(path), path
    _gone(family)
    assert list(runtime_dir.iterdir()) == []


def test_a_second_signal_stops_the_batch_at_once(tmp_path, demo_db, runtime_dir):
    """A second SIGTERM does not wait for the page in progress: the workers and kernels are
    stopped, the command says it was interrupted and exits with 130, and no page is left
    half-published. (The workers were told to stop after the pool had forgotten them, so
    the command waited for them.)"""
    out = tmp_path / "out"
    proc = _batch_at_its_first_page(tmp_path, demo_db, out, runtime_dir, text=False)
    family = _descendants(proc.pid)
    _next_page_under_way(family)
    proc.send_signal(signal.SIGTERM)
    heard = _read_until(proc, b"again to stop now")  # the first is heard: now the second
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    stderr = (heard + rest).decode()
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.rstrip().endswith("crmkit: interrupted") and "Traceback" not in stderr
    _gone(family, wait=10)
    for path in out.rglob("*"):
        if path.suffix in (".html", ".json"):
            assert _complete(path), path
    # the page in progress when the signals came was abandoned, not finished: only the
    # first is published
    assert len(list(out.glob("*/*/*.html"))) == 1


def test_a_batch_killed_outright_takes_its_workers_and_kernels_with_it(tmp_path, demo_db, runtime_dir):
    """``crmkit run-all`` killed with SIGKILL (which it cannot see): its worker notices it is
    gone, kills its kernel, removes the kernel's folder and exits."""
    out = tmp_path / "out"
    proc = _batch_at_its_first_page(tmp_path, demo_db, out, runtime_dir)
    family = _descendants(proc.pid)
    assert family
    proc.kill()
    proc.communicate(timeout=30)
    _gone(family)
    assert list(runtime_dir.iterdir()) == []


def _next_page_under_way(family: list, limit: float = 120.0) -> None:
    """Wait until the batch's kernel works on its next page: 0.3 s more of its CPU time than
    once the first was published (a page takes more than a second of it)."""
    from crmkit.publish.kernel import LAUNCHER

    kernel = next(p for p in family if LAUNCHER in p.cmdline())
    start, deadline = sum(kernel.cpu_times()[:2]), time.monotonic() + limit
    while sum(kernel.cpu_times()[:2]) < start + 0.3:
        assert time.monotonic() < deadline, "the batch's kernel never began its next page"
        time.sleep(0.02)


def _read_until(proc: subprocess.Popen, said: bytes, limit: float = 60.0) -> bytes:
    """What ``proc`` wrote to its stderr up to and including ``said``, read as it comes (no
    more: the rest is left to ``communicate``); fails after ``limit`` seconds."""
    import select

    heard, deadline = b"", time.monotonic() + limit
    fd = proc.stderr.fileno()
    while said not in heard:
        left = deadline - time.monotonic()
        assert left > 0, f"the command never said {said!r}: {heard[-2000:]!r}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"the command ended without saying {said!r}: {heard[-2000:]!r}"
            heard += chunk
    return heard


def _gone(processes: list, wait: float = 20.0) -> None:
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=wait)
    for process in alive:
        process.kill()
    assert alive == [], [p.cmdline()[:4] for p in alive]


def test_a_worker_that_dies_fails_its_pages_not_the_batch(tmp_path, demo_db):
    """A worker process killed under a batch (here by its own notebook: the kernel's parent
    is the worker) breaks the pool: every page it could not run fails as "worker died", and
    the batch still ends with its summary, index and status. (Handed pages one at a time, a
    batch met the broken pool as it handed over the next: a traceback, no index, no
    status.)"""
    import nbformat

    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / "sales.ipynb", folder)
    nb = nbformat.read(FIXTURES / "silent.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"))
    nbformat.write(nb, folder / "killer.ipynb")
    team = first_team(demo_db)
    preset = _preset(tmp_path, f"reports: [killer, sales]\nperiods: ['2025-06']\nteams: [all, {team}]\n")
    out = tmp_path / "out"
    proc = _cli("run-all", str(preset), "--database", str(demo_db), "--output", str(out),
                "--notebooks", str(folder), "--workers", "1", "--as-of", "2025-07-01",
                "--no-server", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    died = [line for line in proc.stdout.splitlines() if "worker died" in line]
    assert len(died) >= 3, proc.stdout  # the killer's page and those after it
    status = json.loads((out / "status.json").read_text())
    assert len(status["reports"]) == 4
    assert (out / "index.html").exists()


def test_a_batch_worker_loads_what_it_runs_on_with_the_collector_off_then_freezes_it():
    """A batch worker imports the batch and the runner (Papermill, nbconvert, pandas) as it
    starts, with the garbage collector off, then freezes what they made and turns the
    collector on again: its full collections re-scanned every imported object on the way
    and again on every page the worker ran."""
    code = ("import gc, sys\n"
            "from crmkit.publish import workers\n"
            "gc.disable()\n"  # as start_worker leaves it before the kernel starts
            "workers._load()\n"
            "print(gc.isenabled(), gc.get_freeze_count() > 50_000, gc.get_stats()[2]['collections'],"
            " 'crmkit.publish.runner' in sys.modules, 'papermill' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "0", "True", "True"]
    source = Path(__file__).resolve().parent.parent / "crmkit" / "publish" / "workers.py"
    start = source.read_text().split("def start_worker", 1)[1].split("\ndef ", 1)[0]
    assert start.index("gc.disable()") < start.index("Kernel(") < start.index("_load()")


def test_a_second_signal_while_the_batch_sums_up_stops_it_with_130(tmp_path, monkeypatch):
    """The pages in progress ended just after the first SIGTERM, and the second came while
    the command printed its summary: it stops the command as any second signal does (130,
    "interrupted"), not by SIGTERM's default (which it met once the batch's handler was
    gone)."""
    from crmkit import cli
    from crmkit.publish import batch

    def one_page_then_stopped(*_args, stop, **_kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # the first: no page starts after this one
        assert stop()
        return []

    def summary_then_stopped_again(outcomes):
        os.kill(os.getpid(), signal.SIGTERM)  # the second, as the command sums up
        return "summary"

    class Unhandled(Exception):
        """SIGTERM met the handler in place before the batch's (the command's had gone)."""

    def outside(_signum, _frame):
        raise Unhandled

    monkeypatch.setattr(batch, "run_all", one_page_then_stopped)
    monkeypatch.setattr(batch, "summary_table", summary_then_stopped_again)
    before = signal.signal(signal.SIGTERM, outside)  # not SIGTERM's default: pytest would end
    try:
        code = cli.main(["run-all", str(_preset(tmp_path, "reports: [sales]\n")), "--no-server",
                         "--no-progress", "--database", str(tmp_path / "any.duckdb")])
        assert signal.getsignal(signal.SIGTERM) is outside
    finally:
        signal.signal(signal.SIGTERM, before)
    assert code == 130
