"""The fixed ``crmkit`` Jupyter kernel: installing it, and keeping one warm.

Every notebook names this kernel and the runner passes it explicitly, so no analyst's local
kernel list can break a scheduled run. A :class:`Kernel` imports the report libraries as it
starts (the modules every report of the registry names), then runs notebooks one after
another; batch runs keep one per worker process, and a single run starts one while it
validates its parameters.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import run_sync

from crmkit._files import write_atomic
from crmkit.backends.location import ENV_URL, Database, Location
from crmkit.errors import ReportError

if TYPE_CHECKING:
    import nbformat

KERNEL_NAME = "crmkit"

#: Also imported when the data is read from PostgreSQL.
WARM_UP_POSTGRES = ("crmkit.backends.postgres", "ibis.backends.postgres")


def install_kernel() -> Path:
    """Install the ``crmkit`` kernelspec into this environment (``sys.prefix``).

    The kernel logs errors only (ipykernel's start-up notice about unencrypted local TCP
    would otherwise print on every run).
    """
    from ipykernel.kernelspec import install  # lazy: ipykernel costs 0.3 s of CLI start-up

    path = Path(install(kernel_name=KERNEL_NAME, display_name="Python (crmkit)", prefix=sys.prefix))
    spec_file = path / "kernel.json"
    spec = json.loads(spec_file.read_text())
    if "--IPKernelApp.log_level=ERROR" not in spec["argv"]:
        spec["argv"].append("--IPKernelApp.log_level=ERROR")
    write_atomic(spec_file, json.dumps(spec, indent=1))
    return path


def warm_up_modules(reports: tuple[str, ...] | None = None) -> list[str]:
    """The modules the registry's reports name (only ``reports``, when given), each once,
    in page order."""
    from crmkit.reports import REPORTS  # lazy: runs in the kernel; the CLI starts it first

    chosen = [s for s in REPORTS.values() if reports is None or s.id in reports]
    return list(dict.fromkeys(m for spec in chosen for m in spec.modules))


def warm_up(reports: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()) -> None:
    """Import the report modules (and ``extra``): what a new kernel runs as it starts, so
    its first report runs warm. A library that fails to import is left for the notebook to
    report."""
    for name in dict.fromkeys([*warm_up_modules(reports), *extra]):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def warm_up_code(reports: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()) -> str:
    """Code for IPython's ``exec_lines`` that runs :func:`warm_up` and leaves no name behind
    (the registry is read in the kernel, so the process that starts it need not load it)."""
    return f"from crmkit.publish.kernel import warm_up as _ck\n_ck({reports!r}, {extra!r})\ndel _ck"


class Kernel:
    """A warm ``crmkit`` kernel that executes report notebooks one after another.

    The database location reaches the kernel through its environment, never as a notebook
    parameter, so no connection string is recorded in an output: a DuckDB file as
    ``$CRMKIT_DATABASE``, a PostgreSQL database as ``$CRMKIT_DATABASE_URL`` (with
    ``$CRMKIT_DATABASE`` removed, which would take precedence). Before each notebook the
    user namespace is cleared (imported modules stay, which is what makes it warm). After a
    failure the kernel is restarted, so one broken report cannot poison the next.
    """

    def __init__(self, database: Database, cwd: Path, startup_timeout: int = 120,
                 reports: tuple[str, ...] | None = None) -> None:
        self.database = database if isinstance(database, Location) else Path(database)
        self.cwd, self.startup_timeout = Path(cwd), startup_timeout
        self.reports = reports  # the reports it warms up for (None: every one)
        self.km: Any = None
        self.fresh = False
        self._start()

    def _environment(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """The kernel's environment (the database location) and the modules it warms up
        beyond the reports'."""
        env = dict(os.environ)
        if isinstance(self.database, Location):
            env.pop("CRMKIT_DATABASE", None)
            env[ENV_URL] = self.database.url
            return env, WARM_UP_POSTGRES
        env.pop(ENV_URL, None)  # a DuckDB run has no use for a PostgreSQL password
        env["CRMKIT_DATABASE"] = str(self.database)
        return env, ()

    def _start(self) -> None:
        """Start the kernel process; it imports the report libraries as it starts (IPython's
        ``exec_lines``), so start-up and imports run without waiting on this process."""
        # lazy: jupyter_client costs 0.3 s, which a preset with a mistake need not wait for
        from jupyter_client.kernelspec import NoSuchKernel
        from jupyter_client.manager import AsyncKernelManager

        env, modules = self._environment()
        warm_up = warm_up_code(self.reports, modules)
        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME)
        try:
            run_sync(self.km.start_kernel)(
                cwd=str(self.cwd),
                env=env,
                extra_arguments=[f"--IPKernelApp.exec_lines={json.dumps([warm_up])}"],
            )
        except NoSuchKernel:
            raise ReportError(
                "?",
                {},
                f"Jupyter kernel '{KERNEL_NAME}' is not installed; run `crmkit install-kernel` "
                "(make env does this)",
            ) from None
        self.fresh = True

    def _send(self, code: str, wait: bool) -> None:
        client = self.km.client()
        client.start_channels()
        try:
            run_sync(client.wait_for_ready)(timeout=self.startup_timeout)
            msg_id = client.execute(code, silent=True, store_history=False)
            if wait:
                deadline = time.monotonic() + self.startup_timeout
                while time.monotonic() < deadline:
                    reply = run_sync(client.get_shell_msg)(timeout=self.startup_timeout)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
        finally:
            client.stop_channels()

    @property
    def alive(self) -> bool:
        return self.km is not None and bool(run_sync(self.km.is_alive)())

    def execute(
        self, source: Path, executed: Path, params: dict[str, Any], timeout: int
    ) -> nbformat.NotebookNode:
        """Run ``source`` with ``params`` into ``executed`` (papermill) on this kernel."""
        import papermill as pm  # lazy: papermill costs about 0.5 s of CLI start-up

        if not self.alive:
            self.restart()
        if not self.fresh:  # clear what the previous notebook left
            self._send("%reset -f", wait=True)
        self.fresh = False
        return pm.execute_notebook(
            str(source),
            str(executed),
            parameters=params,
            kernel_name=KERNEL_NAME,
            cwd=str(self.cwd),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            start_timeout=self.startup_timeout,
            km=self.km,
            request_save_on_cell_execute=False,
        )

    def restart(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        if self.km is not None:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=True)
            self.km = None

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
