"""The ``crmkit`` kernel's entry point: ipykernel's own, with the garbage collector held off
while a kernel that crmkit starts gets ready.

Such a kernel imports IPython and then the report libraries (pandas, matplotlib, narwhals,
PyArrow, DuckDB): a few hundred thousand objects that live as long as the kernel, which
each full collection on the way scanned again (3 full and 38 younger ones, 0.2-0.35 s of
the kernel's start). Here the collector is off until the kernel has initialised (its
``exec_lines`` warm-up included); then what the start made is frozen out of its sight and
it runs as usual for whatever the notebooks make. Such a kernel also starts without the
debugger: ipykernel imports debugpy as it starts (0.05 s, and a ``uname`` process), for a
front end's debugging panel, which a notebook run by papermill has not; a notebook may still
``import debugpy``. Only with :data:`FROZEN_START` set in the
kernel's environment (:class:`crmkit.publish.kernel.Kernel` sets it): a kernel an analyst
starts in JupyterLab starts as ipykernel's does, every object in the collector's sight
(memory tools, the debugger's referrers). The kernelspec
(:func:`crmkit.publish.kernel.install_kernel`) names this module where ipykernel's names
``ipykernel_launcher``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

#: The environment variable that asks for the start above ("1"); not passed on to the
#: notebooks.
FROZEN_START = "CRMKIT_FROZEN_START"

#: The environment variable ("1") of a kernel started before its connection file was
#: written (:mod:`crmkit.publish.spawn`): it loads ipykernel, then waits for the file.
PENDING = "CRMKIT_CONNECTION_PENDING"

#: How long a kernel waits for its connection file (its manager gave up long before).
WAIT = 120.0


def main() -> None:
    # As ipykernel_launcher does: the working folder (a notebooks folder) leaves sys.path
    # while the kernel loads its libraries (IPython puts it back for the notebooks' own
    # imports), so a file there named like one of them is not imported in its place.
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    frozen = os.environ.pop(FROZEN_START, "") == "1"
    pending = os.environ.pop(PENDING, "") == "1"
    if frozen:
        gc.disable()
        sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]  # ipykernel: no debugger
    try:
        from ipykernel.kernelapp import IPKernelApp

        if pending:
            _wait_for_connection_file(sys.argv)
        app = IPKernelApp.instance()
        app.initialize()
        if frozen:
            _quick_replies(app)
    finally:
        if frozen:
            if "debugpy" in sys.modules and sys.modules["debugpy"] is None:
                del sys.modules["debugpy"]
            gc.freeze()
            gc.enable()
    app.start()


#: What :func:`_quick_replies` reads of ipykernel's output streams (ipykernel 7).
_STREAM_STATE = ("_flush", "_flush_pending", "_subprocess_flush_pending", "_buffers")


def _quick_replies(app: Any) -> None:
    """A kernel crmkit started replies to each cell without two waits that ipykernel makes
    before every reply (a notebook's cells, 2-3 ms of the 6-9 ms each takes end to end).

    Its standard output and error flush only when there is something to send: ipykernel
    hands every flush (four for each cell) to its output thread and waits until that thread
    has run it, written or not. A flush waits as before when the stream holds what was
    written, when a flush of it is due (ipykernel sends what was written 0.2 s later) or
    while one runs on the output thread: that flush has taken what was written and not yet
    queued it, and the cell's end must be queued after it (:class:`_Flushes`). And it
    sleeps no half millisecond before each reply (``Kernel._execute_sleep``, which
    ipykernel keeps "to mitigate" flushes that went missing). A kernel an analyst starts in
    JupyterLab keeps both."""
    kernel = getattr(app, "kernel", None)
    if kernel is not None and isinstance(getattr(kernel, "_execute_sleep", None), float):
        kernel._execute_sleep = 0.0
    for stream in (sys.stdout, sys.stderr):
        if all(hasattr(stream, name) for name in _STREAM_STATE) and getattr(stream, "echo", None) is None:
            _Flushes(stream)


class _Flushes:
    """``stream``'s flushes (an ipykernel ``OutStream``), counted while they run on its
    output thread; its ``flush`` waits for one only when there is something to send."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.running = stream, 0
        self.send, self.wait = stream._flush, stream.flush
        stream._flush = self.sending  # what its flushes schedule on the output thread
        stream.flush = self.flush

    def sending(self) -> None:
        self.running += 1  # before it takes what was written (one thread: no race here)
        try:
            self.send()
        finally:
            self.running -= 1

    def flush(self) -> None:
        stream = self.stream  # in this order: each is set before the next is cleared
        if stream._flush_pending or stream._subprocess_flush_pending or \
                any(buffer.tell() for buffer in list(stream._buffers.values())) or self.running:
            self.wait()


def _wait_for_connection_file(argv: list[str]) -> None:
    """Wait until the connection file named after ``-f`` holds a whole JSON object (its
    manager writes it once this process has started); end this process if the process
    that started it (``$JPY_PARENT_PID``, as jupyter_client names it) has ended, or after
    :data:`WAIT` seconds."""
    path = Path(argv[argv.index("-f") + 1]) if "-f" in argv[:-1] else None
    if path is None:
        return
    named = os.environ.get("JPY_PARENT_PID", "")
    parent, deadline = int(named) if named.isdigit() else os.getppid(), time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if os.getppid() != parent:
            raise SystemExit(1)  # its command is gone (interrupted, killed): nothing to say
        try:
            if isinstance(json.loads(path.read_text()), dict):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    raise SystemExit(f"crmkit kernel: no connection file {path} after {WAIT:.0f} s")


if __name__ == "__main__":
    main()
