"""The reporter's way back in: sign in with the receipt, read, reply, leave.

The cookie holds only a random session token. The row holds the token's hash,
a coarse purge hour and a blob sealed under the token's key that says which
case it is and carries the reporter's private key, so the database alone links
no session to any case. The row is written once, at sign-in, and never again:
reading the case writes nothing, and a reply touches only the case's rows, so
not even the database's own bookkeeping (PostgreSQL's transaction ids) ties
the session row to the case. The idle timeout lives in the signed cookie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.crypto.envelope import Recipient
from reportline.crypto.keys import PrivateKey
from reportline.crypto.receipt import parse_receipt
from reportline.models import Case, Message, ReporterSession, StatusChange
from reportline.services import case_checks, cases, deadlines, dialogue, evidence
from reportline.services.errors import ReceiptNotFound, SessionExpired
from reportline.services.sessions import (
    SessionToken,
    b64,
    new_token,
    open_payload,
    seal_payload,
    unb64,
)

SESSION_PURPOSE = "reporter-session"
# However active, a follow-up session ends this long after sign-in.
MAX_SESSION = timedelta(hours=4)


@dataclass
class SignedInReporter:
    """A reporter's live session: their case and their private key."""

    case: Case
    private_key: PrivateKey
    token: SessionToken
    row: ReporterSession


@dataclass(frozen=True)
class FollowUpView:
    """What the reporter sees: status, the unit's promised dates, the conversation.

    `intact` is False when something stored about the case failed its check: the
    reporter is told, plainly, that part of it cannot be shown and that replies
    cannot be added for now (no time of that is recorded anywhere).
    """

    status: str
    received_on: date
    acknowledged_on: date | None
    acknowledge_by: date
    feedback_by: date
    dialogue: list[dialogue.DialogueEntry]
    intact: bool = True
    # What became of the reporter's request that someone not see the report (None if
    # they made none): "pending" until a supervisor sets who may read it, "set" once
    # they have restricted it, "unit" if they gave it to the whole unit.
    exclusion: str | None = None


def _purge_after(expires: datetime) -> datetime:
    """Round up to the next whole hour, so the row does not date the visit."""
    return expires.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def sign_in(
    session: Session,
    typed_receipt: str,
    now: datetime,
    settings: Settings,
) -> SessionToken:
    """Start a follow-up session from a typed receipt.

    Raises MalformedReceipt (the typing is explained; nothing was looked up) or
    ReceiptNotFound. A wrong receipt costs one key derivation and one indexed
    lookup and writes nothing: with 129 bits per receipt guessing is hopeless
    at any rate, so nobody is slowed or locked out for it (the caller bounds the
    work in flight, `reportline.services.limits`), and no row records a failure.
    """
    receipt = parse_receipt(typed_receipt)
    case = session.scalars(
        select(Case).where(Case.receipt_hmac == receipt.lookup_hmac(settings.receipt_pepper))
    ).first()
    if case is None:
        raise ReceiptNotFound("no case matches this receipt")
    token = new_token()
    expires = now + MAX_SESSION
    sealed = seal_payload(
        token,
        SESSION_PURPOSE,
        {
            "case": case.id,
            "key": b64(receipt.reporter_private_key().raw),
            "expires": expires.isoformat(),
        },
    )
    session.add(
        ReporterSession(id_hash=token.id_hash, sealed=sealed, purge_after=_purge_after(expires))
    )
    session.flush()
    return token


def resume(session: Session, token: SessionToken, now: datetime) -> SignedInReporter:
    """The reporter behind a token, or SessionExpired. Writes nothing.

    The caller enforces the idle timeout (kept in the signed cookie).
    """
    row = session.get(ReporterSession, token.id_hash)
    if row is None:
        raise SessionExpired("no such session")
    payload = open_payload(token, SESSION_PURPOSE, row.sealed)
    if datetime.fromisoformat(payload["expires"]) < now:
        raise SessionExpired("session ended")
    case = session.get(Case, payload["case"])
    if case is None:
        raise SessionExpired("case no longer exists")
    return SignedInReporter(
        case=case, private_key=PrivateKey(unb64(payload["key"])), token=token, row=row
    )


def end(session: Session, token: SessionToken) -> None:
    """Delete the session's server-side half."""
    session.execute(delete(ReporterSession).where(ReporterSession.id_hash == token.id_hash))


def view(session: Session, reporter: SignedInReporter) -> FollowUpView:
    """Check and decrypt the conversation for the reporter. Writes nothing.

    The unit's messages since the reporter last wrote are marked new (nothing
    about what the reporter has read is stored).
    """
    case = reporter.case
    check = case_checks.check_as_reporter(case, reporter.private_key)
    entries: list[dialogue.DialogueEntry] = []
    history_intact = False
    if check.mac_key is not None:
        entries = dialogue.read_dialogue(
            session, case, Recipient.REPORTER, reporter.private_key, check.mac_key
        )
        changes = session.scalars(select(StatusChange).where(StatusChange.case_id == case.id)).all()
        history_intact = case_checks.history_intact(list(changes), case, check.mac_key)
    last_reply = max((e.seq for e in entries if e.author == "reporter"), default=0)
    entries = [replace(e, unread=e.author == "officer" and e.seq > last_reply) for e in entries]
    return FollowUpView(
        status=case.status,
        received_on=case.received_on,
        acknowledged_on=case.acknowledged_on,
        acknowledge_by=deadlines.acknowledge_by(case.received_on),
        feedback_by=deadlines.feedback_by(case.acknowledged_on, case.received_on),
        dialogue=entries,
        intact=not check.faults and history_intact and dialogue.dialogue_intact(entries),
        exclusion=_exclusion(case) if check.mac_key is not None and not check.faults else None,
    )


def _exclusion(case: Case) -> str | None:
    """What the reporter is told of their exclusion (read only from a state MAC that held)."""
    if not case.reporter_excluded:
        return None
    return {cases.PENDING: "pending", cases.RESTRICTED: "set"}.get(case.access, "unit")


def reply(
    session: Session,
    reporter: SignedInReporter,
    text: str,
    today: date,
    files: Sequence[evidence.PreparedFile] = (),
) -> None:
    """Add the reporter's reply or new information, sealed to the case and to themselves,
    with the files it brought (stored already: services.evidence.store_cleaned).

    Raises MessageInvalid for an empty or over-long message, CaseTampered when
    something stored about the case failed its check.
    """
    text = dialogue.clean_message(text)
    case = cases.get_case(session, reporter.case.id, for_update=True)
    check = case_checks.check_as_reporter(case, reporter.private_key)
    if check.mac_key is None or check.faults:
        raise case_checks.CaseTampered(check.faults)
    messages = session.scalars(select(Message).where(Message.case_id == case.id)).all()
    if not dialogue.messages_intact(list(messages), case, check.mac_key):
        raise case_checks.CaseTampered(frozenset({case_checks.Fault.MESSAGES}))
    changes = session.scalars(select(StatusChange).where(StatusChange.case_id == case.id)).all()
    if not case_checks.history_intact(list(changes), case, check.mac_key):
        raise case_checks.CaseTampered(frozenset({case_checks.Fault.HISTORY}))
    keys = cases.bound_keys(case, reporter.private_key)
    dialogue.add_message(session, case, "reporter", text, today, keys)
    if files:
        evidence.attach(session, case, keys, files, today)
