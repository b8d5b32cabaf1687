"""Exporting a case for hand-over (to an investigator, the IOPC or a lawyer): a zip of a
PDF summary, the evidence files and a manifest of their SHA-256, streamed as it is made.

Nothing of it is written to the server's disk: the case is read and the summary and
manifest built in memory, the export is audited (with the manifest's hash) and
committed, and only then does the archive start, a piece at a time.
"""

from __future__ import annotations

from flask import Response, stream_with_context
from werkzeug.wrappers import Response as BaseResponse

from reportline.db import begin_read_only
from reportline.services import cases, handover, triage
from reportline.services.errors import AccessDenied
from reportline.services.evidence_store import DatabaseChunkStore
from reportline.services.handover_pdf import build_summary_pdf
from reportline.services.handover_zip import stream_zip
from reportline.web.context import now, today
from reportline.web.database import get_session
from reportline.web.triage import access
from reportline.web.triage.forms import ExportForm
from reportline.web.triage.views import _case_page_again, _signed_in, blueprint


@blueprint.post("/cases/<reference>/export")
def export_case(reference: str) -> BaseResponse | tuple[str, int]:
    """Stream the case's hand-over archive (its owner or a supervisor). A refused form
    is shown on the case page (400); a case that failed a check cannot be exported
    (409). Raises AccessDenied for any other officer."""
    form = ExportForm()
    if not form.validate():
        return _case_page_again(reference, 400, export_form=form)
    db = get_session()
    signed_in = _signed_in()
    case_id = cases.parse_reference(reference)
    begin_read_only(db)
    opened = triage.read_case(db, case_id, access.current_keyring(), now())
    if not (signed_in.supervisor or opened.assignee_id == signed_in.officer.id):
        raise AccessDenied("only the case's owner or a supervisor hands it over")
    db.commit()
    evidence = handover.evidence_for_handover(DatabaseChunkStore(db, streaming=True), opened)
    try:
        doc = handover.assemble(
            opened,
            form.variant.data or "",
            bool(form.include_words.data),
            bool(form.include_conversation.data),
            evidence,
            signed_in.officer.email,
            today(),
        )
    except handover.CannotHandOver:
        return _case_page_again(reference, 409)
    pdf = build_summary_pdf(doc)
    manifest = handover.manifest(doc, pdf)
    passphrase = form.passphrase.data or None
    handover.record_export(
        db, doc, manifest, passphrase is not None, signed_in.officer.email, now()
    )
    db.commit()
    pieces = stream_zip(handover.export_entries(doc, pdf, manifest), passphrase, doc.generated_on)
    response = Response(stream_with_context(pieces), mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{doc.reference}-{doc.variant}.zip"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
