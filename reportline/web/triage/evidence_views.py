"""Evidence on the officer side: a file's page, its preview, and its download.

Nothing a reporter sent is ever rendered from ReportLine's origin: a preview is
an image ReportLine re-encoded itself (reportline.cleaning), served with its
exact type; everything else downloads as an attachment under a safe name.
Every view of a preview and every download is audited. Bodies are streamed
chunk by chunk as each is opened and checked, never written to disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, abort, g, render_template, stream_with_context
from sqlalchemy.orm import Session

from reportline.crypto.envelope import Recipient
from reportline.db import begin_read_only
from reportline.services import audit, case_checks, cases, evidence
from reportline.services.evidence_store import DatabaseChunkStore
from reportline.web.context import now
from reportline.web.database import get_session
from reportline.web.security import STRICTER_CSP_MARK
from reportline.web.triage import access
from reportline.web.triage.views import blueprint

# Headers of every evidence body: never sniffed, never run, never kept by a cache.
BODY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    STRICTER_CSP_MARK: "1",
    "Cache-Control": "no-store",
}
# Chunks sent to the client at once (about a mebibyte).
SEND_CHUNKS = 16


def _item(db: Session, reference: str, seq: int) -> tuple[int, evidence.EvidenceItem]:
    """The case id and file `seq` of the case, checked; 404 if there is no such file."""
    case_id = cases.parse_reference(reference)
    case = cases.get_case(db, case_id)
    checked = case_checks.check_as_unit(case, access.current_keyring())
    if checked.secret is None:
        abort(409)
    items, _intact = evidence.read_evidence(
        db,
        DatabaseChunkStore(db),
        case,
        Recipient.CASE,
        checked.secret.private_key(),
        checked.secret.mac_key(),
    )
    item = next((i for i in items if i.seq == seq), None)
    if item is None:
        abort(404)
    return case_id, item


@blueprint.get("/cases/<reference>/evidence/<int:seq>")
def evidence_file(reference: str, seq: int) -> str:
    """A file's page: what it is, what cleaning removed, its preview, a download button."""
    db = get_session()
    begin_read_only(db)
    case_id, item = _item(db, reference, seq)
    db.rollback()
    return render_template("triage/evidence.html", reference=cases.reference(case_id), item=item)


@blueprint.get("/cases/<reference>/evidence/<int:seq>/preview")
def evidence_preview(reference: str, seq: int) -> Response:
    """The re-encoded preview of an image (audited as a view of the file)."""
    db = get_session()
    case_id, item = _item(db, reference, seq)
    if not item.readable or not item.preview_chunks or item.description is None:
        abort(404)
    return _stream(db, case_id, item, evidence.PREVIEW, "evidence.viewed")


@blueprint.get("/cases/<reference>/evidence/<int:seq>/download")
def evidence_download(reference: str, seq: int) -> Response:
    """The cleaned file as an attachment (audited)."""
    db = get_session()
    case_id, item = _item(db, reference, seq)
    if not item.readable or item.description is None:
        abort(409)
    return _stream(db, case_id, item, evidence.CONTENT, "evidence.downloaded")


def _stream(
    db: Session, case_id: int, item: evidence.EvidenceItem, part: int, action: str
) -> Response:
    """Audit, commit, then stream the part chunk by chunk."""
    assert item.description is not None
    audit.record(db, g.signed_in.officer.email, action, now(), case_id=case_id, file=item.seq)
    db.commit()
    store = DatabaseChunkStore(db, streaming=True)

    def body() -> Iterator[bytes]:
        yield from _joined(evidence.read_part(store, item, part))

    info = item.description
    if part == evidence.PREVIEW:
        media_type = info.preview_type or "application/octet-stream"
        disposition = "inline"
        length = None
    else:
        media_type = info.media_type if info.kind != "text" else "text/plain; charset=utf-8"
        disposition = "attachment; " + _filename(info.name)
        length = info.size
    response = Response(stream_with_context(body()), mimetype=None, content_type=media_type)
    response.headers["Content-Disposition"] = disposition
    if length is not None:
        response.headers["Content-Length"] = str(length)
    response.headers.update(BODY_HEADERS)
    return response


def _joined(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks joined into pieces of about a mebibyte: waitress does a fixed amount
    of work per piece written (a lock, a buffer append, a send attempt), which at 64
    KiB pieces cost about a tenth of a download's CPU time."""
    pending: list[bytes] = []
    for chunk in chunks:
        pending.append(chunk)
        if len(pending) == SEND_CHUNKS:
            yield b"".join(pending)
            pending = []
    if pending:
        yield b"".join(pending)


def _filename(name: str) -> str:
    """Content-Disposition filename parameters: an ASCII fallback and the UTF-8 name."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return f"filename=\"{fallback or 'file'}\"; filename*=UTF-8''{quote(name, safe='')}"
