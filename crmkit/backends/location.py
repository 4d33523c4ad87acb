"""Where a canonical database is: a DuckDB file, or a PostgreSQL schema named by a URL.

Standard library only, so that the command line can find the database and start a report's
kernel before it loads any data library. A :class:`Location` never shows its password:
``str()`` and ``repr()`` print the URL without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from crmkit.errors import StoreError

__all__ = ["DEFAULT_DATABASE", "ENV_URL", "Database", "Location", "find_database", "is_url"]

ENV_URL = "CRMKIT_DATABASE_URL"
SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "public"

#: The demo database, looked for in the current folder and its parents.
DEFAULT_DATABASE = Path("data") / "demo.duckdb"


def is_url(value: object) -> bool:
    """Whether ``value`` is a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in SCHEMES and ("://" in value)


@dataclass(frozen=True)
class Location:
    """Where a PostgreSQL dataset is: a libpq URL, kept private, with crmkit's optional
    ``schema`` query parameter (default ``public``).

    ``str(location)`` and ``repr(location)`` never show the password, so a location can be
    printed, logged or put in an error message; :attr:`url` is for handing the location on
    through the environment only.
    """

    url: str = field(repr=False)

    def __post_init__(self) -> None:
        if not is_url(self.url):
            raise StoreError("a PostgreSQL URL starts with postgresql://")

    @property
    def _parts(self) -> tuple[Any, list[tuple[str, str]]]:
        parts = urlsplit(self.url)
        return parts, parse_qsl(parts.query, keep_blank_values=True)

    @property
    def schema(self) -> str:
        """The schema that holds the canonical tables."""
        _, query = self._parts
        return next((v for k, v in query if k == "schema"), "") or DEFAULT_SCHEMA

    @property
    def conninfo(self) -> str:
        """The libpq URL without crmkit's ``schema`` parameter (for connecting only)."""
        parts, query = self._parts
        rest = [(k, v) for k, v in query if k != "schema"]
        return urlunsplit(parts._replace(query=urlencode(rest)))

    @property
    def password(self) -> str | None:
        parts, query = self._parts
        try:
            secret = parts.password
        except ValueError:  # pragma: no cover - a malformed port
            secret = None
        return secret or next((v for k, v in query if k.lower() == "password"), None)

    def with_schema(self, schema: str) -> Location:
        """The same database, another schema."""
        parts, query = self._parts
        query = [(k, v) for k, v in query if k != "schema"] + [("schema", schema)]
        return Location(urlunsplit(parts._replace(query=urlencode(query))))

    def redacted(self) -> str:
        """The URL without the password: safe to show."""
        parts, query = self._parts
        netloc = parts.netloc.rsplit("@", 1)[-1]
        if parts.username:
            netloc = f"{quote(unquote(parts.username), safe='')}@{netloc}"
        query = [(k, v) for k, v in query if k.lower() != "password"]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))

    def borrow_password(self, other: Location) -> Location:
        """This location with ``other``'s password when it has none and both name the same
        database (a redacted URL handed on by a batch run, say)."""
        if self.password is not None or other.password is None:
            return self
        if urlsplit(other.redacted())._replace(query="") != urlsplit(self.url)._replace(query=""):
            return self
        return Location(other.with_schema(self.schema).url)

    def scrub(self, text: str) -> str:
        """``text`` with this location's URL and password masked (for error messages)."""
        out = text.replace(self.url, self.redacted()).replace(self.conninfo, self.redacted())
        if self.password:
            for form in {self.password, unquote(self.password)}:
                out = out.replace(form, "***")
        return out

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"Location({self.redacted()!r})"


def from_environment() -> Location | None:
    """The location in ``$CRMKIT_DATABASE_URL``, if that is set."""
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        return None
    if not is_url(url):
        raise StoreError(f"${ENV_URL} must be a postgresql:// URL")
    return Location(url)


def resolve_url(value: str | Location) -> Location:
    """A URL argument as a location; a URL without a password borrows the one of
    ``$CRMKIT_DATABASE_URL`` when that names the same database."""
    loc = value if isinstance(value, Location) else Location(value)
    env = os.environ.get(ENV_URL, "").strip()
    if is_url(env):
        loc = loc.borrow_password(Location(env))
    return loc


#: A canonical database: a DuckDB file, or a PostgreSQL schema (:class:`Location`).
Database = Path | Location


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
    location = from_environment()
    if location is not None:
        return location
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_DATABASE
        if candidate.exists():
            return candidate
    return (here / DEFAULT_DATABASE).resolve()
