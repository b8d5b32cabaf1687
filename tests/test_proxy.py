"""deploy/nginx/reportline.conf, run by Debian's nginx in front of `reportline serve`.

The example file itself runs, with only its ports, file paths and `user` changed
(`_render`); TLS stays on, with a certificate made here. A report goes through it;
a slow upload of almost a megabyte, and the page that echoes it, touch neither
nginx's temporary folders nor any file its processes hold open (and a control with
smaller buffers shows the check would see them); no log holds an address or anything
a reporter typed; ReportLine gets the forwarded headers it trusts and no browser
details. nginx must be installed: the test fails, never skips, without it.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fdwatch import FdWatch
from tests.helpers import SUBMISSION_FIELD, VALID_REPORT, csrf_token, receipt_on
from tests.test_cli import _free_port, _get_when_up, _init, _start

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "reportline.conf"
SERVER_NAME = "reportline.intranet.example"
BROWSER = "Mozilla/5.0 (canary-browser-7f3a)"
REFERRER = "https://intranet.example/canary-referrer-91c2"


def _nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        pytest.fail(
            "nginx is not installed, and tests/test_proxy.py runs the example configuration "
            "with it: install Debian's nginx (apt-get install nginx).",
            pytrace=False,
        )
    return found


# ------------------------------------------------------------------ ReportLine


@pytest.fixture(scope="module")
def reportline_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`reportline serve` on a fresh instance, set up as behind one TLS proxy."""
    folder = tmp_path_factory.mktemp("reportline")
    with pytest.MonkeyPatch.context() as patch:
        # As tests/test_cli.py's `instance` fixture does, for the whole module.
        patch.setenv("REPORTLINE_INSTANCE", str(folder / "instance"))
        patch.setenv("REPORTLINE_ARGON2_MEMORY_COST_KIB", "1024")
        patch.setenv("REPORTLINE_ARGON2_TIME_COST", "1")
        result = _init(folder / "instance", folder / "recovery.txt")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        environment = {
            **os.environ,
            "REPORTLINE_PROXY_HOPS": "1",
            "REPORTLINE_HTTPS": "true",
            "REPORTLINE_MIN_FORM_SECONDS": "0",
        }
    port = _free_port()
    server = _start(["serve", "--host", "127.0.0.1", "--port", str(port)], environment)
    try:
        _get_when_up(server, f"http://127.0.0.1:{port}/", 30)
        yield port
    finally:
        server.terminate()
        server.communicate(timeout=10)


# ----------------------------------------------------------------------- nginx


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for SERVER_NAME and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Proxy:
    """A running nginx: its ports, folders and master process."""

    prefix: Path
    https_port: int
    http_port: int
    process: subprocess.Popen[str]
    tls: ssl.SSLContext = field(repr=False)

    @property
    def temp(self) -> Path:
        return self.prefix / "temp"

    def log(self, name: str) -> str:
        path = self.prefix / "logs" / name
        return path.read_text(errors="replace") if path.exists() else ""

    def written(self) -> bytes:
        """Everything nginx wrote: its logs and whatever is in its temporary folders."""
        files = [*(self.prefix / "logs").rglob("*"), *self.temp.rglob("*")]
        return b"".join(path.read_bytes() for path in files if path.is_file())


def _replace(text: str, old: str, new: str) -> str:
    """Replace `old`, which must be in the example (so an edited example fails loudly)."""
    assert old in text, f"{CONFIG.name} no longer contains {old!r}: update tests/test_proxy.py"
    return text.replace(old, new)


def _render(prefix: Path, upstream_port: int, https_port: int, http_port: int) -> str:
    """The example with test ports and every file under `prefix`; nothing else changed.

    - `listen 80/443 ...` become 127.0.0.1 on free ports (IPv6 lines dropped), and the
      TLS socket gets a 32 KB send buffer: on loopback the kernel would otherwise take
      up to 4 MB of an answer the client has not read, and nginx would never have to
      hold it, in memory or on disk;
    - /var/log/nginx, /var/lib/nginx, the pid file and the certificate move under prefix;
    - workers run as the user running the test (www-data could not enter pytest's
      private temporary folder, and only root may switch users);
    - fastcgi/uwsgi/scgi temp paths, which nginx creates at start-up even unused,
      are pointed under prefix too, so the test writes nothing in /var/lib/nginx.
    """
    cert, key = _certificate(prefix)
    text = CONFIG.read_text("utf-8")
    user = pwd.getpwuid(os.getuid()).pw_name
    for old, new in [
        ("user www-data;", f"user {user};"),
        ("pid /run/nginx.pid;", f"pid {prefix}/nginx.pid;"),
        ("/var/log/nginx/", f"{prefix}/logs/"),
        ("/var/lib/nginx/", f"{prefix}/temp/"),
        ("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;"),
        ("listen [::]:80 default_server;", ""),
        (
            "listen 443 ssl default_server;",
            f"listen 127.0.0.1:{https_port} ssl default_server sndbuf=32k;",
        ),
        ("listen [::]:443 ssl default_server;", ""),
        (f"/etc/ssl/certs/{SERVER_NAME}.pem", str(cert)),
        (f"/etc/ssl/private/{SERVER_NAME}.key", str(key)),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        (
            "\nhttp {\n",
            "\nhttp {\n"
            + "".join(
                f"    {kind}_temp_path {prefix}/temp/{kind};\n"
                for kind in ("fastcgi", "uwsgi", "scgi")
            ),
        ),
    ]:
        text = _replace(text, old, new)
    return text


@contextmanager
def _nginx(
    folder: Path, upstream_port: int, change: Callable[[str], str] = lambda text: text
) -> Iterator[Proxy]:
    """Run the rendered example (then `change`d, for the control test) until the block ends."""
    binary = _nginx_binary()
    prefix = folder / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "temp").mkdir()
    https_port, http_port = _free_port(), _free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(change(_render(prefix, upstream_port, https_port, http_port)), "utf-8")
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tls = ssl.create_default_context(cafile=str(prefix / "cert.pem"))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.02)
        yield Proxy(prefix, https_port, http_port, process, tls)
    finally:
        process.terminate()
        process.communicate(timeout=10)


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (nginx's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _on_disk(proxy: Proxy) -> list[str]:
    """Bodies nginx keeps on disk: files in its temporary folders, and files its processes
    hold open there. nginx unlinks a temporary file as soon as it has opened it, so the
    open descriptor ("/…/temp/body/0000000001 (deleted)") is what shows a spill."""
    found = [str(path) for path in proxy.temp.rglob("*") if path.is_file()]
    for pid in [proxy.process.pid, *_children(proxy.process.pid)]:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except FileNotFoundError:  # the process has just exited
            continue
        for fd in descriptors:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(str(proxy.temp)) or "(deleted)" in target:
                found.append(f"{pid}: {target}")
    return found


# --------------------------------------------------------------------- clients


class Browser:
    """HTTPS through the proxy, with the server's name and a browser's headers; keeps cookies."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.proxy.https_port, context=self.proxy.tls, timeout=10
        )
        headers = {"Host": SERVER_NAME, "User-Agent": BROWSER, "Referer": REFERRER}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, value = header.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value.strip()
            return response.status, response.read().decode()
        finally:
            connection.close()


def _tls_socket(proxy: Proxy, receive_buffer: int | None = None) -> ssl.SSLSocket:
    raw = socket.socket()
    if receive_buffer:  # a small, fixed window: a slow reader, as over a busy network
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", proxy.https_port))
    return proxy.tls.wrap_socket(raw, server_hostname=SERVER_NAME)


def _read_response(sock: ssl.SSLSocket) -> tuple[int, bytes]:
    response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
    response.begin()
    return response.status, response.read()


def _upload_slowly(proxy: Proxy, body: bytes, chunk: int, pause: float) -> tuple[list[str], int]:
    """POST `body` to /report a chunk at a time, looking for files on nginx's side while it
    is in flight; then, not reading yet, let ReportLine answer (its answer echoes the text,
    so it is as large as the body) and look again. Return what was seen and the status."""
    seen: list[str] = []
    sock = _tls_socket(proxy, receive_buffer=16 * 1024)
    try:
        sock.sendall(
            f"POST /report HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        for start in range(0, len(body), chunk):
            sock.sendall(body[start : start + chunk])
            time.sleep(pause)
            seen += _on_disk(proxy)
        time.sleep(0.3)  # ReportLine answers; nginx holds what the client does not read
        seen += _on_disk(proxy)
        status, _ = _read_response(sock)
    finally:
        sock.close()
    return seen, status


# ----------------------------------------------------------------------- tests


def test_a_report_goes_through_the_proxy_and_no_log_holds_an_address_or_its_words(
    reportline_port: int, tmp_path: Path
) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    token = f"enrol-token-{secrets.token_hex(8)}"
    with _nginx(tmp_path, reportline_port) as proxy:
        browser = Browser(proxy)
        status, page = browser.request("GET", "/report")
        assert status == 200 and "Make a report" in page
        submission = SUBMISSION_FIELD.search(page)
        assert submission
        report = {**VALID_REPORT, "what_happened": f"{VALID_REPORT['what_happened']} {canary}"}
        status, page = browser.request(
            "POST",
            "/report",
            {**report, "csrf_token": csrf_token(page), "submission": submission.group(1)},
        )
        assert status == 200, page[:2000]
        receipt = receipt_on(page)
        assert any(name.startswith("__Host-") for name in browser.cookies)  # https = true

        assert browser.request("GET", "/triage/login")[0] == 200
        browser.request("GET", f"/triage/enrol/{token}")
        browser.request("GET", "/triage/cases/RL-CANARY-1/status?q=query-canary")

        # Plain HTTP only redirects, to the configured name.
        plain = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
        plain.request("GET", "/report?q=query-canary", headers={"Host": SERVER_NAME})
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.getheader("Location") == f"https://{SERVER_NAME}/report?q=query-canary"
        plain.close()

    # Read once nginx has stopped: a request's log line is written after its response.
    officers = proxy.log("reportline-officers.log")
    errors = proxy.log("reportline-error.log")
    everything = proxy.written()
    lines = officers.splitlines()
    assert len(lines) == 3, officers  # the three officer requests, no reporter request
    assert re.search(r'"GET /triage/login" 200 \d+ ', lines[0]), lines[0]
    assert (
        '"GET /triage/enrol/<token>"' in lines[1]
        and '"GET /triage/cases/<reference>/status"' in lines[2]
    )
    assert errors == ""
    for secret in (
        "127.0.0.1",
        canary,
        receipt,
        token,
        "RL-CANARY-1",
        "query-canary",
        "canary-browser",
        "canary-referrer",
    ):
        assert secret.encode() not in everything, secret
    assert [path for path in proxy.temp.rglob("*") if path.is_file()] == []


def test_a_slow_upload_of_900_kb_and_its_echo_never_touch_the_proxys_disk(
    reportline_port: int, tmp_path: Path
) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    body = f"what_happened={canary}".encode().ljust(900_000, b"x")
    with _nginx(tmp_path, reportline_port) as proxy:
        seen, status = _upload_slowly(proxy, body, chunk=100_000, pause=0.03)
    errors = proxy.log("reportline-error.log")
    everything = proxy.written()
    assert seen == []
    assert status == 400  # ReportLine's own answer (no token): the body reached it whole
    assert errors == "" and canary.encode() not in everything


def test_the_disk_check_sees_what_nginx_spills_with_smaller_buffers(
    reportline_port: int, tmp_path: Path
) -> None:
    """The control: the same upload through the example with a 16 KB body buffer and the
    default proxy_max_temp_file_size shows both the body and the answer on disk, so the
    test above could fail."""

    def spilling(text: str) -> str:
        text = _replace(text, "client_body_buffer_size  1m;", "client_body_buffer_size 16k;")
        text = _replace(text, "client_body_buffer_size 16m;", "client_body_buffer_size 16k;")
        return _replace(text, "proxy_max_temp_file_size 0;", "")

    body = b"what_happened=".ljust(900_000, b"x")
    with _nginx(tmp_path, reportline_port, spilling) as proxy:
        seen, status = _upload_slowly(proxy, body, chunk=100_000, pause=0.03)
    assert status == 400
    assert any("/temp/body/" in entry for entry in seen), seen
    assert any("/temp/proxy/" in entry for entry in seen), seen


def _multipart_head(length: int) -> bytes:
    """The request line and headers of a multipart POST to /report of `length` bytes."""
    return (
        f"POST /report HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_15_mb_upload_to_the_report_form_never_touches_the_proxys_disk(
    reportline_port: int, tmp_path: Path
) -> None:
    part = b'--b\r\nContent-Disposition: form-data; name="evidence"; filename="a.jpg"\r\n\r\n'
    body = part + os.urandom(15 * 1000 * 1000) + b"\r\n--b--\r\n"
    with (
        _nginx(tmp_path, reportline_port) as proxy,
        FdWatch(proxy.process.pid, temp_dirs=[proxy.temp]) as watch,
    ):
        sock = _tls_socket(proxy)
        sock.sendall(_multipart_head(len(body)))
        for start in range(0, len(body), 1_000_000):
            sock.sendall(body[start : start + 1_000_000])
            time.sleep(0.01)
        status, _ = _read_response(sock)
        sock.close()
    assert status == 400  # ReportLine's own answer (no form token): the body reached it
    assert watch.temp_files() == []
    assert [path for path in proxy.temp.rglob("*") if path.is_file()] == []


def _stream_upstream(total: int) -> tuple[socket.socket, threading.Thread]:
    """A stand-in for ReportLine that answers one request with `total` bytes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_once() -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            connection.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n".encode()
            )
            piece = os.urandom(65536)
            with contextlib.suppress(OSError):  # the client may stop reading at the end
                for _ in range(total // len(piece)):
                    connection.sendall(piece)

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    return listener, thread


def test_a_100_mb_download_read_slowly_never_touches_the_proxys_disk(tmp_path: Path) -> None:
    total = 100 * 1024 * 1024
    listener, thread = _stream_upstream(total)
    try:
        with (
            _nginx(tmp_path, listener.getsockname()[1]) as proxy,
            FdWatch(proxy.process.pid, temp_dirs=[proxy.temp]) as watch,
        ):
            sock = _tls_socket(proxy, receive_buffer=64 * 1024)
            sock.sendall(f"GET /download HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n".encode())
            time.sleep(1.0)  # nginx's buffers fill; the rest must wait, not spill
            response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
            response.begin()
            read = 0
            while chunk := response.read(65536):
                read += len(chunk)
            sock.close()
        thread.join(timeout=10)
    finally:
        listener.close()
    assert response.status == 200 and read == total
    assert watch.temp_files() == []
    assert [path for path in proxy.temp.rglob("*") if path.is_file()] == []


def test_an_upload_over_the_limit_gets_reportlines_page_from_the_proxy_at_once(
    reportline_port: int, tmp_path: Path
) -> None:
    with _nginx(tmp_path, reportline_port) as proxy:
        sock = _tls_socket(proxy)
        sock.sendall(_multipart_head(2 * 1000 * 1000 * 1000))
        sock.sendall(os.urandom(2 * 1000 * 1000))
        status, page = _read_response(sock)
        sock.close()
        browser = Browser(proxy)
        too_large, other = browser.request("POST", "/follow-up", {"receipt": "x" * 1_100_000})
    assert status == 413 and too_large == 413
    for text in (page.decode(), other):
        assert "files sent from this form can be at most 16 MB together" in text
    assert proxy.log("reportline-error.log") == ""


def test_refusals_and_failures_leave_the_error_log_empty(tmp_path: Path) -> None:
    """At `crit` none of these is written, though each would be, with the client's address,
    at nginx's default level (`error`) or below: plain HTTP on the TLS port, bytes that are
    no handshake, a body over the limit, ReportLine down (502). (A malformed TLS ClientHello
    can still reach `crit` in nginx 1.22: see the comment at error_log in the example.)"""
    with _nginx(tmp_path, _free_port()) as proxy:  # nothing listens upstream
        for data in (b"GET /report HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello"):
            with socket.create_connection(("127.0.0.1", proxy.https_port), timeout=5) as raw:
                raw.sendall(data)
                raw.recv(1024)
        sock = _tls_socket(proxy)
        sock.sendall(
            f"POST /report HTTP/1.1\r\nHost: {SERVER_NAME}\r\nContent-Length: 20000000\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        # Refused (413), but its page comes from ReportLine, which is down: 502.
        assert _read_response(sock)[0] == 502
        sock.close()
        assert Browser(proxy).request("GET", "/report")[0] == 502
        assert Browser(proxy).request("GET", "/triage/login")[0] == 502
    errors = proxy.log("reportline-error.log")
    officers = proxy.log("reportline-officers.log")
    assert errors == ""
    assert "127.0.0.1" not in officers and '"GET /triage/login" 502' in officers


def test_the_proxy_passes_scheme_host_and_address_and_drops_browser_details(
    tmp_path: Path,
) -> None:
    """What ReportLine receives, caught by a stand-in upstream."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    upstream_port = listener.getsockname()[1]

    def answer_once() -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            received.append(data)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            )

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        with _nginx(tmp_path, upstream_port) as proxy:
            sock = _tls_socket(proxy)
            sock.sendall(
                f"GET /report HTTP/1.1\r\nHost: {SERVER_NAME}\r\nUser-Agent: {BROWSER}\r\n"
                f"Referer: {REFERRER}\r\nX-Forwarded-For: 10.9.8.7\r\n"
                "X-Forwarded-Proto: http\r\nX-Forwarded-Host: forged.example\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            assert _read_response(sock) == (200, b"ok")
            sock.close()
        thread.join(timeout=5)
    finally:
        listener.close()
    head = received[0].decode().lower()
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    assert headers["host"] == SERVER_NAME
    assert headers["x-forwarded-for"] == "127.0.0.1"  # set, not appended to: not forgeable
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == SERVER_NAME
    assert "user-agent" not in headers and "referer" not in headers
    assert head.count("x-forwarded-") == 3
