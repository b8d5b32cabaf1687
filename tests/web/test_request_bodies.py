"""Request bodies: which views take files, how large a body each takes, and that a file
part of a form stays in memory (docs/security.md, "Evidence: no plaintext on disk")."""

from __future__ import annotations

import io
import os
from typing import Any

from flask import Flask, Request, request
from flask.testing import FlaskClient

from reportline.web.security import takes_files
from tests.fdwatch import FdWatch
from tests.helpers import VALID_REPORT, Enrolled, receipt_on, report_form
from tests.web.routes import routes

# The only views whose forms may carry files, so the only ones that take big bodies.
FILE_FORMS = {"reporter.report", "reporter.follow_up_case"}
MEGABYTE = 1024 * 1024


def test_only_the_report_form_and_the_follow_up_reply_take_files(app: Flask) -> None:
    marked = {rule.endpoint for rule in app.url_map.iter_rules() if takes_files(app, rule.endpoint)}
    assert marked == FILE_FORMS


def test_every_route_but_the_file_forms_takes_at_most_max_request_bytes(
    make_app: Any, samples: dict[str, str | int]
) -> None:
    app = make_app(max_request_bytes=4096, evidence_form_max_bytes=8 * MEGABYTE)
    limits = {}
    for route in routes(app, samples):
        with app.test_request_context(route.url, method=route.method):
            limits[str(route)] = (route.endpoint, request.max_content_length)
    assert limits  # the URL map was swept
    for name, (endpoint, limit) in limits.items():
        assert limit == (8 * MEGABYTE if endpoint in FILE_FORMS else 4096), name


def _multipart(fields: dict[str, str], file_bytes: int) -> tuple[bytes, str]:
    """A multipart body with `fields` and one file part of `file_bytes` bytes."""
    boundary = "reportline-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    head = (
        "".join(parts).encode()
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; '
            'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
    )
    body = head + os.urandom(file_bytes) + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_report_with_a_10_mb_file_part_is_taken_without_a_temporary_file(
    reporter: FlaskClient, unit: Enrolled
) -> None:
    _page, hidden = report_form(reporter)

    body, content_type = _multipart({**VALID_REPORT, **hidden}, 10 * 1000 * 1000)
    with reporter, FdWatch(os.getpid()) as watch:
        response = reporter.post("/report", data=body, content_type=content_type)
        assert isinstance(request.files["evidence"].stream, io.BytesIO)
    assert response.status_code == 200
    assert receipt_on(response.get_data(as_text=True))
    assert watch.polls > 0 and watch.temp_files() == []


def test_the_check_sees_the_temporary_file_werkzeug_would_spool_to(
    app: Flask, reporter: FlaskClient, unit: Enrolled
) -> None:
    """The control: with Flask's own request class the same file part goes to a
    temporary file, and the watch sees it."""
    app.request_class = Request
    app.config["MAX_CONTENT_LENGTH"] = 16 * MEGABYTE
    _page, hidden = report_form(reporter)
    body, content_type = _multipart({**VALID_REPORT, **hidden}, 10 * 1000 * 1000)
    with FdWatch(os.getpid()) as watch:
        response = reporter.post("/report", data=body, content_type=content_type)
    assert response.status_code == 200
    assert watch.temp_files() != []


def test_a_body_over_the_limit_is_refused_with_the_too_large_page(make_app: Any) -> None:
    app = make_app(max_request_bytes=4096, evidence_form_max_bytes=65536)
    client = app.test_client()
    over_form = client.post("/report", data=b"x" * 65537, content_type="application/octet-stream")
    over_sign_in = client.post("/follow-up", data={"receipt": "x" * 5000})
    within_form = client.post("/report", data={"what_happened": "x" * 5000})
    assert over_form.status_code == 413 and over_sign_in.status_code == 413
    assert "too much to send" in over_form.get_data(as_text=True)
    assert within_form.status_code != 413
