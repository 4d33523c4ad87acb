"""Collect every message a reader can see into ``crmkit/locale/crmkit.pot`` and bring each
catalogue (``<lang>/LC_MESSAGES/crmkit.po``) up to date with it (``make messages``).

The messages come from four places, all by Babel's extraction (no hand-kept list):

* the package's Python code: ``_()``, ``gettext()``, ``ngettext()`` and ``N_()`` calls;
* the Jinja2 templates of the report blocks and the site (``{{ _("...") }}``, ``ngettext``);
* the metric catalogue (:data:`crmkit.metrics.definitions.CATALOGUE`: every label and
  definition, translated where they are looked up) and the reports' titles;
* the report notebooks' markdown cells (headings and prose, translated as a page is
  published).

``python -m crmkit.locale.extract`` writes the template and updates the catalogues (new
messages empty, vanished ones dropped, translations kept); ``--check`` writes nothing and
fails when the template is out of date or a catalogue lacks a translation.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from crmkit import i18n
from crmkit.errors import plural
from crmkit.metrics.definitions import CATALOGUE
from crmkit.reports import REPORTS

PACKAGE = Path(__file__).resolve().parent.parent
ROOT = PACKAGE.parent
TEMPLATE = PACKAGE / "locale" / f"{i18n.DOMAIN}.pot"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
_METHODS = [("**/locale/**", "ignore"), ("**.py", "python"),
            ("**/templates/**.j2", "jinja2.ext:babel_extract")]
_JINJA = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                 "lstrip_blocks": "true"}}


def _code(catalog: Catalog) -> None:
    for path, line, message, comments, _context in extract_from_dir(
            str(PACKAGE), _METHODS, _JINJA, KEYWORDS, strip_comment_tags=True):
        if isinstance(message, tuple) and not all(message):
            continue
        if message:
            catalog.add(message, locations=[(f"crmkit/{path}", line)], auto_comments=comments)


def _catalogue_texts() -> Iterator[tuple[str, str]]:
    for group in CATALOGUE.values():
        for m in group:
            yield m.label, f"metric {m.name}: label"
            yield m.definition, f"metric {m.name}: definition"
    for spec in REPORTS.values():
        yield spec.title, f"report {spec.id}: title"


def _notebooks() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for number, cell in enumerate(cells, 1):
            if cell["cell_type"] == "markdown":
                for text in i18n.markdown_messages("".join(cell["source"])):
                    yield text, f"notebooks/{path.name}: cell {number}"


def template() -> Catalog:
    """Every message of the package, with where it comes from."""
    catalog = Catalog(project="crmkit", domain=i18n.DOMAIN, charset="utf-8",
                      fuzzy=False)
    _code(catalog)
    for text, where in (*_catalogue_texts(), *_notebooks()):
        if text:
            catalog.add(text, auto_comments=[where])
    return catalog


def _text(catalog: Catalog) -> str:
    out = io.BytesIO()
    write_po(out, catalog, width=100, omit_header=False, sort_output=True,
             include_lineno=False)
    return out.getvalue().decode("utf-8")


def _updated(locale: str, pot: Catalog) -> Catalog:
    path = PACKAGE / "locale" / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=locale, domain=i18n.DOMAIN)
    catalog.update(pot, no_fuzzy_matching=True)
    return catalog


def missing(locale: str, pot: Catalog | None = None) -> list[str]:
    """The messages of the template that the catalogue of ``locale`` does not translate
    (absent, empty, or fuzzy)."""
    catalog = _updated(locale, pot or template())
    return [str(m.id) for m in catalog if m.id and (m.fuzzy or not (
        all(m.string) if isinstance(m.string, tuple | list) else m.string))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crmkit.locale.extract",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail if the template or a catalogue is out of date")
    args = parser.parse_args(argv)
    pot = template()
    text = _text(pot).replace(_creation_line(_text(pot)), "")
    problems = []
    if args.check and (not TEMPLATE.exists() or TEMPLATE.read_text(encoding="utf-8") != text):
        problems.append(f"{TEMPLATE.relative_to(ROOT)} is out of date: run make messages")
    elif not args.check:
        TEMPLATE.write_text(text, encoding="utf-8")
    for locale in i18n.locales()[1:]:
        if not args.check:
            po = PACKAGE / "locale" / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
            updated = _text(_updated(locale, pot))
            po.write_text(updated.replace(_creation_line(updated), ""), encoding="utf-8")
        gaps = missing(locale, pot)
        if gaps:
            problems.append(f"{locale}: {len(gaps)} {plural(len(gaps), 'message')} without a "
                            "translation, e.g. "
                            f"{gaps[0][:80]!r}")
    for problem in problems:
        print(f"crmkit: messages: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _creation_line(text: str) -> str:
    """The header lines that change on every run (dates), left out so the files only change
    with their messages."""
    return "".join(line + "\n" for line in text.splitlines()
                   if line.startswith(('"POT-Creation-Date:', '"PO-Revision-Date:')))


if __name__ == "__main__":
    sys.exit(main())
