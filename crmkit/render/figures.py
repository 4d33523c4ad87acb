"""A report's chart as a figure (:class:`ChartFigure`): how it is laid out, wrapped, drawn
and saved as the page's PNG, and the tick formats its axes keep (money, percent). Made by
:mod:`crmkit.render.plotting` in a report's kernel.

matplotlib alone: no seaborn, pyplot or pandas. A chart handed over by a kernel is drawn in
the process running the notebook (:mod:`crmkit.publish.drawing`), which loads this module
(and whatever else a chart names) to load it: 0.3 s less of its CPU than loading the
charting stack, while the kernel boots on the other core.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import pickle
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.text import Text
from matplotlib.ticker import PercentFormatter
from matplotlib.typing import RcKeyType

from crmkit import i18n
from crmkit._html import render
from crmkit._media import CHART_MIMETYPE, CHARTS_HANDED_OVER
from crmkit.render.formatting import compact, number

__all__ = [
    "DPI", "HEIGHT", "MARGIN", "MAX_WIDTH", "MIN_TEXT_PX", "PHONE_WIDTH", "PLAIN_TEXT", "TICK_PT",
    "WIDTH", "ChartFigure", "FOOT_LEGEND", "LocalPercent", "count_tick", "money_tick", "plain_text", "png",
]

#: Every text on a chart is plain text: names from the data (campaigns, channels, stages,
#: people, teams, segments, months) reach titles, tick labels, legends and annotations, and
#: matplotlib would otherwise read a text with two '$' as mathtext (``Q4 $ push #1 $``
#: fails to draw, ``a_b^c $x$`` comes out as a formula) or every text as LaTeX under
#: ``text.usetex``. A chart that wants mathtext for its own words passes ``parse_math=True``
#: to that text. Text objects take these settings when they are created, tick labels
#: included (they are made as the figure is drawn): hence the theme and :func:`plain_text`.
PLAIN_TEXT: dict[RcKeyType, Any] = {"text.parse_math": False, "text.usetex": False}


#: How a chart's text reads at both widths. Charts are PNG images scaled down with the page:
#: on a 390 px phone a chart gets :data:`PHONE_WIDTH` CSS pixels, so a text of ``pt``
#: points on a figure ``w`` inches wide shows ``pt * PHONE_WIDTH / (72 * w)`` pixels there,
#: whatever the dpi: tick labels of :data:`TICK_PT` on a figure at most :data:`MAX_WIDTH`
#: wide show 9.1 px (at least :data:`MIN_TEXT_PX`). On a desktop an image shows at its own
#: size, :data:`DPI` pixels an inch: tick labels of 14 px, a default chart 558 px wide.
PHONE_WIDTH = 366
MIN_TEXT_PX = 9
TICK_PT = 11.5
MAX_WIDTH = 6.4
WIDTH, HEIGHT = 6.2, 3.4
DPI = 90
#: The margin :meth:`ChartFigure.tight_layout` keeps inside the figure's edges, in font
#: sizes (matplotlib's default): titles and axis labels wrap before it.
MARGIN = 1.08
#: The most times :meth:`ChartFigure.tight_layout` lays a figure out.
_LAYOUTS = 3

#: The mark of a legend :func:`crmkit.render.plotting.foot_legend` placed (the layout keeps
#: room for those only).
FOOT_LEGEND = "_crmkit_foot"


def plain_text() -> AbstractContextManager[None]:
    """A context in which new texts are plain (see :data:`PLAIN_TEXT`): figures are drawn
    and saved in it, so tick labels made at that moment are plain whatever the rcParams."""
    return matplotlib.rc_context(PLAIN_TEXT)


#: zlib's level for the pages' PNGs: as small as the default (6) for the reports' charts
#: (30.5 against 30.6 KB on average for a Sales page's), in half the time (14 against 25 ms
#: a chart).
PNG_COMPRESSION = 3


def png(fig: Figure) -> str:
    """A figure laid out and saved as PNG (base64), its texts plain (:func:`plain_text`)."""
    buf = io.BytesIO()
    _save(fig, buf, format="png", dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    return base64.b64encode(buf.getvalue()).decode("ascii")


#: What would make matplotlib lay a figure out again as it is saved.
_NO_LAYOUT: dict[RcKeyType, Any] = {"figure.autolayout": False,
                                    "figure.constrained_layout.use": False}


def _save(fig: Figure, *args: Any, **kwargs: Any) -> None:
    """``fig`` laid out (:meth:`ChartFigure.tight_layout`) and saved, its texts plain."""
    with plain_text():  # tick labels are made as the figure is drawn: plain text too
        fig.tight_layout(pad=MARGIN)
        # tight_layout leaves a placeholder engine behind, and savefig draws a figure with
        # an engine once more before drawing it to the PNG (to lay it out: nothing to do
        # here), which was a tenth of the charts' time: saved without it, then put back.
        engine = fig.get_layout_engine()
        laid_out = isinstance(engine, PlaceHolderLayoutEngine)
        if laid_out:
            with matplotlib.rc_context(_NO_LAYOUT):  # no engine, not the rcParams' one
                fig.set_layout_engine(None)
        try:
            Figure.savefig(fig, *args, **kwargs)
        finally:
            if laid_out:
                fig.set_layout_engine(engine)


class ChartFigure(Figure):
    """A report's chart: a matplotlib figure carrying its page ``title`` (the image's alt
    text) and ``caption``, shown as the page's embedded PNG (``figure.html.j2``) when it is
    displayed, so edits made before then show.

    Its titles and axis labels wrap onto more lines rather than run past its edges (a long
    title on a figure :data:`MAX_WIDTH` wide), before it is laid out and drawn: so on every
    axes it holds, those made after :func:`crmkit.render.plotting.figure` included."""

    page_title: str = ""
    caption: str = ""

    def _repr_html_(self) -> str:
        return _figure_block(self, png(self))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """In a kernel crmkit started to run reports (:data:`CHARTS_HANDED_OVER`), the chart
        as it is now, handed to the process running the notebook, which draws it into the
        page (:mod:`crmkit.publish.drawing`) on another core while this kernel runs the next
        cells. The active locale and rcParams go with it (tick labels are made as it is
        drawn). Anywhere else, or a figure that process could not load (it holds a lambda,
        or a function or class of the notebook's own or of a module beside it), it is drawn
        here (:meth:`_repr_html_`)."""
        if os.environ.get(CHARTS_HANDED_OVER) != "1":
            return None
        # without the colormap of images to come: one an image has is its own, and the
        # theme's (seaborn's "rocket") is known only where seaborn is loaded
        rc = {k: v for k, v in matplotlib.rcParams.items() if k not in ("backend", "image.cmap")}
        buffer = io.BytesIO()
        try:
            _Handover(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump((self, i18n.active(), rc))
        except Exception:  # noqa: BLE001 - anything it could not load: drawn here
            return None
        job = buffer.getvalue()
        sent = base64.b64encode(job).decode("ascii")
        _keep_handed(sent, job)
        return {CHART_MIMETYPE: sent, "text/html": _figure_block(self, "")}

    def _wrap_labels(self) -> None:
        for ax in self.axes:
            for text in (ax.title, ax.xaxis.label, ax.yaxis.label):
                # matplotlib measures a wrapped line holding two '$' as mathtext, whatever
                # PLAIN_TEXT says, and fails on most: such a text stays on one line
                text.set_wrap(text.get_text().count("$") < 2)
                text._get_wrap_line_width = partial(_line_width, text)  # type: ignore[attr-defined]
                text._get_wrapped_text = partial(_wrapped, text)  # type: ignore[attr-defined]

    def savefig(self, *args: Any, **kwargs: Any) -> None:
        """Saved as the page shows it: laid out first, room kept for a legend at its foot."""
        _save(self, *args, **kwargs)

    def tight_layout(self, *args: Any, **kwargs: Any) -> None:
        self._wrap_labels()
        foot = [legend for legend in self.legends
                if getattr(legend, FOOT_LEGEND, False) and legend.get_visible()]
        if foot and not args and "rect" not in kwargs:  # room for them at the foot
            kwargs["rect"] = (0.0, self._foot(foot), 1.0, 1.0)
        # laid out with each title and axis label as wrapped where it is, until where they
        # are wraps them as they were laid out (matplotlib measures a wrapping text on one
        # line and wraps it only as it draws it: a label wrapped onto two lines in room for
        # one was cut at the image's edge). Once when nothing wraps (a second layout would
        # only settle tick labels that change as the axes resize, a few pixels); a third of
        # a chart's time for each more.
        # A text that wraps both ways by turns (two lines make room for one, one line
        # leaves none) is laid out last as its longest: room to spare, nothing cut.
        lines, seen = self._lines(), []
        for _ in range(_LAYOUTS):
            with self._holding(lines):
                super().tight_layout(*args, **kwargs)
            seen.append(lines)
            now = self._lines()
            if now == lines:
                return
            lines = now
        longest = [max(versions, key=lambda v: v.count("\n")) for versions in zip(*seen, now, strict=True)]
        with self._holding(longest):
            super().tight_layout(*args, **kwargs)

    def _texts(self) -> list[Text]:
        """The titles and axis labels that wrap."""
        return [text for ax in self.axes for text in (ax.title, ax.xaxis.label, ax.yaxis.label)
                if text.get_wrap() and text.get_visible()]

    def _lines(self) -> list[str]:
        """Each of :meth:`_texts` as it wraps where its axes are now."""
        renderer = self._get_renderer()  # type: ignore[attr-defined]
        found = []
        for text in self._texts():
            text._renderer = renderer  # type: ignore[attr-defined]  # to measure words
            found.append(text._get_wrapped_text())  # type: ignore[attr-defined]
        return found

    @contextmanager
    def _holding(self, lines: list[str]) -> Iterator[None]:
        """:meth:`_texts` holding ``lines`` (not wrapping again), then as they were."""
        held = [(text, text.get_text()) for text in self._texts()]
        for (text, _original), wrapped in zip(held, lines, strict=True):
            text.set_text(wrapped)
            text.set_wrap(False)
        try:
            yield
        finally:
            for text, original in held:
                text.set_text(original)
                text.set_wrap(True)

    def _foot(self, legends: list[Any]) -> float:
        """The share of the figure's height that ``legends`` at its foot reach up to
        (:func:`crmkit.render.plotting.foot_legend`)."""
        renderer = self._get_renderer()  # type: ignore[attr-defined]
        top = max(legend.get_window_extent(renderer).y1 for legend in legends) - self.bbox.y0
        return float(min(top / self.bbox.height, 0.5))

    def draw(self, renderer: Any) -> None:
        self._wrap_labels()
        super().draw(renderer)


def _figure_block(fig: ChartFigure, image: str) -> str:
    """The page's figure: ``image`` (a PNG in base64; empty: its place only) with its alt text and
    caption, as text (not IPython's ``HTML``: no IPython where a chart is only drawn)."""
    return render("blocks/figure.html.j2", title=fig.page_title, caption=fig.caption, png=image)


#: In a kernel that hands its charts over, what it handed over lately (at most
#: :data:`HANDED_KEPT`), by :func:`handed_key` of what it sent: the process running the
#: notebook shares charts it has not started back with the kernel by their keys
#: (:func:`crmkit.publish.drawing.draw_here`), which then forgets them all. Sending a chart
#: back took 0.1 s before the kernel started drawing it (IPython read the whole pickle
#: as code).
HANDED_OVER: dict[str, bytes] = {}

#: How many handed-over charts a kernel keeps (a page shows a few).
HANDED_KEPT = 64


def handed_key(sent: str) -> str:
    """The key of a handed-over chart, from what the kernel sent."""
    return hashlib.blake2b(sent.encode("ascii"), digest_size=16).hexdigest()


def _keep_handed(sent: str, job: bytes) -> None:
    HANDED_OVER[handed_key(sent)] = job
    while len(HANDED_OVER) > HANDED_KEPT:
        del HANDED_OVER[next(iter(HANDED_OVER))]


class _Handover(pickle.Pickler):
    """A pickler that refuses what the process running the notebook could not load: a
    function or class defined in the notebook (``__main__``) or in a module outside the
    Python installation and crmkit (a helper module beside the notebooks, which the kernel
    imports from its working folder)."""

    def reducer_override(self, obj: Any) -> Any:
        # what pickle saves by its name (a bound method is saved as its object and name)
        by_name = isinstance(obj, type | FunctionType) or (
            isinstance(obj, BuiltinFunctionType) and isinstance(obj.__self__, ModuleType | None))
        if by_name and not _loadable(getattr(obj, "__module__", None)):
            raise pickle.PicklingError(f"{obj!r} is not loadable outside this kernel")
        return NotImplemented


@functools.cache
def _loadable(module: str | None) -> bool:
    """Whether module ``module`` is built into Python, or in its installation or crmkit."""
    found = sys.modules.get(module) if module and module != "__main__" else None
    if found is None:
        return False
    file = getattr(found, "__file__", None)
    return file is None or any(Path(file).resolve().is_relative_to(root) for root in _roots())


@functools.cache
def _roots() -> tuple[Path, ...]:
    """Where the modules of Python's installation and crmkit are."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    found = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    return tuple(Path(p).resolve() for p in [*found, site.getusersitepackages(),
                                             str(Path(__file__).resolve().parent.parent)])


def _wrapped(text: Text) -> str:
    """``text`` as matplotlib wraps it, measured once when each of its lines fits: matplotlib
    measures every line word by word (each longer start of it, fitting or not), as a chart
    is laid out and again as it is drawn: about a fifth of a report page's CPU. A line that
    fits comes out of it unchanged."""
    if text.get_wrap() and not text.get_usetex():
        room = text._get_wrap_line_width()  # type: ignore[attr-defined]
        lines = text.get_text().split("\n")
        if all(text._get_rendered_text_width(line) <= room for line in lines):  # type: ignore[attr-defined]
            return text.get_text()
    return str(Text._get_wrapped_text(text))  # type: ignore[attr-defined]


def _line_width(text: Text) -> float:
    """How long a line of a wrapping title or axis label may be, in pixels: from its anchor
    to the margin the layout keeps inside the figure's edge (:data:`MARGIN`), the way it
    reads (both ways when it is centred), the anchor taken inside that margin.

    matplotlib's own measure (kept for other angles) runs to the edge itself, so a title
    centred over axes that the layout moves aside ended on the image's last pixel; and it
    turns negative for an upright y-axis label whose anchor is left of the figure, as on a
    chart with long tick labels before its first layout: the label broke after every word,
    the layout made room for that, and the label could end up cut at the left edge. On a
    figure of several panels an upright y-axis label runs along its own panel only (beside
    the one above, it ran over that panel's tick labels)."""
    angle = round(text.get_rotation()) % 360
    if angle not in (0, 90):
        return float(Text._get_wrap_line_width(text))  # type: ignore[attr-defined]
    figure = text.get_figure()
    assert figure is not None  # a title or label of axes on a figure
    margin = MARGIN * matplotlib.rcParams["font.size"] * figure.dpi / 72
    box = figure.get_window_extent().padded(-margin)
    x, y = text.get_transform().transform(text.get_position())
    at, low, high = (y, box.y0, box.y1) if angle == 90 else (x, box.x0, box.x1)
    panel = _panel(text, figure) if angle == 90 and len(figure.axes) > 1 else None
    if panel is not None:  # a panel's upright label stays beside it, not the one above
        low, high = max(low, panel.y0), min(high, panel.y1)
    at = min(max(at, low), high)
    alignment = text.get_horizontalalignment()
    if alignment == "left":
        return float(high - at)
    if alignment == "right":
        return float(at - low)
    return float(2 * min(at - low, high - at))


def _panel(text: Text, figure: Any) -> Any:
    """The extent of the axes whose y-axis label ``text`` is (None: not such a label; an
    axis label knows no axes of its own)."""
    for ax in figure.axes:
        if ax.yaxis.label is text:
            return ax.get_window_extent()
    return None


def money_tick(value: float, _pos: int | None = None) -> str:
    """A tick of a money axis (:func:`crmkit.render.plotting.money_axis`): compact, two
    decimals under 1."""
    return compact(value) if value == 0 or abs(value) >= 1 else number(value, ".2f")


def count_tick(value: float, _pos: int | None = None) -> str:
    """A tick of a count axis in the active locale's digits: 1,200, not 1200."""
    return number(value)


class LocalPercent(PercentFormatter):
    """matplotlib's percent ticks in the active locale: "12.5%"; "12,5 %" in Russian."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return i18n.decimal(super().__call__(x, pos)).replace("%", i18n.percent_sign())
