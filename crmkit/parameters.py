"""Resolve a report's parameters against a database's settings and teams.

Used twice with the same rules: by the runner before anything runs (so a bad period or
team fails in a fraction of a second and writes nothing) and by the notebook through
:func:`crmkit.reports.open_report`. :func:`resolve_team` turns a team selector
(``all``, an id or a name) into a team id. Where the database is and what it holds
(settings, teams) is :mod:`crmkit.backends`' job.
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from crmkit.backends import DATA_LAST_DAY
from crmkit.errors import ParameterError, TeamError, one_line, shown
from crmkit.i18n import DEFAULT as DEFAULT_LOCALE
from crmkit.i18n import check_locale
from crmkit.periods import (
    Period,
    check_reportable,
    compare_period,
    is_to_date,
    parse_as_of,
    parse_period,
    validate_compare_to,
    validate_timezone,
)

__all__ = [
    "ALL_TEAMS",
    "RESERVED_TEAM_IDS",
    "Parameters",
    "check_own_parameter",
    "check_team_id",
    "resolve",
    "resolve_team",
    "team_id_problem",
    "usable_teams",
]

#: The team selector that means the whole company.
ALL_TEAMS = "all"
#: Words that select teams (``all``; ``each`` in presets), so no team id may be one of them.
RESERVED_TEAM_IDS = frozenset({ALL_TEAMS, "each"})

_MAX_TEAM_LEN = 64
_MAX_TEAMS_LISTED = 50


@dataclass(frozen=True)
class Parameters:
    """A report's parameters, validated and resolved (relative periods made absolute).

    ``as_of`` is the local day the report is made on, or a local instant (a naive
    ``datetime``, wall-clock time in the period's time zone) when one was given or the
    period is cut at it (``month-to-date`` without an as-of: now); its ``isoformat()``
    reads back with :func:`crmkit.periods.parse_as_of`.
    """

    period: Period
    comparison: Period | None
    compare_to: str
    team: str
    as_of: date
    #: The language and formats of the page (:mod:`crmkit.i18n`): ``en``, ``ru``.
    locale: str = DEFAULT_LOCALE

    def for_notebook(self) -> dict[str, str]:
        """The values the runner injects into a notebook (reproducible: no relative dates; a
        to-date period's label, ``2025-06 to date``, reads back with its as-of instant)."""
        return {
            "period": self.period.label,
            "team": self.team,
            "compare_to": self.compare_to,
            "as_of": self.as_of.isoformat(),
            "timezone": self.period.timezone,
            "locale": self.locale,
        }

    def output_dir(self, root: str | os.PathLike[str]) -> Path:
        """``root/<period>/<team>``, the folder this report is published in; a TeamError if
        the team could name anything but one folder inside ``root``."""
        return output_dir(root, self.period, self.team)


def output_dir(root: str | os.PathLike[str], period: Period, team: str) -> Path:
    """``root/<period slug>/<team>``, checked to be one folder two levels inside ``root``
    (the last line of defence against a team id from the data that names a path)."""
    reason = None if team == ALL_TEAMS else team_id_problem(team)
    base = Path(root).resolve()
    folder = (base / period.slug / team).resolve()
    if reason is None and folder.parent.parent != base:
        reason = "it names a path, not one folder"
    if reason is not None:
        raise TeamError(f"team id {shown(team)} cannot name an output folder: {reason}")
    return Path(root) / period.slug / team


def resolve(
    *,
    period: str,
    team: str,
    compare_to: str,
    as_of: str | date | None,
    timezone: str | None,
    settings: Mapping[str, str],
    teams: Mapping[str, str],
    locale: str | None = None,
) -> Parameters:
    """Validate every parameter; raise PeriodError/TeamError/ParameterError with a one-line
    message. ``locale`` (None: the dataset's ``locale`` setting, else English) must be a
    language crmkit has a catalogue for.

    Without an as-of, a to-date period (``today``, ``month-to-date``...) is cut now; every
    other period is made on today (both in the company time zone, or ``$CRMKIT_AS_OF``)."""
    tz = validate_timezone(timezone or settings.get("timezone") or "UTC")
    made_on = parse_as_of(as_of, tz, instant=is_to_date(period))
    fy_start = int(settings.get("fiscal_year_start_month") or 1)
    p = parse_period(period, as_of=made_on, timezone=tz, fiscal_year_start_month=fy_start)
    check_reportable(p, made_on, _data_last_day(settings))
    compare_to = validate_compare_to(compare_to)
    team_id = resolve_team(team, teams)
    language = (check_locale(locale) if locale else
                check_locale(settings.get("locale") or DEFAULT_LOCALE, "the dataset's locale setting"))
    return Parameters(p, compare_period(p, compare_to), compare_to, team_id, made_on, language)


def _data_last_day(settings: Mapping[str, str]) -> date | None:
    """The data's last day that :func:`crmkit.backends.engines.describe` added, if any."""
    try:
        return date.fromisoformat(settings.get(DATA_LAST_DAY) or "")
    except ValueError:
        return None


# -- a report's own parameters -----------------------------------------------------------

#: The largest number a report's own numeric parameter may take (days, months, counts).
MAX_OWN_NUMBER = 10_000


def check_own_parameter(report: str, name: str, value: object, default: str | None) -> object:
    """A report's own parameter checked against its notebook default (the source text of
    the parameters cell, e.g. ``"90"``): a number takes the kind of its default (a whole
    number for a whole-number default), is finite, at most :data:`MAX_OWN_NUMBER` in
    magnitude, and not negative when the default is not. One-line ParameterError else."""
    try:
        base = ast.literal_eval(default or "None")
    except (ValueError, SyntaxError):
        return value
    if isinstance(base, bool) or not isinstance(base, int | float):
        return value
    where = f"{report}: parameter {name}={shown(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{where}: must be a number (its default is {base})")
    if isinstance(base, int) and not isinstance(value, int):
        if not (math.isfinite(value) and value.is_integer()):
            raise ParameterError(f"{where}: must be a whole number (its default is {base})")
        value = int(value)
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > MAX_OWN_NUMBER:
        raise ParameterError(f"{where}: out of range; use a number up to {MAX_OWN_NUMBER}")
    if base >= 0 and value < 0:
        raise ParameterError(f"{where}: must not be negative (its default is {base})")
    return value


# -- teams ------------------------------------------------------------------------------


def _unsafe_team_reason(value: str) -> str | None:
    """Why ``value`` may not be used as a team (it names an output folder), or None."""
    if not value.strip():
        return "the team is empty"
    if len(value) > _MAX_TEAM_LEN:
        return f"longer than {_MAX_TEAM_LEN} characters"
    if ".." in value:
        return "'..' is not allowed"
    if value.strip().startswith("."):
        return "it may not start with '.'"
    for ch in value:
        if ch in "/\\'\"`" or (not ch.isprintable()):
            return f"character {ch!r} is not allowed"
    return None


def team_id_problem(team_id: object) -> str | None:
    """Why a team id from the data cannot be used (it names an output folder and is typed
    on the command line), or None: the rules of a typed team, no surrounding spaces, and
    not a reserved word (``all``, ``each``, in any case)."""
    if not isinstance(team_id, str):
        return "a team id is text"
    reason = _unsafe_team_reason(team_id)
    if reason is not None:
        return reason
    if team_id != team_id.strip():
        return "it has leading or trailing spaces"
    if team_id.casefold() in RESERVED_TEAM_IDS:
        return f"{team_id.casefold()!r} is reserved ('all' means the whole company)"
    return None


def check_team_id(team_id: str, teams: Mapping[str, str]) -> str:
    """``team_id`` if it is usable, else a one-line TeamError naming its row."""
    reason = team_id_problem(team_id)
    if reason is None:
        return team_id
    name = teams.get(team_id, "")
    raise TeamError(
        f"teams table, row team_id={shown(team_id)} (name {shown(one_line(str(name)))}): "
        f"not a usable team id: {reason}; fix the id in the data (letters, digits, spaces, "
        "'-' and '_') and import it again"
    )


def usable_teams(teams: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The teams split into those whose id is usable (id -> name) and the others (id -> the
    one-line reason), for runs over every team that keep going past a bad row."""
    good: dict[str, str] = {}
    bad: dict[str, str] = {}
    for team_id, name in teams.items():
        try:
            good[check_team_id(team_id, teams)] = name
        except TeamError as exc:
            bad[team_id] = str(exc)
    return good, bad


def _team_choices(teams: Mapping[str, str]) -> str:
    """The valid selectors for an error message: ``all, t1 (Name), ...`` (at most 50)."""
    items = [f"{one_line(str(k))} ({one_line(str(v))})" for k, v in teams.items()]
    more = len(items) - _MAX_TEAMS_LISTED
    shown = ", ".join([ALL_TEAMS, *items[:_MAX_TEAMS_LISTED]])
    return f"{shown}, ... and {more} more" if more > 0 else shown


def resolve_team(value: str, teams: Mapping[str, str]) -> str:
    """Resolve a team selector to a ``team_id`` (or ``"all"`` for company-wide).

    Accepts ``all`` (any case), an exact team id, or a team id / team name
    matched case-insensitively, in that order of preference.  Surrounding
    spaces are ignored.  Unsafe text (empty, over 64 characters, ``/``, ``\\``,
    ``..``, quotes, control characters) is rejected before any lookup.

    Raises:
        TeamError: unsafe, ambiguous or unknown team (one-line message).
    """
    if not isinstance(value, str):
        raise TeamError(
            f"unknown team {shown(value)}: must be text. Valid teams: {_team_choices(teams)}"
        )
    reason = _unsafe_team_reason(value)
    if reason is not None:
        raise TeamError(f"invalid team {shown(value)}: {reason}")
    key = value.strip()
    if key.lower() == ALL_TEAMS:
        return ALL_TEAMS
    ids = {str(team_id): team_id for team_id in teams}
    if key in ids:
        return check_team_id(ids[key], teams)
    folded = key.casefold()
    by_id = [t for t in teams if str(t).strip().casefold() == folded]
    by_name = [t for t, name in teams.items() if str(name).strip().casefold() == folded]
    for hits in (by_id, by_name):
        if len(hits) == 1:
            return check_team_id(hits[0], teams)
        if len(hits) > 1:
            listed = ", ".join(one_line(str(h)) for h in hits)
            raise TeamError(f"ambiguous team {shown(value)}: matches team ids {listed}; use the id")
    raise TeamError(f"unknown team {shown(value)}. Valid teams: {_team_choices(teams)}")
