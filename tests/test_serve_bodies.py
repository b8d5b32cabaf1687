"""`reportline serve` keeps every request and response body in memory, and answers a
body over the cap early with a page that names the limit.

The real command runs in its own process with TMPDIR pointed at an empty folder;
`tests.fdwatch.FdWatch` records every file it opens while a body goes through.
The response path is checked in this process with the same server and options,
against a WSGI app that streams 100 MB to a slow reader; a control with waitress's
own buffer sizes shows the check would see a spill.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from waitress import wasyncore

from reportline.cli import waitress_options
from reportline.web.server import ErrorPages, create_server
from tests.fdwatch import FdWatch
from tests.helpers import SUBMISSION_FIELD, VALID_REPORT, csrf_token, receipt_on
from tests.test_cli import _free_port, _get_when_up, _init, _start

BOUNDARY = "reportline-serve-test"
STREAMED = 100 * 1024 * 1024
PIECE = 64 * 1024


@dataclass
class Served:
    """A running `reportline serve`: its port, process and (empty) TMPDIR."""

    port: int
    pid: int
    tmpdir: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`reportline serve` on a fresh instance, its TMPDIR an empty folder."""
    folder = tmp_path_factory.mktemp("serve-bodies")
    tmpdir = folder / "tmp"
    tmpdir.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPORTLINE_INSTANCE", str(folder / "instance"))
        patch.setenv("REPORTLINE_ARGON2_MEMORY_COST_KIB", "1024")
        patch.setenv("REPORTLINE_ARGON2_TIME_COST", "1")
        result = _init(folder / "instance", folder / "recovery.txt")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        environment = {**os.environ, "TMPDIR": str(tmpdir), "REPORTLINE_MIN_FORM_SECONDS": "0"}
    port = _free_port()
    server = _start(["serve", "--host", "127.0.0.1", "--port", str(port)], environment)
    try:
        _get_when_up(server, f"http://127.0.0.1:{port}/", 30)
        yield Served(port, server.pid, tmpdir)
    finally:
        server.terminate()
        server.communicate(timeout=10)


def _multipart(fields: dict[str, str], file_bytes: int) -> bytes:
    """A multipart body with `fields` and one file part of `file_bytes` random bytes."""
    parts = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    head = parts + (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="evidence"; '
        'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    )
    return head.encode() + os.urandom(file_bytes) + f"\r\n--{BOUNDARY}--\r\n".encode()


def _report_form(port: int) -> tuple[str, dict[str, str]]:
    """GET the report form: the session cookie and the form's hidden values."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/report")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    connection.close()
    submission = SUBMISSION_FIELD.search(page)
    assert submission and cookie
    return cookie, {"csrf_token": csrf_token(page), "submission": submission.group(1)}


def test_a_15_mb_report_goes_through_serve_and_no_byte_of_it_reaches_a_file(
    served: Served,
) -> None:
    cookie, hidden = _report_form(served.port)
    body = _multipart({**VALID_REPORT, **hidden}, 15 * 1000 * 1000)
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    with FdWatch(served.pid, temp_dirs=[served.tmpdir]) as watch:
        connection.request(
            "POST",
            "/report",
            body=body,
            headers={
                "Cookie": cookie,
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        )
        response = connection.getresponse()
        page = response.read().decode()
    connection.close()
    assert response.status == 200, page[:2000]
    assert receipt_on(page)
    assert watch.polls > 10 and watch.temp_files() == []
    assert list(served.tmpdir.iterdir()) == []


def test_a_2_gb_upload_is_answered_at_once_with_the_limit_and_the_server_stays_up(
    served: Served,
) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    with FdWatch(served.pid, temp_dirs=[served.tmpdir]) as watch:
        sock.sendall(
            f"POST /report HTTP/1.1\r\nHost: reportline\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {2 * 1000 * 1000 * 1000}\r\n\r\n".encode()
        )
        sock.sendall(os.urandom(4 * 1000 * 1000))
        answered, _, _ = select.select([sock], [], [], 10)
        for _ in range(20):  # still sending, slowly: the server reads and discards it
            sock.sendall(b"\0" * PIECE)
            time.sleep(0.02)
        response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
        response.begin()
        page = response.read().decode()
    sock.close()
    assert answered  # before the body was anywhere near complete
    assert response.status == 413
    assert "files sent from this form can be at most 16 MB together" in page
    assert "waitress" not in page
    assert "default-src 'none'" in (response.getheader("Content-Security-Policy") or "")
    assert response.getheader("Cache-Control") == "no-store"
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert watch.temp_files() == [] and list(served.tmpdir.iterdir()) == []
    _get_when_up_again(served.port)


@pytest.mark.parametrize("path", ["/leave", "/evidence/chunk", "/triage/login"])
def test_a_body_over_max_request_bytes_for_any_other_path_is_refused_from_its_headers(
    served: Served, path: str
) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: reportline\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {8 * 1000 * 1000}\r\n\r\n".encode()
    )
    answered, _, _ = select.select([sock], [], [], 10)  # not a byte of the body sent
    response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
    response.begin()
    response.read()
    sock.close()
    assert answered and response.status == 413
    _get_when_up_again(served.port)


def _get_when_up_again(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/report")
    assert connection.getresponse().status == 200
    connection.close()


def test_headers_too_large_and_malformed_requests_get_the_sites_page_too(
    served: Served,
) -> None:
    for request, status in [
        (b"GET /report HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n", 431),
        (b"GET /report HTTP/1.1\r\nHost: x\r\nContent-Length: nine\r\n\r\n", 400),
    ]:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(request)
            response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
            response.begin()
            page = response.read().decode()
        assert response.status == status
        assert "Something was wrong with that request" in page and "waitress" not in page
        assert response.getheader("X-Content-Type-Options") == "nosniff"


# ------------------------------------------------------------------- responses


def _stream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """100 MB in 64 KiB pieces, as a download of a large file would come."""
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(STREAMED))],
    )
    piece = os.urandom(PIECE)
    return (piece for _ in range(STREAMED // PIECE))


@contextmanager
def _serving(app: Flask, options: dict[str, Any]) -> Iterator[int]:
    """`_stream` under the server `reportline serve` runs, with `options`; its port."""
    pages = ErrorPages(app, app.extensions["reportline.settings"])
    server: Any = create_server(_stream, pages, host="127.0.0.1", port=0, threads=2, **options)
    thread = threading.Thread(target=server.run, name="stream-server", daemon=True)
    thread.start()
    try:
        yield int(server.effective_port)
    finally:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()


def _read_slowly(port: int) -> int:
    """GET the stream through a small window, waiting first so the app writes ahead of
    the reader, then reading with pauses; the number of body bytes read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /download HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    time.sleep(1.0)
    response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
    response.begin()
    read = 0
    while chunk := response.read(PIECE):
        read += len(chunk)
        if read % (4 * 1024 * 1024) < PIECE:
            time.sleep(0.05)
    sock.close()
    return read


def test_a_100_mb_response_to_a_slow_reader_stays_in_memory(app: Flask) -> None:
    options = waitress_options(app.extensions["reportline.settings"])
    with _serving(app, options) as port, FdWatch(os.getpid()) as watch:
        read = _read_slowly(port)
    assert read == STREAMED
    assert watch.temp_files() == []


def test_the_check_sees_waitress_spill_a_response_with_its_own_buffer_sizes(app: Flask) -> None:
    """The control: waitress's defaults (1 MB overflow, 16 MB watermark) put the same
    response in a temporary file, and the watch sees it."""
    options = waitress_options(app.extensions["reportline.settings"])
    del options["outbuf_overflow"], options["outbuf_high_watermark"]
    with _serving(app, options) as port, FdWatch(os.getpid()) as watch:
        _read_slowly(port)
    assert any("(deleted)" in target for target in watch.temp_files())
