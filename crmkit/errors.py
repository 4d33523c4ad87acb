"""Every failure crmkit expects, under one base: :class:`CrmkitError`.

Each message is one line that says what is wrong, where, and how to fix it; the command
line prints it without a traceback (``crmkit: error: ...``, exit status 2, or 1 for a report
that failed while running). Anything that is not a ``CrmkitError`` is a bug and keeps its
traceback.

The kinds, from the bottom of the stack up:

- :class:`PeriodError`, :class:`TeamError`, :class:`ParameterError`: a parameter is invalid;
- :class:`StoreError`: the database cannot be opened or is not a crmkit database;
- :class:`DataValidationError` (in :mod:`crmkit.model`) and its ``ImportFailed``: data or a
  mapping breaks the canonical model;
- :class:`PresetError`: a preset file is invalid;
- :class:`OutputError`: a file or folder cannot be written (read-only, full disk);
- :class:`SetupError`: the environment is not set up for a run (no ``crmkit`` kernel);
- :class:`ReportError`: a report failed while running (carries report, parameters, cell).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The longest user value echoed back in an error message.
MAX_SHOWN = 80


def shown(value: object) -> str:
    """Quote a user value for a one-line error message (escaped, truncated)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_SHOWN:
        text = text[:MAX_SHOWN] + "..."
    return repr(text)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``word`` for one, else ``words`` (by default ``word`` + "s"): the noun of an English-only
    message about ``n`` things (``f"{n} {plural(n, 'page')}"``: 1 page, 2 pages)."""
    return word if n == 1 else words or word + "s"


def one_line(text: str) -> str:
    """Replace anything that could break a one-line message with '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class CrmkitError(Exception):
    """Base of every expected failure; ``str(error)`` is one line."""


class PeriodError(CrmkitError, ValueError):
    """A period, ``as_of``, ``compare_to`` or time zone value is not valid."""


class TeamError(CrmkitError, ValueError):
    """A team selector is unsafe or names no known team."""


class ParameterError(CrmkitError, ValueError):
    """A report id, a report's own parameter or a command-line value is invalid."""


class StoreError(CrmkitError, RuntimeError):
    """The database cannot be opened or is not a crmkit database."""


class PresetError(CrmkitError, ValueError):
    """A preset file (``params/*.yaml``) is invalid; the message names file and line."""


class SetupError(CrmkitError, RuntimeError):
    """The environment is not set up for a run (e.g. the ``crmkit`` Jupyter kernel is not
    installed); the message says which command sets it up."""


class ReportError(CrmkitError, RuntimeError):
    """A report failed to run; carries which report, which parameters and which cell."""

    def __init__(
        self,
        report: str,
        parameters: dict[str, Any],
        message: str,
        cell: int | None = None,
        ename: str | None = None,
        evalue: str | None = None,
        notebook: Path | None = None,
        source: str | None = None,
    ) -> None:
        self.report, self.parameters, self.cell = report, parameters, cell
        self.ename, self.evalue, self.notebook = ename, evalue, notebook
        self.source = source
        self.message = message
        params = " ".join(f"{k}={v}" for k, v in parameters.items() if v is not None)
        where = ""
        if cell is not None:
            first = (source or "").strip().splitlines()
            snippet = f" `{first[0][:60]}`" if first else ""
            where = f" in cell {cell}{snippet}"
        kept = f"; failed notebook kept at {notebook}" if notebook else ""
        super().__init__(f"report {report} ({params}) failed{where}: {message}{kept}")

    @property
    def where(self) -> str:
        """The failing cell, for summaries: ``cell 3: raise ValueError(...`` or ``-``."""
        if self.cell is None:
            return "-"
        first = (self.source or "").strip().splitlines()
        return f"cell {self.cell}: {first[0][:50]}" if first else f"cell {self.cell}"


class OutputError(CrmkitError, OSError):
    """A file or folder cannot be written (read-only folder, full disk, ...)."""

    @classmethod
    def of(cls, path: Path, exc: OSError) -> OutputError:
        reason = exc.strerror or type(exc).__name__
        return cls(f"cannot write {str(path)!r}: {reason}; make the folder writable and check "
                   "the free space, or choose another output folder")
