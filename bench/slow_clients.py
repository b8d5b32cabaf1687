"""Slow clients: hundreds of sockets held open half-sent, and a genuine reporter meanwhile.

    python -m bench.slow_clients                     # 60 s tuned, then 60 s old defaults
    python -m bench.slow_clients --seconds 20        # quick
    python -m bench.slow_clients --tuned-only        # skip the comparison
    python -m bench.slow_clients --postgres          # also on PostgreSQL (a scratch database)

ReportLine runs under waitress as `reportline serve` runs it (`waitress_options`:
2,000 connections, a 20 s idle timeout, poll()), on an instance whose forms
may be sent at once (THROUGHPUT_SETTINGS). From this process, --header-holders
sockets send the start of a request and never finish its headers, and
--body-holders POST /report announcing 100 bytes and sending 5; all are held
open, and one the server closes is opened again at once, as an attacker would
(--trickle N also sends one more byte on each every N seconds). Meanwhile, every
--interval seconds for --seconds, a genuine reporter opens a new connection,
fetches /report and sends a report (target: no request waits more than 2 s on
its own). Then the same runs against waitress without waitress_options'
tuning (`python -m bench.server --waitress-defaults`: its defaults of 100
connections, a 120 s idle timeout and select()), for comparison only.

Printed for each server: the genuine requests' latency (p50, p95, max) and how
many got no answer within --timeout, the held sockets the server closed, and
the server's CPU time.
"""

from __future__ import annotations

import argparse
import os
import random
import selectors
import shutil
import socket
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    RESULTS,
    Browser,
    ServerProcess,
    git_revision,
    machine_info,
    median,
    percentile,
    print_table,
    receipt_words,
    report_form_fields,
    write_results,
)
from bench.instance import (
    FAST_ARGON2,
    THROUGHPUT_SETTINGS,
    create_instance,
    database_url_for,
)
from bench.submission import realistic_report

WORK = RESULTS / "slow-clients-work"
TARGET_SECONDS = 2.0
HEADER_START = b"GET /report HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n"
BODY_START = (b"POST /report HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 100\r\n\r\nabcde")


@dataclass
class Holder:
    """One slow socket: what it sends first, and how often it was closed on it."""

    kind: str
    first: bytes
    sock: socket.socket | None = None
    opened: int = 0
    closed_by_server: int = 0
    connect_failures: int = 0


class SlowClients:
    """Opens the slow sockets, keeps them open (reopening any the server closes)."""

    def __init__(self, port: int, headers: int, bodies: int, trickle: float) -> None:
        self.port = port
        self.trickle = trickle
        self.holders = ([Holder("headers", HEADER_START) for _ in range(headers)]
                        + [Holder("body", BODY_START) for _ in range(bodies)])
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.samples: list[int] = []

    def _open(self, holder: Holder) -> None:
        sock = socket.socket()
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(holder.first)
        except OSError:
            holder.connect_failures += 1
            sock.close()
            holder.sock = None
            return
        sock.setblocking(False)
        holder.sock = sock
        holder.opened += 1
        self.selector.register(sock, selectors.EVENT_READ, holder)

    def _drop(self, holder: Holder) -> None:
        if holder.sock is not None:
            self.selector.unregister(holder.sock)
            holder.sock.close()
            holder.sock = None

    def start(self) -> None:
        """Open every socket, then keep them open in a thread until `close`."""
        for holder in self.holders:
            self._open(holder)
        self.thread.start()

    def _run(self) -> None:
        next_trickle = time.monotonic() + self.trickle if self.trickle else float("inf")
        next_sample = time.monotonic()
        while not self.stop.is_set():
            for key, _events in self.selector.select(timeout=0.2):
                holder: Holder = key.data
                try:
                    data = holder.sock.recv(4096) if holder.sock else b""
                except OSError:
                    data = b""
                if not data:  # the server closed it (or answered and closed): reopen
                    holder.closed_by_server += 1
                    self._drop(holder)
            for holder in self.holders:
                if holder.sock is None and not self.stop.is_set():
                    self._open(holder)
            now = time.monotonic()
            if now >= next_trickle:
                for holder in self.holders:
                    if holder.sock is not None:
                        with suppress(OSError):
                            holder.sock.send(b"X" if holder.kind == "body" else b"X-A: b\r\n")
                next_trickle = now + self.trickle
            if now >= next_sample:
                self.samples.append(sum(h.sock is not None for h in self.holders))
                next_sample = now + 1.0

    def close(self) -> dict[str, Any]:
        """Stop and close every socket; what happened to them."""
        self.stop.set()
        self.thread.join()
        for holder in self.holders:
            self._drop(holder)
        result: dict[str, Any] = {}
        for kind in ("headers", "body"):
            mine = [h for h in self.holders if h.kind == kind]
            result[kind] = {
                "sockets": len(mine),
                "opened": sum(h.opened for h in mine),
                "closed_by_server": sum(h.closed_by_server for h in mine),
                "connect_failures": sum(h.connect_failures for h in mine),
            }
        result["held_open_min"] = min(self.samples) if self.samples else 0
        return result


@dataclass
class GenuineReport:
    """One genuine reporter's visit: a new connection, GET /report, POST it."""

    at: float
    get_s: float = float("nan")
    post_s: float = float("nan")
    total_s: float = float("nan")
    ok: bool = False
    error: str = ""
    statuses: list[int] = field(default_factory=list)


def genuine_visit(port: int, visit: GenuineReport, timeout: float, rng: random.Random) -> None:
    """Fetch the form and send a report on a fresh connection; record each wait."""
    browser = Browser(port, timeout=timeout)
    started = time.perf_counter()
    try:
        page = browser.get("/report")
        visit.get_s = time.perf_counter() - started
        visit.statuses.append(page.status)
        fields = report_form_fields(page.body)
        posted = time.perf_counter()
        sent = browser.post("/report", {**realistic_report(rng), **fields,
                                        "homepage": "", "proof": ""})
        visit.post_s = time.perf_counter() - posted
        visit.statuses.append(sent.status)
        visit.ok = len(receipt_words(sent.body)) == 10
    except (OSError, ValueError) as exc:
        visit.error = type(exc).__name__
    finally:
        visit.total_s = time.perf_counter() - started
        browser.close()


def measure(port: int, args: argparse.Namespace, server: ServerProcess) -> dict[str, Any]:
    """Hold the slow sockets and send genuine reports for --seconds; summarise."""
    slow = SlowClients(port, args.header_holders, args.body_holders, args.trickle)
    slow.start()
    time.sleep(1.0)  # let the server see them all
    user0, system0 = server.cpu_times()
    start = time.perf_counter()
    visits: list[GenuineReport] = []
    threads = []
    rng = random.Random(5)
    moment = 0.0
    while moment < args.seconds:
        time.sleep(max(0.0, start + moment - time.perf_counter()))
        visit = GenuineReport(moment)
        visits.append(visit)
        thread = threading.Thread(target=genuine_visit,
                                  args=(port, visit, args.timeout, random.Random(rng.random())),
                                  daemon=True)
        thread.start()
        threads.append(thread)
        moment += args.interval
    time.sleep(max(0.0, start + args.seconds - time.perf_counter()))
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    user1, system1 = server.cpu_times()
    held = slow.close()
    requests = [v.get_s for v in visits] + [v.post_s for v in visits]
    answered = [s for s in requests if s == s]  # not NaN
    totals = [v.total_s for v in visits if v.ok]
    return {
        "seconds": elapsed,
        "genuine": {
            "visits": len(visits),
            "reports_accepted": sum(v.ok for v in visits),
            "requests_answered": len(answered),
            "unanswered_within_timeout": sum(1 for v in visits if v.error),
            "requests_over_2_s": sum(1 for s in answered if s > TARGET_SECONDS)
            + sum(1 for v in visits if v.error),
            "request_ms": {"median": median(answered) * 1000,
                           "p95": percentile(answered, 95) * 1000,
                           "max": max(answered, default=float("nan")) * 1000},
            "visit_ms": {"median": median(totals) * 1000,
                         "p95": percentile(totals, 95) * 1000,
                         "max": max(totals, default=float("nan")) * 1000},
            "errors": sorted({v.error for v in visits if v.error}),
        },
        "slow_sockets": held,
        "server_cpu_seconds": {"user": user1 - user0, "system": system1 - system0,
                               "total": (user1 - user0) + (system1 - system0)},
        "load_average_1min_after": os.getloadavg()[0],
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """The tuned server, then (unless --tuned-only) waitress' defaults, on one instance."""
    results = {}
    with ExitStack() as stack:
        folder = WORK / backend / "instance"
        url = database_url_for(backend, "reportline_slow", stack)
        create_instance(folder, url, FAST_ARGON2, THROUGHPUT_SETTINGS)
        modes: dict[str, list[str]] = {"serve (waitress_options)": []}
        if not args.tuned_only:
            modes["waitress defaults"] = ["--waitress-defaults"]
        for mode, extra in modes.items():
            label = f"slow-clients-{backend}-{'defaults' if extra else 'tuned'}"
            server = ServerProcess(label, ["--app", "reportline", "--instance", str(folder),
                                           "--threads", str(args.threads), *extra])
            try:
                warm = Browser(server.port)
                warm.get("/report")
                warm.close()
                print(f"[{backend}] {mode}: {args.header_holders} + {args.body_holders} slow "
                      f"sockets, a genuine report every {args.interval:g} s for "
                      f"{args.seconds:g} s", flush=True)
                results[mode] = measure(server.port, args, server)
            finally:
                server.stop()
    return results


def print_backend(backend: str, data: dict[str, Any]) -> None:
    """One table per backend: a row per server."""
    rows = []
    for mode, result in data.items():
        genuine, held = result["genuine"], result["slow_sockets"]
        rows.append([mode, genuine["visits"], genuine["reports_accepted"],
                     genuine["unanswered_within_timeout"], genuine["request_ms"]["median"],
                     genuine["request_ms"]["p95"], genuine["request_ms"]["max"],
                     genuine["requests_over_2_s"], held["held_open_min"],
                     held["headers"]["closed_by_server"] + held["body"]["closed_by_server"],
                     result["server_cpu_seconds"]["total"]])
    print(f"\n[{backend}] genuine reporter (new connection, GET /report + POST) while slow "
          "sockets are held open; request latency in ms")
    print_table(["server", "visits", "reports in", "no answer", "p50", "p95", "max",
                 "requests > 2 s", "slow held (min)", "slow closed by server",
                 "server CPU s"], rows)


def main() -> None:
    """Parse arguments, run, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between the genuine reporter's reports")
    parser.add_argument("--header-holders", type=int, default=200)
    parser.add_argument("--body-holders", type=int, default=200)
    parser.add_argument("--trickle", type=float, default=0.0,
                        help="send one more byte on each slow socket every N s (0: never)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="a genuine request with no answer by then counts as unanswered")
    parser.add_argument("--tuned-only", action="store_true",
                        help="skip the comparison with waitress' defaults")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument("--postgres", action="store_true",
                        help="also on PostgreSQL at 127.0.0.1:5432 (a scratch database)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    results: dict[str, Any] = {
        "benchmark": "slow_clients",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": vars(args),
        "backends": {},
    }
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    for backend in backends:
        results["backends"][backend] = run_backend(backend, args)
        print_backend(backend, results["backends"][backend])
    path = write_results("slow_clients", results)
    print(f"\nResults: {path}")


if __name__ == "__main__":
    main()
