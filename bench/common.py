"""Pieces the benchmarks share: server processes, a keep-alive browser, statistics, results."""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"

CSRF_FIELD = re.compile(
    r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)
SUBMISSION_FIELD = re.compile(r'name="submission"[^>]*value="([^"]+)"')
RECEIPT_WORD = re.compile(r"<li>([a-z]+)</li>")
# Words for made-up report text of realistic length.
ACCOUNT = (
    "the sergeant said that he would sort it and then posted a message in the team group "
    "chat about a colleague which was racist and several officers laughed at it while others "
    "stayed quiet because they were worried about their postings on the shift rota after the "
    "inspector had warned us last month not to make complaints about anyone senior it happened "
    "again on Tuesday night at the custody suite when a detainee was mocked for his accent and "
    "I saw the messages on the duty phone they\u2019re still there if anyone looks"
)
VOCABULARY = tuple(ACCOUNT.split())


# ---------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ---------------------------------------------------------------- the machine


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in (
        "flask",
        "werkzeug",
        "jinja2",
        "flask-wtf",
        "wtforms",
        "flask-babel",
        "sqlalchemy",
        "waitress",
        "cryptography",
        "psycopg",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": os.getloadavg(),
        "packages": versions,
    }


def git_revision() -> str:
    """The commit the app under test was at (with '+dirty' if the tree has changes)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "reportline", "migrations"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def write_results(name: str, data: Mapping[str, Any]) -> Path:
    """Save a run's results as bench/results/<name>-<UTC time>.json; return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- server processes


def free_port() -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


class ServerProcess:
    """One app under waitress in its own process (`python -m bench.server ...`)."""

    def __init__(self, label: str, args: Sequence[str], env: Mapping[str, str] | None = None):
        self.label = label
        self.port = free_port()
        command = [sys.executable, "-m", "bench.server", "--port", str(self.port), *args]
        environment = {**os.environ, **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [environment.get("PYTHONPATH")])]
        )
        self.log = RESULTS / f"server-{label}.log"
        RESULTS.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=self._log_handle, stderr=subprocess.STDOUT
        )
        self._wait_until_listening()

    def _wait_until_listening(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} server exited; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.label} server did not start; see {self.log}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (all threads)."""
        user, system = self.cpu_times()
        return user + system

    def cpu_times(self) -> tuple[float, float]:
        """(user, system) CPU seconds the server process and its worker processes (with
        --processes) have used so far, from /proc."""
        ticks = os.sysconf("SC_CLK_TCK")
        user = system = 0
        for pid in (self.process.pid, *_children(self.process.pid)):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # a worker gone meanwhile
                continue
            user, system = user + int(fields[11]), system + int(fields[12])
        return user / ticks, system / ticks

    def stop(self) -> None:
        """Terminate the server (it shuts waitress down on SIGTERM) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_handle.close()


# ---------------------------------------------------------------- a browser


@dataclass
class Response:
    """What a request returned."""

    status: int
    headers: list[tuple[str, str]]
    body: str
    seconds: float

    def header(self, name: str) -> str | None:
        """The first header of that name."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


MULTIPART_BOUNDARY = "----ReportLineBenchBoundary7MA4YWxkTrZu0gW"


def multipart_body(form: Mapping[str, str], files: Sequence[str]) -> tuple[bytes, str]:
    """A browser's multipart body for `form`, with the file inputs `files` left empty."""
    parts = [
        f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        f"{value}\r\n"
        for name, value in form.items()
    ]
    parts += [
        f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
        'filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n'
        for name in files
    ]
    body = ("".join(parts) + f"--{MULTIPART_BOUNDARY}--\r\n").encode("utf-8")
    return body, f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"


@dataclass
class Browser:
    """One keep-alive HTTP/1.1 connection with its own cookie jar (path-scoped, no expiry).

    `source_address` makes its connections come from another loopback address
    (any of 127.0.0.0/8 works on Linux), as a different machine's would.
    """

    port: int
    cookies: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value, path)
    connection: http.client.HTTPConnection | None = None
    timeout: float = 120.0
    source_address: str | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                "127.0.0.1",
                self.port,
                timeout=self.timeout,
                source_address=(self.source_address, 0) if self.source_address else None,
            )
        return self.connection

    def _cookie_header(self, path: str) -> str:
        return "; ".join(
            f"{name}={value}"
            for name, (value, cookie_path) in self.cookies.items()
            if path == cookie_path
            or path.startswith(cookie_path.rstrip("/") + "/")
            or cookie_path == "/"
        )

    def _store_cookies(self, headers: list[tuple[str, str]]) -> None:
        for key, value in headers:
            if key.lower() != "set-cookie":
                continue
            first, *attributes = [part.strip() for part in value.split(";")]
            name, _, cookie_value = first.partition("=")
            attrs = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attributes}
            expired = attrs.get("max-age") == "0" or "1970" in attrs.get("expires", "")
            if expired or not cookie_value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = (cookie_value, attrs.get("path") or "/")

    def request(
        self,
        method: str,
        path: str,
        form: Mapping[str, str] | None = None,
        files: Sequence[str] = (),
    ) -> Response:
        """Send one request on the kept-alive connection (reconnecting once if it was closed).

        With `files` (names of file inputs), the form goes as multipart/form-data with
        those inputs left empty, as a browser sends a form that takes files.
        """
        headers = {"Accept": "text/html", "Accept-Language": "en-GB,en;q=0.9"}
        cookie = self._cookie_header(path.split("?", 1)[0])
        if cookie:
            headers["Cookie"] = cookie
        body = None
        if form is not None and files:
            body, headers["Content-Type"] = multipart_body(form, files)
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            connection = self._connect()
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                raw = connection.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                self.connection = None
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            response_headers = raw.getheaders()
            if raw.will_close:
                connection.close()
                self.connection = None
            self._store_cookies(response_headers)
            return Response(raw.status, response_headers, data.decode("utf-8"), seconds)
        raise AssertionError("unreachable")

    def stream(
        self, method: str, path: str, form: Mapping[str, str] | None = None
    ) -> tuple[int, int, float]:
        """Send one request on a new connection and read the body as it arrives, a
        mebibyte at a time, without keeping it: (status, body bytes, seconds)."""
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Accept-Language": "en-GB,en;q=0.9", "Cookie": self._cookie_header(path)}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        buffer = bytearray(1 << 20)
        received = 0
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            while count := raw.readinto(buffer):
                received += count
        finally:
            connection.close()
        return raw.status, received, time.perf_counter() - started

    def get(self, path: str) -> Response:
        """GET a path."""
        return self.request("GET", path)

    def post(self, path: str, form: Mapping[str, str], files: Sequence[str] = ()) -> Response:
        """POST a form: url-encoded, or multipart with the empty file inputs `files`."""
        return self.request("POST", path, form, files)

    def close(self) -> None:
        """Close the connection."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def csrf_token(html: str) -> str:
    """The CSRF token in a rendered page; raise ValueError if there is none."""
    match = CSRF_FIELD.search(html)
    if not match:
        raise ValueError("no CSRF token on the page")
    return match.group(1) or match.group(2)


def report_form_fields(html: str) -> dict[str, str]:
    """The hidden values a report form must be sent back with: CSRF token and one-time value."""
    match = SUBMISSION_FIELD.search(html)
    if not match:
        raise ValueError("no submission field on the form")
    return {"csrf_token": csrf_token(html), "submission": match.group(1)}


def receipt_words(html: str) -> list[str]:
    """The words inside the element with id="receipt" (empty if there is none)."""
    if 'id="receipt"' not in html:
        return []
    block = html.split('id="receipt"', 1)[1].split("</ol>", 1)[0]
    return RECEIPT_WORD.findall(block)


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as an aligned plain-text table."""
    cells = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)
