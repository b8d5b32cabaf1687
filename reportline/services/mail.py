"""Sending mail over SMTP: certificates verified, never a login in clear, failures that
name nobody.

The standard library's `smtplib`, with `ssl.create_default_context()` (the
system's trust store, or `smtp_ca_file`; host names checked). STARTTLS is
required when `smtp_starttls` is on: a server that does not offer it is a
failure, never a reason to carry on in clear; port 465 is TLS from the first
byte. A login happens only on an encrypted connection (the settings refuse
the other combination at start-up, and `MailServer` checks again). A
`MailFailed` says what went wrong as one of `FAILURES`, never with the
server's words, which can hold an address.
"""

from __future__ import annotations

import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType
from zoneinfo import ZoneInfo

from reportline.config import Settings
from reportline.services.errors import ServiceError

TIMEOUT_SECONDS = 20
# What a failure was, in words the mail page and the log may show.
FAILURES = {
    "off": "mail is not set up",
    "connection": "could not connect to the mail server",
    "timeout": "the mail server did not answer in time",
    "tls": "no verified TLS connection (certificate, host name or STARTTLS)",
    "login": "the mail server refused the login",
    "refused": "the mail server refused the message",
    "refused_not_ascii": "the mail server cannot take an address that is not ASCII (no SMTPUTF8)",
    "disconnected": "the mail server closed the connection",
    "protocol": "the mail server answered unexpectedly",
}


class MailFailed(ServiceError):
    """A mail could not be sent. `kind` is a key of FAILURES; `fatal` when the connection
    is lost, so no further mail can go on it."""

    def __init__(self, kind: str, fatal: bool = True) -> None:
        super().__init__(FAILURES[kind])
        self.kind = kind
        self.fatal = fatal


@dataclass(frozen=True, repr=False)
class Mail:
    """One plain-text mail to one address."""

    to: str
    subject: str
    body: str

    def __repr__(self) -> str:
        return f"Mail(<address hidden>, subject={self.subject!r})"


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificate and host name checks, against `smtp_ca_file` if set."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def build_message(settings: Settings, mail: Mail, now: datetime) -> EmailMessage:
    """The message as sent: From, To, Subject, Date (now, minutes only), a random
    Message-ID under the sender's domain (not this server's name, time or process id),
    and the plain-text body."""
    sender = settings.mail_from or ""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    local = now.replace(second=0, microsecond=0, tzinfo=UTC).astimezone(ZoneInfo(settings.timezone))
    message["Date"] = format_datetime(local)
    message["Message-ID"] = f"<{secrets.token_hex(16)}@{sender.rpartition('@')[2]}>"
    # RFC 3834: automatic; out-of-office replies should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message


class MailServer:
    """One connection to the mail server, for a batch of mails:

        with MailServer(settings) as server:
            server.send(message)

    Raises MailFailed on entering (connection, TLS, login) and from `send`.
    """

    def __init__(self, settings: Settings, timeout: float = TIMEOUT_SECONDS) -> None:
        if not settings.mail_configured:
            raise MailFailed("off")
        self._settings = settings
        self._timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailServer:
        try:
            self._smtp = self._connect()
        except MailFailed:
            raise
        except Exception as exc:
            raise _failure(exc) from None
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        host, port = settings.smtp_host or "", settings.smtp_port
        # The greeting names the sender's domain rather than this server's host name.
        helo = (settings.mail_from or "").rpartition("@")[2] or None
        encrypted = settings.smtp_implicit_tls
        smtp: smtplib.SMTP
        if encrypted:
            smtp = smtplib.SMTP_SSL(
                host,
                port,
                local_hostname=helo,
                timeout=self._timeout,
                context=tls_context(settings),
            )
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=helo, timeout=self._timeout)
        try:
            smtp.ehlo()
            if settings.smtp_starttls and not encrypted:
                if not smtp.has_extn("starttls"):
                    raise MailFailed("tls")
                smtp.starttls(context=tls_context(settings))
                smtp.ehlo()
                encrypted = True
            if settings.smtp_username:
                if not encrypted:
                    raise MailFailed("tls")  # never a password in clear
                try:
                    smtp.login(settings.smtp_username, settings.smtp_password or "")
                except UnicodeError:
                    # smtplib encodes the login as ASCII; the error would show a character.
                    raise MailFailed("login") from None
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Send one message; raise MailFailed (`fatal` if the connection is gone)."""
        if self._smtp is None:
            raise MailFailed("disconnected")
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPNotSupportedError:
            # Raised before MAIL FROM for an address that needs SMTPUTF8: only this
            # message fails, the connection is fine.
            raise MailFailed("refused_not_ascii", fatal=False) from None
        except Exception as exc:
            failure = _failure(exc)
            # smtplib closes the connection itself on a 421 and still raises a refusal.
            failure.fatal = failure.fatal or self._smtp.sock is None
            if failure.fatal:
                self._smtp.close()
                self._smtp = None
            raise failure from None


def _failure(exc: BaseException) -> MailFailed:
    """What went wrong, as a MailFailed that carries none of the server's words."""
    if isinstance(exc, MailFailed):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailFailed("login")
    if isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLError):
        return MailFailed("tls")
    if isinstance(
        exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused | smtplib.SMTPDataError
    ):
        return MailFailed("refused", fatal=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailFailed("disconnected")
    if isinstance(exc, TimeoutError):
        return MailFailed("timeout")
    if isinstance(exc, smtplib.SMTPException):
        return MailFailed("protocol")
    if isinstance(exc, OSError):
        return MailFailed("connection")
    raise exc
