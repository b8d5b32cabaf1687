"""The Flask subclass: exceptions are logged without their messages or locals."""

from __future__ import annotations

import traceback
from types import TracebackType

from flask import Flask, request


class ReportLineFlask(Flask):
    """Flask whose exception log never carries report text.

    Exception messages can contain user input (a decoding error quoting a
    field, say), so the log gets the exception type and the code locations
    only. Reporter-side entries are not timestamped beyond the day (see
    `reportline.web.security.LogFormatter`).
    """

    def log_exception(
        self,
        exc_info: tuple[type[BaseException], BaseException, TracebackType]
        | tuple[None, None, None],
    ) -> None:
        """Log an unhandled exception as its type and stack of code locations."""
        exc_type, _exc, tb = exc_info
        frames = [
            f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)
        ]
        self.logger.error(
            "Unhandled %s on %s %s\n  %s",
            exc_type.__name__ if exc_type else "exception",
            request.method,
            request.url_rule.rule if request.url_rule else "(no route)",
            "\n  ".join(frames),
        )
