"""Reports in the company's language: the catalogues, Russian plural forms and formats, the
locale setting and its validation, and a Russian pack read with headless Chromium."""

from __future__ import annotations

import ast
import hashlib
import html
import json
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from filelock import FileLock

from crmkit import i18n
from crmkit import reports as report_modules
from crmkit.errors import ParameterError, PresetError
from crmkit.locale import extract
from crmkit.model import TABLES
from crmkit.periods import parse_period
from crmkit.publish.presets import load_preset
from crmkit.publish.runner import run_report
from crmkit.publish.site import write_index
from crmkit.render.formatting import fmt, number
from crmkit.reports import REPORTS, open_report
from crmkit.reports.context import period_in_words
from crmkit.reports.marketing import _scope_notes
from crmkit.reports.performance import _person_note
from crmkit.reports.satisfaction import retention_words
from crmkit.verdict import verdict
from tests.published import NOTEBOOKS, ROOT, chromium, warm_kernel

RU = "ru"
NBSP = "\u00a0"
#: The pinned demo of the root conftest.py (seed and last day), here as a Russian company.
PINNED_SEED, PINNED_END = 7, date(2025, 6, 30)


@pytest.fixture
def russian():
    with i18n.activated(RU):
        yield


# -- the catalogue ------------------------------------------------------------------------


def test_the_catalogue_template_is_up_to_date_and_russian_translates_every_message():
    pot = extract.template()
    assert len(list(pot)) > 300  # the code, the templates, the metric catalogue, the notebooks
    assert extract.missing(RU, pot) == []
    assert extract.main(["--check"]) == 0  # crmkit.pot is what the package says today


def test_every_message_keeps_its_placeholders_in_russian():
    with (extract.PACKAGE / "locale" / RU / "LC_MESSAGES" / "crmkit.po").open("rb") as f:
        catalog = read_po(f, locale=RU)
    field = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s")
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(field.findall(ids[-1])) | set(field.findall(ids[0]))
        for text in strings:
            assert set(field.findall(text)) <= wanted, (message.id, text)
            assert set(field.findall(text)) >= set(field.findall(ids[-1])) - {"{n}"}, message.id


def test_english_is_the_identity_and_every_page_text_is_the_code_s_own():
    assert i18n.active() == "en"
    assert i18n.gettext("What changed") == "What changed"
    assert i18n.ngettext("{n} won deal", "{n} won deals", 2) == "{n} won deals"
    assert fmt(0.366, "rate") == "36.6%"
    assert fmt(1_234_567, "money", "EUR") == "1.23M EUR"
    assert number(-1234.5, ",.1f") == "\u22121,234.5"
    assert i18n.day(date(2025, 6, 1)) == "1 June 2025"


def _plural_messages() -> list[tuple[str, str, str]]:
    """(where, singular, plural) of every ``ngettext`` call of the package's code."""
    found = []
    for path in sorted(extract.PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and len(node.args) >= 2 and getattr(
                    node.func, "id", getattr(node.func, "attr", None)) == "ngettext"):
                continue
            one, many = node.args[:2]
            if isinstance(one, ast.Constant) and isinstance(many, ast.Constant):
                where = f"{path.relative_to(extract.ROOT)}:{node.lineno}"
                found.append((where, str(one.value), str(many.value)))
    return found


def test_a_plural_message_has_an_english_singular_and_plural_not_a_noun_with_s_in_brackets():
    """"{n} lead(s) ... have" reads wrong for one and for many: ngettext is given a singular
    and a plural, and a note about {n} things of the page agrees with its count."""
    messages = _plural_messages()
    assert len(messages) > 40
    assert [(where, one) for where, one, many in messages if "(s)" in one + many] == []
    with extract.TEMPLATE.open("rb") as f:  # every message, the templates' too
        assert [m.id for m in read_po(f) if "(s)" in "".join(m.id if isinstance(m.id, tuple) else [m.id])] == []
    notes = [(where, one) for where, one, many in messages
             if where.startswith("crmkit/reports/") and one.startswith("{n} ")]
    assert len(notes) >= 20
    assert [(where, one) for where, one, many in messages if (where, one) in notes
            and one == many] == []
    lead = next((one, many) for _, one, many in messages if one.startswith("{n} lead of"))
    assert i18n.active() == "en"
    assert i18n.ngettext(*lead, 1).format(n=1, name="(unknown)").startswith(
        "1 lead of the period has a blank channel (its campaign's")
    assert i18n.ngettext(*lead, 3).format(n=3, name="(unknown)").startswith(
        "3 leads of the period have a blank channel (their campaign's")
    ended = {"retention_start_customers": 0, "retention_retained_customers": 0, "active_days": 90}
    assert retention_words({**ended, "retention_end_customers": 1}).endswith(
        " 1 customer was active at its end.")
    assert retention_words({**ended, "retention_end_customers": 2}).endswith(
        " 2 customers were active at its end.")
    assert _scope_notes(None, None, ["c1"])[0].startswith(  # type: ignore[arg-type]
        "Team scope: the 1 campaign run by this team, with all its costs")


# -- plural forms and formats -------------------------------------------------------------


@pytest.mark.parametrize(("n", "word"), [
    (1, "сделка"), (2, "сделки"), (5, "сделок"), (11, "сделок"), (21, "сделка"),
    (22, "сделки"), (25, "сделок"),
])
def test_russian_plural_forms(russian, n, word):
    text = i18n.ngettext(
        "{n} deal open at the period end, none with an amount: no pipeline to chart.",
        "{n} deals open at the period end, none with an amount: no pipeline to chart.", n)
    assert text.format(n=n).startswith(f"{n} {word} ")
    rows = i18n.ngettext("Download CSV (%(rows)s row)", "Download CSV (%(rows)s rows)", n)
    assert rows % {"rows": n} == "Скачать CSV ({} {})".format(
        n, {"сделка": "строка", "сделки": "строки", "сделок": "строк"}[word])


def test_russian_numbers_percentages_money_and_dates(russian):
    assert number(1234.5, ",.1f") == f"1{NBSP}234,5"
    assert number(-1234.5, ",.1f") == f"\u22121{NBSP}234,5"
    assert fmt(0.366, "rate") == f"36,6{NBSP}%"
    assert fmt(1_234_567, "money", "RUB") == f"1,23{NBSP}млн ₽"
    assert fmt(12_345, "money", "RUB") == f"12,3{NBSP}тыс. ₽"
    assert fmt(2.5, "days") == "2,5 дн."
    assert i18n.day(date(2025, 6, 1)) == "1 июня 2025"
    assert i18n.month_year(date(2026, 11, 5)) == "ноябрь 2026"
    assert period_in_words(parse_period("2026-11")) == "ноябрь 2026"
    assert i18n.first_weekday() == 0  # Monday
    shown = verdict(unit="rate", higher_is_better=True, value=0.5, previous=0.4, p_value=0.01,
                    significant=True)
    assert (shown.shown, shown.significance) == ("+10,0 п.п.", "значимо (p=0,010)")


# -- the setting ----------------------------------------------------------------------------


def test_a_locale_is_checked_and_forgives_its_region_and_case():
    assert i18n.check_locale("ru-RU") == "ru"
    assert i18n.check_locale(" EN ") == "en"
    with pytest.raises(ParameterError, match=r"'xx'.*use one of en, ru") as found:
        i18n.check_locale("xx")
    assert "\n" not in str(found.value)
    with pytest.raises(ParameterError, match="use one of"):
        i18n.check_locale("../../etc")


def test_a_preset_s_locale_is_validated_and_the_russian_preset_says_ru(tmp_path):
    assert load_preset(ROOT / "params" / "monthly-ru.yaml").locale == "ru"
    bad = tmp_path / "bad.yaml"
    bad.write_text("reports: [sales]\nlocale: klingon\n")
    with pytest.raises(PresetError, match="klingon"):
        load_preset(bad)


# -- a Russian pack read with headless Chromium -----------------------------------------

#: What may stay in Latin letters on a Russian page: units, identifiers a manager knows
#: (NPS, ROI, CSV...), statistical letters, the product's name, and the data model's own
#: names (columns, tables, enum values) that the definitions quote as identifiers.
ALLOWED = {
    "NPS", "CSAT", "CES", "SLA", "RUB", "CSV", "PNG", "ROI", "CAC", "RFM", "CRM", "UTC", "ID",
    "Europe", "Moscow", "crmkit", "n", "p", "t", "z", "R", "S", "E", "F", "M", "FM", "SE",
    "P90", "ceil", "cron", "systemd", "d",
}
_MODEL_WORDS = {w for spec in TABLES.values()
                for c in spec.columns for w in (c.name, spec.name, *(c.enum or ()))}


def _russian_db() -> Path:
    """The Russian demo company with the pinned seed and end of the test database, built
    once per generator version (as the root conftest.py builds the English one)."""
    from crmkit.sources.demo import build_demo  # lazy: only the pack's tests build it

    code = sorted((ROOT / "crmkit" / "sources" / "demo").rglob("*.py"))
    key = hashlib.sha256(b"".join(p.read_bytes() for p in code)).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"crmkit-test-ru-{PINNED_SEED}-{key}.duckdb"
    with FileLock(f"{path}.lock"):  # one build when test workers start at once
        if not path.exists():
            build_demo(path, seed=PINNED_SEED, end=PINNED_END, locale="ru")
    return path


@pytest.fixture(scope="session")
def russian_pack(tmp_path_factory) -> Path:
    """Every report of June 2025, company-wide, on the Russian demo (its settings say
    ``locale: ru``), published on one warm kernel, and the index."""
    db, out = _russian_db(), tmp_path_factory.mktemp("ru") / "output"
    kernel = warm_kernel(db)
    for report in REPORTS:
        run_report(report, period="2025-06", team="all", database=db, output=out,
                   notebooks=NOTEBOOKS, kernel=kernel, update_index=False)
    write_index(out)
    return out


def _visible_text(page: Path, profile: Path) -> list[str]:
    """The text of a page as headless Chromium reads it (its DOM after loading), piece by
    piece, without code: the data notes and every sentence are read."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    dom = chromium(browser, profile, "--dump-dom", page.as_uri()).stdout
    assert "</html>" in dom, dom[:300]
    dom = re.sub(r"<(style|script|code)\b.*?</\1>", " ", dom, flags=re.S)
    pieces = [html.unescape(p).strip() for p in re.split(r"<[^>]+>", dom)]
    titles = re.findall(r"\b(?:alt|title|aria-label)=\"([^\"]*)\"", dom)
    return [p for p in (*pieces, *map(html.unescape, titles)) if p]


def _english(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z][\w'\-.]*[A-Za-z0-9]|[A-Za-z]", text)
    return [w for w in words if w not in ALLOWED and w not in _MODEL_WORDS and "_" not in w]


def test_a_russian_pack_reads_in_russian_in_chromium(russian_pack, tmp_path):
    pages = sorted(russian_pack.glob("2025-06/all/*.html")) + [russian_pack / "index.html"]
    assert len(pages) == len(REPORTS) + 1
    english_messages = [m.id for m in extract.template() if isinstance(m.id, str)
                        and len(m.id.split()) > 2 and "{" not in m.id and "%" not in m.id]
    for page in pages:
        text = _visible_text(page, tmp_path / page.stem)
        left = {piece: _english(piece) for piece in text if _english(piece)}
        assert left == {}, page.name
        joined = "\n".join(text)
        assert [m for m in english_messages if m in joined] == [], page.name
        assert '<html lang="ru">' in page.read_text(encoding="utf-8")


def test_a_russian_page_has_russian_formats_and_its_twin_says_ru(russian_pack):
    page = (russian_pack / "2025-06" / "all" / "sales.html").read_text(encoding="utf-8")
    twin = json.loads((russian_pack / "2025-06" / "all" / "sales.json").read_text("utf-8"))
    assert twin["locale"] == "ru" and twin["currency"] == "RUB"
    assert "revenue" in twin["metrics"] and "win_rate" in twin["definitions"]  # ids stay
    assert twin["definitions"]["revenue"]["label"] == "Выручка"
    assert re.search(r"\d,\d\d(?:\xa0|&nbsp;)млн(?:\xa0|&nbsp;|\s)₽", page), "1,23 млн ₽"
    assert re.search(r"\d,\d(?:\xa0|&nbsp;)%", page), "36,6 %"
    assert "Что изменилось" in page and "Определения" in page
    index = (russian_pack / "index.html").read_text(encoding="utf-8")
    assert '<html lang="ru">' in index and "Все отчёты" in index and "Продажи" in index


# -- the data notes -------------------------------------------------------------------------


def test_the_retention_sentence_is_the_report_s_in_english_and_russian():
    parts = {"retention_start_customers": 21, "retention_retained_customers": 20,
             "retention_end_customers": 1234, "active_days": 90}
    english = retention_words(parts)
    assert english.startswith("Retention = R / S: 20 of the 21 customers active at the period "
                              "start (an activity or a won deal in the 90 days before the "
                              "instant) were still active at its end: 95.2%. Of the 1,234 ")
    assert "1,214 were not active at the start" in english
    with i18n.activated(RU):
        russian = retention_words(parts)
        none = retention_words({**parts, "retention_start_customers": 0, "active_days": 1,
                                "retention_end_customers": 22})
    assert "из 21 клиента, активного на начало периода" in russian  # 21: the "one" form
    assert "за 90 дней" in russian and f"95,2{NBSP}%" in russian and f"1{NBSP}234" in russian
    assert f"1{NBSP}214" in russian and _english(russian) == []
    assert "за 1 день" in none and "активны 22 клиента" in none and _english(none) == []


def test_a_person_s_note_reads_in_russian_with_its_dates_as_they_are(russian):
    assert _person_note("joined 2025-06-10, left 2025-06-20: partial period") == (
        "пришёл 2025-06-10, ушёл 2025-06-20: неполный период")


def test_every_data_note_of_a_team_page_made_mid_period_reads_in_russian():
    """The notes of a team's report made before the period ends (the as-of and team
    sentences, which the company-wide pack does not show) in Russian, with no English."""
    for report in ("activity", "marketing", "performance", "satisfaction"):
        with i18n.activated(RU):  # open_report sets the locale: undone when the block ends
            ctx = open_report(report, period="2025-06", team="smb", as_of="2025-06-20",
                              database=_russian_db(), locale=RU)
            data = getattr(report_modules, report).build(ctx)
        assert len(data.notes) >= 2, report
        left = {note: _english(note) for note in data.notes if _english(note)}
        assert left == {}, report
    assert i18n.active() == "en"


def test_the_unanswered_tickets_note_agrees_with_its_counts_in_both_languages():
    """One unanswered ticket past its deadline reads "It is past its SLA deadline", not "1
    of them are past their SLA deadline"; several with one past, "1 of them is"; none past,
    no clause. The Russian note has its own words for each."""
    from crmkit.reports.performance import _unanswered_note

    with i18n.activated("en"):
        one = _unanswered_note(1, 1, "as of 2025-06-30")
        some = _unanswered_note(3, 1, "as of 2025-06-30")
        none = _unanswered_note(3, 0, "as of 2025-06-30")
    assert one.startswith("1 ticket opened in the period has no first response")
    assert one.endswith("counted as unanswered. It is past its SLA deadline and counts as an SLA miss.")
    assert some.endswith("counted as unanswered. 1 of them is past its SLA deadline and counts as an SLA miss.")
    assert none.endswith("counted as unanswered.") and "SLA" not in none
    with i18n.activated("ru"):
        assert _unanswered_note(1, 1, "x").endswith("Срок SLA по нему истёк: засчитано нарушение SLA.")
        assert _unanswered_note(5, 2, "x").endswith("Из них у 2 срок SLA истёк: засчитаны нарушения SLA.")
