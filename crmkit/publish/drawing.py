"""Drawing, in the process that runs a notebook, the charts its kernel handed over.

A kernel crmkit starts for standard reports (:data:`crmkit._media.CHARTS_HANDED_OVER`) does
not draw a chart when a cell shows it: it sends the figure as it is then, with the active
locale and rcParams (:meth:`crmkit.render.figures.ChartFigure._repr_mimebundle_`), and
goes on with the next cells while this process draws it on the machine's other core. Each
chart is drawn here as it arrives, in the process's background thread
(:mod:`crmkit.publish.background`), and its output becomes the page's embedded PNG before
the notebook is saved; at the notebook's end, the charts this process has not started to
draw yet are shared with the kernel, idle then (:meth:`Charts.share`). The executed
notebook, the page and the JSON twin are those a kernel drawing its own charts gives, byte
for byte.

A handed-over chart is a pickle, which runs code as it is loaded: only the run of a
standard report, whose notebook is crmkit's own, draws them. The run of any other notebook
(untrusted) loads nothing it sent, and its kernel draws its own charts: a kernel that hands
them over is told to stop before such a notebook (:meth:`crmkit.publish.kernel.Kernel.execute`).
A chart that holds a function or class this process could not load is drawn in its kernel
(:class:`crmkit.render.figures.ChartFigure`).
"""

from __future__ import annotations

import base64
import functools
import gc
import pickle
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from crmkit import i18n
from crmkit._media import CHART_MIMETYPE
from crmkit.publish.background import background


def preload() -> None:
    """Load what draws a chart in the background thread (:func:`_load`), after what is
    queued there: a process that will draw charts, before its first."""
    background().submit(_load)


@functools.cache
def _load() -> Any:
    """What drawing a chart needs (matplotlib and crmkit's figure, not the charting stack
    that makes one: seaborn, pandas), loaded once; what this process loaded then lives as long as it
    does: frozen out of the collector's scans, which a chart's drawing sets off (a chart
    took twice as long in a command that had loaded pandas, papermill and nbconvert). Once
    only: a freeze takes whatever lives at that moment, and a chart's figure (cycles only
    the collector frees) would never be freed."""
    from crmkit.render import figures  # lazy: matplotlib, 0.2 s (not seaborn, not pandas)

    gc.freeze()
    return figures


class Charts:
    """The charts one notebook's kernel handed over: each drawn as it arrives
    (:meth:`take`), and put into its output by :meth:`finish` (or, the run having failed,
    by :meth:`settle`)."""

    def __init__(self) -> None:
        # each chart: its output, its cell, its drawing, what the kernel sent
        self._jobs: list[tuple[Any, int, Future[str], str]] = []
        preload()  # what draws one, before the first chart comes

    def take(self, output: Any, cell: int) -> None:
        """Start drawing ``output``'s chart, if it is one (an output of cell ``cell``)."""
        data = output.get("data") if hasattr(output, "get") else None
        if isinstance(data, dict) and isinstance(data.get(CHART_MIMETYPE), str):
            job = data[CHART_MIMETYPE]
            self._jobs.append((output, cell, background().submit(_draw, job), job))

    def finish(self, timeout: float | None = None) -> None:
        """Wait for every chart (``timeout`` seconds at most for each, the cells' own) and
        make each output the page's figure (its HTML and text), as the kernel would have
        shown it. A chart that cannot be drawn raises a :class:`ChartError` naming its cell
        (0-based, as the executed notebook counts them), the other charts settled."""
        jobs, self._jobs = self._jobs, []
        for at, (output, cell, job, _sent) in enumerate(jobs):
            try:
                _drawn(output, job.result(timeout=timeout))
            except Exception as exc:
                self._jobs = jobs[at + 1:]
                self.settle()
                _drawn(output, None)
                what = "was not drawn in time" if isinstance(exc, TimeoutError) else \
                    f"could not be drawn: {type(exc).__name__}: {exc}"
                raise ChartError(cell, f"the chart {what}") from exc

    def share(self, draw: Callable[[list[str]], Mapping[int, str]]) -> int:
        """The notebook is done and its kernel idle: the charts this process has not started
        to draw, the later half of them (one of one), are drawn by ``draw`` (in the kernel:
        each chart's figure HTML by its place in the list it is given) while this process
        draws the others. A chart ``draw`` does not give back is drawn here after all. How
        many ``draw`` drew."""
        waiting = [at for at, (_output, _cell, job, _sent) in enumerate(self._jobs)
                   if not job.running() and not job.done()]
        taken = [at for at in waiting[-max(1, len(waiting) // 2):] if self._jobs[at][2].cancel()]
        if not taken:
            return 0
        try:
            drawn = draw([self._jobs[at][3] for at in taken])
        except Exception:  # noqa: BLE001 - drawn here instead
            drawn = {}
        given = 0
        for n, at in enumerate(taken):
            output, cell, job, sent = self._jobs[at]
            html = drawn.get(n)
            if isinstance(html, str):
                job, given = Future(), given + 1
                job.set_result(html)
            else:
                job = background().submit(_draw, sent)
            self._jobs[at] = (output, cell, job, sent)
        return given

    def settle(self) -> None:
        """The run failed: put in the charts drawn already; the others keep their place on
        the page, without an image (and without what the kernel sent)."""
        jobs, self._jobs = self._jobs, []
        for output, _cell, job, _sent in jobs:
            job.cancel()
            done = job.done() and not job.cancelled() and job.exception() is None
            _drawn(output, job.result() if done else None)


def _drawn(output: Any, html: str | None) -> None:
    """``output`` as the figure ``html`` (None: its place only, what the kernel sent dropped)."""
    data = output["data"]
    kept = {k: v for k, v in data.items() if k == "text/plain" or (html is None and k == "text/html")}
    output["data"] = {**kept, "text/html": html} if html is not None else kept


class ChartError(RuntimeError):
    """A handed-over chart that could not be drawn, in cell ``cell`` (0-based)."""

    def __init__(self, cell: int, message: str) -> None:
        super().__init__(message)
        self.cell = cell


def _draw(job: str) -> str:
    """A handed-over chart drawn in its locale and rcParams: the figure's HTML."""
    _load()
    return _figure_html(job)


#: The key, in the metadata of a chart a kernel draws after all (:func:`draw_here`), of its
#: place in the charts it was sent.
SHARED = "crmkit_shared_chart"


def draw_here(key: str, at: int) -> None:
    """In the kernel that handed a chart over, the chart it kept under ``key``
    (:func:`crmkit.render.figures.handed_key`) drawn after all and shown as the page's
    figure, marked as the ``at``-th of those it was asked for: the process running the
    notebook, behind at its end, shares the charts it has not started with the idle kernel
    (:meth:`Charts.share`). A chart it no longer keeps is not shown (that process draws
    it)."""
    from IPython.display import publish_display_data  # lazy: in a kernel only

    from crmkit.render.figures import HANDED_OVER  # lazy: loaded by the chart handed over

    job = HANDED_OVER.get(key)
    if job is not None:
        publish_display_data({"text/html": _drawn_html(job)}, metadata={SHARED: at})


def forget_handed() -> None:
    """In the kernel, forget the charts it handed over (:data:`crmkit.render.figures.HANDED_OVER`)."""
    from crmkit.render.figures import HANDED_OVER  # lazy: as in draw_here

    HANDED_OVER.clear()


def _figure_html(job: str) -> str:
    """Chart ``job`` (a kernel's pickle, as it sent it) drawn: the figure's HTML."""
    return _drawn_html(base64.b64decode(job))


def _drawn_html(job: bytes) -> str:
    """Chart ``job`` (a kernel's pickle) drawn in its locale and rcParams, with what draws it
    loaded: the figure's HTML."""
    import matplotlib  # lazy: loaded already (_load, or the kernel's own)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from crmkit.render.figures import ChartFigure  # lazy: as matplotlib

    fig, locale, rc = pickle.loads(job)  # noqa: S301 - a standard report's
    if not isinstance(fig, ChartFigure):
        raise TypeError(f"not a chart: {type(fig).__name__}")
    FigureCanvasAgg(fig)  # a figure loads with a plain canvas, which would draw it twice
    with i18n.activated(locale), matplotlib.rc_context(rc):
        return str(fig._repr_html_())
