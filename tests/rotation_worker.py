"""A unit key rotation that kills its own process (SIGKILL, as `kill -9`) at a chosen
point, for tests/test_keys.py.

python -m tests.rotation_worker INSTANCE RECOVERY_KEY_FILE POINT N

POINT is a step of `rotation.Rotator` (started, pinned, batch, retired), or
`sealing` (in the middle of a batch's cryptography) or `writing` (a batch's
old seals deleted, their replacements not yet written, nothing committed);
the process dies the Nth time it reaches it. Batches hold two seals.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from reportline import utcnow
from reportline.config import load_settings
from reportline.services import instance, keyring, rotation


def main(instance_path: Path, key_file: Path, point: str, nth: int) -> None:
    """Run the rotation to the end, unless killed on the way."""
    seen: Counter[str] = Counter()

    def reached(name: str) -> None:
        seen[name] += 1
        if name == point and seen[name] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def watched(name: str, function: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            reached(name)
            return function(*args, **kwargs)

        return call

    rotation.BATCH = 2
    rotation.seal = watched("sealing", rotation.seal)  # type: ignore[assignment]
    rotation.insert = watched("writing", rotation.insert)  # type: ignore[assignment]
    settings = load_settings(os.environ, instance_path)
    recovery_key = keyring.parse_recovery_key(key_file.read_text("utf-8"))
    with instance.database_session(settings) as session:
        lock = rotation.RotationLock(session.get_bind().engine)
        lock.acquire()
        rotation.Rotator(
            session,
            lambda: keyring.unlock_with_recovery_key(session, recovery_key),
            "cli",
            utcnow,
            instance.integrity_key(settings),
            instance_path,
            lambda step, _progress: reached(step),
        ).run()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
