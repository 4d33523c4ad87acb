"""The ``crmkit`` kernel's entry point: ipykernel's own, with the garbage collector held off
while the kernel starts.

A kernel that crmkit starts imports IPython and then the report libraries (pandas,
matplotlib, narwhals, PyArrow, DuckDB): a few hundred thousand objects that live as long as
the kernel, which each full collection on the way scanned again, about a quarter of the
kernel's start. Here the collector is off until the kernel has initialised (its
``exec_lines`` included), then what the start made is frozen out of its sight and it runs
as usual for whatever the notebooks make. The kernelspec
(:func:`crmkit.publish.kernel.install_kernel`) names this module where ipykernel's names
``ipykernel_launcher``.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path


def main() -> None:
    # As ipykernel_launcher does: the working folder (a notebooks folder) is not on sys.path
    # while the kernel loads (IPython puts it back for the notebooks' own imports), so no
    # file there is imported in place of a library.
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    gc.disable()
    try:
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize()
    finally:
        gc.freeze()
        gc.enable()
    app.start()


if __name__ == "__main__":
    main()
