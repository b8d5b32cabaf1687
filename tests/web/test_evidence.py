"""Evidence files: a reporter attaches files, officers see them cleaned, nothing in clear."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from reportline.crypto.errors import DecryptionError
from reportline.models import AuditEntry, EvidenceChunk, EvidenceFile, Upload
from reportline.services import uploads
from reportline.services.evidence import CHUNK_BYTES
from reportline.services.evidence_store import READ_BATCH
from tests.helpers import (
    VALID_REPORT,
    Enrolled,
    MovableClock,
    count_cases,
    csrf_token,
    first_reference,
    follow_up_sign_in,
    receipt_on,
    report_form,
)
from tests.unit.cleaning_samples import camera_jpeg
from tests.web.test_canary import _database_bytes

TEXT_CANARY = b"CANARYEVIDENCETEXTQ7X"


def send_report(client: FlaskClient, files: dict[int, tuple[bytes, str]], **fields: str) -> Any:
    """Post the report form without JavaScript, files in its own body.

    The body is encoded in memory: the test client would spool one over 500 KB to a
    temporary file it never closes (a ResourceWarning in whichever test comes next)."""
    _page, hidden = report_form(client)
    data: dict[str, Any] = {**VALID_REPORT, **hidden, **fields}
    for index, (content, name) in files.items():
        data[f"evidence-{index}-file"] = FileStorage(io.BytesIO(content), name)
    boundary, body = encode_multipart(MultiDict(data))
    return client.post(
        "/report", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def send_ahead(client: FlaskClient, csrf: str, content: bytes) -> str:
    """Send a file ahead of its form in chunks, as the page's JavaScript does; its token."""
    token = uploads.new_token_text()
    size = uploads.CHUNK_BYTES
    for index, start in enumerate(range(0, len(content), size)):
        answer = client.post(
            "/evidence/chunk",
            data=content[start : start + size],
            headers={
                "X-CSRFToken": csrf,
                "X-Upload-Token": token,
                "X-Chunk-Index": str(index),
                "Content-Type": "application/octet-stream",
            },
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
    return token


def chunks_stored(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(EvidenceChunk)) or 0


def case_page(officer: FlaskClient, reference: str) -> str:
    return officer.get(f"/triage/cases/{reference}").get_data(as_text=True)


def test_a_photo_sent_without_javascript_reaches_the_officer_cleaned_of_its_location(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    response = send_report(
        reporter,
        {0: (camera_jpeg(size=(120, 80)), "IMG_0042.jpg")},
        **{"evidence-0-description": "The group chat message"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    receipt_page = response.get_data(as_text=True)
    assert "IMG_0042.jpg" in receipt_page and "location (GPS)" in receipt_page
    reference = first_reference(supervisor)
    page = case_page(supervisor, reference)
    assert "IMG_0042.jpg" in page and "The group chat message" in page
    file_page = supervisor.get(f"/triage/cases/{reference}/evidence/1").get_data(as_text=True)
    assert "location (GPS)" in file_page
    preview = supervisor.get(f"/triage/cases/{reference}/evidence/1/preview")
    assert preview.status_code == 200 and preview.mimetype in {"image/jpeg", "image/png"}
    assert b"Canary" not in preview.data
    preview.close()
    download = supervisor.get(f"/triage/cases/{reference}/evidence/1/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in download.headers["Content-Security-Policy"]
    assert b"Canary" not in download.data
    picture = Image.open(io.BytesIO(download.data))
    assert picture.size == (120, 80) and not picture.getexif()
    actions = db.scalars(select(AuditEntry.action)).all()
    assert "evidence.viewed" in actions and "evidence.downloaded" in actions


def test_file_bytes_never_rest_in_clear(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session, backend: str, instance_path: Path
) -> None:
    text = b"Chat log\n" + TEXT_CANARY * 18_000  # 378 KB (the test client spools more to a file)
    response = send_report(reporter, {0: (text, "chat.txt")})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    reference = first_reference(supervisor)
    assert supervisor.get(f"/triage/cases/{reference}/evidence/1/download").data == text
    at_rest = _database_bytes(backend, db, instance_path)
    assert TEXT_CANARY not in at_rest and b"chat.txt" not in at_rest
    assert chunks_stored(db) > 5


def test_a_file_longer_than_one_database_read_downloads_whole_and_in_order(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    text = b"".join(b"line %07d of the chat log\n" % n for n in range(170_000))  # 4.9 MB
    assert len(text) > READ_BATCH * CHUNK_BYTES  # read in more than one batch
    _page, hidden = report_form(reporter)
    token = send_ahead(reporter, hidden["csrf_token"], text)
    sent = {"evidence-0-upload": token, "evidence-0-name": "chat.txt"}
    sent["evidence-0-size"] = str(len(text))
    response = reporter.post(
        "/report", data={**VALID_REPORT, **hidden, **sent}, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    reference = first_reference(supervisor)
    download = supervisor.get(f"/triage/cases/{reference}/evidence/1/download")
    assert download.headers["Content-Length"] == str(len(text)) and download.data == text


def test_a_refused_file_keeps_what_was_typed_and_stores_nothing(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    elf = b"\x7fELF\x02\x01\x01" + bytes(200)
    response = send_report(reporter, {0: (elf, "holiday.jpg")}, what_happened="CANARYTYPEDSTORYQ7X")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "CANARYTYPEDSTORYQ7X" in page and "This kind of file cannot be sent" in page
    assert count_cases(db) == 0 and chunks_stored(db) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "This file is empty"),
        (b"%PDF-1.7\n" + bytes(100), "could not be read"),
    ],
)
def test_an_empty_or_broken_file_is_refused_with_a_clear_message(
    reporter: FlaskClient, unit: Enrolled, db: Session, content: bytes, message: str
) -> None:
    response = send_report(reporter, {1: (content, "x.pdf")})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert count_cases(db) == 0 and chunks_stored(db) == 0


def test_a_file_name_cannot_climb_out_or_carry_control_characters(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    response = send_report(reporter, {0: (b"plain words", "../../etc/passwd\x07\u202e.txt")})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    reference = first_reference(supervisor)
    download = supervisor.get(f"/triage/cases/{reference}/evidence/1/download")
    disposition = download.headers["Content-Disposition"]
    assert "/" not in disposition.split("filename*")[0] and ".." not in disposition
    assert "\x07" not in disposition and "%E2%80%AE" not in disposition


def test_a_file_over_the_limit_is_refused_and_the_report_kept_for_another_try(
    make_app: Any, unit: Enrolled, db: Session
) -> None:
    small = make_app(evidence_file_max_bytes=1000)
    response = send_report(small.test_client(), {0: (b"x" * 2000, "long.txt")})
    assert response.status_code == 400
    assert "larger than 1 KB, the most one file can be" in response.get_data(as_text=True)
    assert count_cases(db) == 0 and chunks_stored(db) == 0


def test_files_sent_ahead_in_chunks_are_sealed_on_arrival_and_joined_when_the_form_comes(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session, backend: str, instance_path: Path
) -> None:
    _page, hidden = report_form(reporter)
    content = TEXT_CANARY * 40_000  # more than one chunk
    token = send_ahead(reporter, hidden["csrf_token"], content)
    assert TEXT_CANARY not in _database_bytes(backend, db, instance_path)
    data = {
        **VALID_REPORT,
        **hidden,
        "evidence-0-upload": token,
        "evidence-0-name": "messages.txt",
        "evidence-0-size": str(len(content)),
        "evidence-0-description": "What he sent",
    }
    response = reporter.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    reference = first_reference(supervisor)
    assert supervisor.get(f"/triage/cases/{reference}/evidence/1/download").data == content
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Upload)) == 0
    assert TEXT_CANARY not in _database_bytes(backend, db, instance_path)


def test_a_chunk_out_of_order_or_without_a_token_is_refused(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _page, hidden = report_form(reporter)
    headers = {"X-CSRFToken": hidden["csrf_token"], "X-Upload-Token": uploads.new_token_text()}
    assert (
        reporter.post(
            "/evidence/chunk", data=b"abc", headers={**headers, "X-Chunk-Index": "1"}
        ).status_code
        == 400
    )
    no_token = {"X-CSRFToken": hidden["csrf_token"], "X-Chunk-Index": "0"}
    assert reporter.post("/evidence/chunk", data=b"abc", headers=no_token).status_code == 400
    no_csrf = {"X-Upload-Token": uploads.new_token_text(), "X-Chunk-Index": "0"}
    assert reporter.post("/evidence/chunk", data=b"abc", headers=no_csrf).status_code == 400
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Upload)) == 0


def test_a_reporter_adds_a_file_through_follow_up(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    receipt = receipt_on(
        send_report(reporter, {0: (b"first file", "one.txt")}).get_data(as_text=True)
    )
    follow_up_sign_in(reporter, receipt)
    page = reporter.get("/follow-up/case").get_data(as_text=True)
    response = reporter.post(
        "/follow-up/case",
        data={
            "csrf_token": csrf_token(page),
            "message": "Here is the second screenshot",
            "evidence-0-file": (io.BytesIO(camera_jpeg()), "second.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    reference = first_reference(supervisor)
    page = case_page(supervisor, reference)
    assert "one.txt" in page and "second.jpg" in page and "Cannot be shown" not in page


def test_a_removed_file_or_a_missing_chunk_is_noticed_on_the_case_page(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    send_report(reporter, {0: (b"one" * 30_000, "a.txt"), 1: (b"two", "b.txt")})
    reference = first_reference(supervisor)
    first = db.scalars(select(EvidenceFile).where(EvidenceFile.seq == 1)).one()
    db.execute(
        EvidenceChunk.__table__.delete().where(
            EvidenceChunk.file_id == first.id, EvidenceChunk.idx == 1
        )
    )
    db.commit()
    page = case_page(supervisor, reference)
    assert "Incomplete" in page and "Part of this file is missing" in page
    db.execute(EvidenceFile.__table__.delete().where(EvidenceFile.seq == 2))
    db.commit()
    assert "An evidence file was changed, removed or added" in case_page(supervisor, reference)


def test_chunks_truncated_reordered_or_swapped_between_files_do_not_open(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    send_report(reporter, {0: (b"A" * 200_000, "a.txt"), 1: (b"B" * 200_000, "b.txt")})
    reference = first_reference(supervisor)
    first, second = db.scalars(select(EvidenceFile).order_by(EvidenceFile.seq)).all()
    url = f"/triage/cases/{reference}/evidence/1/download"

    def chunk(file_id: int, idx: int) -> bytes:
        return db.scalars(
            select(EvidenceChunk.data).where(
                EvidenceChunk.file_id == file_id, EvidenceChunk.part == 0, EvidenceChunk.idx == idx
            )
        ).one()

    def put(file_id: int, idx: int, data: bytes) -> None:
        db.execute(
            update(EvidenceChunk)
            .where(
                EvidenceChunk.file_id == file_id, EvidenceChunk.part == 0, EvidenceChunk.idx == idx
            )
            .values(data=data)
        )
        db.commit()

    original = [chunk(first.id, i) for i in range(first.chunk_count)]
    put(first.id, 0, original[1])  # reordered
    with pytest.raises(DecryptionError):
        supervisor.get(url).get_data()
    put(first.id, 0, chunk(second.id, 0))  # swapped from another file
    with pytest.raises(DecryptionError):
        supervisor.get(url).get_data()
    flipped = bytearray(original[0])
    flipped[40] ^= 1
    put(first.id, 0, bytes(flipped))  # one flipped byte
    with pytest.raises(DecryptionError):
        supervisor.get(url).get_data()
    put(first.id, 0, original[0])
    assert supervisor.get(url).data == b"A" * 200_000


def test_orphaned_chunks_are_removed_by_purge_two_rounds_after_they_are_seen(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    from reportline.services.evidence_store import DatabaseChunkStore, sweep_orphans

    store = DatabaseChunkStore(db)
    store.put(77, 0, [b"sealed bytes"])
    db.commit()
    assert sweep_orphans(db, store) == 0  # marked
    db.commit()
    assert chunks_stored(db) == 1
    assert sweep_orphans(db, store) == 1
    db.commit()
    assert chunks_stored(db) == 0


def test_the_hand_over_export_carries_each_cleaned_file_with_its_hash_in_the_manifest(
    reporter: FlaskClient, supervisor: FlaskClient, db: Session
) -> None:
    import hashlib
    import json
    import zipfile

    from tests.helpers import post_form

    send_report(reporter, {0: (camera_jpeg(), "chat.jpg"), 1: (b"a log of messages", "log.txt")})
    reference = first_reference(supervisor)
    photo = supervisor.get(f"/triage/cases/{reference}/evidence/1/download").data
    url = f"/triage/cases/{reference}"
    response = post_form(supervisor, url, f"{url}/export", {"variant": "sanitised"})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    (photo_name,) = [n for n in names if n.startswith("evidence/") and n.endswith(".jpg")]
    assert archive.read(photo_name) == photo and b"Canary" not in photo
    manifest = json.loads(archive.read("manifest.json"))
    listed = json.dumps(manifest)
    assert hashlib.sha256(photo).hexdigest() in listed
    assert hashlib.sha256(b"a log of messages").hexdigest() in listed


def test_authors_and_tracked_change_authors_are_gone_from_a_document_after_decryption(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    import zipfile

    from tests.unit.cleaning_samples import docx_parts, zipped

    response = send_report(reporter, {0: (zipped(docx_parts()), "statement.docx")})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    reference = first_reference(supervisor)
    document = supervisor.get(f"/triage/cases/{reference}/evidence/1/download").data
    parts = zipfile.ZipFile(io.BytesIO(document))
    everything = b"".join(parts.read(name) for name in parts.namelist())
    for name in (b"CanaryInserter", b"CanaryDeleter", b"CanaryCommenter", b"CanaryCreator"):
        assert name not in everything
    assert b"CanaryEditor" not in everything and b"CanaryCompany" not in everything


def test_a_decompression_bomb_is_refused_and_nothing_stored(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    from tests.unit.cleaning_samples import pixel_bomb_png

    response = send_report(reporter, {0: (pixel_bomb_png(), "map.png")})
    assert response.status_code == 400
    assert "unpacks to far more than it seems" in response.get_data(as_text=True)
    assert count_cases(db) == 0 and chunks_stored(db) == 0


def test_a_form_sent_before_its_file_arrived_whole_is_refused_and_nothing_stored(
    reporter: FlaskClient, unit: Enrolled, db: Session
) -> None:
    _page, hidden = report_form(reporter)
    token = uploads.new_token_text()
    headers = {
        "X-CSRFToken": hidden["csrf_token"],
        "X-Upload-Token": token,
        "X-Chunk-Index": "0",
    }
    assert reporter.post("/evidence/chunk", data=b"half a file", headers=headers).status_code == 200
    data = {
        **VALID_REPORT,
        **hidden,
        "what_happened": "CANARYKEPTSTORYQ7X",
        "evidence-0-upload": token,
        "evidence-0-name": "cut.txt",
        "evidence-0-size": "100000",
    }
    response = reporter.post("/report", data=data, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "did not arrive whole" in page and "CANARYKEPTSTORYQ7X" in page
    assert count_cases(db) == 0 and chunks_stored(db) == 0


def test_the_report_limit_and_the_instance_quota_refuse_files_with_a_clear_message(
    make_app: Any, unit: Enrolled, db: Session
) -> None:
    per_report = make_app(evidence_report_max_bytes=100_000)
    two = {0: (b"a" * 60_000, "a.txt"), 1: (b"b" * 60_000, "b.txt")}
    response = send_report(per_report.test_client(), two)
    assert response.status_code == 400
    assert "files can be at most 97 KB together" in response.get_data(as_text=True)
    full = make_app(evidence_quota_bytes=50_000)
    response = send_report(full.test_client(), {0: (b"c" * 60_000, "c.txt")})
    assert response.status_code == 400
    assert "its storage is full" in response.get_data(as_text=True)
    assert count_cases(db) == 0 and chunks_stored(db) == 0
