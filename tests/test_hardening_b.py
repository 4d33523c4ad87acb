"""Issue 13, publishing: a report's three files as one unit (7), no state leaking from a
custom report into the next one in a warm kernel (8), an index that survives bad JSON (9),
the failed notebook after a timeout or a dead kernel (14), leftovers of killed runs (15)
and a read-only output folder (16)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from crmkit._files import publish_together, replacing, sweep_temporaries
from crmkit._media import JSON_MIMETYPE
from crmkit.errors import OutputError, ReportError
from crmkit.publish.kernel import Kernel
from crmkit.publish.runner import run_report
from crmkit.publish.site import write_index

ROOT = Path(__file__).parent.parent
STANDARD_CELL = ('period = "last-month"\nteam = "all"\ncompare_to = "previous"\nas_of = None\n'
                 "database = None\ntimezone = None")


def _notebook(folder: Path, name: str, *cells: str) -> Path:
    """A report notebook: the standard parameters cell, then ``cells``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(STANDARD_CELL)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _publishing_cell(report: str, marker: str = "new") -> str:
    """A cell that publishes a small JSON twin (what blocks.publish does)."""
    twin = {"report": report, "period": {"label": "2025-06", "start": "2025-06-01",
                                         "end": "2025-07-01"}, "team": "all", "metrics": {},
            "marker": marker}
    return (f"from IPython.display import display\n"
            f"display({{{JSON_MIMETYPE!r}: {twin!r}}}, raw=True)\n"
            f"print('page marker {marker}')")


def _trio(folder: Path, name: str) -> dict[str, str | None]:
    """The public files of one report (``None`` where missing)."""
    out = {}
    for suffix in (".html", ".json", ".ipynb"):
        path = folder / f"{name}{suffix}"
        out[suffix] = path.read_text() if path.exists() else None
    return out


# -- 7: the three files of a report are published as one unit --------------------------------


class Killed(BaseException):
    """A simulated SIGKILL: nothing after it runs (not even ``except Exception``)."""


def _versioned(v: int) -> dict[str, str]:
    return {".ipynb": f"notebook v{v}", ".json": json.dumps({"version": f"v{v}"}), ".html": f"<html>v{v}</html>"}


def _versions_seen(folder: Path) -> set[int | None]:
    trio = _trio(folder, "sales")
    seen: set[int | None] = set()
    for text in trio.values():
        seen.add(None if text is None else int(text.rsplit("v", 1)[1].split("<")[0].strip('}" ')))
    return seen


def test_publication_killed_at_any_step_leaves_the_old_trio_or_the_new(tmp_path, monkeypatch):
    """Die at every file-system step of a publication in turn: the public page, JSON and
    notebook always come from one version (the first one written by an older crmkit as
    three plain files)."""
    folder = tmp_path / "2025-06" / "all"
    folder.mkdir(parents=True)
    for suffix, text in _versioned(0).items():
        (folder / f"sales{suffix}").write_text(text)
    real = {"replace": os.replace, "symlink": os.symlink, "link": os.link}
    steps = {"n": 0, "die_at": 0}

    def step(name):
        def wrapped(*args, **kwargs):
            steps["n"] += 1
            if steps["n"] == steps["die_at"]:
                raise Killed(name)
            return real[name](*args, **kwargs)
        return wrapped

    for name in real:
        monkeypatch.setattr(os, name, step(name))
    version, kills = 1, 0
    for die_at in range(1, 200):
        steps["n"], steps["die_at"] = 0, die_at
        try:
            publish_together(folder, "sales", _versioned(version))
        except Killed:
            kills += 1
        else:
            version += 1
            if version == 3:
                break
        seen = _versions_seen(folder)
        assert len(seen) == 1 and None not in seen, (die_at, seen, _trio(folder, "sales"))
    assert kills >= 6 and _versions_seen(folder) == {2}


def test_full_disk_while_publishing_keeps_the_previous_trio(tmp_path, demo_db, monkeypatch):
    """The page fails to write (ENOSPC) after the JSON and notebook were written: the old
    page, JSON and notebook all stay; the error is one line."""
    notebooks = tmp_path / "nb"
    _notebook(notebooks, "tiny", _publishing_cell("tiny"))
    out = tmp_path / "out"
    folder = out / "2025-06" / "all"
    folder.mkdir(parents=True)
    old = {".html": "<html>old page</html>", ".json": '{"old": true}', ".ipynb": "old notebook"}
    for suffix, text in old.items():
        (folder / f"tiny{suffix}").write_text(text)
    write_text = Path.write_text

    def full_disk(self, data, *args, **kwargs):
        if self.name.startswith(".tiny.html.") and self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OutputError) as err:
        run_report("tiny", period="2025-06", database=demo_db, output=out, notebooks=notebooks)
    assert "No space left" in str(err.value) and "\n" not in str(err.value)
    assert _trio(folder, "tiny") == old
    monkeypatch.undo()
    run_report("tiny", period="2025-06", database=demo_db, output=out, notebooks=notebooks)
    trio = _trio(folder, "tiny")
    assert json.loads(trio[".json"])["marker"] == "new" and "page marker new" in trio[".ipynb"]
    assert "<html" in trio[".html"].lower()
    assert [p.name for p in (folder / ".tiny.versions").iterdir()].__len__() == 2  # current + 1


# -- 8: no state leaks from a custom report into the next one --------------------------------

EVIL = """
import html, warnings
import matplotlib
from IPython.display import HTML
import crmkit.render.blocks
matplotlib.rcParams['text.usetex'] = True
html.escape = lambda s, quote=True: s
warnings.simplefilter('error')
crmkit.render.blocks.header = lambda ctx: HTML('<script>alert("PLANTED")</script>')
"""

PROBE = """
import html, json, warnings
import matplotlib
print(json.dumps({'usetex': matplotlib.rcParams['text.usetex'], 'escape': html.escape('<b>'),
                  'errors': any(f[0] == 'error' and f[2] is Warning for f in warnings.filters)}))
"""


def test_untrusted_notebook_cannot_leak_state_into_the_next(tmp_path, demo_db):
    evil = _notebook(tmp_path, "evil", EVIL)
    probe = _notebook(tmp_path, "probe", PROBE)
    with Kernel(demo_db, tmp_path) as kernel:
        kernel.execute(evil, tmp_path / "evil.out.ipynb", {}, timeout=60, trusted=False)
        out = kernel.execute(probe, tmp_path / "probe.out.ipynb", {}, timeout=60, trusted=True)
    seen = json.loads(out.cells[1].outputs[0]["text"])
    assert seen == {"usetex": False, "escape": "&lt;b&gt;", "errors": False}


def test_standard_report_after_a_custom_one_on_the_same_kernel(tmp_path, demo_db):
    """A custom report that turns LaTeX on and patches html.escape and the page header,
    then Sales on the same warm kernel (as a batch worker does): Sales publishes its own
    header, and nothing of the custom report's patches."""
    notebooks = tmp_path / "nb"
    _notebook(notebooks, "custom_evil", EVIL, _publishing_cell("custom_evil"))
    shutil.copy(ROOT / "notebooks" / "sales.ipynb", notebooks)
    out = tmp_path / "out"
    with Kernel(demo_db, notebooks) as kernel:
        run_report("custom_evil", period="2025-06", database=demo_db, output=out,
                   notebooks=notebooks, kernel=kernel, update_index=False)
        result = run_report("sales", period="2025-06", database=demo_db, output=out,
                            notebooks=notebooks, kernel=kernel, update_index=False)
    page = result.html.read_text()
    assert page.count("<img") >= 4 and "PLANTED" not in page
    assert "<h1>Sales — All teams — 2025-06</h1>" in page


# -- 9: one bad JSON does not break the index ------------------------------------------------


def _plant(out: Path, team: str, report: str, text: str | bytes) -> Path:
    folder = out / "2025-06" / team
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{report}.html").write_text("<html></html>")
    path = folder / f"{report}.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


BAD_TWINS = {
    "inf_text": '{"report": "sales", "period": {"label": "2025-06", "start": "2025-06-01"},'
                ' "metrics": {"revenue": "inf", "deals_won": "inf", "win_rate": "nan"}}',
    "infinity": '{"report": "sales", "period": {"label": "2025-06", "start": "2025-06-01"},'
                ' "metrics": {"revenue": Infinity, "deals_won": NaN, "win_rate": 1}}',
    "text_metric": '{"report": "custom", "period": {"label": "2025-06"}, "metrics": {"a": "high"}}',
    "truncated": '{"report": "sales", "period": {"lab',
    "binary": b"\xff\xfe\x00garbage",
    "a_list": "[1, 2, 3]",
    "period_number": '{"report": "sales", "period": {"label": 2025, "start": 1}}',
    "bad_changes": '{"report": "custom", "period": {"label": "2025-06"}, "metrics": {"a": 1},'
                   ' "changes": {"a": {"change": "up"}}}',
}


def test_index_skips_and_names_json_it_cannot_read(tmp_path, capsys):
    out = tmp_path / "out"
    good = ('{"report": "custom", "period": {"label": "2025-06", "start": "2025-06-01"},'
            ' "team": "all", "metrics": {"revenue_k": 12}}')
    _plant(out, "all", "custom", good)
    for team, text in BAD_TWINS.items():
        _plant(out, team, "custom", text)
    index = write_index(out).read_text()
    assert "2025-06/all/custom.html" in index
    assert not any(f"2025-06/{team}/" in index for team in BAD_TWINS)
    err = capsys.readouterr().err
    for team in BAD_TWINS:
        lines = [line for line in err.splitlines() if f"{team}/custom.json" in line]
        assert len(lines) == 1 and lines[0].startswith("crmkit: warning: index: skipped"), team
    proc = subprocess.run([sys.executable, "-m", "crmkit.cli", "index", "--output", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


# -- 14: a timeout or a dead kernel keeps the failed notebook and names the cell -------------


@pytest.mark.parametrize("cell, needle", [
    ("import time\ntime.sleep(120)", "timed out"),
    ("import os\nos.kill(os.getpid(), 9)", "Kernel died"),
])
def test_timeout_and_dead_kernel_keep_the_failed_notebook(tmp_path, demo_db, cell, needle):
    notebooks = tmp_path / "nb"
    _notebook(notebooks, "stuck", "print('ran before the failure')", cell, "print('never')")
    out = tmp_path / "out"
    with pytest.raises(ReportError) as err:
        run_report("stuck", period="2025-06", database=demo_db, output=out,
                   notebooks=notebooks, timeout=3)
    e = err.value
    assert e.cell == 3 and needle in str(e) and "\n" not in str(e), str(e)
    kept = out / "2025-06" / "all" / "stuck.failed.ipynb"
    assert e.notebook == kept and kept.exists()
    nb = nbformat.read(kept, as_version=4)
    texts = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "ran before the failure" in texts and "never" not in texts
    failed = [c for c in nb.cells if c.metadata.get("papermill", {}).get("status") == "failed"]
    assert len(failed) == 1 and failed[0].source == cell
    assert not list(out.glob(".tmp-*"))


# -- 15: what killed runs leave behind is removed by the next run ----------------------------

KILLED_WRITER = """
import os, signal, sys, tempfile
from pathlib import Path
from crmkit import _files
out, db = Path(sys.argv[1]), Path(sys.argv[2])
folder = out / "2025-06" / "all"
folder.mkdir(parents=True, exist_ok=True)
# a run folder of a single run, a temporary notebook, a half-made version, an import's database
Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=out), "sales.ipynb").write_text("x")
ctx = _files.replacing(folder / "sales.ipynb"); tmp = ctx.__enter__(); tmp.write_text("half")
(folder / ".sales.versions").mkdir(exist_ok=True)
Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=folder / ".sales.versions"), "sales.html").write_text("x")
dbctx = _files.replacing(db); dbtmp = dbctx.__enter__(); dbtmp.write_text("half db")
Path(str(dbtmp) + ".wal").write_text("wal")
print("ready", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _leftovers(out: Path, db: Path) -> list[str]:
    """Temporary files and folders, and version folders nothing points at."""
    store = out / "2025-06" / "all" / ".sales.versions"
    current = os.readlink(store / "current") if (store / "current").is_symlink() else None
    found = [p for p in out.rglob("*") if ".tmp" in p.name]
    found += [p for p in store.glob("*") if p.name not in ("current", current)]
    found += list(db.parent.glob(f".{db.name}.*"))
    return sorted(str(p) for p in found)


def test_next_run_removes_what_killed_runs_left(tmp_path, demo_db):
    notebooks = tmp_path / "nb"
    _notebook(notebooks, "sales", _publishing_cell("sales"))  # a fast stand-in
    out, db = tmp_path / "out", tmp_path / "data" / "crm.duckdb"
    db.parent.mkdir()
    shutil.copy(demo_db, db)
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out), str(db)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL and "ready" in proc.stdout, proc.stderr
    left = _leftovers(out, db)
    assert len(left) == 5, left  # run folder, notebook, version folder, database, its wal
    # a temporary of a process that still runs is not touched
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        live = out / "2025-06" / "all" / f".sales.json.{alive.pid}-abcdefgh.tmp"
        live.write_text("being written")
        try:
            run_report("sales", period="2025-06", database=db, output=out, notebooks=notebooks)
            assert live.exists()
        finally:
            alive.kill()
    remaining = [p for p in _leftovers(out, db) if str(alive.pid) not in p]
    assert remaining == [], remaining
    # and an import (every database write goes through replacing) cleans its own as well
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out), str(db)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    with replacing(db) as tmp:
        shutil.copy(demo_db, tmp)
    assert not list(db.parent.glob(f".{db.name}.*")), list(db.parent.iterdir())


def test_a_reused_process_id_does_not_protect_a_leftover(tmp_path):
    """A temporary named after a process id that now belongs to a newer process (started
    after the file last changed) is a leftover; one of a process that wrote it is not."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as newer:
        try:
            old = tmp_path / f".sales.json.{newer.pid}-abcdefgh.tmp"
            old.write_text("left by a killed run long ago")
            os.utime(old, (old.stat().st_atime - 3600, old.stat().st_mtime - 3600))
            mine = tmp_path / f".sales.html.{os.getpid()}-abcdefgh.tmp"
            mine.write_text("being written")
            sweep_temporaries(tmp_path)
            assert not old.exists() and mine.exists()
        finally:
            newer.kill()


# -- 16: a read-only output folder is one line, and run-all still prints its summary ---------


@contextlib.contextmanager
def _read_only(folder: Path):
    """Make ``folder`` unwritable, also for root (the immutable attribute where it exists)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a folder read-only for root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crmkit.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_read_only_output_is_one_line_for_run_and_run_all(tmp_path, demo_db):
    notebooks = tmp_path / "nb"
    _notebook(notebooks, "tiny", _publishing_cell("tiny"))
    out = tmp_path / "out"
    preset = tmp_path / "preset.yaml"
    preset.write_text("reports: [tiny]\nperiods: ['2025-06']\nteams: [all]\n")
    common = ["--database", str(demo_db), "--output", str(out), "--notebooks", str(notebooks)]
    with _read_only(out):
        run = _cli("run", "tiny", "--period", "2025-06", *common, cwd=tmp_path)
        run_all = _cli("run-all", str(preset), "--as-of", "2025-07-01", "--no-progress",
                       *common, cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("crmkit: error:")]
    assert len(errors) == 1 and "cannot write" in errors[0] and str(out) in errors[0], run.stderr
    assert run_all.returncode == 1 and "Traceback" not in run_all.stderr, run_all.stderr
    assert "0 ok, 1 failed" in run_all.stdout and "cannot write" in run_all.stdout
    assert not list(out.iterdir())
