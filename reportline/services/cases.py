"""Case keys and sealed case content: the pieces shared by submission, triage and follow-up.

Every case has a random 32-byte case secret. From it come the case key pair
(whose public half is stored, so a reporter's later reply can be sealed without
any secret on the server) and the key of the sealed report itself. The secret
is sealed to the unit key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.envelope import Recipient, open_envelope, seal_envelope
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import hkdf
from reportline.crypto.keys import PrivateKey, PublicKey, open_sealed, private_key_from_seed
from reportline.db import random_id
from reportline.models import Case, CaseKeyGrant, Message
from reportline.services.errors import NoKeyAccess, NotFound
from reportline.services.keyring import UnitKeyring

REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32


@dataclass(frozen=True, repr=False)
class CaseSecret:
    """A case's root secret and what derives from it. repr hides it."""

    raw: bytes

    def __repr__(self) -> str:
        return "CaseSecret(<secret>)"

    def private_key(self) -> PrivateKey:
        """The case private key (opens reporter replies and sealed notes)."""
        return private_key_from_seed(hkdf(self.raw, "case:keypair"))

    def report_key(self) -> bytes:
        """The AES key of the sealed report."""
        return hkdf(self.raw, "case:report")


def reference(case_id: int) -> str:
    """A case's human reference, e.g. RL-3K7D-Q9PX (Crockford base32 of the id)."""
    chars = []
    value = case_id
    for _ in range(8):
        chars.append(REFERENCE_ALPHABET[value & 31])
        value >>= 5
    text = "".join(reversed(chars))
    return f"RL-{text[:4]}-{text[4:]}"


def parse_reference(text: str) -> int:
    """The case id behind a reference; raise NotFound if it cannot be one."""
    cleaned = text.upper().replace("RL-", "", 1).replace("-", "")
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(cleaned) != 8 or any(ch not in REFERENCE_ALPHABET for ch in cleaned):
        raise NotFound("no such case")
    value = 0
    for ch in cleaned:
        value = value * 32 + REFERENCE_ALPHABET.index(ch)
    return value


def binding_context(case_id: int) -> bytes:
    """Associated data of the reporter's binding to the case public key."""
    return context("key-binding", case=case_id)


def bind_case_key(case_id: int, case_public: PublicKey, reporter_key: PrivateKey) -> bytes:
    """Seal the case public key's hash under a key derived from the reporter's key."""
    return aead.encrypt(
        hkdf(reporter_key.raw, "case:binding"),
        hashlib.sha256(case_public.raw).digest(),
        binding_context(case_id),
    )


def verified_case_key_for_reporter(case: Case, reporter_key: PrivateKey) -> PublicKey:
    """The case public key, after checking it is the one bound at submission.

    Raises DecryptionError if someone replaced the key or the binding.
    """
    expected = aead.decrypt(
        hkdf(reporter_key.raw, "case:binding"), case.key_binding, binding_context(case.id)
    )
    if not hmac.compare_digest(expected, hashlib.sha256(case.case_public_key).digest()):
        raise DecryptionError("the case key was replaced")
    return PublicKey(case.case_public_key)


def verified_keys_for_officer(secret: CaseSecret, case: Case) -> tuple[PublicKey, PublicKey]:
    """The case and reporter public keys, after checking them against the sealed report.

    Raises DecryptionError if either was replaced in the database.
    """
    case_public = secret.private_key().public_key()
    report = open_report(secret, case)
    reporter_hash = hashlib.sha256(case.reporter_public_key).hexdigest()
    if case_public.raw != case.case_public_key or not hmac.compare_digest(
        report.get("reporter_key_sha256", ""), reporter_hash
    ):
        raise DecryptionError("a public key of this case was replaced")
    return case_public, PublicKey(case.reporter_public_key)


def grant_context(case_id: int, unit_key_id: int) -> bytes:
    """Associated data of a case secret sealed to a unit key generation."""
    return context("case-key", case=case_id, unit_key=unit_key_id)


def report_context(case_id: int) -> bytes:
    """Associated data of a sealed report."""
    return context("case-report", case=case_id)


def message_context(case_id: int, seq: int, author: str, kind: str) -> bytes:
    """Associated data of one dialogue message."""
    return context("message", case=case_id, seq=seq, author=author, kind=kind)


def seal_report(secret: CaseSecret, case_id: int, fields: dict[str, Any]) -> bytes:
    """Encrypt the report's fields as one padded document."""
    document = json.dumps({"v": 1, **fields}, separators=(",", ":")).encode("utf-8")
    return aead.encrypt(secret.report_key(), document, report_context(case_id))


def open_report(secret: CaseSecret, case: Case) -> dict[str, Any]:
    """Decrypt a case's report fields."""
    fields: dict[str, Any] = json.loads(
        aead.decrypt(secret.report_key(), case.report, report_context(case.id))
    )
    return fields


def open_case_secret(session: Session, case_id: int, keyring: UnitKeyring) -> CaseSecret:
    """Unseal a case's secret with any unit key the officer holds."""
    grants = session.scalars(
        select(CaseKeyGrant).where(
            CaseKeyGrant.case_id == case_id, CaseKeyGrant.unit_key_id.is_not(None)
        )
    ).all()
    return open_secret_from_grants(grants, keyring)


def open_secret_from_grants(grants: Any, keyring: UnitKeyring) -> CaseSecret:
    """Open the first grant sealed to a unit key in `keyring`."""
    for grant in grants:
        if grant.unit_key_id in keyring.keys:
            raw = open_sealed(
                grant.sealed_case_secret,
                keyring.keys[grant.unit_key_id],
                grant_context(grant.case_id, grant.unit_key_id),
            )
            return CaseSecret(raw)
    raise NoKeyAccess("no key you hold opens this case")


def get_case(session: Session, case_id: int) -> Case:
    """A case by id; raise NotFound."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("no such case")
    return case


@dataclass(frozen=True)
class DialogueEntry:
    """One decrypted message as either side sees it."""

    seq: int
    author: str
    kind: str
    sent_on: date
    text: str
    unread: bool
    officer_id: int | None


def add_message(
    session: Session,
    case: Case,
    author: str,
    text: str,
    today: date,
    keys: tuple[PublicKey, PublicKey],
    officer_id: int | None = None,
    kind: str = "message",
) -> Message:
    """Seal a message to (case key, reporter key) — both verified by the caller — and append it."""
    case.message_count += 1
    seq = case.message_count
    case_public, reporter_public = keys
    envelope = seal_envelope(
        text.encode("utf-8"),
        {Recipient.CASE: case_public, Recipient.REPORTER: reporter_public},
        message_context(case.id, seq, author, kind),
    )
    message = Message(
        id=random_id(),
        case_id=case.id,
        seq=seq,
        author=author,
        officer_id=officer_id,
        kind=kind,
        sent_on=today,
        unread=True,
        body=envelope,
    )
    session.add(message)
    if author == "reporter":
        case.unread_by_unit += 1
    else:
        case.unread_by_reporter += 1
    session.flush()
    return message


def read_dialogue(
    session: Session, case: Case, recipient: Recipient, private_key: PrivateKey
) -> list[DialogueEntry]:
    """Decrypt every message of a case, oldest first, as the case or the reporter."""
    messages = session.scalars(
        select(Message).where(Message.case_id == case.id).order_by(Message.seq)
    ).all()
    return [
        DialogueEntry(
            seq=m.seq,
            author=m.author,
            kind=m.kind,
            sent_on=m.sent_on,
            text=open_envelope(
                m.body, recipient, private_key, message_context(case.id, m.seq, m.author, m.kind)
            ).decode("utf-8"),
            unread=m.unread,
            officer_id=m.officer_id,
        )
        for m in messages
    ]


def mark_read(session: Session, case: Case, reader: str) -> None:
    """Mark the other side's messages as read by `reader` ('unit' or 'reporter')."""
    author = "reporter" if reader == "unit" else "officer"
    for message in session.scalars(
        select(Message).where(
            Message.case_id == case.id, Message.author == author, Message.unread.is_(True)
        )
    ):
        message.unread = False
    if reader == "unit":
        case.unread_by_unit = 0
    else:
        case.unread_by_reporter = 0
