"""The report server (``crmkit serve``) and how ``crmkit run`` talks to it.

A served run publishes what a run of its own publishes; no report sees the state another
left (each runs on a fresh kernel); only this user reaches the socket, in a folder closed to
others; whatever it is sent is checked; without a server, or with one that declines,
``crmkit run`` runs the report itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import nbformat
import psutil
import pytest
from published import warm_kernel

from crmkit._media import JSON_MIMETYPE
from crmkit.errors import SetupError
from crmkit.publish import channel, serve
from crmkit.publish.kernel import LAUNCHER
from crmkit.publish.runner import run_report

ROOT = Path(__file__).parent.parent

#: A custom report that says which kernel ran it and whether an earlier report's change to
#: a library module is still there, then makes that change.
PROBE = (
    "import os, json\n"
    "import crmkit.render.plotting as plotting\n"
    "from IPython.display import display\n"
    f"display({{{JSON_MIMETYPE!r}: json.dumps({{'pid': os.getpid(),"
    " 'left_behind': getattr(plotting, 'LEFT_BEHIND', None)})}, raw=True)\n"
    "plotting.LEFT_BEHIND = 'by the previous report'\n"
)


def _private(folder: Path) -> Path:
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    return folder / "serve.sock"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``crmkit serve`` on a socket of its own; the environment its clients run with."""
    sock = _private(tmp_path_factory.mktemp("server") / "private")
    env = {**os.environ, channel.SOCKET_ENV: str(sock)}
    log = tmp_path_factory.mktemp("server-log") / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "crmkit.cli", "serve"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 120
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    yield env, sock, log
    proc.terminate()
    assert proc.wait(60) == 0
    assert not sock.exists()  # removed as it stops


def _cli(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crmkit.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_served_run_publishes_what_a_run_of_its_own_does(server, tmp_path, demo_db):
    env, _, log = server
    served = _cli("run", "sales", "--period", "2025-06", "--database", str(demo_db),
                  "--output", str(tmp_path / "served"), env=env)
    assert served.returncode == 0, served.stderr
    assert "running here" not in served.stderr  # the server ran it, not the command
    _logged(log, "sales 2025-06 all: done")
    page = Path(served.stdout.strip())
    assert page == tmp_path / "served" / "2025-06" / "all" / "sales.html" and page.exists()
    own = run_report("sales", period="2025-06", database=demo_db, output=tmp_path / "own",
                     kernel=warm_kernel(demo_db))
    twin, own_twin = (json.loads(p.read_text()) for p in (page.with_suffix(".json"), own.json))
    assert twin.pop("generated_at") and own_twin.pop("generated_at")  # the clock moved on
    assert twin == own_twin


def test_no_report_sees_what_the_previous_one_left(server, tmp_path, demo_db):
    """Each report runs on a fresh kernel: a module changed by one report is new again in
    the next (the second run takes the spare kernel the server booted after the first)."""
    env, _, log = server
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = {"name": "crmkit", "display_name": "crmkit", "language": "python"}
    nbformat.write(nb, notebooks / "probe.ipynb")
    seen = []
    for _ in range(2):
        done = _cli("run", "probe", "--period", "2025-06", "--database", str(demo_db),
                    "--notebooks", str(notebooks), "--output", str(tmp_path / "out"), env=env)
        assert done.returncode == 0 and "running here" not in done.stderr, done.stderr
        seen.append(json.loads(Path(done.stdout.strip()).with_suffix(".json").read_text()))
    assert [s["left_behind"] for s in seen] == [None, None]
    assert seen[0]["pid"] != seen[1]["pid"]
    deadline = time.monotonic() + 60  # both ran on the server (a silent fallback would not log)
    while log.read_text().count("probe 2025-06 all: done") < 2:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def test_a_failing_served_run_is_one_line_with_the_exit_status(server, tmp_path, demo_db):
    env, _, _ = server
    done = _cli("run", "sales", "--period", "2025-13", "--database", str(demo_db),
                "--output", str(tmp_path / "out"), env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("crmkit: error: ")
    assert "2025-13" in done.stderr and "Traceback" not in done.stderr
    assert "running here" not in done.stderr
    assert not (tmp_path / "out").exists()
    _logged(server[2], "sales 2025-13 all: error")  # the server refused it, not the command


def _logged(log: Path, line: str) -> None:
    """Wait until the server's log has ``line`` (it logs a run just after answering)."""
    deadline = time.monotonic() + 60
    while line not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def test_a_client_of_another_version_is_declined_and_runs_the_report_itself(server, tmp_path):
    """A server started before an upgrade declines a request with other arguments (the
    client then runs the report itself) and keeps serving."""
    _, sock, _ = server
    request = _request(cwd=str(tmp_path), args={"report": "sales", "new_option": True})
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        conn.sendall(json.dumps(request).encode() + b"\n")
        answer = json.loads(conn.makefile("rb").readline())
    assert answer == {"declined": "the server's crmkit takes other run arguments"}
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        conn.sendall(b'{"kind": "ping"}\n')
        assert json.loads(conn.makefile("rb").readline())["pong"] > 0


def test_a_request_carries_no_secret(monkeypatch):
    for name, value in {"CRMKIT_DATABASE_URL": "postgresql://u:pw@h/db", "CRMKIT_SMTP_PASSWORD": "pw",
                        "CRMKIT_SMTP_PASSWORD_FILE": "/s", "CRMKIT_AS_OF": "2025-07-01",
                        "LD_PRELOAD": "x.so"}.items():
        monkeypatch.setenv(name, value)
    sent = channel.run_environment()
    assert sent["CRMKIT_AS_OF"] == "2025-07-01" and set(sent) <= channel.RUN_VARIABLES
    assert "pw" not in json.dumps(sent)


def test_the_socket_is_this_users_alone(server):
    _, sock, _ = server
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600


def test_a_second_server_on_the_same_socket_is_refused(server):
    env, sock, _ = server
    done = _cli("serve", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == f"crmkit: error: a report server already listens on {sock}"


@pytest.mark.parametrize("request_line", [
    b"not json\n",
    b'["a list"]\n',
    b'{"kind": "shell", "cmd": "id"}\n',
    b'{"kind": "run", "root": "/", "cwd": "relative", "env": {}, "args": {}}\n',
    b"x" * (channel.MAX_MESSAGE + 10) + b"\n",
    b"[" * 30_000 + b"]" * 30_000 + b"\n",  # nested deeper than the JSON parser recurses
])
def test_a_bad_request_is_answered_and_the_server_keeps_serving(server, request_line):
    _, sock, _ = server
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        conn.sendall(request_line)
        answer = json.loads(conn.makefile("rb").readline())
    assert answer["exit"] == 2 and answer["error"].startswith("bad request: ")
    with socket.socket(socket.AF_UNIX) as conn:  # still serving
        conn.connect(str(sock))
        conn.sendall(b'{"kind": "ping"}\n')
        assert json.loads(conn.makefile("rb").readline())["pong"] > 0


def _request(**changes):
    args = {name: None for name in serve.RUN_ARGUMENTS}
    args.update(report="sales", period="2025-06", team="all", compare_to="previous",
                output="output", timeout=600, extra={})
    request = {"kind": "run", "root": str(channel.PACKAGE), "cwd": "/tmp", "env": {}, "args": args}
    for key, value in changes.items():
        if key in args:
            args[key] = value
        else:
            request[key] = value
    return request


@pytest.mark.parametrize("changes, needle", [
    ({"env": {"CRMKIT_DATABASE_URL": "postgresql://u:secret@h/db"}}, "env"),
    ({"env": {"LD_PRELOAD": "/tmp/evil.so"}}, "env"),
    ({"env": {"CRMKIT_AS_OF": 1}}, "env"),
    ({"cwd": "../etc"}, "cwd"),
    ({"timeout": "600"}, "timeout"),
    ({"timeout": True}, "timeout"),
    ({"extra": {"active_days": 60}}, "extra"),
    ({"env": {"CRMKIT_SMTP_PASSWORD": "secret"}}, "env"),
    ({"args": {"report": "sales"}}, "other run arguments"),
    ({"root": "/another/checkout/crmkit"}, "runs crmkit from"),
])
def test_run_requests_are_checked(changes, needle):
    request = _request(**changes)
    with pytest.raises(ValueError, match=needle):
        serve.checked_request(request)


def test_a_good_request_passes_unchanged():
    request = _request(env={"CRMKIT_AS_OF": "2025-07-01", "TZ": "UTC"})
    assert serve.checked_request(json.loads(json.dumps(request))) == request


def test_a_run_takes_the_clients_folder_and_environment_then_gives_them_back(tmp_path, monkeypatch):
    monkeypatch.setenv("CRMKIT_DATABASE_URL", "postgresql://u:secret@h/db")
    monkeypatch.setenv("CRMKIT_AS_OF", "2024-01-01")
    here = os.getcwd()
    with serve._as_client(tmp_path, {"CRMKIT_AS_OF": "2025-07-01"}):
        assert os.getcwd() == str(tmp_path)
        assert os.environ["CRMKIT_AS_OF"] == "2025-07-01"
        assert "CRMKIT_DATABASE_URL" not in os.environ  # the server's password stays out
    assert os.getcwd() == here
    assert os.environ["CRMKIT_AS_OF"] == "2024-01-01"
    assert os.environ["CRMKIT_DATABASE_URL"].endswith("@h/db")


def test_without_a_server_the_command_runs_the_report_itself(tmp_path, monkeypatch):
    monkeypatch.setenv(channel.SOCKET_ENV, str(_private(tmp_path / "none")))
    said = []
    assert channel.request_run({}, said.append) is None
    assert said == []  # no server up is not worth a word
    monkeypatch.setenv(channel.SOCKET_ENV, str(tmp_path / "missing" / "serve.sock"))
    assert channel.request_run({}, said.append) is None


def test_a_folder_open_to_others_is_not_used(tmp_path, monkeypatch):
    sock = _private(tmp_path / "open")
    sock.parent.chmod(0o755)
    monkeypatch.setenv(channel.SOCKET_ENV, str(sock))
    said = []
    assert channel.request_run({}, said.append) is None
    assert len(said) == 1 and "not using the report server" in said[0] and "0700" in said[0]
    with pytest.raises(SetupError, match="0700"):
        serve.serve(said.append)
    link = tmp_path / "link"
    link.symlink_to(_private(tmp_path / "real").parent)
    with pytest.raises(SetupError, match="not a link"):
        channel.private_folder(link)


def test_a_postgresql_run_is_never_handed_over(monkeypatch):
    """The database URL (a password) would travel: such a run stays in the command."""
    from crmkit import cli

    monkeypatch.delenv("CRMKIT_DATABASE", raising=False)
    monkeypatch.setenv("CRMKIT_DATABASE_URL", "postgresql://u:secret@localhost/db")
    monkeypatch.setattr(channel, "request_run", lambda *a: pytest.fail("handed over"))
    args = cli._parser().parse_args(["run", "sales"])
    assert cli._served(args, {}) is None


def test_the_code_stamp_changes_with_the_code(tmp_path, monkeypatch):
    (tmp_path / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(channel, "PACKAGE", tmp_path)
    before = channel.code_stamp()
    (tmp_path / "m.py").write_text("x = 22\n")
    assert channel.code_stamp() != before
    (tmp_path / "page.css").write_text("a {}\n")  # templates, styles, catalogues too
    after_css = channel.code_stamp()
    assert after_css != before
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.pyc").write_bytes(b"x")
    assert channel.code_stamp() == after_css


def _kernels(server_pid: int) -> set[int]:
    """The kernels of the server's batch workers (not its spare kernel, its own child)."""
    return {p.pid for p in psutil.Process(server_pid).children(recursive=True)
            if LAUNCHER in p.cmdline() and p.ppid() != server_pid}


def test_a_served_batch_runs_on_workers_kept_warm(server, tmp_path, demo_db):
    """``crmkit run-all`` hands its batch to the server, which runs it on batch workers it
    keeps from one batch to the next, their kernels booted: the pages a batch of its own
    publishes, and between batches no worker holds the database (it can be written)."""
    env, sock, log = server
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        conn.sendall(b'{"kind": "ping"}\n')
        server_pid = json.loads(conn.makefile("rb").readline())["pong"]
    db = tmp_path / "crm.duckdb"
    shutil.copy(demo_db, db)
    preset = tmp_path / "preset.yaml"
    preset.write_text("reports: [sales, satisfaction]\nperiods: [2025-06]\nteams: [all]\n")
    batch = ("run-all", str(preset), "--database", str(db), "--as-of", "2025-07-01", "--force",
             "--workers", "2")
    kernels = []
    for n in (1, 2):
        done = _cli(*batch, "--output", str(tmp_path / "served"), env=env)
        assert done.returncode == 0 and "running here" not in done.stderr, done.stderr
        assert "2 ok, 0 failed (0 fresh, 2 re-rendered)" in done.stdout
        assert "2 reports" in done.stderr  # the batch's progress, from the server
        # its bar as it is redrawn (text mode reads the carriage returns as new lines)
        assert "| 0/2 [00:00]" in done.stderr and "remaining 0" in done.stderr
        deadline = time.monotonic() + 60
        while log.read_text().count(f"{preset}: done") < n:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        kernels.append(_kernels(server_pid))
        duckdb.connect(str(db)).close()  # read-write: no kept store holds it
    assert len(kernels[0]) == 2 and kernels[0] == kernels[1]  # the same kernels, kept
    own = _cli(*batch, "--output", str(tmp_path / "own"), "--no-server", env=env)
    assert own.returncode == 0, own.stderr
    for report in ("sales", "satisfaction"):
        twins = [json.loads((tmp_path / where / "2025-06" / "all" / f"{report}.json").read_text())
                 for where in ("served", "own")]
        assert all(twin.pop("generated_at") for twin in twins)
        assert twins[0] == twins[1]


def test_a_served_batch_whose_command_is_interrupted_starts_no_more_pages(server, tmp_path,
                                                                        demo_db):
    """Ctrl-C in ``crmkit run-all`` while the server runs its batch: the pages in progress
    finish, no other starts (the server says how many), the index is written, and the
    server goes on serving."""
    env, sock, log = server
    preset = tmp_path / "preset.yaml"
    preset.write_text("reports: [sales, satisfaction, marketing]\n"
                      "periods: [2025-04, 2025-05, 2025-06]\nteams: [all]\n")
    out = tmp_path / "out"
    client = subprocess.Popen(
        [sys.executable, "-m", "crmkit.cli", "run-all", str(preset), "--database", str(demo_db),
         "--as-of", "2025-07-01", "--workers", "1", "--output", str(out)],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert client.stderr is not None
        for line in client.stderr:  # the bar's first state: the batch has begun
            if "| 0/9 [" in line:
                break
        else:
            raise AssertionError("the served batch did not start")
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=60)
    finally:
        client.kill()
    assert "finishes the pages in progress and starts no other" in err
    assert client.returncode == 130
    _logged(log, f"{preset}: its command went away: ")
    said = log.read_text().split(f"{preset}: its command went away: ")[-1]
    not_started = int(said.split()[0])
    assert 7 <= not_started <= 8  # one worker: the page in progress, perhaps the next
    pages = list(out.glob("2025-*/all/*.html"))
    assert len(pages) == 9 - not_started
    assert (out / "index.html").exists()
    status = json.loads((out / "status.json").read_text())
    assert sum("not run" in (row.get("error") or "") for row in status["reports"]) == not_started
    ping = _cli("run", "sales", "--period", "2025-06", "--database", str(demo_db),
                "--output", str(tmp_path / "after"), env=env)
    assert ping.returncode == 0 and "running here" not in ping.stderr, ping.stderr


def test_a_batch_that_sends_e_mail_is_not_served(tmp_path, monkeypatch, demo_db):
    """The SMTP settings are the client's: such a batch runs in the client, unless it only
    writes its e-mails (--dry-run)."""
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "mail.yaml"
    preset.write_text("reports: [sales]\nperiods: [2025-06]\ndeliver:\n  from: r@example.com\n"
                      "  smtp: {host: 127.0.0.1, port: 1}\n  to:\n    - {to: [m@example.com]}\n")
    args = {name: None for name in serve.BATCH_ARGUMENTS}
    args.update(preset=str(preset), database=str(demo_db), output="out", progress=False,
                dry_run=False, force=False)
    server = serve.ReportServer(tmp_path / "s.sock", lambda _: None)
    assert serve.checked_request({"kind": "batch", "root": str(channel.PACKAGE),
                                  "cwd": str(tmp_path), "env": {}, "args": args})["args"] == args
    assert server._batch(args, lambda _: None) == {
        "declined": "the preset sends e-mail, with the client's SMTP settings"}
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("changes, needle", [
    ({"force": 1}, "force"),
    ({"workers": 0}, "workers"),
    ({"workers": 10**12}, "workers"),
    ({"workers": True}, "workers"),
    ({"preset": None}, "preset"),
    ({"extra": {}}, "other batch arguments"),
])
def test_batch_requests_are_checked(changes, needle):
    args = {name: None for name in serve.BATCH_ARGUMENTS}
    args.update(preset="params/monthly.yaml", output="output", progress=True, dry_run=False,
                force=False)
    args.update(changes)
    request = {"kind": "batch", "root": str(channel.PACKAGE), "cwd": "/tmp", "env": {}, "args": args}
    with pytest.raises(ValueError, match=needle):
        serve.checked_request(request)


def test_an_idle_server_shuts_its_batch_workers_down(tmp_path, monkeypatch):
    """With no request for :data:`serve.WARM_IDLE` seconds the server gives the memory of its
    batch workers back (the next batch starts them again)."""

    class Stopped(Exception):
        pass

    class Pool:  # records the shutdown, then stops the server's loop
        closed = 0

        def close(self) -> None:
            Pool.closed += 1
            if Pool.closed == 1:
                raise Stopped

    def too_long(*_: object) -> None:
        raise AssertionError("the idle server never shut its batch workers down")

    monkeypatch.setattr(serve, "WarmPool", Pool)
    monkeypatch.setattr(serve, "WARM_IDLE", 0.2)
    monkeypatch.setenv(channel.SOCKET_ENV, str(_private(tmp_path / "private")))
    monkeypatch.delenv("CRMKIT_DATABASE", raising=False)  # no spare kernel to boot
    monkeypatch.chdir(tmp_path)
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        with pytest.raises(Stopped):
            serve.serve(lambda _: None)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert Pool.closed == 2  # when idle, then as the server stopped


def test_a_server_of_an_older_crmkit_leaves_the_batch_to_the_command(tmp_path, monkeypatch):
    """A server started before batches could be handed over refuses the request as a bad
    one: the command runs the batch itself rather than fail."""
    sock = _private(tmp_path / "private")
    monkeypatch.setenv(channel.SOCKET_ENV, str(sock))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.listen(1)

    def old_server() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rwb") as stream:
            stream.readline()
            channel.send(stream, {"error": "bad request: kind must be run or ping", "exit": 2})

    thread = threading.Thread(target=old_server)
    thread.start()
    said: list[str] = []
    try:
        assert channel.request_run({"preset": "p.yaml"}, said.append, kind="batch") is None
    finally:
        thread.join(10)
        listener.close()
    assert said == ["the report server runs single reports only (an older crmkit); running here"]


def test_a_batch_s_progress_bar_reaches_the_client_as_it_is_redrawn():
    """The batch's bar (tqdm) is redrawn with a carriage return: each new state goes to the
    client's bar, the state it ends with and the lines after it as progress lines."""
    from tqdm import tqdm

    said, bars = [], []
    stream = serve._Lines(said.append, bars.append)
    bar = tqdm(total=3, file=stream, mininterval=0, miniters=1, bar_format="{n_fmt}/{total_fmt}")
    for _ in range(3):
        bar.update(1)
    bar.close()
    print("crmkit: 3 reports in 1.0 s", file=stream)
    assert bars == ["0/3", "1/3", "2/3", "3/3"]
    assert said == ["3/3", "3 reports in 1.0 s"]
    bar = tqdm(total=2, file=stream, mininterval=0, miniters=1, bar_format="{n_fmt}/{total_fmt}")
    bar.update(1)
    bar.write("crmkit: FAILED sales: boom", file=stream)  # between two redraws
    bar.close()
    assert "crmkit: FAILED sales: boom" not in bars and "FAILED sales: boom" in said
    quiet: list[str] = []  # without a bar: its last state only, as a line
    stream = serve._Lines(quiet.append)
    stream.write("\r0/3")
    stream.write("\r1/3")
    stream.write("\r3/3\n")
    assert quiet == ["3/3"]


def test_the_client_redraws_the_bar_in_place_and_a_line_replaces_it(capsys):
    from crmkit import cli

    line = cli._RedrawnLine()
    line.redraw("1/3 long")
    line.redraw("2/3")
    line.progress("3 reports in 1.0 s")
    assert capsys.readouterr().err == "\r1/3 long\r2/3     \r        \rcrmkit: 3 reports in 1.0 s\n"
