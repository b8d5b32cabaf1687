"""The anonymous dialogue: messages sealed to both sides and authenticated as a sequence.

Each message is an E1 envelope sealed to the case key and the reporter's key,
plus an HMAC under the case's MAC key over everything a reader relies on
(case, position, author, kind, date, officer, ciphertext). Readers check every
MAC and that positions run 1..n with n = the case's message count, so a
database writer cannot insert, alter, reorder or remove a message unnoticed:
each such message is shown as altered, missing or unexpected, and the rest of
the conversation stays readable.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto.context import context
from reportline.crypto.envelope import Recipient, open_envelope, seal_envelope
from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey
from reportline.db import random_id
from reportline.models import Case, Message
from reportline.services import ledger
from reportline.services.case_checks import ItemProblem, out_of_place, positions_to_show
from reportline.services.cases import CaseKeys, seal_state
from reportline.services.errors import ServiceError

MAX_MESSAGE_LENGTH = 10000


class MessageInvalid(ServiceError):
    """A message or reason is empty or too long."""


def clean_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """A message as it will be sealed: trimmed, and neither empty nor over `limit`.

    Raises MessageInvalid. Either side's message goes through here.
    """
    text = text.strip()
    if not text:
        raise MessageInvalid("the message is empty")
    if len(text) > limit:
        raise MessageInvalid(f"the message is longer than {limit:,} characters")
    return text


@dataclass(frozen=True)
class DialogueEntry:
    """One message as either side sees it: decrypted, or marked with why it cannot be."""

    seq: int
    author: str
    kind: str
    sent_on: date | None
    text: str = field(repr=False)
    unread: bool
    officer_id: int | None
    problem: ItemProblem | None = None


def dialogue_intact(entries: list[DialogueEntry]) -> bool:
    """Whether every message passed its checks."""
    return all(entry.problem is None for entry in entries)


def message_context(case_id: int, seq: int, author: str, kind: str) -> bytes:
    """Associated data of one dialogue message."""
    return context("message", case=case_id, seq=seq, author=author, kind=kind)


def message_mac(mac_key: bytes, message: Message) -> bytes:
    """The MAC over a message's position, author, kind, date, officer and ciphertext."""
    header = context(
        "message-mac",
        case=message.case_id,
        seq=message.seq,
        author=message.author,
        kind=message.kind,
        sent_on=message.sent_on.isoformat(),
        officer=message.officer_id if message.officer_id is not None else "-",
    )
    return hmac.new(mac_key, header + hashlib.sha256(message.body).digest(), "sha256").digest()


def add_message(
    session: Session,
    case: Case,
    author: str,
    text: str,
    today: date,
    keys: CaseKeys,
    officer_id: int | None = None,
    kind: str = "message",
) -> Message:
    """Seal a message to both sides, authenticate it, and append it to the case.

    `case` must be row-locked by the caller (`cases.get_case(..., for_update=True)`)
    so that two writers never take the same position.
    """
    case.message_count += 1
    seq = case.message_count
    message = Message(
        id=random_id(),
        case_id=case.id,
        seq=seq,
        author=author,
        officer_id=officer_id,
        kind=kind,
        sent_on=today,
        unread=True,
        body=seal_envelope(
            text.encode("utf-8"),
            {Recipient.CASE: keys.case_public, Recipient.REPORTER: keys.reporter_public},
            message_context(case.id, seq, author, kind),
        ),
    )
    message.mac = message_mac(keys.mac_key, message)
    session.add(message)
    if author == "reporter":
        was_in_queue = ledger.needs_attention(case)
        case.unread_by_unit += 1
        ledger.adjust(session, before=was_in_queue, after=ledger.needs_attention(case))
    seal_state(case, keys.mac_key)
    session.flush()
    return message


def read_dialogue(
    session: Session,
    case: Case,
    recipient: Recipient,
    private_key: PrivateKey,
    mac_key: bytes,
) -> list[DialogueEntry]:
    """Check and decrypt every message of a case, oldest first.

    A message that fails its MAC or does not open is listed as ALTERED; a gap
    in the positions 1..n (n = the case's message count) as MISSING; a message
    beyond n as UNEXPECTED. The caller checks the case's state MAC, which
    covers n.
    """
    messages = session.scalars(
        select(Message).where(Message.case_id == case.id).order_by(Message.seq)
    ).all()
    by_seq = {m.seq: m for m in messages}
    entries = []
    for seq in positions_to_show(set(by_seq), case.message_count):
        m = by_seq.get(seq)
        if m is None:
            entries.append(_unreadable(seq, ItemProblem.MISSING))
            continue
        text = None
        if hmac.compare_digest(m.mac, message_mac(mac_key, m)):
            try:
                text = open_envelope(
                    m.body,
                    recipient,
                    private_key,
                    message_context(case.id, m.seq, m.author, m.kind),
                ).decode("utf-8")
            except (DecryptionError, UnicodeDecodeError):
                text = None
        if text is None:
            entries.append(_unreadable(seq, ItemProblem.ALTERED, m))
        elif out_of_place(seq, case.message_count):
            entries.append(_unreadable(seq, ItemProblem.UNEXPECTED, m))
        else:
            entries.append(
                DialogueEntry(m.seq, m.author, m.kind, m.sent_on, text, m.unread, m.officer_id)
            )
    return entries


def messages_intact(messages: list[Message], case: Case, mac_key: bytes) -> bool:
    """Whether a case's messages all carry valid MACs at positions 1..n (nothing opened):
    the queue's check."""
    if sorted(m.seq for m in messages) != list(range(1, case.message_count + 1)):
        return False
    return all(hmac.compare_digest(m.mac, message_mac(mac_key, m)) for m in messages)


def _unreadable(seq: int, problem: ItemProblem, message: Message | None = None) -> DialogueEntry:
    """A message that cannot be shown: where it is, and why; nothing it claims is trusted."""
    return DialogueEntry(seq, "unknown", "message", None, "", False, None, problem)


def mark_read_by_unit(session: Session, case: Case) -> None:
    """Mark the reporter's messages as read by the unit (officers' reads are theirs to record)."""
    for message in session.scalars(
        select(Message).where(
            Message.case_id == case.id, Message.author == "reporter", Message.unread.is_(True)
        )
    ):
        message.unread = False
    was_in_queue = ledger.needs_attention(case)
    case.unread_by_unit = 0
    ledger.adjust(session, before=was_in_queue, after=ledger.needs_attention(case))
