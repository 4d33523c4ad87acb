"""Import problems: hard errors that stop an import, each naming where and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crmkit.model import DataValidationError

__all__ = ["ImportFailed", "Problem"]


@dataclass
class Problem:
    """One hard finding of an import, for the message and the data-quality report.

    ``message`` is the complete one-line text (location, what is wrong, the fix); the other
    fields say the same in parts.
    """

    message: str
    table: str | None = None
    column: str | None = None
    rule: str = ""
    count: int = 1
    examples: list[Any] = field(default_factory=list)
    file: str | None = None
    line: int | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "severity": "error",
            "count": self.count,
            "examples": self.examples,
            "file": self.file,
            "line": self.line,
            "value": None if self.value is None else str(self.value),
            "message": self.message,
        }


class ImportFailed(DataValidationError):
    """An import that cannot proceed: a broken mapping, an unreadable file or bad values.

    The message is one line naming the file, column, line and value where known, and a fix.
    ``problems`` holds every problem found (the message shows the first and how many more);
    ``report`` is the data-quality report written for the failed attempt, if any.
    """

    def __init__(self, problems: Problem | Sequence[Problem], report: str | None = None) -> None:
        plist = [problems] if isinstance(problems, Problem) else list(problems)
        if not plist:  # pragma: no cover - callers always pass one
            raise ValueError("ImportFailed needs at least one problem")
        self.problems = plist
        self.report = report
        first = plist[0]
        self.file = first.file
        self.line = first.line
        self.value = first.value
        message = first.message
        more = len(plist) - 1
        if more:
            noun = f"{more} more problem{'s' if more != 1 else ''}"
            message += f" ({noun}: see {report})" if report else f" (and {noun})"
        super().__init__(
            first.table or "",
            first.column,
            first.rule or "import",
            first.count,
            first.examples,
            message=message,
        )

    def with_report(self, report: str) -> ImportFailed:
        """The same failure, its message pointing at the data-quality report."""
        return ImportFailed(self.problems, report)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ImportFailed, (self.problems, self.report))
