"""A kernel's process started before Jupyter's client is loaded.

A cold ``crmkit run`` waits for its kernel: the kernel's start and its imports are the
longest part of the run's path. jupyter_client and what it loads (asyncio, ZeroMQ,
traitlets) took the command 0.15 s before it started the kernel's process. So
:class:`crmkit.publish.kernel.Kernel` starts that process first, here, with the standard
library only: the kernelspec's command, as jupyter_client builds it, on a connection file
that does not exist yet (the kernel's entry point waits for it:
:data:`crmkit.publish.launcher.PENDING`). Then it loads jupyter_client, whose kernel manager
writes the connection file and takes this process as the one it launched, if it would have
launched exactly this command with exactly this environment (:meth:`Early.matches`);
otherwise this process is killed and the manager launches its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crmkit.publish.launcher import PENDING

#: The module crmkit's kernelspec runs, in place of ipykernel's ``ipykernel_launcher``.
LAUNCHER = "crmkit.publish.launcher"


@dataclass
class Early:
    """A kernel process started ahead of its manager."""

    process: subprocess.Popen[bytes]
    argv: list[str]
    #: its environment, as the manager's would be (without :data:`PENDING`)
    env: dict[str, str] = field(repr=False)

    def matches(self, argv: Sequence[str], env: Mapping[str, str] | None) -> bool:
        """Whether jupyter_client would launch ``argv`` with ``env`` exactly as this
        process was, and the process still runs."""
        wanted = {**(os.environ if env is None else env), "JPY_PARENT_PID": str(os.getpid())}
        return ([os.path.expanduser(a) for a in argv] == self.argv and wanted == self.env
                and self.process.poll() is None)

    def kill(self) -> None:
        """End the process and what it started (its own session), and reap it; not once
        reaped (its number may be another's by then)."""
        if self.process.returncode is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)


def start_early(name: str, connection_file: Path, cwd: Path, env: Mapping[str, str],
                extra_arguments: Sequence[str]) -> Early | None:
    """Start kernel ``name``'s process as jupyter_client's local provisioner would, on
    ``connection_file`` (written later by the manager). None where it cannot be sure of
    the command (the kernelspec not found, not crmkit's launcher on this Python, or with an
    environment of its own) or where processes have no sessions (Windows)."""
    if os.name == "nt":
        return None
    try:
        spec = _kernel_spec(name)
        if spec is None:
            return None
        resources, argv = spec
        argv = _command(argv, extra_arguments, connection_file, resources)
        final = {**env, "JPY_PARENT_PID": str(os.getpid())}
        final.pop("PYTHONEXECUTABLE", None)  # as jupyter_client's provisioner does for Python
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, cwd=str(cwd),
                                   env={**final, PENDING: "1"}, start_new_session=True)
    except Exception:  # noqa: BLE001 - the manager launches the kernel as usual
        return None
    if process.stdin is not None:  # as jupyter_client's launcher: what reads stdin gets its end
        process.stdin.close()
    return Early(process, argv, final)


def _kernel_spec(name: str) -> tuple[Path, list[str]] | None:
    """The folder and command of kernelspec ``name``, found where jupyter_client looks
    first; None unless it is a plain command running crmkit's launcher on this Python (a
    kernel of another kind would not wait for its connection file)."""
    from jupyter_core.paths import jupyter_path  # lazy: only as a kernel starts

    for folder in jupyter_path("kernels"):
        path = Path(folder) / name / "kernel.json"
        if not path.is_file():
            continue
        spec = json.loads(path.read_text())
        argv = spec.get("argv") if isinstance(spec, dict) else None
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or spec.get("env"):
            return None
        python = sys.executable if argv and argv[0] in _PYTHONS else (argv or [""])[0]
        launched = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-m"]
        if launched[:1] != [LAUNCHER] or os.path.realpath(python) != os.path.realpath(sys.executable):
            return None
        return path.parent, argv
    return None


#: The interpreter names jupyter_client replaces with this Python.
_PYTHONS = frozenset({"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])})


_FIELD = re.compile(r"\{([A-Za-z0-9_]+)\}")


def _command(argv: list[str], extra: Sequence[str], connection_file: Path, resources: Path) -> list[str]:
    """jupyter_client's ``format_kernel_cmd``, then its launcher's ``expanduser``."""
    cmd = [*argv, *extra]
    if cmd and cmd[0] in _PYTHONS:
        cmd = [sys.executable, *cmd[1:]]
    fields = {"connection_file": os.path.realpath(connection_file), "prefix": sys.prefix,
              "resource_dir": str(resources)}
    return [os.path.expanduser(_FIELD.sub(lambda m: fields.get(m.group(1), m.group()), a)) for a in cmd]
