"""The runner and publisher end to end: CLI, notebook execution, HTML and JSON.

Sales values are checked against independent SQL on the same DuckDB file; the page is
checked against its JSON twin; bad input fails early with one line and writes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from published import chromium, first_team, kpi_cards, month_and_quarter, unbroken, warm_kernel

from crmkit import cli
from crmkit.catalog import CATALOG
from crmkit.errors import ReportError
from crmkit.metrics.definitions import METRICS
from crmkit.publish.export import extract_json
from crmkit.publish.kernel import Kernel
from crmkit.publish.runner import run_report
from crmkit.render.blocks import fmt

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def published(tmp_path_factory, demo_db):
    """Sales for June 2025 (company-wide) and 2025-Q2 for one team."""
    out = tmp_path_factory.mktemp("output")
    team = first_team(demo_db)
    month, quarter = month_and_quarter("sales", demo_db, out, team)
    return out, month, quarter, team


def _sql_truth(db: Path, start: str, end: str, team: str | None) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    scope = (
        ""
        if team is None
        else (f"and owner_id in (select employee_id from employees where team_id = '{team}')")
    )
    won, lost, revenue, cycle = con.execute(f"""
        select count(*) filter (where status = 'won'),
               count(*) filter (where status = 'lost'),
               coalesce(sum(amount) filter (where status = 'won'), 0),
               median(epoch(closed_at - created_at) / 86400.0) filter (where status = 'won')
        from deals where closed_at >= '{start}' and closed_at < '{end}' {scope}""").fetchone()
    pipeline = con.execute(f"""
        select coalesce(sum(amount), 0) from deals
        where created_at < '{end}' and (closed_at is null or closed_at >= '{end}') {scope}""").fetchone()[
        0
    ]
    con.close()
    return {
        "deals_won": won,
        "deals_lost": lost,
        "revenue": revenue,
        "win_rate": won / (won + lost) if won + lost else None,
        "sales_cycle_days_median": cycle,
        "open_pipeline": pipeline,
    }


def test_outputs_written(published):
    out, month, quarter, team = published
    for result in (month, quarter):
        assert result.html.exists() and result.html.stat().st_size > 10_000
        assert result.json.exists() and result.notebook.exists()
    assert month.html == out / "2025-06" / "all" / "sales.html"
    assert quarter.html == out / "2025-Q2" / team / "sales.html"
    index = (out / "index.html").read_text()
    assert "2025-06/all/sales.html" in index and f"2025-Q2/{team}/sales.html" in index
    assert not list(out.glob(".tmp-*")), "temporary run folders must be cleaned up"


@pytest.mark.parametrize("which", ["month", "quarter"])
def test_json_equals_independent_sql(published, demo_db, which):
    out, month, quarter, team = published
    result = month if which == "month" else quarter
    data = json.loads(result.json.read_text())
    p = data["period"]
    truth = _sql_truth(demo_db, p["start_utc"], p["end_utc"], None if which == "month" else team)
    assert truth["deals_won"] > 0, "the demo should have won deals in the pinned period"
    for name, expected in truth.items():
        got = data["metrics"][name]
        if expected is None:
            assert got is None, name
        else:
            assert got == pytest.approx(expected, rel=1e-9), name


def test_json_shape(published):
    data = json.loads(published[1].json.read_text())
    for key in (
        "report",
        "period",
        "team",
        "compare_to",
        "generated_at",
        "data_fingerprint",
        "version",
        "metrics",
        "comparison",
        "breakdowns",
    ):
        assert key in data, key
    assert set(data["period"]) >= {"label", "start", "end", "timezone"}
    assert data["period"] | {} and data["period"]["label"] == "2025-06"
    assert data["period"]["start"] == "2025-06-01" and data["period"]["end"] == "2025-07-01"
    assert data["compare_to"] == "previous" and data["comparison_period"]["label"] == "2025-05"
    assert set(data["comparison"]) == set(data["metrics"])
    for name in (
        "revenue",
        "deals_won",
        "deals_lost",
        "win_rate",
        "sales_cycle_days_median",
        "open_pipeline",
        "weighted_pipeline",
        "lead_conversion",
        "avg_deal_size",
        "quota_attainment",
        "pipeline_velocity",
        "forecast",
        "deals_created",
    ):
        assert name in data["metrics"], name
    assert {"employee", "product", "month", "stage_funnel"} <= set(data["breakdowns"])
    assert len(data["breakdowns"]["month"]) == 12
    assert 0 <= data["metrics"]["win_rate"] <= 1  # a fraction, not a percentage


def test_html_matches_json(published):
    result = published[1]
    data = json.loads(result.json.read_text())
    page = unbroken(result.html.read_text())
    cards = kpi_cards(page)
    assert len(cards) >= 10
    for name, shown in cards.items():
        expected = fmt(data["metrics"][name], METRICS[name].unit, data["currency"])
        assert shown == expected, name
    # the title and heading name report, team and period; the header states the period
    # with dates, team, time zone, fingerprint, version
    assert data["title"] == "Sales — All teams — 2025-06"
    assert "<title>Sales — All teams — 2025-06</title>" in page
    for text in (
        "<h1>Sales — All teams — 2025-06</h1>",
        "2025-06-01 to 2025-06-30",
        "All teams",
        data["period"]["timezone"],
        data["data_fingerprint"],
        data["version"],
        data["generated_at"],
    ):
        assert text in page, text


def test_page_is_self_contained_and_small(published):
    page = published[1].html.read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no remote assets"
    assert "@import" not in page
    assert len(page.encode()) < 1_500_000
    assert page.count("<img") >= 4 and page.count("<table") >= 2
    assert "def " not in page and "import crmkit" not in page  # code is hidden


def test_executed_notebook_records_resolved_parameters(published):
    import nbformat

    nb = nbformat.read(published[1].notebook, as_version=4)
    params = nb.metadata["papermill"]["parameters"]
    assert params["period"] == "2025-06" and params["team"] == "all"
    assert "database" not in params  # the location travels in the environment only
    assert extract_json(nb)["metrics"]["revenue"] >= 0


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crmkit.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--team", "nosuch"], "nosuch"),
        (["--period", "2025-13"], "2025-13"),
        (["--period", "../../etc"], "../../etc"),
        (["--team", "../../etc"], "../../etc"),
        (["--compare-to", "lastyear"], "lastyear"),
    ],
)
def test_bad_input_fails_early_with_one_line(tmp_path, demo_db, args, needle):
    out = tmp_path / "out"
    proc = _cli(
        "run",
        "sales",
        "--database",
        str(demo_db),
        "--output",
        str(out),
        "--notebooks",
        str(ROOT / "notebooks"),
        *args,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("crmkit: error:") and needle in lines[0]
    assert not out.exists(), "nothing may be written for bad input"


def test_unknown_report_and_missing_database(tmp_path, demo_db):
    proc = _cli(
        "run",
        "nosuch",
        "--database",
        str(demo_db),
        "--notebooks",
        str(ROOT / "notebooks"),
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "sales" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("run", "sales", "--database", str(tmp_path / "none.duckdb"), cwd=tmp_path)
    assert proc.returncode == 2 and "crmkit demo" in proc.stderr


def test_failed_report_keeps_previous_page_and_the_failed_notebook(tmp_path, demo_db):
    notebooks = tmp_path / "nb"
    shutil.copytree(FIXTURES, notebooks)
    out = tmp_path / "out"
    page = out / "2025-06" / "all" / "broken.html"
    page.parent.mkdir(parents=True)
    page.write_text("previous good page")
    with pytest.raises(ReportError) as err:
        run_report("broken", period="2025-06", database=demo_db, output=out, notebooks=notebooks)
    e = err.value
    # the third cell of broken.ipynb (parameters, setup, raise); papermill's injected cell
    # is not counted, so the number matches the report's own notebook
    assert e.report == "broken" and e.cell == 3 and e.ename == "ValueError"
    assert "planted failure" in str(e) and "period=2025-06" in str(e)
    assert "cell 3 `raise ValueError" in str(e)
    assert page.read_text() == "previous good page"
    assert e.notebook == page.parent / "broken.failed.ipynb" and e.notebook.exists()
    assert not list(out.glob(".tmp-*"))


def test_notebook_that_publishes_nothing_is_an_error(tmp_path, demo_db):
    with pytest.raises(ReportError, match="published no"):
        run_report(
            "silent", period="2025-06", database=demo_db, output=tmp_path, notebooks=FIXTURES
        )
    assert not (tmp_path / "2025-06" / "all" / "silent.html").exists()


def test_relative_period_resolves_to_its_label(tmp_path, demo_db):
    result = run_report(
        "sales",
        period="last-month",
        as_of="2025-07-01",
        team="all",
        compare_to="year_ago",
        database=demo_db,
        output=tmp_path,
        kernel=warm_kernel(demo_db),
    )
    data = json.loads(result.json.read_text())
    assert result.period == "2025-06" and data["comparison_period"]["label"] == "2024-06"


def test_page_renders_in_headless_chromium(published, tmp_path):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    page = published[1].html
    proc = chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri())
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert dom.count("<img") >= 4 and dom.count("<table") >= 2
    assert "data-metric=" in dom
    shot = tmp_path / "page.png"
    chromium(binary, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1200,3000",
             page.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_kernel_starts_warm_with_an_empty_namespace(tmp_path, demo_db):
    """The report libraries are imported as the kernel starts; nothing is left in the
    user namespace, and the next notebook on the same kernel starts clean again. The
    kernel keeps no IPython history (every kernel of a batch wrote each cell it ran into
    the user's one history database)."""
    import nbformat

    probe = (
        "import json, sys\n"
        "print(json.dumps({'names': sorted(n for n in globals() if not n.startswith('_')),"
        " 'warm_up_names': [n for n in ('_ck', '_m') if n in globals()],"
        " 'warm': [m in sys.modules for m in ('crmkit.metrics.sales', 'crmkit.render.charts.sales', 'seaborn')],"
        " 'history': get_ipython().history_manager.enabled}))\n"
        "left_behind = 1"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(probe)]
    nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
    source = tmp_path / "probe.ipynb"
    nbformat.write(nb, source)
    seen = []
    with Kernel(demo_db, tmp_path) as kernel:
        for i in range(2):
            out = kernel.execute(source, tmp_path / f"run{i}.ipynb", {}, timeout=120)
            seen.append(json.loads(out.cells[0].outputs[0]["text"]))
    for result in seen:
        assert result["warm"] == [True, True, True]
        assert set(result["names"]) - {"In", "Out", "exit", "quit", "open", "get_ipython"} == {
            "json",
            "sys",
        }
        assert result["warm_up_names"] == []
        assert result["history"] is False  # no report code in the user's IPython history


def _heartbeats() -> int:
    return sum(type(t).__name__ == "HBChannel" for t in threading.enumerate())


def test_report_after_report_on_one_kernel_leaves_no_client_open(tmp_path, demo_db):
    """Each notebook's kernel client is closed when it is done: left open, every report a
    batch worker or the report server ran kept a heartbeat thread and its sockets (12 MB)."""
    kernel = warm_kernel(demo_db)
    before = _heartbeats()
    for team in ("all", first_team(demo_db)):
        run_report("satisfaction", period="2025-06", team=team, database=demo_db,
                   output=tmp_path, kernel=kernel)
    assert _heartbeats() == before


def test_kernels_talk_over_private_sockets_not_loopback_ports(tmp_path, demo_db):
    """A kernel listens on Unix sockets in a folder of its own (mode 0700), removed when it
    closes. On loopback TCP, a kernel picked five free ports and bound them a moment later:
    a kernel another process started in that moment (the report server's, a batch's) could
    take one, the first died with "Address already in use", and its page waited two minutes
    for it."""
    import psutil

    with Kernel(demo_db, tmp_path) as kernel, Kernel(demo_db, tmp_path) as other:
        folders = []
        for k in (kernel, other):
            info = k.km.get_connection_info()
            assert info["transport"] == "ipc"
            folder = Path(info["ip"]).parent
            assert (folder.stat().st_mode & 0o777) == 0o700
            assert len(f"{info['ip']}-{info['hb_port']}") < 100  # a Unix socket path's limit
            folders.append(folder)
        assert folders[0] != folders[1]
        probe = tmp_path / "probe.ipynb"
        import nbformat

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
        nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
        nbformat.write(nb, probe)
        out = kernel.execute(probe, tmp_path / "run.ipynb", {}, timeout=120)
        assert out.cells[0].outputs[0]["text"].strip() == "42"
        pid = kernel.km.provisioner.process.pid
        info = kernel.km.get_connection_info()
        bound = {c.laddr for c in psutil.Process(pid).net_connections(kind="unix")}
        assert {f"{info['ip']}-{info[f'{name}_port']}"
                for name in ("shell", "iopub", "stdin", "control", "hb")} <= bound
        kernel.restart()  # a restarted kernel gets a folder of its own; the old one goes
        assert Path(kernel.km.get_connection_info()["ip"]).parent != folders[0]
        assert not folders[0].exists()
    assert not any(folder.exists() for folder in folders)


def test_closing_a_kernel_ends_what_it_started_and_does_not_wait_on_a_poll(tmp_path, demo_db,
                                                                          monkeypatch):
    """Closing a kernel kills its process group (a program a report started goes with it)
    and reaps the kernel at once: jupyter_client, left to it, polls a killed kernel every
    0.1 s, and the first poll always comes too early, a tenth of a second on every run."""
    import asyncio

    import nbformat
    import psutil

    kernel = Kernel(demo_db, tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import subprocess\nchild = subprocess.Popen(['sleep', '300'])\nprint(child.pid)")])
    nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
    nbformat.write(nb, tmp_path / "child.ipynb")
    out = kernel.execute(tmp_path / "child.ipynb", tmp_path / "run.ipynb", {}, timeout=120)
    child = psutil.Process(int(out.cells[0].outputs[0]["text"]))
    process = kernel.km.provisioner.process
    slept: list[float] = []
    sleep = asyncio.sleep

    async def recorded(delay: float, *args: object, **kwargs: object) -> object:
        slept.append(delay)
        return await sleep(delay, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    kernel.close()
    assert process.returncode is not None  # reaped
    assert not [delay for delay in slept if delay >= 0.1], slept
    child.wait(timeout=10)  # killed with its kernel (a zombie of no one's once reaped)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_a_kernel_starts_without_collecting_garbage_and_collects_it_afterwards(tmp_path, demo_db):
    """The kernel's start (IPython, the report libraries) runs with the garbage collector
    off: its full collections there re-scanned every object the imports had made, about a
    quarter of the start. What the start made is frozen; the collector is on again for the
    notebooks. A file in the folder the kernel starts in, named like a library the kernel
    loads, is not imported in its place; the notebook still imports from that folder."""
    import nbformat

    (tmp_path / "tornado.py").write_text("raise SystemExit('the notebooks folder shadowed tornado')\n")
    (tmp_path / "helpers_here.py").write_text("ANSWER = 42\n")
    kernel = Kernel(demo_db, tmp_path, reports=("sales",))
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import gc, importlib, json, os, sys\nfrom helpers_here import ANSWER\n"
            "print(json.dumps([gc.isenabled(), gc.get_stats()[2]['collections'], "
            "gc.get_freeze_count(), ANSWER, 'CRMKIT_FROZEN_START' in os.environ, "
            "'debugpy.server' in sys.modules, importlib.import_module('debugpy').__name__]))")])
        nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
        nbformat.write(nb, tmp_path / "gc.ipynb")
        out = kernel.execute(tmp_path / "gc.ipynb", tmp_path / "run.ipynb", {}, timeout=120)
    finally:
        kernel.close()
    enabled, full_collections, frozen, answer, told, debugger, debugpy = \
        json.loads(out.cells[0].outputs[0]["text"])
    assert enabled
    assert full_collections == 0  # 3 or more with the collector on during the start
    assert frozen > 0 and answer == 42 and not told  # the request is not the notebook's
    assert not debugger and debugpy == "debugpy"  # not loaded, and still there to import
    # a kernel started as JupyterLab starts it: as ipykernel's, nothing frozen
    said = _said_in_a_lab_kernel(
        "import gc, os, sys\nprint(gc.get_freeze_count(), 'CRMKIT_FROZEN_START' in os.environ, "
        "'debugpy.server' in sys.modules)", tmp_path)
    assert said.split() == ["0", "False", "True"]  # its debugger loaded


def test_a_kernel_crmkit_starts_skips_matplotlib_s_property_lists_as_it_starts_only(tmp_path, demo_db):
    """matplotlib lists every property of an artist class in docstrings as it defines the
    class, 0.1 s of a kernel's start: a kernel crmkit starts has them say where the list
    is; the signatures are whole, and matplotlib's ``kwdoc`` lists properties again
    afterwards. A kernel started as JupyterLab starts it keeps the lists."""
    import nbformat

    from crmkit.publish.kernel import ARTIST_PROPERTIES

    code = ("import inspect, json\nimport matplotlib.artist, matplotlib.lines\n"
            f"print(json.dumps([matplotlib.lines.Line2D.set.__doc__.endswith({ARTIST_PROPERTIES!r}), "
            "'color' in inspect.signature(matplotlib.lines.Line2D.set).parameters, "
            "'color:' in matplotlib.artist.kwdoc(matplotlib.lines.Line2D)]))")
    kernel = Kernel(demo_db, tmp_path, reports=("sales",))
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
        nbformat.write(nb, tmp_path / "docs.ipynb")
        out = kernel.execute(tmp_path / "docs.ipynb", tmp_path / "run.ipynb", {}, timeout=120)
    finally:
        kernel.close()
    assert json.loads(out.cells[0].outputs[0]["text"]) == [True, True, True]
    assert json.loads(_said_in_a_lab_kernel(code, tmp_path)) == [False, True, True]


def test_a_kernel_crmkit_starts_replies_without_waiting_on_empty_flushes_and_loses_no_output(
        tmp_path, demo_db):
    """A kernel crmkit starts flushes its output streams only when something was written
    and does not sleep before each reply (2-3 ms of every cell); everything a cell writes,
    to either stream, with or without a newline, from the kernel or a child process, is in
    that cell's outputs, in order, also while ipykernel's own timed flush is sending what a
    cell wrote as the cell ends. A kernel started as JupyterLab starts it keeps
    ipykernel's own flush."""
    import nbformat

    probe = ("import json, sys\nprint(json.dumps([type(sys.stdout.flush.__self__).__name__, "
             "get_ipython().kernel._execute_sleep]))")
    cells = [nbformat.v4.new_code_cell(probe)]
    for i in range(40):
        cells.append(nbformat.v4.new_code_cell(
            f"import sys\nprint('out {i}')\nsys.stderr.write('err {i}')\nprint('tail {i}', end='')"))
    for i in range(40):  # ipykernel's own flush runs 0.2 s after a write, as the cell ends
        cells.append(nbformat.v4.new_code_cell(
            f"import time\nprint('{i}' + 'x' * 300_000)\ntime.sleep(0.2)"))
    cells.append(nbformat.v4.new_code_cell(
        "import multiprocessing as mp\n"
        "p = mp.get_context('fork').Process(target=print, args=('from a child',))\n"
        "p.start(); p.join()"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
    nbformat.write(nb, tmp_path / "out.ipynb")
    with Kernel(demo_db, tmp_path, reports=("sales",)) as kernel:
        out = kernel.execute(tmp_path / "out.ipynb", tmp_path / "run.ipynb", {}, timeout=120)
    assert json.loads(out.cells[0].outputs[0]["text"]) == ["_Flushes", 0.0]
    for i, cell in enumerate(out.cells[1:41]):
        streams = {name: "".join(o["text"] for o in cell.outputs if o.get("name") == name)
                   for name in ("stdout", "stderr")}
        assert streams == {"stdout": f"out {i}\ntail {i}", "stderr": f"err {i}"}
    for i, cell in enumerate(out.cells[41:81]):
        assert "".join(o.get("text", "") for o in cell.outputs) == f"{i}" + "x" * 300_000 + "\n"
    assert "from a child" in "".join(o.get("text", "") for o in out.cells[81].outputs)
    assert json.loads(_said_in_a_lab_kernel(probe, tmp_path)) == ["OutStream", 0.0005]


def _said_in_a_lab_kernel(code: str, cwd: Path) -> str:
    """What ``code`` prints in a ``crmkit`` kernel started as JupyterLab starts it."""
    from jupyter_client.manager import start_new_kernel

    km, client = start_new_kernel(kernel_name="crmkit", cwd=str(cwd))
    try:
        said: list[str] = []
        client.execute_interactive(code, timeout=60,
                                   output_hook=lambda msg: said.append(msg["content"].get("text", "")))
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    return "".join(said)


def test_a_stopped_kernel_ends_at_once_and_closing_it_reaps_it(tmp_path, demo_db):
    """A run's kernel is killed as soon as its notebook is done (its memory back while the
    page is exported) and reaped, its folder removed, when it is closed after the page is
    out: the wait and the clean-up were 0.03 s on every cold run's path."""
    import signal

    import psutil

    kernel = Kernel(demo_db, tmp_path)
    process, folder = kernel.km.provisioner.process, kernel._folder
    kernel.stop()
    ended = psutil.Process(process.pid)
    for _ in range(100):  # ended, not reaped: a zombie until close()
        if ended.status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.1)
    assert ended.status() == psutil.STATUS_ZOMBIE and process.returncode is None
    assert folder is not None and folder.exists()
    kernel.close()
    assert process.returncode == -signal.SIGKILL
    assert kernel.km is None and not folder.exists()


def test_the_kernelspec_starts_the_kernel_through_crmkits_launcher():
    """``crmkit install-kernel`` writes ipykernel's command with crmkit's launcher; a
    command it does not know is an error, not a kernel that cannot start."""
    from jupyter_client.kernelspec import KernelSpecManager

    from crmkit.errors import SetupError
    from crmkit.publish.kernel import LAUNCHER, _launched

    python = "/env/bin/python"
    assert _launched([python, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"]) \
        == [python, "-Xfrozen_modules=off", "-m", LAUNCHER, "-f", "{connection_file}"]
    assert _launched([python, "-m", LAUNCHER, "-f", "x"]) == [python, "-m", LAUNCHER, "-f", "x"]
    with pytest.raises(SetupError, match="unexpected kernel command"):
        _launched([python, "-c", "print(1)"])
    installed = KernelSpecManager().get_kernel_spec("crmkit").argv
    assert installed[installed.index("-m") + 1] == LAUNCHER


def test_the_folder_of_a_kernel_whose_command_was_killed_goes_with_the_next_kernel(tmp_path, demo_db,
                                                                                   monkeypatch):
    """A command killed with SIGKILL cannot remove its kernel's folder (connection file and
    sockets; the kernel itself ends once its parent is gone): the next kernel started in the
    same runtime folder removes the folders this machine's processes left when they ended,
    and no other: not a live process's however old its folder, not another machine's."""
    import tempfile

    from crmkit.publish.kernel import _host

    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # short: sockets fit in it
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    parent = os.getppid()  # alive
    stale = runtime / f"ck-{_host()}-{gone.pid}-abcd1234"
    live = runtime / f"ck-{_host()}-{parent}-efgh5678"
    elsewhere = runtime / f"ck-{'0' * 6 if _host() != '0' * 6 else '1' * 6}-{gone.pid}-ijkl9012"
    other = runtime / "kernel-1234.json"  # Jupyter's own files are not crmkit's to remove
    try:
        for folder in (stale, live, elsewhere):
            folder.mkdir(mode=0o700)
            (folder / "k.json").write_text("{}")
        os.utime(live, (1, 1))  # made long before its process started: still its own
        other.write_text("{}")
        kernel = Kernel(demo_db, tmp_path, reports=("sales",))
        try:
            own = Path(kernel.km.connection_file).parent
            assert own.parent == runtime and own.name.startswith(f"ck-{_host()}-{os.getpid()}-")
        finally:
            kernel.close()
        assert not stale.exists()
        assert live.exists() and elsewhere.exists() and other.exists() and not own.exists()
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_kernel_folder_whose_sockets_would_not_fit_is_not_used(runtime_dir, monkeypatch):
    """A Unix socket's path has at most 107 bytes (not characters: a home folder in
    Cyrillic takes two bytes a letter): a runtime folder too deep for one moves the
    kernel's folder to the temporary folder, and with both too deep the kernel keeps
    loopback TCP rather than fail to start."""
    import tempfile

    from crmkit.publish import kernel as kernel_module

    base = runtime_dir  # short: a test's tmp_path may be too deep for a socket already
    letters = kernel_module._SOCKET_PATH - kernel_module._ADDED - len(str(base)) - 1
    assert letters > 0
    deep = base / ("д" * letters)  # short enough in characters, not in bytes
    short = base / "t"
    short.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(deep))
    monkeypatch.setattr(tempfile, "tempdir", str(short))
    folder = kernel_module._kernel_folder()
    assert folder.parent == short and not deep.exists()
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert kernel_module._sockets(folder)["transport"] == "ipc"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(base / "r"))
    assert kernel_module._kernel_folder().parent == base / "r"
    assert "transport" not in kernel_module._sockets(deep / "ck-abcdef-4194304-12345678")  # TCP, Jupyter's default


def test_the_run_command_ends_at_once_with_its_output_said_and_nothing_left(tmp_path, demo_db,
                                                                            runtime_dir):
    """``crmkit run`` ends its process without tearing the interpreter down (a tenth of a
    run): what it printed still reaches a pipe, and its kernel, the kernel's folder and the
    run's temporary files are gone; a bad parameter still says one line, status 2."""
    import os

    import psutil

    runtime = runtime_dir
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    command = [sys.executable, "-m", "crmkit.cli", "run", "sales", "--database", str(demo_db),
               "--output", str(tmp_path / "out"), "--no-server"]
    done = subprocess.run([*command, "--period", "2025-06"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    html = Path(done.stdout.strip())
    assert html.name == "sales.html" and html.is_file()
    assert "wrote" in done.stderr.splitlines()[-1]
    assert list(runtime.iterdir()) == []
    assert not [p for p in psutil.process_iter(["cmdline"])
                if any(str(runtime) in part for part in p.info["cmdline"] or [])]
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".tmp-")]
    bad = subprocess.run([*command, "--period", "2025-13"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and "2025-13" in bad.stderr, bad.stderr


@pytest.mark.parametrize("buffered", [True, False])
def test_a_run_whose_output_cannot_be_written_fails(tmp_path, demo_db, buffered):
    """``crmkit run`` prints the page's path for a script to read (``path=$(crmkit run
    ...)``): when that line cannot be written (the reader gone), the run ends with status
    120, as Python's own exit does, not 0, and says so in one line; whether its output is
    buffered (written as the process ends) or not (written at once)."""
    import os

    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"

    read, write = os.pipe()
    os.close(read)  # nobody reads: writing fails with a broken pipe
    try:
        done = subprocess.run(
            [sys.executable, "-m", "crmkit.cli", "run", "sales", "--period", "2025-06", "--database",
             str(demo_db), "--output", str(tmp_path / "out"), "--no-server"],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=300, env=env)
    finally:
        os.close(write)
    assert done.returncode == 120, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == f"crmkit: error: {cli.NOT_WRITTEN}"
    assert (tmp_path / "out" / "2025-06" / "all" / "sales.html").is_file()


def test_a_run_whose_progress_cannot_be_written_still_publishes(tmp_path, demo_db):
    """``crmkit run ... 2>&1 | head -c 10``: the reader of the progress lines is gone after
    ten bytes. Progress is a courtesy: the run still publishes its page, prints its path
    (here to a file) and ends with status 0 (it stopped before the notebook ran, status 1,
    with nothing written)."""
    import os

    read, write = os.pipe()
    os.close(read)
    out = tmp_path / "stdout.txt"
    try:
        with out.open("w") as stdout:
            done = subprocess.run(
                [sys.executable, "-m", "crmkit.cli", "run", "sales", "--period", "2025-06",
                 "--database", str(demo_db), "--output", str(tmp_path / "out"), "--no-server"],
                stdout=stdout, stderr=write, timeout=300)
    finally:
        os.close(write)
    page = tmp_path / "out" / "2025-06" / "all" / "sales.html"
    assert done.returncode == 0
    assert page.is_file() and out.read_text().strip() == str(page)


#: What the command running a report does not load: the data libraries and the metric layer
#: (its kernel computes the report), seaborn (it draws the charts it is handed), PyArrow
#: (papermill's, for HDFS) and IPython (jupyter_client's, for a legacy kernel folder).
NOT_IN_THE_COMMAND = ("pandas", "narwhals", "pyarrow", "seaborn", "IPython", "crmkit.reports",
                      "crmkit.metrics.sales", "crmkit.store", "crmkit.backends.duckdb")


@pytest.mark.parametrize("report, locale", [*((r, "en") for r in CATALOG), ("sales", "ru")])
def test_the_command_running_a_report_loads_no_data_library(tmp_path, demo_db, report, locale):
    """`crmkit run` checks the parameters, runs the notebook, draws the charts its kernel
    hands over and publishes the page without loading pandas, narwhals, PyArrow, seaborn,
    IPython or the metric layer (its kernel is another process; no chart names a function of a
    module that loads them), and the page comes out whole, every chart drawn; PyArrow still
    imports afterwards. Loading them took 0.3-0.4 s of
    the command's CPU while its kernel booted on the other core."""
    code = (
        "import json, sys\n"
        "from crmkit.cli import main\n"
        f"code = main(['run', {report!r}, '--period', '2025-06', '--team', 'all', "
        f"'--as-of', '2025-07-01', '--database', {str(demo_db)!r}, '--output', "
        f"{str(tmp_path)!r}, '--locale', {locale!r}, '--no-server'])\n"
        f"loaded = [name for name in {NOT_IN_THE_COMMAND!r} if name in sys.modules]\n"
        "import pyarrow\n"
        "print(json.dumps([code, loaded]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [0, []]
    page = (tmp_path / "2025-06" / "all" / f"{report}.html").read_text(encoding="utf-8")
    drawn = page.count("src='data:image/png;base64,")
    assert drawn >= 2 and drawn == page.count("class='ck ck-fig'")  # every chart drawn
