"""The evidence slots of the report form and of a reply: read, cleaned, stored.

Without JavaScript a slot's file arrives in the form's own multipart body (held
in memory whole: the body is capped by `evidence_form_max_bytes`). With
JavaScript (static/js/evidence.js) the file was sent ahead in sealed chunks
(services.uploads) and the slot carries its token, name and size instead.
Either way each file is cleaned in memory, one at a time, and stored sealed
(services.evidence) before the report or reply that refers to it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from flask import g, request
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from reportline import cleaning
from reportline.crypto.errors import DecryptionError
from reportline.services import evidence, uploads
from reportline.services.evidence_store import ChunkStore
from reportline.services.text import clean_text
from reportline.web.context import settings
from reportline.web.labels import refusal_message

# Slots shown without JavaScript; the script offers more, up to MAX_FILES_PER_FORM.
SLOTS_WITHOUT_SCRIPT = 3
MAX_NAME_LENGTH = 255


@dataclass
class Slot:
    """One file slot as posted, and what went wrong with it."""

    index: int
    description: str = ""
    upload: str = ""
    name: str = ""
    size: str = ""
    file: FileStorage | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def has_file(self) -> bool:
        """Whether a file came with the slot (in the body, or sent ahead in chunks)."""
        return bool(self.upload) or (self.file is not None and bool(self.file.filename))


def limits() -> evidence.Limits:
    """The evidence limits in settings."""
    config = settings()
    return evidence.Limits(
        config.evidence_file_max_bytes,
        config.evidence_report_max_bytes,
        config.evidence_quota_bytes,
    )


def read_slots() -> list[Slot]:
    """The slots of the posted form (at least the ones shown without a script)."""
    slots = []
    for index in range(evidence.MAX_FILES_PER_FORM):
        prefix = f"evidence-{index}-"
        slot = Slot(
            index,
            description=clean_text(request.form.get(prefix + "description", "")).strip(),
            upload=request.form.get(prefix + "upload", "").strip(),
            name=clean_text(request.form.get(prefix + "name", ""))[:MAX_NAME_LENGTH],
            size=request.form.get(prefix + "size", "").strip(),
            file=request.files.get(prefix + "file"),
        )
        if index < SLOTS_WITHOUT_SCRIPT or slot.has_file or slot.description:
            slots.append(slot)
    return slots


def empty_slots() -> list[Slot]:
    """The slots of a fresh form."""
    return [Slot(index) for index in range(SLOTS_WITHOUT_SCRIPT)]


def check_descriptions(slots: Sequence[Slot]) -> bool:
    """Mark a description that is too long, or given without a file; return whether all pass."""
    ok = True
    for slot in slots:
        if len(slot.description) > evidence.MAX_DESCRIPTION_LENGTH:
            slot.error = _(
                "Use %(limit)s characters or fewer", limit=f"{evidence.MAX_DESCRIPTION_LENGTH:,}"
            )
            ok = False
        elif slot.description and not slot.has_file:
            slot.error = _("Choose the file this description is for, or empty the description")
            ok = False
    return ok


def store_files(
    db: Session, store: ChunkStore, slots: Sequence[Slot], already: int = 0
) -> list[evidence.PreparedFile] | None:
    """Clean and store each slot's file, one at a time, committing its chunks before
    the next; return them, or None after marking the slot that failed (whatever was
    stored for the others is discarded)."""
    prepared: list[evidence.PreparedFile] = []
    config = settings()
    rules = cleaning.CleaningLimits(
        max_bytes=config.evidence_file_max_bytes, max_pixels=config.evidence_max_pixels
    )
    for slot in slots:
        if not slot.has_file:
            continue
        try:
            data, declared = _slot_bytes(db, slot)
            if len(data) > config.evidence_file_max_bytes:
                raise evidence.EvidenceLimitReached("file", config.evidence_file_max_bytes)
            evidence.check_room(
                db, limits(), len(data), already + sum(p.stored_bytes for p in prepared)
            )
            cleaning.scan_with_clamav(data)  # when ClamAV is installed; FileRefused on a find
            cleaned = cleaning.clean_file(data, rules)
            del data
            name = cleaning.safe_display_name(declared, cleaned.extension)
            prepared.append(
                evidence.store_cleaned(store, cleaned, name, slot.description, limits())
            )
            del cleaned
            db.commit()  # durable before anything refers to it
        except cleaning.FileRefused as exc:
            slot.error = refusal_message(exc.reason, str(exc))
        except evidence.EvidenceLimitReached as exc:
            slot.error = limit_message(exc)
        except (uploads.UploadInvalid, DecryptionError):
            slot.error = _("This file did not arrive whole. Choose it again.")
        if slot.error:
            db.rollback()
            evidence.discard_unattached(db, store, prepared)
            db.commit()
            _discard_uploads(db, slots)
            return None
    return prepared


def _discard_uploads(db: Session, slots: Sequence[Slot]) -> None:
    """Forget every file sent ahead for this form: after a refusal they are chosen again
    (those already taken were used up; the others would wait a day for the purge)."""
    for slot in slots:
        if slot.upload:
            with suppress(uploads.UploadInvalid):  # a token no browser of ours made
                uploads.discard(db, uploads.parse_token(slot.upload))
        slot.upload = slot.name = slot.size = ""
    db.commit()


def _slot_bytes(db: Session, slot: Slot) -> tuple[bytes, str]:
    """The slot's file in memory and the name it was sent with."""
    if slot.upload:
        token = uploads.parse_token(slot.upload)
        if not slot.size.isdigit():
            raise uploads.UploadInvalid("no size")
        return uploads.take(db, token, int(slot.size)), slot.name
    assert slot.file is not None
    data = slot.file.stream.read()
    return data, clean_text(slot.file.filename or "")[:MAX_NAME_LENGTH]


def size_text(count: int) -> str:
    """A size as a reporter reads it: "50 MB", or "800 KB" below a megabyte."""
    if count >= 1024 * 1024:
        return _("%(num)s MB", num=f"{count / (1024 * 1024):,.0f}")
    return _("%(num)s KB", num=f"{max(1, count // 1024):,}")


def limit_message(exc: evidence.EvidenceLimitReached) -> str:
    """What a reporter is told when a limit is reached."""
    if exc.which == "file":
        return _(
            "This file is larger than %(size)s, the most one file can be.",
            size=size_text(exc.limit),
        )
    if exc.which == "report":
        return _(
            "A report's files can be at most %(size)s together. Leave this one out, or "
            "send a smaller version.",
            size=size_text(exc.limit),
        )
    return _(
        "The unit cannot take more files just now: its storage is full. Send your report "
        "without this file; the unit can ask you for it later."
    )


def allow_uploads() -> None:
    """Let this page's script send files ahead in chunks: its CSP allows connections to
    this site (every other page allows none)."""
    g.csp_connect_self = True


def slot_context(slots: Sequence[Slot]) -> dict[str, Any]:
    """What the evidence part of a form's template needs."""
    config = settings()
    return {
        "evidence_slots": slots,
        "evidence_errors": [
            (f"evidence-{slot.index}-file", slot.error) for slot in slots if slot.error
        ],
        "evidence_max_files": evidence.MAX_FILES_PER_FORM,
        "evidence_file_mb": config.evidence_file_max_bytes // (1024 * 1024),
        "evidence_file_bytes": config.evidence_file_max_bytes,
        "evidence_form_mb": config.evidence_form_max_bytes // (1024 * 1024),
        "evidence_chunk_bytes": uploads.CHUNK_BYTES,
    }
