"""Free text as ReportLine keeps it: what was typed, without control characters.

Browsers send what people type, but a request can carry anything: NUL bytes
(which PostgreSQL refuses in text), terminal escapes, form feeds. Those are
removed on the way in. Line breaks become "\\n" and tabs stay. Characters that
are invisible or reorder text (bidirectional overrides, zero-width spaces) are
kept, because they may be part of what was reported, and are marked where the
text is shown (`reportline.web.display`).
"""

from __future__ import annotations

import re

# C0 and C1 control characters but tab and line feed, and DEL.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """`text` with line breaks made "\\n" and every other control character removed."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
