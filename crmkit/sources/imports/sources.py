"""Reading export files (CSV, Parquet, Excel) into text frames that remember file and line.

Every source is read as text: cells are trimmed, empty cells (and the source's
``null_values``) become null, and two hidden columns say where each row came from:
``_file`` (the path relative to the source folder) and ``_line`` (the line of a CSV file,
header = line 1; the row of an Excel sheet; the 1-based row of a Parquet file).  Types are
decided later, per canonical column (:mod:`crmkit.sources.imports.values`), so that an error can
point at the cell that broke a rule.

CSV files are decoded as UTF-8 (a byte-order mark is dropped), unless the mapping gives
``encoding``.  A file that is not UTF-8 is single-byte text: Cyrillic (CP1251, KOI8-R,
CP866, ...: whole words of bytes above 127, the code page chosen by charset-normalizer),
else Windows-1252, else Latin-1; such a guess leaves a data note on the tables the file
feeds.  The delimiter is the one of ``, ; tab |`` that splits the first lines into the
most, equally wide, columns, unless the mapping gives ``delimiter``.  The header is read
like any row: a row with more fields than the header, or a header that names a column
twice, is an error naming the line.  Every file must resolve inside the export folder
(no absolute path, no ``..``, no link that leads out).

A large CSV file (:data:`STREAM_BYTES`) that is the one file of a source feeding one table
row by row is read in chunks of :data:`CHUNK_ROWS` rows, each chunk exactly as the whole
file would be read: the import then stages, validates and writes that table chunk by
chunk, so its memory does not grow with the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmkit.errors import shown
from crmkit.sources.imports.errors import ImportFailed, Problem
from crmkit.sources.imports.mapping import READABLE_SUFFIXES, SourceSpec, outside_the_folder
from crmkit.sources.imports.values import as_text

__all__ = ["CHUNK_ROWS", "STREAM_BYTES", "SourceFrame", "read_source", "location"]

FILE_COL = "_file"
LINE_COL = "_line"
#: A CSV file at least this large, the one file of a source that feeds one simple table,
#: is read in chunks of :data:`CHUNK_ROWS` rows instead of as one frame (memory).
STREAM_BYTES = 48 << 20
CHUNK_ROWS = 100_000
_CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class SourceFrame:
    """One source read: its rows (text, with ``_file``/``_line``) and how it was read."""

    name: str
    frame: pd.DataFrame
    files: list[str]
    kind: str
    empty_files: list[str] = field(default_factory=list)
    read_as: list[str] = field(default_factory=list)
    #: file -> the single-byte encoding it was read in, guessed (it is not UTF-8)
    guessed: dict[str, str] = field(default_factory=dict)
    #: a source read in chunks: ``frame`` holds only the header; this yields the rows
    chunks: Callable[[], Iterator[pd.DataFrame]] | None = None
    #: rows of a source read in chunks, counted as they were read
    streamed_rows: int = 0

    @property
    def columns(self) -> list[str]:
        """The export's own columns (without the hidden ones)."""
        return [c for c in self.frame.columns if c not in (FILE_COL, LINE_COL)]

    @property
    def rows(self) -> int:
        """How many rows the source holds (of a chunked source: read so far)."""
        return self.streamed_rows if self.chunks is not None else len(self.frame)


def location(kind: str, file: Any, line: Any) -> str:
    """``deals.csv, line 7`` (CSV) or ``deals.xlsx, row 7`` (Excel, Parquet)."""
    if file is None or (isinstance(file, float) and np.isnan(file)):
        return ""
    word = "line" if kind == "csv" else "row"
    if line is None or (isinstance(line, float) and np.isnan(line)):
        return str(file)
    return f"{file}, {word} {int(line)}"


def _fail(message: str, **fields: Any) -> ImportFailed:
    return ImportFailed(Problem(message, **fields))


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------


def _decode(raw: bytes, encoding: str | None, name: str) -> tuple[str, str]:
    """The text of a file and the encoding used."""
    if encoding:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise _fail(
                f"{name}, line {line}: byte {raw[exc.start : exc.start + 1]!r} is not valid "
                f"{encoding}. Remove 'encoding: {encoding}' from the mapping to let crmkit detect "
                "it, or give the encoding the file was saved in (utf-8, cp1252, latin-1).",
                file=name,
                line=line,
            ) from None
        return text.lstrip("\ufeff"), encoding
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8 (with BOM)"
        except UnicodeDecodeError:
            pass
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for enc in (*_cyrillic_guess(raw), "cp1252", "latin-1"):
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


#: Cyrillic single-byte code pages, most common first (Windows, Unix, DOS, ISO, Mac).
_CYRILLIC = ("cp1251", "koi8_r", "cp866", "iso8859_5", "mac_cyrillic")
#: The encodings crmkit may guess for a file that is not UTF-8.
_GUESSES = (*_CYRILLIC, "cp1252", "latin-1")
#: How much of a file the encoding guess looks at.
_SAMPLE = 1 << 20
_WORDS = re.compile(rb"[A-Za-z]*[\x80-\xff][A-Za-z\x80-\xff]*")
_HIGH = bytes(range(0x80, 0x100))


def _cyrillic_guess(raw: bytes) -> tuple[str, ...]:
    """The Cyrillic code page of text that is not UTF-8, or nothing for Western text.

    In Western single-byte text a byte above 127 is an accent inside a word of plain
    letters (``Jos\xe9``); in Cyrillic text whole words are such bytes.  Only then is
    charset-normalizer asked which Cyrillic code page reads the text best."""
    sample = raw[:_SAMPLE]
    words = b"".join(_WORDS.findall(sample))  # the words that hold a byte above 127
    high = len(words) - len(words.translate(None, _HIGH))
    if not words or high / len(words) < 0.6:
        return ()
    from charset_normalizer import from_bytes  # lazy: only non-UTF-8 exports need it

    best = from_bytes(sample[: sample.rfind(b"\n") + 1] or sample, cp_isolation=list(_CYRILLIC)).best()
    return (best.encoding,) if best is not None and best.encoding in _CYRILLIC else ("cp1251",)


def _sniff_delimiter(text: str) -> str:
    """The candidate delimiter that splits the first lines into the most, equally wide,
    columns (a header of one column reads as comma-separated)."""
    head = [line for line in text[:65536].splitlines()[:30] if line.strip()]
    if not head:
        return ","
    best, best_score = ",", (0.0, 1)
    for d in _CANDIDATE_DELIMITERS:
        widths = [len(r) for r in csv.reader(head, delimiter=d)]
        if not widths or widths[0] < 2:
            continue
        consistent = sum(w == widths[0] for w in widths) / len(widths)
        score = (consistent, widths[0])
        if score > best_score:
            best, best_score = d, score
    return best


def _record_starts(lines: Iterable[str], delimiter: str) -> Iterator[int]:
    """The line on which each data record of the CSV text ``lines`` starts (header = line
    1; blank records are skipped, as pandas skips them)."""
    reader = csv.reader(lines, delimiter=delimiter)
    prev = 0
    for i, rec in enumerate(reader):
        start = prev + 1
        prev = reader.line_num
        if i == 0 or not rec or all(not f.strip() for f in rec) and len(rec) <= 1:
            continue
        yield start


def _record_lines(text: str, delimiter: str, n_rows: int) -> np.ndarray:
    """The line on which each data record starts (header = line 1).

    Fast path: one record per line.  When the counts disagree (quoted line breaks, blank
    lines) the file is walked with the csv module, which knows the physical lines.
    """
    lines = text.splitlines()
    if len(lines) - 1 == n_rows:
        return np.arange(2, n_rows + 2)
    starts = list(_record_starts(io.StringIO(text), delimiter))
    if len(starts) == n_rows:
        return np.asarray(starts)
    return np.arange(2, n_rows + 2)  # pragma: no cover - best effort


def _physical_line(text: str | Iterable[str], delimiter: str, record: int) -> int:
    """The line on which raw row ``record`` starts (pandas counts rows, blank ones
    included, where a quoted value may span lines); ``text`` or its lines."""
    reader = csv.reader(io.StringIO(text) if isinstance(text, str) else text, delimiter=delimiter)
    prev = 0
    for n, _ in enumerate(reader, start=1):
        if n == record:
            return prev + 1
        prev = reader.line_num
    return record  # pragma: no cover - pandas and csv agree on the rows


_PANDAS_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _csv_options(delimiter: str) -> dict[str, Any]:
    """How pandas reads a CSV file: every cell text, nothing read as missing.

    header=None: the header is a row like the others, so a row with more fields than the
    header is a parser error (with header=0 pandas would silently take the first column as
    the index when every row has one field more)."""
    return {
        "sep": delimiter,
        "header": None,
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        "skip_blank_lines": True,
        "engine": "c",
    }


def _parser_error(
    exc: pd.errors.ParserError, label: str, delimiter: str, lines: Callable[[], Iterable[str]]
) -> ImportFailed:
    """The one-line error of a CSV file pandas cannot parse (``lines``: its text again)."""
    m = _PANDAS_LINE.search(str(exc))
    if m:
        want, record, got = m.groups()
        line = _physical_line(lines(), delimiter, int(record))
        return _fail(
            f"{label}, line {line}: {got} fields where the header has {want} (read as "
            f"{_DELIMITER_NAMES[delimiter]}-separated). Quote values that contain the "
            "delimiter, or set delimiter: for this source in the mapping.",
            file=label,
            line=line,
        )
    return _fail(
        f"{label}: cannot parse as {_DELIMITER_NAMES[delimiter]}-separated text "
        f"({str(exc).splitlines()[0]}). Check the quoting, or set delimiter: in the mapping.",
        file=label,
    )


def _read_csv(path: Path, label: str, spec: SourceSpec) -> tuple[pd.DataFrame, str, str | None]:
    """The rows of a CSV file, how it was read, and the encoding if it was a guess (not
    UTF-8, and none given in the mapping)."""
    raw = path.read_bytes()
    text, encoding = _decode(raw, spec.encoding, label)
    guess = encoding if not spec.encoding and encoding in _GUESSES else None
    if not text.strip():
        return pd.DataFrame(), f"{encoding}, empty", None
    delimiter = spec.delimiter or _sniff_delimiter(text)
    try:
        df = pd.read_csv(io.StringIO(text), **_csv_options(delimiter))
    except pd.errors.ParserError as exc:
        raise _parser_error(exc, label, delimiter, lambda: io.StringIO(text)) from None
    header = [str(h) if str(h).strip() else f"Unnamed: {i}" for i, h in enumerate(df.iloc[0])]
    df = df.iloc[1:].reset_index(drop=True)
    df.columns = pd.Index(header, dtype=object)
    df[LINE_COL] = _record_lines(text, delimiter, len(df))
    how = f"{encoding}{' (a guess: not UTF-8)' if guess else ''}, {_DELIMITER_NAMES[delimiter]}-separated"
    return df, how, guess


# --------------------------------------------------------------------------------------
# Excel and Parquet
# --------------------------------------------------------------------------------------


def _cell_text(v: Any) -> Any:
    """A typed cell as export text: dates ISO, whole floats without ``.0``."""
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        if v is pd.NaT:
            return None
        return v.isoformat(sep=" ")
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v)


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC")
            out[str(c)] = s.map(lambda v: None if v is pd.NaT else v.isoformat(sep=" "))
        elif pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
            out[str(c)] = s
        else:
            out[str(c)] = s.astype(object).map(_cell_text)
    return pd.DataFrame(out, index=df.index)


def _filled_width(row: list[Any]) -> int:
    """How many cells of a sheet row count: up to the last one that holds a value."""
    filled = [j for j, v in enumerate(row) if _cell_text(v) not in (None, "")]
    return filled[-1] + 1 if filled else 0


def _sheet_table(
    rows: list[tuple[int, list[Any]]], label: str
) -> tuple[int, list[str], list[tuple[int, list[Any]]]]:
    """The header row number, the column names and the data rows (padded to the header's
    width) of a sheet's non-empty rows; a row with values beyond the header is an error."""
    header_row, header = rows[0]
    width = _filled_width(header)
    names_ = [_cell_text(v) or f"column_{j + 1}" for j, v in enumerate(header[:width])]
    for n, r in rows[1:]:
        if _filled_width(r) > width:
            raise _fail(
                f"{label}, row {n}: {_filled_width(r)} fields where the header has {width} (a value "
                "in a column without a header). Give the column a header, or clear the cell.",
                file=label,
                line=n,
            )
    return header_row, names_, [(n, (r + [None] * width)[:width]) for n, r in rows[1:]]


def _read_excel(path: Path, label: str, spec: SourceSpec) -> tuple[pd.DataFrame, str]:
    if path.stat().st_size == 0:
        return pd.DataFrame(), "empty"
    import openpyxl  # lazy: openpyxl costs 0.3 s of start-up and only Excel exports need it

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a corrupt or non-xlsx file: openpyxl raises many kinds
        raise _fail(
            f"{label}: cannot open as an Excel workbook ({type(exc).__name__}: {exc}). Save it "
            "again as .xlsx, or export CSV.",
            file=label,
        ) from None
    try:
        names = wb.sheetnames
        sheet = spec.sheet
        if sheet is None:
            ws = wb[names[0]]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise _fail(
                    f"{label}: sheet number {sheet} does not exist (sheets, from 0: {', '.join(names)}).",
                    file=label,
                )
            ws = wb[names[sheet]]
        else:
            if sheet not in names:
                raise _fail(
                    f"{label}: no sheet named {sheet!r} (sheets: {', '.join(names)}). Fix sheet: "
                    "in the mapping.",
                    file=label,
                )
            ws = wb[sheet]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        title = ws.title
    finally:
        wb.close()
    rows_with_no = [(i + 1, r) for i, r in enumerate(rows) if any(_cell_text(v) not in (None, "") for v in r)]
    if not rows_with_no:
        return pd.DataFrame(), f"sheet {title}, empty"
    header_row, names_, data = _sheet_table(rows_with_no, label)
    df = pd.DataFrame([r for _, r in data], columns=names_, dtype=object)
    df = _as_text(df) if len(df) else pd.DataFrame({c: pd.Series([], dtype=object) for c in names_})
    df[LINE_COL] = np.asarray([n for n, _ in data], dtype=np.int64)
    return df, f"sheet {title}, header on row {header_row}"


def _read_parquet(path: Path, label: str) -> tuple[pd.DataFrame, str]:
    if path.stat().st_size == 0:
        return pd.DataFrame(), "empty"
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several kinds for a broken file
        raise _fail(
            f"{label}: cannot read as Parquet ({type(exc).__name__}: {exc}). Export it again.",
            file=label,
        ) from None
    df = _as_text(df.reset_index(drop=True))
    df[LINE_COL] = np.arange(1, len(df) + 1)
    return df, "parquet"


# --------------------------------------------------------------------------------------
# A source
# --------------------------------------------------------------------------------------


def _header_name(column: Any) -> str:
    """A header name as the import knows it: trimmed, without a stray byte-order mark."""
    return str(column).replace("\ufeff", "").strip()


def _header_once(df: pd.DataFrame, label: str, kind: str) -> None:
    """A column named twice in the header (once trimmed) is an error naming both places."""
    seen: dict[str, int] = {}
    for i, name in enumerate(_header_name(c) for c in df.columns if c != LINE_COL):
        if name in seen:
            word = "line" if kind == "csv" else "row"
            raise _fail(
                f"{label}, {word} 1: column {shown(name)} appears twice in the header (columns "
                f"{seen[name] + 1} and {i + 1}). Rename or remove one of them in the export.",
                file=label,
                line=1,
                value=name,
            )
        seen[name] = i


def _clean(df: pd.DataFrame, nulls: tuple[str, ...]) -> pd.DataFrame:
    """Trim cells; blanks and ``nulls`` become null; header names trimmed."""
    df = df.rename(columns=_header_name)
    out = {}
    null_set = {n.strip() for n in nulls}
    for c in df.columns:
        if c == LINE_COL:
            out[c] = df[c]
            continue
        s = as_text(df[c])
        if null_set:
            s = s.where(~s.isin(null_set), None)
        out[c] = s
    return pd.DataFrame(out, index=df.index)


def _no_files(spec: SourceSpec, source_dir: Path, mapping_label: str) -> ImportFailed:
    """The error of a source whose glob matches no file, listing the files there."""
    here = sorted(p.name for p in source_dir.iterdir() if p.is_file()) if source_dir.is_dir() else []
    shown = ", ".join(here[:10]) + (", ..." if len(here) > 10 else "")
    return _fail(
        f"{mapping_label + ': ' if mapping_label else ''}source {spec.name}: no file matches "
        f"{spec.file!r} in {source_dir} (files there: {shown or 'none'}). Fix file: in the mapping.",
        file=spec.file,
    )


def _read_file(path: Path, label: str, spec: SourceSpec) -> tuple[pd.DataFrame, str, str, str | None]:
    """One file of a source as text: its rows, its kind, how it was read and the encoding
    guessed for it (None: UTF-8, given in the mapping, or not a text file)."""
    guess = None
    kind = READABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        hint = " Save it as .xlsx or CSV." if path.suffix.lower() == ".xls" else ""
        raise _fail(
            f"{label}: crmkit cannot read {path.suffix or 'files without an extension'} "
            f"files (it reads {', '.join(sorted(set(READABLE_SUFFIXES)))}).{hint}",
            file=label,
        )
    try:
        if kind == "csv":
            df, how, guess = _read_csv(path, label, spec)
        elif kind == "excel":
            df, how = _read_excel(path, label, spec)
        else:
            df, how = _read_parquet(path, label)
    except ImportFailed:
        raise
    except OSError as exc:
        raise _fail(f"{label}: cannot read the file ({exc.strerror or exc}).", file=label) from None
    except Exception as exc:  # a file no reader foresaw: still one line, naming it
        raise _fail(
            f"{label}: cannot read the file as {kind} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). Export it again, or as CSV.",
            file=label,
        ) from None
    return df, kind, how, guess


def _stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of every file of a source, one frame (text columns as objects)."""
    if not frames:
        return pd.DataFrame({FILE_COL: pd.Series([], dtype=object), LINE_COL: pd.Series([], dtype="int64")})
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for c in frame.columns:
        if c not in (FILE_COL, LINE_COL):
            frame[c] = frame[c].astype(object)
    return frame


def _files_inside(spec: SourceSpec, source_dir: Path, mapping_label: str) -> list[Path]:
    """The files a source's glob matches, each one checked to resolve inside the export
    folder (no absolute pattern, no ``..``, no link that leads out)."""
    lead = f"{mapping_label}: source {spec.name}: " if mapping_label else f"source {spec.name}: "
    outside = outside_the_folder(spec.file) if spec.file else None
    if outside:
        raise _fail(lead + outside, file=spec.file)
    paths = sorted(p for p in source_dir.glob(spec.file) if p.is_file()) if spec.file else []
    root = source_dir.resolve()
    for path in paths:
        target = path.resolve()
        if not target.is_relative_to(root):
            label = str(path.relative_to(source_dir))
            raise _fail(
                f"{label}: the file is a link that leads outside the export folder (to "
                f"{target}). Source files must be inside the export folder: copy the file into it.",
                file=label,
            )
    return paths


# --------------------------------------------------------------------------------------
# A large CSV file, read in chunks
# --------------------------------------------------------------------------------------


@dataclass
class _CsvPlan:
    """How a large CSV file is read in chunks: the codec, the delimiter and the line on
    which each data record starts."""

    path: Path
    label: str
    codec: str
    delimiter: str
    starts: np.ndarray
    how: str

    def lines(self) -> Iterator[str]:
        """The file's lines, as the csv module reads them (``\\n`` ends a line)."""
        with open(self.path, encoding=self.codec, newline="\n") as f:
            yield from f


def _csv_plan(path: Path, label: str, spec: SourceSpec) -> _CsvPlan | None:
    """The plan to read ``path`` in chunks, or None when it is read whole (an encoding
    that was guessed or is not UTF-8-like for pandas, or an empty file)."""
    text, encoding = _decode(path.read_bytes(), spec.encoding, label)
    if spec.encoding:
        utf8 = codecs.lookup(spec.encoding).name == "utf-8"
        codec: str | None = "utf-8-sig" if utf8 else spec.encoding
    else:
        codec = {"utf-8": "utf-8", "utf-8 (with BOM)": "utf-8-sig"}.get(encoding)
    if codec is None or not text.strip():
        return None
    delimiter = spec.delimiter or _sniff_delimiter(text)
    del text
    how = f"{encoding}, {_DELIMITER_NAMES[delimiter]}-separated"
    plan = _CsvPlan(path, label, codec, delimiter, np.empty(0, np.int64), how)
    plan.starts = np.fromiter(_record_starts(plan.lines(), delimiter), dtype=np.int64)
    return plan


def _header_frame(plan: _CsvPlan) -> pd.DataFrame:
    """The header of a file read in chunks, as an empty text frame with ``_line``."""
    first = pd.read_csv(plan.path, encoding=plan.codec, nrows=1, **_csv_options(plan.delimiter))
    header = [str(h) if str(h).strip() else f"Unnamed: {i}" for i, h in enumerate(first.iloc[0])]
    df = pd.DataFrame(columns=pd.Index(header, dtype=object), dtype=object)
    df[LINE_COL] = np.empty(0, np.int64)
    return df


def _chunks(plan: _CsvPlan, sf: SourceFrame, nulls: tuple[str, ...]) -> Iterator[pd.DataFrame]:
    """The rows of a large CSV file, :data:`CHUNK_ROWS` at a time, read as
    :func:`read_source` reads a file whole (text, trimmed, ``_file`` and ``_line``)."""
    header = [c for c in sf.frame.columns if c not in (FILE_COL, LINE_COL)]
    sf.streamed_rows, first = 0, True
    reader = pd.read_csv(plan.path, encoding=plan.codec, chunksize=CHUNK_ROWS, **_csv_options(plan.delimiter))
    with reader:
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserError as exc:
                raise _parser_error(exc, plan.label, plan.delimiter, plan.lines) from None
            df = (raw.iloc[1:] if first else raw).reset_index(drop=True)
            del raw
            first = False
            df.columns = pd.Index(header, dtype=object)
            done, n = sf.streamed_rows, len(df)
            fits = done + n <= len(plan.starts)
            df[LINE_COL] = plan.starts[done : done + n] if fits else np.arange(done + 2, done + n + 2)
            df = _clean(df, nulls)
            df.insert(len(df.columns) - 1, FILE_COL, plan.label)
            sf.streamed_rows = done + n
            yield df


def _streamed_source(spec: SourceSpec, path: Path, label: str) -> SourceFrame | None:
    """A source of one large CSV file, to be read in chunks (None: read it whole)."""
    plan = _csv_plan(path, label, spec)
    if plan is None:
        return None
    head = _header_frame(plan)
    _header_once(head, label, "csv")
    head = _clean(head, spec.null_values)
    head.insert(len(head.columns) - 1, FILE_COL, pd.Series([], dtype=object))
    sf = SourceFrame(spec.name, head, [label], "csv", read_as=[f"{label}: {plan.how}"])
    sf.chunks = lambda: _chunks(plan, sf, spec.null_values)
    return sf


def _large_csv(paths: list[Path]) -> bool:
    """Whether ``paths`` is one CSV file of at least :data:`STREAM_BYTES`."""
    if len(paths) != 1 or READABLE_SUFFIXES.get(paths[0].suffix.lower()) != "csv":
        return False
    return paths[0].stat().st_size >= STREAM_BYTES


def read_source(
    spec: SourceSpec, source_dir: Path, mapping_label: str = "", *, stream: bool = False
) -> SourceFrame:
    """Read every file of one source (a glob inside ``source_dir``) and stack them; raise
    :class:`ImportFailed`.  With ``stream``, a source of one CSV file of at least
    :data:`STREAM_BYTES` is left to be read in chunks (:attr:`SourceFrame.chunks`)."""
    paths = _files_inside(spec, source_dir, mapping_label)
    if not paths:
        raise _no_files(spec, source_dir, mapping_label)
    if stream and _large_csv(paths):
        sf = _streamed_source(spec, paths[0], str(paths[0].relative_to(source_dir)))
        if sf is not None:
            return sf
    frames: list[pd.DataFrame] = []
    kinds: set[str] = set()
    sf = SourceFrame(spec.name, pd.DataFrame(), [], "csv")
    for path in paths:
        label = str(path.relative_to(source_dir))
        df, kind, how, guess = _read_file(path, label, spec)
        if guess:
            sf.guessed[label] = guess
        kinds.add(kind)
        sf.files.append(label)
        sf.read_as.append(f"{label}: {how}")
        if df.shape[1] == 0:
            sf.empty_files.append(label)
            continue
        _header_once(df, label, kind)
        df = _clean(df, spec.null_values)
        df.insert(len(df.columns) - 1, FILE_COL, label)
        frames.append(df)
    sf.kind = kinds.pop() if len(kinds) == 1 else "mixed"
    sf.frame = _stacked(frames)
    return sf
