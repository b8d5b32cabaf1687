"""The supervisors' keys page under /triage/admin/keys: the inventory of the unit's keys
(as `reportline keys status`), a unit key rotation with its progress, and an exclusion
key rotation (one transaction, done within the request).

A rotation started here runs in a thread of this server process, with the
supervisor's unlocked keys in memory only; its progress is read from the
database, so any server shows it. If the process stops, the page offers to
resume it (docs/operating.md).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from flask import current_app, flash, g, redirect, render_template, url_for
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Response as BaseResponse

from reportline import utcnow
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey
from reportline.services import (
    cases,
    exclusion_rotation,
    instance,
    key_inventory,
    keyring,
    restriction,
    rotation,
)
from reportline.services.errors import NoKeyAccess, ServiceError
from reportline.web.admin.views import blueprint
from reportline.web.context import now, settings
from reportline.web.database import get_session
from reportline.web.forms import ActionForm
from reportline.web.triage import access

log = logging.getLogger(__name__)
NO_RECOVERY_PIN = (
    "No recovery key is pinned in the instance config yet. On the server, check the offline "
    "recovery key once with reportline keys verify-recovery, which pins it; then rotate."
)
UNKNOWN_ROTATION = (
    "This unfinished rotation is not one the instance config knows, so it is not resumed. "
    'Follow "A key the config does not know" in the operating procedures.'
)


NOT_HELD = (
    "You do not hold the current exclusion key, so you cannot rotate it. A supervisor who "
    "holds it can, or the operator with the recovery key (reportline keys rotate-exclusion)."
)


def _page(refused: str | None = None, exclusion_refused: str | None = None) -> tuple[str, int]:
    db = get_session()
    found = key_inventory.inventory(db)
    # A restricted case this supervisor cannot read is only counted here, as in the queue
    # (docs/security.md, "Restricted cases"); `reportline keys status` lists every one.
    hidden = restriction.visibility(db, access.current_keyring()).hidden
    shown = tuple(
        line for line in found.restricted if cases.parse_reference(line.reference) not in hidden
    )
    found = dataclasses.replace(
        found,
        restricted=shown,
        waiting=tuple(line for line in found.waiting if line.case_id not in hidden),
    )
    return render_template(
        "admin/keys.html",
        found=found,
        hidden_restricted=len(hidden),
        now=now(),
        running_here=_running_here(),
        unknown_rotation=_unknown_rotation(found),
        refused=refused,
        exclusion_refused=exclusion_refused,
        form=ActionForm(),
    ), (409 if refused or exclusion_refused else 200)


def _unknown_rotation(found: key_inventory.Inventory) -> bool:
    """An unfinished rotation whose new key the instance config does not name: made in
    the database alone (or the config was restored), so it is never resumed."""
    if found.rotation is None:
        return False
    try:
        pending = instance.read_pins(settings().instance_path).next
    except ServiceError:
        return True
    return pending != found.rotation.to_fingerprint


def _running_here() -> bool:
    thread = current_app.extensions.get("reportline.rotation")
    return thread is not None and thread.is_alive()


@blueprint.get("/keys")
def keys() -> tuple[str, int]:
    """The unit's keys, who holds them, the recovery key, and any rotation's progress."""
    return _page()


@blueprint.post("/keys/rotate")
def rotate_unit_key() -> BaseResponse | tuple[str, int]:
    """Start (or resume) a unit key rotation in the background; refused while one runs."""
    if not ActionForm().validate():
        return redirect(url_for("triage.admin.keys"), code=303)
    if _unknown_rotation(key_inventory.inventory(get_session())):
        return _page(UNKNOWN_ROTATION)
    try:
        recovery_pinned = instance.read_pins(settings().instance_path).recovery is not None
    except ServiceError:
        recovery_pinned = False
    if not recovery_pinned:
        return _page(NO_RECOVERY_PIN)
    lock = rotation.RotationLock(current_app.extensions["reportline.engine"])
    try:
        lock.acquire()
    except ServiceError:
        return _page("Another rotation of the unit key is running. Wait for it to finish.")
    signed_in = g.signed_in
    worker = threading.Thread(
        target=_rotate,
        args=(
            current_app.extensions["reportline.sessionmaker"],
            lock,
            signed_in.officer.id,
            signed_in.officer.email,
            signed_in.private_key,
            settings().instance_path,
            instance.integrity_key(settings()),
        ),
        name="unit-key-rotation",
        daemon=True,
    )
    current_app.extensions["reportline.rotation"] = worker
    worker.start()
    flash("The unit key rotation has started. Reports are still taken meanwhile.", "success")
    return redirect(url_for("triage.admin.keys"), code=303)


@blueprint.post("/keys/rotate-exclusion")
def rotate_exclusion_key() -> BaseResponse | tuple[str, int]:
    """Rotate the exclusion key with the signed-in supervisor's own keys, at once; a
    refusal changes nothing and says why next to the button."""
    if not ActionForm().validate():
        return redirect(url_for("triage.admin.keys"), code=303)
    db = get_session()
    lock = rotation.RotationLock(current_app.extensions["reportline.engine"])
    try:
        lock.acquire()
    except ServiceError:
        return _page(exclusion_refused=_sentence(exclusion_rotation.BUSY))
    try:
        done = exclusion_rotation.rotate_and_pin(
            db,
            access.current_group_keys(),
            g.signed_in.officer.email,
            now(),
            settings().instance_path,
        )
    except NoKeyAccess:
        db.rollback()
        return _page(exclusion_refused=NOT_HELD)
    except (ServiceError, DecryptionError) as exc:
        db.rollback()
        why = str(exc) if "nothing was changed" in str(exc) else f"nothing was changed: {exc}"
        return _page(exclusion_refused=_sentence(why))
    finally:
        lock.release()
    flash(
        f"The exclusion key was rotated: reports with an exclusion are now sealed to "
        f"{done.to_fingerprint}, held by {', '.join(done.holders) or 'no supervisor'} and "
        "the recovery key. Check that list.",
        "success",
    )
    for warning in exclusion_rotation.warnings(done):
        flash(warning[0].upper() + warning[1:], "error")
    return redirect(url_for("triage.admin.keys"), code=303)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:].rstrip(".") + "."


def _rotate(
    make_session: sessionmaker[Session],
    lock: rotation.RotationLock,
    officer_id: int,
    actor: str,
    private_key: PrivateKey,
    instance_path: Path,
    integrity_key: bytes,
) -> None:
    """The rotation, in its own thread and database session."""
    try:
        with make_session() as session:
            rotation.Rotator(
                session,
                lambda: keyring.unlock_unit_keys(session, officer_id, private_key),
                actor,
                utcnow,
                integrity_key,
                instance_path,
                lambda _step, _progress: None,
            ).run()
    except Exception as exc:
        # Only the kind of failure (a traceback or a database error's parameters would
        # put case ids in the shared log): it resumes from the page or the command.
        log.error(
            "The unit key rotation stopped (%s); resume it from /triage/admin/keys",
            type(exc).__name__,
        )
    finally:
        lock.release()
