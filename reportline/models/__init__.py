"""Typed SQLAlchemy models, one module per aggregate.

Importing this package registers every table on `reportline.db.Base.metadata`.
"""

from reportline.models.alerts import (
    AlertBatch,
    AlertPreference,
    AlertWatermark,
    PendingAlert,
    UrgentMark,
)
from reportline.models.audit import AuditEntry
from reportline.models.case import Case, Message, QueueLedger, StatusChange
from reportline.models.casework import Note, TriageIndex, TriageRecord
from reportline.models.evidence import (
    EvidenceChunk,
    EvidenceFile,
    OrphanMark,
    Upload,
    UploadChunk,
)
from reportline.models.keys import (
    CaseSeal,
    ExclusionKey,
    ExclusionKeyGrant,
    KeyRotation,
    RecoveryKey,
    ResealWaiting,
    UnitKey,
    UnitKeyGrant,
)
from reportline.models.officer import EnrolmentInvite, Officer, RecoveryCode
from reportline.models.sessions import OfficerSession, ReporterSession
from reportline.models.submission import SpentForm
from reportline.models.throttle import ThrottleBucket, ThrottleSalt

__all__ = [
    "AlertBatch",
    "AlertPreference",
    "AlertWatermark",
    "AuditEntry",
    "Case",
    "CaseSeal",
    "EnrolmentInvite",
    "EvidenceChunk",
    "EvidenceFile",
    "ExclusionKey",
    "ExclusionKeyGrant",
    "KeyRotation",
    "Message",
    "Note",
    "Officer",
    "OfficerSession",
    "OrphanMark",
    "PendingAlert",
    "QueueLedger",
    "RecoveryCode",
    "RecoveryKey",
    "ReporterSession",
    "ResealWaiting",
    "SpentForm",
    "StatusChange",
    "ThrottleBucket",
    "ThrottleSalt",
    "TriageIndex",
    "TriageRecord",
    "UnitKey",
    "UnitKeyGrant",
    "Upload",
    "UploadChunk",
    "UrgentMark",
]
