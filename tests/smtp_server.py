"""A real SMTP server on loopback for the delivery tests (aiosmtpd, on a free port), that
records what it receives, or refuses every message, or never answers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "crmkit-mailer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One message as the server got it: the envelope and the parsed message."""

    sender: str
    recipients: list[str]
    raw: bytes
    message: EmailMessage


@dataclass
class Handler:
    """Keeps every message (``refuse``: answers 550 to each instead); counts the tries."""

    refuse: bool = False
    received: list[Received] = field(default_factory=list)
    tries: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.tries += 1
        if self.refuse:
            return "550 5.7.1 Delivery refused by policy"
        raw = envelope.original_content or envelope.content
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed))
        return "250 OK"


class Authenticator:
    """Accepts the one user with the one password (LOGIN or PLAIN, without TLS on loopback)."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.logins = 0

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
              and auth_data.password.decode() == self.password)
        self.logins += ok
        return AuthResult(success=ok)


@contextlib.contextmanager
def smtp_server(handler: Handler, password: str | None = None) -> Iterator[int]:
    """Run ``handler`` on 127.0.0.1 at a free port (its number is yielded)."""
    port = free_port()
    auth = {"authenticator": Authenticator(password), "auth_require_tls": False} if password else {}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **auth)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (an SMTP server that hangs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]
