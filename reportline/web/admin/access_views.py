"""Who may read a case (supervisors): restrict it to named officers, change the list,
give it back to the whole unit, and re-seal cases after a password reset.

Every change is shown first: the confirmation step names who will lose access and
who gains it, and only its own post (carrying the version of the access it was
shown) changes anything. Services: `services.restriction`.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from reportline.crypto.errors import DecryptionError
from reportline.models import Officer
from reportline.services import cases, instance, restriction, roles
from reportline.services.errors import ServiceError
from reportline.web.admin.forms import AccessForm
from reportline.web.admin.views import blueprint
from reportline.web.context import now, pinned_unit_key, settings
from reportline.web.database import get_session
from reportline.web.forms import ActionForm, choices
from reportline.web.triage import access

ACCESS_NAMES = {
    "unit": "Everyone in the unit who can read reports",
    "restricted": "Only the officers named below",
    "pending": "Waiting for a supervisor: the reporter asked for someone to be kept out",
}


def _page(
    reference: str,
    form: AccessForm,
    status: int = 200,
    change: restriction.Change | None = None,
    refused: str | None = None,
    fresh: bool = False,
) -> tuple[str, int]:
    db = get_session()
    case = cases.get_case(db, cases.parse_reference(reference))
    reader_ids = restriction.readers(db, case.id)
    waiting_ids = restriction.waiting(db, case.id)
    eligible = restriction.eligible_readers(db)
    form.officers.choices = choices(
        {
            str(o.id): f"{o.email} (supervisor)" if roles.is_supervisor(db, o) else o.email
            for o in eligible
        }
    )
    if not form.version.data:  # a fresh form, or a stale one shown again
        form.version.data = restriction.access_version(case, reader_ids, waiting_ids)
    if fresh and case.access != cases.UNIT_ACCESS:
        form.officers.data = [str(i) for i in reader_ids + waiting_ids]
    emails = dict(db.execute(select(Officer.id, Officer.email)).all())
    return render_template(
        "admin/access.html",
        reference=reference,
        access=case.access,
        access_name=ACCESS_NAMES[case.access],
        reporter_excluded=case.reporter_excluded,
        readers=[emails.get(i, str(i)) for i in reader_ids],
        waiting=[emails.get(i, str(i)) for i in waiting_ids],
        form=form,
        change=change,
        refused=refused,
    ), status


@blueprint.get("/cases/<reference>/access")
def case_access(reference: str) -> tuple[str, int]:
    """Who may read the case, and the form to change it."""
    cases.get_case(get_session(), cases.parse_reference(reference))
    return _page(reference, AccessForm(formdata=None), fresh=True)


@blueprint.post("/cases/<reference>/access")
def change_case_access(reference: str) -> BaseResponse | tuple[str, int]:
    """Review a change (who loses access, who gains it), or, posted from the review,
    make it: re-sealed in one transaction, audited. A refusal changes nothing."""
    db = get_session()
    case_id = cases.parse_reference(reference)
    form = AccessForm()
    try:
        chosen = form.chosen()
    except ValueError:
        refused = "Nothing was changed: choose officers from the list."
        return _page(reference, form, 400, refused=refused)
    if form.confirm.data != "yes":
        try:
            change = restriction.plan(db, cases.get_case(db, case_id), chosen)
        except ServiceError as exc:
            db.rollback()
            return _page(reference, form, 400, refused=_sentence(exc))
        db.rollback()
        return _page(reference, form, 200, change=change)
    try:
        pinned = pinned_unit_key().get(db) if chosen is None else None
        change = restriction.set_access(
            db,
            access.current_keyring(),
            case_id,
            chosen,
            form.version.data or "",
            g.signed_in.officer,
            now(),
            restriction.Pins(pinned, instance.read_pins(settings().instance_path).recovery),
        )
    except restriction.StaleAccess as exc:
        db.rollback()
        form.version.data = None
        return _page(reference, form, 409, refused=_sentence(exc) + " Check it again.")
    except (ServiceError, DecryptionError) as exc:
        db.rollback()
        return _page(reference, form, 400, refused=_sentence(exc))
    db.commit()
    if change.access == cases.UNIT_ACCESS:
        flash("Everyone in the unit who can read reports may read this case again.", "success")
    else:
        flash("Who may read this case was changed: " + ", ".join(change.readers) + ".", "success")
    return redirect(url_for("triage.case", reference=reference), code=303)


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return "Nothing was changed: " + text.rstrip(".") + "."


@blueprint.post("/cases/<reference>/reseal/<int:officer_id>")
def reseal_case(reference: str, officer_id: int) -> BaseResponse:
    """Seal a restricted case to an officer's new key after their password was reset
    (opened with this supervisor's own seal); audited."""
    db = get_session()
    cases.get_case(db, cases.parse_reference(reference))  # a missing case is a 404
    if not ActionForm().validate():
        return redirect(url_for("triage.admin.keys"), code=303)
    try:
        restriction.reseal(
            db,
            access.current_keyring(),
            cases.parse_reference(reference),
            officer_id,
            g.signed_in.officer,
            now(),
        )
    except (ServiceError, DecryptionError) as exc:
        db.rollback()
        flash(_sentence(exc), "error")
    else:
        db.commit()
        flash(f"{reference} is sealed to their new key.", "success")
    return redirect(url_for("triage.admin.keys", _anchor="reseal"), code=303)
