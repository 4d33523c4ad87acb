"""The one place HTML is made: a Jinja2 environment with autoescape on for every template
crmkit has (report blocks, the import's data-quality report, the site index).

Every value a template prints is escaped here, once, whatever its source (a team name, a
campaign name, a currency, a comment from a survey); the only exceptions are the package's
own stylesheet and pre-rendered blocks, marked ``|safe`` in the templates that embed them.
Templates are addressed by folder: ``blocks/cards.html.j2`` (``crmkit/render/templates``),
``quality/quality.html.j2`` (``crmkit/sources/imports/templates``), ``site/index.html.j2``
(``crmkit/publish/templates/site``). They are data files, found by path, so this module
imports nothing from the layers that own them.

Every text of a template is a message of the catalogue (Jinja2's i18n extension, the
translations of :mod:`crmkit.i18n`'s active locale), and a page's ``lang`` is that locale.

Block templates are written one element a line for reading, and joined as they load (see
:class:`_JoinLines`), so a page gets no whitespace between tags: it would show as gaps
between inline elements.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from jinja2.ext import Extension

from crmkit import i18n

__all__ = ["ENV", "compile_templates", "render"]

_PACKAGE = Path(__file__).parent
_FOLDERS = {
    "blocks": _PACKAGE / "render" / "templates",
    "quality": _PACKAGE / "sources" / "imports" / "templates",
    "site": _PACKAGE / "publish" / "templates" / "site",
}
_LINE_BREAK = re.compile(r"\n[ \t]*")


class _JoinLines(Extension):
    """Joins a block template's lines (dropping their indentation) before it compiles, so a
    line break in a template never reaches the page. Text that needs a space keeps it on one
    line."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        # (a prefix loader hands its folders the name without the prefix: go by the file)
        if filename is not None and Path(filename).parent == _FOLDERS["blocks"]:
            return _LINE_BREAK.sub("", source)
        return source


#: The package's one Jinja2 environment (autoescape on for every template).
ENV = jinja2.Environment(
    loader=jinja2.PrefixLoader(
        {prefix: jinja2.FileSystemLoader(folder) for prefix, folder in _FOLDERS.items()}
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=[_JoinLines, "jinja2.ext.i18n"],
)
# Every text of a template goes through the catalogue of the active locale (crmkit.i18n):
# ``{{ _("Period:") }}``, ``{{ ngettext("%(num)d row", "%(num)d rows", n) }}``; new-style
# gettext escapes the values put into a translation like any other value.
ENV.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
ENV.globals["lang"] = i18n.active
ENV.filters["thousands"] = lambda n: i18n.decimal(f"{n:,}")

#: A date, a month or a local time as the pages print them: 2025-06-30, 2025-06,
#: 2025-06-15 14:00, 2025-12-03 23:10:05
_DATE = re.compile(r"\d{4}-\d{2}(?:-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?)?")


def _unbroken_dates(value: Any) -> markupsafe.Markup:
    """``value`` escaped, with each date in it kept on one line (a browser breaks a line
    after a hyphen: "(2025-06-01 to 2025-06-" then "30)" in a narrow column). Markup is
    left as it is: a date inside a tag's attribute must not get a span."""
    if isinstance(value, markupsafe.Markup):
        return value
    escaped = str(markupsafe.escape(value))  # digits, hyphens and colons are left as they are
    return markupsafe.Markup(_DATE.sub(r'<span class="ck-nb">\g<0></span>', escaped))


ENV.filters["dates"] = _unbroken_dates


def render(template: str, **values: Any) -> str:
    """Render one template (``folder/name``) with every value escaped."""
    return ENV.get_template(template).render(**values)


def compile_templates(folder: str) -> None:
    """Compile every template of ``folder`` (``site``) now: Jinja compiles a template as it
    is first rendered, which a single run did after its notebook (the page's chrome and
    the index: 0.02-0.03 s); the runner has it done while the notebook runs."""
    for name in ENV.list_templates(filter_func=lambda name: name.startswith(f"{folder}/")):
        ENV.get_template(name)
