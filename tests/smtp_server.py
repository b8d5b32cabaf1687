"""A real SMTP server for the tests: aiosmtpd on a loopback port, with a test CA.

`MailCatcher` keeps every message exactly as a client sent it (the raw bytes of
DATA, before any header a server would add), who it was for, and every login
attempt with whether the connection was encrypted at the time. It can be
stopped and started again on the same port, told to refuse messages and to hang
up on chosen recipients, so that failures and retries are real too.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER = "reportline"
SMTP_PASSWORD = "smtp-password-canary-4b1d"


@dataclass(frozen=True)
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        """The Subject header."""
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        """The plain-text body, with plain line ends."""
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")

    @property
    def to(self) -> str:
        """The one recipient."""
        assert len(self.rcpt_tos) == 1
        return self.rcpt_tos[0]


@dataclass
class Login:
    """A login the server was asked for."""

    user: str
    password: str
    encrypted: bool


@dataclass
class MailCatcher:
    """A running (or stopped) SMTP server and what it was sent."""

    port: int
    tls: ssl.SSLContext | None = None
    require_starttls: bool = False
    messages: list[Received] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    refuse_data: bool = False
    # Off: addresses that are not ASCII are refused by smtplib itself (no SMTPUTF8).
    smtputf8: bool = True
    # Recipients whose RCPT gets "421": the server is closing the connection.
    hang_up_on: set[str] = field(default_factory=set)
    # Called with each message once it is kept, before the server answers.
    on_message: Callable[[Received], None] | None = None
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # aiosmtpd handler hooks
    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        if address in self.hang_up_on:
            return "421 4.3.2 Closing the connection"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return "554 5.7.1 Transaction failed"
        raw = envelope.original_content or envelope.content
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), raw)
        with self._lock:
            self.messages.append(received)
        if self.on_message is not None:
            self.on_message(received)
        return "250 OK"

    def _authenticate(
        self, _server: Any, session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        with self._lock:
            self.logins.append(Login(user, password, session.ssl is not None))
        return AuthResult(success=(user, password) == (SMTP_USER, SMTP_PASSWORD))

    def start(self) -> None:
        """Listen on the port (again)."""
        kwargs: dict[str, Any] = {
            "authenticator": self._authenticate,
            "auth_require_tls": True,
            "enable_SMTPUTF8": self.smtputf8,
        }
        if self.tls is not None:
            kwargs |= {"tls_context": self.tls, "require_starttls": self.require_starttls}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        """Forget what was received."""
        with self._lock:
            self.messages.clear()
            self.logins.clear()

    def to(self, address: str) -> list[Received]:
        """The messages sent to one address."""
        return [m for m in self.messages if address in m.rcpt_tos]


def free_port() -> int:
    """A loopback port nobody listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class SmtpCA:
    """A certificate authority made for one test, and a server certificate it signed
    for the name localhost only."""

    ca_file: Path
    server_context: ssl.SSLContext


def make_test_ca(folder: Path) -> SmtpCA:
    """Write the CA's certificate to folder/test-ca.pem; return it with a server context."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ReportLine test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "test-ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain = folder / "smtp-server.pem"
    chain.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return SmtpCA(ca_file, context)


MAIL_FROM = "reportline@unit.example"
BASE_URL = "https://reportline.unit.example"


def mail_settings(catcher: MailCatcher, **more: Any) -> dict[str, Any]:
    """Settings that send alerts to `catcher` (a local relay: no TLS, no login)."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": catcher.port,
        "smtp_starttls": False,
        "mail_from": MAIL_FROM,
        "base_url": BASE_URL,
        **more,
    }


@pytest.fixture
def mail_server() -> Iterator[MailCatcher]:
    """A plain SMTP server on a loopback port, for the length of one test."""
    catcher = MailCatcher(free_port())
    catcher.start()
    yield catcher
    catcher.stop()
