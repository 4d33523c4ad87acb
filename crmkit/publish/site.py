"""The published site: the index pages, and the branding and navigation of every page.

- ``output/index.html`` lists every report present, grouped by period (newest first), then
  by team (company-wide first), each report by its title with its index KPIs
  (:attr:`crmkit.catalog.Entry.index_kpis`; the first three metrics of a custom report):
  the value, the change shown by the one rule of :mod:`crmkit.verdict` (arrow, colour,
  points for rates and NPS, significance in words) and a flag on a small sample.
- A filter that needs no script: one page per period (``output/periods/<period>.html``) and
  one per team (``output/teams/<team>.html``), linked from every index page. (A period's own
  folder cannot hold its page: ``index.html`` is a usable team id.) Pages of periods and
  teams no longer present are removed.
- Every report page gets, when it is exported (:func:`chrome`), the branding and a
  navigation: back to the index, to its period's and its team's pages, to the same report
  for the other teams, to the previous and the next period of the same kind (months with
  months, quarters with quarters), and to the other reports of its period and team. It
  links the pages on disk and those its run will publish (a preset's whole batch).
- Every link is relative, so an output folder works copied anywhere or served from any base
  path; a folder name (a team id may hold ``#``, ``?``, ``%`` or spaces) is percent-encoded.

The index is rebuilt from the JSON twins on disk (the single source of truth), so it is
always consistent with the pages it links, whichever run wrote them. Every page is rendered
from autoescaping Jinja2 templates (``templates/site/``, through :mod:`crmkit._html`).

A JSON twin is data a custom report wrote: one that cannot be read, has not the shape of a
twin, or holds values the index cannot show (``"inf"`` as text, ``Infinity``) is left out
of the index and named on standard error, so one bad file never stops ``run``, ``run-all``
or ``index`` for the others. A page and its twin are read from the same published version
(see :func:`crmkit._files.publish_together`).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from crmkit import _html, i18n
from crmkit._files import locked, report_files, sweep_output, write_atomic
from crmkit.backends.remembered import SETTLED_SECONDS
from crmkit.catalog import CATALOG, title
from crmkit.parameters import ALL_TEAMS
from crmkit.publish.presets import Branding
from crmkit.render.formatting import CSS, fmt
from crmkit.verdict import Verdict, verdict

#: The folders of the filter pages, beside the period folders (no period is named so).
PERIODS, TEAMS = "periods", "teams"
#: How the company-wide "team" is named (as the store names it; a message of the catalogue).
ALL_TEAMS_NAME = i18n.N_("All teams")
#: Between the parts of a page's title: "Sales — Mid-Market — 2026-11".
TITLE_SEPARATOR = " — "
_DIGIT = re.compile(r"\d")
#: The firing alerts of the last runs (written by :mod:`crmkit.publish.alerts`).
ALERTS_FILE = "alerts.json"
#: How the last preset run went (:mod:`crmkit.publish.batch`), and the refresh loop's
#: heartbeat (:mod:`crmkit.publish.watch`).
STATUS_FILE = "status.json"


# -- pages and their places ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Page:
    """A report page of the site, by its place: period folder, team id (its folder) and report
    id; ``period`` is the period's label (not part of the identity)."""

    slug: str
    team: str
    report: str
    period: str = field(default="", compare=False)

    @property
    def href(self) -> str:
        """Its address relative to the output folder, each part percent-encoded."""
        return "/".join(quote(p, safe="") for p in (self.slug, self.team, f"{self.report}.html"))

    @property
    def kind(self) -> str:
        """The shape of its period label (``9999-99`` for a month, ``9999-Q9`` for a quarter):
        periods of one shape follow each other."""
        return _DIGIT.sub("9", self.period)


def period_page(slug: str) -> str:
    """The address of a period's index page, relative to the output folder."""
    return f"{PERIODS}/{quote(slug, safe='')}.html"


def team_page(team: str) -> str:
    """The address of a team's index page, relative to the output folder."""
    return f"{TEAMS}/{quote(team, safe='')}.html"


def team_label(team: str, names: Mapping[str, str]) -> str:
    """A team's name for people: from ``names``, the company-wide one, else its id."""
    if team == ALL_TEAMS and names.get(team) in (None, "", ALL_TEAMS_NAME):
        return i18n.gettext(ALL_TEAMS_NAME)
    return names.get(team) or team


def page_title(report_title: str, team_name: str, period: str) -> str:
    """A report page's title and heading: "Sales — Mid-Market — 2026-11"."""
    return TITLE_SEPARATOR.join((report_title, team_name, period))


def pages_on_disk(output: str | Path) -> set[Page]:
    """The report pages published under ``output`` (found by their names; none is read)."""
    found = set()
    for html in report_files(Path(output), ".html"):
        slug, team = html.parent.parent.name, html.parent.name
        if any(part.startswith(".") for part in (slug, team, html.name)) or not html.exists():
            continue
        found.add(Page(slug, team, html.stem, slug.replace("_to_", "..")))
    return found


# -- the navigation of a report page ------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A link of a navigation: its text, its address, whether it is the page shown."""

    text: str
    href: str
    current: bool = False


@dataclass(frozen=True)
class Nav:
    """Where a report page leads (addresses relative to the page)."""

    index: str
    period: Link
    team: Link
    previous: Link | None
    next: Link | None
    teams: tuple[Link, ...]
    reports: tuple[Link, ...]


def _team_order(names: Mapping[str, str]) -> Callable[[str], tuple[bool, str, str]]:
    return lambda team: (team != ALL_TEAMS, team_label(team, names).casefold(), team)


def _report_order(report: str) -> tuple[int, str]:
    order = list(CATALOG)
    return (order.index(report) if report in order else len(order), report)


def navigation(page: Page, known: Iterable[Page], names: Mapping[str, str]) -> Nav:
    """The navigation of ``page`` among the ``known`` pages (``names``: team id -> name)."""
    up = "../../"
    pages = {page} | set(known)
    series = sorted(p for p in pages
                    if (p.report, p.team, p.kind) == (page.report, page.team, page.kind))
    at = series.index(page)
    before = series[at - 1] if at > 0 else None
    after = series[at + 1] if at + 1 < len(series) else None
    teams = sorted({p.team for p in pages if (p.slug, p.report) == (page.slug, page.report)},
                   key=_team_order(names))
    reports = sorted({p.report for p in pages if (p.slug, p.team) == (page.slug, page.team)},
                     key=_report_order)
    return Nav(
        index=up + "index.html",
        period=Link(page.period, up + period_page(page.slug)),
        team=Link(team_label(page.team, names), up + team_page(page.team)),
        previous=Link(before.period, up + before.href) if before else None,
        next=Link(after.period, up + after.href) if after else None,
        teams=tuple(Link(team_label(t, names), up + Page(page.slug, t, page.report).href,
                         t == page.team) for t in teams),
        reports=tuple(Link(title(r), up + Page(page.slug, page.team, r).href, r == page.report)
                      for r in reports),
    )


def chrome(page: Page, known: Iterable[Page], names: Mapping[str, str],
           branding: Branding | None, page_name: str, alerts: Sequence[str] = ()
           ) -> dict[str, Any]:
    """What the page template (``templates/crmkit``) shows around a report page: its
    ``title``, and the ``head`` (stylesheet, accent colour), ``top`` (branding, navigation)
    and ``bottom`` (navigation) of the page, rendered through the autoescaping environment."""
    nav = navigation(page, known, names)
    values = {"nav": nav, "brand": branding, "css": CSS, "home": nav.index, "alerts": alerts}
    return {
        "title": page_name,
        "lang": i18n.active(),
        "head": Markup(_html.render("site/page_head.html.j2", **values)),
        "top": Markup(_html.render("site/page_top.html.j2", **values)),
        "bottom": Markup(_html.render("site/page_bottom.html.j2", **values)),
    }


# -- reading the JSON twins ---------------------------------------------------------------------

#: Told about each JSON twin the index leaves out: its path and why.
Skip = Callable[[Path, str], None]


def warn_skipped(path: Path, reason: str) -> None:
    """The default :data:`Skip`: one line on standard error."""
    print(f"crmkit: warning: index: skipped {path}: {reason}", file=sys.stderr)


#: A twin's file state: device, inode, size, modification and change times (None: gone).
TwinState = list[int] | None

#: What the index remembers of the twins it read, in the output folder (under its lock).
REMEMBERED = ".index-entries.json"

#: A larger memory is not read (hundreds of pages take a few megabytes).
REMEMBERED_MAX_BYTES = 64 * 1024 * 1024


def twin_state(path: Path) -> TwinState:
    """What says a twin's file changed, read without opening it (:data:`TwinState`)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class _Remembered:
    """Each twin the index read, without its breakdowns (the bulk of a large twin, which
    the index does not show), with the state of its file: a twin whose file is still in
    that state is not read again. So rebuilding the index after one run reads that run's
    twin, not every twin of the folder (at 3,000 people, a twin of 9 MB takes 0.2 s to
    read). Only states whose newest write is :data:`SETTLED_SECONDS` old are remembered
    (a rewrite within a file system's timestamp granularity may keep the times). The file
    holds what the twins hold, and is checked like a twin when read."""

    def __init__(self, root: Path) -> None:
        self.path = root / REMEMBERED
        self.before: dict[str, Any] = {}
        # anything but a plain file of a sane size is not read: not a link, a FIFO or a
        # device that would hang the index under the folder's lock; nor JSON nested too deep
        with contextlib.suppress(Exception):
            st = self.path.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_size <= REMEMBERED_MAX_BYTES:
                found = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(found, dict) and isinstance(found.get("twins"), dict):
                    self.before = found["twins"]
        self.now: dict[str, Any] = {}

    def get(self, name: str, state: TwinState) -> dict[str, Any] | None:
        known = self.before.get(name)
        if state is None or not isinstance(known, dict) or known.get("state") != state \
                or not isinstance(known.get("entry"), dict):
            return None
        self.now[name] = known
        return dict(known["entry"])

    def put(self, name: str, state: TwinState, data: Mapping[str, Any]) -> None:
        if state is not None and time.time_ns() - max(state[3:]) >= SETTLED_SECONDS * 1e9:
            self.now[name] = {"state": state,
                              "entry": {k: v for k, v in data.items() if k != "breakdowns"}}

    def save(self) -> None:
        if self.now != self.before:  # an optimisation: a folder we cannot write costs time only
            with contextlib.suppress(Exception):
                write_atomic(self.path, json.dumps({"twins": self.now}, ensure_ascii=False))


def collect(output: Path, skip: Skip | None = None,
            known: Mapping[str, tuple[TwinState, Mapping[str, Any]]] | None = None,
            ) -> list[dict[str, Any]]:
    """Every published report under ``output``: its JSON plus the page's relative path
    (``_href``, not encoded); twins that cannot be shown are passed to ``skip`` (default:
    ignored). Newest period first; then company-wide first, teams by name, reports in the
    catalogue's order. A twin is read again only when its file changed since the index last
    read it (:class:`_Remembered`); ``known`` gives twins a run just wrote (by path
    relative to ``output``: the file's state as written, and what it holds), taken as
    they are while their file is still in that state."""
    entries = []
    known = known or {}
    remembered = _Remembered(output)
    for path in report_files(output, ".json"):
        page = path.with_suffix(".html")
        if not page.exists() or path.parent.name.startswith("."):
            continue
        name = path.relative_to(output).as_posix()
        state = twin_state(path)
        data = remembered.get(name, state)
        if data is None and state is not None and name in known and known[name][0] == state:
            data = dict(known[name][1])
        if data is not None:  # what the index cannot show is read again from the twin
            data = _showable(data, path)[0]
        data, problem = _read(path) if data is None else (data, "")
        if data is None:
            if skip is not None:
                skip(path, problem)
            continue
        remembered.put(name, state, data)
        data["_href"] = page.relative_to(output).as_posix()
        entries.append(data)
    remembered.save()
    entries.sort(key=lambda d: (d.get("team") != ALL_TEAMS, str(d.get("team_name", "")).casefold(),
                                _href_parts(d)[1], _report_order(d["report"])))
    entries.sort(key=lambda d: (d["period"].get("start", ""), d["period"].get("end", "")),
                 reverse=True)
    return entries


def _read(path: Path) -> tuple[dict[str, Any] | None, str]:
    """A JSON twin the index can show, or ``None`` and why not."""
    try:
        data = json.loads(path.resolve().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"not readable JSON ({type(exc).__name__}: {str(exc)[:80]})"
    return _showable(data, path)


def _showable(data: Any, path: Path) -> tuple[dict[str, Any] | None, str]:
    """``data`` if it is a JSON twin the index can show, or ``None`` and why not."""
    if not isinstance(data, dict) or not isinstance(data.get("report"), str) \
            or not isinstance(data.get("period"), dict):
        return None, "not a report's JSON twin (no 'report' and 'period')"
    for key in ("label", "start", "end", "last_day"):
        if not isinstance(data["period"].get(key, ""), str):
            return None, f"period.{key} is not text"
    try:
        row(data | {"_href": path.with_suffix(".html").name})
    except Exception as exc:  # noqa: BLE001 - any value a custom report wrote
        return None, f"a value the index cannot show ({type(exc).__name__}: {str(exc)[:80]})"
    return data, ""


def _href_parts(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """(period folder, team folder, file name) of an entry's page."""
    parts = ["", "", *str(entry.get("_href", "")).split("/")][-3:]
    return parts[0], parts[1], parts[2]


# -- one report on an index page ----------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    """A headline number as the index shows it: its metric, label, formatted value, its
    change by the one rule (:class:`crmkit.verdict.Verdict`) and the sample size."""

    name: str
    label: str
    value: str
    change: Verdict
    n: int | None


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool)
                             and math.isfinite(value))


def _checked(value: Any, where: str) -> Any:
    if not _number(value):
        raise ValueError(f"{where} is not a finite number or null")
    return value


def kpis(entry: dict[str, Any]) -> list[Kpi]:
    """The index KPIs of one published report, formatted from its JSON alone (each JSON
    carries the definitions of its metrics: no report code runs)."""
    metrics = entry.get("metrics") or {}
    known = CATALOG.get(entry["report"])
    names = known.index_kpis if known else tuple(metrics)[:3]
    return [_kpi(entry, name) for name in names if name in metrics]


def kpi(entry: dict[str, Any], name: str) -> Kpi:
    """Any metric of a published report, formatted and its change shown as on the index."""
    return _kpi(entry, name)


def _kpi(entry: dict[str, Any], name: str) -> Kpi:
    value = _checked(entry["metrics"][name], f"metrics.{name}")
    definition = (entry.get("definitions") or {}).get(name) or {}
    unit = str(definition.get("unit") or "score")
    change = (entry.get("changes") or {}).get(name) or {}
    n = (entry.get("samples") or {}).get(name)
    n = n if isinstance(n, int) and not isinstance(n, bool) else None
    shown = verdict(
        unit=unit, higher_is_better=definition.get("higher_is_better", True) is not False,
        change_in_points=definition.get("change_in_points") is True, value=value,
        previous=_previous(entry, name, unit, value, change) if _compared(entry) else None,
        change=_checked(change.get("change"), f"changes.{name}.change"),
        p_value=_checked(change.get("p_value"), f"changes.{name}.p_value"),
        significant=change.get("significant") is True, n=n,
    )
    return Kpi(name, str(definition.get("label") or name),
               fmt(value, unit, str(entry.get("currency") or "")), shown, n)


def _compared(entry: dict[str, Any]) -> bool:
    """Whether the page compares its numbers (its twin's ``coverage.compared``; a twin
    written before that field did): a period not over, or one without data, is not."""
    coverage = entry.get("coverage")
    return not isinstance(coverage, dict) or coverage.get("compared") is not False


def _previous(entry: dict[str, Any], name: str, unit: str, value: Any, change: Mapping[str, Any]
              ) -> Any:
    """A metric's value in the comparison period: from ``comparison``, else from the
    change in points of the twin (``change_pp`` of a rate, ``change_points`` of a score)."""
    previous = _checked((entry.get("comparison") or {}).get(name), f"comparison.{name}")
    if previous is not None or value is None:
        return previous
    points = _checked(change.get("change_pp" if unit == "rate" else "change_points"),
                      f"changes.{name}")
    if points is None:
        return None
    return value - (points / 100 if unit == "rate" else points)


def row(entry: dict[str, Any]) -> dict[str, Any]:
    """One report of an index page (``href`` relative to the output folder)."""
    slug, team, name = _href_parts(entry)
    return {
        "period": entry["period"].get("label", ""),
        "slug": slug,
        "first_day": entry["period"].get("start", ""),
        "last_day": _cut(entry["period"]) or entry["period"].get("last_day", entry["period"].get("end", "")),
        "comparison": _comparison_label(entry),
        "team": team,
        "team_name": str(entry.get("team_name") or team_label(team, {})),
        "href": "/".join(quote(p, safe="") for p in (slug, team, name)),
        "title": title(entry["report"]),
        "kpis": kpis(entry),
        "generated_at": str(entry.get("generated_at", "")),
    }


def _cut(period: Mapping[str, Any]) -> str | None:
    """A to-date period's as-of instant, ``2026-11-15 14:00`` (local); None otherwise."""
    cut = period.get("cut")
    return cut.replace("T", " ")[:16] if isinstance(cut, str) and cut else None


def _comparison_label(entry: Mapping[str, Any]) -> str:
    comparison = entry.get("comparison_period")
    label = comparison.get("label") if isinstance(comparison, dict) else None
    return label if isinstance(label, str) else ""


# -- the index pages ----------------------------------------------------------------------------

#: An index page's scope: the whole site (None), one period (``("periods", slug)``) or one
#: team (``("teams", team)``).
Scope = tuple[str, str] | None


def _groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by period, then by team, in the order of :func:`collect`."""
    periods: dict[str, dict[str, Any]] = {}
    for r in rows:
        period = periods.setdefault(r["slug"], {**r, "href": period_page(r["slug"]), "teams": {}})
        team = period["teams"].setdefault(
            r["team"], {"team": r["team"], "name": r["team_name"], "href": team_page(r["team"]),
                        "rows": []})
        team["rows"].append(r)
    return [{**p, "teams": list(p["teams"].values())} for p in periods.values()]


def _filters(rows: list[dict[str, Any]], scope: Scope) -> dict[str, list[Link]]:
    """The links of the filter bar of an index page: every period and every team present
    (addresses relative to the page)."""
    up = "" if scope is None else "../"
    periods = {r["slug"]: r["period"] for r in rows}
    teams = {r["team"]: r["team_name"] for r in rows}
    return {
        "periods": [Link(label, up + period_page(slug), scope == (PERIODS, slug))
                    for slug, label in periods.items()],
        "teams": [Link(teams[t], up + team_page(t), scope == (TEAMS, t))
                  for t in sorted(teams, key=_team_order(teams))],
    }


def _alerts(root: Path, entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The firing alerts of ``alerts.json`` (written by a preset's run) whose pages are
    present: the sentence and the page's address."""
    present = {e["_href"] for e in entries}
    try:
        data = json.loads((root / ALERTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = data.get("alerts") if isinstance(data, dict) else None
    return [{"text": str(a.get("text", "")),
             "href": "/".join(quote(p, safe="") for p in a["href"].split("/"))}
            for a in (found if isinstance(found, list) else [])
            if isinstance(a, dict) and isinstance(a.get("href"), str) and a["href"] in present]


def refresh_line(checked_at: str, next_run: str | None = None) -> str:
    """The index's freshness sentence: when the data was last checked, and the next check."""
    line = i18n.gettext("Data checked {at}").format(at=checked_at)
    if next_run:
        return f"{line} · " + i18n.gettext("next check {at}").format(at=next_run)
    return line


def _last_check(root: Path) -> str | None:
    """The freshness sentence of the last preset run recorded in ``status.json``."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        data = json.loads((root / STATUS_FILE).read_text(encoding="utf-8"))
        watch = data.get("watch") if isinstance(data.get("watch"), dict) else {}
        checked = data.get("finished_at")
        if isinstance(checked, str):
            nxt = watch.get("next_run")
            return refresh_line(_utc_text(checked), nxt if isinstance(nxt, str) else None)
    return None


def _utc_text(instant: str) -> str:
    """An ISO instant as the index states instants (``2026-12-02 19:49:26 UTC``); any other
    text as it is."""
    try:
        moment = datetime.fromisoformat(instant)
    except ValueError:
        return instant
    if moment.tzinfo is None:
        return instant
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(entries: list[dict[str, Any]], *, branding: Branding | None = None,
           scope: Scope = None, filters: Mapping[str, list[Link]] | None = None,
           alerts: list[dict[str, str]] | None = None, refresh: str | None = None) -> str:
    """An index page of ``entries`` (as :func:`collect` returns them): the whole site, or
    the ``scope`` of a filter page (``filters``: its links, from every entry); ``alerts``
    (firing alert rules: text and page) are listed at the top."""
    rows = [row(e) for e in entries]
    heading = i18n.gettext("Reports")
    if scope is not None and rows:
        heading = TITLE_SEPARATOR.join(
            (heading, rows[0]["period"] if scope[0] == PERIODS else rows[0]["team_name"]))
    return _html.render(
        "site/index.html.j2", css=CSS, brand=branding, heading=heading, scope=scope,
        up="" if scope is None else "../", groups=_groups(rows), count=len(rows),
        filters=filters if filters is not None else _filters(rows, scope), alerts=alerts or [],
        refresh=refresh,
    )


def write_index(output: str | Path, skip: Skip | None = warn_skipped,
                branding: Branding | None = None,
                refresh: str | tuple[str, str | None] | None = None,
                known: Mapping[str, tuple[TwinState, Mapping[str, Any]]] | None = None) -> Path:
    """Rebuild ``output/index.html`` and the pages of every period and team from the
    reports present (under the output folder's lock); a twin it cannot show is left out and
    named through ``skip``. What killed runs left in the folder is removed first. The index
    says when the data was last checked: ``refresh`` (:func:`refresh_line`, or its
    arguments, said in the index's language), else what the last preset run recorded in
    ``status.json``. The index is in the language of most pages it lists. ``known``: twins
    a run just wrote (:func:`collect`)."""
    root = Path(output)
    target = root / "index.html"
    sweep_output(root)
    with locked(root):
        entries = collect(root, skip, known)
        with i18n.activated(index_locale(entries)):
            _write_pages(root, entries, branding, refresh)
    return target


def index_locale(entries: Sequence[Mapping[str, Any]]) -> str:
    """The language of the index pages: that of most pages they list (their JSON twins
    say which), English without any."""
    known = i18n.locales()
    found = [str(e["locale"]) for e in entries if e.get("locale") in known]
    return max(dict.fromkeys(found), key=found.count) if found else i18n.DEFAULT


def _write_pages(root: Path, entries: list[dict[str, Any]], branding: Branding | None,
                 refresh: str | tuple[str, str | None] | None) -> None:
    """Write the index and the page of every period and team present (under the lock)."""
    if isinstance(refresh, tuple):
        refresh = refresh_line(*refresh)
    write_atomic(root / "index.html", render(entries, branding=branding,
                                             alerts=_alerts(root, entries),
                                             refresh=refresh or _last_check(root)))
    rows = [row(e) for e in entries]
    kept: dict[str, set[str]] = {PERIODS: set(), TEAMS: set()}
    for kind, key in dict.fromkeys([(PERIODS, r["slug"]) for r in rows] +
                                   [(TEAMS, r["team"]) for r in rows]):
        part = [e for e, r in zip(entries, rows, strict=True)
                if (r["slug"] if kind == PERIODS else r["team"]) == key]
        write_atomic(root / kind / f"{key}.html", render(
            part, branding=branding, scope=(kind, key), filters=_filters(rows, (kind, key))))
        kept[kind].add(f"{key}.html")
    _remove_stale(root, kept)


def _remove_stale(root: Path, kept: Mapping[str, set[str]]) -> None:
    """Remove the pages of periods and teams no longer present."""
    for kind, names in kept.items():
        for page in (root / kind).glob("*.html"):
            if page.name not in names and not page.name.startswith("."):
                with contextlib.suppress(OSError):
                    page.unlink()
