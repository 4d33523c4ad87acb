"""The one background thread of a process that runs notebooks: building the HTML exporter
(:func:`crmkit.publish.export.start_html_exporter`) and drawing the charts a kernel hands
over (:mod:`crmkit.publish.drawing`) run there, one after another, while the notebook runs:
two threads importing a module at once can see it half made, and matplotlib's rcParams,
which a chart is drawn in, are the process's."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_POOL: list[ThreadPoolExecutor] = []
_LOCK = threading.Lock()


def background() -> ThreadPoolExecutor:
    """The process's background thread (started on first use)."""
    with _LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(1, thread_name_prefix="crmkit-background"))
        return _POOL[0]
