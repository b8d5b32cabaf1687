"""Handing a case over: the export zip holds a PDF summary, the evidence and a manifest
whose hash is in the audit log; the sanitised variant keeps the reporter's words and the
conversation out unless asked, and says so; the reporter's exclusion answer is never in
either; a passphrase encrypts it; nothing touches the disk. On every backend."""

from __future__ import annotations

import hashlib
import html
import io
import json
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import pyzipper
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import AuditEntry
from reportline.services import handover
from reportline.services.handover import HandoverFile
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_reader,
    first_reference,
    follow_up_sign_in,
    officer_records,
    officer_writes,
    post_form,
    reporter_replies,
    sign_in,
    submit_report,
)

WORDS = "CANARYWORDS7Q The sergeant took the seized cash"
REPLY = "CANARYREPLY4K I can give you the dates"
OFFICER_MESSAGE = "CANARYASKED9M Can you say when this was?"
EXCLUDE = "CANARYEXCLUDE2P Inspector Example"
WELSH = "Gwenllïan ap Dafydd"
CYRILLIC = "Сергей Иванов"
SUMMARY = f"Seized cash said to be kept by a sergeant; witness {WELSH}; {CYRILLIC} named."
PASSPHRASE = "a long enough passphrase"


@pytest.fixture
def reference(reporter: FlaskClient, supervisor: FlaskClient) -> str:
    """A case whose reporter asked that someone not see it, with a triage record, a
    message each way and a status change."""
    receipt = submit_report(reporter, what_happened=WORDS, exclude=EXCLUDE)
    found = first_reference(supervisor)
    record = officer_records(
        supervisor,
        found,
        allegation_summary=SUMMARY,
        **{"subjects-0-name": WELSH, "links-0-reference": ""},
    )
    assert record.status_code == 303
    assert officer_writes(supervisor, found, OFFICER_MESSAGE).status_code == 303
    follow_up_sign_in(reporter, receipt)
    assert reporter_replies(reporter, REPLY).status_code == 303
    return found


def _export(client: FlaskClient, reference: str, **choices: str) -> Any:
    url = f"/triage/cases/{reference}"
    return post_form(client, url, f"{url}/export", {"variant": "sanitised", **choices})


def _files(response: Any, passphrase: str | None = None) -> dict[str, bytes]:
    """Every file of the exported zip, opened."""
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    with pyzipper.AESZipFile(io.BytesIO(response.get_data())) as archive:
        if passphrase:
            archive.setpassword(passphrase.encode())
        return {name: archive.read(name) for name in archive.namelist()}


def _pdf_text(pdf: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages
    )


def _everything(files: dict[str, bytes]) -> str:
    """All the archive says: its names, the PDF's text and every other file decoded."""
    parts = [*files, _pdf_text(files["summary.pdf"])]
    parts += [data.decode("utf-8", "replace") for data in files.values()]
    return "\n".join(parts)


def _exports(db: Session) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == "case.exported")))


def test_a_sanitised_export_leaves_out_the_reporters_words_and_the_conversation_and_says_so(
    supervisor: FlaskClient, reference: str
) -> None:
    response = _export(supervisor, reference)
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{reference}-sanitised.zip"'
    )
    assert "no-store" in response.headers["Cache-Control"]
    files = _files(response)
    assert list(files) == ["summary.pdf", "manifest.json"]
    first_page = " ".join(
        PdfReader(io.BytesIO(files["summary.pdf"])).pages[0].extract_text().split()
    )
    assert "OFFICIAL-SENSITIVE" in first_page and reference in first_page
    assert "Left out of this export" in first_page
    assert "The report in the reporter's own words" in first_page
    assert "The conversation with the reporter" in first_page
    text = _everything(files)
    assert WELSH in text and CYRILLIC in text and "Two lookups with no policing purpose" in text
    for canary in ("CANARYWORDS", "CANARYREPLY", "CANARYASKED", "CANARYEXCLUDE"):
        assert canary not in text, canary


def test_a_full_export_holds_the_words_and_the_conversation_but_never_the_exclusion_answer(
    supervisor: FlaskClient, reference: str
) -> None:
    files = _files(_export(supervisor, reference, variant="full"))
    text = _everything(files)
    assert WORDS in text and REPLY in text and OFFICER_MESSAGE in text and SUMMARY in text
    assert "Left out of this export" not in text
    assert "CANARYEXCLUDE" not in text and "Inspector Example" not in text
    assert json.loads(files["manifest.json"])["omitted"] == []


def test_a_sanitised_export_adds_back_only_what_the_officer_ticks(
    supervisor: FlaskClient, reference: str
) -> None:
    text = _everything(_files(_export(supervisor, reference, include_conversation="y")))
    assert REPLY in text and OFFICER_MESSAGE in text and "CANARYWORDS" not in text
    assert "The report in the reporter's own words" in text
    text = _everything(_files(_export(supervisor, reference, include_words="y")))
    assert WORDS in text and "CANARYREPLY" not in text and "CANARYEXCLUDE" not in text


def test_the_manifest_lists_every_file_with_its_hash_and_its_own_hash_is_audited(
    supervisor: FlaskClient, reference: str, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = b"\xff\xd8\xff" + bytes(range(256)) * 300

    def chunks() -> Iterable[bytes]:
        return (photo[:1000], photo[1000:])

    evidence = HandoverFile(
        "../Photo of the safe.jpg",
        "image/jpeg",
        len(photo),
        hashlib.sha256(photo).hexdigest(),
        "The safe, taken on my phone",
        chunks,
    )
    monkeypatch.setattr(handover, "evidence_for_handover", lambda *_args: [evidence])
    files = _files(_export(supervisor, reference))
    # The reporter's name for the file is in the manifest, never an entry name (those
    # are not encrypted, even under a passphrase).
    assert list(files) == ["summary.pdf", "evidence/01.jpg", "manifest.json"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["variant"] == "sanitised" and manifest["reference"] == reference
    assert [entry["path"] for entry in manifest["files"]] == list(files)[:2]
    assert manifest["files"][1]["name"] == "../Photo of the safe.jpg"
    for entry in manifest["files"]:
        assert entry["size"] == len(files[entry["path"]])
        assert entry["sha256"] == hashlib.sha256(files[entry["path"]]).hexdigest()
    (entry,) = _exports(db)
    detail = json.loads(entry.detail)
    assert detail["manifest_sha256"] == hashlib.sha256(files["manifest.json"]).hexdigest()
    assert detail["variant"] == "sanitised" and detail["encrypted"] is False
    assert SUMMARY not in entry.detail and "safe" not in entry.detail


def test_a_passphrase_encrypts_the_export_and_only_it_opens_it(
    supervisor: FlaskClient, reference: str, db: Session
) -> None:
    response = _export(supervisor, reference, passphrase=PASSPHRASE, confirm=PASSPHRASE)
    plain = zipfile.ZipFile(io.BytesIO(response.get_data()))
    with plain, pytest.raises(RuntimeError, match="password required"):
        plain.read("summary.pdf")
    with pytest.raises(RuntimeError, match="Bad password"):
        _files(response, "some other passphrase")
    assert WELSH in _everything(_files(response, PASSPHRASE))
    (entry,) = _exports(db)
    assert json.loads(entry.detail)["encrypted"] is True
    assert PASSPHRASE not in entry.detail


@pytest.mark.parametrize(
    ("confirm", "passphrase", "message"),
    [
        (PASSPHRASE + "x", PASSPHRASE, "The two passphrases are not the same"),
        ("short words", "short words", "Use a passphrase of at least 12 characters"),
    ],
)
def test_a_passphrase_mistyped_or_too_short_is_refused_with_a_clear_message(
    supervisor: FlaskClient,
    reference: str,
    db: Session,
    confirm: str,
    passphrase: str,
    message: str,
) -> None:
    response = _export(supervisor, reference, passphrase=passphrase, confirm=confirm)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "There is a problem" in page and message in page
    assert passphrase not in page
    assert _exports(db) == []


def test_only_the_owner_or_a_supervisor_may_export_a_case(
    app: Any,
    reporter: FlaskClient,
    supervisor: FlaskClient,
    db: Session,
    clock: MovableClock,
    unit: Enrolled,
) -> None:
    submit_report(reporter)  # an ordinary case, which every reader sees
    ordinary = first_reference(supervisor)
    colleague = add_reader(db, clock, unit, "colleague@unit.example")
    client = app.test_client()
    assert sign_in(client, colleague, clock).status_code == 303
    page = client.get(f"/triage/cases/{ordinary}").get_data(as_text=True)
    assert "Download the hand-over zip" not in page
    assert _export(client, ordinary).status_code == 403
    assert _exports(db) == []
    url = f"/triage/cases/{ordinary}"
    assert post_form(client, url, f"{url}/take", {"no_conflict": "y"}).status_code == 303
    assert "Download the hand-over zip" in client.get(url).get_data(as_text=True)
    assert _export(client, ordinary).status_code == 200
    assert [entry.actor for entry in _exports(db)] == ["colleague@unit.example"]


def test_nothing_is_written_to_the_temporary_folder_during_an_export(
    supervisor: FlaskClient, reference: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "tmp"
    empty.mkdir()
    monkeypatch.setenv("TMPDIR", str(empty))
    monkeypatch.setattr(tempfile, "tempdir", str(empty))
    for choices in ({"variant": "full"}, {"passphrase": PASSPHRASE, "confirm": PASSPHRASE}):
        assert _export(supervisor, reference, **choices).status_code == 200
    assert list(empty.iterdir()) == []
