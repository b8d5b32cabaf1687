"""The supervisors' audit log page with 100,000 entries, under waitress.

    python -m bench.audit_log                      # SQLite: seed 100,000 entries, measure
    python -m bench.audit_log --postgres           # also on PostgreSQL (a scratch database)
    python -m bench.audit_log --entries 5000 --rounds 1 --requests 3   # a quick check

A fresh instance (`reportline init`, cheap Argon2id) gets four more officers and
`--entries` audit entries appended through `audit.record` itself, a year of a
unit's work: queue and case views, status changes, messages, notes, sign-ins,
about 20,000 cases. Then, under waitress as `reportline serve` runs it, the
supervisor signs in through the form and requests the log's views in turn: the
newest page, each filter, two combined, and a page deep in the log. Each view
appends its own `audit.viewed` entry, as it does in use.

The pages are timed twice: before any full check of the chain, when each view
checks the `VIEW_CHECK_LIMIT` oldest entries itself (its worst case), and after
the supervisor's "Check the whole log now", when each view checks only the
entries recorded since. The full check itself is timed too (three POSTs), and,
in this process, `audit.verify_chain` over the whole log and
`audit.chain_status` at the view's limit: what checking every entry on every
view would cost.
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

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
    write_results,
)
from bench.instance import (
    FAST_ARGON2,
    Credentials,
    create_instance,
    database_url_for,
    instance_settings,
)
from bench.officer_pages import sign_in
from reportline.models import Officer
from reportline.services import audit, cases, instance, officers
from reportline.web.admin.audit_views import VIEW_CHECK_LIMIT

FOLDER = RESULTS / "audit-log"
OFFICER_EMAILS = [f"officer{n}@bench.reportline.invalid" for n in range(1, 5)]
# (action, share of entries, names a case)
MIX = [
    ("queue.viewed", 0.34, False),
    ("case.viewed", 0.30, True),
    ("case.status_changed", 0.08, True),
    ("case.message_sent", 0.07, True),
    ("case.note_added", 0.06, True),
    ("case.triage_recorded", 0.06, True),
    ("officer.signed_in", 0.05, False),
    ("officer.signed_out", 0.03, False),
    ("case.assigned", 0.009, True),
    ("officer.locked", 0.001, False),
]
CASES = 20_000
TARGET_MEDIAN_MS = 50


def seed(settings: Any, entries: int, rng: random.Random) -> dict[str, Any]:
    """Four officers, then `entries` audit entries through `audit.record`, a year's
    worth in time order; returns what the pages need (officer ids, a busy case)."""
    started = time.perf_counter()
    case_ids = [rng.randrange(1, 2**40) for _ in range(CASES)]
    actions, weights, with_case = zip(*MIX, strict=True)
    step = timedelta(days=365) / max(entries, 1)
    moment = datetime(2025, 1, 1)
    counts: dict[int, int] = {}
    with instance.database_session(settings) as session:
        ids = [
            officers.create_officer(
                session,
                email,
                "officer",
                "bench officer password",
                FAST_ARGON2,
                moment,
                instance.integrity_key(settings),
            ).officer.id
            for email in OFFICER_EMAILS
        ]
        session.commit()
        emails = list(session.scalars(select(Officer.email).order_by(Officer.id)))
        for number in range(entries):
            index = rng.choices(range(len(actions)), weights)[0]
            case_id = None
            if with_case[index]:  # a tenth of the cases get a third of the work
                busy = rng.random() < 0.3
                case_id = rng.choice(case_ids[: CASES // 10] if busy else case_ids)
                counts[case_id] = counts.get(case_id, 0) + 1
            audit.record(
                session,
                rng.choice(emails),
                actions[index],
                moment + step * number,
                case_id=case_id,
                **({"page": 1} if index == 0 else {}),
            )
            if number % 2_000 == 1_999:
                session.commit()
                session.expunge_all()
                print(f"  {number + 1:,} entries", flush=True)
        session.commit()
    busy = max(counts, key=lambda case_id: counts[case_id])
    return {
        "entries": entries,
        "seconds": time.perf_counter() - started,
        "officer_ids": ids,
        "busy_case": cases.reference(busy),
        "busy_case_entries": counts[busy],
    }


def pages(record: dict[str, Any]) -> dict[str, str]:
    """Page name -> URL."""
    officer = record["officer_ids"][0]
    return {
        "baseline: stylesheet": "/static/css/reportline.css",
        "log: newest page": "/triage/admin/audit",
        "log: one officer": f"/triage/admin/audit?officer={officer}",
        "log: one case": f"/triage/admin/audit?case={record['busy_case']}",
        "log: common action (case opened)": "/triage/admin/audit?action=case.viewed",
        "log: rare action (lockouts)": "/triage/admin/audit?action=officer.locked",
        "log: officer + action": (
            f"/triage/admin/audit?officer={officer}&action=case.status_changed"
        ),
        "log: half-way back": f"/triage/admin/audit?before={record['entries'] // 2}",
    }


def time_pages(
    server: ServerProcess, browser: Browser, urls: dict[str, str], rounds: int, requests: int
) -> dict[str, dict[str, float]]:
    """Request every page in turn, `rounds` x `requests` times; summaries per page, with
    the server's CPU time for each request (steadier than wall time on a busy machine)."""
    samples: dict[str, list[float]] = {name: [] for name in urls}
    cpu: dict[str, list[float]] = {name: [] for name in urls}
    for url in urls.values():  # warm-up
        assert browser.get(url).status == 200, url
    for _ in range(rounds * requests):
        for name, url in urls.items():
            before = server.cpu_seconds()
            response = browser.get(url)
            cpu[name].append((server.cpu_seconds() - before) * 1000)
            if response.status != 200 or (
                name.startswith("log") and "Audit log" not in response.body
            ):
                raise RuntimeError(f"{name}: {url} answered {response.status}")
            samples[name].append(response.seconds * 1000)
    return {
        name: {
            "requests": len(values),
            "median_ms": median(values),
            "p95_ms": percentile(values, 95),
            "max_ms": max(values),
            "server_cpu_mean_ms": sum(cpu[name]) / len(cpu[name]),
        }
        for name, values in samples.items()
    }


def full_checks(browser: Browser, times: int) -> list[float]:
    """Press "Check the whole log now" `times` times; seconds each took."""
    took = []
    for _ in range(times):
        token = csrf_token(browser.get("/triage/admin/audit").body)
        started = time.perf_counter()
        response = browser.post("/triage/admin/audit/check", {"csrf_token": token})
        took.append(time.perf_counter() - started)
        if response.status != 303:
            raise RuntimeError(f"the full check answered {response.status}")
    return took


def in_process(settings: Any) -> dict[str, float]:
    """Checking every entry (what each view would cost without the design) and a view's
    own check at its limit, timed here on the same database (median of three)."""
    with instance.database_session(settings) as session:
        every, limited = [], []
        for _ in range(3):
            started = time.perf_counter()
            audit.verify_chain(session)
            every.append(time.perf_counter() - started)
            session.rollback()
            started = time.perf_counter()
            audit.chain_status(session, VIEW_CHECK_LIMIT)
            limited.append(time.perf_counter() - started)
            session.rollback()
    return {
        "verify_whole_chain_ms": median(every) * 1000,
        "view_check_at_limit_ms": median(limited) * 1000,
    }


def run(backend: str, args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    """Seed one instance on `backend` and measure it."""
    folder = FOLDER / backend
    shutil.rmtree(folder, ignore_errors=True)
    url = database_url_for(backend, "audit_log_bench", stack)
    credentials: Credentials = create_instance(folder, url, FAST_ARGON2)
    settings = instance_settings(folder)
    print(f"[{backend}] seeding {args.entries:,} entries through audit.record", flush=True)
    record = seed(settings, args.entries, random.Random(11))
    print(f"[{backend}] seeded in {record['seconds']:.0f} s", flush=True)
    result: dict[str, Any] = {"seed": record, "in_process_before": in_process(settings)}
    server = ServerProcess(
        f"audit-log-{backend}",
        ["--app", "reportline", "--instance", str(folder), "--threads", str(args.threads)],
    )
    browser = Browser(server.port)
    try:
        sign_in(browser, credentials)
        urls = pages(record)
        print(f"[{backend}] pages before any full check", flush=True)
        result["before_full_check"] = time_pages(server, browser, urls, args.rounds, args.requests)
        result["full_check_seconds"] = full_checks(browser, 3)
        print(f"[{backend}] pages after a full check", flush=True)
        result["after_full_check"] = time_pages(server, browser, urls, args.rounds, args.requests)
    finally:
        browser.close()
        server.stop()
    return result


def report(backend: str, result: dict[str, Any]) -> None:
    """Print one backend's tables."""
    seeded = result["seed"]
    print(
        f"\n[{backend}] audit log with {seeded['entries']:,} entries "
        f"(target: median <= {TARGET_MEDIAN_MS} ms); the busy case has "
        f"{seeded['busy_case_entries']} entries"
    )
    rows = []
    for state in ("before_full_check", "after_full_check"):
        for name, data in result[state].items():
            rows.append(
                [
                    name,
                    state.replace("_", " "),
                    data["requests"],
                    data["median_ms"],
                    data["p95_ms"],
                    data["max_ms"],
                    data["server_cpu_mean_ms"],
                ]
            )
    header = ["page", "state", "requests", "median ms", "p95 ms", "max ms", "server CPU ms"]
    print_table(header, rows)
    checks = ", ".join(f"{seconds:.2f}" for seconds in result["full_check_seconds"])
    own = result["in_process_before"]
    print(f"Full check (POST, whole log): {checks} s")
    print(
        f"In process: verify_chain over the whole log {own['verify_whole_chain_ms']:.0f} ms; "
        f"chain_status at {VIEW_CHECK_LIMIT:,} entries {own['view_check_at_limit_ms']:.1f} ms"
    )


def main() -> None:
    """Measure on each backend asked for; print and save the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10, help="per page per round")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    results: dict[str, Any] = {
        "benchmark": "audit_log",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": vars(args),
        "view_check_limit": VIEW_CHECK_LIMIT,
        "backends": {},
    }
    with ExitStack() as stack:
        for backend in backends:
            results["backends"][backend] = run(backend, args, stack)
    for backend, result in results["backends"].items():
        report(backend, result)
    print(f"\nResults: {write_results('audit-log', results)}")


if __name__ == "__main__":
    main()
