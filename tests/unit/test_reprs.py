"""Objects that carry secrets or report text never show them in a repr.

A repr is what a debugger, an error tracker or a careless log line prints; it
must not be where a pepper, a second-factor seed or a report ends up.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from pathlib import Path
from typing import cast

from sqlalchemy.orm import Session

from reportline.config import load_settings
from reportline.services.dialogue import DialogueEntry
from reportline.services.keyring import UnitKeyring
from reportline.services.rotation import Rotator
from reportline.services.submissions import ReportDraft
from reportline.services.triage import StatusEntry

CANARY = "canary-7f3a9c"


def test_settings_hide_secrets_and_the_database_url(tmp_path: Path) -> None:
    secret = b"pepper-canary-bytes-32-long-abcd"
    settings = load_settings(
        {
            "REPORTLINE_SECRET_KEY": base64.b64encode(secret).decode(),
            "REPORTLINE_RECEIPT_PEPPER": base64.b64encode(secret).decode(),
            "REPORTLINE_DATABASE_URL": f"postgresql://rl:{CANARY}@db/reportline",
        },
        tmp_path,
    )
    text = repr(settings)
    assert "pepper-canary" not in text and CANARY not in text
    assert "officer_idle_minutes=15" in text  # the harmless settings are still shown


def test_report_text_stays_out_of_reprs() -> None:
    draft = ReportDraft(
        category="bullying",
        what_happened=CANARY,
        when=CANARY,
        where=CANARY,
        who_involved=CANARY,
        how_known="told",
        how_known_detail=CANARY,
        at_risk="no",
        at_risk_detail=CANARY,
    )
    message = DialogueEntry(1, "reporter", "message", date(2026, 11, 23), CANARY, False, None)
    change = StatusEntry("received", "closed", "a@unit.example", datetime(2026, 11, 23), CANARY)
    for thing in (draft, message, change):
        assert CANARY not in repr(thing)
    assert "bullying" in repr(draft) and "closed" in repr(change)


def test_a_rotation_never_shows_the_integrity_key() -> None:
    rotator = Rotator(
        cast(Session, None),
        lambda: UnitKeyring({}),
        "cli",
        datetime.now,
        CANARY.encode(),
        Path("instance"),
        lambda _step, _progress: None,
    )
    assert CANARY not in repr(rotator) and "actor='cli'" in repr(rotator)
