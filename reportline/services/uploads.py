"""Files arriving from a reporter's browser in chunks, sealed the moment each arrives.

With JavaScript, the report form (and the follow-up reply) sends each file
ahead of the form, in chunks of `CHUNK_BYTES`, each one request small enough
to stay in the server's memory. The browser makes a random 32-byte token per
file; each chunk is sealed under a key derived from it before it is stored,
and the row's id is a hash of it, so the database holds nothing it can open.
When the form is sent with the token, `take` opens the chunks into memory for
cleaning (reportline.cleaning) and deletes them (docs/security.md, "Evidence").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import hkdf
from reportline.models import Upload, UploadChunk
from reportline.services.errors import ServiceError

TOKEN_BYTES = 32
# One chunk fills an S1 bucket exactly (4 bytes are its length), and a request with
# it stays under `max_request_bytes`.
CHUNK_BYTES = 512 * 1024 - aead.LENGTH_PREFIX_BYTES
# Uploads nobody sent a form for are removed once they are this many days old.
KEEP_DAYS = 1


class UploadInvalid(ServiceError):
    """A chunk or token that does not belong: out of order, too large, or unknown."""


class UploadTooLarge(ServiceError):
    """The file passed the per-file limit."""


def new_token_text() -> str:
    """A fresh token as a browser sends it (what static/js/evidence.js makes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()


def parse_token(text: str | None) -> bytes:
    """The token a browser sent (unpadded base64url of 32 bytes). Raises UploadInvalid."""
    try:
        token = base64.urlsafe_b64decode((text or "") + "=")
    except (binascii.Error, ValueError) as exc:
        raise UploadInvalid("not an upload token") from exc
    if len(token) != TOKEN_BYTES:
        raise UploadInvalid("not an upload token")
    return token


def _upload_id(token: bytes) -> bytes:
    return hashlib.sha256(b"reportline:v1:upload-id:" + token).digest()


def _chunk_context(upload_id: bytes, index: int) -> bytes:
    return context("upload-chunk", upload=upload_id.hex(), index=index)


def add_chunk(
    session: Session, token: bytes, index: int, data: bytes, today: date, file_limit: int
) -> int:
    """Seal and store chunk `index` of the upload (0 starts it); return the bytes so far.

    Raises UploadInvalid for a chunk out of order, empty or over `CHUNK_BYTES`, and
    UploadTooLarge when the file passes `file_limit`. The caller commits.
    """
    if not data or len(data) > CHUNK_BYTES:
        raise UploadInvalid("a chunk must hold 1 byte to one chunk's size")
    upload_id = _upload_id(token)
    upload = session.scalars(select(Upload).where(Upload.id == upload_id).with_for_update()).first()
    if upload is None:
        if index != 0:
            raise UploadInvalid("no such upload")
        upload = Upload(id=upload_id, started_on=today, chunk_count=0, received_bytes=0)
        session.add(upload)
    if index != upload.chunk_count:
        raise UploadInvalid("chunks must arrive in order")
    if upload.received_bytes + len(data) > file_limit:
        raise UploadTooLarge(f"over the limit of {file_limit} bytes")
    session.add(
        UploadChunk(
            upload_id=upload_id,
            idx=index,
            data=aead.encrypt(hkdf(token, "upload:spool"), data, _chunk_context(upload_id, index)),
        )
    )
    upload.chunk_count += 1
    upload.received_bytes += len(data)
    return upload.received_bytes


def take(session: Session, token: bytes, size: int) -> bytes:
    """The whole file of an upload, in memory, and the upload deleted (the caller commits).

    Raises UploadInvalid if there is no such upload or it does not hold `size` bytes
    (a form sent before its last chunk arrived), DecryptionError if a chunk was altered.
    """
    upload_id = _upload_id(token)
    upload = session.get(Upload, upload_id)
    if upload is None or upload.received_bytes != size:
        raise UploadInvalid("the file did not arrive whole")
    key = hkdf(token, "upload:spool")
    parts: list[bytes] = []
    rows = session.execute(
        select(UploadChunk.idx, UploadChunk.data)
        .where(UploadChunk.upload_id == upload_id)
        .order_by(UploadChunk.idx)
    )
    for expected, (index, sealed) in enumerate(rows):
        if index != expected:
            raise DecryptionError("a chunk of the upload is missing")
        parts.append(aead.decrypt(key, bytes(sealed), _chunk_context(upload_id, index)))
    # Joined once: the file and its parts are both in memory only for that moment.
    data = b"".join(parts)
    del parts
    if len(data) != size:
        raise UploadInvalid("the file did not arrive whole")
    discard(session, token)
    return data


def discard(session: Session, token: bytes) -> None:
    """Delete an upload and its chunks (the caller commits)."""
    upload_id = _upload_id(token)
    session.execute(delete(UploadChunk).where(UploadChunk.upload_id == upload_id))
    session.execute(delete(Upload).where(Upload.id == upload_id))


def purge_stale(session: Session, today: date) -> int:
    """Delete uploads no form was sent for within `KEEP_DAYS`; return how many."""
    stale = list(
        session.scalars(
            select(Upload.id).where(Upload.started_on < today - timedelta(days=KEEP_DAYS))
        )
    )
    if stale:
        session.execute(delete(UploadChunk).where(UploadChunk.upload_id.in_(stale)))
        session.execute(delete(Upload).where(Upload.id.in_(stale)))
    return len(stale)
