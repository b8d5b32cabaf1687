"""The Flask subclass: exceptions are logged without their messages or locals, and
request bodies are held in memory, never in a temporary file."""

from __future__ import annotations

import io
import traceback
from types import TracebackType
from typing import IO

from flask import Flask, Request, current_app, request

from reportline.web.security import FILE_FORM_MAX_BYTES, takes_files


class ReportLineRequest(Request):
    """A request whose body limit follows its view, and whose files stay in memory.

    Werkzeug would spool a file part of a multipart body over 500 KB to a temporary
    file, in clear; here every part goes to a `BytesIO`. The memory is bounded:
    the whole body is, by `max_content_length` here and `max_request_body_size` in
    waitress (`reportline.cli.waitress_options`).
    """

    @property
    def max_content_length(self) -> int | None:
        """`evidence_form_max_bytes` for a multipart body sent to a view marked
        `accepts_files`, else MAX_CONTENT_LENGTH (`max_request_bytes`); a value set on
        the request wins. (Only a multipart body can carry a file; any other is read
        whole into memory, so it keeps the small limit.)"""
        if self._max_content_length is not None:
            return self._max_content_length
        multipart = self.mimetype == "multipart/form-data"
        if multipart and current_app and takes_files(current_app, self.endpoint):
            return int(current_app.config[FILE_FORM_MAX_BYTES])
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        """Where a file part of a multipart body goes: memory, whatever its size."""
        return io.BytesIO()


class ReportLineFlask(Flask):
    """Flask whose exception log never carries report text.

    Exception messages can contain user input (a decoding error quoting a
    field, say), so the log gets the exception type and the code locations
    only. Reporter-side entries are not timestamped beyond the day (see
    `reportline.web.security.LogFormatter`). Requests are `ReportLineRequest`s.
    """

    request_class = ReportLineRequest

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
