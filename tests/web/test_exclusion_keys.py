"""The exclusion group's key (issue 13, point 2): held by supervisors by an authenticated
role, granted and checked as the unit key, pinned in the instance config; on every
backend. Reports are not sealed to it yet (a later change); these are its keys."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, generate_private_key, seal
from reportline.models import ExclusionKey, ExclusionKeyGrant, Officer
from reportline.services import (
    enrolment,
    exclusion_keys,
    instance,
    integrity,
    key_inventory,
    keyring,
    passwords,
    roles,
)
from reportline.services.errors import ServiceError, SetupError
from tests.helpers import (
    FAST_ARGON2,
    Enrolled,
    MovableClock,
    add_reader,
    post_form,
    unlock_officer_key,
)


def _pin(instance_path: Path) -> str:
    return str(
        tomllib.loads((instance_path / "config.toml").read_text())["exclusion_key_fingerprint"]
    )


def _group_keys(db: Session, who: Enrolled) -> dict[int, PrivateKey]:
    db.expire_all()
    return keyring.unlock_group_keys(db, who.officer_id, unlock_officer_key(db, who))


def _grants(db: Session, officer_id: int) -> list[ExclusionKeyGrant]:
    db.expire_all()
    return list(
        db.scalars(select(ExclusionKeyGrant).where(ExclusionKeyGrant.officer_id == officer_id))
    )


def _fingerprint(db: Session, who: Enrolled) -> str:
    """The fingerprint the officer reads from their account page."""
    db.expire_all()
    return unlock_officer_key(db, who).public_key().fingerprint


def _give_exclusion_key(supervisor: FlaskClient, db: Session, who: Enrolled) -> str:
    """Type the fingerprint the officer read back, as the granting supervisor does."""
    page = f"/triage/admin/officers/{who.officer_id}"
    typed = {"fingerprint": _fingerprint(db, who)}
    answer = post_form(supervisor, page, f"{page}/grant-exclusion", typed)
    return supervisor.get(answer.headers["Location"]).get_data(as_text=True)


def _promote_in_the_database(db: Session, who: Enrolled) -> None:
    """What a database writer without the instance config can do: write the role."""
    db.execute(update(Officer).where(Officer.id == who.officer_id).values(role="supervisor"))


def _forget_exclusion_key(db: Session, instance_path: Path) -> None:
    """An instance set up before the exclusion key: no key, no pin."""
    db.execute(delete(ExclusionKeyGrant))
    db.execute(delete(ExclusionKey))
    instance.pin_exclusion_key(instance_path, None)


def test_init_gives_the_exclusion_key_to_the_first_supervisor_and_the_recovery_key(
    app: Flask, unit: Enrolled, db: Session, instance_path: Path
) -> None:
    pin = _pin(instance_path)
    key_id, public = keyring.pinned_exclusion_key(db, pin)
    assert public.fingerprint == pin
    held = _group_keys(db, unit)
    assert held[key_id].public_key() == public
    recovered = keyring.unlock_group_keys_with_recovery_key(db, app.extensions["test.recovery_key"])
    assert recovered[key_id].public_key() == public
    # A server that loaded its settings before the pin was written finds it in the file.
    late = keyring.PinnedExclusionKey(None, instance_path / "config.toml")
    assert late.get(db) == (key_id, public)
    # A pin re-read from the file is checked as at load: a malformed one is not taken.
    config = instance_path / "config.toml"
    config.write_text(config.read_text().replace(pin, pin.upper()))
    fresh = keyring.PinnedExclusionKey(None, config)
    with pytest.raises(SetupError, match="no exclusion key is pinned"):
        fresh.get(db)
    found = key_inventory.inventory(db).exclusion_keys
    assert [(k.fingerprint, k.holders, k.recovery_holds) for k in found] == [
        (pin, (unit.email,), True)
    ]


def test_a_role_promoted_in_the_database_alone_gets_no_exclusion_key(
    app: Flask,
    supervisor: FlaskClient,
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    instance_path: Path,
) -> None:
    accomplice = add_reader(db, clock, unit, "accomplice@unit.example")
    _promote_in_the_database(db, accomplice)
    page = f"/triage/admin/officers/{accomplice.officer_id}"
    assert "Give access to reports with an exclusion" not in supervisor.get(page).get_data(
        as_text=True
    )
    assert post_form(supervisor, page, f"{page}/grant", {}).status_code == 303
    assert _grants(db, accomplice.officer_id) == []
    assert _group_keys(db, accomplice) == {}
    row = db.get(Officer, accomplice.officer_id)
    assert row is not None
    with pytest.raises(ServiceError):
        exclusion_keys.grant(
            db, _group_keys(db, unit), row, None, clock(), _fingerprint(db, accomplice)
        )
    db.rollback()

    # Nor does `keys init-exclusion` seal to them.
    _forget_exclusion_key(db, instance_path)
    made = exclusion_keys.initialise(
        db,
        clock(),
        instance.read_pins(instance_path).recovery,
        {unit.email: _fingerprint(db, unit)},
    )
    db.commit()
    assert made.holders == (unit.email,)
    assert _grants(db, accomplice.officer_id) == []
    assert list(_group_keys(db, unit)) == [
        db.scalars(
            select(ExclusionKey.id).where(ExclusionKey.fingerprint == made.fingerprint)
        ).one()
    ]


def test_an_exclusion_grant_with_a_bad_mac_or_planted_in_the_database_is_ignored(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, instance_path: Path
) -> None:
    key_id, _ = keyring.pinned_exclusion_key(db, _pin(instance_path))
    (grant,) = _grants(db, unit.officer_id)
    genuine = grant.mac
    assert genuine is not None
    db.execute(
        update(ExclusionKeyGrant)
        .where(ExclusionKeyGrant.id == grant.id)
        .values(mac=bytes([genuine[0] ^ 1]) + genuine[1:])
    )
    assert _group_keys(db, unit) == {}
    assert not keyring.holds_group_key(db, unit.officer_id)
    assert key_inventory.inventory(db).exclusion_keys[0].holders == ()
    db.execute(
        update(ExclusionKeyGrant).where(ExclusionKeyGrant.id == grant.id).values(mac=genuine)
    )
    assert list(_group_keys(db, unit)) == [key_id]

    # A reader given a key of the writer's own making, with no MAC or a made-up one.
    reader = add_reader(db, clock, unit, "reader@unit.example")
    row = db.get(Officer, reader.officer_id)
    assert row is not None and row.public_key is not None
    from reportline.crypto.keys import PublicKey

    planted = seal(
        generate_private_key().raw,
        PublicKey(row.public_key),
        keyring._grant_context(key_id, officer_id=row.id, kind=keyring.EXCLUSION),
    )
    for mac in (None, bytes(32)):
        db.execute(delete(ExclusionKeyGrant).where(ExclusionKeyGrant.officer_id == row.id))
        db.execute(
            insert(ExclusionKeyGrant).values(
                exclusion_key_id=key_id,
                officer_id=row.id,
                sealed_private_key=planted,
                mac=mac,
                granted_at=clock(),
            )
        )
        assert _group_keys(db, reader) == {}
        assert not keyring.holds_group_key(db, row.id)


def test_an_exclusion_key_that_is_not_the_pinned_one_is_refused(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, instance_path: Path
) -> None:
    pin = _pin(instance_path)
    key_id, public = keyring.pinned_exclusion_key(db, pin)
    attacker = generate_private_key().public_key()
    # A newer key of the writer's own, under its own fingerprint: never chosen.
    db.execute(
        insert(ExclusionKey).values(
            public_key=attacker.raw, fingerprint=attacker.fingerprint, created_at=clock()
        )
    )
    assert keyring.pinned_exclusion_key(db, pin) == (key_id, public)
    # The same key given the pinned fingerprint in the database: one pin names one row.
    with pytest.raises(IntegrityError):
        db.execute(
            insert(ExclusionKey).values(
                public_key=attacker.raw, fingerprint=pin, created_at=clock()
            )
        )
    db.rollback()
    db.execute(delete(ExclusionKey).where(ExclusionKey.id != key_id))
    # The pinned row's public key swapped: refused, also by a server that checked it before.
    server = keyring.PinnedExclusionKey(pin, instance_path / "config.toml")
    assert server.get(db) == (key_id, public)
    db.execute(
        update(ExclusionKey).where(ExclusionKey.id == key_id).values(public_key=attacker.raw)
    )
    with pytest.raises(DecryptionError):
        keyring.pinned_exclusion_key(db, pin)
    db.execute(update(ExclusionKey).where(ExclusionKey.id == key_id).values(public_key=public.raw))
    with pytest.raises(SetupError, match="no exclusion key is pinned"):
        keyring.pinned_exclusion_key(db, None)
    db.execute(update(ExclusionKey).where(ExclusionKey.id == key_id).values(retired_at=clock()))
    with pytest.raises(SetupError, match="no current exclusion key"):
        keyring.pinned_exclusion_key(db, pin)


def test_a_role_change_revoke_deactivation_and_reset_give_and_take_the_exclusion_key(
    app: Flask,
    supervisor: FlaskClient,
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    instance_path: Path,
) -> None:
    key_id, public = keyring.pinned_exclusion_key(db, _pin(instance_path))
    colleague = add_reader(db, clock, unit, "colleague@unit.example")
    page = f"/triage/admin/officers/{colleague.officer_id}"

    def role(name: str) -> str:
        answer = post_form(supervisor, f"{page}/role", f"{page}/role", {"role": name})
        return supervisor.get(answer.headers["Location"]).get_data(as_text=True)

    # A promotion grants nothing silently: it leads to the fingerprint's read-back.
    assert "give them access to reports with an exclusion below" in role("supervisor")
    assert _grants(db, colleague.officer_id) == []
    assert "can now read reports with an exclusion" in _give_exclusion_key(
        supervisor, db, colleague
    )
    assert _group_keys(db, colleague)[key_id].public_key() == public
    role("officer")
    assert _grants(db, colleague.officer_id) == []
    assert _group_keys(db, colleague) == {}

    role("supervisor")
    post_form(supervisor, page, f"{page}/revoke", {})
    assert _grants(db, colleague.officer_id) == []
    post_form(supervisor, page, f"{page}/grant", {})  # a supervisor still: both come back
    _give_exclusion_key(supervisor, db, colleague)
    assert list(_group_keys(db, colleague)) == [key_id]

    # A password reset forgets the key pair; a new grant gives both keys again.
    row = db.get(Officer, colleague.officer_id)
    me = db.get(Officer, unit.officer_id)
    assert row is not None and me is not None
    integrity_key = instance.integrity_key(db.info["settings"])
    token = passwords.reset_forgotten_password(db, row, me, clock(), integrity_key)
    db.commit()
    assert _grants(db, colleague.officer_id) == []
    chosen = "marigold ferry lantern copper"
    _, new_key = enrolment.redeem_enrolment(db, token, chosen, FAST_ARGON2, clock(), integrity_key)
    db.commit()
    shown = supervisor.get(page).get_data(as_text=True)
    assert "Can read reports with an exclusion" not in shown  # no unit key yet: no member
    post_form(supervisor, page, f"{page}/grant", {})
    typed = {"fingerprint": new_key.public_key().fingerprint}
    post_form(supervisor, page, f"{page}/grant-exclusion", typed)
    db.expire_all()
    assert (
        keyring.unlock_group_keys(db, colleague.officer_id, new_key)[key_id].public_key() == public
    )

    post_form(supervisor, page, f"{page}/deactivate", {})
    assert _grants(db, colleague.officer_id) == []


def test_a_supervisor_without_the_exclusion_key_is_offered_it_and_given_it(
    app: Flask, supervisor: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    # Made on the command line and given the unit key there: no exclusion key yet.
    other = add_reader(db, clock, unit, "other.supervisor@unit.example", role="supervisor")
    page = f"/triage/admin/officers/{other.officer_id}"
    shown = supervisor.get(page).get_data(as_text=True)
    assert "Give access to reports with an exclusion" in shown
    for typed in ("", "0123 4567 89ab cdef"):
        answer = post_form(supervisor, page, f"{page}/grant-exclusion", {"fingerprint": typed})
        assert "Nothing was changed" in supervisor.get(answer.headers["Location"]).get_data(
            as_text=True
        )
    assert _grants(db, other.officer_id) == []
    _give_exclusion_key(supervisor, db, other)
    assert len(_group_keys(db, other)) == 1
    shown = supervisor.get(page).get_data(as_text=True)
    assert "Give access to reports with an exclusion" not in shown


def test_nobody_removes_the_last_holder_of_the_exclusion_key(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    other = add_reader(db, clock, unit, "other.supervisor@unit.example", role="supervisor")
    holder = db.get(Officer, unit.officer_id)
    acting = db.get(Officer, other.officer_id)
    assert holder is not None and acting is not None
    integrity_key = instance.integrity_key(db.info["settings"])
    from reportline.services import officers, roles

    attempts = (
        lambda: roles.change_role(db, holder, "officer", acting, clock()),
        lambda: officers.revoke_access(db, holder, acting, clock()),
        lambda: officers.deactivate(db, holder, acting, clock()),
        lambda: passwords.reset_forgotten_password(db, holder, acting, clock(), integrity_key),
    )
    for attempt in attempts:
        with pytest.raises(ServiceError, match="last supervisor who can read reports with an"):
            attempt()
        db.rollback()
    assert len(_group_keys(db, unit)) == 1


def test_the_keys_page_shows_the_exclusion_key_and_who_holds_it(
    app: Flask, supervisor: FlaskClient, unit: Enrolled, db: Session, instance_path: Path
) -> None:
    page = supervisor.get("/triage/admin/keys").get_data(as_text=True)
    assert "Exclusion key" in page and _pin(instance_path) in page
    assert f"held by {unit.email}; the recovery key" in page
    _forget_exclusion_key(db, instance_path)
    page = supervisor.get("/triage/admin/keys").get_data(as_text=True)
    assert "reportline keys init-exclusion" in page


def test_a_running_server_finds_the_pin_that_init_exclusion_writes_later(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock, instance_path: Path
) -> None:
    from reportline.web import context

    _forget_exclusion_key(db, instance_path)
    with app.app_context():
        with pytest.raises(SetupError, match="no exclusion key is pinned"):
            context.pinned_exclusion_key().get(db)
        made = exclusion_keys.initialise(
            db,
            clock(),
            instance.read_pins(instance_path).recovery,
            {unit.email: _fingerprint(db, unit)},
        )
        db.commit()
        instance.pin_exclusion_key(instance_path, made.fingerprint)
        key_id, public = context.pinned_exclusion_key().get(db)
    assert public.fingerprint == made.fingerprint
    assert list(_group_keys(db, unit)) == [key_id]


def test_a_config_reader_who_swaps_a_members_key_is_not_given_the_exclusion_key(
    app: Flask,
    supervisor: FlaskClient,
    unit: Enrolled,
    db: Session,
    clock: MovableClock,
    instance_path: Path,
) -> None:
    """Review H1: with the config a database writer forges key_mac and role_mac for a
    swapped public key; the unit key grant still holds (its MAC covers the sealed bytes),
    so they are a member. Only the fingerprint the officer reads back stops the grant."""
    key = instance.integrity_key(db.info["settings"])
    victim = add_reader(db, clock, unit, "victim@unit.example")
    genuine = _fingerprint(db, victim)
    row = db.get(Officer, victim.officer_id)
    assert row is not None
    pub = generate_private_key().public_key().raw
    db.execute(
        update(Officer)
        .where(Officer.id == row.id)
        .values(
            public_key=pub,
            key_mac=integrity.officer_key_mac(key, row.id, pub),
            role="supervisor",
            role_mac=integrity.officer_role_mac(key, row.id, "supervisor", row.access_epoch),
        )
    )
    db.commit()
    db.expire_all()
    assert exclusion_keys.is_member(db, row)
    page = f"/triage/admin/officers/{row.id}"
    answer = post_form(supervisor, page, f"{page}/grant-exclusion", {"fingerprint": genuine})
    shown = supervisor.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Nothing was changed" in shown and "not their key" in shown
    assert _grants(db, row.id) == []
    # Nor does `keys init-exclusion` seal to the swapped key given the genuine fingerprint.
    _forget_exclusion_key(db, instance_path)
    typed = {unit.email: _fingerprint(db, unit), row.email: genuine}
    with pytest.raises(SetupError, match=f"{row.email}={exclusion_keys.fingerprint_of(row)}"):
        exclusion_keys.initialise(db, clock(), instance.read_pins(instance_path).recovery, typed)
    db.rollback()


def test_a_demotion_on_the_command_line_cannot_be_undone_by_putting_rows_back(
    app: Flask, supervisor: FlaskClient, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    """Review M1: `officer role` advances the access epoch, so the old role row and
    exclusion key grant, put back by a database writer, no longer hold."""
    other = add_reader(db, clock, unit, "other@unit.example", role="supervisor")
    _give_exclusion_key(supervisor, db, other)
    assert len(_group_keys(db, other)) == 1
    row = db.get(Officer, other.officer_id)
    assert row is not None
    saved_role = {"role": row.role, "role_mac": row.role_mac}
    (kept,) = _grants(db, row.id)
    saved_grant = {c.name: getattr(kept, c.name) for c in ExclusionKeyGrant.__table__.columns}
    roles.change_role_by_email(db, other.email, "officer", clock())
    db.commit()
    assert _group_keys(db, other) == {}
    db.execute(update(Officer).where(Officer.id == row.id).values(**saved_role))
    db.execute(insert(ExclusionKeyGrant).values(**saved_grant))
    db.commit()
    db.expire_all()
    assert not roles.is_supervisor(db, row)
    assert _group_keys(db, other) == {}
