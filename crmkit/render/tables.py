"""Tables a manager reads right and can take away.

:func:`table` draws a frame: headings in words (:func:`crmkit.render.labels.column_label`),
identifier-like values in words (``paid_search`` → "Paid search"), internal ``*_id``
columns left out unless a mapping names their values (``names={"team_id": teams}`` shows
the team's name), every money column at one scale with the currency in its heading
("Revenue (EUR)": "9.1k" beside "73.2k"), rates from a small sample tagged (``samples``),
negative numbers with a true minus. Long tables show their top rows (a ranked list its top
and bottom rows, around a row that counts those between) and say how many more are in the
CSV download: every table carries its whole frame as a ``data:`` link (no
script), raw values under readable headings, cells that a spreadsheet would run as a
formula defused. Each table scrolls sideways inside its own box, so a page never does.

:func:`table` returns a :class:`Table`, a pandas ``Styler`` of the whole frame (and of a
totals row, when it has one), which an analyst sorts, styles and exports before it is shown
as the house block; it is re-exported by :mod:`crmkit.render.blocks`.
"""

from __future__ import annotations

import copy
import html
import numbers
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any
from urllib.parse import quote

import pandas as pd
from IPython.display import HTML
from pandas.io.formats.style import Styler

from crmkit import i18n
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
from crmkit.render.formatting import PALETTE, fmt, money_scale, number, scaled
from crmkit.render.labels import column_label, label
from crmkit.render.ranking import gap_words
from crmkit.render.templating import html_block
from crmkit.verdict import small_sample

__all__ = ["MAX_ROWS", "Cell", "Download", "Row", "Table", "csv_download", "table"]

#: Rows a table shows before it says how many more are in its CSV download.
MAX_ROWS = 15
#: The first characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MONEY = ("money", "money_per_day")
#: A text column with a value longer than this wraps (comments); others keep to one line.
_LONG_TEXT = 40
#: A phrase of lower case words ("at risk", "can't lose").
_PHRASE = re.compile(r"[a-z][a-z0-9']*(?: [a-z0-9']+)+")


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, and optionally a class, an inline style, a tooltip and a
    flag (a small tag after the text, e.g. 'provisional')."""

    text: str
    css_class: str | None = None
    style: str | None = None
    title: str | None = None
    flag: str | None = None


@dataclass(frozen=True)
class Row:
    """One table row: its cells."""

    cells: Sequence[Cell]


@dataclass(frozen=True)
class Download:
    """A table's CSV download: a ``data:`` URL, the file name it saves as, its row count."""

    href: str
    filename: str
    rows: int


def table(
    df: pd.DataFrame,
    units: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    currency: str = "",
    caption: str | None = None,
    max_rows: int = MAX_ROWS,
    *,
    samples: Mapping[str, str] | None = None,
    names: Mapping[str, Mapping[Any, str]] | None = None,
    verbatim: Iterable[str] = (),
    show_ids: bool = False,
    filename: str | None = None,
    cells: Mapping[str, Callable[[Any], Cell]] | None = None,
    flags: Mapping[str, tuple[str, str]] | None = None,
    totals: Mapping[str, Any] | None = None,
    csv: Callable[[pd.DataFrame], pd.DataFrame] | None = None, bottom: int = 0,
) -> Table:
    """A table of a frame's first ``max_rows`` rows (with ``bottom``, and its last ``bottom``
    rows after a row counting those between: a ranked list's two ends, see
    :mod:`crmkit.render.ranking`), and a CSV download of all of them: a :class:`Table`.

    ``units`` formats numbers by column (``fmt`` units; money columns share one scale and
    put ``currency`` in the heading); ``labels`` names columns (else
    :func:`~crmkit.render.labels.column_label`); ``samples`` maps a rate column to the
    column holding its sample size (``{"win_rate": "closed"}``), tagging rates from fewer
    than 30 as a "small sample"; ``names`` maps an id column to the names of its values
    (``{"team_id": ctx.store.teams()}`` shows a "Team" column of team names); other
    ``*_id`` columns are left out unless ``show_ids``; text columns in ``verbatim`` (free
    text such as comments) are shown as they are, other identifier-like text in words
    (:func:`~crmkit.render.labels.label`); ``filename`` names the CSV (else the caption).

    ``cells`` shows every value of a column, missing ones too, as a function makes its
    :class:`Cell` (text, class, tooltip); ``flags`` tags a column's cells where a
    true-or-false column, left out of the page, is true (``{"roi": ("provisional",
    _("provisional"))}``); ``totals`` adds a last row (``{"name": _("Total"), ...}``): shown
    after the top rows, last when sorted, counted in the money scales, not in the CSV;
    ``csv`` makes the CSV's frame from the rows of the frame shown (else headings in words
    and raw values).
    """
    units, labels, names = dict(units or {}), dict(labels or {}), dict(names or {})
    frame, cells = _with_totals(df, totals), dict(cells or {})
    hides = {c for c in df.columns if not (show_ids or c in names or not _is_id(c))}
    as_is = {*verbatim, *filter(_is_id, df.columns)}  # free text and ids are not words
    shows = {c: cells.get(c) or _column_cells(
        _ends(df, max_rows, bottom), c, units.get(c), names.get(c), c in as_is,
        money_scale(frame[c]) if units.get(c) in _MONEY else None) for c in df.columns}
    made = csv or (lambda rows: _csv_frame(rows, labels, units, currency, names))
    house = _House(shows=shows, ids=frozenset(hides | {f for f, _t in (flags or {}).values()}),
                   samples=dict(samples or {}), flags=dict(flags or {}), max_rows=max_rows,
                   bottom=bottom, totals=len(frame) - len(df), filename=filename,
                   csv=made if totals is None else partial(_as_typed, made, df.dtypes))
    styled = Table(frame, house=house, caption=caption)
    for c, show in shows.items():
        styled.format(lambda v, show=show: show(v).text, subset=[c])
    headings = {c: _heading(c, labels, units.get(c), currency, c in names) for c in df.columns}
    styled.format_index(lambda c: headings.get(c, str(c)), axis="columns")
    styled.hide(axis="index")
    return styled.hide(list(house.ids), axis="columns") if house.ids else styled


def _ends(df: pd.DataFrame, top: int, bottom: int) -> pd.DataFrame:
    """The rows a table shows of a frame: its first ``top`` and last ``bottom`` rows."""
    return df if len(df) <= top + bottom else pd.concat([df.head(top), df.tail(bottom)])


def _with_totals(df: pd.DataFrame, totals: Mapping[str, Any] | None) -> pd.DataFrame:
    """The frame and, when there are ``totals``, a last row of them (by column, others
    missing); the frame itself is left as it is."""
    if totals is None:
        return df
    last = pd.DataFrame([dict(totals)]).reindex(columns=df.columns)
    return pd.concat([df, last], ignore_index=True)


def _as_typed(made: Callable[[pd.DataFrame], pd.DataFrame], dtypes: pd.Series,
              rows: pd.DataFrame) -> pd.DataFrame:
    """The CSV of rows of a frame with a totals row, in the frame's own types (a count
    column whose total is missing holds whole numbers again)."""
    return made(rows.astype({c: dtypes[c] for c in rows.columns if c in dtypes.index}))


@dataclass(frozen=True)
class _House:
    """How a :class:`Table` shows its frame: the cell of a value in each column (its
    default text, alignment, tooltip), the columns it leaves out of the page (ids, flags;
    the CSV keeps them), the rates it tags by their sample, the cells it flags, how many
    rows it shows from the top and from the bottom, how many last rows are totals, its CSV
    (headings in words, raw values) and a note under it."""

    shows: Mapping[Any, Callable[[Any], Cell]] = field(default_factory=dict)
    ids: frozenset[Any] = frozenset()
    samples: Mapping[str, str] = field(default_factory=dict)
    flags: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    max_rows: int = MAX_ROWS
    bottom: int = 0
    totals: int = 0
    filename: str | None = None
    csv: Callable[[pd.DataFrame], pd.DataFrame] = lambda frame: frame
    note: str | None = None


class Table(Styler):
    """A table as a pandas ``Styler`` of the whole frame it shows: ``.data`` holds every
    row with raw values, and it sorts, styles and exports as any Styler
    (``.sort_values("revenue")``, ``.highlight_max(subset=[...])``, ``.format(...)``,
    ``.hide(...)``, ``.to_excel(path)``).

    Displayed, it is the house table block (``table.html.j2``): its caption, the first
    rows (then its totals row, if any) and how many more are in the CSV download, headings
    in words with the currency, small samples tagged, its note (:meth:`set_note`) under it;
    the cells' texts are the Styler's formats (the house's, then an
    analyst's), their inline styles and classes the Styler's (``highlight_max``,
    ``set_td_classes``), hidden rows and columns are left out of the page and the CSV.
    Every text (cells, headings, caption) is escaped once, by the block's template; so a
    format returns text, not markup. ``.to_html()`` escapes every text as well (pandas'
    own leaves them as they are)."""

    def __init__(self, data: pd.DataFrame, *args: Any, house: _House | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        self.house = house or _House()

    def _copy(self, deepcopy: bool = False) -> Table:
        copied = super()._copy(deepcopy)
        copied.house = self.house
        return copied  # type: ignore[return-value]

    def _repr_html_(self) -> str:
        return str(self.block().data)

    def set_note(self, note: str | None) -> Table:
        """A sentence shown under the table (e.g. what the figures add up to); returns
        the table, as ``set_caption`` does."""
        self.house = replace(self.house, note=note)
        return self

    def block(self) -> HTML:
        """The house table block of what the Styler shows (see the class)."""
        self._compute()  # the analyst's styles (highlight_max...) into self.ctx
        ids = {int(j) for j in self.columns.get_indexer_for(list(self.house.ids))}
        hidden = {int(j) for j in self.hidden_columns} - ids  # hidden by hand
        kept = [j for j in range(len(self.columns)) if j not in hidden]  # the CSV has ids
        hidden_rows = {int(i) for i in self.hidden_rows}
        body = len(self.data) - self.house.totals
        rows = [i for i in range(body) if i not in hidden_rows]
        first, last = self._ends(rows)
        head = [str(self._display_funcs_columns[(0, j)](self.columns[j]))
                for j in kept if j not in ids]
        cells = [Row([self._cell(i, j) for j in kept if j not in ids]) for i in first]
        left = len(rows) - len(first) - len(last)
        if last:
            cells.append(_gap(left, len(head)))
        cells += [Row([self._cell(i, j) for j in kept if j not in ids]) for i in last
                  + [i for i in range(body, len(self.data)) if i not in hidden_rows]]
        caption = _caption(self.caption)
        download = csv_download(self.house.csv(self.data.iloc[rows, kept]),
                                self.house.filename or caption)
        return html_block("table.html.j2", head=head, rows=cells, caption=caption, hidden=left,
                          more=_more(left, download), download=download, note=self.house.note)

    def _ends(self, rows: list[int]) -> tuple[list[int], list[int]]:
        """The rows (positions) shown first, and those shown last after a gap row: the
        first ``max_rows``; with ``bottom``, every row or, when there are more, the first
        ``max_rows`` and the last ``bottom``."""
        top, bottom = self.house.max_rows, self.house.bottom
        if bottom <= 0:
            return rows[:top], []
        if len(rows) <= top + bottom:
            return rows, []
        return rows[:top], rows[len(rows) - bottom:]

    def _cell(self, i: int, j: int) -> Cell:
        """Row ``i``, column ``j`` (positions) as the house shows it, in the Styler's
        format, style and class, flagged, and tagged when its rate comes from a small
        sample."""
        column, value = self.columns[j], self.data.iat[i, j]
        show = self.house.shows.get(column)
        house = show(value) if show is not None else Cell("")
        style = "; ".join(f"{name}: {css}" for name, css in self.ctx.get((i, j), ()))
        classes = " ".join(filter(None, (house.css_class, self.cell_context.get((i, j)))))
        cell = Cell(str(self._display_funcs[(i, j)](value)), classes or None, style or None,
                    house.title)
        flag = self.house.flags.get(str(column))
        if flag is not None and not _missing(value) and self._true(i, flag[0]):
            cell = replace(cell, flag=flag[1])
        sample = self.house.samples.get(str(column))
        if sample is not None and sample in self.columns:
            return _flag_small(cell, self.data.iat[i, self.columns.get_loc(sample)])
        return cell

    def _true(self, i: int, column: str) -> bool:
        """Whether row ``i`` (position) holds a true value in ``column``."""
        if column not in self.columns:
            return False
        value = self.data.iat[i, self.columns.get_loc(column)]
        return not _missing(value) and bool(value)

    def sort_values(self, by: Any, *, ascending: bool | Sequence[bool] = True,
                    **kwargs: Any) -> Table:
        """The same table with its rows sorted (``DataFrame.sort_values``'s arguments), a
        totals row kept last, the formats, styles and hidden rows and columns kept."""
        body = len(self.data) - self.house.totals
        order = self.data.iloc[:body].reset_index(drop=True).sort_values(
            by, ascending=ascending, **kwargs).index.tolist() + list(range(body, len(self.data)))
        moved = {old: new for new, old in enumerate(order)}
        styled = Table(self.data.iloc[order], house=self.house, caption=self.caption)
        for kept in ("_display_funcs_columns", "_todo", "hidden_columns", "hide_index_"):
            setattr(styled, kept, copy.copy(getattr(self, kept)))
        for by_cell in ("_display_funcs", "cell_context"):  # keyed by (row, column) position
            getattr(styled, by_cell).update(
                {(moved[i], j): v for (i, j), v in getattr(self, by_cell).items()})
        styled.hidden_rows = sorted(moved[i] for i in self.hidden_rows)
        return styled

    def to_html(self, *args: Any, **kwargs: Any) -> Any:
        """pandas' HTML of this Styler with every text escaped: its cells, headings and
        caption (pandas' own leaves a cell ``<script>`` as it is)."""
        escaped = self._copy()
        for name in ("_display_funcs", "_display_funcs_columns", "_display_funcs_index"):
            funcs = getattr(self, name)
            safe: defaultdict[Any, Callable[[Any], str]] = defaultdict(
                partial(_escaping_default, funcs.default_factory))
            safe.update({key: _escaping(f) for key, f in funcs.items()})
            setattr(escaped, name, safe)
        if self.caption is not None:
            escaped.caption = html.escape(str(self.caption))
        return Styler.to_html(escaped, *args, **kwargs)


def _escaping(func: Callable[[Any], Any]) -> Callable[[Any], str]:
    return lambda value: html.escape(str(func(value)))


def _escaping_default(made: Callable[[], Callable[[Any], Any]]) -> Callable[[Any], str]:
    return _escaping(made())


def _caption(caption: Any) -> str | None:
    """A Styler's caption as the block's text (pandas also takes a (long, short) pair)."""
    if isinstance(caption, tuple | list):
        caption = caption[0] if caption else None
    return None if caption is None else str(caption)


def csv_download(frame: pd.DataFrame, name: str | None = None) -> Download:
    """A frame as a CSV ``data:`` link: UTF-8 with a byte-order mark (spreadsheets then read
    accents right), headings in words, raw values; a text cell or heading starting with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so that a
    spreadsheet shows it instead of running it as a formula."""
    safe = pd.DataFrame({
        i: values if pd.api.types.is_numeric_dtype(values) else values.map(_defuse)
        for i, (_name, values) in enumerate(frame.items())
    }, index=frame.index)
    safe.columns = [_defuse(column_label(str(c))) for c in frame.columns]
    text = "\ufeff" + safe.to_csv(index=False, lineterminator="\r\n")
    href = "data:text/csv;charset=utf-8," + quote(text, safe=",")
    return Download(href=href, filename=_filename(name), rows=len(frame))


# -- headings and cells ---------------------------------------------------------------------


def _is_id(column: Any) -> bool:
    return isinstance(column, str) and (column == "id" or column.endswith("_id"))


def _heading(column: str, labels: Mapping[str, str], unit: str | None, currency: str,
             named: bool) -> str:
    """A column heading in words, the currency of a money column in brackets."""
    if column in labels:
        text = column_label(labels[column])
    else:
        text = column_label(column.removesuffix("_id") if named else column)
    text = _(text[:1].upper() + text[1:])
    if unit in _MONEY and currency:
        per_day = _("/day") if unit == "money_per_day" else ""
        return f"{text} ({i18n.currency_symbol(currency)}{per_day})"
    return f"{text} ({_('per day')})" if unit == "money_per_day" else text


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and value != value)


def _column_cells(frame: pd.DataFrame, column: Any, unit: str | None,
                  names: Mapping[Any, str] | None, verbatim: bool,
                  scale: tuple[float, str, int] | None) -> Callable[[Any], Cell]:
    """How a value of one column shows, by its unit, its value names or its kind."""
    show: Callable[[Any], Cell]
    if scale is not None:
        show = lambda v: Cell(scaled(v, scale), css_class="n")  # noqa: E731
    elif unit is not None:
        show = lambda v: Cell(fmt(v, unit), css_class="n")  # noqa: E731
    elif names is not None:
        show = lambda v: Cell(str(names.get(v, v)))  # noqa: E731
    else:
        values = frame[column].tolist()
        wrap = any(isinstance(v, str) and len(v) > _LONG_TEXT for v in values)
        show = lambda v: _plain_cell(v, verbatim, wrap)  # noqa: E731
    empty = Cell("—", css_class="n") if unit else Cell("")
    return lambda v: empty if _missing(v) else show(v)


def _plain_cell(value: Any, verbatim: bool, wrap: bool) -> Cell:
    """A cell of a column without a unit: numbers right-aligned with a true minus, text
    in words unless it is free text; ``wrap``: a column of long texts, which wraps (class
    ``t``) where other cells keep to one line."""
    if isinstance(value, bool):
        return Cell(_("yes") if value else _("no"))
    if isinstance(value, numbers.Integral):
        return Cell(fmt(value, "count"), css_class="n")
    if isinstance(value, numbers.Real):
        return Cell(number(float(value), ",.2f"), css_class="n")
    text = (_(str(value)) if _is_placeholder(value) else str(value)) if verbatim else _words(value)
    return Cell(text, css_class="t" if wrap else None)


def _is_placeholder(value: Any) -> bool:
    """A row that stands for no one ("(no employee)"): words of the catalogue, not a name."""
    return isinstance(value, str) and value.startswith("(") and value.endswith(")")


def _words(value: Any) -> str:
    """A text value as a person reads it: an identifier in words
    (:func:`~crmkit.render.labels.label`: ``at_risk`` → "At risk"), and a phrase of lower
    case words capitalised like one ("at risk" → "At risk", "can't lose" → "Can't lose"), so
    the values of a column read alike, in the active locale; any other text as it is."""
    text = label(value)
    if text == str(value) and _PHRASE.fullmatch(text):
        text = text[0].upper() + text[1:]
    return _(text)  # a value the catalogue has (a placeholder: "(no employee)") in words


def _flag_small(cell: Cell, n: Any) -> Cell:
    """A rate's cell tagged "small sample" when its sample is 1..29."""
    size = int(float(n)) if isinstance(n, numbers.Real) and not _missing(n) else None
    if not small_sample(size):
        return cell
    return Cell(cell.text, cell.css_class, cell.style,
                _("n = {n}: fewer than 30, read with care").format(n=size), _("small sample"))


# -- the CSV download -----------------------------------------------------------------------


def _csv_frame(df: pd.DataFrame, labels: Mapping[str, str], units: Mapping[str, str],
               currency: str, names: Mapping[str, Mapping[Any, str]]) -> pd.DataFrame:
    """The whole frame for the CSV: raw values; headings as on the page (ids as "Team ID"
    beside the name column a mapping adds; rates marked as fractions)."""
    columns: dict[str, pd.Series] = {}
    for c in df.columns:
        unit = units.get(c)
        if c in names:
            columns[column_label(c)] = df[c]
        heading = _heading(c, labels, unit, currency, c in names)
        values = df[c].map(lambda v, m=names[c]: m.get(v, v)) if c in names else df[c]
        columns[f"{heading} ({_('fraction')})" if unit == "rate" else heading] = values
    return pd.DataFrame(columns)


def _defuse(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula, prefixed with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _filename(name: str | None) -> str:
    """A safe file name from a caption or a given name: lower case words joined by dashes,
    cut after a whole word at about 50 characters, ``.csv``."""
    words = re.findall(r"[a-z0-9]+", (name or "").lower().removesuffix(".csv"))
    stem = ""
    for word in words:
        if stem and len(stem) + 1 + len(word) > 50:
            break
        stem = f"{stem}-{word}" if stem else word[:50]
    return (stem or "table") + ".csv"


def _gap(left: int, width: int) -> Row:
    """The row between the two ends of a cut table: how many rows it stands for."""
    words = Cell(gap_words(left), style=f"font-style:italic;color:{PALETTE['neutral']};white-space:nowrap")
    return Row([words, *(Cell("") for _ in range(width - 1))])


def _more(hidden: int, download: Download | None) -> str:
    """The sentence under a long table: how many more rows there are, and where."""
    if not hidden:
        return ""
    count = i18n.decimal(f"{hidden:,}")
    if download is None:
        return ngettext("1 more row is not shown.", "{n} more rows are not shown.",
                        hidden).format(n=count)
    total = i18n.decimal(f"{download.rows:,}")
    return ngettext("1 more row is in the CSV download (all {total} rows).",
                    "{n} more rows are in the CSV download (all {total} rows).",
                    hidden).format(n=count, total=total)
