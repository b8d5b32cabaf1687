"""Cleaning evidence files: type decided by content, identifying metadata removed.

Pure functions over bytes, entirely in memory (no temporary files; ffmpeg works on
memfd memory files). Imports no other reportline package, nor Flask or SQLAlchemy.
"""

from reportline.cleaning.clamav import scan_with_clamav
from reportline.cleaning.clean import clean_file
from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import REMOVED_LABELS, CleanedFile, CleaningLimits
from reportline.cleaning.names import safe_display_name

__all__ = [
    "REMOVED_LABELS",
    "CleanedFile",
    "CleaningLimits",
    "FileRefused",
    "RefusalReason",
    "clean_file",
    "safe_display_name",
    "scan_with_clamav",
]
