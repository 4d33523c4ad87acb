"""Pages that hold at a 390 px phone width, at 1280 px and in print, with chart text that
reads at both widths.

The monthly pack of the pinned demo (every report, company-wide and for each team, one team
without any record among them), the reports of a period before the data and the index pages are
opened in Debian's headless Chromium, driven over its DevTools pipe (one browser for every
page and width, no script in the pages). At each width no page scrolls sideways, and what
is wider than the screen (a long table) scrolls inside its own box. Without Chromium the
browser tests are skipped, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest
from matplotlib.text import Text
from published import Pack

from crmkit.render import plotting
from crmkit.render.charts import sales as sales_charts

ROOT = Path(__file__).resolve().parent.parent
#: A4 less the page margins of the print stylesheet (210 mm - 2 x 12 mm), in CSS pixels.
A4_WIDTH = round((210 - 24) / 25.4 * 96)
WIDTHS = {"desktop": 1280, "phone": 390}
#: Boxes that may scroll sideways inside a page: the tables' own boxes.
SCROLL_BOXES = ".ck-scroll, .jp-MarkdownOutput table"
#: Tick labels on a desktop: readable, not shouting (CSS pixels).
MAX_DESKTOP_TEXT_PX = 16

#: One page, measured: its width against the window's, what runs past the window outside
#: a table's box, boxes that scroll up and down, the charts (natural and shown width), the
#: fonts of its headings and text, and in print the navigation shown and the break rules of
#: cells and figures.
MEASURE = """(() => {
  const W = window.innerWidth, name = e => e.tagName.toLowerCase() + (e.className ?
    '.' + String(e.className).trim().split(/\\s+/).join('.') : '');
  const clipper = e => { for (let a = e.parentElement; a; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') return a; } return null; };
  const loose = [];
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (!r.width || r.right <= W + 1) continue;
    const box = clipper(e), how = box && getComputedStyle(box).overflowX;
    if (!box || ((how === 'auto' || how === 'scroll') && !box.matches(SCROLL_BOXES)))
      loose.push(name(e) + ' in ' + (box ? name(box) : 'the page'));
  }
  const style = s => [...document.querySelectorAll(s)].map(e => getComputedStyle(e));
  return {
    width: document.documentElement.scrollWidth, window: W, loose: loose.slice(0, 5),
    charts: [...document.querySelectorAll('figure.ck-fig img')].map(i =>
      [i.alt, i.naturalWidth, i.getBoundingClientRect().width]),
    fonts: [...document.querySelectorAll('h1, h2, h3, h4, p, li, td, dd')].map(e =>
      [name(e) + ' ' + e.textContent.trim().slice(0, 30), getComputedStyle(e).fontFamily]),
    hidden: [...document.querySelectorAll('.ck-scroll')]
      .filter(e => e.scrollWidth > e.clientWidth + 1)
      .map(e => [...e.querySelectorAll('th')].map(h => h.textContent.trim()).join('|')
           + ': ' + e.scrollWidth + ' px in ' + e.clientWidth),
    tall: [...document.querySelectorAll('.jp-OutputArea-output, ' + SCROLL_BOXES)]
      .filter(e => e.scrollHeight > e.clientHeight + 1).map(name),
    navShown: style('nav').filter(s => s.display !== 'none').length,
    markdown: style('.jp-MarkdownCell').map(s => s.breakInside + '/' + s.breakAfter),
    figures: style('figure.ck-fig').map(s => s.breakInside),
    kpisBeside: [...document.querySelectorAll('li.ck-report')].map(li => {
      const t = li.querySelector('.ck-report-title').getBoundingClientRect(),
            k = li.querySelector('ul.ck-kpis');
      return k ? k.getBoundingClientRect().left >= t.right && k.getBoundingClientRect().top < t.bottom
               : null; }).filter(b => b !== null),
  };
})()"""


# -- the pages ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site(monthly_pack: Pack) -> tuple[Path, list[Any]]:
    """The published site and the outcome of every run: the monthly pack on a copy of the
    pinned demo with a team that has no records, then every report of a period before the
    data (company-wide): the session's pack (tests/conftest.py)."""
    return monthly_pack.output, monthly_pack.outcomes


def _pages(out: Path) -> list[Path]:
    """Every page of a published site (report pages, the index and its pages), without the
    version folders the report pages link into."""
    return sorted(p for p in out.rglob("*.html")
                  if not any(part.startswith(".") for part in p.relative_to(out).parts))


# -- headless Chromium over its DevTools pipe ----------------------------------------------


class Browser:
    """Headless Chromium driven over ``--remote-debugging-pipe``: it reads commands on file
    descriptor 3 and answers on 4, each message JSON ended by a NUL byte."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()
        # the browser's ends as numbers from 10 up, so that moving them to 3 and 4 (left to
        # right, by the bash that starts it) overwrites neither
        theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
        move = "exec \"$@\" 3<&{0} 4>&{1} {0}<&- {1}>&-".format(*theirs)
        self._proc = subprocess.Popen(
            ["bash", "-c", move, "bash", binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--hide-scrollbars", "--remote-debugging-pipe", "--disable-background-networking",
             "--no-first-run", "--disable-component-update", f"--user-data-dir={profile}",
             "about:blank"],
            pass_fds=theirs, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for fd in (to_browser, from_browser, *theirs):
            os.close(fd)
        self._buffer, self._sent, self._events = b"", 0, []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]
        self.page("Page.enable")

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], 60)
            chunk = os.read(self._answers, 1 << 16) if ready else b""
            if not chunk:
                raise RuntimeError("Chromium stopped answering")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events met on the way are kept)."""
        self._sent += 1
        command = {"id": self._sent, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        while (message := self._message()).get("id") != self._sent:
            self._events.append(message.get("method"))
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.send(method, self._session, **params)

    def measure(self, page: Path) -> dict[str, Any]:
        """Load a page and measure it (:data:`MEASURE`) once it has loaded."""
        self._events.clear()
        self.page("Page.navigate", url=page.as_uri())
        while "Page.loadEventFired" not in self._events:
            self._events.append(self._message().get("method"))
        script = MEASURE.replace("SCROLL_BOXES", json.dumps(SCROLL_BOXES))
        return self.page("Runtime.evaluate", expression=script, returnByValue=True)["result"]["value"]

    def close(self) -> None:
        try:
            self.send("Browser.close")
        finally:
            self._proc.wait(timeout=30)
            os.close(self._commands)
            os.close(self._answers)


def _chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": the layout tests need it in CI")
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def measured(site: tuple[Path, list[Any]], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
    """view ("desktop", "phone", "print") -> page (relative path) -> its measure."""
    browser = Browser(_chromium(), tmp_path_factory.mktemp("chromium-profile"))
    out, _ = site
    views: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for view, width in [*WIDTHS.items(), ("print", A4_WIDTH)]:
            browser.page("Emulation.setEmulatedMedia", media="print" if view == "print" else "")
            browser.page("Emulation.setDeviceMetricsOverride", width=width, height=900,
                         deviceScaleFactor=1, mobile=False)
            views[view] = {str(p.relative_to(out)): browser.measure(p) for p in _pages(out)}
        yield views
    finally:
        browser.close()


# -- the tests ------------------------------------------------------------------------------


def test_every_page_of_the_packs_is_published(site):
    out, outcomes = site
    assert [o.error for o in outcomes if not o.ok] == []
    reports = [p for p in _pages(out) if p.parent.parent.parent == out]
    teams = {p.parent.name for p in reports if p.parent.parent.name == "2025-06"}
    assert {"all", "ghost"} < teams and len(teams) >= 4, teams
    notebooks = len(list((ROOT / "notebooks").glob("*.ipynb")))
    assert len(reports) == notebooks * (len(teams) + 1)  # + the period before the data


@pytest.mark.parametrize("view", [*WIDTHS, "print"])
def test_no_page_scrolls_sideways(measured, view):
    pages = measured[view]
    wide = {page: f"{m['width']} px in {m['window']}" for page, m in pages.items()
            if m["width"] > m["window"]}
    assert wide == {}
    assert len(pages) > 35


@pytest.mark.parametrize("view", [*WIDTHS, "print"])
def test_only_tables_scroll_inside_their_box(measured, view):
    """What is wider than the window scrolls in a table's own box, never in the page nor
    in another box (an output area scrolling sideways hides a layout that does not hold),
    and no box scrolls up and down."""
    loose = {page: m["loose"] for page, m in measured[view].items() if m["loose"]}
    assert loose == {}
    assert {page: m["tall"] for page, m in measured[view].items() if m["tall"]} == {}


def test_every_table_shows_all_its_columns_on_a_desktop(measured):
    """At 1280 px the widest tables (12 columns of campaigns and channels, the support
    table) hid their last columns behind a sideways scroll, their headings kept on one
    line: headings now wrap between words, so a column is as wide as its values, and a
    leaderboard's cell wraps between its value, its rank and change, and its sample."""
    hidden = {page: m["hidden"] for page, m in measured["desktop"].items() if m["hidden"]}
    assert hidden == {}


def test_chart_text_reads_on_a_phone_and_on_a_desktop(measured):
    """Tick labels of TICK_PT points, scaled with the image: at least MIN_TEXT_PX CSS pixels
    on a 390 px phone, and on a desktop at the image's own size and not shouting."""
    natural_px = plotting.TICK_PT * plotting.DPI / 72
    problems, charts = [], 0
    for view, pages in measured.items():
        for page, m in pages.items():
            for alt, natural, shown in m["charts"]:
                charts += 1
                text = natural_px * shown / natural
                if view == "phone" and text < plotting.MIN_TEXT_PX:
                    problems.append(f"{page} {alt}: tick labels {text:.1f} px on a phone")
                if view == "desktop" and not (shown == natural and text <= MAX_DESKTOP_TEXT_PX):
                    problems.append(f"{page} {alt}: {natural} px image shown {shown:.0f} px wide")
    assert problems == []
    assert charts > 100


def test_every_text_is_sans_serif(measured):
    """Headings of the notebooks' markdown cells included (a `###` heading came out in the
    browser's serif default)."""
    serif = {f"{page}: {what}": family for page, m in measured["desktop"].items()
             for what, family in m["fonts"]
             if not family.endswith("sans-serif") and not family.endswith("monospace")}
    assert serif == {}


def test_print_keeps_headings_with_what_follows_and_drops_the_navigation(measured):
    pages = measured["print"]
    reports = {page: m for page, m in pages.items() if m["markdown"]}
    assert len(reports) >= 35
    for page, m in reports.items():
        assert m["navShown"] == 0, page
        assert set(m["markdown"]) == {"avoid/avoid"}, page
        assert set(m["figures"]) <= {"avoid"}, page


# -- chart defaults (no browser) --------------------------------------------------------------


@pytest.mark.parametrize("width", [None, 12.0])
def test_tick_labels_of_any_figure_read_on_a_phone(width, tmp_path):
    """A figure asked for wider than MAX_WIDTH is narrowed: its text would shrink below
    MIN_TEXT_PX when the image is scaled to a phone's width."""
    fig, ax = plotting.figure() if width is None else plotting.figure(width=width)
    ax.bar(["2025-05", "2025-06"], [3, 4])
    fig.savefig(tmp_path / "chart.png")
    inches = fig.get_size_inches()[0]
    tick = ax.get_xticklabels()[0].get_fontsize()
    assert tick * plotting.PHONE_WIDTH / (72 * inches) >= plotting.MIN_TEXT_PX
    assert fig.canvas.get_width_height()[0] == round(inches * plotting.DPI)
    assert inches <= plotting.MAX_WIDTH


def test_a_title_longer_than_the_figure_wraps_inside_it():
    """On a narrow figure a long title and axis label would run past the image's edges and
    be cut; they wrap instead, on axes made by figure() and on axes made afterwards."""
    fig, _ = plotting.figure(width=10, height=3)
    fig.clf()
    left, right = fig.subplots(1, 2)
    left.set_title("Workload per person against the median of the people in their role")
    right.set_xlabel("Work items in the period (count): activities logged + tasks due + tickets")
    fig.tight_layout()
    fig.canvas.draw()
    box = fig.bbox
    for text in (left.title, right.xaxis.label):
        extent = text.get_window_extent()
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and extent.y1 <= box.y1, extent


def test_an_upright_axis_label_beside_long_tick_labels_stays_whole():
    """Before its first layout, the y-axis label of a chart with long tick labels sits left of
    the figure, where matplotlib's measure of the room it may wrap in turns negative: a
    two-seller win-rate chart had its label broken and cut at the image's left edge."""
    sellers = pd.DataFrame({
        "name": ["Xenia Laine", "Oskar Haas"], "closed": [14, 8], "win_rate": [0.43, 0.38],
        "win_rate_low": [0.21, 0.14], "win_rate_high": [0.67, 0.69]})
    fig = sales_charts.win_rate_by_employee(sellers)
    plotting.png(fig)
    label = fig.axes[0].yaxis.label
    assert label._get_wrapped_text().count("\n") <= 1  # not a word a line
    extent, box = label.get_window_extent(), fig.bbox
    assert box.x0 <= extent.x0 and extent.x1 <= box.x1, extent
    assert box.y0 <= extent.y0 and extent.y1 <= box.y1, extent


def test_a_centred_title_ends_inside_the_margin():
    """A title is centred over its axes, which the layout moves right to make room for long
    tick labels: it wraps before the margin the layout keeps at the figure's edge, rather
    than end on the image's last pixel."""
    fig, ax = plotting.figure()
    ax.barh(["Won", "Commitment", "Negotiation", "Proposal", "Discovery", "Qualification"],
            [39, 42, 51, 67, 88, 112])
    ax.set_title("Deals created in June 2025, by furthest stage reached")
    ax.set_ylabel("Furthest stage reached")
    plotting.png(fig)
    margin = plotting.MARGIN * matplotlib.rcParams["font.size"] * fig.dpi / 72
    extent = ax.title.get_window_extent()
    assert fig.bbox.x0 + margin - 1 <= extent.x0 and extent.x1 <= fig.bbox.x1 - margin + 1


def test_the_index_shows_each_reports_numbers_beside_it_on_a_desktop(measured):
    """On a desktop a report's headline numbers sit beside its title, the time it was
    updated under the title; on a phone under both. (The time, once added, took the
    numbers' column: every report's numbers fell into the title's 190 px, one under
    another, and the index of the monthly pack grew to about 5,700 px.)"""
    for view, beside in (("desktop", True), ("phone", False)):
        rows = {page: m["kpisBeside"] for page, m in measured[view].items() if m["kpisBeside"]}
        assert rows, view
        assert {page: set(r) for page, r in rows.items()} == {page: {beside} for page in rows}


#: The demo's campaigns of June 2025: three close together near 40k of revenue, two with
#: none, and the revenue of no campaign (not a point).
CAMPAIGNS = pd.DataFrame({
    "campaign_id": ["cmp-02", "cmp-05", "cmp-12", "cmp-13", "cmp-06", "cmp-01", "cmp-03", "cmp-08", None],
    "name": ["Monthly Newsletter", "Partner Referral Program", "Brand Search", "Executive Roundtables",
             "Product Webinars", "Always-on Search", "LinkedIn Thought Leadership",
             "Programmatic Display Push", None],
    "cost": [6061.24, 7691.39, 2729.6, 12210.24, 8714.47, 3375.66, 2004.83, 8080.95, 0.0],
    "revenue": [51100.0, 37500.0, 9660.0, 36600.0, 10200.0, 2840.0, 0.0, 0.0, 130750.0],
    "roi": [7.43, 3.88, 2.54, 2.0, 0.17, -0.16, -1.0, -1.0, None],
})


def _overlapping(texts: list[Any]) -> list[tuple[str, str]]:
    """The pairs of ``texts`` whose words overlap (an annotation's line to its point aside)."""
    boxes = [(t.get_text(), Text.get_window_extent(t)) for t in texts if t.get_text() and t.get_visible()]
    return [(a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1:] if box.overlaps(other)]


def test_names_and_ticks_of_the_campaign_scatter_cover_none_another():
    """Every campaign is named beside its point, no name over another nor cut at the image's
    edge (the demo's June page drew three names near 40k of revenue into one smudge), and
    the axes tick 0 and each power of ten from the scale's linear part up (a tick at 100,
    inside the linear part, was drawn over the 0)."""
    from crmkit.render.charts import marketing as marketing_charts

    fig = marketing_charts.cost_vs_revenue(CAMPAIGNS, "EUR")
    plotting.png(fig)
    ax = fig.axes[0]
    names = [t for t in ax.texts if t.get_text()]
    assert sorted(t.get_text() for t in names) == sorted(CAMPAIGNS["name"].dropna())
    assert _overlapping(names) == []
    for name in names:
        extent = Text.get_window_extent(name)
        assert fig.bbox.x0 <= extent.x0 and extent.x1 <= fig.bbox.x1, name.get_text()
    for axis in (ax.xaxis, ax.yaxis):
        low, high = sorted(axis.get_view_interval())
        shown = [tick.label1 for tick in axis.get_major_ticks() if low <= tick.get_loc() <= high]
        assert [t.get_text() for t in shown] == ["0", "1,000", "10.0k", "100.0k"]
        assert _overlapping(shown) == []


def test_an_upright_axis_label_of_a_panel_stays_beside_its_own_panel():
    """On a figure of panels one above the other, an upright axis label longer than its
    panel wraps within the panel's height: the satisfaction trend's CES label ran up beside
    the CSAT panel, over its 0% tick."""
    from crmkit.render.charts import satisfaction as satisfaction_charts

    months = [f"2024-{m:02d}" for m in range(7, 13)] + [f"2025-{m:02d}" for m in range(1, 7)]
    month = pd.DataFrame({"month": months})
    for kind, value, spread in (("nps", 30.0, 12.0), ("csat", 0.65, 0.08), ("ces", 4.8, 0.4)):
        month[kind], month[f"{kind}_low"], month[f"{kind}_high"] = value, value - spread, value + spread
        month[f"{kind}_responses"] = 90
    fig = satisfaction_charts.trend(month, ["2025-06"])
    plotting.png(fig)
    for ax in fig.axes:
        label, panel = ax.yaxis.label.get_window_extent(), ax.get_window_extent()
        assert panel.y0 - 1 <= label.y0 and label.y1 <= panel.y1 + 1, (ax.yaxis.label.get_text(), label, panel)


def _as_drawn(text: Any) -> Any:
    """The extent of a title or axis label as it is drawn: wrapped (matplotlib measures a
    wrapping text on one line, and wraps it only as it draws it)."""
    text._renderer = text.get_figure()._get_renderer()
    lines = text._get_wrapped_text()
    original, wrap = text.get_text(), text.get_wrap()
    text.set_text(lines)
    text.set_wrap(False)
    try:
        return Text.get_window_extent(text)
    finally:
        text.set_text(original)
        text.set_wrap(wrap)


def test_a_wrapped_axis_label_is_laid_out_as_it_is_drawn():
    """The layout keeps room for a title or axis label as wrapped, not as one line: the
    partners team's win rates (three sellers, a short figure) wrapped "Seller (deals
    closed)" onto two lines in room kept for one, its first line cut at the image's left
    edge."""
    sellers = pd.DataFrame({
        "name": ["Xenia Laine", "Oskar Haas", "Jonas Keller", "Georg Engel"],
        "closed": [47, 33, 34, 0], "win_rate": [0.404, 0.333, 0.471, None],
        "win_rate_low": [0.276, 0.198, 0.315, None], "win_rate_high": [0.547, 0.504, 0.633, None]})
    fig = sales_charts.win_rate_by_employee(sellers)
    plotting.png(fig)
    ax = fig.axes[0]
    for text in (ax.title, ax.xaxis.label, ax.yaxis.label):
        extent = _as_drawn(text)
        assert fig.bbox.x0 <= extent.x0 and extent.x1 <= fig.bbox.x1, (text.get_text(), extent)
        assert fig.bbox.y0 <= extent.y0 and extent.y1 <= fig.bbox.y1, (text.get_text(), extent)


def test_a_title_that_fits_is_measured_whole_and_a_long_one_wraps_as_matplotlib_wraps_it(monkeypatch):
    """A wrapping title whose line fits is measured as one line, not word by word (matplotlib
    measures each longer start of every line, as it lays a chart out and as it draws it:
    about a fifth of a page's CPU); every title comes out as matplotlib wraps it."""
    short = "Revenue and win rate by month"
    fig, ax = plotting.figure()
    ax.plot([0, 1], [0, 1])
    ax.set_title(short)
    measured: list[str] = []
    width = Text._get_rendered_text_width

    def recorded(self: Text, text: str) -> float:
        measured.append(text)
        return width(self, text)

    monkeypatch.setattr(Text, "_get_rendered_text_width", recorded)
    plotting.png(fig)
    of_title = [text for text in measured if text and short.startswith(text.split(" ")[0])]
    assert of_title and set(of_title) == {short}, of_title

    long = " ".join(["Deals created in the period by the furthest stage each has reached"] * 3)
    for title in (short, "two  spaces ", "one line\nand another", "a\n\nblank line", long):
        ax.set_title(title)
        plotting.png(fig)  # measured with the figure's renderer, as when it is drawn
        assert ax.title._get_wrapped_text() == Text._get_wrapped_text(ax.title), title
    assert ax.title._get_wrapped_text().count("\n") >= 2


def test_a_dot_at_the_end_of_a_rate_axis_is_drawn_whole():
    """A seller who won every deal closed sits at 100%, on the axes' right edge: the dot is
    drawn whole, not cut in half by the frame (it read as a half circle)."""
    import base64
    import io

    from matplotlib.colors import to_rgb
    from PIL import Image

    from crmkit.render.formatting import PALETTE

    sellers = pd.DataFrame({
        "name": ["Rafael Bauer", "Oskar Haas", "Jonas Keller"], "closed": [6, 33, 34],
        "win_rate": [1.0, 0.333, 0.471], "win_rate_low": [0.61, 0.198, 0.315],
        "win_rate_high": [1.0, 0.504, 0.633]})
    fig = sales_charts.win_rate_by_employee(sellers)
    image = Image.open(io.BytesIO(base64.b64decode(plotting.png(fig)))).convert("RGB")
    ax = fig.axes[0]
    row = next(tick for tick, text in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
               if text.get_text().startswith("Rafael Bauer"))
    x, y = ax.transData.transform((1.0, row))
    colour = tuple(round(255 * c) for c in to_rgb(PALETTE["primary"]))
    beyond = image.getpixel((round(x) + 3, image.height - round(y)))  # past the frame
    assert max(abs(a - b) for a, b in zip(beyond, colour, strict=True)) < 40, (beyond, colour)


def test_a_panel_without_responses_says_so_instead_of_drawing_an_empty_scale():
    """A team whose customers answered only the NPS survey (the demo's partners): its CSAT
    and CES panels said nothing and showed a scale of nothing (0–5% with no bar)."""
    from crmkit.render.charts import satisfaction as satisfaction_charts

    month = pd.DataFrame({"month": ["2025-04", "2025-05", "2025-06"]})
    for kind in ("nps", "csat", "ces"):
        answered = kind == "nps"
        for column, value in ((kind, 40.0), (f"{kind}_low", 20.0), (f"{kind}_high", 60.0)):
            month[column] = value if answered else None
        month[f"{kind}_responses"] = 22 if answered else 0
    scores = pd.DataFrame({
        "kind": ["nps"] * 11 + ["csat"] * 5 + ["ces"] * 7,
        "score": [*range(11), *range(1, 6), *range(1, 8)],
        "band": ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2 + ["not satisfied"] * 3
                + ["satisfied"] * 2 + ["effort score"] * 7,
        "responses": [0, 0, 0, 1, 1, 3, 0, 3, 3, 8, 3] + [0] * 12})
    scores["share"] = scores["responses"] / 22
    for fig in (satisfaction_charts.trend(month, ["2025-06"]),
                satisfaction_charts.score_distribution(scores)):
        plotting.png(fig)
        said = [[t.get_text() for t in ax.texts if "No " in t.get_text()] for ax in fig.axes]
        assert said[0] == [] and all(len(s) == 1 for s in said[1:]), said
        assert "CSAT" in said[1][0] and "CES" in said[2][0]
        assert [len(ax.get_yticks()) for ax in fig.axes[1:]] == [0, 0]
        assert fig.axes[0].get_yticks().size > 0


def test_the_first_and_last_rows_of_a_dot_chart_are_drawn_whole():
    """A team with two channels: the axes ended at its two rows, so both dots were cut in
    half by the frame; each row keeps half a row of room."""
    from crmkit.render.charts import marketing as marketing_charts

    channels = pd.DataFrame({
        "channel": ["webinar", "events"], "leads": [8, 12], "lead_conversion": [0.125, 0.083],
        "lead_conversion_low": [0.022, 0.015], "lead_conversion_high": [0.47, 0.354]})
    sellers = pd.DataFrame({
        "name": ["Xenia Laine", "Oskar Haas"], "closed": [47, 33], "win_rate": [0.404, 0.333],
        "win_rate_low": [0.276, 0.198], "win_rate_high": [0.547, 0.504]})
    for fig in (marketing_charts.conversion_by_channel(channels, 0.1),
                sales_charts.win_rate_by_employee(sellers)):
        plotting.png(fig)
        ax = fig.axes[0]
        frame = ax.get_window_extent()
        line = ax.lines[0]  # the dots
        radius = line.get_markersize() / 2 * fig.dpi / 72
        for _x, y in ax.transData.transform(line.get_xydata()):
            assert frame.y0 <= y - radius and y + radius <= frame.y1, (y, radius, frame)


def test_a_role_median_near_the_axis_is_labelled_inside_the_axes():
    """Managers log few work items (a median of 8 beside the sellers' 267): their median's
    label, centred on its line, ran across the axis into the names."""
    from crmkit.render.charts import performance as performance_charts

    people = [("Finn Lindqvist", "sales", 467, 267.0), ("Lena Peters", "sales", 267, 267.0),
              ("Georg Engel", "manager", 9, 8.0), ("Aiko Lorenz", "manager", 7, 8.0)]
    employee = pd.DataFrame({
        "name": [p[0] for p in people], "role": [p[1] for p in people],
        "full_period": [True] * 4, "note": [""] * 4, "activities": [p[2] for p in people],
        "tasks_due": [0] * 4, "tickets_assigned": [0] * 4, "workload": [p[2] for p in people],
        "workload_role_median": [p[3] for p in people], "workload_flag": [""] * 4,
        "workload_ratio": [p[2] / p[3] for p in people]})
    fig = performance_charts.workload(employee)
    plotting.png(fig)
    ax = fig.axes[0]
    frame = ax.get_window_extent()
    labels = [t for t in ax.texts if "median:" in t.get_text() and "×" not in t.get_text()]
    assert len(labels) == 2
    for text in labels:
        assert frame.x0 <= text.get_window_extent().x0, text.get_text()


def test_a_one_agent_response_chart_has_room_for_its_labels_and_values():
    """A team with one support agent: the chart was a bar high, its axis label broken onto
    three lines and the 90th percentile's value on the frame."""
    from crmkit.render.charts import performance as performance_charts

    employee = pd.DataFrame({
        "name": ["Rosa Kowalski"], "tickets_answered": [47], "full_period": [True],
        "first_response_minutes_median": [157.0], "first_response_minutes_p90": [461.0]})
    team_median = pd.DataFrame({"metric": ["first_response_minutes_median"], "team_median": [157.0]})
    fig = performance_charts.response_times(employee, team_median)
    plotting.png(fig)
    ax = fig.axes[0]
    frame, label = ax.get_window_extent(), _as_drawn(ax.yaxis.label)
    assert ax.yaxis.label._get_wrapped_text().count("\n") <= 1
    assert fig.bbox.y0 <= label.y0 and label.y1 <= fig.bbox.y1 and fig.bbox.x0 <= label.x0, label
    for value in ax.texts:
        assert value.get_window_extent().x1 <= frame.x1, value.get_text()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_ends_of_a_long_campaign_list_are_named_apart_inside_the_axes(seed):
    """Of sixty campaigns, the five with the largest profit and the five with the largest
    loss are named: every name inside the axes and none over another, however close their
    points (where every place near a point touched some other point, a name was put on
    its first place tried, over names and past the axes)."""
    import numpy as np

    from crmkit.render.charts import marketing as marketing_charts

    rng = np.random.default_rng(seed)
    cost = rng.lognormal(8.5, 0.8, 60).round(2)
    revenue = (cost * rng.lognormal(0.2, 1.0, 60)).round(2)
    revenue[rng.choice(60, 8, replace=False)] = 0.0
    campaigns = pd.DataFrame({
        "campaign_id": [f"cmp-{i:02d}" for i in range(60)],
        "name": [f"Campaign {i:02d} {'Autumn Push' if i % 2 else 'Partners'}" for i in range(60)],
        "cost": cost, "revenue": revenue})
    campaigns["roi"] = (campaigns["revenue"] - campaigns["cost"]) / campaigns["cost"]
    fig = marketing_charts.cost_vs_revenue(campaigns, "EUR")
    plotting.png(fig)
    ax = fig.axes[0]
    names = [t for t in ax.texts if t.get_text()]
    assert len(names) == 10
    assert _overlapping(names) == []
    frame = ax.get_window_extent()
    for name in names:
        extent = Text.get_window_extent(name)
        assert frame.x0 <= extent.x0 and extent.x1 <= frame.x1, name.get_text()
        assert frame.y0 <= extent.y0 and extent.y1 <= frame.y1, name.get_text()


def test_a_campaign_name_too_long_for_the_scatter_is_shortened_inside_it():
    """Long campaign names (a Russian page's) ran off the plot: a name that fits nowhere in
    the axes is shortened a word at a time, with an ellipsis; the others stay whole."""
    from crmkit.render.charts import marketing as marketing_charts

    long_names = ["Осенняя распродажа корпоративных лицензий для партнёров Северо-Западного "
                  "федерального округа", "Вебинары для финансовых директоров малого бизнеса "
                  "в регионах Поволжья и Урала", "Поиск"]
    campaigns = pd.DataFrame({"campaign_id": ["c1", "c2", "c3"], "name": long_names,
                              "cost": [1200.0, 8000.0, 3000.0], "revenue": [40000.0, 0.0, 9000.0]})
    campaigns["roi"] = (campaigns["revenue"] - campaigns["cost"]) / campaigns["cost"]
    fig = marketing_charts.cost_vs_revenue(campaigns, "RUB")
    plotting.png(fig)
    ax = fig.axes[0]
    names = {t.get_text(): t for t in ax.texts if t.get_text()}
    assert len(names) == 3 and "Поиск" in names
    shortened = [n for n in names if n != "Поиск"]
    for name, whole in zip(sorted(shortened), sorted(long_names[:2]), strict=True):
        assert name.endswith("…") and whole.startswith(name[:-1]) and len(name) < len(whole)
    frame = ax.get_window_extent()
    for text in names.values():
        extent = Text.get_window_extent(text)
        assert frame.x0 <= extent.x0 and extent.x1 <= frame.x1, text.get_text()
    assert _overlapping(list(names.values())) == []


def test_slanted_month_labels_end_at_their_ticks():
    """A month label slanted at 45° ends at its tick (centred under it, each label sat
    between two bars and read as its neighbour's)."""
    from crmkit.render.charts import satisfaction as satisfaction_charts

    month = pd.DataFrame({"month": [f"2025-{m:02d}" for m in range(1, 7)]})
    for kind in ("nps", "csat", "ces"):
        month[kind], month[f"{kind}_low"], month[f"{kind}_high"] = 0.5, 0.4, 0.6
        month[f"{kind}_responses"] = 40
    fig = satisfaction_charts.trend(month, ["2025-06"])
    plotting.png(fig)
    ax = fig.axes[-1]
    for tick, label in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True):
        x = ax.transData.transform((tick, 0))[0]
        extent = label.get_window_extent()
        assert abs(extent.x1 - x) < 8, (label.get_text(), extent.x1, x)
