"""Issue 14: cleaning a phone photo keeps the process's peak growth within its budget."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from reportline.config import Settings
from tests.unit import cleaning_samples as samples

MIB = 1024 * 1024
BUDGET = 64 * MIB  # plus the size of the file being cleaned
DEFAULT_MAX_PIXELS = next(
    field.default for field in dataclasses.fields(Settings) if field.name == "evidence_max_pixels"
)

# Runs in a fresh interpreter so nothing the test process did is counted. The baseline
# is taken after the imports and after the file is read; VmHWM (peak resident set,
# shared pages included) is reset just before the cleaning starts.
_CHILD = """
import json, sys
from reportline.cleaning import CleaningLimits, clean_file

def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])

with open(sys.argv[1], "rb") as upload:
    data = upload.read()
limits = CleaningLimits(max_bytes=50 * 1024 * 1024, max_pixels=int(sys.argv[2]))
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")
baseline = status_kib("VmRSS")
cleaned = clean_file(data, limits)
print(json.dumps({"growth": (status_kib("VmHWM") - baseline) * 1024, "size": len(data)}))
"""


def peak_growth_of_cleaning(path: Path) -> tuple[int, int]:
    """Peak RSS growth in bytes of cleaning the file in a child process (under the default
    pixel cap, so a refusal fails the test), and the file's size."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(DEFAULT_MAX_PIXELS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    measured = json.loads(done.stdout)
    return measured["growth"], measured["size"]


def test_a_rotated_12_megapixel_phone_photo_is_accepted_and_cleaned_within_64_mib_plus_its_size(
    tmp_path: Path,
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(samples.camera_jpeg(orientation=6, size=(4032, 3024)))

    growth, size = peak_growth_of_cleaning(photo)

    assert growth < BUDGET + size, f"peak growth {growth / MIB:.1f} MiB"
