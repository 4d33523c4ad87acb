"""Presets (``params/*.yaml``): which reports, periods and teams a scheduled run publishes.

A preset::

    reports: all                 # the registry's reports and any custom notebook, or a list
    periods: [last-month]        # any period of the grammar, relative ones resolved at run time
    teams: [all, each]           # all = company-wide, each = every team, or team ids
    compare_to: previous         # previous | year_ago | none
    timezone: null               # null: the dataset's time zone
    as_of: null                  # null: --as-of, else today
    timeout: 600                 # seconds per cell
    params: {activity: {active_days: 60}}   # a report's own parameters

The file is read as safe YAML and checked by a typed model (:class:`Preset`); every problem
is one line naming the file, the line and the fix (:class:`crmkit.errors.PresetError`).
Whether the reports, periods and teams exist is checked against the data when the preset
is expanded into runs (:func:`crmkit.publish.batch.expand`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crmkit._yaml import YamlSyntaxError, first_problem, line_of, load
from crmkit.errors import PresetError


def _values(value: Any) -> tuple[str, ...]:
    """A value or a non-empty list of values (text or whole numbers), as text."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in items):
        raise PydanticCustomError("values", "must be a value or a non-empty list of values")
    return tuple(str(v) for v in items)


def _compare_to(value: Any) -> str:
    return str(value) if value else "previous"


def _as_of(value: Any) -> str | None:
    return str(value) if value else None  # YAML reads 2025-07-01 as a date


def _timeout(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PydanticCustomError("timeout", "must be a positive number of seconds per cell")
    return value


def _params(value: Any) -> dict[str, dict[str, Any]]:
    value = value or {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise PydanticCustomError(
            "params",
            "maps a report to its own parameters, e.g. params: {activity: {active_days: 60}}",
        )
    return {str(report): dict(own) for report, own in value.items()}


Values = Annotated[tuple[str, ...], BeforeValidator(_values)]


class Preset(BaseModel):
    """A preset file's settings, validated; :attr:`path` is the file it was read from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reports: Values = ("all",)
    periods: Values = ("last-month",)
    teams: Values = ("all",)
    compare_to: Annotated[str, BeforeValidator(_compare_to)] = "previous"
    timezone: str | None = None
    as_of: Annotated[str | None, BeforeValidator(_as_of)] = None
    timeout: Annotated[int, BeforeValidator(_timeout)] = 600
    params: Annotated[dict[str, dict[str, Any]], BeforeValidator(_params)] = {}

    _path: Path = PrivateAttr(default=Path("preset.yaml"))

    @model_validator(mode="after")
    def _remember_path(self, info: ValidationInfo) -> Preset:
        if info.context and "path" in info.context:
            self._path = Path(info.context["path"])
        return self

    @property
    def path(self) -> Path:
        """The preset file, for messages."""
        return self._path


KEYS = ", ".join(Preset.model_fields)


def load_preset(path: str | os.PathLike[str]) -> Preset:
    """Read and check a preset file; every problem is a one-line PresetError."""
    p = Path(path)
    try:
        raw, lines = load(_read(p))
    except YamlSyntaxError as exc:
        where = f", line {exc.line}" if exc.line else ""
        raise PresetError(f"{p}{where}: not valid YAML ({exc.problem})") from None
    if not isinstance(raw, dict):
        raise PresetError(f"{p}: a preset is a mapping with keys {KEYS}")
    try:
        return Preset.model_validate(raw, context={"path": p})
    except ValidationError as exc:
        line, message = first_problem(exc, lines)
        unknown = [e["loc"][0] for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            line = line_of(lines, unknown[:1])
            message = f"unknown key(s) {', '.join(map(str, unknown))}; valid keys: {KEYS}"
        where = f", line {line}" if line else ""
        raise PresetError(f"{p}{where}: {message}") from None


def _read(p: Path) -> str:
    """The text of a preset file; a one-line PresetError if it is not one."""
    if p.is_dir():
        raise PresetError(f"{p}: is a folder; give a preset file, e.g. params/monthly.yaml")
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{p}: no such preset file (presets live in params/)") from None
    except UnicodeDecodeError:
        raise PresetError(f"{p}: not a text file; a preset is YAML text (UTF-8)") from None
    except OSError as exc:
        raise PresetError(f"{p}: cannot be read ({exc.strerror or exc})") from None
