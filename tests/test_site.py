"""The published site (crmkit.publish.site, the ``crmkit`` page template, branding in
crmkit.publish.presets): index pages grouped by period then team with report titles, changes
shown by the one rule of crmkit.verdict and small samples flagged; one page per period and
per team as a filter without scripts; the navigation of every report page; titles that name
report, team and period; the company name, logo and accent colour on every page."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
from published import background, first_team, warm_kernel

from crmkit._files import locked, publish_together
from crmkit.errors import PresetError
from crmkit.metrics.definitions import METRICS
from crmkit.publish import site
from crmkit.publish.batch import Outcome, run_all
from crmkit.publish.export import accessible, configured, html_exporter, to_html
from crmkit.publish.presets import LOGO_MAX_BYTES, find_branding, load_branding
from crmkit.publish.runner import run_report
from crmkit.publish.site import Page, chrome, navigation, pages_on_disk, write_index

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_ID = "r&d <b> #1?%"  # a usable team id: none of / \\ ' " ` and no leading dot
HOSTILE_NAME = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 40
SVG_WITH_SCRIPT = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="40" '
                   b'height="40"><script>alert("svg")</script><rect width="40" height="40"/></svg>')


# -- helpers ------------------------------------------------------------------------------------


def _definitions(*names: str) -> dict:
    return {n: {"label": METRICS[n].label, "unit": METRICS[n].unit,
                "higher_is_better": METRICS[n].higher_is_better,
                "change_in_points": METRICS[n].change_in_points} for n in names}


def _twin(report: str, period: str, team: str, team_name: str, metrics: dict,
          comparison: dict | None = None, changes: dict | None = None,
          samples: dict | None = None) -> dict:
    year, month = (int(x) for x in period.split("-"))
    return {
        "report": report, "team": team, "team_name": team_name, "currency": "EUR",
        "period": {"label": period, "start": f"{period}-01", "end": f"{period}-28",
                   "last_day": f"{period}-27"},
        "comparison_period": {"label": f"{year}-{month - 1:02d}"},
        "metrics": metrics, "comparison": comparison, "changes": changes or {},
        "samples": samples or {}, "definitions": _definitions(*metrics),
    }


def _plant(out: Path, twin: dict) -> Path:
    """A published report: its JSON twin and a page beside it."""
    folder = out / twin["period"]["label"] / twin["team"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{twin['report']}.json").write_text(json.dumps(twin), encoding="utf-8")
    page = folder / f"{twin['report']}.html"
    page.write_text("<html></html>", encoding="utf-8")
    return page


def _sales(period: str, team: str, name: str, **over) -> dict:
    twin = _twin("sales", period, team, name,
                 {"revenue": 90.0, "deals_won": 12, "win_rate": 0.36},
                 comparison={"revenue": 100.0, "deals_won": 12, "win_rate": 0.30},
                 changes={"revenue": {"change": -0.1, "p_value": 0.01, "significant": True},
                          "deals_won": {"change": 0.0, "p_value": 1.0, "significant": False},
                          "win_rate": {"change": 0.2, "p_value": 0.4, "significant": False}},
                 samples={"win_rate": 50})
    return twin | over


def _performance(period: str, team: str, name: str) -> dict:
    return _twin("performance", period, team, name,
                 {"tickets_resolved": 1, "sla_compliance": 0.0},
                 comparison={"tickets_resolved": 40, "sla_compliance": 0.9},
                 changes={"tickets_resolved": {"change": -0.975},
                          "sla_compliance": {"change": -1.0}},
                 samples={"sla_compliance": 1})


def _satisfaction(period: str, team: str, name: str) -> dict:
    return _twin("satisfaction", period, team, name, {"nps": 34.2, "csat": 0.8},
                 comparison={"nps": 10.0, "csat": 0.8},
                 changes={"nps": {"change": 2.42, "p_value": 0.0004, "significant": True},
                          "csat": {"change": 0.0, "p_value": 1.0, "significant": False}},
                 samples={"nps": 120, "csat": 120})


def _site(out: Path) -> Path:
    """Two periods, two teams, three reports (one team only in June)."""
    for period in ("2025-05", "2025-06"):
        for team, name in (("all", "All teams"), ("ent", "Enterprise")):
            _plant(out, _sales(period, team, name))
        _plant(out, _performance(period, "all", "All teams"))
    _plant(out, _satisfaction("2025-06", "ent", "Enterprise"))
    return write_index(out)


def _kpi(page: str, metric: str, after: str = "") -> str:
    """The text of one KPI of an index page (the first after ``after``), tags kept."""
    start = page.index(after) if after else 0
    found = re.search(rf'data-metric="{metric}">(.*?)</li>', page[start:], re.S)
    assert found, metric
    return found.group(1)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page)]


def _assert_links_resolve(root: Path) -> int:
    """Every link of every page under ``root`` to another file is relative and names a
    file that exists (links within a page and ``data:`` downloads aside)."""
    checked = 0
    for page in [*root.glob("*.html"), *root.glob("*/*.html"), *root.glob("*/*/*.html")]:
        for href in _hrefs(page.read_text(encoding="utf-8")):
            if href.startswith(("#", "data:")):
                continue
            assert not re.match(r"[a-z]+:|/", href), f"{page}: {href} is not relative"
            target = (page.parent / unquote(href.partition("#")[0])).resolve()
            assert target.is_file(), f"{page.relative_to(root)}: {href} leads nowhere"
            checked += 1
    return checked


def _branding_file(folder: Path, text: str, logo: tuple[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if logo:
        (folder / logo[0]).write_bytes(logo[1])
    path = folder / "branding.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the index ----------------------------------------------------------------------------------


def test_index_groups_by_period_then_team_with_report_titles(tmp_path):
    out = tmp_path / "out"
    page = _site(out).read_text(encoding="utf-8")
    periods = page.split('<section class="ck-period">')[1:]
    assert [re.search(r"<h2><a[^>]*>([^<]+)</a>", p).group(1) for p in periods] == \
        ["2025-06", "2025-05"]
    june = periods[0]
    teams = june.split('<section class="ck-teamgroup">')[1:]
    assert [re.search(r"<h3><a[^>]*>([^<]+)</a>", t).group(1) for t in teams] == \
        ["All teams", "Enterprise"]
    titles = [re.findall(r'class="ck-report-title" href="([^"]+)">([^<]+)<', t) for t in teams]
    assert titles == [
        [("2025-06/all/sales.html", "Sales"), ("2025-06/all/performance.html", "Employee performance")],
        [("2025-06/ent/sales.html", "Sales"), ("2025-06/ent/satisfaction.html", "Customer satisfaction")],
    ]
    assert "compared with 2025-05" in june and "<title>Reports</title>" in page
    assert ">sales<" not in page  # ids are not shown
    assert _assert_links_resolve(out) > 20


def test_index_changes_follow_the_one_rule(tmp_path):
    page = _site(tmp_path / "out").read_text(encoding="utf-8")
    revenue = _kpi(page, "revenue")  # a significant fall of 10% of a metric where more is better
    assert 'class="ck-down"' in revenue and "▼ \u221210.0%" in revenue
    assert "significant (p=0.010)" in _text(revenue) and "not significant" not in revenue
    win_rate = _kpi(page, "win_rate")  # a rate: 30% -> 36% is +6.0 points, not +20%
    assert 'class="ck-up"' in win_rate and "▲ +6.0 pp" in win_rate and "20.0%" not in win_rate
    assert "not significant (p=0.400)" in _text(win_rate) and "small sample" not in win_rate
    nps = _kpi(page, "nps")  # NPS in points; significant, so never grey
    assert 'class="ck-up"' in nps and "▲ +24.2 pts" in nps and "significant (p<0.001)" in _text(nps)
    flat = _kpi(page, "deals_won")
    assert 'class="ck-flat"' in flat and "▲" not in flat and "▼" not in flat


def test_index_flags_a_rate_from_a_small_sample(tmp_path):
    page = _site(tmp_path / "out").read_text(encoding="utf-8")
    sla = _text(_kpi(page, "sla_compliance"))
    assert sla.startswith("SLA compliance 0.0%") and "small sample (n = 1)" in sla
    assert "▼ \u221290.0 pp" in sla
    assert "small sample" not in _kpi(page, "nps")


def test_index_reads_changes_in_points_of_the_new_json_shape(tmp_path):
    """Rates carry ``change: null`` and ``change_pp``, NPS ``change_points``; the index
    shows the same with or without the comparison values."""
    out = tmp_path / "out"
    old = _sales("2025-06", "all", "All teams")
    new = _sales("2025-06", "ent", "Enterprise", comparison=None, changes={
        "revenue": {"change": -0.1, "p_value": 0.01, "significant": True},
        "win_rate": {"change": None, "change_pp": 6.0, "p_value": 0.4, "significant": False},
    })
    _plant(out, old)
    _plant(out, new)
    page = write_index(out).read_text(encoding="utf-8")
    first, second = _kpi(page, "win_rate"), _kpi(page, "win_rate", after="2025-06/ent/")
    assert "▲ +6.0 pp" in second and first == second


def test_filter_pages_per_period_and_team(tmp_path):
    out = tmp_path / "out"
    index = _site(out).read_text(encoding="utf-8")
    assert {"periods/2025-06.html", "periods/2025-05.html", "teams/all.html", "teams/ent.html"} \
        <= set(_hrefs(index))
    june = (out / "periods" / "2025-06.html").read_text(encoding="utf-8")
    assert "<title>Reports — 2025-06</title>" in june and "<h1>Reports — 2025-06</h1>" in june
    reports = re.findall(r'class="ck-report-title" href="([^"]+)"', june)
    assert reports and all(r.startswith("../2025-06/") for r in reports)
    ent = (out / "teams" / "ent.html").read_text(encoding="utf-8")
    assert "<title>Reports — Enterprise</title>" in ent
    reports = re.findall(r'class="ck-report-title" href="([^"]+)"', ent)
    assert sorted(reports) == ["../2025-05/ent/sales.html", "../2025-06/ent/sales.html",
                               "../2025-06/ent/satisfaction.html"]
    assert 'aria-current="page">Enterprise<' in ent and 'href="../index.html"' in ent
    _assert_links_resolve(out)


def test_pages_of_periods_and_teams_gone_are_removed(tmp_path):
    out = tmp_path / "out"
    _site(out)
    shutil.rmtree(out / "2025-05")
    shutil.rmtree(out / "2025-06" / "ent")
    index = write_index(out).read_text(encoding="utf-8")
    assert sorted(p.name for p in (out / "periods").iterdir()) == ["2025-06.html"]
    assert sorted(p.name for p in (out / "teams").iterdir()) == ["all.html"]
    assert "2025-05/" not in index and "periods/2025-05" not in index and "Enterprise" not in index
    _assert_links_resolve(out)


def test_hostile_team_id_and_name_are_escaped_and_linked(tmp_path):
    out = tmp_path / "out"
    _plant(out, _sales("2025-06", HOSTILE_ID, HOSTILE_NAME))
    write_index(out)
    team_page = out / "teams" / f"{HOSTILE_ID}.html"
    for page in (out / "index.html", out / "periods" / "2025-06.html", team_page):
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text and "<img src=x" not in text, page
        assert "&lt;script&gt;alert(" in text
    assert "%3Cb%3E%20%231%3F%25" in (out / "index.html").read_text(encoding="utf-8")
    _assert_links_resolve(out)


# -- the navigation of a report page ------------------------------------------------------------


def _known() -> set[Page]:
    pages = {Page(p, t, "sales", p) for p in ("2025-04", "2025-05", "2025-06", "2025-Q2")
             for t in ("all", "ent")}
    return pages | {Page("2025-06", "all", "activity", "2025-06")}


def test_navigation_links_teams_and_periods_of_the_same_kind():
    names = {"ent": "Enterprise"}
    may = navigation(Page("2025-05", "all", "sales", "2025-05"), _known(), names)
    assert may.index == "../../index.html"
    assert (may.previous.text, may.previous.href) == ("2025-04", "../../2025-04/all/sales.html")
    assert (may.next.text, may.next.href) == ("2025-06", "../../2025-06/all/sales.html")
    assert [(t.text, t.href, t.current) for t in may.teams] == [
        ("All teams", "../../2025-05/all/sales.html", True),
        ("Enterprise", "../../2025-05/ent/sales.html", False)]
    assert [r.text for r in may.reports] == ["Sales"]  # activity exists in June only
    june = navigation(Page("2025-06", "all", "sales", "2025-06"), _known(), names)
    assert june.next is None and [r.text for r in june.reports] == ["Sales", "Customer activity"]
    quarter = navigation(Page("2025-Q2", "ent", "sales", "2025-Q2"), _known(), names)
    assert quarter.previous is None and quarter.next is None  # months are another series
    alone = navigation(Page("2025-07", "all", "sales", "2025-07"), set(), names)
    assert alone.previous is None and [t.text for t in alone.teams] == ["All teams"]


def test_navigation_finds_published_pages_on_disk(tmp_path):
    _site(tmp_path)
    found = pages_on_disk(tmp_path)
    assert Page("2025-06", "ent", "satisfaction") in found and len(found) == 7
    assert all(p.period == p.slug for p in found)


def test_page_export_shows_title_branding_and_navigation_escaped(tmp_path):
    """nbconvert renders the page template without autoescape: what the site adds is
    escaped all the same (a hostile team name, a hostile company name)."""
    branding = load_branding(_branding_file(
        tmp_path, f"company: {json.dumps(HOSTILE_NAME)}\nlogo: logo.svg\naccent: '#0B6E4F'\n",
        ("logo.svg", SVG_WITH_SCRIPT)))
    page = Page("2025-06", "all", "sales", "2025-06")
    known = {page, Page("2025-05", "all", "sales", "2025-05"), Page("2025-06", HOSTILE_ID, "sales", "2025-06")}
    parts = chrome(page, known, {HOSTILE_ID: HOSTILE_NAME}, branding,
                   f"Sales — {HOSTILE_NAME} — 2025-06")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("## Report body"))
    exporter = html_exporter()
    text = to_html(nb, exporter, parts)
    assert "<script" not in text.lower() and "<img src=x" not in text
    title = re.search(r"<title>(.*?)</title>", text, re.S).group(1)
    assert html.unescape(title) == f"Sales — {HOSTILE_NAME} — 2025-06"
    assert text.count("&lt;script&gt;alert(") >= 3  # title, company, team link
    assert ":root{--ck-accent:#0b6e4f}" in text
    assert 'href="../../2025-05/all/sales.html"' in text and 'rel="prev"' in text
    assert 'href="../../2025-06/r%26d%20%3Cb%3E%20%231%3F%25/sales.html"' in text
    assert text.index("Report body") > text.index('class="ck ck-pagenav"')
    assert "Report body" in to_html(nb, exporter)  # no chrome: the page as before


def test_the_export_validates_the_notebook_once_and_still_refuses_an_invalid_one(monkeypatch):
    """nbconvert validated the whole notebook after each of its 13 preprocessors (half of a
    page's export); once, after the last, still stops a notebook that is not valid."""
    from nbconvert.exporters.exporter import Exporter

    calls = []
    validate = Exporter._validate_preprocessor
    monkeypatch.setattr(Exporter, "_validate_preprocessor",
                        lambda self, nb, pre: (calls.append(pre), validate(self, nb, pre))[1])
    exporter = html_exporter()
    calls.clear()
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("## Report body"))
    assert "Report body" in to_html(nb, exporter)
    assert len(calls) == 1 and len(exporter._preprocessors) > 10
    nb.cells[0]["source"] = 42  # not a string
    from nbformat.validator import NotebookValidationError

    with pytest.raises(NotebookValidationError):
        to_html(nb, exporter)


# -- branding -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, content, media", [
    ("logo.png", PNG, "image/png"), ("logo.JPG", JPEG, "image/jpeg"),
    ("logo.svg", SVG_WITH_SCRIPT, "image/svg+xml"),
])
def test_logo_is_embedded_as_a_data_uri(tmp_path, name, content, media):
    path = _branding_file(tmp_path / "conf", f"company: Acme GmbH\nlogo: {name}\n", (name, content))
    branding = load_branding(path)
    prefix = f"data:{media};base64,"
    assert branding.logo.startswith(prefix) and branding.company == "Acme GmbH"
    assert base64.b64decode(branding.logo[len(prefix):]) == content
    assert branding.accent is None


def test_svg_logo_goes_in_an_img_so_its_scripts_never_run(tmp_path):
    out = tmp_path / "out"
    _plant(out, _sales("2025-06", "all", "All teams"))
    branding = load_branding(_branding_file(tmp_path, "logo: logo.svg\n", ("logo.svg", SVG_WITH_SCRIPT)))
    page = write_index(out, branding=branding).read_text(encoding="utf-8")
    assert re.search(r'<img class="ck-logo" src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+"', page)
    assert "<svg" not in page and "<script" not in page and "<object" not in page
    assert "<iframe" not in page and "<embed" not in page


@pytest.mark.parametrize("text, needle", [
    ('accent: "#fff;}body{display:none"\n', "'#fff;}body{display:none' is not a colour"),
    ("accent: red\n", "'red' is not a colour: write it as #rrggbb"),
    ('accent: "#12345g"\n', "is not a colour"),
    ('accent: "url(javascript:alert(1))"\n', "is not a colour"),
    ("accent: #2f6db5\n", "write the colour in quotes"),  # YAML reads it as a comment
    ("company: [a, b]\n", "company: must be the company's name"),
    ('company: "two\\nlines"\n', "company: must be one line"),
    ("colour: blue\n", "unknown key colour; valid keys: company, logo, accent"),
    ("- a\n", "branding is a mapping"),
    ("company: [\n", "not valid YAML"),
])
def test_bad_settings_are_one_line_naming_the_setting(tmp_path, text, needle):
    with pytest.raises(PresetError) as err:
        load_branding(_branding_file(tmp_path, text))
    message = str(err.value)
    assert needle in message and "\n" not in message, message
    assert message.startswith(str(tmp_path / "branding.yaml"))


@pytest.mark.parametrize("logo, setup, needle", [
    ("missing.png", None, "missing.png does not exist: give an image file (a relative path "
                          "starts at the branding file's folder)"),
    ("images", "folder", "images is not a file"),
    ("big.png", "big", f"over the limit of {LOGO_MAX_BYTES:,}"),
    ("fake.png", "fake", "fake.png: not a PNG image"),
    ("logo.gif", "gif", "use a PNG, JPEG or SVG file"),
    ("locked.png", "unreadable", "locked.png cannot be read (Permission denied): make it readable"),
])
def test_bad_logo_paths_say_what_where_and_how(tmp_path, monkeypatch, logo, setup, needle):
    folder = tmp_path / "conf"
    folder.mkdir()
    if setup == "folder":
        (folder / logo).mkdir()
    elif setup == "big":
        (folder / logo).write_bytes(PNG + b"\0" * LOGO_MAX_BYTES)
    elif setup in ("fake", "gif", "unreadable"):
        (folder / logo).write_bytes(b"GIF89a" if setup == "gif" else b"not an image")
    if setup == "unreadable":
        real = Path.read_bytes

        def refuse(self):
            if self.name == logo:
                raise PermissionError(13, "Permission denied")
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(PresetError) as err:
        load_branding(_branding_file(folder, f"company: Acme\nlogo: {logo}\n"))
    message = str(err.value)
    assert f"branding.yaml, line 2: logo: {folder / logo}" in message and needle in message, message
    assert "\n" not in message


def test_branding_is_found_in_params_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_branding() is None
    _branding_file(tmp_path / "params", "company: Acme GmbH\naccent: '#0b6e4f'\n")
    assert find_branding().company == "Acme GmbH"
    with pytest.raises(PresetError, match="no such branding file"):
        find_branding(tmp_path / "nope.yaml")


def test_index_command_shows_the_branding_and_refuses_a_bad_one(tmp_path):
    out = tmp_path / "out"
    _plant(out, _sales("2025-06", "all", "All teams"))
    _branding_file(tmp_path / "params", "company: Acme GmbH\nlogo: logo.png\naccent: '#0b6e4f'\n",
                   ("logo.png", PNG))
    cli = [sys.executable, "-m", "crmkit.cli", "index", "--output", str(out)]
    proc = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for page in (out / "index.html", out / "teams" / "all.html", out / "periods" / "2025-06.html"):
        text = page.read_text(encoding="utf-8")
        assert "Acme GmbH" in text and "data:image/png;base64," in text
        assert "--ck-accent:#0b6e4f" in text
    bad = _branding_file(tmp_path / "bad", "accent: 'red;}*{color:red'\n")
    proc = subprocess.run([*cli, "--branding", str(bad)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "accent: 'red;}*{color:red' is not a colour" in proc.stderr


def test_run_and_run_all_refuse_a_bad_branding_before_writing(tmp_path, demo_db):
    bad = _branding_file(tmp_path / "conf", "company: Acme\nlogo: missing.svg\n")
    preset = tmp_path / "preset.yaml"
    preset.write_text("reports: [sales]\nperiods: ['2025-06']\nteams: [all]\n")
    out = tmp_path / "out"
    for args in (["run", "sales", "--period", "2025-06"], ["run-all", str(preset)]):
        proc = subprocess.run(
            [sys.executable, "-m", "crmkit.cli", *args, "--database", str(demo_db), "--output",
             str(out), "--branding", str(bad)], cwd=tmp_path, capture_output=True, text=True,
            timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"crmkit: error: {bad}, line 2: logo: {bad.parent / 'missing.svg'} does not exist: "
            "give an image file (a relative path starts at the branding file's folder)"]
        assert not list(out.glob("*/*/*.html"))


# -- published pages end to end -----------------------------------------------------------------


def render_branded(demo_db: Path, folder: Path) -> tuple[str, Path, list[Outcome]]:
    """Sales of May and June 2025, company-wide and for the first team, published by one
    batch (one worker: May is published before June) with a company name, an SVG logo
    holding a script and an accent colour: (the team, the output folder, the outcomes).
    A background render of the session (tests/published.py)."""
    team = first_team(demo_db)
    out = folder / "out"
    branding_path = _branding_file(folder / "conf", "company: Acme GmbH\nlogo: logo.svg\n"
                                   "accent: '#0b6e4f'\n", ("logo.svg", SVG_WITH_SCRIPT))
    preset = folder / "preset.yaml"
    preset.write_text(f"reports: [sales]\nperiods: ['2025-05', '2025-06']\nteams: [all, {team}]\n")
    outcomes = run_all(preset, database=demo_db, output=out, notebooks=ROOT / "notebooks",
                       workers=1, as_of="2025-07-01", progress=False,
                       branding=load_branding(branding_path))
    return team, out, outcomes


@pytest.fixture(scope="module")
def branded_site(tmp_path_factory, demo_db) -> tuple[str, Path, list[Outcome]]:
    """:func:`render_branded`, rendered in the background while earlier tests run. Its
    output is this module's to change."""
    site: tuple[str, Path, list[Outcome]] = background(
        "branded_site", f"{__name__}:render_branded", demo_db,
        lambda: tmp_path_factory.mktemp("background"))
    return site


def test_batch_pages_link_each_other_and_show_the_branding(branded_site, demo_db):
    """A batch links its pages both ways (the earlier period's page links the later one,
    published after it); a single run links what is on disk; every link leads somewhere."""
    team, out, outcomes = branded_site
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    may = (out / "2025-05" / "all" / "sales.html").read_text(encoding="utf-8")
    assert "<title>Sales — All teams — 2025-05</title>" in may
    assert "<h1>Sales — All teams — 2025-05</h1>" in may
    assert 'rel="next" href="../../2025-06/all/sales.html"' in may
    assert f'href="../../2025-05/{team}/sales.html"' in may
    for page in out.glob("2025-0*/*/sales.html"):
        text = page.read_text(encoding="utf-8")
        assert "Acme GmbH" in text and "--ck-accent:#0b6e4f" in text, page
        assert "<script" not in text.lower() and 'href="../../index.html"' in text, page
    single = run_report("sales", period="2025-04", team="all", database=demo_db, output=out,
                        as_of="2025-07-01", kernel=warm_kernel(demo_db))
    april = single.html.read_text(encoding="utf-8")
    assert 'rel="next" href="../../2025-05/all/sales.html"' in april and "Acme GmbH" not in april
    assert json.loads(single.json.read_text())["title"] == "Sales — All teams — 2025-04"
    assert _assert_links_resolve(out) > 50
    assert "Acme GmbH" not in (out / "index.html").read_text(encoding="utf-8")  # run w/o branding


def _widths(page: Path, width: int, tmp_path: Path) -> tuple[int, int]:
    """(scroll width, visible width) of ``page`` shown ``width`` px wide in headless Chromium
    (in a frame of a wrapper page: a headless window is at least 500 px wide)."""
    wrapper = tmp_path / "wrapper.html"
    wrapper.write_text(
        f'<iframe id="f" src="{page.as_uri()}" style="width:{width}px;height:900px;border:0">'
        '</iframe><script>document.getElementById("f").onload = function () {'
        "var d = this.contentDocument.documentElement;"
        'document.body.setAttribute("data-w", d.scrollWidth + "/" + d.clientWidth);};</script>')
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
         wrapper.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-w="(\d+)/(\d+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    return int(found.group(1)), int(found.group(2))


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs headless Chromium")
def test_index_and_navigation_fit_a_phone_width(tmp_path):
    out = tmp_path / "out"
    for team in ("sales-and-customer-success-emea-north", HOSTILE_ID):
        _plant(out, _sales("2025-06", team, "Sales and Customer Success EMEA North " * 2))
    _site(out)
    page = Page("2025-06", "all", "sales", "2025-06")
    known = pages_on_disk(out)
    names = {t.team: "Sales and Customer Success EMEA North " * 2 for t in known}
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("## Report body"))
    report = out / "2025-06" / "all" / "sales.html"
    report.write_text(to_html(nb, html_exporter(), chrome(page, known, names, None, "Sales")))
    for shown in (out / "index.html", out / "teams" / "all.html", report):
        scroll, visible = _widths(shown, 390, tmp_path)
        assert scroll <= visible, f"{shown.name} scrolls sideways at 390 px: {scroll} > {visible}"


def test_listing_published_reports_ignores_run_folders_that_vanish(tmp_path, monkeypatch):
    """Another worker of a batch removes its run folder (.tmp-<pid>-…) while this one lists
    the published pages: the listing neither fails nor sees what is inside it."""
    from crmkit import _files

    (tmp_path / "2026-11" / "all").mkdir(parents=True)
    (tmp_path / "2026-11" / "all" / "sales.html").write_text("page")
    run = tmp_path / ".tmp-999-abc" / "x"
    run.mkdir(parents=True)
    (run / "sales.html").write_text("half made")
    real_scandir = _files.os.scandir

    def scandir_then_vanish(path):  # the period folder disappears after it was listed
        if str(path).endswith("2026-11"):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_scandir(path)

    assert [p.relative_to(tmp_path).as_posix() for p in _files.report_files(tmp_path, ".html")] \
        == ["2026-11/all/sales.html"]
    monkeypatch.setattr(_files.os, "scandir", scandir_then_vanish)
    assert _files.report_files(tmp_path, ".html") == []


# -- the index reads only the twins that changed ------------------------------------------------


@pytest.fixture
def settled_now(monkeypatch):
    """Twins written a moment ago count as settled (they would be 2 s later)."""
    monkeypatch.setattr(site, "SETTLED_SECONDS", 0.0)


def _reads(monkeypatch) -> list[Path]:
    """The twins the index reads from their files, from now on."""
    read: list[Path] = []
    real = site._read
    monkeypatch.setattr(site, "_read", lambda path: read.append(path) or real(path))
    return read


def test_the_index_reads_again_only_the_twins_whose_file_changed(tmp_path, monkeypatch, settled_now):
    out = tmp_path / "out"
    _plant(out, _sales("2025-06", "all", "All teams") | {"breakdowns": {"seller": [{"x": 1}] * 50}})
    _plant(out, _sales("2025-05", "all", "All teams"))
    write_index(out)
    remembered = json.loads((out / site.REMEMBERED).read_text(encoding="utf-8"))["twins"]
    assert set(remembered) == {"2025-06/all/sales.json", "2025-05/all/sales.json"}
    assert "breakdowns" not in remembered["2025-06/all/sales.json"]["entry"]  # not what it shows
    before = (out / "index.html").read_text(encoding="utf-8")

    read = _reads(monkeypatch)
    write_index(out)
    assert read == [] and (out / "index.html").read_text(encoding="utf-8") == before

    changed = _sales("2025-06", "all", "All teams")
    changed["metrics"]["deals_won"] = 987654
    _plant(out, changed)  # rewritten in place: the same path, a new state
    write_index(out)
    assert read == [out / "2025-06" / "all" / "sales.json"]
    assert "987,654" in (out / "index.html").read_text(encoding="utf-8")


def test_a_twin_written_a_moment_ago_is_not_remembered(tmp_path, monkeypatch):
    monkeypatch.setattr(site, "SETTLED_SECONDS", 3600.0)  # however slow the machine
    out = tmp_path / "out"
    _plant(out, _sales("2025-06", "all", "All teams"))
    write_index(out)  # its file is younger than that: a rewrite may yet keep its times
    assert not (out / site.REMEMBERED).exists()


def test_a_tampered_memory_of_the_index_is_checked_like_a_twin(tmp_path, monkeypatch, settled_now):
    out = tmp_path / "out"
    _plant(out, _sales("2025-06", "all", "All teams"))
    write_index(out)
    memory = out / site.REMEMBERED
    found = json.loads(memory.read_text(encoding="utf-8"))
    entry = found["twins"]["2025-06/all/sales.json"]["entry"]
    entry["team_name"] = HOSTILE_NAME
    memory.write_text(json.dumps(found), encoding="utf-8")
    write_index(out)
    text = (out / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in text and "&lt;script&gt;alert" in text

    entry["period"] = {"label": 5}  # not showable: the twin itself is read and shown
    memory.write_text(json.dumps(found), encoding="utf-8")
    read = _reads(monkeypatch)
    skipped: list[str] = []
    write_index(out, skip=lambda path, why: skipped.append(why))
    assert skipped == [] and read == [out / "2025-06" / "all" / "sales.json"]
    assert "All teams" in (out / "index.html").read_text(encoding="utf-8")

    for bad in ("{not json", "[" * 100_000 + "]" * 100_000):  # unreadable, nested too deep
        memory.write_text(bad, encoding="utf-8")
        read.clear()
        write_index(out)
        assert read == [out / "2025-06" / "all" / "sales.json"]
        assert json.loads(memory.read_text(encoding="utf-8"))["twins"]


def test_a_memory_that_is_not_a_plain_file_is_not_read(tmp_path):
    out = tmp_path / "out"
    _plant(out, _sales("2025-06", "all", "All teams"))
    out.joinpath(site.REMEMBERED).symlink_to("/dev/zero")  # would never end
    write_index(out)
    assert "All teams" in (out / "index.html").read_text(encoding="utf-8")
    fifo = tmp_path / "fifo-out"
    _plant(fifo, _sales("2025-06", "all", "All teams"))
    os.mkfifo(fifo / site.REMEMBERED)  # would wait for a writer, under the folder's lock
    write_index(fifo)
    assert "All teams" in (fifo / "index.html").read_text(encoding="utf-8")


def test_a_report_published_again_in_place_is_read_again(tmp_path, monkeypatch, settled_now):
    out = tmp_path / "out"
    folder = out / "2025-06" / "all"
    folder.mkdir(parents=True)
    for won in (111111, 222222):  # the same size, through the versions' symbolic link
        twin = _sales("2025-06", "all", "All teams")
        twin["metrics"]["deals_won"] = won
        with locked(folder):
            publish_together(folder, "sales", {".json": json.dumps(twin), ".html": "<html></html>"})
        write_index(out)
        assert f"{won:,}" in (out / "index.html").read_text(encoding="utf-8")


def test_a_twin_a_run_just_wrote_is_taken_as_written_unless_its_file_changed(tmp_path, monkeypatch):
    out = tmp_path / "out"
    twin = _sales("2025-06", "all", "All teams")
    path = _plant(out, twin).with_suffix(".json")
    read = _reads(monkeypatch)
    known = {"2025-06/all/sales.json": (site.twin_state(path), twin)}
    write_index(out, known=known)
    assert read == [] and "All teams" in (out / "index.html").read_text(encoding="utf-8")

    other = _sales("2025-06", "all", "All teams")
    other["metrics"]["deals_won"] = 424242
    _plant(out, other)  # another run replaced it since: its file is read
    write_index(out, known=known)
    assert read == [path] and "424,242" in (out / "index.html").read_text(encoding="utf-8")


# -- the exporter ------------------------------------------------------------------------------


def _tree(page: str) -> list[tuple[str, dict[str, str], str]]:
    """Every element of ``page`` as parsed by BeautifulSoup: its name, its attributes (in
    any order) and its own text."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, features="html.parser")
    return [(tag.name, {k: " ".join(v) if isinstance(v, list) else v for k, v in tag.attrs.items()},
             "".join(tag.find_all(string=True, recursive=False)))
            for tag in soup.find_all(True)]


def _tricky_notebook() -> nbformat.NotebookNode:
    """Outputs that nbconvert's accessibility pass touches, and text that only looks so."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    out = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("x", outputs=[
        out("display_data", {"image/png": png, "text/plain": "<Figure>"}),
        out("display_data", {"text/html": '<p>chart</p><img src="data:image/png;base64,AAAA">'
                                           '<img alt="Win rate" src="x.png"><IMG SRC=y.png>'}),
        out("display_data", {"text/html": '<script>var s = "<img src=\'q\'>";</script>'
                                           '<style>/* <img src=x> */</style><!-- <img> -->'
                                           '<div class="jp-OutputArea-output-like">no</div>'
                                           '<div class="x jp-OutputArea-output" id="d">yes</div>'}),
        out("display_data", {"text/html": '<img title="a > b" alt="Real"><img data-alt="q" src=x>'
                                           '<img alt><img-x></img-x><div-x class="jp-OutputArea-output">'
                                           '</div-x><div class=\'jp-OutputArea-output\'>1</div>'
                                           '<div class = jp-OutputArea-output>2</div>'
                                           '<div class="JP-OUTPUTAREA-OUTPUT">3</div>'}),
        out("stream", name="stderr", text="<img src=x> as text\n"),
        out("execute_result", {"text/plain": "'<div class=\"jp-OutputArea-output\">'"},
            execution_count=1),
    ])
    text = "## Что изменилось\n\n![pic](p.png) *note* &laquo;x&raquo; &lt;b&gt; &#39; &#150; &#x1F600;"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text), cell])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def test_the_exporter_gives_nbconverts_page_without_parsing_it(monthly_pack):
    """The page is nbconvert's HTMLExporter's, element for element (the alternative text
    of images without one, outputs reachable by keyboard), though it is not parsed again:
    on the pack's executed notebooks and on outputs made to confuse the shortcut."""
    from nbconvert import HTMLExporter

    ours, theirs = html_exporter(), configured(HTMLExporter)
    executed = sorted((monthly_pack.output / "2025-06" / "all").glob("*.ipynb"))
    assert len(executed) == 5
    notebooks = [nbformat.read(path, as_version=4) for path in executed]
    for nb in [*notebooks, _tricky_notebook()]:
        page, want = to_html(nb, ours), to_html(nb, theirs)
        assert page != want  # not parsed and written again
        assert _tree(page) == _tree(want)
    page = to_html(_tricky_notebook(), ours)
    assert page.count('alt="No description has been provided for this image"') == 4
    assert '<script>var s = "<img src=\'q\'>";</script>' in page
    assert ">Что изменилось<" in page and "«x»" in page and "&lt;b&gt;" in page
    # text, not markup, to a browser (BeautifulSoup's parser would add the alt text inside)
    assert accessible("<textarea><img src=t></textarea>") == "<textarea><img src=t></textarea>"
    assert 'class="jp-OutputArea-output-like"' in page and "tabindex" not in page.split(
        'class="jp-OutputArea-output-like"')[0][-40:]


def test_the_index_states_the_last_check_as_it_states_instants(tmp_path):
    """The time of the last run, read from ``status.json`` when the index is rebuilt on its
    own (``crmkit index``, a single ``crmkit run``), reads like the one a batch writes, in
    UTC; it was the raw ISO text (``2026-12-02T20:42:59+01:00``)."""
    from crmkit.publish import site

    (tmp_path / "status.json").write_text(json.dumps({"finished_at": "2026-12-02T20:42:59+01:00"}))
    assert site._last_check(tmp_path) == "Data checked 2026-12-02 19:42:59 UTC"
    (tmp_path / "status.json").write_text(json.dumps({"finished_at": "<b>not a time</b>"}))
    assert site._last_check(tmp_path) == "Data checked <b>not a time</b>"  # escaped where shown


def test_the_page_s_chrome_and_the_index_are_compiled_while_the_notebook_runs():
    """A run builds its exporter in the background, and compiles there the templates of the
    page's chrome and of the index too, which Jinja compiled as the page was published."""
    from crmkit import _html
    from crmkit.publish.background import background as thread
    from crmkit.publish.export import start_html_exporter

    site_templates = set(_html.ENV.list_templates(filter_func=lambda n: n.startswith("site/")))
    assert {"site/_chrome.html.j2", "site/index.html.j2", "site/page_top.html.j2"} <= site_templates
    _html.ENV.cache.clear()
    start_html_exporter().result(timeout=120)
    thread().submit(lambda: None).result(timeout=120)  # what was queued after it, done
    compiled = {name for _loader, name in _html.ENV.cache}
    assert site_templates <= compiled
