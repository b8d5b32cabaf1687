"""An evidence file goes up and comes down through the real `reportline serve` without a
byte of it reaching a file: the reporter's upload in the form's own body, and an
officer's streamed download, read slowly, while `tests.fdwatch.FdWatch` records every
file the server opens (TMPDIR an empty folder)."""

from __future__ import annotations

import os
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import pyotp
import pytest

from tests.fdwatch import FdWatch
from tests.helpers import REFERENCE, SUBMISSION_FIELD, VALID_REPORT, csrf_token, receipt_on
from tests.test_cli import PASSWORD, _free_port, _get_when_up, _init, _start
from tests.test_serve_bodies import BOUNDARY

EVIDENCE_BYTES = 12 * 1000 * 1000
CANARY = b"CANARYSERVEDEVIDENCEQ7X\n"


@dataclass
class Served:
    """A running `reportline serve`, the supervisor's second-factor seed, its TMPDIR."""

    url: str
    pid: int
    tmpdir: Path
    totp_seed: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("serve-evidence")
    tmpdir = folder / "tmp"
    tmpdir.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPORTLINE_INSTANCE", str(folder / "instance"))
        patch.setenv("REPORTLINE_ARGON2_MEMORY_COST_KIB", "1024")
        patch.setenv("REPORTLINE_ARGON2_TIME_COST", "1")
        result = _init(folder / "instance", folder / "recovery.txt")
        output = result.output  # type: ignore[attr-defined]
        environment = {**os.environ, "TMPDIR": str(tmpdir), "REPORTLINE_MIN_FORM_SECONDS": "0"}
    uri = next(line for line in output.splitlines() if line.startswith("otpauth://"))
    seed = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    port = _free_port()
    server = _start(["serve", "--host", "127.0.0.1", "--port", str(port)], environment)
    try:
        _get_when_up(server, f"http://127.0.0.1:{port}/", 30)
        yield Served(f"http://127.0.0.1:{port}", server.pid, tmpdir, seed)
    finally:
        server.terminate()
        server.communicate(timeout=10)


def _browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def _report_with_file(served: Served, browser: urllib.request.OpenerDirector) -> bytes:
    page = browser.open(f"{served.url}/report").read().decode()
    submission = SUBMISSION_FIELD.search(page)
    assert submission
    fields = {**VALID_REPORT, "csrf_token": csrf_token(page), "submission": submission.group(1)}
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ) + (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="evidence-0-file"; '
        'filename="chat.txt"\r\nContent-Type: text/plain\r\n\r\n'
    )
    content = CANARY * (EVIDENCE_BYTES // len(CANARY))
    body = head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    request = urllib.request.Request(
        f"{served.url}/report",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert receipt_on(browser.open(request, timeout=60).read().decode())
    return content


def _sign_in(served: Served) -> urllib.request.OpenerDirector:
    officer = _browser()
    page = officer.open(f"{served.url}/triage/login").read().decode()
    form = {
        "csrf_token": csrf_token(page),
        "email": "chief@unit.example",
        "password": PASSWORD.strip(),
        "code": pyotp.TOTP(served.totp_seed).now(),
    }
    queue = officer.open(f"{served.url}/triage/login", urllib.parse.urlencode(form).encode())
    assert queue.geturl().endswith("/triage/"), queue.geturl()
    return officer


def test_an_evidence_file_goes_up_and_comes_down_through_serve_and_never_reaches_a_file(
    served: Served,
) -> None:
    with FdWatch(served.pid, temp_dirs=[served.tmpdir]) as watch:
        content = _report_with_file(served, _browser())
        officer = _sign_in(served)
        queue = officer.open(f"{served.url}/triage/?status=all").read().decode()
        match = REFERENCE.search(queue)
        assert match
        download = officer.open(f"{served.url}/triage/cases/{match.group(0)}/evidence/1/download")
        assert download.headers["Content-Disposition"].startswith("attachment;")
        received = bytearray()
        while piece := download.read(256 * 1024):  # a slow reader: the server must wait
            received += piece
            time.sleep(0.002)
    assert bytes(received) == content
    assert watch.polls > 10 and watch.temp_files() == []
    assert list(served.tmpdir.iterdir()) == []


def test_an_upload_cut_off_half_way_stores_nothing_and_the_server_stays_up(
    served: Served,
) -> None:
    import socket
    import sqlite3

    instance = served.tmpdir.parent / "instance" / "reportline.sqlite3"

    def stored() -> tuple[int, int]:
        with sqlite3.connect(instance) as database:
            cases = database.execute("SELECT count(*) FROM cases").fetchone()[0]
            chunks = database.execute("SELECT count(*) FROM evidence_chunks").fetchone()[0]
        return int(cases), int(chunks)

    before = stored()
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST /report HTTP/1.1\r\nHost: reportline\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {10 * 1000 * 1000}\r\n\r\n".encode()
        )
        sock.sendall(os.urandom(3 * 1000 * 1000))  # then the reporter's network drops
    time.sleep(0.5)
    assert urllib.request.urlopen(f"{served.url}/report", timeout=10).status == 200
    assert stored() == before
    assert list(served.tmpdir.iterdir()) == []
