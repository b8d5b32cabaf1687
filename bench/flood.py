"""A scripted flood of reports, and two genuine reporters sending theirs in the middle of it.

    python -m bench.flood                    # 60 s on SQLite
    python -m bench.flood --seconds 15       # a quick run
    python -m bench.flood --postgres         # also on PostgreSQL (a scratch database)

ReportLine runs under waitress as `reportline serve` runs it, on a fresh
instance with the default flood settings (`min_form_seconds` 3, a 16-bit proof
of work, `flood_reports` 30 in 10 minutes, at most 2,000 flood-marked reports);
only the Argon2 cost is cheap (the supervisor's sign-in is not measured). Then,
for --seconds, from this process:

* fast flooders (--fast threads) fetch the form and post junk at once, again
  and again: every post comes too soon and the form is shown again (400);
* patient flooders (--patient threads) each hold up to --batch forms, fetched
  ahead, and post each as soon as it is `min_form_seconds` old, fetching
  more meanwhile: what no anonymous service can refuse.
  They are stored, and beyond the flood rate marked "possible flood", until
  the ceiling; after it the form answers 503 "busy".

At each moment of --genuine-at, two genuine reporters send a report, having
fetched the form `min_form_seconds` + 2 s earlier to fill it in: one as a browser with
JavaScript (the proof of work computed here, in Python, while "typing"), one
as a browser without it (no proof). After the flood the supervisor signs in
and checks where each genuine report shows: the JavaScript one in the default
queue, the one without JavaScript in the flood group (or refused as busy, if
it came after the ceiling), and that the default view counts the flood group.
Also printed: attempts, acceptances and refusals of each flooder, junk stored
and flood-marked (counted in the database), and the server's CPU time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import threading
import time
from collections import Counter, deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    RESULTS,
    Browser,
    Response,
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
    create_instance,
    database_url_for,
    instance_settings,
)
from bench.officer_pages import sign_in
from bench.submission import realistic_report
from reportline.crypto.receipt import Receipt
from reportline.models import Case
from reportline.services import cases, flood, instance

WORK = RESULTS / "flood-work"
PROOF_BITS = re.compile(r'data-proof-bits="(\d+)"')
FLOOD_COUNT = re.compile(r"([\d,]+) reports? arrived while reports came in much faster than usual")
CASE_COUNT = re.compile(r"\(([\d,]+) cases?\)")
# Outcomes of a POST /report, from its status and page.
ACCEPTED, TOO_SOON, EXPIRED, INVALID, BUSY, ALREADY_SENT, ERROR = (
    "accepted", "refused: too soon (400)", "refused: expired (400)", "refused: invalid (400)",
    "refused: busy (503)", "already sent (409)", "error",
)
OUTCOMES = (ACCEPTED, TOO_SOON, EXPIRED, INVALID, BUSY, ALREADY_SENT, ERROR)
TIMELINE_STEP = 5.0


def outcome(response: Response) -> str:
    """What a POST /report came to."""
    if response.status == 200 and len(receipt_words(response.body)) == 10:
        return ACCEPTED
    if response.status == 400:
        if "Your report has not been sent yet" in response.body:
            return TOO_SOON  # the "check" notice: too soon (the honeypot is never filled here)
        if "could not be sent. Nothing has been stored" in response.body:
            return EXPIRED
        return INVALID
    if response.status == 503:
        return BUSY
    if response.status == 409:
        return ALREADY_SENT
    return ERROR


def form_answers(rng: random.Random) -> dict[str, str]:
    """What a browser posts besides the hidden values: answers, empty honeypot and proof."""
    return {**realistic_report(rng), "homepage": "", "proof": ""}


def solve_proof(challenge: str, bits: int) -> tuple[str, int]:
    """What the form's script does: the first counter whose SHA-256(challenge ":" counter)
    starts with `bits` zero bits; and how many hashes that took."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"{challenge}:{counter}".encode("ascii")).digest()
        if int.from_bytes(digest, "big") >> (256 - bits) == 0:
            return str(counter), counter + 1
        counter += 1


@dataclass
class Tally:
    """What one kind of flooder did (shared by its threads)."""

    attempts: Counter[str] = field(default_factory=Counter)
    post_seconds: list[float] = field(default_factory=list)
    forms_fetched: int = 0
    connection_errors: int = 0
    timeline: dict[int, Counter[str]] = field(default_factory=dict)
    first_busy_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: str, seconds: float, at: float) -> None:
        with self.lock:
            self.attempts[result] += 1
            self.post_seconds.append(seconds)
            self.timeline.setdefault(int(at // TIMELINE_STEP), Counter())[result] += 1
            if result == BUSY and self.first_busy_at is None:
                self.first_busy_at = at

    def summary(self, seconds: float) -> dict[str, Any]:
        total = sum(self.attempts.values())
        return {
            "forms_fetched": self.forms_fetched,
            "submissions_attempted": total,
            "attempted_per_second": total / seconds,
            "outcomes": {name: self.attempts.get(name, 0) for name in OUTCOMES},
            "accepted_per_second": self.attempts.get(ACCEPTED, 0) / seconds,
            "post_ms_median": median(self.post_seconds) * 1000,
            "post_ms_p95": percentile(self.post_seconds, 95) * 1000,
            "connection_errors": self.connection_errors,
            "first_busy_at_seconds": self.first_busy_at,
            "timeline": [
                {"from_second": step * TIMELINE_STEP,
                 **{name: counts.get(name, 0) for name in (ACCEPTED, TOO_SOON, BUSY)}}
                for step, counts in sorted(self.timeline.items())
            ],
        }


class Flood:
    """The flooders' threads, sharing a start time and a deadline."""

    def __init__(self, port: int, seconds: float, min_form_seconds: float) -> None:
        self.port = port
        self.seconds = seconds
        self.min_form_seconds = min_form_seconds
        self.start = 0.0
        self.deadline = 0.0
        self.fast = Tally()
        self.patient = Tally()

    def at(self) -> float:
        """Seconds since the flood began."""
        return time.perf_counter() - self.start

    def _post(self, browser: Browser, fields: dict[str, str], tally: Tally,
              rng: random.Random) -> None:
        started = time.perf_counter()
        try:
            response = browser.post("/report", {**form_answers(rng), **fields})
        except OSError:
            with tally.lock:
                tally.connection_errors += 1
            browser.close()
            return
        tally.add(outcome(response), time.perf_counter() - started, started - self.start)

    def _fetch(self, browser: Browser, tally: Tally) -> dict[str, str] | None:
        try:
            page = browser.get("/report")
            fields = report_form_fields(page.body)
        except (OSError, ValueError):
            with tally.lock:
                tally.connection_errors += 1
            browser.close()
            return None
        with tally.lock:
            tally.forms_fetched += 1
        return fields

    def fast_flooder(self, index: int) -> None:
        """Fetch a form, post junk at once; repeat until the deadline."""
        rng = random.Random(index)
        browser = Browser(self.port, timeout=60)
        while time.perf_counter() < self.deadline:
            fields = self._fetch(browser, self.fast)
            if fields is not None:
                self._post(browser, fields, self.fast, rng)
        browser.close()

    def patient_flooder(self, index: int, batch: int) -> None:
        """Hold up to `batch` forms; post each as soon as it is old enough, and fetch
        more meanwhile, so the server never waits for this flooder."""
        rng = random.Random(1000 + index)
        browser = Browser(self.port, timeout=60)
        # Tickets carry whole seconds, so a form fetched `min_form_seconds` ago (plus
        # a little for the clocks) is old enough.
        wait = self.min_form_seconds + 0.05
        held: deque[tuple[float, dict[str, str]]] = deque()
        while time.perf_counter() < self.deadline:
            if held and time.perf_counter() - held[0][0] >= wait:
                self._post(browser, held.popleft()[1], self.patient, rng)
            elif len(held) < batch:
                fields = self._fetch(browser, self.patient)
                if fields is not None:  # counted from the answer: the server may issue late
                    held.append((time.perf_counter(), fields))
            else:
                time.sleep(max(0.0, min(held[0][0] + wait, self.deadline)
                               - time.perf_counter()))
        browser.close()


@dataclass
class Genuine:
    """One genuine report sent during the flood."""

    label: str
    javascript: bool
    send_at: float
    canary: str
    get_ms: float = float("nan")
    post_ms: float = float("nan")
    proof_ms: float = float("nan")
    proof_hashes: int = 0
    outcome: str = ""
    receipt: str = ""
    sent_at: float = float("nan")
    shown: dict[str, Any] = field(default_factory=dict)


def send_genuine(port: int, report: Genuine, flood_state: Flood, think: float) -> None:
    """Fetch the form `think` seconds before `send_at` (seconds into the flood), fill it
    in meanwhile (with JavaScript, computing the proof of work too), send it at `send_at`."""
    fetch_at = flood_state.start + max(0.0, report.send_at - think)
    time.sleep(max(0.0, fetch_at - time.perf_counter()))
    browser = Browser(port, timeout=60)
    rng = random.Random(report.label)
    try:
        page = browser.get("/report")
        report.get_ms = page.seconds * 1000
        fields = report_form_fields(page.body)
        typing_done = max(time.perf_counter() + think, flood_state.start + report.send_at)
        answers = form_answers(rng)
        answers["what_happened"] = f"{report.canary} {answers['what_happened']}"
        if report.javascript:
            bits_match = PROOF_BITS.search(page.body)
            bits = int(bits_match.group(1)) if bits_match else 0
            if bits:
                started = time.perf_counter()
                answers["proof"], report.proof_hashes = solve_proof(fields["submission"], bits)
                report.proof_ms = (time.perf_counter() - started) * 1000
                if not flood.proof_is_valid(fields["submission"], answers["proof"], bits):
                    raise RuntimeError("the proof of work computed here is not valid")
        time.sleep(max(0.0, typing_done - time.perf_counter()))
        report.sent_at = flood_state.at()
        response = browser.post("/report", {**answers, **fields})
        report.post_ms = response.seconds * 1000
        report.outcome = outcome(response)
        report.receipt = " ".join(receipt_words(response.body))
    except (OSError, ValueError) as exc:
        report.outcome = f"{ERROR}: {exc!r}"
    finally:
        browser.close()


def find_in_view(browser: Browser, view: str, reference: str, max_pages: int = 60
                 ) -> tuple[int | None, str]:
    """The page of `view` on which `reference` is listed (None if not), and page 1's HTML."""
    first = ""
    for number in range(1, max_pages + 1):
        path = f"/triage/?status={view}&page={number}"
        page = browser.get(path)
        if page.status != 200:
            raise RuntimeError(f"{path} answered {page.status}")
        if number == 1:
            first = page.body
        if reference in page.body:
            return number, first
        if "RL-" not in page.body or f"Page {number} of {number} " in page.body:
            break
    return None, first


def check_as_supervisor(port: int, folder: Path, reports: list[Genuine]) -> dict[str, Any]:
    """Sign in as the supervisor and see where each genuine report shows; count the flood."""
    from bench.instance import load_credentials

    settings = instance_settings(folder)
    with instance.database_session(settings) as session:
        stored = session.scalar(select(func.count()).select_from(Case)) or 0
        marked = session.scalar(
            select(func.count()).select_from(Case).where(Case.possible_flood)) or 0
        for report in reports:
            if not report.receipt:
                continue
            hmac = Receipt(tuple(report.receipt.split())).lookup_hmac(settings.receipt_pepper)
            case = session.scalars(select(Case).where(Case.receipt_hmac == hmac)).first()
            report.shown["stored"] = case is not None
            if case is not None:
                report.shown["reference"] = cases.reference(case.id)
                report.shown["flood_marked"] = case.possible_flood
    browser = Browser(port, timeout=60)
    sign_in(browser, load_credentials(folder))
    default_page, default_html = None, ""
    for report in reports:
        reference = report.shown.get("reference")
        if not reference:
            continue
        default_page, default_html = find_in_view(browser, "open", reference)
        flood_page, _ = find_in_view(browser, "flood", reference)
        report.shown["in_default_queue_page"] = default_page
        report.shown["in_flood_group_page"] = flood_page
        case_page = browser.get(f"/triage/cases/{reference}")
        report.shown["case_page_status"] = case_page.status
        report.shown["case_page_shows_report"] = report.canary in case_page.body
    if not default_html:
        default_html = browser.get("/triage/").body
    count = FLOOD_COUNT.search(default_html)
    default_total = CASE_COUNT.search(default_html)
    browser.close()
    genuine_stored = sum(1 for r in reports if r.shown.get("stored"))
    genuine_marked = sum(1 for r in reports if r.shown.get("flood_marked"))
    return {
        "cases_stored": stored,
        "flood_marked": marked,
        "junk_stored": stored - genuine_stored,
        "junk_flood_marked": marked - genuine_marked,
        "default_view_flood_count": int(count.group(1).replace(",", "")) if count else None,
        "default_view_case_count": (
            int(default_total.group(1).replace(",", "")) if default_total else None),
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Set up an instance on `backend`, flood it, check the genuine reports."""
    with ExitStack() as stack:
        folder = WORK / backend / "instance"
        url = database_url_for(backend, "reportline_flood", stack)
        create_instance(folder, url, FAST_ARGON2)
        settings = instance_settings(folder)
        server = ServerProcess(f"flood-{backend}", [
            "--app", "reportline", "--instance", str(folder), "--threads", str(args.threads)])
        stack.callback(server.stop)
        state = Flood(server.port, args.seconds, settings.min_form_seconds)
        moments = args.genuine_at or [round(args.seconds * 0.3, 1), round(args.seconds * 0.8, 1)]
        think = settings.min_form_seconds + 2.0
        genuine = [
            Genuine(f"{'js' if js else 'no-js'}@{moment:g}s", js, moment,
                    f"GENUINE-{os.urandom(6).hex().upper()}")
            for moment in moments for js in (True, False)
        ]
        threads = (
            [threading.Thread(target=state.fast_flooder, args=(i,), daemon=True)
             for i in range(args.fast)]
            + [threading.Thread(target=state.patient_flooder, args=(i, args.batch), daemon=True)
               for i in range(args.patient)]
            + [threading.Thread(target=send_genuine, args=(server.port, g, state, think),
                                daemon=True) for g in genuine]
        )
        user0, system0 = server.cpu_times()
        client0 = time.process_time()
        state.start = time.perf_counter()
        state.deadline = state.start + args.seconds
        for thread in threads:
            thread.start()
        print(f"[{backend}] flooding for {args.seconds:g} s: {args.fast} fast and "
              f"{args.patient} patient flooders; genuine reports at "
              f"{', '.join(f'{m:g}' for m in moments)} s", flush=True)
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - state.start
        user1, system1 = server.cpu_times()
        client_cpu = time.process_time() - client0
        shown = check_as_supervisor(server.port, folder, genuine)
    return {
        "settings": {name: getattr(settings, name) for name in (
            "min_form_seconds", "proof_of_work_bits", "flood_reports", "flood_window_minutes",
            "flood_max_reports", "form_lifetime_hours")},
        "seconds": args.seconds,
        "elapsed_seconds": elapsed,
        "fast_flooders": state.fast.summary(args.seconds),
        "patient_flooders": state.patient.summary(args.seconds),
        "genuine": [
            {k: v for k, v in vars(g).items() if k not in ("receipt", "canary")}
            | {"receipt_shown": bool(g.receipt)}
            for g in genuine
        ],
        "database": shown,
        "server_cpu_seconds": {"user": user1 - user0, "system": system1 - system0,
                               "total": (user1 - user0) + (system1 - system0)},
        "server_cpu_utilisation": ((user1 - user0) + (system1 - system0)) / elapsed,
        "client_cpu_utilisation": client_cpu / elapsed,
        "load_average_1min_after": os.getloadavg()[0],
    }


def print_backend(backend: str, data: dict[str, Any]) -> None:
    """The tables of one backend's run."""
    settings = data["settings"]
    print(f"\n[{backend}] {data['seconds']:g} s of flood against default settings: "
          f"min_form_seconds {settings['min_form_seconds']}, proof of work "
          f"{settings['proof_of_work_bits']} bits, flood above {settings['flood_reports']} "
          f"reports in {settings['flood_window_minutes']} min, ceiling "
          f"{settings['flood_max_reports']} flood-marked")
    rows = []
    for kind in ("fast_flooders", "patient_flooders"):
        tally = data[kind]
        out = tally["outcomes"]
        rows.append([kind.replace("_", " "), tally["forms_fetched"],
                     tally["submissions_attempted"], out[ACCEPTED], out[TOO_SOON], out[BUSY],
                     out[EXPIRED] + out[INVALID] + out[ALREADY_SENT] + out[ERROR]
                     + tally["connection_errors"],
                     tally["attempted_per_second"], tally["post_ms_median"],
                     tally["post_ms_p95"],
                     "-" if tally["first_busy_at_seconds"] is None
                     else f"{tally['first_busy_at_seconds']:.1f}"])
    print_table(["flooder", "forms", "posts", "accepted", "400 too soon", "503 busy", "other",
                 "posts/s", "POST ms p50", "p95", "first 503 at s"], rows)
    db = data["database"]
    print(f"\nStored: {db['cases_stored']} cases, {db['junk_stored']} of them junk; "
          f"{db['flood_marked']} flood-marked ({db['junk_flood_marked']} junk). "
          f"The default view counts {db['default_view_flood_count']} in the flood group "
          f"and lists {db['default_view_case_count']} cases.")
    rows = []
    for g in data["genuine"]:
        shown = g["shown"]
        where = ("default queue, page " + str(shown["in_default_queue_page"])
                 if shown.get("in_default_queue_page") else
                 "flood group, page " + str(shown["in_flood_group_page"])
                 if shown.get("in_flood_group_page") else
                 "nowhere" if shown.get("stored") else "not stored")
        rows.append([g["label"], "yes" if g["javascript"] else "no", f"{g['sent_at']:.1f}",
                     g["outcome"], g["get_ms"], g["post_ms"],
                     "-" if g["proof_hashes"] == 0 else f"{g['proof_ms']:.0f}",
                     "yes" if shown.get("flood_marked") else "no" if shown.get("stored") else "-",
                     where, "yes" if shown.get("case_page_shows_report") else "-"])
    print()
    print_table(["genuine report", "JavaScript", "sent at s", "outcome", "GET ms", "POST ms",
                 "proof ms", "flood-marked", "shows in", "case page opens"], rows)
    cpu = data["server_cpu_seconds"]
    print(f"\nServer CPU over {data['elapsed_seconds']:.1f} s: {cpu['user']:.1f} s user + "
          f"{cpu['system']:.1f} s system = {data['server_cpu_utilisation']:.2f} cores; "
          f"this client used {data['client_cpu_utilisation']:.2f} cores.")


def main() -> None:
    """Parse arguments, run the flood on each backend, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the flood")
    parser.add_argument("--fast", type=int, default=2, help="fast flooder threads")
    parser.add_argument("--patient", type=int, default=6, help="patient flooder threads")
    parser.add_argument("--batch", type=int, default=100, help="forms a patient flooder holds")
    parser.add_argument("--genuine-at", type=float, action="append",
                        help="seconds into the flood at which the two genuine reporters "
                        "send their reports (repeatable; default 30%% and 80%% of --seconds)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument("--postgres", action="store_true",
                        help="also on PostgreSQL at 127.0.0.1:5432 (a scratch database)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    results: dict[str, Any] = {
        "benchmark": "flood",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": vars(args),
        "backends": {},
    }
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    for backend in backends:
        results["backends"][backend] = run_backend(backend, args)
        print_backend(backend, results["backends"][backend])
    path = write_results("flood", results)
    print(f"\nResults: {path}")


if __name__ == "__main__":
    main()
