"""The worker processes of a batch (:mod:`crmkit.publish.batch`), each driving a warm
kernel, and :class:`WarmPool`, which keeps them from one batch to the next.

Standard library only at import: a worker starts its kernel first, and loads the batch
and the runner (pandas, Papermill, nbconvert) while the kernel boots.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmkit.backends.location import Database, find_database

if TYPE_CHECKING:
    from crmkit.publish.kernel import Kernel

_KERNEL: Kernel | None = None
#: Lets each worker of a :class:`WarmPool` take exactly one :func:`_park` task.
_BARRIER: Any = None

#: Seconds a parked worker waits for the others (each takes one :func:`_park`).
PARK_TIMEOUT = 60.0
#: How often, in seconds, a worker checks that the process that started it is alive.
PARENT_POLL = 1.0


def start_worker(database: str, notebooks: str, environment: dict[str, str],
                 barrier: Any = None) -> None:
    """Start this worker's warm kernel (shut down when the worker exits) with
    ``environment`` added to its own (the data's fingerprint). The worker and its kernel
    leave the terminal's process group: a Ctrl-C reaches the command, the loop or the
    server only, which lets the pages in progress finish and starts no other (it failed
    them, and the pool went on with the rest). It ends, with its kernel, once the process
    that started it is gone (:func:`_exit_with_parent`), or at SIGTERM (:func:`stop_now`)."""
    gc.disable()  # until what it runs on is imported (_load)
    # lazy: only a worker that renders needs Jupyter's client (a refresh with nothing to
    # render starts no worker and stays quick)
    from crmkit.publish.kernel import Kernel

    global _KERNEL, _BARRIER
    _BARRIER = barrier
    if hasattr(os, "setsid"):  # POSIX
        with contextlib.suppress(OSError):
            os.setsid()
    signal.signal(signal.SIGTERM, _end)
    os.environ.update(environment)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="crmkit-parent-watch").start()
    with contextlib.suppress(Exception):
        # its charts drawn in the kernel: the other worker's kernel keeps the other core busy
        _KERNEL = Kernel(find_database(database), Path(notebooks), hand_over=False)
        multiprocessing.util.Finalize(None, _KERNEL.close, exitpriority=10)
    _load()


def _load() -> None:
    """Import what every page of a worker runs on (the batch, the runner: Papermill,
    nbconvert, pandas) while its kernel boots, with the garbage collector off, then freeze
    it out of the collector's sight: each full collection re-scanned every imported object,
    on the way and again for every page the worker ran."""
    try:
        for name in ("crmkit.publish.batch", "crmkit.publish.runner", "papermill", "nbconvert"):
            importlib.import_module(name)
    except ImportError:
        pass  # the first page reports it
    finally:
        gc.freeze()
        gc.enable()


def _end(*_args: object) -> None:
    """In a worker: kill its kernel (removing the kernel's folder) and exit at once."""
    if _KERNEL is not None:
        _KERNEL.kill()
    os._exit(1)


def stop_now(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers and their kernels now, the pages in progress abandoned (a
    page is published whole or not at all): no page left is started."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown drops them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()


def _exit_with_parent(parent: int) -> None:
    """End this worker, and kill its kernel, once the process that started it is gone (a
    ``crmkit run-all`` killed with SIGKILL, a server that died): a pool's worker waits for
    its next page forever otherwise, with its kernel, about 500 MB the two."""
    watched = multiprocessing.parent_process()
    if watched is not None:  # every system: its sentinel is ready once it has ended
        watched.join()
    else:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
    _end()


def worker_kernel() -> Kernel | None:
    """This worker's kernel (None: it could not be started; each run then says why)."""
    return _KERNEL


def worker_pool(database: Database, notebooks: Path, workers: int, environment: dict[str, str],
         barrier: Any = None) -> ProcessPoolExecutor:
    """``workers`` spawned worker processes (started as jobs arrive) for ``database``."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=start_worker,
        initargs=(str(database), str(notebooks), environment, barrier))


class WarmPool:
    """Batch workers kept from one batch to the next, each with its kernel booted and warm
    (imports, compiled templates): ``crmkit serve`` and ``crmkit watch`` start a batch's
    first page at once instead of after a few seconds of start-up. Between pages a kernel
    is cleared as in any batch; between batches it closes the database it kept open
    (:meth:`park`). Workers started for another database, notebooks folder, folder, run
    environment or version of crmkit's code, or fewer than a batch needs, are shut down
    and started anew; a batch that needs fewer runs on some of them."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._key: tuple[Any, ...] | None = None
        self._size = 0

    def executor(self, database: Database, notebooks: Path, workers: int,
                 environment: dict[str, str]) -> ProcessPoolExecutor:
        """The pool for a batch on ``workers`` workers (at most as many as it has jobs, all
        of them submitted at once: each starts a worker, so every worker of a new pool has
        started before :meth:`park`): the kept one when it was started for the same place
        with as many workers or more, else a new one (its kernels started with
        ``environment``)."""
        from crmkit.publish.channel import code_stamp, run_environment  # lazy: its own module

        key = (str(database), str(notebooks), os.getcwd(),
               tuple(sorted(run_environment().items())), code_stamp())
        if self._pool is not None and (self._key != key or self._size < workers):
            self.close()
        if self._pool is None:
            barrier = multiprocessing.get_context("spawn").Barrier(workers)
            self._pool = worker_pool(database, notebooks, workers, environment, barrier)
            self._key, self._size = key, workers
        return self._pool

    def park(self) -> None:
        """After a batch: each worker's kernel closes the stores it kept
        (:meth:`crmkit.publish.kernel.Kernel.release_data`); a pool that fails to is shut
        down, and the next batch starts a new one."""
        if self._pool is None:
            return
        try:
            parked = [self._pool.submit(_park) for _ in range(self._size)]
            if not all(future.result(timeout=PARK_TIMEOUT) for future in parked):
                self.close()  # a kernel that did not start, or still holds the database
        except Exception:  # noqa: BLE001 - a broken pool: the next batch starts anew
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool, self._key, self._size = None, None, 0


def _park() -> bool:
    """In a worker of a :class:`WarmPool`: its kernel closes the stores it kept, then the
    worker waits until every worker has taken its ``_park`` (so none takes two)."""
    ok = _KERNEL is not None and _KERNEL.alive
    if ok and _KERNEL is not None:
        try:
            _KERNEL.release_data()
        except Exception:  # noqa: BLE001 - the pool is shut down instead
            ok = False
    _BARRIER.wait(PARK_TIMEOUT)
    return ok
