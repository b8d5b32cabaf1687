"""Case keys and sealed case content: the pieces shared by submission, triage and follow-up.

Every case has a random 32-byte case secret. From it come the case key pair
(whose public half is stored, so a reporter's later reply can be sealed without
any secret on the server) and the key of the sealed report itself. The secret
is sealed, in `case_seals`, to the unit key, or for a restricted case to named
officers and the recovery key instead (services.restriction).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import hkdf
from reportline.crypto.keys import PrivateKey, PublicKey, open_sealed, private_key_from_seed, seal
from reportline.models import Case, CaseSeal
from reportline.models.case import PRIORITY_NOT_SET
from reportline.services import deadlines
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

    def mac_key(self) -> bytes:
        """The key that authenticates the dialogue and status history (see CaseKeys)."""
        return hkdf(self.raw, "case:mac")


@dataclass(frozen=True, repr=False)
class CaseKeys:
    """What either side needs to add to a case, each part checked against sealed data.

    `mac_key` is known to the unit (derived from the case secret) and to the
    reporter (sealed in the key binding), never to the server on its own: a
    database writer can seal new content to the public keys, but cannot make
    the MAC that readers check.
    """

    case_public: PublicKey
    reporter_public: PublicKey
    mac_key: bytes

    def __repr__(self) -> str:
        return "CaseKeys(<secret>)"


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
    """Associated data of the reporter's binding to the case."""
    return context("key-binding", case=case_id)


def bind_case(
    case_id: int, secret: CaseSecret, case_public: PublicKey, reporter_key: PrivateKey
) -> bytes:
    """Seal SHA-256(case public key) and the MAC key under a key derived from the reporter's."""
    return aead.encrypt(
        hkdf(reporter_key.raw, "case:binding"),
        hashlib.sha256(case_public.raw).digest() + secret.mac_key(),
        binding_context(case_id),
    )


def bound_keys(case: Case, reporter_key: PrivateKey) -> CaseKeys:
    """The case's keys as the receipt holder knows them, checked against the binding
    (not yet against the case's state). Raises DecryptionError if the case key or the
    binding was replaced."""
    bound = aead.decrypt(
        hkdf(reporter_key.raw, "case:binding"), case.key_binding, binding_context(case.id)
    )
    if len(bound) != 64 or not hmac.compare_digest(
        bound[:32], hashlib.sha256(case.case_public_key).digest()
    ):
        raise DecryptionError("the case key was replaced")
    return CaseKeys(PublicKey(case.case_public_key), reporter_key.public_key(), bound[32:])


def keys_for_reporter(case: Case, reporter_key: PrivateKey) -> CaseKeys:
    """The case's keys as the receipt holder knows them, checked against the binding.

    Raises DecryptionError if the case key or the binding was replaced, or the
    case's status, dates or counts were altered.
    """
    keys = bound_keys(case, reporter_key)
    check_state(case, keys.mac_key)
    return keys


def state_mac(mac_key: bytes, case: Case) -> bytes:
    """The MAC over what the queue and both sides rely on in the clear."""
    # Later fields join the MAC only when set, so cases sealed before they existed
    # keep their MACs. (The next deadline, `due_on`, is checked by recomputing it.)
    later: dict[str, object] = {}
    if case.possible_flood:
        later["flood"] = 1
    if case.priority != PRIORITY_NOT_SET:
        later["priority"] = case.priority
    if case.feedback_given_on is not None:
        later["feedback"] = case.feedback_given_on.isoformat()
    if case.triage_version:
        later["triage"] = case.triage_version
    if case.note_count:
        later["notes"] = case.note_count
    if case.evidence_count:
        later["evidence"] = case.evidence_count
    if case.access != UNIT_ACCESS:
        later["access"] = case.access
    if case.reporter_excluded:
        later["excluded"] = 1
    header = context(
        "case-state",
        case=case.id,
        status=case.status,
        received=case.received_on.isoformat(),
        acknowledged=case.acknowledged_on.isoformat() if case.acknowledged_on else "-",
        changes=case.status_change_count,
        messages=case.message_count,
        unit_key=case.unit_key_id,
        **later,
    )
    return hmac.new(mac_key, header, "sha256").digest()


def due_on(case: Case) -> date | None:
    """The next deadline the case's MAC'd dates and status give."""
    return deadlines.next_deadline(
        case.status, case.received_on, case.acknowledged_on, case.feedback_given_on
    )


def seal_state(case: Case, mac_key: bytes) -> None:
    """Recompute the case's next deadline and state MAC after changing its status,
    dates, counts or priority."""
    case.due_on = due_on(case)
    case.state_mac = state_mac(mac_key, case)


def check_state(case: Case, mac_key: bytes) -> None:
    """Raise DecryptionError if the case's status, dates or counts were altered."""
    if not hmac.compare_digest(case.state_mac, state_mac(mac_key, case)):
        raise DecryptionError("the case's status or dates were altered")


def grant_context(case_id: int, unit_key_id: int) -> bytes:
    """Associated data of a case secret sealed to a unit key generation."""
    return seal_context(case_id, UNIT_KEY, unit_key_id)


UNIT_KEY, OFFICER, RECOVERY, EXCLUSION_GROUP = "unit_key", "officer", "recovery", "exclusion_group"
# A case's access (Case.access): the unit, named officers, or pending a supervisor's choice.
UNIT_ACCESS, RESTRICTED, PENDING = "unit", "restricted", "pending"


def seal_context(case_id: int, holder: str, holder_id: int) -> bytes:
    """Associated data of a case secret sealed to one holder (`case_seals`)."""
    return context("case-key", case=case_id, **{holder: holder_id})


def seal_row(
    case_id: int, unit_key_id: int, secret: CaseSecret, unit_public: PublicKey
) -> dict[str, Any]:
    """The `case_seals` row of a case secret sealed to a unit key generation."""
    sealed = seal(secret.raw, unit_public, grant_context(case_id, unit_key_id))
    return {"case_id": case_id, "holder": UNIT_KEY, "holder_id": unit_key_id, "sealed": sealed}


def report_context(case_id: int) -> bytes:
    """Associated data of a sealed report."""
    return context("case-report", case=case_id)


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


def openable_seal(seals: list[Any], keyring: UnitKeyring) -> Any | None:
    """The seal (any object with `holder` and `holder_id`) `keyring` opens, in this
    order: the newest unit key generation held (during a rotation a case may be sealed
    to two), a seal to the signed-in officer, one to a held exclusion group key, one
    to the recovery key; None if none."""
    units = [s for s in seals if s.holder == UNIT_KEY and s.holder_id in keyring.keys]
    if units:
        return max(units, key=lambda s: s.holder_id)
    for holder, held in (
        (OFFICER, {keyring.officer_id} if keyring.officer_key is not None else set()),
        (EXCLUSION_GROUP, set(keyring.group_keys)),
        (RECOVERY, {keyring.recovery[0]} if keyring.recovery is not None else set()),
    ):
        for seal_ in seals:
            if seal_.holder == holder and seal_.holder_id in held:
                return seal_
    return None


def _holder_key(keyring: UnitKeyring, holder: str, holder_id: int) -> PrivateKey:
    if holder == UNIT_KEY:
        return keyring.get(holder_id)
    if holder == OFFICER and keyring.officer_key is not None:
        return keyring.officer_key
    if holder == EXCLUSION_GROUP and holder_id in keyring.group_keys:
        return keyring.group_keys[holder_id]
    if holder == RECOVERY and keyring.recovery is not None:
        return keyring.recovery[1]
    raise NoKeyAccess("this officer holds no key this case is sealed to")


def open_case_secret(case: Case, keyring: UnitKeyring) -> CaseSecret:
    """Unseal a case's secret with the first seal `openable_seal` finds.

    Raises NoKeyAccess if the keyring opens none of its seals,
    DecryptionError if the sealed secret was altered or moved.
    """
    seal_ = openable_seal(case.seals, keyring)
    if seal_ is None:
        raise NoKeyAccess("this case is sealed to no key this officer holds")
    raw = open_sealed(
        seal_.sealed,
        _holder_key(keyring, seal_.holder, seal_.holder_id),
        seal_context(case.id, seal_.holder, seal_.holder_id),
    )
    return CaseSecret(raw)


def seal_to(
    case_id: int, holder: str, holder_id: int, secret: CaseSecret, public: PublicKey
) -> CaseSeal:
    """A `case_seals` row sealing the case secret to one holder's public key."""
    return CaseSeal(
        case_id=case_id,
        holder=holder,
        holder_id=holder_id,
        sealed=seal(secret.raw, public, seal_context(case_id, holder, holder_id)),
    )


def get_case(session: Session, case_id: int, for_update: bool = False) -> Case:
    """A case by id, row-locked when it is about to change; raise NotFound."""
    case = session.get(Case, case_id, with_for_update=for_update, populate_existing=for_update)
    if case is None:
        raise NotFound("no such case")
    return case
