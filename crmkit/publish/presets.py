"""Presets (``params/*.yaml``): which reports, periods and teams a scheduled run publishes.

A preset::

    reports: all                 # the registry's reports and any custom notebook, or a list
    periods: [last-month]        # any period of the grammar, relative ones resolved at run time
    teams: [all, each]           # all = company-wide, each = every team, or team ids
    compare_to: previous         # previous | year_ago | none
    timezone: null               # null: the dataset's time zone
    locale: null                 # null: the dataset's language (ru, en; --locale overrides)
    as_of: null                  # null: --as-of, else today (now for to-date periods);
                                 # a date 2025-06-15 or a local time 2025-06-15T14:00
    timeout: 600                 # seconds per cell
    params: {activity: {active_days: 60}}   # a report's own parameters
    deliver: {...}               # who gets which pages by e-mail (:class:`Deliver`)
    alerts: [...]                # threshold rules on the published JSON (:class:`AlertRule`)

The file is read as safe YAML and checked by a typed model (:class:`Preset`); every problem
is one line naming the file, the line and the fix (:class:`crmkit.errors.PresetError`).
Whether the reports, periods and teams exist is checked against the data when the preset
is expanded into runs (:func:`crmkit.publish.batch.expand`).

The site's branding is a settings file of its own (``params/branding.yaml`` by default,
:func:`find_branding`), read the same way and checked by :class:`Branding`: one look for
every page and index of an output folder, whichever preset or single run writes it::

    company: Acme GmbH           # shown at the top of every page and index
    logo: acme.svg               # PNG, JPEG or SVG, at most 200 kB; relative to this file
    accent: "#0b6e4f"            # header rule and links; #rrggbb, in quotes
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crmkit._yaml import Lines, YamlSyntaxError, first_problem, line_of, load
from crmkit.errors import PresetError, one_line, plural, shown
from crmkit.i18n import check_locale
from crmkit.metrics.definitions import METRICS


def _values(value: Any) -> tuple[str, ...]:
    """A value or a non-empty list of values (text or whole numbers), as text."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in items):
        raise PydanticCustomError("values", "must be a value or a non-empty list of values")
    return tuple(str(v) for v in items)


def _compare_to(value: Any) -> str:
    return str(value) if value else "previous"


def _as_of(value: Any) -> str | None:
    """The as-of text; YAML reads 2025-07-01 as a date and 2025-07-01T14:00:30 as a datetime
    (with its offset, if any, which :func:`crmkit.periods.parse_as_of` then refuses)."""
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if value else None


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

# -- delivery and alerts ---------------------------------------------------------------------

#: An e-mail address as a preset may give it: one ``local@domain.tld``, nothing that could
#: end a header or add a recipient (no spaces, commas, angle brackets or line breaks).
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _address(value: Any) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value.strip()):
        raise PydanticCustomError(
            "address", "{value} is not an e-mail address: write one address as name@example.com "
            "(a list for several)", {"value": shown(one_line(str(value)))})
    return value.strip()


def _addresses(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PydanticCustomError("addresses", "must name at least one e-mail address")
    return tuple(_address(v) for v in items)


def _base_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s\"'<>]+", value.strip()):
        raise PydanticCustomError(
            "base_url", "must be the address of the published output folder, e.g. "
            "https://reports.example.com/crmkit/")
    return value.strip().rstrip("/") + "/"


Address = Annotated[str, BeforeValidator(_address)]
Addresses = Annotated[tuple[str, ...], BeforeValidator(_addresses)]


class Smtp(BaseModel):
    """The mail server; every field may also come from the environment
    (``CRMKIT_SMTP_HOST``, ``_PORT``, ``_USER``, ``_TLS``). The password never comes from a
    preset: only from ``CRMKIT_SMTP_PASSWORD`` or the file ``CRMKIT_SMTP_PASSWORD_FILE`` names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    tls: Literal["starttls", "ssl", "none"] | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)


class Route(BaseModel):
    """Who gets which pages: the addresses ``to`` get every page of ``reports`` (``all`` or
    report ids) for ``teams`` (``all`` = the company-wide pages, ``each`` = every team's,
    or team ids)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: Addresses
    reports: Values = ("all",)
    teams: Values = ("all",)


class Deliver(BaseModel):
    """The ``deliver:`` section: the sender, the routes, the server and the retries
    (``retries`` more attempts after the first, waiting ``backoff`` seconds, doubled each
    time). With ``base_url`` the e-mail links the published page instead of attaching it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sender: Address = Field(alias="from")
    to: tuple[Route, ...] = Field(min_length=1)
    smtp: Smtp = Smtp()
    base_url: Annotated[str | None, BeforeValidator(_base_url)] = None
    retries: int = Field(default=3, ge=0, le=10)
    backoff: float = Field(default=2.0, ge=0, le=300)


class Bound(BaseModel):
    """A condition on one number: ``below`` and/or ``above`` (strictly)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Bound:
        if self.below is None and self.above is None:
            raise PydanticCustomError("bound", "give below: or above: (a number), e.g. {below: 0}")
        return self


class AlertRule(Bound):
    """One alert: a headline ``metric`` below/above a threshold or that ``drops``
    (``significantly``: a significant change the worse way for the metric), or any row of a
    ``breakdown`` matching every condition of ``where``; for ``teams`` (``all``, ``each``,
    team ids; default: every page of the run) and optionally one ``report``; e-mailed to
    ``to`` once per period."""

    metric: str | None = None
    breakdown: str | None = None
    where: dict[str, Bound] = {}
    drops: Literal["significantly"] | None = None
    report: str | None = None
    teams: Values | None = None
    to: Addresses = ()

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError(
                "rule", "an alert is a mapping, e.g. {metric: win_rate, below: 0.25, teams: each}")
        return data

    @model_validator(mode="after")
    def _one_bound(self) -> AlertRule:
        if (self.metric is None) == (self.breakdown is None):
            raise PydanticCustomError(
                "rule", "give either metric: (e.g. {metric: win_rate, below: 0.25}) or breakdown: "
                "(e.g. {breakdown: campaign, where: {roi: {below: 0}}})")
        if self.metric is not None:
            self._check_metric(self.metric)
        elif not self.where or self.drops or self.below is not None or self.above is not None:
            raise PydanticCustomError(
                "rule", "a breakdown rule needs where: (conditions on its columns, e.g. "
                "{roi: {below: 0}, cost: {above: 1000}}) and no below:, above: or drops:")
        return self

    def _check_metric(self, name: str) -> None:
        if name not in METRICS and self.report is None:
            raise PydanticCustomError(
                "metric", "unknown metric {name}: use a name of docs/METRICS.md, or add "
                "report: <id> for a custom report's own metric", {"name": shown(name)})
        if (self.below is None and self.above is None) == (self.drops is None):
            raise PydanticCustomError(
                "rule", "give one condition: below:/above: a number, or drops: significantly")

    @property
    def key(self) -> str:
        """A stable name of this rule (its settings), for the ledger and ``alerts.json``."""
        text = json.dumps(self.model_dump(exclude={"to"}), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _locale(value: Any) -> str | None:
    """A preset's ``locale``: null (the dataset's), or a language crmkit has."""
    return None if value is None else check_locale(value, "locale")


class Preset(BaseModel):
    """A preset file's settings, validated; :attr:`path` is the file it was read from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reports: Values = ("all",)
    periods: Values = ("last-month",)
    teams: Values = ("all",)
    compare_to: Annotated[str, BeforeValidator(_compare_to)] = "previous"
    timezone: str | None = None
    locale: Annotated[str | None, BeforeValidator(_locale)] = None
    as_of: Annotated[str | None, BeforeValidator(_as_of)] = None
    timeout: Annotated[int, BeforeValidator(_timeout)] = 600
    params: Annotated[dict[str, dict[str, Any]], BeforeValidator(_params)] = {}
    deliver: Deliver | None = None
    alerts: tuple[AlertRule, ...] = ()

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
_NESTED_KEYS = (
    "deliver: takes from, to, smtp, base_url, retries, backoff; a route takes to, reports, teams; "
    "smtp takes host, port, user, tls, timeout; an alert takes metric or breakdown, below, "
    "above, drops, where, report, teams, to"
)


def load_preset(path: str | os.PathLike[str]) -> Preset:
    """Read and check a preset file; every problem is a one-line PresetError."""
    p = Path(path)
    raw, lines = _mapping(p, "preset", f"a preset is a mapping with keys {KEYS}")
    try:
        return Preset.model_validate(raw, context={"path": p})
    except ValidationError as exc:
        line, message = first_problem(exc, lines)
        unknown = [e["loc"][0] for e in exc.errors() if e["type"] == "extra_forbidden"
                   and len(e["loc"]) == 1]
        if unknown:
            line = line_of(lines, unknown[:1])
            message = (f"unknown {plural(len(unknown), 'key')} {', '.join(map(str, unknown))}; "
                       f"valid keys: {KEYS}")
        elif exc.errors()[0]["type"] == "extra_forbidden":
            message = f"{message.split(':')[0]}: unknown key; {_NESTED_KEYS}"
        where = f", line {line}" if line else ""
        raise PresetError(f"{p}{where}: {message}") from None


def _mapping(p: Path, kind: str, expected: str) -> tuple[dict[str, Any], Lines]:
    """The YAML mapping of a preset or branding file and its line numbers; a one-line
    PresetError when it cannot be read, is not YAML or is not a mapping (``expected``)."""
    try:
        raw, lines = load(_read(p, kind))
    except YamlSyntaxError as exc:
        where = f", line {exc.line}" if exc.line else ""
        raise PresetError(f"{p}{where}: not valid YAML ({exc.problem})") from None
    if not isinstance(raw, dict):
        raise PresetError(f"{p}: {expected}")
    return raw, lines


def _read(p: Path, kind: str = "preset") -> str:
    """The text of a preset (or branding) file; a one-line PresetError if it is not one."""
    example = "params/monthly.yaml" if kind == "preset" else str(DEFAULT_BRANDING)
    if p.is_dir():
        raise PresetError(f"{p}: is a folder; give a {kind} file, e.g. {example}")
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{p}: no such {kind} file (e.g. {example})") from None
    except UnicodeDecodeError:
        raise PresetError(f"{p}: not a text file; a {kind} file is YAML text (UTF-8)") from None
    except OSError as exc:
        raise PresetError(f"{p}: cannot be read ({exc.strerror or exc})") from None


# -- branding ----------------------------------------------------------------------------------

#: Where the commands look for the branding when none is given (relative to the working folder).
DEFAULT_BRANDING = Path("params") / "branding.yaml"
#: The largest logo file, embedded in every page (a logo shows about 40 px high).
LOGO_MAX_BYTES = 200_000
_MAX_COMPANY = 80
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}")
_SVG = re.compile(rb"^(?:\s|<\?xml[^>]*>|<!--.*?-->|<!DOCTYPE[^>]*>)*<svg[\s>]", re.DOTALL)
#: Image type by file extension: (name in messages, media type, test of the content).
_LOGO_TYPES = {
    ".png": ("PNG", "image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ".jpg": ("JPEG", "image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".jpeg": ("JPEG", "image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".svg": ("SVG", "image/svg+xml", lambda b: bool(_SVG.match(b.removeprefix(b"\xef\xbb\xbf")))),
}


def _company(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise PydanticCustomError("company", "must be the company's name as text, e.g. company: Acme GmbH")
    text = str(value).strip()
    if one_line(text) != text or len(text) > _MAX_COMPANY:
        raise PydanticCustomError(
            "company", f"must be one line of at most {_MAX_COMPANY} characters"
        )
    return text


def _accent(value: Any) -> str:
    if value is None:
        raise PydanticCustomError(
            "accent", 'is empty: write the colour in quotes, e.g. accent: "#2f6db5" (YAML reads '
            "an unquoted # as the start of a comment)")
    if not isinstance(value, str) or not _ACCENT.fullmatch(value.strip()):
        raise PydanticCustomError(
            "accent", "{value} is not a colour: write it as #rrggbb in quotes, e.g. accent: "
            '"#2f6db5"', {"value": shown(one_line(str(value)))})
    return value.strip().lower()


def _logo(value: Any, info: ValidationInfo) -> str:
    """The logo file, checked and read, as a ``data:`` URI (what every page embeds)."""
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("logo", "must be the path of a PNG, JPEG or SVG file")
    base = Path(info.context["path"]).parent if info.context else Path()
    path = base / value.strip()
    content = _logo_bytes(path)
    kind = _LOGO_TYPES.get(path.suffix.lower())
    if kind is None:
        raise PydanticCustomError(
            "logo", "{path}: use a PNG, JPEG or SVG file (.png, .jpg, .jpeg or .svg)",
            {"path": str(path)})
    name, media_type, looks_right = kind
    if not looks_right(content):
        raise PydanticCustomError(
            "logo", "{path}: not a {name} image (its content does not start like one); "
            "save the logo as {name} or give a file of the type its name says",
            {"path": str(path), "name": name})
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def _logo_bytes(path: Path) -> bytes:
    """The logo file's content; what is wrong with the path, where, and how to fix it."""
    where = {"path": str(path)}
    fix = " (a relative path starts at the branding file's folder)"
    if not path.exists():
        raise PydanticCustomError("logo", "{path} does not exist: give an image file" + fix, where)
    if not path.is_file():
        raise PydanticCustomError("logo", "{path} is not a file: give an image file" + fix, where)
    size = path.stat().st_size
    if size > LOGO_MAX_BYTES:
        raise PydanticCustomError(
            "logo", "{path} is {size} bytes, over the limit of {limit}: every page embeds "
            "it, so use a smaller image (it shows about 40 px high)",
            {**where, "size": f"{size:,}", "limit": f"{LOGO_MAX_BYTES:,}"})
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PydanticCustomError(
            "logo", "{path} cannot be read ({reason}): make it readable by the user that "
            "runs crmkit", {**where, "reason": exc.strerror or type(exc).__name__}) from None


class Branding(BaseModel):
    """The look of a published site: the company's name, its logo (``logo`` holds the image
    as a ``data:`` URI, read from the file when the settings are loaded) and an accent
    colour (``#rrggbb``) for the header rule and the links. Every key is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    company: Annotated[str | None, BeforeValidator(_company)] = None
    logo: Annotated[str | None, BeforeValidator(_logo)] = None
    accent: Annotated[str | None, BeforeValidator(_accent)] = None


BRANDING_KEYS = ", ".join(Branding.model_fields)


def load_branding(path: str | os.PathLike[str]) -> Branding:
    """Read and check a branding file; every problem is a one-line PresetError naming the
    file, the line, what is wrong and how to fix it."""
    p = Path(path)
    raw, lines = _mapping(p, "branding", f"branding is a mapping with keys {BRANDING_KEYS}")
    try:
        return Branding.model_validate(raw, context={"path": p})
    except ValidationError as exc:
        line, message = first_problem(exc, lines)
        unknown = [e["loc"][0] for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            line = line_of(lines, unknown[:1])
            message = (f"unknown {plural(len(unknown), 'key')} {', '.join(map(str, unknown))}; "
                       f"valid keys: {BRANDING_KEYS}")
        where = f", line {line}" if line else ""
        raise PresetError(f"{p}{where}: {one_line(message)}") from None


def find_branding(path: str | os.PathLike[str] | None = None) -> Branding | None:
    """The branding of ``path``; without one, of :data:`DEFAULT_BRANDING` if that file
    exists, else none (pages keep the plain look)."""
    if path is not None:
        return load_branding(path)
    return load_branding(DEFAULT_BRANDING) if DEFAULT_BRANDING.is_file() else None
