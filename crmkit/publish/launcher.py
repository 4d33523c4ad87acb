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
import os
import sys
from pathlib import Path

#: The environment variable that asks for the start above ("1"); not passed on to the
#: notebooks.
FROZEN_START = "CRMKIT_FROZEN_START"


def main() -> None:
    # As ipykernel_launcher does: the working folder (a notebooks folder) leaves sys.path
    # while the kernel loads its libraries (IPython puts it back for the notebooks' own
    # imports), so a file there named like one of them is not imported in its place.
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    frozen = os.environ.pop(FROZEN_START, "") == "1"
    if frozen:
        gc.disable()
        sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]  # ipykernel: no debugger
    try:
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize()
    finally:
        if frozen:
            if "debugpy" in sys.modules and sys.modules["debugpy"] is None:
                del sys.modules["debugpy"]
            gc.freeze()
            gc.enable()
    app.start()


if __name__ == "__main__":
    main()
