"""Where a canonical database is: a DuckDB file, a PostgreSQL schema named by a URL, or
canonical tables that Apache Spark reads (a Parquet folder or a catalog database).

Standard library only, so that the command line can find the database and start a report's
kernel before it loads any data library. A :class:`Location` never shows its password:
``str()`` and ``repr()`` print the URL without it; a :class:`SparkLocation` never shows a
Spark Connect token.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode

from crmkit.errors import StoreError

__all__ = [
    "DEFAULT_DATABASE", "ENV_SPARK", "ENV_SPARK_SOURCE", "ENV_URL", "Database", "Location",
    "SparkLocation", "file_state", "find_database", "is_spark_source", "is_url", "looks_like_url",
]

ENV_URL = "CRMKIT_DATABASE_URL"
#: The Spark master URL (``local[2]``, ``spark://HOST:7077``, ``yarn``, ``k8s://...``,
#: ``sc://HOST:15002`` for Spark Connect): set, it makes Spark read the data.
ENV_SPARK = "CRMKIT_SPARK"
#: Where Spark finds the canonical tables: ``parquet:PATH`` (or a bare path), ``catalog:DB``.
ENV_SPARK_SOURCE = "CRMKIT_SPARK_SOURCE"
SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "public"

#: The demo database, looked for in the current folder and its parents.
DEFAULT_DATABASE = Path("data") / "demo.duckdb"


def is_url(value: object) -> bool:
    """Whether ``value`` is a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in SCHEMES and ("://" in value)


def looks_like_url(value: object) -> bool:
    """Whether ``value`` is meant as a URL, well formed or not (``postgresql:/u:pw@h``,
    ``mysql://...``): such a value is never a file name and is never echoed back, since it
    may hold a password."""
    if not isinstance(value, str):
        return False
    text = value.strip().lower()
    return "://" in text or text.startswith(SCHEMES[1]) and ":" in text


@dataclass(frozen=True)
class _Parts:
    """A URL cut the way a person who wrote it meant it, whether or not it is well formed.

    The user information is everything before the *last* ``@`` (so a password may hold
    ``@``, ``#``, ``/`` or ``?`` unencoded), unless that text has a ``/``, ``?`` or ``#``
    and no ``:``, when the ``@`` belongs to the path or the query instead.
    """

    scheme: str
    userinfo: str | None  # as written
    host: str  # host[:port][,host[:port]...] as written
    path: str  # "/dbname" or ""
    query: list[tuple[str, str]]

    @property
    def user(self) -> str | None:
        if self.userinfo is None:
            return None
        return unquote(self.userinfo.split(":", 1)[0]) or None

    @property
    def secret(self) -> str | None:
        """The password as written in the user information (not decoded), if any."""
        if self.userinfo is None or ":" not in self.userinfo:
            return None
        return self.userinfo.split(":", 1)[1] or None

    def url(self, query: list[tuple[str, str]], *, with_secret: bool) -> str:
        """The URL again: with the password as written, or without it."""
        who = ""
        if self.userinfo is not None:
            who = self.userinfo if with_secret else quote(self.user or "", safe="")
            who = f"{who}@" if who else ""
        tail = f"?{urlencode(query)}" if query else ""
        return f"{self.scheme}://{who}{self.host}{self.path}{tail}"


def _split(url: str) -> _Parts:
    scheme, rest = url.split("://", 1)
    at = rest.rfind("@")
    userinfo: str | None = None
    if at >= 0 and (":" in rest[:at] or not any(c in rest[:at] for c in "/?#")):
        userinfo, rest = rest[:at], rest[at + 1 :]
    address, _, query = rest.partition("?")
    slash = address.find("/")
    host, path = (address, "") if slash < 0 else (address[:slash], address[slash:])
    return _Parts(scheme.lower(), userinfo, host, path, parse_qsl(query, keep_blank_values=True))


def _ports_are_numbers(host: str) -> bool:
    """Whether every ``host:port`` of a libpq host list has a numeric (or no) port."""
    for item in host.split(","):
        name = item.rsplit("]", 1)[-1] if item.startswith("[") else item
        port = name.rsplit(":", 1)[1] if ":" in name else ""
        if port and not port.isdigit():
            return False
    return True


@dataclass(frozen=True)
class Location:
    """Where a PostgreSQL dataset is: a libpq URL, kept private, with crmkit's optional
    ``schema`` query parameter (default ``public``).

    ``str(location)`` and ``repr(location)`` never show the password, so a location can be
    printed, logged or put in an error message; :attr:`url` is for handing the location on
    through the environment only. The password reaches libpq apart from the URL
    (:attr:`conninfo` has none), so no message of libpq can quote it, and the URL is cut the
    way it was meant (:class:`_Parts`) even when the password holds ``#``, ``/``, ``?`` or
    ``@`` unencoded.
    """

    url: str = field(repr=False)

    def __post_init__(self) -> None:
        if not is_url(self.url):
            raise StoreError("a PostgreSQL URL starts with postgresql://")
        if not _ports_are_numbers(self._parts.host):
            raise StoreError(
                "the PostgreSQL URL has a port that is not a number: write "
                "postgresql://USER:PASSWORD@HOST:PORT/DBNAME, with the password percent-encoded "
                "or in ~/.pgpass / PGPASSWORD"
            )

    @property
    def _parts(self) -> _Parts:
        return _split(self.url)

    @property
    def schema(self) -> str:
        """The schema that holds the canonical tables."""
        return next((v for k, v in self._parts.query if k == "schema"), "") or DEFAULT_SCHEMA

    @property
    def conninfo(self) -> str:
        """The libpq URL without crmkit's ``schema`` parameter and without the password
        (for connecting only, with :attr:`password` passed apart)."""
        parts = self._parts
        rest = [(k, v) for k, v in parts.query if k != "schema" and k.lower() != "password"]
        return parts.url(rest, with_secret=False)

    @property
    def password(self) -> str | None:
        parts = self._parts
        secret = unquote(parts.secret) if parts.secret else None
        return secret or next((v for k, v in parts.query if k.lower() == "password"), None)

    def with_schema(self, schema: str) -> Location:
        """The same database, another schema."""
        parts = self._parts
        query = [(k, v) for k, v in parts.query if k != "schema"] + [("schema", schema)]
        return Location(parts.url(query, with_secret=True))

    def redacted(self) -> str:
        """The URL without the password: safe to show."""
        parts = self._parts
        return parts.url([(k, v) for k, v in parts.query if k.lower() != "password"], with_secret=False)

    def _identity(self) -> tuple[str | None, str, str]:
        parts = self._parts
        return parts.user, parts.host.lower(), parts.path

    def borrow_password(self, other: Location) -> Location:
        """This location with ``other``'s password when it has none and both name the same
        database (a redacted URL handed on by a batch run, say)."""
        if self.password is not None or other.password is None:
            return self
        if self._identity() != other._identity():
            return self
        return Location(other.with_schema(self.schema).url)

    def _secrets(self) -> set[str]:
        """Every form of the password a message could carry: as written, decoded, and the
        raw text between the first ``:`` of the user information and the last ``@``."""
        parts = self._parts
        found = {self.password or "", parts.secret or ""}
        found |= {v for k, v in parts.query if k.lower() == "password"}
        rest = self.url.split("://", 1)[1]
        if "@" in rest and ":" in rest[: rest.rfind("@")]:
            found.add(rest[: rest.rfind("@")].split(":", 1)[1])
        found |= {unquote(f) for f in found} | {quote(f, safe="") for f in found}
        return {f for f in found if f}

    def scrub(self, text: str) -> str:
        """``text`` with this location's URL and password masked (for error messages)."""
        out = text.replace(self.url, self.redacted()).replace(self.conninfo, self.redacted())
        for form in sorted(self._secrets(), key=len, reverse=True):
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


def _file(value: str, where: str) -> Path:
    """A DuckDB file name; a URL (well formed or not, never echoed: it may hold a password)
    is a one-line error."""
    if looks_like_url(value):
        raise StoreError(
            f"{where} looks like a URL, not a DuckDB file: give a PostgreSQL database as "
            f"postgresql://USER@HOST:PORT/DBNAME in ${ENV_URL} only"
        )
    return Path(value).expanduser().resolve()


# -- Spark ------------------------------------------------------------------------------------

#: A Spark master URL: local mode, a standalone cluster, YARN, Kubernetes, Spark Connect.
_MASTER = re.compile(
    r"local(\[(\d+|\*)(,\d+)?\])?|local-cluster\[\d+,\d+,\d+\]|yarn"
    r"|spark://[\w.\-]+(:\d+)?(,[\w.\-]+(:\d+)?)*|k8s://https?://[^\s@]+"
    r"|sc://[\w.\-\[\]:]+(/;[^\s]*)?",
    re.ASCII,
)
#: A catalog database: ``db`` or ``catalog.db`` (identifiers of letters, digits, ``_``).
_CATALOG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", re.ASCII)
_SPARK_SOURCES = ("parquet:", "catalog:")


def is_spark_source(value: object) -> bool:
    """Whether ``value`` names data Spark reads: ``parquet:PATH`` or ``catalog:DB``."""
    return isinstance(value, str) and value.strip().lower().startswith(_SPARK_SOURCES)


def _redact_master(master: str) -> str:
    """A master URL safe to show: a Spark Connect URL without its ``token`` (and any
    user information), other URLs without user information."""
    scheme, sep, rest = master.partition("://")
    if not sep:
        return master
    address, semi, params = rest.partition("/;")
    address = address.rsplit("@", 1)[-1]
    kept = [p for p in params.split(";") if p and p.split("=", 1)[0].lower() != "token"]
    tail = "/;" + ";".join(kept + (["token=***"] if "token=" in params.lower() else [])) if semi else ""
    return f"{scheme}://{address}{tail}"


@dataclass(frozen=True)
class SparkLocation:
    """Canonical tables read by Apache Spark: ``master`` is the Spark master URL, ``source``
    where the tables are, ``parquet:PATH`` (a folder ``crmkit export-parquet`` wrote, on any
    file system Spark reads: a local path, ``hdfs://``, ``s3a://``) or ``catalog:DB`` (tables
    of a catalog database, e.g. a Hive metastore's).

    ``str()`` and ``repr()`` never show a Spark Connect token; :meth:`environment` hands the
    location on to a report's kernel.
    """

    master: str = field(repr=False)
    source: str

    def __post_init__(self) -> None:
        master = self.master.strip()
        if not _MASTER.fullmatch(master):
            raise StoreError(
                f"${ENV_SPARK} is not a Spark master URL: give local[2], spark://HOST:7077, yarn, "
                "k8s://https://HOST:443 or sc://HOST:15002 (Spark Connect)"
            )
        object.__setattr__(self, "master", master)
        object.__setattr__(self, "source", _spark_source(self.source))

    @property
    def kind(self) -> str:
        """``parquet`` or ``catalog``."""
        return self.source.split(":", 1)[0]

    @property
    def target(self) -> str:
        """The Parquet folder (a path or a URI) or the catalog database."""
        return self.source.split(":", 1)[1]

    @property
    def connect(self) -> bool:
        """Whether the master is a Spark Connect server (``sc://``)."""
        return self.master.startswith("sc://")

    @property
    def local(self) -> bool:
        """Whether Spark runs in this process's own JVM on this machine (``local[...]``)."""
        return self.master.startswith("local")

    def environment(self) -> dict[str, str]:
        """The variables that name this location in a report kernel's environment."""
        return {ENV_SPARK: self.master, ENV_SPARK_SOURCE: self.source}

    @property
    def shown_master(self) -> str:
        """The master URL without a Spark Connect token: safe to show."""
        return _redact_master(self.master)

    def redacted(self) -> str:
        return f"{self.source} on Spark {self.shown_master}"

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"SparkLocation({self.redacted()!r})"


def _spark_source(value: str) -> str:
    """``parquet:PATH`` (a bare path counts as one; a local path made absolute) or
    ``catalog:DB``, checked."""
    text = value.strip()
    kind, sep, rest = text.partition(":")
    if kind.lower() == "catalog" and sep:
        if not _CATALOG.fullmatch(rest):
            raise StoreError(
                "a Spark catalog source is catalog:DATABASE (or catalog:CATALOG.DATABASE), "
                "letters, digits and _ only"
            )
        return f"catalog:{rest}"
    path = rest if kind.lower() == "parquet" and sep else text
    if not path:
        raise StoreError(f"${ENV_SPARK_SOURCE} is empty: give parquet:PATH or catalog:DATABASE")
    if any(ord(c) < 32 for c in path):
        raise StoreError("the Parquet folder's name holds a control character: rename the folder")
    if "://" not in path:  # a local folder; a URI (hdfs://, s3a://) is Spark's to resolve
        path = str(Path(path).expanduser().resolve())
    return f"parquet:{path}"


def _master() -> str:
    return os.environ.get(ENV_SPARK, "").strip()


def spark_location(source: str) -> SparkLocation:
    """``source`` (``parquet:PATH``, ``catalog:DB``) read by the Spark of ``$CRMKIT_SPARK``."""
    if not _master():
        raise StoreError(
            f"{source.split(':', 1)[0]}: data is read by Apache Spark: set {ENV_SPARK} to a "
            "master URL (local[2] on this machine, spark://HOST:7077, sc://HOST:15002)"
        )
    return SparkLocation(_master(), source)


def spark_from_environment() -> SparkLocation | None:
    """The Spark location of ``$CRMKIT_SPARK`` and ``$CRMKIT_SPARK_SOURCE``, if the first is
    set (a one-line error when the second is not)."""
    if not _master():
        return None
    where = os.environ.get(ENV_SPARK_SOURCE, "").strip()
    if not where:
        raise StoreError(
            f"{ENV_SPARK} is set but not where the tables are: set {ENV_SPARK_SOURCE}=parquet:PATH "
            "(a folder `crmkit export-parquet` wrote) or catalog:DATABASE, or pass --database parquet:PATH"
        )
    return SparkLocation(_master(), where)


#: A canonical database: a DuckDB file, a PostgreSQL schema (:class:`Location`) or tables
#: Spark reads (:class:`SparkLocation`).
Database = Path | Location | SparkLocation


def file_state(path: Path) -> tuple[tuple[object, ...], ...]:
    """What says a DuckDB file (and its write-ahead log) changed, read without opening it:
    device, inode, size, modification and change times (the change time cannot be set
    back, so a copy that keeps the old times still moves it); ``(name,)`` for a file that
    is not there."""
    parts: list[tuple[object, ...]] = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            st = file.stat()
        except FileNotFoundError:
            parts.append((file.name,))
            continue
        parts.append((file.name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(parts)


def find_database(database: str | os.PathLike[str] | Location | SparkLocation | None = None) -> Database:
    """Where the canonical database is, first found of: the argument (a DuckDB file,
    ``parquet:PATH`` or ``catalog:DB`` for Spark, or a ``postgresql://`` URL given
    programmatically), ``$CRMKIT_DATABASE`` (a DuckDB file), ``$CRMKIT_DATABASE_URL``
    (PostgreSQL), ``$CRMKIT_SPARK`` with ``$CRMKIT_SPARK_SOURCE`` (Spark), ``data/demo.duckdb``
    in the current directory or one of its parents.

    A PostgreSQL location prints without its password; a URL argument without one takes
    the password of ``$CRMKIT_DATABASE_URL`` when that names the same database. Data Spark
    reads needs ``$CRMKIT_SPARK`` (the master URL), whichever way its source is given.
    """
    if isinstance(database, Location | SparkLocation):
        return resolve_url(database) if isinstance(database, Location) else database
    if database and is_url(str(database)):
        return resolve_url(str(database))
    if database and is_spark_source(str(database)):
        return spark_location(str(database))
    if database:
        return _file(str(database), "the database argument")
    env = os.environ.get("CRMKIT_DATABASE")
    if env:
        return _file(env, "$CRMKIT_DATABASE")
    location = from_environment()
    if location is not None:
        return location
    spark = spark_from_environment()
    if spark is not None:
        return spark
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_DATABASE
        if candidate.exists():
            return candidate
    return (here / DEFAULT_DATABASE).resolve()
