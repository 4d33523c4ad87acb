"""Resolve a report's parameters against a database's settings and teams.

Used twice with the same rules: by the runner before anything runs (so a bad period or
team fails in a fraction of a second and writes nothing) and by the notebook through
:func:`crmkit.reports.context.open_report`. :func:`resolve_team` turns a team selector
(``all``, an id or a name) into a team id. Where the database is and what it holds
(settings, teams) is :mod:`crmkit.backends`' job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from crmkit.errors import TeamError, one_line, shown
from crmkit.periods import (
    Period,
    compare_period,
    parse_as_of,
    parse_period,
    validate_compare_to,
    validate_timezone,
)

__all__ = [
    "ALL_TEAMS",
    "Parameters",
    "resolve",
    "resolve_team",
]

#: The team selector that means the whole company.
ALL_TEAMS = "all"

_MAX_TEAM_LEN = 64
_MAX_TEAMS_LISTED = 50


@dataclass(frozen=True)
class Parameters:
    """A report's parameters, validated and resolved (relative periods made absolute)."""

    period: Period
    comparison: Period | None
    compare_to: str
    team: str
    as_of: date

    def for_notebook(self) -> dict[str, str]:
        """The values the runner injects into a notebook (reproducible: no relative dates)."""
        return {
            "period": self.period.label,
            "team": self.team,
            "compare_to": self.compare_to,
            "as_of": self.as_of.isoformat(),
            "timezone": self.period.timezone,
        }


def resolve(
    *,
    period: str,
    team: str,
    compare_to: str,
    as_of: str | date | None,
    timezone: str | None,
    settings: Mapping[str, str],
    teams: Mapping[str, str],
) -> Parameters:
    """Validate every parameter; raise PeriodError/TeamError with a one-line message."""
    tz = validate_timezone(timezone or settings.get("timezone") or "UTC")
    as_of_date = parse_as_of(as_of, tz)
    fy_start = int(settings.get("fiscal_year_start_month") or 1)
    p = parse_period(period, as_of=as_of_date, timezone=tz, fiscal_year_start_month=fy_start)
    compare_to = validate_compare_to(compare_to)
    team_id = resolve_team(team, teams)
    return Parameters(p, compare_period(p, compare_to), compare_to, team_id, as_of_date)


# -- teams ------------------------------------------------------------------------------


def _unsafe_team_reason(value: str) -> str | None:
    """Why ``value`` may not be used as a team (it names an output folder), or None."""
    if not value.strip():
        return "the team is empty"
    if len(value) > _MAX_TEAM_LEN:
        return f"longer than {_MAX_TEAM_LEN} characters"
    if ".." in value:
        return "'..' is not allowed"
    for ch in value:
        if ch in "/\\'\"`" or (not ch.isprintable()):
            return f"character {ch!r} is not allowed"
    return None


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
        return ids[key]
    folded = key.casefold()
    by_id = [t for t in teams if str(t).strip().casefold() == folded]
    by_name = [t for t, name in teams.items() if str(name).strip().casefold() == folded]
    for hits in (by_id, by_name):
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            listed = ", ".join(one_line(str(h)) for h in hits)
            raise TeamError(f"ambiguous team {shown(value)}: matches team ids {listed}; use the id")
    raise TeamError(f"unknown team {shown(value)}. Valid teams: {_team_choices(teams)}")
