"""Resolve a report's parameters against a database's settings and teams.

Used twice with the same rules: by the runner before anything runs (so a bad period or
team fails in a fraction of a second and writes nothing) and by the notebook through
:func:`crmkit.reports.context.open_report`. Only the standard library and DuckDB (or psycopg, for a
PostgreSQL database) are imported here, which keeps the command line fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from crmkit.backends.postgres import ENV_URL, Location, is_url
from crmkit.backends.postgres import describe as describe_postgres
from crmkit.backends.postgres import resolve as resolve_url
from crmkit.errors import StoreError
from crmkit.periods import (
    Period,
    compare_period,
    parse_as_of,
    parse_period,
    resolve_team,
    validate_compare_to,
    validate_timezone,
)

DEFAULT_DATABASE = Path("data") / "demo.duckdb"

#: A canonical database: a DuckDB file, or a PostgreSQL schema (:class:`Location`).
Database = Path | Location

#: Media type of the notebook output that carries a report's JSON twin; the notebook
#: emits it (:meth:`crmkit.reports.context.ReportData.publish`) and the runner saves it.
JSON_MIMETYPE = "application/vnd.crmkit.report+json"


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


def find_database(database: str | os.PathLike[str] | Location | None = None) -> Database:
    """Where the canonical database is, first found of: the argument (a DuckDB file, or a
    ``postgresql://`` URL given programmatically), ``$CRMKIT_DATABASE`` (a DuckDB file),
    ``$CRMKIT_DATABASE_URL`` (PostgreSQL), ``data/demo.duckdb`` in the current directory
    or one of its parents.

    A PostgreSQL location prints without its password; a URL argument without one takes
    the password of ``$CRMKIT_DATABASE_URL`` when that names the same database.
    """
    if isinstance(database, Location):
        return resolve_url(database)
    if database and is_url(str(database)):
        return resolve_url(str(database))
    if database:
        return Path(database).expanduser().resolve()
    env = os.environ.get("CRMKIT_DATABASE")
    if env:
        return Path(env).expanduser().resolve()
    url = os.environ.get(ENV_URL, "").strip()
    if url:
        if not is_url(url):
            raise StoreError(f"${ENV_URL} must be a postgresql:// URL")
        return Location(url)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_DATABASE
        if candidate.exists():
            return candidate
    return (here / DEFAULT_DATABASE).resolve()


def connect(path: Path):  # noqa: ANN201 - duckdb connection
    """Open a crmkit DuckDB database read-only, with a one-line error if that fails."""
    import duckdb

    if not path.exists():
        raise StoreError(
            f"no database at {path}: build the demo with `crmkit demo` "
            "or point --database / CRMKIT_DATABASE at your crmkit database"
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot open {path} as a DuckDB database: {first}") from None


def describe(path: Database) -> tuple[dict[str, str], dict[str, str]]:
    """A database's settings and its teams (team_id -> name), read with plain SQL."""
    if isinstance(path, Location):
        return describe_postgres(path)
    con = connect(path)
    try:
        try:
            teams = dict(con.execute("select team_id, name from teams order by name").fetchall())
        except Exception:  # noqa: BLE001 - any failure here means "not a crmkit database"
            raise StoreError(f"{path} is not a crmkit database: it has no teams table") from None
        try:
            settings = dict(con.execute("select key, value from crmkit.settings").fetchall())
        except Exception:  # noqa: BLE001 - databases without settings use the defaults
            settings = {}
    finally:
        con.close()
    return {str(k): str(v) for k, v in settings.items()}, {str(k): str(v) for k, v in teams.items()}
