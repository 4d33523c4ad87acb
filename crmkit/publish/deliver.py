"""E-mail delivery of published pages and of firing alerts (a preset's ``deliver:`` section,
:class:`crmkit.publish.presets.Deliver`).

Each recipient of a route gets one message per page: the subject names the report, team,
period and headline with its change (by :mod:`crmkit.verdict`); the body is the page made
for mail clients (inline styles, the "What changed" sentences, the KPIs as a table, the
charts as inline ``cid:`` images taken from the page) with the self-contained page
attached, or a link to it when ``base_url`` is set. MIME is the standard library's
(:class:`email.message.EmailMessage`), sending is :mod:`smtplib` with STARTTLS or TLS.

The server comes from the preset's ``deliver.smtp`` and the environment (``CRMKIT_SMTP_HOST``,
``_PORT``, ``_USER``, ``_TLS``; the environment wins); the password only from
``CRMKIT_SMTP_PASSWORD`` or the file named by ``CRMKIT_SMTP_PASSWORD_FILE``. It is never
written anywhere and is removed from any error text.

Every message is tried ``1 + retries`` times, waiting ``backoff`` seconds, doubled each
time. A message that still fails is a failed :class:`Delivery` (the reports stay
published). What was sent is recorded in ``output/.deliveries.json`` (the ledger: who got
what, when), so a re-run sends nothing twice; ``dry_run`` writes each message as an
``.eml`` file into ``output/outbox/`` instead and records nothing.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from crmkit._files import locked, make_folder, write_atomic
from crmkit.errors import plural
from crmkit.parameters import ALL_TEAMS
from crmkit.publish.alerts import Alert
from crmkit.publish.presets import Deliver, Route, Smtp
from crmkit.publish.site import Kpi, kpi, kpis

#: The delivery ledger and the dry-run outbox, at the top of an output folder.
LEDGER = ".deliveries.json"
OUTBOX = "outbox"
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates" / "mail"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)
_COLOURS = {"ck-up": "#1a7f37", "ck-down": "#b42318", "ck-flat": "#52606d"}
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r"""\bsrc=["']data:image/(png|jpeg);base64,([A-Za-z0-9+/=\s]+)["']""")
_ALT = re.compile(r"""\balt=["']([^"']*)["']""")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_FILE_NAME = re.compile(r"[^A-Za-z0-9._@-]+")


def header_text(value: Any) -> str:
    """``value`` as one header line: line breaks and other control characters become
    spaces (no header injection), runs of spaces one."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


# -- the server -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send; the password is kept out of ``repr``."""

    host: str
    port: int
    user: str | None
    tls: str
    timeout: float
    password: str | None = field(default=None, repr=False)


_DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


def smtp_settings(smtp: Smtp, env: Mapping[str, str] | None = None) -> SmtpSettings:
    """The server settings: the environment's ``CRMKIT_SMTP_*`` over the preset's."""
    env = os.environ if env is None else env
    tls = env.get("CRMKIT_SMTP_TLS") or smtp.tls or "starttls"
    if tls not in _DEFAULT_PORTS:
        raise ValueError(f"CRMKIT_SMTP_TLS={header_text(tls)!r}: use starttls, ssl or none")
    port = env.get("CRMKIT_SMTP_PORT") or smtp.port or _DEFAULT_PORTS[tls]
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"CRMKIT_SMTP_PORT={header_text(port)!r}: use a port number, e.g. 587")
    return SmtpSettings(
        host=env.get("CRMKIT_SMTP_HOST") or smtp.host or "localhost", port=int(port),
        user=env.get("CRMKIT_SMTP_USER") or smtp.user, tls=tls, timeout=smtp.timeout,
        password=_password(env),
    )


def _password(env: Mapping[str, str]) -> str | None:
    if env.get("CRMKIT_SMTP_PASSWORD"):
        return env["CRMKIT_SMTP_PASSWORD"]
    name = env.get("CRMKIT_SMTP_PASSWORD_FILE")
    if not name:
        return None
    try:
        return Path(name).read_text(encoding="utf-8").strip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"CRMKIT_SMTP_PASSWORD_FILE: {name} cannot be read "
                         f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from None


def _send_once(message: EmailMessage, settings: SmtpSettings, sender: str, to: str) -> None:
    context = ssl.create_default_context()
    if settings.tls == "ssl":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port,
                                              timeout=settings.timeout, context=context)
    else:
        conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with conn:
        if settings.tls == "starttls":
            conn.starttls(context=context)
        if settings.user:
            conn.login(settings.user, settings.password or "")
        conn.send_message(message, from_addr=sender, to_addrs=[to])


# -- the messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One message to one recipient; ``keys`` are what the ledger records once it is sent
    (a page for a report's message, every alert of an alerts message)."""

    kind: str
    what: str
    to: str
    keys: tuple[str, ...]
    message: EmailMessage
    file: str


def subject(entry: Mapping[str, Any]) -> str:
    """"Sales — Mid-Market — 2026-11: Revenue 128.8k EUR (−3.1%)": the title, then the
    first headline KPI and its change, on one line."""
    title = header_text(entry.get("title") or entry.get("report"))
    shown = kpis(dict(entry))
    if not shown:
        return title
    head = shown[0]
    change = f" ({head.change.shown})" if head.change.shown else ""
    return header_text(f"{title}: {head.label} {head.value}{change}")


def page_images(page: str) -> list[tuple[str, bytes, str]]:
    """The charts of a page: (subtype, image bytes, alt text) of each embedded PNG or JPEG,
    the logo left out."""
    found = []
    for tag in _IMG.findall(page):
        src = _SRC.search(tag)
        if src is None or "ck-logo" in tag:
            continue
        try:
            data = base64.b64decode("".join(src.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        alt = _ALT.search(tag)
        found.append((src.group(1), data, html.unescape(alt.group(1)) if alt else "Chart"))
    return found


def _link(base_url: str | None, href: str) -> str | None:
    return base_url + "/".join(quote(p, safe="") for p in href.split("/")) if base_url else None


def _every_kpi(entry: Mapping[str, Any]) -> list[Kpi]:
    out = []
    for name in entry.get("metrics") or {}:
        try:
            out.append(kpi(dict(entry), name))
        except (ValueError, TypeError):
            continue  # a value the index cannot show is not mailed either
    return out


def report_message(entry: Mapping[str, Any], page: str, sender: str, to: str,
                   base_url: str | None = None) -> EmailMessage:
    """The message of one published page (its JSON twin ``entry`` with ``_href``, its HTML
    ``page``) to one recipient."""
    href = str(entry["_href"])
    link = _link(base_url, href)
    domain = sender.rpartition("@")[2]
    images = [{"cid": make_msgid("chart", domain), "alt": alt, "subtype": sub, "data": data}
              for sub, data, alt in page_images(page)]
    summary = [header_text(s.get("text", "")) for s in entry.get("summary") or [] if isinstance(s, dict)]
    comparison = (entry.get("comparison_period") or {}).get("label") if isinstance(
        entry.get("comparison_period"), dict) else None
    values = {
        "title": header_text(entry.get("title") or entry.get("report")), "link": link,
        "period": header_text((entry.get("period") or {}).get("label", "")),
        "comparison": comparison or "", "generated_at": str(entry.get("generated_at", "")),
        "summary": summary, "kpis": _every_kpi(entry), "colours": _COLOURS,
        "images": [{"cid": i["cid"][1:-1], "alt": i["alt"]} for i in images],
        "attachment": href.rsplit("/", 1)[-1],
    }
    message = _envelope(subject(entry), sender, to)
    message["X-Crmkit-Page"] = header_text(href)  # for mail filters: period/team/report.html
    message.set_content(_plain(values))
    message.add_alternative(_TEMPLATES.get_template("report.html.j2").render(**values), subtype="html")
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)  # the alternative just added
    for image in images:
        body.add_related(image["data"], "image", image["subtype"], cid=image["cid"])
    if link is None:
        name = _FILE_NAME.sub("_", "-".join(href.removesuffix(".html").split("/")[::-1])) + ".html"
        message.add_attachment(page, subtype="html", filename=name)
    return message


def _plain(values: Mapping[str, Any]) -> str:
    lines = [values["title"], ""]
    if values["summary"]:
        lines += ["What changed:", *(f"- {s}" for s in values["summary"]), ""]
    lines += [f"{k.label}: {k.value} {k.change.shown} {k.change.significance}".rstrip()
              for k in values["kpis"]]
    lines += ["", f"The full report: {values['link']}" if values["link"]
              else f"The full report is attached ({values['attachment']})."]
    return "\n".join(lines) + "\n"


def _envelope(title: str, sender: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = header_text(title)
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid("crmkit", sender.rpartition("@")[2])
    return message


def alert_message(alerts: Sequence[Alert], sender: str, to: str,
                  base_url: str | None = None) -> EmailMessage:
    """One message listing the new alerts for one recipient."""
    periods = ", ".join(dict.fromkeys(a.period for a in alerts))
    title = header_text(f"crmkit alerts — {periods}: {len(alerts)} {plural(len(alerts), 'alert')}")
    listed = [{"text": header_text(a.text), "link": _link(base_url, a.href)} for a in alerts]
    message = _envelope(title, sender, to)
    message.set_content("\n".join([title, "", *(f"- {a['text']}" + (f" ({a['link']})" if a["link"] else "")
                                               for a in listed)]) + "\n")
    message.add_alternative(
        _TEMPLATES.get_template("alerts.html.j2").render(subject=title, alerts=listed), subtype="html")
    return message


# -- who gets what --------------------------------------------------------------------------


def routed(route: Route, entry: Mapping[str, Any]) -> bool:
    """Whether a route covers a page: its report and its team selection."""
    if "all" not in route.reports and entry.get("report") not in route.reports:
        return False
    team = entry.get("team")
    return any((sel == "each" and team != ALL_TEAMS) or sel == team for sel in route.teams)


def plan(deliver: Deliver, pages: Iterable[tuple[Mapping[str, Any], str]],
         alerts: Sequence[Alert] = (), sent: Mapping[str, Any] | None = None) -> list[Mail]:
    """The messages of a run: every page (twin with ``_href``, HTML) to every recipient of
    the routes that cover it, then to each rule's recipients the alerts they were not yet
    sent (``sent``: the ledger), so an alert is mailed once per period."""
    sent = sent or {}
    mails = []
    for entry, page in pages:
        recipients = dict.fromkeys(a for r in deliver.to if routed(r, entry) for a in r.to)
        for to in recipients:
            href = str(entry["_href"])
            what = f"{entry.get('report')} {(entry.get('period') or {}).get('label', '')} {entry.get('team')}"
            mails.append(Mail("report", what, to, (f"report:{href}:{to}",),
                              report_message(entry, page, deliver.sender, to, deliver.base_url),
                              _FILE_NAME.sub("_", f"{href.removesuffix('.html')}__{to}") + ".eml"))
    by_recipient: dict[str, list[Alert]] = {}
    for alert in alerts:
        for to in (t for t in alert.to if f"alert:{alert.key}:{t}" not in sent):
            by_recipient.setdefault(to, []).append(alert)
    for to, mine in by_recipient.items():
        mails.append(Mail("alerts", f"{len(mine)} {plural(len(mine), 'alert')}", to,
                          tuple(f"alert:{a.key}:{to}" for a in mine),
                          alert_message(mine, deliver.sender, to, deliver.base_url),
                          _FILE_NAME.sub("_", f"alerts__{to}") + ".eml"))
    return mails


# -- sending and the ledger -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """How one message went: ``sent``, ``already sent`` (in the ledger), ``dry run``
    (written to the outbox), ``held`` (the batch was stopped) or ``failed`` (``error``
    after ``attempts`` tries)."""

    kind: str
    what: str
    to: str
    subject: str
    status: str
    attempts: int = 0
    error: str = ""
    file: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def read_ledger(root: Path) -> dict[str, Any]:
    """What was sent from ``root``: ledger key -> {to, subject, sent_at, message_id}."""
    try:
        data = json.loads((root / LEDGER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    sent = data.get("sent") if isinstance(data, dict) else None
    return sent if isinstance(sent, dict) else {}


def _record(root: Path, mail: Mail) -> None:
    with locked(root):
        sent = read_ledger(root)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        for key in mail.keys:
            sent[key] = {"to": mail.to, "subject": str(mail.message["Subject"]), "sent_at": at,
                         "message_id": str(mail.message["Message-ID"])}
        write_atomic(root / LEDGER, json.dumps({"sent": sent}, indent=1, ensure_ascii=False) + "\n")


def send(mails: Sequence[Mail], deliver: Deliver, root: Path, *, dry_run: bool = False,
         env: Mapping[str, str] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> list[Delivery]:
    """Send (or, with ``dry_run``, write to ``root/outbox``) every message not yet in the
    ledger; never raises for a message that cannot be sent."""
    sent = read_ledger(root)
    try:
        settings = None if dry_run else smtp_settings(deliver.smtp, env)
    except ValueError as exc:
        return [_delivery(m, "failed", error=str(exc)) for m in mails]
    out = []
    for mail in mails:
        if all(key in sent for key in mail.keys):
            out.append(_delivery(mail, "already sent"))
        elif settings is None:
            folder = make_folder(root / OUTBOX)
            write_atomic(folder / mail.file, mail.message.as_bytes())
            out.append(_delivery(mail, "dry run", file=f"{OUTBOX}/{mail.file}"))
        else:
            out.append(_attempts(mail, deliver, settings, root, sleep))
    return out


def held(mails: Sequence[Mail], root: Path, why: str) -> list[Delivery]:
    """The messages of a run that was stopped, none sent (the next run sends them): those
    in the ledger ``already sent``, the others ``held`` with ``why``."""
    sent = read_ledger(root)
    return [_delivery(m, "already sent") if all(key in sent for key in m.keys)
            else _delivery(m, "held", error=why) for m in mails]


def _attempts(mail: Mail, deliver: Deliver, settings: SmtpSettings, root: Path,
              sleep: Callable[[float], None]) -> Delivery:
    error = ""
    for attempt in range(1, deliver.retries + 2):
        try:
            _send_once(mail.message, settings, deliver.sender, mail.to)
        except (smtplib.SMTPException, OSError) as exc:
            error = _error_text(exc, settings)
            if attempt <= deliver.retries:
                sleep(deliver.backoff * 2 ** (attempt - 1))
            continue
        _record(root, mail)
        return _delivery(mail, "sent", attempts=attempt)
    where, attempts = f"{settings.host}:{settings.port}", deliver.retries + 1
    return _delivery(mail, "failed", attempts=attempts, error=f"not sent after {attempts} "
                     f"{plural(attempts, 'attempt')} to {where}: {error}")


def _error_text(exc: BaseException, settings: SmtpSettings) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"server replied {exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{to}: {code} {_text(msg)}" for to, (code, msg) in exc.recipients.items())
        text = f"recipient refused ({text})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = header_text(text)
    if settings.password:
        text = text.replace(settings.password, "***")
    return text[:300]


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _delivery(mail: Mail, status: str, *, attempts: int = 0, error: str = "", file: str = "") -> Delivery:
    return Delivery(mail.kind, mail.what, mail.to, str(mail.message["Subject"]), status,
                    attempts, error, file)
