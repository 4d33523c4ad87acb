"""The language and the formats of what a reader sees: one active locale per report run or
index build, gettext catalogues, and the CLDR formats of numbers, dates and money (Babel).

* **The locale** is a :class:`contextvars.ContextVar`: :func:`set_locale` (a report run, in
  its kernel, through :func:`crmkit.reports.open_report`) or :func:`activated` (an index
  build) sets it; everything that writes text for people reads it with :func:`active`.
  :func:`check_locale` accepts a known catalogue only (one-line error listing them).
* **Messages** are gettext catalogues: ``crmkit/locale/<lang>/LC_MESSAGES/crmkit.po``, read
  with Babel and compiled in memory the first time a language is used (no ``.mo`` file is
  shipped, so none can be stale). The English text is the message id, so ``en`` needs no
  catalogue: it is the identity, and English pages are exactly what the code writes.
  :func:`gettext` (``_``) translates a message, :func:`ngettext` picks the plural form the
  language needs (1 сделка, 2 сделки, 5 сделок) and :func:`N_` marks a message for the
  catalogue without translating it (a constant translated where it is shown).
  ``python -m crmkit.locale.extract`` (``make messages``) collects the messages.
* **Formats** come from Babel's CLDR data: a number formatted by Python's format mini-
  language (the same rounding in every language) gets the locale's separators
  (:func:`decimal`: ``1,234.5`` → ``1 234,5``), percentages the locale's sign
  (:func:`percent_sign`), money the locale's short scales and currency symbol
  (``1,2 млн ₽``), dates and month names the locale's words (:func:`day`,
  :func:`month_year`), weeks the locale's first day (:func:`first_weekday`). In ``en``
  every function returns what the pages have always shown.

A base-layer module: it imports nothing of crmkit but the errors.
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import io
import re
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_currency_symbol

from crmkit.errors import ParameterError, shown

__all__ = [
    "DEFAULT", "N_", "activated", "active", "check_locale", "compact_suffix", "currency_symbol",
    "day", "day_month", "decimal", "first_weekday", "gettext", "locales", "markdown_messages",
    "month_year", "ngettext", "percent_sign", "set_locale", "translate_markdown",
]

#: The language of every page unless the data, a preset or the command line says otherwise.
DEFAULT = "en"
#: Where the catalogues are: ``<lang>/LC_MESSAGES/crmkit.po``.
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "crmkit"

_ACTIVE: ContextVar[str] = ContextVar("crmkit_locale", default=DEFAULT)


def locales() -> tuple[str, ...]:
    """The languages a page can be written in: English and every catalogue shipped."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT, *[name for name in found if name != DEFAULT])


def check_locale(value: object, where: str = "locale") -> str:
    """``value`` as a known locale (``ru``, ``en``; case and ``-``/``_`` forgiven:
    ``ru-RU`` is ``ru``), else a one-line ParameterError listing the choices."""
    known = locales()
    text = value.strip().replace("-", "_").split("_")[0].lower() if isinstance(value, str) else ""
    if text in known:
        return text
    raise ParameterError(f"{where} {shown(value)} is not a language crmkit has; use one of "
                         f"{', '.join(known)} (a language is added by its catalogue: docs/i18n.md)")


def active() -> str:
    """The locale of the page being written."""
    return _ACTIVE.get()


def set_locale(value: str | None) -> str:
    """Make ``value`` (checked; None: :data:`DEFAULT`) the locale of the rest of this
    context (a report run in its kernel) and return it."""
    locale = check_locale(value or DEFAULT)
    _ACTIVE.set(locale)
    return locale


@contextlib.contextmanager
def activated(value: str | None) -> Iterator[str]:
    """The locale ``value`` (None: :data:`DEFAULT`) while the block runs (an index build)."""
    token = _ACTIVE.set(check_locale(value or DEFAULT))
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


# -- messages ---------------------------------------------------------------------------


@functools.cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalogue of a locale (English: the identity). A fuzzy or empty entry
    is not used: its English text is shown, and the catalogue test fails on it."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == DEFAULT or not path.exists():
        return _gettext.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def gettext(message: str) -> str:
    """``message`` in the active locale (itself in English, or when it has no translation)."""
    if not message or _ACTIVE.get() == DEFAULT:
        return message
    return translations(_ACTIVE.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message that goes with ``n`` in the active locale (Russian has three:
    1 сделка, 2 сделки, 5 сделок); the text still holds its ``{n}`` placeholder."""
    if _ACTIVE.get() == DEFAULT:
        return singular if n == 1 else plural
    return translations(_ACTIVE.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for the catalogue; it is translated where it is shown."""
    return message


_ = gettext


_HEADING = re.compile(r"^(#+ )(.*)$")


def markdown_messages(source: str) -> list[str]:
    """The messages of a notebook's markdown cell: each heading's text and each line of
    prose (a report notebook writes a paragraph on one line)."""
    found = []
    for line in source.splitlines():
        heading = _HEADING.match(line)
        text = (heading.group(2) if heading else line).strip()
        if text:
            found.append(text)
    return found


def translate_markdown(source: str) -> str:
    """A notebook's markdown cell in the active locale, message by message (the report
    notebooks' headings and prose are in the catalogue; other text stays as it is)."""
    if _ACTIVE.get() == DEFAULT:
        return source
    lines = []
    for line in source.splitlines(keepends=True):
        body, end = line.rstrip("\n"), line[len(line.rstrip("\n")):]
        heading = _HEADING.match(body)
        if heading:
            lines.append(heading.group(1) + gettext(heading.group(2).strip()) + end)
        else:
            lines.append(gettext(body.strip()) + end if body.strip() else line)
    return "".join(lines)


# -- formats ----------------------------------------------------------------------------


@functools.cache
def _cldr(locale: str) -> Locale:
    return Locale.parse(locale)


def decimal(text: str) -> str:
    """A number formatted by Python (``,`` between thousands, ``.`` before decimals) with
    the active locale's separators: ``1,234.5`` → ``1 234,5`` in ``ru`` (a no-break space)."""
    locale = _ACTIVE.get()
    if locale == DEFAULT:
        return text
    symbols = _cldr(locale).number_symbols["latn"]
    swap = {",": symbols["group"], ".": symbols["decimal"]}
    return "".join(swap.get(ch, ch) for ch in text)


def percent_sign() -> str:
    """What follows a percentage: ``%`` in ``en``, a no-break space and ``%`` in ``ru``."""
    locale = _ACTIVE.get()
    if locale == DEFAULT:
        return "%"
    pattern = _cldr(locale).percent_formats[None].pattern
    return pattern[pattern.rfind("0") + 1:] or "%"


def compact_suffix(suffix: str) -> str:
    """The short scale of an amount (``k``, ``M``) in the active locale: `` тыс.``,
    `` млн`` in ``ru`` (from CLDR's short decimal formats)."""
    locale = _ACTIVE.get()
    if locale == DEFAULT or not suffix:
        return suffix
    size = {"k": "1000", "M": "1000000"}[suffix]
    pattern = _cldr(locale).compact_decimal_formats["short"]["other"][size].pattern
    return pattern.replace("0", "").replace("'", "")


def currency_symbol(code: str) -> str:
    """How an amount names its currency: the ISO code in ``en`` (``EUR``), the locale's
    symbol elsewhere (``₽``, ``€``); an unknown code as it is."""
    locale = _ACTIVE.get()
    if locale == DEFAULT or not code:
        return code
    return get_currency_symbol(code, locale=locale)


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def day(value: date) -> str:
    """A day in words: ``1 June 2025``; ``1 июня 2025`` in ``ru``."""
    locale = _ACTIVE.get()
    if locale == DEFAULT:
        return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"
    return format_date(value, "d MMMM y", locale=locale)


def day_month(value: date) -> str:
    """A day and its month: ``1 June``; ``1 июня`` in ``ru``."""
    locale = _ACTIVE.get()
    if locale == DEFAULT:
        return f"{value.day} {_MONTHS[value.month - 1]}"
    return format_date(value, "d MMMM", locale=locale)


def month_year(value: date) -> str:
    """A month in words: ``June 2025``; ``июнь 2025`` in ``ru`` (the standalone name, in
    lower case as a Russian sentence writes it)."""
    locale = _ACTIVE.get()
    if locale == DEFAULT:
        return f"{_MONTHS[value.month - 1]} {value.year}"
    return format_date(value, "LLLL y", locale=locale)


def first_weekday() -> int:
    """The first day of the week in the active locale (0 Monday … 6 Sunday): Monday in
    ``ru``; in ``en`` crmkit's weeks are ISO weeks, so Monday too."""
    locale = _ACTIVE.get()
    return 0 if locale == DEFAULT else _cldr(locale).first_week_day
