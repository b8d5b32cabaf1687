"""The `reportline` command: thin click commands over the services.

Every command has a non-interactive form for automation (passwords on
standard input with --password-stdin). The instance folder is
REPORTLINE_INSTANCE, or ./instance.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask

from reportline import create_app, utcnow
from reportline.cli_keys import keys
from reportline.config import CONFIG_FILE_NAME, ConfigError, Settings, load_settings
from reportline.crypto.errors import DecryptionError
from reportline.crypto.receipt import wordlist
from reportline.migrate import applies, current_revision, upgrade
from reportline.services import (
    alerts,
    audit,
    exclusion_keys,
    instance,
    keyring,
    maintenance,
    officers,
    queue,
    restriction,
    roles,
    setup,
)
from reportline.services import demo as demo_unit
from reportline.services import instance as instance_service
from reportline.services.errors import ServiceError, WeakPassword
from reportline.services.keyring import format_recovery_key, parse_recovery_key
from reportline.services.officers import NewOfficer
from reportline.web import server as web_server

DEMO_EMAIL = "supervisor@demo.reportline.invalid"
# The demo wraps four officers' keys as it starts, on one's own machine, to be thrown
# away: Argon2id at OWASP's minimum (19 MiB, two passes) keeps that quick.
DEMO_ARGON2 = (
    "# The throw-away demo's Argon2id cost (OWASP's minimum), cheaper than the default.\n"
    "argon2_time_cost = 2\n"
    "argon2_memory_cost_kib = 19456\n"
)


def _instance_path() -> Path:
    return Path(os.environ.get("REPORTLINE_INSTANCE", "instance")).resolve()


def _settings(instance: Path) -> Settings:
    try:
        return load_settings(os.environ, instance)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("No password on standard input.")
        return password
    if not sys.stdin.isatty():
        raise click.ClickException("Standard input is not a terminal: use --password-stdin.")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _write_new_config(instance: Path) -> None:
    """Create the instance folder and a config with fresh secrets, readable by us only."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = instance / CONFIG_FILE_NAME
    if config.exists():
        return
    secret_key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    pepper = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    text = (
        "# ReportLine instance configuration, written by `reportline init`.\n"
        "# Keep this file private: the secrets below protect sessions and receipts.\n"
        "# See config.example.toml for every setting.\n"
        f'secret_key = "{secret_key}"\n'
        f'receipt_pepper = "{pepper}"\n'
    )
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _upgrade(settings: Settings) -> None:
    """Apply migrations; a new SQLite file is made private (its WAL inherits the mode)."""
    upgrade(settings.database_url)
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).chmod(0o600)


def _print_enrolment(new: NewOfficer, *, show_qr: bool = False) -> None:
    click.echo(f"Officer: {new.officer.email} ({new.officer.role})")
    click.echo("Authenticator key (type it into an authenticator app):")
    click.echo(f"  {new.totp_seed}")
    click.echo("Provisioning URI (for automated enrolment), on the next line:")
    click.echo(new.totp_uri)
    if show_qr:
        import segno

        click.echo("Or scan this QR code with the authenticator app:")
        segno.make(new.totp_uri, error="m").terminal(compact=True)
    click.echo("One-time recovery codes (each replaces the app once; shown only now):")
    for code in new.recovery_codes:
        click.echo(f"  {code}")


@click.group()
@click.version_option(package_name="reportline")
def main() -> None:
    """ReportLine: an anonymous internal reporting line with encrypted reports."""


@main.command()
@click.option("--admin", "admin_email", required=True, help="E-mail of the first supervisor.")
@click.option("--password-stdin", is_flag=True, help="Read the supervisor's password from stdin.")
@click.option(
    "--recovery-key-file",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the recovery key (once, mode 0600). Move it offline.",
)
def init(admin_email: str, password_stdin: bool, recovery_key_file: Path) -> None:
    """Create the schema, the unit and recovery keys and the first supervisor."""
    instance = _instance_path()
    if recovery_key_file.exists():
        raise click.ClickException(f"{recovery_key_file} already exists; it is never overwritten.")
    folder = recovery_key_file.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise click.ClickException(
            f"Cannot write the recovery key into {folder}: choose a folder that exists and "
            "that you can write to."
        )
    password = _read_password(password_stdin)
    _write_new_config(instance)
    settings = _settings(instance)
    _upgrade(settings)
    result = _initialise(settings, admin_email, password, recovery_key_file)
    click.echo(f"Initialised ReportLine in {instance}")
    click.echo(f"Unit key fingerprint: {result.unit_key_fingerprint}")
    click.echo(f"Exclusion key fingerprint: {result.exclusion_key_fingerprint}")
    click.secho(
        f"\nWARNING: the recovery key was written to {recovery_key_file}.\n"
        "It can decrypt every report. Move it offline now (print it, store it in a safe),\n"
        "then delete the file. It is not kept anywhere else and cannot be shown again.\n",
        fg="red",
        bold=True,
        err=True,
    )
    _print_enrolment(result.supervisor)


def _initialise(
    settings: Settings,
    admin_email: str,
    password: str,
    recovery_key_file: Path,
    now: datetime | None = None,
) -> setup.InitialisedInstance:
    with instance.database_session(settings) as session:
        try:
            result = setup.initialise(
                session,
                admin_email,
                password,
                instance.argon2_cost(settings),
                now or utcnow(),
                instance.integrity_key(settings),
            )
        except WeakPassword as exc:
            raise click.ClickException("Password refused: " + " ".join(exc.problems)) from exc
        except ServiceError as exc:
            raise click.ClickException(str(exc).capitalize() + ".") from exc
        # The recovery key file and the pin are written before the commit: if the
        # commit fails the file is removed and the next `init` replaces the pin; the
        # other way round a recovery key could be lost, or reports refused for want
        # of a pin.
        _write_recovery_key(recovery_key_file, format_recovery_key(result.recovery_key))
        try:
            _pin_unit_key(settings.instance_path, result.unit_key_fingerprint)
            instance_service.pin_recovery_key(
                settings.instance_path,
                instance_service.recovery_pin(result.recovery_key.public_key().raw),
            )
            instance_service.pin_exclusion_key(
                settings.instance_path, result.exclusion_key_fingerprint
            )
            session.commit()
        except Exception:
            recovery_key_file.unlink(missing_ok=True)
            raise
    return result


def _write_recovery_key(path: Path, text: str) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(
            f"Cannot write the recovery key to {path}: {exc.strerror}."
        ) from exc
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise click.ClickException(
            f"Cannot write the recovery key to {path}: {exc.strerror}. Nothing was created."
        ) from exc


def _pin_unit_key(instance: Path, fingerprint: str) -> None:
    """Record the unit key's fingerprint in the instance config, replacing any earlier
    pin: new reports are sealed only to that key, so a key planted in the database is
    never used. The config is replaced whole, never left half-written."""
    instance_service.pin_unit_key(instance, fingerprint)


@main.group()
def officer() -> None:
    """Manage officers."""


@officer.command("add")
@click.argument("email")
@click.option(
    "--role", type=click.Choice(["officer", "supervisor"]), default="officer", show_default=True
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def officer_add(email: str, role: str, password_stdin: bool) -> None:
    """Add an officer with their own key pair. A supervisor then gives them access."""
    settings = _settings(_instance_path())
    password = _read_password(password_stdin)
    with instance.database_session(settings) as session:
        try:
            new = officers.create_officer(
                session,
                email,
                role,
                password,
                instance.argon2_cost(settings),
                utcnow(),
                instance.integrity_key(settings),
            )
        except WeakPassword as exc:
            raise click.ClickException("Password refused: " + " ".join(exc.problems)) from exc
        except ServiceError as exc:
            raise click.ClickException(str(exc).capitalize() + ".") from exc
        session.commit()
    _print_enrolment(new)
    click.echo(
        "They can sign in now and will see 'awaiting access' until a supervisor "
        "gives them the unit key."
    )


@officer.command("role")
@click.argument("email")
@click.option("--role", type=click.Choice(["officer", "supervisor"]), required=True)
def officer_role(email: str, role: str) -> None:
    """Set an officer's role, with its MAC (e.g. when no supervisor's role passes its check)."""
    settings = _settings(_instance_path())
    with instance.database_session(settings) as session:
        try:
            member = roles.change_role_by_email(session, email, role, utcnow())
        except ServiceError as exc:
            raise click.ClickException(str(exc).capitalize() + ".") from exc
        session.commit()
    click.echo(f"{member.email} is now {'a supervisor' if role == 'supervisor' else 'an officer'}.")


@officer.command("unlock")
@click.argument("email")
def officer_unlock(email: str) -> None:
    """Lift the lockout of an account locked after failed sign-ins (e.g. the last supervisor)."""
    settings = _settings(_instance_path())
    with instance.database_session(settings) as session:
        try:
            locked = officers.lift_lockout_by_email(
                session, email, settings.receipt_pepper, utcnow()
            )
        except ServiceError as exc:
            raise click.ClickException(str(exc).capitalize() + ".") from exc
        session.commit()
    if locked.active:
        click.echo(f"{locked.email} can sign in again.")
    else:
        click.echo(f"{locked.email} is unlocked, but the account is deactivated: no sign-in.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port: one per CPU core uses them all.",
)
def serve(host: str, port: int, threads: int, processes: int) -> None:
    """Serve ReportLine with waitress (production WSGI server, debug off, no access log)."""
    app = _app_or_exit()
    click.echo(f"ReportLine is serving on http://{host}:{port}")
    if processes == 1:
        _serve(app, host, port, threads)
    else:
        _serve_processes(app, host, port, threads, processes)


def _app_or_exit() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


# Slow or idle sockets cost waitress a file descriptor each, never a thread: it
# reads a whole request before a thread sees it. So allow many at once (poll(),
# not select(), which stops at 1,024 descriptors), and drop any that stays silent.
CONNECTION_LIMIT = 2000
CHANNEL_TIMEOUT_SECONDS = 20
CLEANUP_INTERVAL_SECONDS = 5


# Pending response bytes per connection before the app's thread waits for the client.
RESPONSE_HIGH_WATERMARK = 1024 * 1024
# Larger than any response can be: waitress never moves a response to a temporary file.
NEVER = sys.maxsize


def waitress_options(settings: Settings) -> dict[str, object]:
    """How `serve` runs waitress (docs/security.md, "Slow clients" and "Evidence").

    - No banner and no access log (waitress writes none).
    - With proxy_hops = 0 waitress strips X-Forwarded-* so nobody can forge them;
      with proxies in front it passes them on and Werkzeug's ProxyFix trusts
      exactly `proxy_hops` of them.
    - Many connections, a short idle timeout, poll(): sockets that never finish
      their headers or body cannot keep others out.
    - No body ever reaches a file. Waitress reads a whole body before the app
      sees it and moves one past `inbuf_overflow` into a temporary file, in clear
      (O_TMPFILE: in no folder, but on disk). `max_request_body_size` is
      `evidence_form_max_bytes` + 1 (waitress refuses a body of its limit or more,
      so that is the largest accepted; the app caps every view but the file forms
      lower, at `max_request_bytes`); `inbuf_overflow` is above it, so an accepted
      body, chunked or not, always fits in memory.
    - No response ever reaches a file either. Waitress queues what the app writes
      in buffers that move to a temporary file past `outbuf_overflow`; a buffer
      holds at most `outbuf_high_watermark` plus the one piece being written,
      because past the watermark the app's thread waits for the client to read.
      So the overflow is `NEVER`, and the watermark (1 MiB, not waitress's 16 MiB)
      bounds the memory a slow reader costs: a thread waits instead. A file sent
      with wsgi.file_wrapper is read from where it is, never copied.
    """
    return {
        "ident": "",
        "clear_untrusted_proxy_headers": settings.proxy_hops == 0,
        "connection_limit": CONNECTION_LIMIT,
        "channel_timeout": CHANNEL_TIMEOUT_SECONDS,
        "cleanup_interval": CLEANUP_INTERVAL_SECONDS,
        "asyncore_use_poll": True,
        "max_request_body_size": settings.evidence_form_max_bytes + 1,
        "inbuf_overflow": settings.evidence_form_max_bytes + 1 + 65536,
        "outbuf_high_watermark": RESPONSE_HIGH_WATERMARK,
        "outbuf_overflow": NEVER,
    }


def _serve(
    app: Flask,
    host: str,
    port: int,
    threads: int,
    listener: socket.socket | None = None,
    background: bool = True,
) -> None:
    """Run waitress on `host`:`port`, or on `listener` (a worker of `_serve_processes`);
    with `background`, also the in-process housekeeping and alerts."""
    settings: Settings = app.extensions["reportline.settings"]
    if background and settings.housekeeping_in_process:
        threading.Thread(
            target=_housekeeping, args=(settings,), name="reportline-housekeeping", daemon=True
        ).start()
    if background and settings.notify_in_process and settings.mail_configured:
        threading.Thread(
            target=_notify_each_minute, args=(settings,), name="reportline-alerts", daemon=True
        ).start()
    where: dict[str, Any] = {"sockets": [listener]} if listener else {"host": host, "port": port}
    pages = web_server.ErrorPages(app, settings)
    web_server.create_server(
        app, pages, threads=threads, **where, **waitress_options(settings)
    ).run()


RESTART_PAUSE_SECONDS = 1.0


def _serve_processes(app: Flask, host: str, port: int, threads: int, processes: int) -> None:
    """Several waitress processes accepting on one listening socket.

    One process runs Python on one core at a time (the GIL), so a busy officer page
    takes its time from the reporters' submissions; with a process per core it takes
    it from a core that would otherwise wait (docs/performance.md). Each worker
    forks from this process, which holds no thread and no database connection it
    could share; only the first runs the housekeeping and the alerts. A worker that dies is started
    again; SIGTERM or SIGINT stops them all.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=1024)
    logger = logging.getLogger("reportline.serve")
    workers: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def start(number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            app.extensions["reportline.engine"].dispose(close=False)
            try:
                _serve(app, host, port, threads, listener, background=number == 0)
            finally:
                os._exit(0)
        workers[pid] = number

    def stop(_signal: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for number in range(processes):
        start(number)
    while workers:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in workers:
            continue
        number = workers.pop(pid)
        if not stopping:
            logger.error("Worker %d stopped (wait status %d); starting it again", number, status)
            time.sleep(RESTART_PAUSE_SECONDS)
            if not stopping:
                start(number)
    listener.close()


HOUSEKEEPING_EVERY_SECONDS = 60


def _housekeeping(settings: Settings) -> None:
    """What `reportline purge` does, once a minute, for as long as the server runs;
    rounds for kept receipts at their own, random pace (`maintenance.ReceiptRounds`)."""
    logger = logging.getLogger("reportline.housekeeping")
    rounds = maintenance.ReceiptRounds(settings.receipt_keep_minutes)
    while True:
        time.sleep(HOUSEKEEPING_EVERY_SECONDS)
        try:
            with instance.database_session(settings) as session:
                maintenance.purge_expired(session, utcnow(), settings, rounds.due())
                session.commit()
        except Exception as exc:  # keep serving; say what failed, never with what data
            logger.error("Housekeeping failed: %s", type(exc).__name__)


# The alert thread wakes a little after each minute begins, so a batch goes within
# seconds of its slot.
NOTIFY_OFFSET_SECONDS = 2


def _notify_each_minute(settings: Settings) -> None:
    """What `reportline notify` does, at the start of every minute, for as long as the
    server runs (`notify_in_process`). Other servers may do the same: each batch is
    made once and each alert sent once (services.alerts)."""
    while True:
        time.sleep(60 - time.time() % 60 + NOTIFY_OFFSET_SECONDS)
        _notify_once(settings)


def _notify_once(settings: Settings) -> None:
    """One round of the alert thread; a failure is logged by its type, and it goes on."""
    try:
        with instance.database_session(settings) as session:
            alerts.run(session, settings, utcnow(), alerts.ACTOR)
    except Exception as exc:  # keep serving; say what failed, never with what data
        logging.getLogger("reportline.alerts").error("Alerts failed: %s", type(exc).__name__)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def demo(host: str, port: int) -> None:
    """Start a throw-away demo instance, a unit with a dozen sample cases, and serve it."""
    # Nothing from a real deployment's environment (its database URL above all) may
    # reach the demo: it lives in its own folder, on SQLite, and goes with it.
    for name in [name for name in os.environ if name.startswith("REPORTLINE_")]:
        del os.environ[name]
    instance = Path(tempfile.mkdtemp(prefix="reportline-demo-"))
    os.environ["REPORTLINE_INSTANCE"] = str(instance)
    # Stopped by a signal as well as by Ctrl+C, the demo still removes its instance.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        password = " ".join(secrets.choice(wordlist()) for _ in range(5))
        _write_new_config(instance)
        with (instance / CONFIG_FILE_NAME).open("a", encoding="utf-8") as config:
            config.write(DEMO_ARGON2)
        settings = _settings(instance)
        _upgrade(settings)
        now = utcnow()
        # The unit was set up before its oldest sample case arrived.
        result = _initialise(
            settings, DEMO_EMAIL, password, instance / "recovery-key.txt", now - demo_unit.HISTORY
        )
        settings = _settings(instance)  # with the unit key's pin that init wrote
        made = _populate_demo(settings, result, now)
        click.echo(f"Demo instance (throw-away): {instance}")
        click.echo(f"Sign in at http://{host}:{port}/triage/login as the demo supervisor:")
        click.echo(f"E-mail:   {DEMO_EMAIL}")
        click.echo(f"Password: {password}")
        _print_enrolment(result.supervisor, show_qr=True)
        click.echo(
            f"\nThe queue holds {made.cases} sample cases, worked by the supervisor and "
            f"{len(made.officers)} officers. To sign in as one of them, type their "
            "authenticator key into the app:"
        )
        for officer in made.officers:
            click.echo(f"E-mail:   {officer.email}")
            click.echo(f"Password: {officer.password}")
            click.echo(f"Authenticator key: {officer.totp_seed}")
        click.echo(f"\nReporters start at http://{host}:{port}/")
        click.echo(f"ReportLine is serving on http://{host}:{port} (press Ctrl+C to stop)")
        _serve(_app_or_exit(), host, port, 8)
    finally:
        shutil.rmtree(instance, ignore_errors=True)  # throw-away: nothing outlives the demo


def _populate_demo(
    settings: Settings, result: setup.InitialisedInstance, now: datetime
) -> demo_unit.DemoUnit:
    """Add the demo officers and sample cases (the unit key opened with the recovery key)."""
    with instance.database_session(settings) as session:
        supervisor = officers.get_officer(session, result.supervisor.officer.id)
        unit_keys = keyring.unlock_with_recovery_key(session, result.recovery_key)
        made = demo_unit.populate(session, settings, supervisor, unit_keys, now)
        session.commit()
    return made


@main.command()
@click.option(
    "--recovery-key-file",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The recovery key written by `init`.",
)
@click.option(
    "--grant-to",
    "email",
    required=True,
    help="An officer (with a password) to give the unit key to.",
)
@click.option(
    "--fingerprint",
    help="A supervisor's key fingerprint, read from their account page: they are also "
    "given the exclusion key.",
)
def recover(recovery_key_file: Path, email: str, fingerprint: str | None) -> None:
    """Give an officer the unit key using the offline recovery key.

    For when no officer who holds the key can sign in (forgotten passwords,
    everyone left): add a supervisor with `officer add`, then run this.
    """
    settings = _settings(_instance_path())
    with instance.database_session(settings) as session:
        try:
            recovery_private = parse_recovery_key(recovery_key_file.read_text("utf-8"))
            officer = keyring.grant_with_recovery_key(
                session, recovery_private, email, utcnow(), instance.integrity_key(settings)
            )
            excluded = exclusion_keys.grant_with_recovery_key(
                session, recovery_private, officer, utcnow(), fingerprint
            )
            # Restricted cases no supervisor can read any more are opened through their
            # recovery seal and sealed to this officer (a supervisor) as well.
            recovered = restriction.recover_unread(
                session,
                keyring.unlock_with_recovery_key(session, recovery_private),
                officer,
                utcnow(),
            )
        except (DecryptionError, ServiceError) as exc:
            raise click.ClickException(str(exc).capitalize() + ".") from exc
        session.commit()
    click.echo(f"{officer.email} now holds the unit key and can read every unrestricted report.")
    if excluded:
        click.echo("As a supervisor, they also hold the exclusion key.")
    if recovered:
        click.echo(
            f"{recovered} restricted case{'s' if recovered != 1 else ''} that no supervisor "
            f"could read {'are' if recovered != 1 else 'is'} now sealed to them too."
        )


main.add_command(keys)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration not yet applied (and start the queue ledger if new)."""
    settings = _settings(_instance_path())
    before = current_revision(settings.database_url)
    _upgrade(settings)
    with instance.database_session(settings) as session:
        started = queue.start_ledger_if_missing(session, "cli", utcnow())
        authenticated = (
            roles.authenticate_existing_roles(session, utcnow())
            if applies(before, roles.ROLE_MAC_REVISION)
            else []
        )
        if applies(before, keyring.GRANT_MAC_REVISION):
            keyring.authenticate_existing_grants(session)
        session.commit()
    click.echo("Database schema is up to date.")
    if started:
        click.echo("The queue ledger now counts the cases that need attention.")
    if authenticated:
        click.echo("Officers' roles now carry a MAC. Check that each is right; if not, fix it")
        click.echo("with `reportline officer role EMAIL --role ROLE`:")
        for member in authenticated:
            click.echo(f"  {member.email}: {member.role}")


@main.group("audit")
def audit_group() -> None:
    """The officers' audit log."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 if any entry was altered or removed."""
    settings = _settings(_instance_path())
    with instance.database_session(settings) as session:
        broken = audit.verify_chain(session)
    if broken:
        click.echo(f"Audit log damaged at entries: {', '.join(map(str, broken))}", err=True)
        sys.exit(1)
    click.echo("Audit log intact.")


@main.command()
def purge() -> None:
    """Delete expired sessions, counters, spent form values and unsent uploads, and run a
    round for the receipts kept for repeated forms and for orphaned evidence chunks
    (from cron every `receipt_keep_minutes`)."""
    settings = _settings(_instance_path())
    with instance.database_session(settings) as session:
        maintenance.purge_expired(session, utcnow(), settings)
        session.commit()
    click.echo(
        "Expired sessions, counters, spent form values and unsent uploads removed; "
        "kept receipts aged; orphaned evidence chunks swept."
    )


OFF_SCHEDULE_WARNING = (
    "WARNING: sending off-schedule. Alerts normally go only at fixed times, so that a mail's\n"
    "time says nothing about when a report arrived; mail sent now tells anyone who sees it\n"
    "(mail servers, phones, archives) that a report or reply arrived before this minute."
)


@main.command()
@click.option(
    "--now",
    "off_schedule",
    is_flag=True,
    help="Send everything pending at once, whatever the schedule (reveals timing).",
)
def notify(off_schedule: bool) -> None:
    """Send the e-mail alerts that are due now, then exit (from cron, every minute).

    Two servers may both run it: each batch is made once and each alert sent once.
    """
    settings = _settings(_instance_path())
    if not settings.mail_configured:
        click.echo("Alerts are off: smtp_host is not set.")
        return
    if off_schedule:
        click.secho(OFF_SCHEDULE_WARNING, fg="yellow", err=True)
    with instance.database_session(settings) as session:
        summary = alerts.run(session, settings, utcnow(), alerts.ACTOR, off_schedule)
    sent = sum(summary.sent.values())
    failed = sum(summary.failed.values())
    click.echo(f"Alerts sent: {sent}; failed: {failed}.")
    if failed:
        raise click.ClickException(
            f"{failed} alert(s) could not be sent ({summary.failure}); they wait for the "
            "next run. See /triage/admin/mail."
        )


if __name__ == "__main__":
    main()
