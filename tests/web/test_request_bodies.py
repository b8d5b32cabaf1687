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
        with app.test_request_context(
            route.url, method=route.method, content_type="multipart/form-data; boundary=b"
        ):
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
    with reporter, FdWatch(os.getpid()) as watch:
        response = reporter.post("/report", data=body, content_type=content_type)
        request.files["evidence"].close()  # Werkzeug's own file, else closed only by the GC
    assert response.status_code == 200
    assert watch.temp_files() != []


def _post_file(client: FlaskClient, path: str, size: int) -> Any:
    """POST a multipart form holding one file of `size` bytes (encoded here: the test
    client would spool a large one to a temporary file of its own)."""
    body, content_type = _multipart({}, size)
    return client.post(path, data=body, content_type=content_type)


def test_only_a_multipart_body_to_a_file_form_may_pass_max_request_bytes(make_app: Any) -> None:
    # Werkzeug reads a multipart body 64 KiB at a time and refuses a read larger than
    # MAX_FORM_MEMORY_SIZE (`max_request_bytes`), so that limit stays above 64 KiB.
    app = make_app(max_request_bytes=128 * 1024, evidence_form_max_bytes=MEGABYTE)
    client = app.test_client()
    within_form = _post_file(client, "/report", 500_000)
    over_form = _post_file(client, "/report", MEGABYTE)
    not_multipart = client.post("/report", data={"what_happened": "x" * 200_000})
    over_sign_in = _post_file(client, "/follow-up", 200_000)
    assert within_form.status_code != 413
    assert over_form.status_code == 413 and "too much to send" in over_form.get_data(True)
    assert not_multipart.status_code == 413 and over_sign_in.status_code == 413
