"""Floods: many reports sent by a script. Stored, never dropped; held apart and reviewed.

No CAPTCHA, and no counting of client addresses: on an intranet every reporter
may arrive through one proxy, so a limit per address would shut everyone out.
Instead:

* a form must be open for `min_form_seconds` before it is sent, and it carries
  a hidden field that people never fill (`reportline.web.reporter.forms`);
* while this process has accepted more than `flood_reports` reports in the
  last `flood_window_minutes` (counted in memory, never in rows: a counter row
  would date reports), each new report is still stored but marked "possible
  flood", unless the browser did the proof of work its form asked for;
* flood-marked reports are listed apart in the queue, counted in the default
  view, until a supervisor releases them into the queue, closes them, or
  deletes them once closed (`services.flood_review`);
* at most `flood_max_reports` flood-marked reports are kept: beyond that the
  form says the service is busy, keeping what was typed. Reports outside a
  flood never meet this limit.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reportline.models import Case

# An answer to the proof of work is a decimal counter; longer is not an answer.
MAX_PROOF_LENGTH = 20


class FloodMeter:
    """How many reports this process accepted in the last window, counted in memory."""

    def __init__(
        self, threshold: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.window = window_seconds
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()

    def arrive(self) -> bool:
        """Count a report about to be stored; return whether it arrives in a flood.

        Counting and deciding are one step under the lock, so reports arriving on
        several threads at once cannot all slip in under the threshold.
        """
        with self._lock:
            now = self._clock()
            self._trim(now)
            self._times.append(now)
            return len(self._times) > self.threshold


def proof_is_valid(challenge: str, answer: str | None, bits: int) -> bool:
    """Whether SHA-256(challenge ":" answer) starts with `bits` zero bits.

    The browser finds an answer by trying counters (static/js/enhance.js); a
    check costs one hash. `bits` = 0 turns the proof off.
    """
    if (
        bits <= 0
        or not answer
        or len(answer) > MAX_PROOF_LENGTH
        or not (answer.isascii() and answer.isdigit())
    ):
        return False
    digest = hashlib.sha256(f"{challenge}:{answer}".encode("ascii")).digest()
    return int.from_bytes(digest, "big") >> (256 - bits) == 0


def held_count(session: Session) -> int:
    """How many flood-marked reports are stored (the storage ceiling counts these)."""
    return session.scalar(select(func.count()).select_from(Case).where(Case.possible_flood)) or 0
