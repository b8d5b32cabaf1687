"""SMTP as ReportLine speaks it, against a real server: TLS verified against the CA it is
given, a login only over TLS, and failures that name nobody."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from reportline.config import ConfigError, Settings, load_settings
from reportline.services.mail import Mail, MailFailed, MailServer, build_message
from tests.smtp_server import (
    BASE_URL,
    MAIL_FROM,
    SMTP_PASSWORD,
    SMTP_USER,
    MailCatcher,
    free_port,
    mail_server,
    make_test_ca,
)

__all__ = ["mail_server"]  # the fixture, used by name

SECRET = base64.b64encode(b"s" * 32).decode()
NOW = datetime(2026, 11, 23, 10, 0, 41)
TO = "officer@unit.example"


def _settings(folder: Path, **values: Any) -> Settings:
    base = {"secret_key": SECRET, "receipt_pepper": SECRET}
    return load_settings(
        {}, folder, {**base, "mail_from": MAIL_FROM, "base_url": BASE_URL, **values}
    )


def _send(settings: Settings) -> None:
    with MailServer(settings, timeout=5) as server:
        server.send(build_message(settings, Mail(TO, "Subject", "Body"), NOW))


@pytest.fixture
def tls_server(tmp_path: Path) -> Any:
    """An SMTP server that requires STARTTLS before anything, with a certificate from a
    CA made for this test (written to tmp_path/test-ca.pem)."""
    ca = make_test_ca(tmp_path)
    catcher = MailCatcher(free_port(), tls=ca.server_context, require_starttls=True)
    catcher.start()
    yield catcher
    catcher.stop()


def test_starttls_verified_against_the_given_ca_then_a_login(
    tmp_path: Path, tls_server: MailCatcher
) -> None:
    settings = _settings(
        tmp_path,
        smtp_host="localhost",
        smtp_port=tls_server.port,
        smtp_ca_file="test-ca.pem",
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )

    _send(settings)

    assert [(login.user, login.encrypted) for login in tls_server.logins] == [(SMTP_USER, True)]
    assert [message.to for message in tls_server.messages] == [TO]


def test_a_password_smtplib_cannot_encode_is_a_login_failure_that_shows_no_character(
    tmp_path: Path, tls_server: MailCatcher
) -> None:
    settings = _settings(
        tmp_path,
        smtp_host="localhost",
        smtp_port=tls_server.port,
        smtp_ca_file="test-ca.pem",
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )
    # Start-up refuses such a password; a Settings made another way must still fail cleanly.
    settings = replace(settings, smtp_password="pass\u00e9-canary")

    with pytest.raises(MailFailed) as failed:
        _send(settings)

    assert failed.value.kind == "login" and "\u00e9" not in str(failed.value)
    assert tls_server.messages == []


def test_a_certificate_from_an_unknown_authority_is_refused_before_any_login(
    tmp_path: Path, tls_server: MailCatcher
) -> None:
    settings = _settings(
        tmp_path,
        smtp_host="localhost",
        smtp_port=tls_server.port,
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )  # no smtp_ca_file: the system's authorities do not know the test CA

    with pytest.raises(MailFailed) as failed:
        _send(settings)

    assert failed.value.kind == "tls"
    assert tls_server.logins == [] and tls_server.messages == []


def test_a_certificate_for_another_host_name_is_refused(
    tmp_path: Path, tls_server: MailCatcher
) -> None:
    settings = _settings(
        tmp_path,
        smtp_host="127.0.0.1",  # the certificate names localhost only
        smtp_port=tls_server.port,
        smtp_ca_file="test-ca.pem",
    )

    with pytest.raises(MailFailed) as failed:
        _send(settings)

    assert failed.value.kind == "tls"
    assert tls_server.messages == []


def test_a_server_without_starttls_gets_no_password(
    tmp_path: Path, mail_server: MailCatcher
) -> None:
    settings = _settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mail_server.port,
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )  # smtp_starttls defaults to true; this server does not offer it

    with pytest.raises(MailFailed) as failed:
        _send(settings)

    assert failed.value.kind == "tls"
    assert mail_server.logins == [] and mail_server.messages == []


def test_a_login_without_tls_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="never logs in without TLS"):
        _settings(
            tmp_path,
            smtp_host="mail.unit.example",
            smtp_starttls=False,
            smtp_username=SMTP_USER,
            smtp_password=SMTP_PASSWORD,
        )


def test_mail_in_clear_is_refused_at_start_up_unless_the_relay_is_on_this_machine(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="smtp_starttls = false would send") as refused:
        _settings(tmp_path, smtp_host="mail.unit.example", smtp_starttls=False)
    assert "\n" not in str(refused.value)
    for local in ("localhost", "127.0.0.1", "127.0.0.2", "::1"):
        assert not _settings(tmp_path, smtp_host=local, smtp_starttls=False).smtp_starttls
    assert _settings(tmp_path, smtp_host="mail.unit.example", smtp_port=465, smtp_starttls=False)


def test_port_465_is_tls_from_the_first_byte(tmp_path: Path) -> None:
    settings = _settings(tmp_path, smtp_host="mail.unit.example", smtp_port=465)
    assert settings.smtp_implicit_tls
    assert not _settings(tmp_path, smtp_host="mail.unit.example").smtp_implicit_tls


def test_a_refused_connection_is_a_failure_that_names_nobody(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False
    )

    with pytest.raises(MailFailed) as failed:
        _send(settings)

    assert failed.value.kind == "connection"
    assert "@" not in str(failed.value)


def test_a_refused_message_is_a_failure_that_keeps_the_connection(
    tmp_path: Path, mail_server: MailCatcher
) -> None:
    settings = _settings(
        tmp_path, smtp_host="127.0.0.1", smtp_port=mail_server.port, smtp_starttls=False
    )
    mail_server.refuse_data = True

    with MailServer(settings, timeout=5) as server:
        with pytest.raises(MailFailed) as failed:
            server.send(build_message(settings, Mail(TO, "One", "Body"), NOW))
        mail_server.refuse_data = False
        server.send(build_message(settings, Mail(TO, "Two", "Body"), NOW))

    assert failed.value.kind == "refused" and not failed.value.fatal
    assert "@" not in str(failed.value)
    assert [message.subject for message in mail_server.messages] == ["Two"]


def test_a_message_carries_only_from_to_subject_date_id_and_its_text(tmp_path: Path) -> None:
    settings = _settings(tmp_path, smtp_host="mail.unit.example")

    message = build_message(settings, Mail(TO, "Subject", "Body"), NOW)

    assert set(message.keys()) == {
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
    }
    assert parsedate_to_datetime(message["Date"]).replace(tzinfo=None) == NOW.replace(second=0)
    assert message["Message-ID"].endswith("@unit.example>")
    assert repr(Mail(TO, "Subject", "Body")).count("@") == 0


def test_a_message_id_is_random_with_no_time_or_process_id_in_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path, smtp_host="mail.unit.example")

    ids = {
        build_message(settings, Mail(TO, "Subject", "Body"), NOW)["Message-ID"] for _ in range(3)
    }

    assert len(ids) == 3
    for message_id in ids:
        assert re.fullmatch(r"<[0-9a-f]{32}@unit\.example>", message_id), message_id
