"""Settings: parsed once, and a bad or missing value stops start-up with a clear message."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from reportline.config import ConfigError, load_settings
from reportline.services import instance

SECRET = base64.b64encode(b"s" * 32).decode()
SECRETS = {"REPORTLINE_SECRET_KEY": SECRET, "REPORTLINE_RECEIPT_PEPPER": SECRET}


def test_defaults_use_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    settings = load_settings(SECRETS, tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'reportline.sqlite3'}"
    assert settings.officer_idle_minutes == 15 and settings.officer_absolute_hours == 8


def test_a_missing_secret_names_the_setting_and_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Missing secret receipt_pepper.*reportline init"):
        load_settings({"REPORTLINE_SECRET_KEY": SECRET}, tmp_path)


def test_a_short_secret_is_refused(tmp_path: Path) -> None:
    short = base64.b64encode(b"x" * 8).decode()
    with pytest.raises(ConfigError, match="secret_key is too short"):
        load_settings({**SECRETS, "REPORTLINE_SECRET_KEY": short}, tmp_path)


def test_the_environment_overrides_the_instance_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        f'secret_key = "{SECRET}"\nreceipt_pepper = "{SECRET}"\nofficer_idle_minutes = 20\n'
    )
    assert load_settings({}, tmp_path).officer_idle_minutes == 20
    env = {"REPORTLINE_OFFICER_IDLE_MINUTES": "5"}
    assert load_settings(env, tmp_path).officer_idle_minutes == 5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REPORTLINE_OFFICER_IDLE_MINUTES", "soon", "officer_idle_minutes must be a whole number"),
        ("REPORTLINE_HTTPS", "maybe", "https must be true or false"),
        ("REPORTLINE_LEAVE_URL", "http://evil.example", "leave_url must be"),
        ("REPORTLINE_LOG_LEVEL", "LOUD", "log_level must be one of"),
        ("REPORTLINE_EXCLUSION_KEY_FINGERPRINT", "abc", "exclusion_key_fingerprint must be"),
        ("REPORTLINE_EXCLUSION_ROUTE_URL", "javascript:alert(1)", "exclusion_route_url must be"),
        ("REPORTLINE_EXCLUSION_ROUTE_URL", "ftp://iopc.example/", "exclusion_route_url must be"),
        ("REPORTLINE_EXCLUSION_ROUTE_URL", "http://iopc.example/", "must be an https://"),
        ("REPORTLINE_EXCLUSION_ROUTE_URL", "https://a@evil.example/", "exclusion_route_url"),
        ("REPORTLINE_EXCLUSION_ROUTE_TEXT", "x" * 501, "exclusion_route_text must be at most"),
    ],
)
def test_bad_values_are_refused_with_the_settings_name(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**SECRETS, name: value}, tmp_path)


def test_an_unknown_setting_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('databse_url = "sqlite://"\n')
    with pytest.raises(ConfigError, match=r"Unknown setting.*databse_url"):
        load_settings(SECRETS, tmp_path)


def test_broken_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("secret_key = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(SECRETS, tmp_path)


def test_a_mistyped_environment_variable_is_refused_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REPORTLINE_DATABASE_ULR"):
        load_settings({**SECRETS, "REPORTLINE_DATABASE_ULR": "postgresql://db/x"}, tmp_path)
    assert load_settings({**SECRETS, "REPORTLINE_INSTANCE": "/srv/x"}, tmp_path)


def test_argon2_costs_have_sane_upper_bounds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="argon2_parallelism must be at most 16"):
        load_settings({**SECRETS, "REPORTLINE_ARGON2_PARALLELISM": "300"}, tmp_path)


MAIL = {
    "REPORTLINE_SMTP_HOST": "smtp.unit.example",
    "REPORTLINE_MAIL_FROM": "reportline@unit.example",
    "REPORTLINE_BASE_URL": "https://reportline.unit.example/",
}


def test_alerts_are_off_until_an_smtp_host_is_set_and_then_need_a_sender_and_a_link(
    tmp_path: Path,
) -> None:
    assert not load_settings(SECRETS, tmp_path).mail_configured
    settings = load_settings({**SECRETS, **MAIL, "REPORTLINE_ALERT_DAYS": "mon|sat"}, tmp_path)
    assert settings.mail_configured and settings.smtp_port == 587 and settings.smtp_starttls
    assert settings.base_url == "https://reportline.unit.example"
    assert settings.alert_days == (0, 5) and len(settings.alert_times) == 11
    for missing in ("REPORTLINE_MAIL_FROM", "REPORTLINE_BASE_URL"):
        env = {**SECRETS, **MAIL}
        del env[missing]
        with pytest.raises(ConfigError, match=missing.removeprefix("REPORTLINE_").lower()):
            load_settings(env, tmp_path)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REPORTLINE_TIMEZONE", "Mars/Olympus", "timezone must be a time zone name"),
        ("REPORTLINE_ALERT_TIMES", "8 o'clock", "alert_times must be times of day"),
        ("REPORTLINE_ALERT_DAYS", "someday", "alert_days must be days"),
        ("REPORTLINE_SMTP_PORT", "70000", "smtp_port must be at most 65535"),
        ("REPORTLINE_SMTP_CA_FILE", "no-such-ca.pem", "smtp_ca_file: no such file"),
        ("REPORTLINE_MAIL_FROM", "reportline", "mail_from must be the address"),
        ("REPORTLINE_BASE_URL", "reportline.unit.example", "base_url must be the address"),
        ("REPORTLINE_SMTP_PASSWORD", "secret", "smtp_password is set without smtp_username"),
    ],
)
def test_bad_mail_settings_stop_start_up_with_one_clear_line(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings({**SECRETS, **MAIL, name: value}, tmp_path)
    assert "\n" not in str(refused.value)


def test_a_password_that_is_not_ascii_stops_start_up_without_being_shown(tmp_path: Path) -> None:
    env = {
        **SECRETS,
        **MAIL,
        "REPORTLINE_SMTP_USERNAME": "reportline",
        "REPORTLINE_SMTP_PASSWORD": "smtp-canary-\u00e977",
    }
    with pytest.raises(ConfigError, match="smtp_password must be ASCII") as refused:
        load_settings(env, tmp_path)
    assert "canary" not in str(refused.value) and "\n" not in str(refused.value)


def test_the_smtp_password_is_never_in_a_repr(tmp_path: Path) -> None:
    env = {
        **SECRETS,
        **MAIL,
        "REPORTLINE_SMTP_USERNAME": "reportline",
        "REPORTLINE_SMTP_PASSWORD": "smtp-canary-77",
    }
    settings = load_settings(env, tmp_path)
    assert settings.smtp_password == "smtp-canary-77"
    assert "smtp-canary-77" not in repr(settings)


def test_a_pin_rewrite_keeps_the_config_mode_and_never_writes_through_a_planted_link(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('secret_key = "x"\n')
    config.chmod(0o640)
    elsewhere = tmp_path / "elsewhere.txt"
    (tmp_path / "config.toml.new").symlink_to(elsewhere)
    instance.pin_unit_key(tmp_path, "0123456789abcdef", "fedcba9876543210")
    assert not elsewhere.exists()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    pins = instance.read_pins(tmp_path)
    assert (pins.current, pins.next) == ("0123456789abcdef", "fedcba9876543210")
    instance.pin_unit_key(tmp_path, "fedcba9876543210")
    assert instance.read_pins(tmp_path).next is None
    assert config.read_text().startswith('secret_key = "x"\n')


def test_the_exclusion_pin_and_route_come_from_the_file_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text(
        'exclusion_key_fingerprint = "0123456789abcdef"\n'
        'exclusion_route_text = " Report to the IOPC "\n'
        'exclusion_route_url = "https://www.policeconduct.gov.uk/complaints?x=1"\n'
    )
    settings = load_settings(SECRETS, tmp_path)
    assert settings.exclusion_key_fingerprint == "0123456789abcdef"
    assert settings.exclusion_route_text == "Report to the IOPC"
    assert settings.exclusion_route_url == "https://www.policeconduct.gov.uk/complaints?x=1"
    moved = load_settings(
        {**SECRETS, "REPORTLINE_EXCLUSION_KEY_FINGERPRINT": "fedcba9876543210"}, tmp_path
    )
    assert moved.exclusion_key_fingerprint == "fedcba9876543210"
    unset = load_settings(SECRETS, tmp_path / "nowhere")
    assert (unset.exclusion_route_text, unset.exclusion_route_url) == ("", None)
