"""Charts a kernel hands over, drawn by the process that runs the notebook.

A standard report's run draws its charts in the runner while the kernel goes on with the
next cells: the executed notebook and page hold the same PNGs a kernel drawing its own
charts gives. A handed-over chart is a pickle: no run of a notebook that is not crmkit's own
standard report loads one (the attack tests), and a figure that cannot be handed over is
drawn where it is.
"""

from __future__ import annotations

import base64
import gc
import pickle
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from matplotlib.ticker import FuncFormatter

from crmkit import i18n
from crmkit._media import CHART_MIMETYPE, CHARTS_HANDED_OVER
from crmkit.publish import drawing
from crmkit.publish.kernel import Kernel
from crmkit.publish.notebooks import SHIPPED
from crmkit.publish.runner import run_report
from crmkit.render import plotting

KERNELSPEC = {"name": "crmkit", "display_name": "crmkit", "language": "python"}


def _chart_outputs(path: Path) -> list[str]:
    """The HTML of every chart a notebook shows, in order."""
    nb = nbformat.read(path, as_version=4)
    return [out["data"]["text/html"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", [])
            if out.get("data", {}).get("text/html", "").startswith("<figure class='ck ck-fig'")]


def _no_handed_over_chart_left(path: Path) -> bool:
    return CHART_MIMETYPE not in path.read_text()


@pytest.fixture
def counted_draws(monkeypatch):
    """How many charts this process drew for a kernel (it shares none back with the kernel
    at the notebook's end, which depends on timing: see the sharing tests)."""
    drawn: list[int] = []
    real = drawing._draw

    def counting(job: str) -> str:
        drawn.append(1)
        return real(job)

    monkeypatch.setattr(drawing, "_draw", counting)
    monkeypatch.setattr(drawing.Charts, "share", lambda self, draw: 0)
    return drawn


def test_a_standard_report_s_charts_are_drawn_by_the_runner_into_the_same_pngs(
        tmp_path, demo_db, counted_draws):
    """Sales' five charts are drawn in this process, and every chart's output is the one a
    kernel drawing its own charts gives (a copy of the notebooks folder is not crmkit's own:
    its kernel draws them), byte for byte; no handed-over chart is left in any file."""
    own = run_report("sales", period="2025-06", database=demo_db, output=tmp_path / "own",
                     update_index=False)
    assert len(counted_draws) == 5
    copy = tmp_path / "notebooks"
    shutil.copytree(SHIPPED, copy)
    counted_draws.clear()
    kept = run_report("sales", period="2025-06", database=demo_db, output=tmp_path / "kept",
                      notebooks=copy, update_index=False)
    assert counted_draws == []  # drawn in its kernel
    here, there = _chart_outputs(own.notebook), _chart_outputs(kept.notebook)
    assert len(here) == 5 and all("data:image/png;base64," in html for html in here)
    assert here == there
    for path in (own.notebook, own.html, own.json):
        assert _no_handed_over_chart_left(path)
    assert own.html.read_text().count("data:image/png;base64,") == 5


def test_charts_the_runner_is_behind_on_at_the_end_are_shared_with_the_idle_kernel(
        tmp_path, demo_db, monkeypatch):
    """A runner that draws slowly is behind when the notebook ends: the kernel, idle then,
    draws the later half of the charts not started (one of one) at the same time, into the
    same PNGs; the page is the one a kernel drawing every chart itself gives."""
    real, shared = drawing._draw, []

    def slow(job: str) -> str:
        time.sleep(0.4)
        return real(job)

    def counted(self: drawing.Charts, draw: Any) -> int:
        shared.append(share(self, draw))
        return shared[-1]

    share = drawing.Charts.share
    monkeypatch.setattr(drawing, "_draw", slow)
    monkeypatch.setattr(drawing.Charts, "share", counted)
    own = run_report("sales", period="2025-06", database=demo_db, output=tmp_path / "own",
                     update_index=False)
    assert shared and shared[0] >= 1
    copy = tmp_path / "notebooks"
    shutil.copytree(SHIPPED, copy)
    kept = run_report("sales", period="2025-06", database=demo_db, output=tmp_path / "kept",
                      notebooks=copy, update_index=False)
    here = _chart_outputs(own.notebook)
    assert len(here) == 5 and here == _chart_outputs(kept.notebook)
    assert _no_handed_over_chart_left(own.notebook) and _no_handed_over_chart_left(own.html)


def _blocked_charts(n: int) -> tuple[drawing.Charts, list[Any], threading.Event]:
    """Charts with ``n`` taken, none started: the background thread waits for the event."""
    gate = threading.Event()
    charts = drawing.Charts()
    drawing.background().submit(gate.wait, 60)  # never for good, whatever a test does
    outputs = [nbformat.v4.new_output("display_data", data=_money_chart()._repr_mimebundle_())
               for _ in range(n)]
    for cell, output in enumerate(outputs):
        charts.take(output, cell)
    return charts, outputs, gate


@pytest.mark.parametrize(("waiting", "kernel_draws"), [(1, [0]), (2, [1]), (5, [3, 4])])
def test_the_kernel_draws_the_later_half_of_the_charts_not_started(
        handing_over, waiting, kernel_draws):
    charts, outputs, gate = _blocked_charts(waiting)
    sent: list[list[str]] = []

    def kernel(jobs: list[str]) -> dict[int, str]:
        sent.append(jobs)
        return {i: f"<figure>kernel {i}</figure>" for i in range(len(jobs))}

    payloads = [out["data"][CHART_MIMETYPE] for out in outputs]
    try:
        assert charts.share(kernel) == len(kernel_draws)
    finally:
        gate.set()
    charts.finish()
    assert sent == [[payloads[i] for i in kernel_draws]]
    html = [out["data"]["text/html"] for out in outputs]
    assert [i for i, h in enumerate(html) if h.startswith("<figure>kernel")] == kernel_draws
    assert all("<img" in h for i, h in enumerate(html) if i not in kernel_draws)
    assert all(CHART_MIMETYPE not in out["data"] for out in outputs)


def test_the_kernel_draws_a_chart_shared_back_from_what_it_kept_then_forgets_them(
        handing_over, monkeypatch):
    """The process running the notebook names a chart it shares back by its key: the
    kernel draws the pickle it kept (the same figure the process would have drawn), shows
    nothing for a key it does not keep, keeps at most HANDED_KEPT and forgets them all
    once asked."""
    from crmkit.render import figures

    figures.HANDED_OVER.clear()
    monkeypatch.setattr(figures, "HANDED_KEPT", 3)
    sent = [_money_chart()._repr_mimebundle_()[CHART_MIMETYPE] for _ in range(4)]
    assert list(figures.HANDED_OVER) == [figures.handed_key(s) for s in sent[1:]]
    shown: list[tuple[dict[str, Any], dict[str, Any]]] = []
    monkeypatch.setattr("IPython.display.publish_display_data",
                        lambda data, metadata=None: shown.append((data, metadata)))
    drawing.draw_here(figures.handed_key(sent[3]), 0)
    drawing.draw_here(figures.handed_key(sent[0]), 1)  # no longer kept
    drawing.draw_here("0" * 32, 2)
    assert shown == [({"text/html": drawing._figure_html(sent[3])}, {drawing.SHARED: 0})]
    assert "<img" in shown[0][0]["text/html"]
    drawing.forget_handed()
    assert figures.HANDED_OVER == {}


@pytest.mark.parametrize("kernel_gives", ["fails", "fewer"])
def test_a_chart_the_kernel_did_not_draw_is_drawn_here(handing_over, kernel_gives):
    """The kernel failed (or stopped at a chart): what it did not give back is drawn here."""
    charts, outputs, gate = _blocked_charts(4)

    def kernel(jobs: list[str]) -> dict[int, str]:
        if kernel_gives == "fails":
            raise TimeoutError("no reply")
        return {1: "<figure>kernel</figure>", 7: "<figure>not sent</figure>"}

    try:
        assert charts.share(kernel) == (1 if kernel_gives == "fewer" else 0)
    finally:
        gate.set()
    charts.finish()
    html = [out["data"]["text/html"] for out in outputs]
    assert [i for i, h in enumerate(html) if "<img" not in h] == ([3] if kernel_gives == "fewer" else [])
    if kernel_gives == "fewer":  # the second of the two it was sent: the page's fourth
        assert html[3] == "<figure>kernel</figure>"


def _evil_bundle(marker: Path) -> str:
    """Code for a cell that shows a 'chart' whose pickle, loaded, would create ``marker``."""
    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    payload = base64.b64encode(pickle.dumps(Evil())).decode()
    return ("from IPython.display import display\n"
            f"display({{{CHART_MIMETYPE!r}: {payload!r}, 'text/html': '<p>chart</p>'}}, raw=True)\n")


def test_a_notebook_that_is_not_crmkits_own_has_nothing_it_sends_loaded(tmp_path, demo_db,
                                                                        counted_draws):
    """The attack: a sales notebook in another folder (a report by a standard name, not
    crmkit's own notebook) shows a 'chart' whose pickle would create a file as it is loaded.
    Its run publishes, and loads nothing it sent: the file is not there."""
    marker = tmp_path / "pwned"
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.read(SHIPPED / "sales.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(_evil_bundle(marker)))
    nbformat.write(nb, folder / "sales.ipynb")
    run_report("sales", period="2025-06", database=demo_db, output=tmp_path / "out",
               notebooks=folder, update_index=False)
    assert not marker.exists()
    assert counted_draws == []


def test_a_kernel_that_hands_charts_over_stops_before_an_untrusted_notebook(
        tmp_path, demo_db, counted_draws):
    """The report server's kernel (every standard report, crmkit's own notebooks) hands its
    charts over; before a custom notebook it is told to stop: the custom notebook's chart
    is drawn in its kernel, and the pickle it sends is not loaded. The next standard report
    (on a kernel started again: the custom one tainted it) hands its charts over again. A
    batch worker's kernel draws its own."""
    marker = tmp_path / "pwned"
    custom = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(_evil_bundle(marker)),
        nbformat.v4.new_code_cell(
            "import os\nfrom crmkit.render import plotting\nfig, ax = plotting.figure()\n"
            f"ax.bar(['a', 'b'], [1, 2])\nprint(os.environ.get({CHARTS_HANDED_OVER!r}))\nfig"),
    ])
    custom.metadata["kernelspec"] = KERNELSPEC
    nbformat.write(custom, tmp_path / "custom.ipynb")
    with Kernel(demo_db, SHIPPED) as kernel:
        assert kernel.hands_over
        out = kernel.execute(tmp_path / "custom.ipynb", tmp_path / "custom.run.ipynb", {},
                             timeout=120, trusted=False)
        assert not kernel.hands_over
        said, shown = out.cells[1].outputs
        assert said["text"].strip() == "None"  # the kernel was told nothing
        assert "data:image/png;base64," in shown["data"]["text/html"]
        assert CHART_MIMETYPE not in shown["data"]
        kernel.execute(SHIPPED / "sales.ipynb", tmp_path / "sales.run.ipynb",
                       {"period": "2025-06"}, timeout=300, trusted=True)
        assert kernel.hands_over
    assert not marker.exists()
    assert len(counted_draws) == 5  # sales' charts only


def test_a_batch_worker_s_kernel_draws_its_own_charts(demo_db):
    """Both cores are busy in a batch (the other worker's kernel): handing charts over made
    the pack 1-2 s slower, so a worker's kernel draws its own."""
    code = ("from crmkit.publish import workers\n"
            f"workers.start_worker({str(demo_db)!r}, {str(SHIPPED)!r}, {{}})\n"
            "print(workers._KERNEL.hands_over, workers._KERNEL.alive)\n"
            "workers._KERNEL.close()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


@pytest.fixture
def handing_over(monkeypatch):
    monkeypatch.setenv(CHARTS_HANDED_OVER, "1")


def _money_chart() -> plotting.ChartFigure:
    fig, ax = plotting.figure()
    ax.bar(["north", "south"], [12_500.0, 1_234_567.0])
    plotting.money_axis(ax)
    plotting.percent_axis(ax, "x")
    ax.set_title("Revenue by region, a title long enough to wrap onto a second line of the chart")
    fig.page_title = "Revenue <by> region"
    return fig


def test_a_chart_handed_over_is_drawn_in_its_locale_as_it_would_be_where_it_was_made(handing_over):
    """A Russian page's chart drawn here has its tick labels in Russian (decimal commas,
    the locale's percent sign): the chart carries its locale. The HTML is what the chart
    drawn where it was made gives, its title escaped."""
    with i18n.activated("ru"):
        fig = _money_chart()
        bundle = fig._repr_mimebundle_()
        expected = fig._repr_html_()
    assert set(bundle) == {CHART_MIMETYPE, "text/html"}
    assert "<img" not in bundle["text/html"] and "Revenue &lt;by&gt; region" in bundle["text/html"]
    charts = drawing.Charts()
    output = nbformat.v4.new_output("execute_result", data={**bundle, "text/plain": "<Figure>"})
    charts.take(output, 3)
    charts.finish()
    assert output["data"] == {"text/html": expected, "text/plain": "<Figure>"}
    with i18n.activated("en"):
        assert fig._repr_html_() != expected  # the locale shows in the image


def test_a_chart_that_cannot_be_handed_over_is_drawn_where_it_is(handing_over):
    """A figure holding a lambda (an analyst's formatter) cannot be pickled: it is drawn
    in its kernel, as without the hand-over; without the variable nothing is handed over."""
    fig = _money_chart()
    fig.axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}"))
    assert fig._repr_mimebundle_() is None
    assert "data:image/png;base64," in fig._repr_html_()


def test_without_the_variable_a_chart_is_drawn_where_it_is():
    assert _money_chart()._repr_mimebundle_() is None


def test_a_chart_that_cannot_be_drawn_fails_the_run_naming_its_cell(handing_over):
    """What is not a chart (or a damaged one) fails the run, naming the cell, not a page
    with a hole; what the kernel sent is not kept."""
    charts = drawing.Charts()
    for payload in (base64.b64encode(pickle.dumps({"not": "a chart"})).decode(), "not base64 !"):
        output = nbformat.v4.new_output("display_data", data={CHART_MIMETYPE: payload, "text/plain": "x"})
        charts.take(output, 6)
        with pytest.raises(drawing.ChartError, match=r"^the chart could not be drawn: ") as failed:
            charts.finish()
        assert failed.value.cell == 6
        assert output["data"] == {"text/plain": "x"}


def _tick(value: float, _pos: int | None = None) -> str:
    return f"{value:.0f}"


def test_a_chart_holding_a_function_the_runner_could_not_load_is_drawn_where_it_is(handing_over):
    """A formatter defined in a notebook (``__main__``) or in a module beside it (here: this
    test module) pickles by name, and the process running the notebook could not load it:
    such a chart is drawn in its kernel, not a run failed on it."""
    fig = _money_chart()
    fig.axes[0].yaxis.set_major_formatter(FuncFormatter(_tick))
    assert _tick.__module__ == __name__
    assert fig._repr_mimebundle_() is None
    fig.axes[0].yaxis.set_major_formatter(FuncFormatter(plotting.money_tick))  # crmkit's own
    assert CHART_MIMETYPE in fig._repr_mimebundle_()


def test_drawing_charts_freezes_the_process_once(handing_over):
    """The charting stack is frozen out of the collector's scans once: a freeze at every
    chart kept every earlier chart's figure (cycles only the collector frees) for good,
    9 MB a run in the report server."""
    for _ in range(2):
        charts = drawing.Charts()
        for _ in range(3):
            output = nbformat.v4.new_output("display_data", data=_money_chart()._repr_mimebundle_())
            charts.take(output, 0)
        charts.finish()
        frozen = gc.get_freeze_count()
        drawing.background().submit(lambda: None).result()
    charts = drawing.Charts()
    output = nbformat.v4.new_output("display_data", data=_money_chart()._repr_mimebundle_())
    charts.take(output, 0)
    charts.finish()
    assert gc.get_freeze_count() == frozen
    assert "<img" in output["data"]["text/html"]


def test_a_failed_run_keeps_the_charts_drawn_and_no_pickle(handing_over):
    """A cell timeout or a dead kernel: the charts drawn so far go into the notebook kept
    for debugging, the others keep their place without an image, and nothing the kernel
    sent is kept."""
    charts = drawing.Charts()
    drawn = nbformat.v4.new_output("display_data", data=_money_chart()._repr_mimebundle_())
    broken = nbformat.v4.new_output("display_data", data={CHART_MIMETYPE: "not base64 !",
                                                          "text/html": "<figure></figure>"})
    charts.take(drawn, 3)
    charts.take(broken, 5)
    charts._jobs[0][2].result()
    charts.settle()
    assert "<img" in drawn["data"]["text/html"]
    assert broken["data"] == {"text/html": "<figure></figure>"}


def test_a_chart_that_fails_to_draw_fails_its_own_cell(tmp_path, demo_db, monkeypatch):
    """The run fails in one line naming the chart's cell (as the notebook counts it, the
    injected parameters not counted), which the kept notebook marks failed; no pickle is
    kept in it."""
    from crmkit.errors import ReportError

    real, calls = drawing._draw, []

    def second_fails(job: str) -> str:
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("no room")
        return real(job)

    monkeypatch.setattr(drawing, "_draw", second_fails)
    monkeypatch.setattr(drawing.Charts, "share", lambda self, draw: 0)  # all drawn here
    with pytest.raises(ReportError) as failed:
        run_report("sales", period="2025-06", database=demo_db, output=tmp_path, update_index=False)
    source = nbformat.read(SHIPPED / "sales.ipynb", as_version=4)
    charts = [i + 1 for i, c in enumerate(source.cells) if c.cell_type == "code" and c.source.startswith("charts.")]
    message = str(failed.value)
    assert f"cell {charts[1]} " in message and "the chart could not be drawn: ValueError: no room" in message
    assert "\n" not in message
    kept = failed.value.notebook
    assert kept is not None and CHART_MIMETYPE not in kept.read_text()
    nb = nbformat.read(kept, as_version=4)
    assert [i for i, c in enumerate(nb.cells)
            if c.metadata.get("papermill", {}).get("status") == "failed"] == [charts[1]]  # +1: injected


def test_a_standard_name_in_another_folder_on_a_kernel_that_hands_over_sends_nothing_loaded(
        tmp_path, demo_db, counted_draws):
    """The attack on the report server's kind of kernel (crmkit's own folder, handing
    charts over): a sales notebook from another folder, trusted by its name, that sends a
    pickle and sets the variable again for the next notebook. Nothing it sends is loaded,
    and crmkit's own sales after it on the same kernel publishes its images."""
    marker = tmp_path / "pwned"
    nb = nbformat.read(SHIPPED / "sales.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(_evil_bundle(marker)))
    nb.cells.append(nbformat.v4.new_code_cell(f"import os\nos.environ[{CHARTS_HANDED_OVER!r}] = '1'"))
    (tmp_path / "other").mkdir()
    nbformat.write(nb, tmp_path / "other" / "sales.ipynb")
    with Kernel(demo_db, SHIPPED, reports=("sales",)) as kernel:
        assert kernel.hands_over
        kernel.execute(tmp_path / "other" / "sales.ipynb", tmp_path / "other.run.ipynb",
                       {"period": "2025-06"}, timeout=300, trusted=True)
        assert not kernel.hands_over and not marker.exists() and counted_draws == []
        kernel.execute(SHIPPED / "sales.ipynb", tmp_path / "own.run.ipynb", {"period": "2025-06"},
                       timeout=300, trusted=True)
    shown = _chart_outputs(tmp_path / "own.run.ipynb")
    assert len(shown) == 5 and all("data:image/png;base64," in html for html in shown)


def test_sharing_charts_with_a_kernel_that_died_gives_up_at_once_not_at_the_timeout():
    """The kernel died (killed for its memory, say) while drawing what it was sent: the
    wait for its answer ends within a second or two, not after the run's timeout or never
    (no timeout), and the charts are drawn here (:meth:`drawing.Charts.share`)."""
    import asyncio
    from queue import Empty

    from crmkit.publish.kernel import _reply

    class Dead:
        async def is_alive(self) -> bool:
            return False

    async def silent(timeout: float) -> dict:
        await asyncio.sleep(timeout)
        raise Empty

    for deadline in (None, time.monotonic() + 600):
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="the kernel died"):
            asyncio.run(_reply(silent, "sent", Dead(), deadline))
        assert time.monotonic() - started < 5
