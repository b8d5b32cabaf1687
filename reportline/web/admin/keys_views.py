"""The supervisors' keys page under /triage/admin/keys: the inventory of the unit's keys
(as `reportline keys status`), and a unit key rotation with its progress.

A rotation started here runs in a thread of this server process, with the
supervisor's unlocked keys in memory only; its progress is read from the
database, so any server shows it. If the process stops, the page offers to
resume it (docs/operating.md).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import current_app, flash, g, redirect, render_template, url_for
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Response as BaseResponse

from reportline import utcnow
from reportline.crypto.keys import PrivateKey
from reportline.services import instance, key_inventory, keyring, rotation
from reportline.services.errors import ServiceError
from reportline.web.admin.views import blueprint
from reportline.web.context import now, settings
from reportline.web.database import get_session
from reportline.web.forms import ActionForm

log = logging.getLogger(__name__)


def _page(refused: str | None = None) -> tuple[str, int]:
    found = key_inventory.inventory(get_session())
    return render_template(
        "admin/keys.html",
        found=found,
        now=now(),
        running_here=_running_here(),
        refused=refused,
        form=ActionForm(),
    ), (409 if refused else 200)


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
                lambda fingerprint: instance.pin_unit_key(instance_path, fingerprint),
                lambda _step, _progress: None,
            ).run()
    except Exception:
        # Only the kind of failure: the rotation resumes from the page or the command.
        log.exception("The unit key rotation stopped; resume it from /triage/admin/keys")
    finally:
        lock.release()
