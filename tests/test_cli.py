"""The `reportline` command: non-interactive set-up, officers, and the production server."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner

from reportline.cli import main
from tests.helpers import REFERENCE, csrf_token

PASSWORD = "quartz lagoon fiddle marble\n"


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty instance folder named by REPORTLINE_INSTANCE, with fast Argon2id."""
    path = tmp_path / "instance"
    monkeypatch.setenv("REPORTLINE_INSTANCE", str(path))
    monkeypatch.setenv("REPORTLINE_ARGON2_MEMORY_COST_KIB", "1024")
    monkeypatch.setenv("REPORTLINE_ARGON2_TIME_COST", "1")
    return path


def _init(instance: Path, key_file: Path) -> object:
    return CliRunner().invoke(
        main,
        [
            "init",
            "--admin",
            "Chief@Unit.Example",
            "--password-stdin",
            "--recovery-key-file",
            str(key_file),
        ],
        input=PASSWORD,
    )


def test_init_sets_up_an_instance_non_interactively(instance: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "recovery.txt"
    result = _init(instance, key_file)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    output = result.output  # type: ignore[attr-defined]
    uri_lines = [line for line in output.splitlines() if line.startswith("otpauth://")]
    assert len(uri_lines) == 1 and "chief%40unit.example" in uri_lines[0]
    assert "recovery key" in output.lower() and "offline" in output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "BEGIN REPORTLINE RECOVERY KEY" in key_file.read_text()
    config = instance / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE((instance / "reportline.sqlite3").stat().st_mode) == 0o600
    assert "BEGIN REPORTLINE" not in "".join(
        p.read_text(errors="ignore") for p in instance.iterdir() if p.is_file()
    )


def test_init_refuses_to_run_twice(instance: Path, tmp_path: Path) -> None:
    assert _init(instance, tmp_path / "one.txt").exit_code == 0  # type: ignore[attr-defined]
    again = _init(instance, tmp_path / "two.txt")
    assert again.exit_code != 0  # type: ignore[attr-defined]
    assert "already initialised" in again.output  # type: ignore[attr-defined]
    assert not (tmp_path / "two.txt").exists()


def test_init_refuses_a_weak_password_before_creating_anything(
    instance: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "init",
            "--admin",
            "a@unit.example",
            "--password-stdin",
            "--recovery-key-file",
            str(tmp_path / "k.txt"),
        ],
        input="password123\n",
    )
    assert result.exit_code != 0 and "Password refused" in result.output
    assert not (tmp_path / "k.txt").exists()


def test_init_never_overwrites_an_existing_recovery_key_file(
    instance: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "precious.txt"
    key_file.write_text("an older key")
    result = _init(instance, key_file)
    assert result.exit_code != 0 and key_file.read_text() == "an older key"  # type: ignore[attr-defined]


def test_officer_add_prints_the_provisioning_uri_on_its_own_line(
    instance: Path, tmp_path: Path
) -> None:
    _init(instance, tmp_path / "k.txt")
    result = CliRunner().invoke(
        main,
        ["officer", "add", "Analyst@Unit.Example", "--role", "officer", "--password-stdin"],
        input="harbour violin pepper cactus\n",
    )
    assert result.exit_code == 0, result.output
    assert re.search(
        r"^otpauth://totp/ReportLine:analyst%40unit\.example\?secret=[A-Z2-7]+",
        result.output,
        re.MULTILINE,
    )
    assert "awaiting access" in result.output
    duplicate = CliRunner().invoke(
        main,
        ["officer", "add", "analyst@unit.example", "--password-stdin"],
        input="harbour violin pepper cactus\n",
    )
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    supervisor = CliRunner().invoke(
        main,
        ["officer", "add", "deputy@unit.example", "--role", "supervisor", "--password-stdin"],
        input="harbour violin pepper cactus\n",
    )
    assert supervisor.exit_code == 0 and "deputy@unit.example (supervisor)" in supervisor.output
    bad_role = CliRunner().invoke(
        main,
        ["officer", "add", "x@unit.example", "--role", "admin", "--password-stdin"],
        input="harbour violin pepper cactus\n",
    )
    assert bad_role.exit_code == 2 and "officer" in bad_role.output  # names the choices


def test_a_missing_secret_stops_commands_with_a_message_that_says_how_to_fix_it(
    instance: Path,
) -> None:
    instance.mkdir()
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code != 0 and "reportline init" in result.output


def test_audit_verify_reports_an_intact_log(instance: Path, tmp_path: Path) -> None:
    _init(instance, tmp_path / "k.txt")
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output
    assert CliRunner().invoke(main, ["purge"]).exit_code == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(arguments: list[str], environment: dict[str, str]) -> subprocess.Popen[str]:
    """Run `reportline ARGUMENTS` in its own process, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "reportline.cli", *arguments],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _get_when_up(server: subprocess.Popen[str], url: str, seconds: float) -> tuple[str, Any]:
    """GET `url` once the server answers (200 only); fail if it exits or never answers."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url) as response:
                assert response.status == 200
                return response.read().decode(), response.headers
        except OSError:
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)


def test_serve_runs_the_production_server_without_banner_or_access_log(
    instance: Path, tmp_path: Path
) -> None:
    _init(instance, tmp_path / "k.txt")
    port = _free_port()
    server = _start(["serve", "--host", "127.0.0.1", "--port", str(port)], dict(os.environ))
    try:
        body, headers = _get_when_up(server, f"http://127.0.0.1:{port}/report", 30)
        assert "Make a report" in body
        assert headers.get("Server") in (None, "")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert "/report" not in output and "127.0.0.1 -" not in output


def _workers(pid: int) -> set[int]:
    """The processes `pid` started (Linux lists them per thread)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _until(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.1)


def test_serve_with_several_processes_shares_the_port_and_starts_a_lost_worker_again(
    instance: Path, tmp_path: Path
) -> None:
    _init(instance, tmp_path / "k.txt")
    port = _free_port()
    server = _start(["serve", "--port", str(port), "--processes", "2"], dict(os.environ))
    try:
        body, _headers = _get_when_up(server, f"http://127.0.0.1:{port}/report", 30)
        assert "Make a report" in body
        _until(lambda: len(_workers(server.pid)) == 2)
        first = _workers(server.pid)
        lost = min(first)
        os.kill(lost, signal.SIGKILL)
        _until(lambda: len(_workers(server.pid)) == 2 and lost not in _workers(server.pid))
        for _ in range(10):  # served, whichever worker accepts
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/report", timeout=5) as answer:
                assert "Make a report" in answer.read().decode()
        workers = _workers(server.pid)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert "Worker" in output and "starting it again" in output
    for pid in workers:  # SIGTERM stopped every worker with the parent
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def _temporary_files(pid: int) -> list[str]:
    """The files a process holds open in a temporary folder (waitress's body spill files
    are made with O_TMPFILE and show as "/tmp/#123 (deleted)")."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(("/tmp", "/var/tmp")) or "(deleted)" in target:
            found.append(target)
    return found


def test_slow_sockets_keep_no_reporter_waiting_and_bodies_stay_in_memory(
    instance: Path, tmp_path: Path
) -> None:
    """200 sockets that never finish their headers or their body, and a body of almost
    a megabyte sent slowly, leave a genuine reporter served and no file on disk."""
    _init(instance, tmp_path / "k.txt")
    port = _free_port()
    server = _start(["serve", "--port", str(port)], dict(os.environ))
    slow: list[socket.socket] = []
    try:
        _get_when_up(server, f"http://127.0.0.1:{port}/", 30)
        for n in range(200):
            sock = socket.create_connection(("127.0.0.1", port))
            if n % 2:
                sock.sendall(b"GET /report HTTP/1.1\r\nHost: x\r\n")  # headers never end
            else:
                sock.sendall(
                    b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabcde"
                )
            slow.append(sock)
        # Served while every slow socket is still open (they would time out after 20 s).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/report", timeout=5) as response:
            assert "Make a report" in response.read().decode()

        big = socket.create_connection(("127.0.0.1", port))
        slow.append(big)
        length = 1000 * 1000
        big.sendall(
            f"POST /report HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
            f"\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        chunk = b"what_happened=" + b"x" * (length - 14)
        for start in range(0, length, 100_000):
            big.sendall(chunk[start : start + 100_000])
            time.sleep(0.05)
            assert _temporary_files(server.pid) == []
    finally:
        for sock in slow:
            sock.close()
        server.terminate()
        server.communicate(timeout=10)


def test_the_recovery_key_gives_a_new_supervisor_the_unit_key(
    instance: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "k.txt"
    _init(instance, key_file)
    CliRunner().invoke(
        main,
        ["officer", "add", "new.chief@unit.example", "--role", "supervisor", "--password-stdin"],
        input="harbour violin pepper cactus\n",
    )
    recover = ["recover", "--recovery-key-file", str(key_file), "--grant-to"]
    # A supervisor is given the exclusion key too: only with their fingerprint read back.
    refused = CliRunner().invoke(main, [*recover, "new.chief@unit.example"])
    assert refused.exit_code == 1
    fingerprint = refused.output.split("(")[1].split(")")[0]
    given = ["--fingerprint", fingerprint]
    result = CliRunner().invoke(main, [*recover, "new.chief@unit.example", *given])
    assert result.exit_code == 0, result.output
    assert "now holds the unit key" in result.output
    damaged = tmp_path / "damaged.txt"
    damaged.write_text(key_file.read_text().replace("A", "B", 3))
    refused = CliRunner().invoke(
        main,
        ["recover", "--recovery-key-file", str(damaged), "--grant-to", "new.chief@unit.example"],
    )
    assert refused.exit_code != 0


def test_an_operator_can_lift_a_lockout_from_the_command_line(
    instance: Path, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from reportline.config import load_settings
    from reportline.db import make_engine, make_sessionmaker
    from reportline.models import Officer

    _init(instance, tmp_path / "k.txt")
    settings = load_settings(os.environ, instance)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        chief = session.scalars(select(Officer)).one()
        chief.locked = True
        session.commit()
    result = CliRunner().invoke(main, ["officer", "unlock", "chief@unit.example"])
    assert result.exit_code == 0 and "can sign in again" in result.output
    with make_sessionmaker(engine)() as session:
        assert not session.scalars(select(Officer)).one().locked
    engine.dispose()
    assert CliRunner().invoke(main, ["officer", "unlock", "nobody@unit.example"]).exit_code != 0


def test_unlocking_a_deactivated_account_says_it_still_cannot_sign_in(
    instance: Path, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from reportline.config import load_settings
    from reportline.db import make_engine, make_sessionmaker
    from reportline.models import Officer

    _init(instance, tmp_path / "k.txt")
    engine = make_engine(load_settings(os.environ, instance).database_url)
    with make_sessionmaker(engine)() as session:
        chief = session.scalars(select(Officer)).one()
        chief.locked, chief.active = True, False
        session.commit()
    engine.dispose()
    result = CliRunner().invoke(main, ["officer", "unlock", "chief@unit.example"])
    assert result.exit_code == 0 and "deactivated" in result.output
    assert "can sign in again" not in result.output


def test_init_on_a_recreated_database_replaces_the_pinned_unit_key(
    instance: Path, tmp_path: Path
) -> None:
    from reportline.config import load_settings

    assert _init(instance, tmp_path / "one.txt").exit_code == 0  # type: ignore[attr-defined]
    for database_file in instance.glob("reportline.sqlite3*"):
        database_file.unlink()
    again = _init(instance, tmp_path / "two.txt")
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    printed = re.search(r"Unit key fingerprint: (\w+)", again.output)  # type: ignore[attr-defined]
    settings = load_settings(os.environ, instance)  # still valid TOML: one pin, not two
    assert printed is not None and settings.unit_key_fingerprint == printed.group(1)
    assert (instance / "config.toml").read_text().count("unit_key_fingerprint") == 1
    assert stat.S_IMODE((instance / "config.toml").stat().st_mode) == 0o600


def test_init_refuses_an_unwritable_recovery_key_folder_before_asking_anything(
    instance: Path, tmp_path: Path
) -> None:
    result = _init(instance, tmp_path / "no-such-folder" / "recovery.txt")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "Cannot write the recovery key" in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert not instance.exists()  # nothing was created


# How `reportline demo` prints each officer of its unit but the supervisor.
DEMO_OFFICER = re.compile(r"^E-mail:   (\S+)\nPassword: (.+)\nAuthenticator key: (\S+)$", re.M)


def test_demo_serves_a_throw_away_unit_with_sample_cases_and_removes_it_when_stopped(
    tmp_path: Path,
) -> None:
    port = _free_port()
    elsewhere = tmp_path / "real-deployment.sqlite3"
    environment = {
        **os.environ,
        # A real deployment's settings in the environment must not reach the demo.
        "REPORTLINE_DATABASE_URL": f"sqlite:///{elsewhere}",
        "PYTHONUNBUFFERED": "1",  # what it prints can be read while it serves
    }
    server = _start(["demo", "--port", str(port)], environment)
    try:
        _get_when_up(server, f"http://127.0.0.1:{port}/", 60)
        _get_when_up(server, f"http://127.0.0.1:{port}/triage/login", 10)
        printed = _printed_until(server, "ReportLine is serving on")
        unit = DEMO_OFFICER.findall(printed)
        assert len(unit) == 3, printed
        email, password, seed = unit[0]
        queue = _signed_in_page(port, email, password, seed, "/triage/?status=all")
    finally:
        server.terminate()
        rest, _ = server.communicate(timeout=30)
    output = printed + rest
    folder = re.search(r"Demo instance \(throw-away\): (\S+)", output)
    assert folder is not None, output
    assert "E-mail:   supervisor@demo.reportline.invalid" in output
    assert re.search(r"^Password: \S+( \S+){4}$", output, re.MULTILINE)
    assert re.search(r"^otpauth://totp/\S+$", output, re.MULTILINE)
    assert "scan this QR code" in output and "\u2588" * 20 in output  # drawn in the terminal
    assert "The queue holds 12 sample cases" in output
    assert all(officer.endswith("@demo.reportline.invalid") for officer, _, _ in unit)
    # A demo officer signs in with what was printed and sees the sample unit's queue.
    assert len(set(REFERENCE.findall(queue))) == 12
    assert not Path(folder.group(1)).exists()  # removed on SIGTERM
    assert not elsewhere.exists()


def _printed_until(server: subprocess.Popen[str], marker: str) -> str:
    """What the server printed up to the first line holding `marker` (already printed)."""
    assert server.stdout is not None
    lines: list[str] = []
    while not lines or marker not in lines[-1]:
        line = server.stdout.readline()
        assert line, "".join(lines)  # it exited without printing the marker
        lines.append(line)
    return "".join(lines)


def _signed_in_page(port: int, email: str, password: str, seed: str, path: str) -> str:
    """Sign in at the login page as a browser would, then GET `path`'s page."""
    base = f"http://127.0.0.1:{port}"
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with browser.open(f"{base}/triage/login") as response:
        token = csrf_token(response.read().decode())
    form = {"csrf_token": token, "email": email, "password": password}
    form["code"] = pyotp.TOTP(seed).now()
    with browser.open(f"{base}/triage/login", urllib.parse.urlencode(form).encode()) as response:
        assert response.status == 200  # after its redirect
    with browser.open(base + path) as response:
        return str(response.read().decode())


def test_db_upgrade_starts_the_queue_ledger_of_an_instance_that_had_none(
    instance: Path, tmp_path: Path
) -> None:
    import sqlite3

    _init(instance, tmp_path / "k.txt")
    database = sqlite3.connect(instance / "reportline.sqlite3")
    database.execute("DELETE FROM queue_ledger")  # as an instance from before the ledger
    database.commit()
    database.close()
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "queue ledger now counts" in result.output
    database = sqlite3.connect(instance / "reportline.sqlite3")
    assert database.execute("SELECT attention FROM queue_ledger").fetchall() == [(0,)]
    database.close()
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert "queue ledger" not in again.output
    assert CliRunner().invoke(main, ["audit", "verify"]).exit_code == 0


def test_notify_says_alerts_are_off_without_a_mail_server(instance: Path, tmp_path: Path) -> None:
    _init(instance, tmp_path / "k.txt")
    result = CliRunner().invoke(main, ["notify"])
    assert result.exit_code == 0 and "Alerts are off: smtp_host is not set." in result.output


def _mail_environment(monkeypatch: pytest.MonkeyPatch, catcher: Any) -> None:
    from tests.smtp_server import mail_settings

    for name, value in mail_settings(catcher).items():
        monkeypatch.setenv(f"REPORTLINE_{name.upper()}", str(value))


def test_notify_now_sends_everything_pending_and_warns_that_it_reveals_timing(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportline import create_app
    from tests.helpers import submit_report
    from tests.smtp_server import MailCatcher, free_port

    _init(instance, tmp_path / "k.txt")
    catcher = MailCatcher(free_port())
    catcher.start()
    try:
        _mail_environment(monkeypatch, catcher)
        monkeypatch.setenv("REPORTLINE_MIN_FORM_SECONDS", "0")
        app = create_app()
        submit_report(app.test_client(), at_risk="yes")
        app.extensions["reportline.engine"].dispose()

        now = CliRunner().invoke(main, ["notify", "--now"])
        first = sorted(m.subject for m in catcher.to("chief@unit.example"))
        again = CliRunner().invoke(main, ["notify"])  # on schedule: whatever is due now
    finally:
        catcher.stop()

    assert now.exit_code == 0, now.output
    assert "WARNING: sending off-schedule" in now.stderr
    assert "Alerts sent: 2; failed: 0." in now.stdout
    assert first == ["ReportLine: new activity", "Urgent: a report needs attention"]
    assert again.exit_code == 0
    urgent = [m for m in catcher.messages if m.subject.startswith("Urgent")]
    assert len(urgent) == 1  # the mark was used up


def test_notify_fails_loudly_but_keeps_the_alerts_when_the_mail_server_is_down(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportline import create_app
    from tests.helpers import submit_report
    from tests.smtp_server import MailCatcher, free_port

    _init(instance, tmp_path / "k.txt")
    _mail_environment(monkeypatch, MailCatcher(free_port()))  # nobody listens there
    monkeypatch.setenv("REPORTLINE_MIN_FORM_SECONDS", "0")
    app = create_app()
    submit_report(app.test_client(), at_risk="yes")
    app.extensions["reportline.engine"].dispose()

    result = CliRunner().invoke(main, ["notify", "--now"])

    assert result.exit_code == 1
    assert "could not be sent (connection); they wait for the next run" in result.output
    assert "@" not in result.output


def test_serve_sends_alerts_itself_when_mail_is_set_up(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from reportline import cli
    from tests.smtp_server import MailCatcher

    _init(instance, tmp_path / "k.txt")
    _mail_environment(monkeypatch, MailCatcher(1025))
    monkeypatch.setenv("REPORTLINE_HOUSEKEEPING_IN_PROCESS", "false")
    started: list[str] = []
    done = threading.Event()

    def alert_loop(settings: Any) -> None:
        started.append(str(settings.smtp_host))
        done.set()

    monkeypatch.setattr(cli, "_notify_each_minute", alert_loop)
    monkeypatch.setattr(
        cli.web_server, "create_server", lambda *args, **kwargs: SimpleNamespace(run=lambda: None)
    )
    cli._serve(cli._app_or_exit(), "127.0.0.1", 5000, 1)

    assert done.wait(5) and started == ["127.0.0.1"]
    monkeypatch.setenv("REPORTLINE_NOTIFY_IN_PROCESS", "false")
    started.clear()
    cli._serve(cli._app_or_exit(), "127.0.0.1", 5000, 1)
    assert started == []


def test_the_alert_thread_survives_a_failed_round_and_logs_only_its_kind(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from dataclasses import replace

    from reportline import cli
    from reportline.config import load_settings
    from tests.smtp_server import MailCatcher

    _init(instance, tmp_path / "k.txt")
    _mail_environment(monkeypatch, MailCatcher(1025))
    settings = load_settings(os.environ, instance)
    broken = replace(settings, database_url=f"sqlite:///{tmp_path / 'missing' / 'x.sqlite3'}")

    cli._notify_once(broken)

    assert "Alerts failed: OperationalError" in caplog.text


def test_db_upgrade_gives_existing_roles_their_mac_once_and_lists_them(
    instance: Path, tmp_path: Path
) -> None:
    import sqlite3

    from reportline.config import load_settings
    from reportline.db import make_engine, make_sessionmaker
    from reportline.migrate import downgrade
    from reportline.models import Officer
    from reportline.services import instance as instance_keys
    from reportline.services import roles

    _init(instance, tmp_path / "k.txt")
    settings = load_settings(os.environ, instance)
    downgrade(settings.database_url, "0009")  # an instance from just before role MACs
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "chief@unit.example: supervisor" in result.output

    def chief_is_supervisor() -> bool:
        engine = make_engine(settings.database_url)
        maker = make_sessionmaker(engine, integrity_key=instance_keys.integrity_key(settings))
        with maker() as session:
            answer = roles.is_supervisor(session, session.scalars(select_officer()).one())
        engine.dispose()
        return answer

    def select_officer() -> Any:
        from sqlalchemy import select

        return select(Officer)

    assert chief_is_supervisor()
    # Later, a MAC removed in the database is never given back by an upgrade.
    database = sqlite3.connect(instance / "reportline.sqlite3")
    database.execute("UPDATE officers SET role_mac = NULL")
    database.commit()
    database.close()
    again = CliRunner().invoke(main, ["db", "upgrade"])
    assert again.exit_code == 0 and "carry a MAC" not in again.output
    assert not chief_is_supervisor()
    fixed = CliRunner().invoke(
        main, ["officer", "role", "chief@unit.example", "--role", "supervisor"]
    )
    assert fixed.exit_code == 0 and "is now a supervisor" in fixed.output
    assert chief_is_supervisor()
    assert CliRunner().invoke(main, ["audit", "verify"]).exit_code == 0
