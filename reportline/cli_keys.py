"""`reportline keys`: rotate the unit key, check or replace the recovery key, make or
rotate the exclusion key, list keys.

The procedures that use them are in docs/operating.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType

import click
from sqlalchemy.orm import Session

from reportline import utcnow
from reportline.config import Settings
from reportline.crypto.errors import DecryptionError
from reportline.models import Officer
from reportline.services import (
    exclusion_keys,
    exclusion_rotation,
    instance,
    key_inventory,
    keyring,
    recovery,
    rotation,
)
from reportline.services.errors import ServiceError
from reportline.services.keyring import UnitKeyring, format_recovery_key, parse_recovery_key


@click.group()
def keys() -> None:
    """The unit key and the recovery key."""


def _cli() -> tuple[Callable[[Path], Settings], Path]:
    # The instance helpers live in reportline.cli, which imports this module.
    from reportline import cli

    return cli._settings, cli._instance_path()


@contextmanager
def _rotation_lock(session: Session, busy: str | None = None) -> Iterator[None]:
    """Hold the rotation lock (one rotation or recovery-key change at a time); `busy`
    says why it is refused if taken."""
    lock = rotation.RotationLock(session.get_bind().engine)
    try:
        lock.acquire()
    except ServiceError as exc:
        raise _refused(rotation.RotationRunning(busy) if busy else exc) from exc
    try:
        yield
    finally:
        lock.release()


def _refused(exc: Exception) -> click.ClickException:
    message = str(exc)
    return click.ClickException(message[:1].upper() + message[1:].rstrip(".") + ".")


def _read_recovery_key(path: Path) -> keyring.PrivateKey:
    try:
        return parse_recovery_key(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"Cannot read {path}: {exc}.") from exc
    except DecryptionError as exc:
        raise _refused(exc) from exc


RECOVERY_FILE = click.option(
    "--recovery-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The offline recovery key file.",
)


@keys.command("rotate")
@RECOVERY_FILE
@click.option(
    "--email",
    help="A supervisor's e-mail address; their password, then a current code, on stdin.",
)
@click.option(
    "--no-retire",
    is_flag=True,
    help="Re-seal every case but keep the old key open (several servers: docs/operating.md).",
)
def rotate(recovery_key_file: Path | None, email: str | None, no_retire: bool) -> None:
    """Make a new unit key for the same holders, re-seal every case to it, retire the old.

    Run it again to resume after an interruption; a second one at once is refused.
    """
    if (recovery_key_file is None) == (email is None):
        raise click.UsageError("Give either --recovery-key-file or --email.")
    make_settings, path = _cli()
    settings = make_settings(path)
    with instance.database_session(settings) as session, _rotation_lock(session):
        try:
            opener, actor = _unit_keys_opener(session, settings, recovery_key_file, email)
            state = _run(session, settings, path, opener, actor, not no_retire)
        except (ServiceError, DecryptionError) as exc:
            raise _refused(exc) from exc
    if state.finished:
        click.echo(f"Unit key rotated: reports are now sealed to {state.to_fingerprint}.")
    else:
        click.echo(
            f"Every case is sealed to {state.to_fingerprint}; {state.from_fingerprint} is "
            "still open. Pin the new key on every server, then run `keys rotate` again."
        )


def _unit_keys_opener(
    session: Session, settings: Settings, recovery_key_file: Path | None, email: str | None
) -> tuple[Callable[[], UnitKeyring], str]:
    """A function opening the unit keys afresh (a rotation adds one), and the actor."""
    if recovery_key_file is not None:
        recovery_private = _read_recovery_key(recovery_key_file)
        return lambda: keyring.unlock_with_recovery_key(session, recovery_private), "cli"
    officer, private_key = _supervisor_key(session, settings, email)
    return lambda: keyring.unlock_unit_keys(session, officer.id, private_key), officer.email


def _supervisor_key(
    session: Session, settings: Settings, email: str | None
) -> tuple[Officer, keyring.PrivateKey]:
    """A supervisor's private key, opened with their password and then a current code read
    from standard input (prompted for, unechoed, at a terminal); the code is spent."""
    if sys.stdin.isatty():  # typed: never echoed
        password = click.prompt("Password", hide_input=True)
        code = click.prompt("Authenticator code")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
        code = sys.stdin.readline().strip()
    assert email is not None
    officer, private_key = rotation.supervisor_key(
        session, email, password, code, utcnow(), instance.integrity_key(settings)
    )
    session.commit()  # the code is spent
    return officer, private_key


def _run(
    session: Session,
    settings: Settings,
    path: Path,
    opener: Callable[[], UnitKeyring],
    actor: str,
    retire_old: bool,
) -> rotation.Progress:

    with click.progressbar(length=1, label="Re-sealing cases", file=sys.stderr) as bar:
        shown = 0

        def on_step(step: str, progress: rotation.Progress) -> None:
            nonlocal shown
            if step == rotation.PINNED:
                click.echo(f"\nNew unit key {progress.to_fingerprint} pinned.", err=True)
            bar.length = max(progress.total, 1)
            bar.update(progress.moved - shown)
            shown = progress.moved

        return rotation.Rotator(
            session,
            opener,
            actor,
            utcnow,
            instance.integrity_key(settings),
            path,
            on_step,
            retire_old,
        ).run()


@keys.command("verify-recovery")
@click.option(
    "--recovery-key-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The offline recovery key file to check.",
)
def verify_recovery(recovery_key_file: Path) -> None:
    """Check that a recovery key file opens this instance's unit key; change nothing else."""
    make_settings, path = _cli()
    settings = make_settings(path)
    recovery_private = _read_recovery_key(recovery_key_file)
    with instance.database_session(settings) as session:
        try:
            pins = instance.read_pins(path)
            verified = recovery.verify(session, recovery_private, utcnow(), pins)
        except (ServiceError, DecryptionError) as exc:
            raise _refused(exc) from exc
        if pins.recovery is None:
            # An instance set up before the pin: the offline file, which opens the
            # pinned unit key, is the trusted source of it.
            instance.pin_recovery_key(
                path, instance.recovery_pin(recovery_private.public_key().raw)
            )
        session.commit()
    click.echo(
        f"Recovery key {verified.fingerprint} opens the unit key ({verified.verified_at:%Y-%m-%d})."
    )
    if pins.recovery is None:
        click.echo("It is now pinned in the instance config (recovery_key_sha256).")


@keys.command("new-recovery")
@click.option(
    "--recovery-key-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The current recovery key file.",
)
@click.option(
    "--new-recovery-key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new one (a new file, mode 0600).",
)
def new_recovery(recovery_key_file: Path, new_recovery_key_file: Path) -> None:
    """Replace the recovery key: the new one opens everything, the old one nothing new."""
    from reportline import cli

    make_settings, path = _cli()
    settings = make_settings(path)
    old_private = _read_recovery_key(recovery_key_file)
    # Never during a rotation: it would seal the new unit key to the old recovery key.
    with instance.database_session(settings) as session, _rotation_lock(session):
        new_private = _replace_recovery_key(session, path, old_private, new_recovery_key_file, cli)
    fingerprint = new_private.public_key().fingerprint
    click.echo(f"New recovery key {fingerprint} written to {new_recovery_key_file}.")
    click.secho(
        "Move it offline now and delete the file. Keep the old key as long as backups "
        "made before today are kept: only it opens them.",
        fg="red",
        err=True,
    )


def _replace_recovery_key(
    session: Session, path: Path, old_private: keyring.PrivateKey, new_file: Path, cli: ModuleType
) -> keyring.PrivateKey:
    pins = instance.read_pins(path)
    try:
        if rotation.running(session) is not None:
            raise rotation.RotationRunning(
                "a unit key rotation is unfinished: finish it (`reportline keys rotate`) first"
            )
        new_private = recovery.replace(
            session, old_private, utcnow(), pins.recovery, pins.exclusion
        )
    except (ServiceError, DecryptionError) as exc:
        raise _refused(exc) from exc
    # The file and the pin are written before the commit and undone if it fails: the
    # other way round a committed key could be lost.
    cli._write_recovery_key(new_file, format_recovery_key(new_private))
    try:
        instance.pin_recovery_key(path, instance.recovery_pin(new_private.public_key().raw))
        session.commit()
    except Exception:
        instance.pin_recovery_key(path, pins.recovery)
        new_file.unlink(missing_ok=True)
        raise
    return new_private


@keys.command("init-exclusion")
@click.option(
    "--fingerprint",
    "fingerprints",
    multiple=True,
    metavar="EMAIL=FINGERPRINT",
    help="Each holder's key fingerprint, read from their account page (run without it "
    "to list them).",
)
def init_exclusion(fingerprints: tuple[str, ...]) -> None:
    """Make the exclusion group's key on an instance set up before it: sealed to every
    supervisor who holds the unit key, whose fingerprint is given, and to the pinned
    recovery key, then pinned."""
    typed = {}
    for item in fingerprints:
        email, _, fingerprint = item.partition("=")
        typed[email.strip().lower()] = fingerprint
    make_settings, path = _cli()
    settings = make_settings(path)
    with instance.database_session(settings) as session, _rotation_lock(session):
        pins = instance.read_pins(path)
        try:
            made = exclusion_keys.initialise(session, utcnow(), pins.recovery, typed)
        except ServiceError as exc:
            raise _refused(exc) from exc
        # The pin is written before the commit and put back if it fails: the other way
        # round a committed key would have no pin.
        instance.pin_exclusion_key(path, made.fingerprint)
        try:
            session.commit()
        except Exception:
            instance.pin_exclusion_key(path, pins.exclusion)
            raise
    click.echo(f"Exclusion key {made.fingerprint} made and pinned (exclusion_key_fingerprint).")
    click.echo(f"Held by {', '.join(made.holders)} and the recovery key.")


@keys.command("rotate-exclusion")
@RECOVERY_FILE
@click.option(
    "--email",
    help="A supervisor's e-mail address; their password, then a current code, on stdin.",
)
def rotate_exclusion(recovery_key_file: Path | None, email: str | None) -> None:
    """Make a new exclusion key for the members who hold the current one and the recovery
    key, re-seal every report with an exclusion to it, retire the old, pin the new.

    One transaction: interrupted, nothing changed. Refused while a key rotation runs.
    """
    if (recovery_key_file is None) == (email is None):
        raise click.UsageError("Give either --recovery-key-file or --email.")
    make_settings, path = _cli()
    settings = make_settings(path)
    with (
        instance.database_session(settings) as session,
        _rotation_lock(session, exclusion_rotation.BUSY),
    ):
        try:
            if recovery_key_file is not None:
                recovery_private = _read_recovery_key(recovery_key_file)
                opened = keyring.unlock_group_keys_with_recovery_key(session, recovery_private)
                actor = "cli"
            else:
                officer, private_key = _supervisor_key(session, settings, email)
                opened = keyring.unlock_group_keys(session, officer.id, private_key)
                actor = officer.email
            done = exclusion_rotation.rotate_and_pin(session, opened, actor, utcnow(), path)
        except (ServiceError, DecryptionError) as exc:
            raise _refused(exc) from exc
    click.echo(
        f"Exclusion key rotated: reports with an exclusion are now sealed to "
        f"{done.to_fingerprint} (exclusion_key_fingerprint); {done.resealed} re-sealed."
    )
    click.echo(f"Held by {', '.join(done.holders) or 'no supervisor'} and the recovery key.")
    for warning in exclusion_rotation.warnings(done):
        click.echo(f"Warning: {warning}", err=True)


@keys.command("status")
def status() -> None:
    """The unit and exclusion keys' fingerprints, ages and holders, and the recovery key."""
    make_settings, path = _cli()
    settings = make_settings(path)
    with instance.database_session(settings) as session:
        found = key_inventory.inventory(session)
    click.echo(describe(found, utcnow()))


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "never"


def describe(found: key_inventory.Inventory, now: datetime) -> str:
    """The inventory as text."""
    lines = []
    for key in found.unit_keys:
        state = "active" if key.active else f"retired {_day(key.retired_at)}"
        age = (now - key.created_at).days
        lines.append(
            f"Unit key {key.fingerprint}: {state}, made {_day(key.created_at)} ({age} days)"
        )
        holders = ", ".join(key.holders) or "no active officer"
        recovery_note = " and the recovery key" if key.recovery_holds else ""
        lines.append(f"  held by {holders}{recovery_note}")
        lines.append(f"  cases sealed to it: {key.cases}")
    lines.append(f"Cases still under a retired key: {found.under_retired_keys}")
    for group_key in found.exclusion_keys:
        state = f"retired {_day(group_key.retired_at)}" if group_key.retired_at else "current"
        age = (now - group_key.created_at).days
        lines.append(
            f"Exclusion key {group_key.fingerprint}: {state}, made "
            f"{_day(group_key.created_at)} ({age} days)"
        )
        holders = ", ".join(group_key.holders) or "no active supervisor"
        recovery_note = " and the recovery key" if group_key.recovery_holds else ""
        lines.append(f"  held by {holders}{recovery_note}")
        lines.append(f"  cases sealed to it: {group_key.cases}")
    if found.exclusion_keys:
        lines.append(
            f"Cases still under a retired exclusion key: {found.under_retired_exclusion_keys}"
        )
    else:
        lines.append("No exclusion key: run `reportline keys init-exclusion`")
    if found.rotation is not None:
        progress = found.rotation
        lines.append(
            f"Rotation to {progress.to_fingerprint} unfinished: {progress.moved} of "
            f"{progress.total} cases re-sealed (run `reportline keys rotate` to resume)"
        )
    for held in found.recovery_keys:
        state = f"replaced {_day(held.retired_at)}" if held.retired_at else "current"
        lines.append(
            f"Recovery key {held.fingerprint}: {state}, made {_day(held.created_at)}, "
            f"last verified {_day(held.verified_at)}"
        )
    lines.append(f"Restricted cases: {len(found.restricted)}")
    for case in found.restricted:
        readers = (
            "the exclusion group"
            if case.access == "pending"
            else f"{', '.join(case.readers) or 'nobody'} and the recovery key"
        )
        lines.append(f"  {case.reference} ({case.access}): readable by {readers}")
        if case.waiting:
            lines.append(f"    waiting for a re-seal: {', '.join(case.waiting)}")
    lines.append(
        f"Restricted cases waiting for a re-seal after a password reset: {len(found.waiting)}"
    )
    for waiting in found.waiting:
        lines.append(
            f"  {waiting.reference} to {waiting.email} (since {waiting.since}): a supervisor "
            "re-seals it on the keys page"
        )
    return "\n".join(lines)
