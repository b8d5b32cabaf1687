"""An optional virus scan through ClamAV, fed on standard input (never a file path).

The scanner is found by absolute path and run with a fixed argument list, no shell.
"""

from __future__ import annotations

import shutil
import subprocess  # nosec B404

from reportline.cleaning.errors import FileRefused, RefusalReason

SCAN_TIMEOUT_SECONDS = 120.0
# clamdscan streams to a running clamd (fast); clamscan loads the signatures each time.
_SCANNERS = (
    ("clamdscan", ["--no-summary", "--stream", "-"]),
    ("clamscan", ["--no-summary", "-"]),
)


def scan_with_clamav(data: bytes) -> bool:
    """True if a scanner read the file and found nothing; False if no scanner is
    installed or none answered (no daemon, no signature database, a timeout).

    Raises FileRefused(MALWARE) when a scanner reports a detection.
    """
    for name, options in _SCANNERS:
        path = shutil.which(name)
        if path is None:
            continue
        try:
            done = subprocess.run(  # noqa: S603  # nosec B603
                [path, *options],
                input=data,
                capture_output=True,
                timeout=SCAN_TIMEOUT_SECONDS,
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError):
            continue
        # Exit codes: 0 clean, 1 found, 2 error (no daemon, no database).
        if done.returncode == 1 and b"FOUND" in done.stdout:
            raise FileRefused(RefusalReason.MALWARE)
        if done.returncode == 0:
            return True
    return False
