"""A kernel's process starts before Jupyter's client is loaded, and its manager takes it.

The kernel's start is the longest part of a cold run's path: the process starts 0.06-0.10 s
into the command instead of 0.22-0.27 s (jupyter_client, asyncio and ZeroMQ load after it).
The manager takes that process only if it would have launched the very same command with the
very same environment; otherwise the process is killed and the manager launches its own. A
kernel waiting for its connection file ends when the process that started it is gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crmkit.publish.launcher import FROZEN_START, PENDING

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from pathlib import Path
import nbformat
from crmkit.publish import kernel as k, spawn
seen = {}
real = spawn.start_early
def watched(*args, **kwargs):
    seen["loaded"] = sorted(m for m in ("jupyter_client", "zmq", "asyncio", "filelock", "babel") if m in sys.modules)
    seen["early"] = real(*args, **kwargs)
    return seen["early"]
k.start_early = watched
if sys.argv[2] == "differs":  # as if jupyter_client would launch another command
    spawn.Early.matches = lambda self, argv, env: False
kernel = k.Kernel(Path(sys.argv[1]), Path(sys.argv[3]), reports=("sales",))
taken = kernel.km.provisioner.process is seen["early"].process
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    "import subprocess\\nprint(6 * 7, subprocess.run(['cat'], capture_output=True, timeout=20).stdout)")])
nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
nbformat.write(nb, Path(sys.argv[3]) / "p.ipynb")
out = kernel.execute(Path(sys.argv[3]) / "p.ipynb", Path(sys.argv[3]) / "r.ipynb", {}, timeout=120)
kernel.close()
print(json.dumps({"loaded": seen["loaded"], "taken": taken, "said": out.cells[0].outputs[0]["text"],
                  "early_ended": seen["early"].process.poll() is not None}))
"""


def _probe(db: Path, tmp: Path, mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(db), mode, str(tmp)], capture_output=True,
                          text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_kernel_s_process_starts_before_jupyter_client_and_its_manager_takes_it(tmp_path, demo_db):
    """When the process starts, neither jupyter_client, ZeroMQ, asyncio nor the file locks
    are loaded; the manager runs that process (no second one) and the notebook runs."""
    seen = _probe(demo_db, tmp_path, "same")
    assert seen["loaded"] == []
    # what reads the kernel's standard input gets its end at once (jupyter_client closes it)
    assert seen["taken"] and seen["said"] == "42 b''\n" and seen["early_ended"]


def test_a_process_its_manager_would_not_have_launched_is_killed_and_replaced(tmp_path, demo_db):
    """Where jupyter_client would launch another command or environment (another
    kernelspec found, a changed library), the process started early is killed and the
    manager launches its own: the notebook still runs, no process is left."""
    seen = _probe(demo_db, tmp_path, "differs")
    assert not seen["taken"] and seen["said"] == "42 b''\n" and seen["early_ended"]


def _ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def test_a_kernel_waiting_for_its_connection_file_ends_with_the_process_that_started_it(tmp_path):
    """A command killed between starting its kernel and writing the kernel's connection
    file leaves no kernel waiting: the kernel ends once its parent is gone."""
    starter = (
        "import os, subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'crmkit.publish.launcher', '-f', sys.argv[1]],"
        f" env={{**os.environ, {PENDING!r}: '1', {FROZEN_START!r}: '1', 'JPY_PARENT_PID': str(os.getpid())}},"
        " start_new_session=True,"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(p.pid, flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", starter, str(tmp_path / "k.json")], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 30
    while not _ended(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ended(pid)
    assert not (tmp_path / "k.json").exists()  # it wrote no connection file of its own


def test_the_kernel_loads_a_connection_file_only_once_it_is_whole(tmp_path):
    """The manager writes the file while the kernel may be reading it: half a file is read
    again, not taken as the kernel's connection."""
    from crmkit.publish import launcher

    path = tmp_path / "k.json"
    path.write_text('{"shell_port": 1, "key": "ab')  # half written
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(0.3); "
                             f"open({str(path)!r}, 'w').write('{{\"shell_port\": 1}}')"])
    launcher._wait_for_connection_file(["launcher", "-f", str(path)])
    assert time.monotonic() - started >= 0.25
    assert json.loads(path.read_text()) == {"shell_port": 1}
    proc.wait()


def test_the_command_and_environment_are_those_jupyter_client_would_launch(tmp_path):
    """The kernelspec's command as jupyter_client's manager formats it, and a process is
    taken only for that very command and environment (a variable more, less or changed,
    say a password the manager would not pass, and it is not)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    from crmkit.publish import spawn

    extra = ["--IPKernelApp.exec_lines=[\"x = 1\"]", "--HistoryManager.enabled=False"]
    resources, argv = spawn._kernel_spec("crmkit")
    assert Path(KernelSpecManager().get_kernel_spec("crmkit").resource_dir).resolve() == resources.resolve()
    km = KernelManager(kernel_name="crmkit", connection_file=str(tmp_path / "k.json"))
    km._launch_args = {"cwd": str(tmp_path), "env": {}, "extra_arguments": extra}
    ours = spawn._command(argv, extra, tmp_path / "k.json", resources)
    assert [os.path.expanduser(a) for a in km.format_kernel_cmd(extra_arguments=extra)] == ours
    env = {"PATH": os.environ["PATH"], "HOME": "/nowhere"}
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    early = spawn.Early(process, ours, {**env, "JPY_PARENT_PID": str(os.getpid())})
    try:
        assert early.matches(ours, env)
        assert not early.matches(ours, {**env, "PGPASSWORD": "secret"})
        assert not early.matches(ours, {"PATH": env["PATH"]})
        assert not early.matches(ours, {**env, "HOME": "/elsewhere"})
        assert not early.matches([*ours, "--debug"], env)
    finally:
        early.kill()
    assert not early.matches(ours, env)  # it has ended


def test_a_kernelspec_that_is_not_crmkits_launcher_on_this_python_is_started_by_the_manager(
        tmp_path, monkeypatch):
    """A kernel that would not wait for its connection file (ipykernel's own launcher, an
    older kernelspec, another Python) or a kernel.json that is not one is left to
    jupyter_client: no process is started ahead of it."""
    from crmkit.publish import spawn

    spec = tmp_path / "kernels" / "crmkit"
    spec.mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    for argv in ([sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                 ["/usr/bin/python3", "-m", spawn.LAUNCHER, "-f", "{connection_file}"]):
        (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
        assert spawn._kernel_spec("crmkit") is None
    (spec / "kernel.json").write_text("[]")
    assert spawn.start_early("crmkit", tmp_path / "k.json", tmp_path, dict(os.environ), []) is None
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": ["python", "-m", spawn.LAUNCHER, "-f", "{connection_file}"], "language": "python"}))
    assert spawn._kernel_spec("crmkit") == (spec, ["python", "-m", spawn.LAUNCHER, "-f", "{connection_file}"])


@pytest.mark.parametrize("stopped", ["interrupted", "unloadable"])
def test_a_kernel_whose_manager_cannot_be_made_leaves_no_process_and_no_folder(tmp_path, demo_db,
                                                                              monkeypatch, stopped):
    """Ctrl-C while jupyter_client loads, or jupyter_client failing to load: that error
    itself comes out (not one of the clean-up), the process started ahead is killed and
    the kernel's folder removed."""
    from crmkit.publish import kernel as kernel_module

    started = []
    real = kernel_module.start_early

    def watched(*args, **kwargs):
        started.append((args[1], real(*args, **kwargs)))
        return started[-1][1]

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(kernel_module, "start_early", watched)
    if stopped == "interrupted":
        monkeypatch.setattr(kernel_module, "_manager", interrupted)
    else:
        monkeypatch.setitem(sys.modules, "jupyter_client.kernelspec", None)
    with pytest.raises(KeyboardInterrupt if stopped == "interrupted" else ImportError):
        kernel_module.Kernel(demo_db, tmp_path, reports=("sales",))
    (connection_file, early), = started
    assert early is not None and early.process.poll() is not None
    assert not connection_file.parent.exists()
