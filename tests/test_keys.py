"""`reportline keys`: rotating the unit key (also killed with SIGKILL and resumed),
checking and replacing the recovery key, and the inventory; on every backend."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from reportline import utcnow
from reportline.cli import main
from reportline.crypto import keys as crypto_keys
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, PublicKey, generate_private_key, open_sealed
from reportline.models import (
    AuditEntry,
    Case,
    CaseSeal,
    ExclusionKey,
    ExclusionKeyGrant,
    KeyRotation,
    Officer,
    RecoveryKey,
    UnitKey,
    UnitKeyGrant,
)
from reportline.services import (
    cases,
    exclusion_keys,
    instance,
    keyring,
    passwords,
    rotation,
    submissions,
)
from reportline.services.errors import NoKeyAccess, SetupError
from reportline.services.form_tickets import FormTicket
from reportline.services.keyring import UnitKeyring, format_recovery_key
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    add_reader,
    opens_any_case,
    plant_unit_key,
    restrict_case,
    submit_report,
    unlock_officer_key,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGURED = (
    "database_url",
    "secret_key",
    "receipt_pepper",
    "argon2_time_cost",
    "argon2_memory_cost_kib",
    "argon2_parallelism",
    "min_form_seconds",
)


@pytest.fixture
def keyed(
    app: Flask,
    app_settings: dict[str, Any],
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    reporter: FlaskClient,
    instance_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """A unit with a reader, a revoked officer, five reports, the instance config the
    command reads (which the app also reads for its pin) and the recovery key file."""
    reader = add_reader(db, clock, unit, "reader@unit.example")
    revoked = add_reader(db, clock, unit, "revoked@unit.example")
    old_copy = keyring.unlock_unit_keys(
        db, revoked.officer_id, unlock_officer_key(db, revoked)
    )  # what the revoked officer may have kept
    row = db.get(Officer, revoked.officer_id)
    assert row is not None
    keyring.revoke_unit_key(db, row)
    db.commit()
    for number in range(5):
        submit_report(reporter, what_happened=f"report {number}")
    lines = [f"{name} = {json.dumps(app_settings[name])}" for name in CONFIGURED]
    lines.append(f'unit_key_fingerprint = "{app_settings["unit_key_fingerprint"]}"')
    recovery_public = app.extensions["test.recovery_key"].public_key().raw
    lines.append(f'recovery_key_sha256 = "{instance.recovery_pin(recovery_public)}"')
    (instance_path / "config.toml").write_text("\n".join(lines) + "\n")
    key_file = instance_path.parent / "recovery.txt"
    key_file.write_text(format_recovery_key(app.extensions["test.recovery_key"]))
    monkeypatch.setenv("REPORTLINE_INSTANCE", str(instance_path))
    return {"reader": reader, "old_copy": old_copy, "key_file": key_file}


def _keyrings(db: Session, app: Flask, *officers: Enrolled) -> dict[str, UnitKeyring]:
    opened = {
        who.email: keyring.unlock_unit_keys(db, who.officer_id, unlock_officer_key(db, who))
        for who in officers
    }
    opened["recovery"] = keyring.unlock_with_recovery_key(db, app.extensions["test.recovery_key"])
    return opened


def _every_report_opens_for(db: Session, keyrings: dict[str, UnitKeyring]) -> int:
    db.expire_all()
    found = db.scalars(select(Case)).all()
    for case in found:
        for who, unit_keys in keyrings.items():
            secret = cases.open_case_secret(case, unit_keys)
            assert cases.open_report(secret, case)["what_happened"].startswith("report"), who
    return len(found)


def _rotate(*arguments: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["keys", "rotate", *arguments], input=stdin)


def _pinned(instance_path: Path) -> str:
    pin = tomllib.loads((instance_path / "config.toml").read_text())["unit_key_fingerprint"]
    return str(pin)


def _finished_properly(
    db: Session, app: Flask, keyed: dict[str, Any], unit: Enrolled, instance_path: Path
) -> None:
    """After a rotation: every case sealed to the new key alone, the old retired, the
    new one pinned, every report open to every holder and none to the revoked copy."""
    db.expire_all()
    old, new = db.scalars(select(UnitKey).order_by(UnitKey.id)).all()
    assert not old.active and old.retired_at is not None and new.active
    assert _pinned(instance_path) == new.fingerprint
    holders = {s.holder_id for s in db.scalars(select(CaseSeal))}
    assert holders == {new.id}
    assert _every_report_opens_for(db, _keyrings(db, app, unit, keyed["reader"])) >= 5
    old_copy: UnitKeyring = keyed["old_copy"]
    for seal in db.scalars(select(CaseSeal)):
        with pytest.raises(DecryptionError):
            open_sealed(
                seal.sealed, old_copy.keys[old.id], cases.grant_context(seal.case_id, new.id)
            )
    assert db.scalars(select(KeyRotation.finished_at)).one() is not None


def test_a_rotation_reseals_every_report_to_a_new_key_its_holders_and_the_recovery_key_open(
    app: Flask,
    keyed: dict[str, Any],
    unit: Enrolled,
    db: Session,
    instance_path: Path,
    reporter: FlaskClient,
) -> None:
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    assert "Unit key rotated" in result.output
    # The running app read the new pin from its config: the next report goes to the new key.
    submit_report(reporter, what_happened="report after the rotation")
    _finished_properly(db, app, keyed, unit, instance_path)
    revoked = db.scalars(select(Officer).where(Officer.email == "revoked@unit.example")).one()
    with pytest.raises(NoKeyAccess):
        keyring.unlock_unit_keys(db, revoked.id, generate_private_key())
    actions = db.scalars(select(AuditEntry.action)).all()
    assert "unit_key.rotation_started" in actions and "unit_key.rotated" in actions


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("started", 1),
        ("pinned", 1),
        ("sealing", 3),
        ("writing", 2),
        ("batch", 2),
        ("retired", 1),
    ],
)
def test_a_rotation_killed_at_any_point_leaves_every_report_readable_and_resumes(
    app: Flask,
    keyed: dict[str, Any],
    unit: Enrolled,
    db: Session,
    instance_path: Path,
    reporter: FlaskClient,
    point: str,
    nth: int,
) -> None:
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.rotation_worker",
            str(instance_path),
            str(keyed["key_file"]),
            point,
            str(nth),
        ],
        cwd=ROOT,
        env={**os.environ, "REPORTLINE_INSTANCE": str(instance_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == -9, worker.stderr
    # Killed: every report still opens for every officer entitled to it, and reports
    # still arrive (sealed to whichever key the config pins now).
    everyone = _keyrings(db, app, unit, keyed["reader"])
    assert _every_report_opens_for(db, everyone) == 5
    submit_report(reporter, what_happened="report while interrupted")
    assert _every_report_opens_for(db, _keyrings(db, app, unit, keyed["reader"])) == 6
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    _finished_properly(db, app, keyed, unit, instance_path)


def test_a_second_rotation_while_one_runs_is_refused_and_changes_nothing(
    app: Flask, keyed: dict[str, Any], db: Session
) -> None:
    lock = rotation.RotationLock(db.get_bind().engine)
    lock.acquire()
    try:
        result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "Another rotation of the unit key is running." in result.output
    assert len(db.scalars(select(UnitKey)).all()) == 1


def test_a_supervisor_rotates_with_password_and_code_and_a_wrong_code_changes_nothing(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    wrong = _rotate("--email", unit.email, stdin=f"{unit.password}\n000000\n")
    assert wrong.exit_code == 1
    assert "not accepted" in wrong.output
    assert len(db.scalars(select(UnitKey)).all()) == 1
    code = pyotp.TOTP(unit.totp_seed).now()
    result = _rotate("--email", unit.email, stdin=f"{unit.password}\n{code}\n")
    assert result.exit_code == 0, result.output
    _finished_properly(db, app, keyed, unit, instance_path)
    officer_only = _rotate("--email", keyed["reader"].email, stdin="x\n1\n")
    assert officer_only.exit_code == 1


def test_a_role_promoted_in_the_database_alone_cannot_rotate(
    keyed: dict[str, Any], unit: Enrolled, db: Session
) -> None:
    reader = keyed["reader"]
    real_mac = db.scalar(select(Officer.role_mac).where(Officer.id == unit.officer_id))
    db.execute(
        update(Officer)
        .where(Officer.id == reader.officer_id)
        .values(role="supervisor", role_mac=real_mac)
    )
    code = pyotp.TOTP(reader.totp_seed).now()
    result = _rotate("--email", reader.email, stdin=f"{reader.password}\n{code}\n")
    assert result.exit_code == 1 and "not accepted" in result.output
    assert len(db.scalars(select(UnitKey)).all()) == 1


def test_a_rotation_without_retiring_keeps_the_old_key_open_until_run_again(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    first = _rotate("--recovery-key-file", str(keyed["key_file"]), "--no-retire")
    assert first.exit_code == 0, first.output
    assert "still open" in first.output
    assert all(key.active for key in db.scalars(select(UnitKey)))
    status = CliRunner().invoke(main, ["keys", "status"])
    assert "unfinished: 5 of 5 cases re-sealed" in status.output
    again = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert again.exit_code == 0, again.output
    _finished_properly(db, app, keyed, unit, instance_path)


def test_keys_status_lists_each_key_its_holders_and_the_recovery_key(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session
) -> None:
    before = CliRunner().invoke(main, ["keys", "status"])
    assert before.exit_code == 0, before.output
    fingerprint = db.scalars(select(UnitKey.fingerprint)).one()
    assert f"Unit key {fingerprint}: active" in before.output
    assert f"held by reader@unit.example, {unit.email} and the recovery key" in before.output
    assert "revoked@" not in before.output
    assert "cases sealed to it: 5" in before.output
    assert "Cases still under a retired key: 0" in before.output
    assert "last verified never" in before.output
    _rotate("--recovery-key-file", str(keyed["key_file"]))
    after = CliRunner().invoke(main, ["keys", "status"]).output
    assert f"Unit key {fingerprint}: retired" in after
    assert "Cases still under a retired key: 0" in after


def test_verify_recovery_checks_the_file_and_records_when(
    app: Flask, keyed: dict[str, Any], db: Session, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["keys", "verify-recovery", "--recovery-key-file", str(keyed["key_file"])]
    )
    assert result.exit_code == 0, result.output
    fingerprint = app.extensions["test.recovery_key"].public_key().fingerprint
    assert f"Recovery key {fingerprint} opens the unit key" in result.output
    assert "recovery_key.verified" in db.scalars(select(AuditEntry.action)).all()
    assert "last verified never" not in CliRunner().invoke(main, ["keys", "status"]).output
    stranger = tmp_path / "other-instance.txt"
    stranger.write_text(format_recovery_key(generate_private_key()))
    damaged = tmp_path / "damaged.txt"
    damaged.write_text(keyed["key_file"].read_text().replace("A", "B", 3))
    for path, message in (
        (stranger, "This recovery key does not belong to this instance."),
        (damaged, "The recovery key file is damaged (checksum mismatch)."),
    ):
        refused = CliRunner().invoke(
            main, ["keys", "verify-recovery", "--recovery-key-file", str(path)]
        )
        assert refused.exit_code == 1
        assert refused.output.strip() == f"Error: {message}"


def test_a_new_recovery_key_opens_everything_and_the_old_one_nothing_new(
    app: Flask,
    keyed: dict[str, Any],
    unit: Enrolled,
    db: Session,
    instance_path: Path,
    reporter: FlaskClient,
    tmp_path: Path,
) -> None:
    new_file = tmp_path / "new-recovery.txt"
    arguments = ["keys", "new-recovery", "--recovery-key-file", str(keyed["key_file"])]
    result = CliRunner().invoke(main, [*arguments, "--new-recovery-key-file", str(new_file)])
    assert result.exit_code == 0, result.output
    assert new_file.stat().st_mode & 0o777 == 0o600
    new_key = keyring.parse_recovery_key(new_file.read_text())
    old_key: PrivateKey = app.extensions["test.recovery_key"]
    with pytest.raises(NoKeyAccess):
        keyring.unlock_with_recovery_key(db, old_key)
    rotated = _rotate("--recovery-key-file", str(new_file))
    assert rotated.exit_code == 0, rotated.output
    submit_report(reporter, what_happened="report after the new recovery key")
    assert _every_report_opens_for(db, {"new": keyring.unlock_with_recovery_key(db, new_key)}) == 6
    old_used = CliRunner().invoke(
        main, ["keys", "verify-recovery", "--recovery-key-file", str(keyed["key_file"])]
    )
    assert old_used.exit_code == 1 and "was replaced on" in old_used.output
    # Written once: an existing file is never overwritten, and nothing changes.
    again = CliRunner().invoke(
        main,
        [
            "keys",
            "new-recovery",
            "--recovery-key-file",
            str(new_file),
            "--new-recovery-key-file",
            str(new_file),
        ],
    )
    assert again.exit_code == 1 and "Cannot write the recovery key" in again.output
    assert keyring.unlock_with_recovery_key(db, new_key).keys


def test_a_report_that_waited_for_the_retirement_goes_to_the_new_key(
    app: Flask,
    keyed: dict[str, Any],
    db: Session,
    instance_path: Path,
    reporter: FlaskClient,
) -> None:
    """A server that looked at its config just before the rotation rewrote it (its
    report then waited for the rotation's last write) reads it again, not refuses."""
    config = instance_path / "config.toml"
    before = config.stat()
    submit_report(reporter, what_happened="report that has the app look at its config")
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    submit_report(reporter, what_happened="report as the old key retired")
    new = db.scalars(select(UnitKey).where(UnitKey.active.is_(True))).one()
    db.expire_all()
    holders = {seal.holder_id for case in db.scalars(select(Case)) for seal in case.seals}
    assert holders == {new.id}


def _run_worker(instance_path: Path, key_file: Path, point: str, nth: int) -> None:
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.rotation_worker",
            *(str(instance_path), str(key_file), point, str(nth)),
        ],
        cwd=ROOT,
        env={**os.environ, "REPORTLINE_INSTANCE": str(instance_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == -9, worker.stderr


def test_a_rotation_planted_in_the_database_is_not_resumed_and_its_key_never_pinned(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    pin = _pinned(instance_path)
    current = db.scalars(select(UnitKey.id).where(UnitKey.fingerprint == pin)).one()
    _planted, attacker = plant_unit_key(db, rotating_from=current)
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 1
    assert "The instance config does not know this unfinished rotation" in result.output
    assert _pinned(instance_path) == pin
    assert not opens_any_case(db, attacker)
    assert _every_report_opens_for(db, _keyrings(db, app, unit, keyed["reader"])) == 5


@pytest.mark.parametrize("swapped", ["grant", "grant and public key"])
def test_a_new_key_swapped_before_a_resume_is_refused_and_never_sealed_to(
    app: Flask,
    keyed: dict[str, Any],
    unit: Enrolled,
    db: Session,
    instance_path: Path,
    swapped: str,
) -> None:
    _run_worker(instance_path, keyed["key_file"], "started", 1)
    new = db.scalars(select(UnitKey).order_by(UnitKey.id.desc())).first()
    assert new is not None
    # The writer seals a key of their own to the recovery key as the new generation's.
    attacker = generate_private_key()
    recovery_id = db.scalars(select(RecoveryKey.id)).one()
    recovery_public = PublicKey(db.get(RecoveryKey, recovery_id).public_key)  # type: ignore[union-attr]
    db.execute(
        update(UnitKeyGrant)
        .where(UnitKeyGrant.unit_key_id == new.id, UnitKeyGrant.recovery_key_id == recovery_id)
        .values(
            sealed_private_key=crypto_keys.seal(
                attacker.raw,
                recovery_public,
                keyring._grant_context(new.id, recovery_key_id=recovery_id),
            )
        )
    )
    if swapped == "grant and public key":
        db.execute(
            update(UnitKey).where(UnitKey.id == new.id).values(public_key=attacker.public_key().raw)
        )
    db.commit()
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 1
    assert not opens_any_case(db, attacker)
    officers_only = {
        who.email: keyring.unlock_unit_keys(db, who.officer_id, unlock_officer_key(db, who))
        for who in (unit, keyed["reader"])
    }
    assert _every_report_opens_for(db, officers_only) == 5
    verified = CliRunner().invoke(
        main, ["keys", "verify-recovery", "--recovery-key-file", str(keyed["key_file"])]
    )
    assert verified.exit_code == 1


def test_a_newer_active_key_planted_in_the_database_stops_a_rotation_before_it_starts(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    pin = _pinned(instance_path)
    _planted, attacker = plant_unit_key(db)
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 1
    assert "A unit key the instance config does not pin is marked active" in result.output
    assert _pinned(instance_path) == pin
    assert len(db.scalars(select(UnitKey)).all()) == 2
    assert db.scalars(select(KeyRotation)).first() is None
    assert not opens_any_case(db, attacker)


def _new_recovery(old: Path, new: Path) -> list[str]:
    return [
        "keys",
        "new-recovery",
        "--recovery-key-file",
        str(old),
        "--new-recovery-key-file",
        str(new),
    ]


def test_a_recovery_key_planted_in_the_database_is_never_given_the_new_unit_key(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    attacker = generate_private_key()
    db.execute(
        insert(RecoveryKey).values(
            public_key=attacker.public_key().raw,
            fingerprint=attacker.public_key().fingerprint,
            created_at=utcnow(),
        )
    )
    db.commit()
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    with pytest.raises(NoKeyAccess):
        keyring.unlock_with_recovery_key(db, attacker)
    _finished_properly(db, app, keyed, unit, instance_path)


def test_an_instance_without_a_recovery_pin_gets_it_from_the_offline_file_first(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    instance.pin_recovery_key(instance_path, None)
    refused = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert refused.exit_code == 1
    assert "run `reportline keys verify-recovery --recovery-key-file PATH`" in refused.output
    replaced = CliRunner().invoke(
        main,
        _new_recovery(keyed["key_file"], instance_path.parent / "new.txt"),
    )
    assert replaced.exit_code == 1 and "verify-recovery" in replaced.output
    assert not (instance_path.parent / "new.txt").exists()
    assert len(db.scalars(select(UnitKey)).all()) == 1
    verified = CliRunner().invoke(
        main, ["keys", "verify-recovery", "--recovery-key-file", str(keyed["key_file"])]
    )
    assert verified.exit_code == 0, verified.output
    assert "now pinned in the instance config" in verified.output
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    _finished_properly(db, app, keyed, unit, instance_path)


def test_a_new_recovery_key_is_refused_while_a_rotation_is_unfinished(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session, instance_path: Path
) -> None:
    _run_worker(instance_path, keyed["key_file"], "started", 1)
    new_file = instance_path.parent / "new.txt"
    replaced = CliRunner().invoke(
        main,
        _new_recovery(keyed["key_file"], new_file),
    )
    assert replaced.exit_code == 1 and "rotation is unfinished" in replaced.output
    assert not new_file.exists()
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    _finished_properly(db, app, keyed, unit, instance_path)


def test_a_retired_key_given_the_pinned_fingerprint_is_refused_by_a_running_server(
    keyed: dict[str, Any], db: Session, instance_path: Path
) -> None:
    """A server checked the old key before the rotation; a database writer then gives
    that row the new pin and marks it active: it is checked afresh, never sealed to."""
    pinned = keyring.PinnedUnitKey(_pinned(instance_path), instance_path / "config.toml")
    old_id, _ = pinned.get(db)
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    new_id, _ = pinned.get(db)
    new_pin = _pinned(instance_path)
    db.execute(update(UnitKey).where(UnitKey.id == new_id).values(fingerprint="0" * 16))
    db.execute(
        update(UnitKey)
        .where(UnitKey.id == old_id)
        .values(fingerprint=new_pin, active=True, retired_at=None)
    )
    db.commit()
    with pytest.raises(DecryptionError):
        pinned.get(db)


def _forget_exclusion_key(db: Session) -> None:
    """An instance set up before the exclusion key (the config `keyed` writes pins none)."""
    db.execute(delete(ExclusionKeyGrant))
    db.execute(delete(ExclusionKey))


def test_init_exclusion_seals_the_key_to_each_supervisor_and_the_recovery_key_once(
    app: Flask,
    keyed: dict[str, Any],
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    instance_path: Path,
) -> None:
    _forget_exclusion_key(db)
    promoted = add_reader(db, clock, unit, "promoted@unit.example", role="supervisor")
    forged = add_reader(db, clock, unit, "forged@unit.example")
    db.execute(update(Officer).where(Officer.id == forged.officer_id).values(role="supervisor"))
    before = CliRunner().invoke(main, ["keys", "status"]).output
    assert "No exclusion key: run `reportline keys init-exclusion`" in before

    # Each holder's fingerprint, read back, must be given: without, it lists them.
    typed = [
        f"--fingerprint={who.email}={unlock_officer_key(db, who).public_key().fingerprint}"
        for who in (unit, promoted)
    ]
    wrong = typed[1][:-1] + ("1" if typed[1].endswith("0") else "0")
    for given in ([], typed[:1], [typed[0], wrong]):
        refused = CliRunner().invoke(main, ["keys", "init-exclusion", *given])
        assert refused.exit_code == 1 and typed[1].split("=", 1)[1] in refused.output
        assert "forged@" not in refused.output
        assert db.scalars(select(ExclusionKey.id)).all() == []
    result = CliRunner().invoke(main, ["keys", "init-exclusion", *typed])
    assert result.exit_code == 0, result.output
    db.expire_all()
    made = db.scalars(select(ExclusionKey)).one()
    pinned = tomllib.loads((instance_path / "config.toml").read_text())
    assert pinned["exclusion_key_fingerprint"] == made.fingerprint
    assert f"Held by {unit.email}, promoted@unit.example and the recovery key" in result.output
    public = PublicKey(made.public_key)
    for who in (unit, promoted):
        held = keyring.unlock_group_keys(db, who.officer_id, unlock_officer_key(db, who))
        assert held[made.id].public_key() == public
    assert keyring.unlock_group_keys(db, forged.officer_id, unlock_officer_key(db, forged)) == {}
    recovered = keyring.unlock_group_keys_with_recovery_key(db, app.extensions["test.recovery_key"])
    assert recovered[made.id].public_key() == public
    status = CliRunner().invoke(main, ["keys", "status"]).output
    assert f"Exclusion key {made.fingerprint}: current" in status
    assert f"held by promoted@unit.example, {unit.email} and the recovery key" in status

    again = CliRunner().invoke(main, ["keys", "init-exclusion"])
    assert again.exit_code == 1 and "has an exclusion key already" in again.output
    assert db.scalars(select(ExclusionKey.id)).all() == [made.id]
    assert tomllib.loads((instance_path / "config.toml").read_text()) == pinned


def test_init_exclusion_refuses_without_a_pinned_recovery_key_and_changes_nothing(
    keyed: dict[str, Any], db: Session, instance_path: Path
) -> None:
    _forget_exclusion_key(db)
    instance.pin_recovery_key(instance_path, None)
    result = CliRunner().invoke(main, ["keys", "init-exclusion"])
    assert result.exit_code == 1 and "No recovery key is pinned" in result.output
    assert db.scalars(select(ExclusionKey.id)).all() == []
    assert "exclusion_key_fingerprint" not in (instance_path / "config.toml").read_text()


def test_a_new_recovery_key_opens_the_exclusion_key_and_the_old_one_does_not(
    app: Flask, keyed: dict[str, Any], db: Session, tmp_path: Path
) -> None:
    old_key: PrivateKey = app.extensions["test.recovery_key"]
    (key_id,) = keyring.unlock_group_keys_with_recovery_key(db, old_key)
    new_file = tmp_path / "new-recovery.txt"
    arguments = ["keys", "new-recovery", "--recovery-key-file", str(keyed["key_file"])]
    result = CliRunner().invoke(main, [*arguments, "--new-recovery-key-file", str(new_file)])
    assert result.exit_code == 0, result.output
    new_key = keyring.parse_recovery_key(new_file.read_text())
    db.expire_all()
    assert list(keyring.unlock_group_keys_with_recovery_key(db, new_key)) == [key_id]
    assert keyring.unlock_group_keys_with_recovery_key(db, old_key) == {}


def test_a_recovery_key_that_does_not_open_the_pinned_exclusion_key_is_refused(
    app: Flask, keyed: dict[str, Any], db: Session, tmp_path: Path, instance_path: Path
) -> None:
    """Review L2: a database writer deleted the recovery key's exclusion grant; checking
    the key says so, and it is not replaced by one that would not open it either."""
    instance.pin_exclusion_key(instance_path, db.scalars(select(ExclusionKey.fingerprint)).one())
    key_file = str(keyed["key_file"])
    verify = ["keys", "verify-recovery", "--recovery-key-file", key_file]
    assert CliRunner().invoke(main, verify).exit_code == 0
    db.execute(delete(ExclusionKeyGrant).where(ExclusionKeyGrant.recovery_key_id.is_not(None)))
    db.commit()
    checked = CliRunner().invoke(main, verify)
    assert checked.exit_code == 1
    assert "does not open the exclusion key pinned" in checked.output
    config = (instance_path / "config.toml").read_text()
    new_file = tmp_path / "new-recovery.txt"
    arguments = ["keys", "new-recovery", "--recovery-key-file", key_file]
    result = CliRunner().invoke(main, [*arguments, "--new-recovery-key-file", str(new_file)])
    assert result.exit_code == 1 and "does not open the exclusion key pinned" in result.output
    assert not new_file.exists() and (instance_path / "config.toml").read_text() == config
    db.expire_all()
    assert db.scalars(select(func.count()).select_from(RecoveryKey)).one() == 1


def test_recover_gives_a_new_supervisor_the_exclusion_key_too(
    app: Flask, keyed: dict[str, Any], db: Session, clock: MovableClock
) -> None:
    newcomer = add_officer(db, clock, "newcomer@unit.example", role="supervisor")
    plain = add_officer(db, clock, "plain@unit.example")
    recover = ["recover", "--recovery-key-file", str(keyed["key_file"]), "--grant-to"]
    fingerprint = unlock_officer_key(db, newcomer).public_key().fingerprint
    for given in ([], ["--fingerprint", "0123456789abcdef"]):
        refused = CliRunner().invoke(main, [*recover, newcomer.email, *given])
        assert refused.exit_code == 1 and fingerprint in refused.output
        db.expire_all()
        assert keyring.held_generations(db, db.get(Officer, newcomer.officer_id)) == set()
    for who in (newcomer, plain):
        given = ["--fingerprint", fingerprint] if who is newcomer else []
        result = CliRunner().invoke(main, [*recover, who.email, *given])
        assert result.exit_code == 0, result.output
        assert ("also hold the exclusion key" in result.output) == (who is newcomer)
    db.expire_all()
    assert (
        len(keyring.unlock_group_keys(db, newcomer.officer_id, unlock_officer_key(db, newcomer)))
        == 1
    )
    assert keyring.unlock_group_keys(db, plain.officer_id, unlock_officer_key(db, plain)) == {}


def test_a_supervisor_made_an_officer_on_the_command_line_loses_the_exclusion_key(
    keyed: dict[str, Any], unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    other = add_reader(db, clock, unit, "other@unit.example", role="supervisor")
    row = db.get(Officer, other.officer_id)
    assert row is not None
    held = keyring.unlock_group_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    typed = unlock_officer_key(db, other).public_key().fingerprint
    assert exclusion_keys.grant(db, held, row, None, clock(), typed) == 1
    db.commit()
    result = CliRunner().invoke(main, ["officer", "role", other.email, "--role", "officer"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert keyring.unlock_group_keys(db, other.officer_id, unlock_officer_key(db, other)) == {}
    assert (
        db.scalars(
            select(ExclusionKeyGrant).where(ExclusionKeyGrant.officer_id == other.officer_id)
        ).all()
        == []
    )


def _report_to(session: Session, pinned: keyring.PinnedUnitKey, what: str) -> None:
    """Store one report through the service, sealed to `pinned`'s key (no commit)."""
    draft = submissions.ReportDraft(
        category="bullying",
        what_happened=what,
        when="",
        where="",
        who_involved="",
        how_known="told",
        how_known_detail="",
        at_risk="no",
        at_risk_detail="",
    )
    ticket = FormTicket(secrets.token_bytes(16), utcnow(), "ticket")
    keys = submissions.SubmissionKeys(b"p" * 32, b"s" * 32)
    submissions.submit_report(session, draft, ticket, keys, pinned, utcnow().date())


def test_a_retirement_waits_for_a_report_being_sealed_to_the_key_and_then_keeps_it(
    app: Flask, keyed: dict[str, Any], db: Session
) -> None:
    """A report sealed to a key, not yet committed, holds the key's row (on PostgreSQL
    FOR SHARE, on SQLite the write lock): retiring the key waits, then finds the report
    sealed to it and leaves the key active."""
    key_id, private = plant_unit_key(db)  # a key no case is sealed to yet
    pinned = keyring.PinnedUnitKey(private.public_key().fingerprint)
    pinned.get(db)  # checked once, as a running server has: the report reads no key row
    db.rollback()
    make = app.extensions["reportline.sessionmaker"]
    first, second = make(), make()
    retired: list[bool | BaseException] = []

    def retire() -> None:
        try:
            retired.append(rotation.retire(second, KeyRotation(from_unit_key_id=key_id), utcnow()))
            second.commit()
        except BaseException as exc:
            retired.append(exc)

    try:
        _report_to(first, pinned, "sealed as the key is retired")
        waiting = threading.Thread(target=retire)
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive()  # queued behind the report
        first.commit()
        waiting.join(timeout=30)
        assert retired == [False]
    finally:
        first.close()
        second.close()
    db.expire_all()
    assert db.get(UnitKey, key_id).active  # type: ignore[union-attr]
    sealed = db.scalars(select(CaseSeal).where(CaseSeal.holder_id == key_id)).one()
    assert open_sealed(sealed.sealed, private, cases.grant_context(sealed.case_id, key_id))


def test_a_report_after_the_key_it_remembers_was_retired_stores_nothing(
    app: Flask, keyed: dict[str, Any], db: Session
) -> None:
    """A process checked a key, which was then retired (its config not yet moved on):
    the report's own INSERT finds the row retired, and nothing is stored."""
    key_id, private = plant_unit_key(db)
    pinned = keyring.PinnedUnitKey(private.public_key().fingerprint)
    pinned.get(db)
    assert rotation.retire(db, KeyRotation(from_unit_key_id=key_id), utcnow())
    db.commit()
    before = db.scalar(select(func.count()).select_from(Case))
    with pytest.raises(SetupError, match="retired"):
        _report_to(db, pinned, "sealed to a retired key")
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Case)) == before
    assert not db.scalars(select(CaseSeal).where(CaseSeal.holder_id == key_id)).all()


def _restricted(db: Session, unit: Enrolled, clock_now: Any) -> int:
    """Restrict the oldest case to the unit's supervisor alone; return its id."""
    case_id = db.scalars(select(Case.id).order_by(Case.received_on, Case.id)).first()
    assert case_id is not None
    restrict_case(db, unit, case_id, [unit.officer_id], clock_now)
    return case_id


def _seal_rows(db: Session, case_id: int) -> dict[tuple[str, int], bytes]:
    db.expire_all()
    return {
        (s.holder, s.holder_id): s.sealed
        for s in db.scalars(select(CaseSeal).where(CaseSeal.case_id == case_id))
    }


def test_a_rotation_leaves_a_restricted_case_to_exactly_its_readers(
    app: Flask, keyed: dict[str, Any], unit: Enrolled, db: Session
) -> None:
    case_id = _restricted(db, unit, utcnow())
    before = _seal_rows(db, case_id)
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    assert _seal_rows(db, case_id) == before  # no unit key seal added, nothing re-sealed
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    boss = _keyrings(db, app, unit)[unit.email]
    assert cases.open_report(cases.open_case_secret(case, boss), case)["what_happened"]
    reader = keyed["reader"]
    with pytest.raises(NoKeyAccess):
        cases.open_case_secret(
            case,
            keyring.unlock_unit_keys(db, reader.officer_id, unlock_officer_key(db, reader)),
        )
    status = CliRunner().invoke(main, ["keys", "status"])
    assert f"{cases.reference(case_id)} (restricted): readable by {unit.email}" in status.output


def test_a_new_recovery_key_reseals_restricted_cases_and_recover_opens_them(
    app: Flask,
    keyed: dict[str, Any],
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    tmp_path: Path,
) -> None:
    case_id = _restricted(db, unit, utcnow())
    old_key: PrivateKey = app.extensions["test.recovery_key"]
    old_id = db.scalars(select(RecoveryKey.id)).one()
    new_file = tmp_path / "new-recovery.txt"
    arguments = ["keys", "new-recovery", "--recovery-key-file", str(keyed["key_file"])]
    result = CliRunner().invoke(main, [*arguments, "--new-recovery-key-file", str(new_file)])
    assert result.exit_code == 0, result.output
    new_key = keyring.parse_recovery_key(new_file.read_text())
    seals = _seal_rows(db, case_id)
    new_id = db.scalars(select(RecoveryKey.id).where(RecoveryKey.retired_at.is_(None))).one()
    assert ("recovery", new_id) in seals and ("recovery", old_id) not in seals
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    opened = keyring.unlock_with_recovery_key(db, new_key)
    assert cases.open_report(cases.open_case_secret(case, opened), case)["what_happened"]
    for (holder, holder_id), sealed in seals.items():  # the old key opens nothing new
        with pytest.raises(DecryptionError):
            open_sealed(sealed, old_key, cases.seal_context(case_id, holder, holder_id))

    # The only supervisor who could read it forgets their password: `recover` gives it
    # to a new supervisor through its recovery seal.
    chief = add_reader(db, clock, unit, "new.chief@unit.example", "supervisor")
    boss, chief_row = db.get(Officer, unit.officer_id), db.get(Officer, chief.officer_id)
    assert boss is not None and chief_row is not None
    held = keyring.unlock_group_keys(db, unit.officer_id, unlock_officer_key(db, unit))
    typed = unlock_officer_key(db, chief).public_key().fingerprint
    exclusion_keys.grant(db, held, chief_row, None, clock(), typed)  # not the last holder
    db.commit()
    passwords.reset_forgotten_password(
        db, boss, chief_row, utcnow(), instance.integrity_key(db.info["settings"])
    )
    db.commit()
    recover = ["recover", "--recovery-key-file", str(new_file), "--grant-to", chief.email]
    given = ["--fingerprint", typed]
    recovered = CliRunner().invoke(main, [*recover, *given])
    assert recovered.exit_code == 0, recovered.output
    assert "1 restricted case that no supervisor could read is now sealed to them" in (
        recovered.output
    )
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None
    theirs = keyring.unlock_unit_keys(db, chief.officer_id, unlock_officer_key(db, chief))
    assert cases.open_report(cases.open_case_secret(case, theirs), case)["what_happened"]


def test_a_rotation_leaves_a_report_with_an_exclusion_alone(
    app: Flask,
    keyed: dict[str, Any],
    unit: Enrolled,
    db: Session,
    reporter: FlaskClient,
    instance_path: Path,
) -> None:
    """A report whose reporter kept someone out stays sealed to the exclusion group and
    the recovery key: a rotation neither seals it to the new unit key nor re-seals it."""
    exclusion = db.scalars(select(ExclusionKey)).one()
    instance.pin_exclusion_key(instance_path, exclusion.fingerprint)  # `keyed` rewrote the config
    submit_report(reporter, what_happened="report kept from someone", exclude="DS Example")
    case_id = db.scalars(select(Case.id).where(Case.access == "pending")).one()
    before = _seal_rows(db, case_id)
    assert {holder for holder, _id in before} == {"exclusion_group", "recovery"}
    result = _rotate("--recovery-key-file", str(keyed["key_file"]))
    assert result.exit_code == 0, result.output
    assert _seal_rows(db, case_id) == before
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None and case.access == "pending"
    recovery = keyring.unlock_with_recovery_key(db, app.extensions["test.recovery_key"])
    assert cases.open_report(cases.open_case_secret(case, recovery), case)["exclude"]
