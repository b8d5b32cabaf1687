"""Guessers against receipts and officer passwords, and whether the real owner still gets in.

    python -m bench.guessing                          # every scenario, 2 minutes each, SQLite
    python -m bench.guessing --seconds 20             # quick
    python -m bench.guessing --scenario receipts      # one scenario (repeatable)
    python -m bench.guessing --postgres               # also on PostgreSQL (scratch databases)

Each scenario gets a fresh instance (`reportline init`, default settings, the
production Argon2id cost of 64 MiB and t=3) served under waitress as
`reportline serve` runs it, and lasts --seconds:

receipts
    A genuine reporter sends a report through the form and keeps the receipt.
    Then --attackers threads, from the same address, post random well-formed
    receipts to /follow-up as fast as they can, while every --every seconds the
    genuine reporter comes back (a new connection and cookie jar) and signs in
    with the real receipt, waiting out a 503 "busy" as the page asks, until
    the case page shows (target: in within 10 s).
officer
    The supervisor signs in once from their usual browser, which earns its
    device cookie (kept in that browser's cookie jar). Then --attackers threads
    from the same address try passwords for the supervisor's e-mail and for
    random unknown e-mails, while the supervisor signs in again from the usual
    browser at each new 30 s TOTP step (a code is accepted once, so every 30 s
    rather than every 10 s), with the right password and a code from pyotp.
officer-spread
    The same, but each attacker request comes from another of --addresses
    loopback addresses (127.1.0.0 onwards), as a botnet's would: the per-client
    throttle bucket then holds few of them back and the Argon2id stranger lane
    stays busy.

In every scenario another reporter also sends a report every --every seconds,
to show what the guessing costs everyone else (on SQLite every write, a
report included, waits for the one write lock).

Printed for each: the owner's sign-in latency (p50, max) and success, the
other reporter's POST latency, the attackers' rate and answers (400, 401,
429, 503), the server's CPU time (user and system, from /proc) and the
Argon2id runs, counted in the server process
and estimated from the answers (a 401 or a successful sign-in ran Argon2id; a
429 ran none, unless the budget ran out while the password was being checked,
so the estimate is a lower bound and the count is the number to use).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pyotp

from bench.common import (
    RESULTS,
    Browser,
    ServerProcess,
    csrf_token,
    git_revision,
    machine_info,
    median,
    percentile,
    print_table,
    receipt_words,
    report_form_fields,
    write_results,
)
from bench.instance import Credentials, create_instance, database_url_for, instance_settings
from bench.submission import realistic_report
from reportline.crypto.receipt import WORD_COUNT, wordlist

WORK = RESULTS / "guessing-work"
SCENARIOS = ("receipts", "officer", "officer-spread")
TARGET_SECONDS = 10.0


@dataclass
class AttackTally:
    """What the attacker's threads got back."""

    answers: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: str, seconds: float) -> None:
        with self.lock:
            self.answers[answer] += 1
            self.seconds.setdefault(answer, []).append(seconds)

    def summary(self, elapsed: float) -> dict[str, Any]:
        total = sum(self.answers.values())
        return {
            "requests": total,
            "per_second": total / elapsed,
            "answers": dict(self.answers),
            "latency_ms": {answer: {"median": median(values) * 1000,
                                   "p95": percentile(values, 95) * 1000,
                                   "max": max(values) * 1000}
                           for answer, values in self.seconds.items()},
        }


@dataclass
class OwnerAttempt:
    """One sign-in by the genuine owner (reporter or officer)."""

    at: float
    ok: bool = False
    tries: int = 0
    seconds: float = float("nan")
    post_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    error: str = ""


class Scenario:
    """A server, an attack and the owner's periodic sign-ins, for `seconds`."""

    def __init__(self, name: str, backend: str, args: argparse.Namespace, stack: ExitStack):
        self.name = name
        self.args = args
        self.folder = WORK / backend / name / "instance"
        url = database_url_for(backend, f"reportline_guess_{name.replace('-', '_')}", stack)
        self.credentials: Credentials = create_instance(self.folder, url)  # production Argon2
        self.settings = instance_settings(self.folder)
        self.count_file = WORK / backend / name / "argon2-count.txt"
        self.server = ServerProcess(f"guessing-{backend}-{name}", [
            "--app", "reportline", "--instance", str(self.folder),
            "--threads", str(args.threads), "--count-argon2", str(self.count_file)])
        stack.callback(self.server.stop)
        self.attack = AttackTally()
        self.owner: list[OwnerAttempt] = []
        self.bystanders: list[OwnerAttempt] = []
        self.start = 0.0
        self.deadline = 0.0

    # ------------------------------------------------------------ receipts

    def send_report(self) -> str:
        """The genuine reporter's report, through the form; its receipt."""
        browser = Browser(self.server.port)
        page = browser.get("/report")
        fields = report_form_fields(page.body)
        time.sleep(self.settings.min_form_seconds + 0.2)
        sent = browser.post("/report", {**realistic_report(random.Random(7)), **fields,
                                        "homepage": "", "proof": ""})
        words = receipt_words(sent.body)
        browser.close()
        if len(words) != WORD_COUNT:
            raise RuntimeError(f"the genuine report was not accepted ({sent.status})")
        return " ".join(words)

    def receipt_guesser(self, index: int) -> None:
        """Post random well-formed receipts to /follow-up until the deadline."""
        rng = random.Random(index)
        words = wordlist()
        browser = Browser(self.server.port, timeout=60)
        token = csrf_token(browser.get("/follow-up").body)
        while time.perf_counter() < self.deadline:
            guess = " ".join(rng.choice(words) for _ in range(WORD_COUNT))
            started = time.perf_counter()
            try:
                response = browser.post("/follow-up", {"csrf_token": token, "receipt": guess})
            except OSError as exc:
                self.attack.add(f"error {type(exc).__name__}", time.perf_counter() - started)
                browser.close()
                continue
            if response.status == 400 and "could not find a report" in response.body:
                answer = "400 not found"
            elif response.status == 400:
                answer = "400 other"
                token = csrf_token(browser.get("/follow-up").body)
            else:
                answer = str(response.status)
            self.attack.add(answer, time.perf_counter() - started)
        browser.close()

    def reporter_signs_in(self, receipt: str, attempt: OwnerAttempt) -> None:
        """Sign in with the receipt as a returning browser would; retry after a 503."""
        started = time.perf_counter()
        give_up = started + TARGET_SECONDS
        browser = Browser(self.server.port, timeout=60)
        try:
            token = csrf_token(browser.get("/follow-up").body)
            while True:
                attempt.tries += 1
                response = browser.post("/follow-up", {"csrf_token": token, "receipt": receipt})
                attempt.post_ms.append(response.seconds * 1000)
                attempt.statuses.append(response.status)
                if response.status == 303:
                    case = browser.get("/follow-up/case")
                    attempt.ok = case.status == 200 and "Your report" in case.body
                    break
                wait = int(response.header("Retry-After") or 1)
                if response.status != 503 or time.perf_counter() + wait > give_up:
                    break
                time.sleep(wait)
            attempt.seconds = time.perf_counter() - started
            if attempt.ok:
                browser.get("/leave")
        except (OSError, ValueError) as exc:
            attempt.error = repr(exc)
            attempt.seconds = time.perf_counter() - started
        finally:
            browser.close()

    def bystander(self) -> None:
        """Another reporter sends a report every --every seconds during the attack: what
        the guessing costs everyone else."""
        rng = random.Random(11)
        wait = self.settings.min_form_seconds + 0.2
        for moment in _frange(self.args.every, self.args.seconds, self.args.every):
            fetch_at = self.start + max(0.0, moment - wait)
            time.sleep(max(0.0, fetch_at - time.perf_counter()))
            browser = Browser(self.server.port, timeout=120)
            attempt = OwnerAttempt(moment)
            try:
                fields = report_form_fields(browser.get("/report").body)
                # A slow answer brings a ticket issued late: fill the form in after it came.
                ready = max(self.start + moment, time.perf_counter() + wait)
                time.sleep(max(0.0, ready - time.perf_counter()))
                attempt.tries = 1
                sent = browser.post("/report", {**realistic_report(rng), **fields,
                                                "homepage": "", "proof": ""})
                attempt.post_ms.append(sent.seconds * 1000)
                attempt.statuses.append(sent.status)
                attempt.ok = len(receipt_words(sent.body)) == WORD_COUNT
                attempt.seconds = sent.seconds
            except (OSError, ValueError) as exc:
                attempt.error = repr(exc)
            finally:
                browser.close()
            self.bystanders.append(attempt)

    # ------------------------------------------------------------ officer

    def officer_signs_in(self, browser: Browser) -> OwnerAttempt:
        """Sign in from the officer's usual browser (cookie jar kept), this step's code."""
        attempt = OwnerAttempt(time.perf_counter() - self.start)
        # Closing the browser ends its session cookies; the device cookie stays.
        for name in ("rl_officer", "rl_session"):
            browser.cookies.pop(name, None)
        browser.close()
        started = time.perf_counter()
        try:
            page = browser.get("/triage/login")
            attempt.tries = 1
            response = browser.post("/triage/login", {
                "csrf_token": csrf_token(page.body), "email": self.credentials.email,
                "password": self.credentials.password,
                "code": pyotp.TOTP(self.credentials.totp_seed).now()})
            attempt.post_ms.append(response.seconds * 1000)
            attempt.statuses.append(response.status)
            if response.status == 303 and "rl_officer" in browser.cookies:
                queue = browser.get("/triage/")
                attempt.ok = queue.status == 200 and "Queue" in queue.body
        except (OSError, ValueError) as exc:
            attempt.error = repr(exc)
        attempt.seconds = time.perf_counter() - started
        return attempt

    def password_guesser(self, index: int, addresses: list[str]) -> None:
        """Try passwords for the officer's e-mail and for unknown e-mails until the deadline."""
        rng = random.Random(index)
        source = addresses[index % len(addresses)] if addresses else None
        browser = Browser(self.server.port, timeout=60, source_address=source)
        token = csrf_token(browser.get("/triage/login").body)
        turn = index
        while time.perf_counter() < self.deadline:
            if len(addresses) > 1:  # the next request from another machine
                turn += self.args.attackers
                browser.close()
                browser.source_address = addresses[turn % len(addresses)]
            email = (self.credentials.email if rng.random() < 0.5
                     else f"guess{rng.randrange(10**9)}@bench.reportline.invalid")
            started = time.perf_counter()
            try:
                response = browser.post("/triage/login", {
                    "csrf_token": token, "email": email,
                    "password": f"guess {rng.randrange(10**12)}",
                    "code": f"{rng.randrange(10**6):06d}"})
            except OSError as exc:
                self.attack.add(f"error {type(exc).__name__}", time.perf_counter() - started)
                browser.close()
                continue
            seconds = time.perf_counter() - started
            target = "own e-mail" if email == self.credentials.email else "unknown e-mail"
            if response.status == 400:
                answer = "400"
                token = csrf_token(browser.get("/triage/login").body)
            else:
                answer = str(response.status)
            self.attack.add(f"{answer} ({target})", seconds)
        browser.close()

    # ------------------------------------------------------------ running

    def run(self) -> dict[str, Any]:
        """Run this scenario; return its summary."""
        args = self.args
        threads: list[threading.Thread] = []
        officer_browser: Browser | None = None
        if self.name == "receipts":
            receipt = self.send_report()
            threads += [threading.Thread(target=self.receipt_guesser, args=(i,), daemon=True)
                        for i in range(args.attackers)]
        else:
            officer_browser = Browser(self.server.port, timeout=120)
            first = self.officer_signs_in(officer_browser)
            if not first.ok or "rl_device" not in officer_browser.cookies:
                raise RuntimeError(f"the officer's first sign-in failed: {first}")
            addresses = ([f"127.1.{n // 250}.{n % 250 + 1}" for n in range(args.addresses)]
                         if self.name == "officer-spread" else [])
            threads += [threading.Thread(target=self.password_guesser, args=(i, addresses),
                                         daemon=True) for i in range(args.attackers)]
        threads.append(threading.Thread(target=self.bystander, daemon=True))
        user0, system0 = self.server.cpu_times()
        self.start = time.perf_counter()
        self.deadline = self.start + args.seconds
        for thread in threads:
            thread.start()
        print(f"  {self.name}: {args.attackers} attacker threads for {args.seconds:g} s",
              flush=True)
        if self.name == "receipts":
            owner_times = [self.start + t for t in
                           _frange(args.every / 2, args.seconds, args.every)]
            for moment in owner_times:
                time.sleep(max(0.0, moment - time.perf_counter()))
                attempt = OwnerAttempt(moment - self.start)
                self.reporter_signs_in(receipt, attempt)
                self.owner.append(attempt)
        else:
            assert officer_browser is not None
            while True:
                next_step = (int(time.time()) // 30 + 1) * 30 + 1  # a fresh TOTP code
                moment = time.perf_counter() + (next_step - time.time())
                if moment >= self.deadline:
                    break
                time.sleep(max(0.0, moment - time.perf_counter()))
                self.owner.append(self.officer_signs_in(officer_browser))
            officer_browser.close()
        time.sleep(max(0.0, self.deadline - time.perf_counter()))
        user1, system1 = self.server.cpu_times()
        elapsed = time.perf_counter() - self.start
        for thread in threads:
            thread.join()
        self.server.stop()
        counted = int(self.count_file.read_text()) if self.count_file.exists() else None
        return self.summary(elapsed, user1 - user0, system1 - system0, counted)

    def summary(self, elapsed: float, user: float, system: float, argon2_runs: int | None
                ) -> dict[str, Any]:
        """Everything measured, small."""
        latencies = [a.seconds for a in self.owner if a.ok]
        attack = self.attack.summary(elapsed)
        result: dict[str, Any] = {
            "seconds": elapsed,
            "attacker_threads": self.args.attackers,
            "attacker": attack,
            "owner": {
                "attempts": len(self.owner),
                "succeeded": sum(a.ok for a in self.owner),
                "in_within_10_s": sum(a.ok and a.seconds <= TARGET_SECONDS for a in self.owner),
                "succeeded_first_try": sum(a.ok and a.tries == 1 for a in self.owner),
                "latency_ms_median": median(latencies) * 1000,
                "latency_ms_max": max(latencies) * 1000 if latencies else float("nan"),
                "each": [{"at_s": round(a.at, 1), "ok": a.ok, "tries": a.tries,
                          "ms": round(a.seconds * 1000, 1),
                          "post_ms": [round(ms, 1) for ms in a.post_ms],
                          "statuses": a.statuses, **({"error": a.error} if a.error else {})}
                         for a in self.owner],
            },
            "bystander_reports": {
                "sent": len(self.bystanders),
                "accepted": sum(a.ok for a in self.bystanders),
                "post_ms_median": median(
                    [a.seconds for a in self.bystanders if a.ok]) * 1000,
                "post_ms_max": max((a.seconds for a in self.bystanders if a.ok),
                                   default=float("nan")) * 1000,
                "failures": [{"at_s": round(a.at, 1), "statuses": a.statuses,
                              **({"error": a.error} if a.error else {})}
                             for a in self.bystanders if not a.ok],
            },
            "server_cpu_seconds": {"user": user, "system": system, "total": user + system},
            "server_cpu_utilisation": (user + system) / elapsed,
            "load_average_1min_after": os.getloadavg()[0],
        }
        if self.name != "receipts":
            answers = attack["answers"]
            attacker_argon2 = sum(n for a, n in answers.items() if a.startswith("401"))
            owner_argon2 = sum(a.ok for a in self.owner) + 1  # + the first, device-earning one
            result["argon2"] = {
                "counted_in_server": argon2_runs,
                "estimated_from_answers": attacker_argon2 + owner_argon2,
                "attacker_estimated": attacker_argon2,
                "owner": owner_argon2,
                "attacker_refused_429": sum(n for a, n in answers.items() if a.startswith("429")),
                "cost": {"time_cost": self.settings.argon2_time_cost,
                         "memory_cost_kib": self.settings.argon2_memory_cost_kib,
                         "parallelism": self.settings.argon2_parallelism},
            }
            if self.name == "officer-spread":
                result["attacker_addresses"] = self.args.addresses
        return result


def _frange(first: float, stop: float, step: float) -> list[float]:
    values = []
    value = first
    while value < stop:
        values.append(value)
        value += step
    return values


def print_scenario(backend: str, name: str, data: dict[str, Any]) -> None:
    """The tables of one scenario."""
    owner, attack = data["owner"], data["attacker"]
    who = "reporter (receipt)" if name == "receipts" else "officer (usual browser)"
    print(f"\n[{backend}] {name}: {data['attacker_threads']} attacker threads for "
          f"{data['seconds']:.0f} s"
          + (f" from {data['attacker_addresses']} addresses" if "attacker_addresses" in data
             else " from the owner's own address"))
    other = data["bystander_reports"]
    print_table(["who", "attempts", "in", "within 10 s", "first try", "p50 ms", "max ms"], [
        [who, owner["attempts"], owner["succeeded"], owner["in_within_10_s"],
         owner["succeeded_first_try"], owner["latency_ms_median"], owner["latency_ms_max"]],
        ["another reporter (POST /report)", other["sent"], other["accepted"], "", "",
         other["post_ms_median"], other["post_ms_max"]]])
    print()
    rows = [[answer, count, count / data["seconds"], attack["latency_ms"][answer]["median"],
             attack["latency_ms"][answer]["max"]]
            for answer, count in sorted(attack["answers"].items(), key=lambda kv: -kv[1])]
    rows.append(["all", attack["requests"], attack["per_second"], "", ""])
    print_table(["attacker's answer", "requests", "per s", "p50 ms", "max ms"], rows)
    cpu = data["server_cpu_seconds"]
    line = (f"Server CPU: {cpu['user']:.1f} s user + {cpu['system']:.1f} s system = "
            f"{data['server_cpu_utilisation']:.2f} cores")
    if "argon2" in data:
        a = data["argon2"]
        line += (f"; Argon2id runs: {a['counted_in_server']} counted in the server, "
                 f"{a['estimated_from_answers']} estimated from answers "
                 f"({a['attacker_estimated']} attacker, {a['owner']} officer); "
                 f"{a['attacker_refused_429']} attacker requests answered 429")
    print(line)


def main() -> None:
    """Parse arguments, run the scenarios on each backend, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each scenario")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run only this scenario (repeatable; default: all)")
    parser.add_argument("--attackers", type=int, default=8, help="attacker threads")
    parser.add_argument("--every", type=float, default=10.0,
                        help="seconds between the reporter's sign-ins (receipts)")
    parser.add_argument("--addresses", type=int, default=1000,
                        help="attacker addresses in officer-spread")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument("--postgres", action="store_true",
                        help="also on PostgreSQL at 127.0.0.1:5432 (scratch databases)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    results: dict[str, Any] = {
        "benchmark": "guessing",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": vars(args),
        "backends": {},
    }
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    for backend in backends:
        results["backends"][backend] = {}
        for name in args.scenario or SCENARIOS:
            with ExitStack() as stack:
                data = Scenario(name, backend, args, stack).run()
            results["backends"][backend][name] = data
            print_scenario(backend, name, data)
    path = write_results("guessing", results)
    print(f"\nResults: {path}")


if __name__ == "__main__":
    main()

