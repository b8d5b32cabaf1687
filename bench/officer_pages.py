"""Officer page latency on a realistic database: the queue and a case, under waitress.

    python -m bench.officer_pages                  # seed 100,000 reports (minutes), measure
    python -m bench.officer_pages --reuse          # measure the database seeded last time
    python -m bench.officer_pages --reports 20000  # a smaller database
    python -m bench.officer_pages --reuse --profile   # also: where each page's time goes

The database is seeded with the app's own services (see bench/seed.py) and kept
in bench/results/officer-pages/ (git-ignored). The app then runs under waitress
in its own process, exactly as `reportline serve` runs it; one officer (the
supervisor) signs in through the login form with a TOTP code and requests the
pages in turn (baseline, queue pages, case pages, baseline, ...) on one
keep-alive connection, so every page sees the same conditions. The baselines
(the stylesheet and the landing page) show what the server costs with no
officer work at all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict
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
    write_results,
)
from bench.instance import Credentials, create_instance, load_credentials
from bench.whatif import EXPERIMENTS
from reportline.migrate import upgrade

FOLDER = RESULTS / "officer-pages" / "instance"
SEED_RECORD = RESULTS / "officer-pages" / "seed.json"
PAGE_SIZE = 50  # the default queue_page_size
# Proposed targets for an officer page with 100,000 reports (not from the product brief).
TARGET_MEDIAN_MS = 100
TARGET_P95_MS = 250


def ensure_database(reports: int, reuse: bool) -> dict[str, Any]:
    """Reuse the seeded database if asked and it has `reports`; otherwise seed a new one."""
    if reuse and SEED_RECORD.exists():
        record = json.loads(SEED_RECORD.read_text())
        if record["reports"] == reports:
            upgrade(f"sqlite:///{FOLDER / 'reportline.sqlite3'}")  # the schema may have moved on
            print(f"Reusing {FOLDER} ({reports:,} reports, seeded {record['seeded_at']})")
            return record
        print(f"The kept database has {record['reports']:,} reports, not {reports:,}: reseeding")
    from bench.seed import seed_instance

    shutil.rmtree(FOLDER.parent, ignore_errors=True)
    credentials = create_instance(FOLDER)  # production Argon2 parameters
    print(f"Seeding {reports:,} reports into {FOLDER} (this takes a while)", flush=True)
    result = seed_instance(FOLDER, credentials, reports)
    record = {
        **asdict(result),
        "statuses": dict(result.statuses),
        "seeded_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "revision": git_revision(),
        "database_bytes": (FOLDER / "reportline.sqlite3").stat().st_size,
    }
    SEED_RECORD.write_text(json.dumps(record, indent=2))
    print(f"Seeded in {result.seconds:.0f} s: {result.status_changes:,} status changes, "
          f"{result.messages:,} messages")
    return record


def sign_in(browser: Browser, credentials: Credentials, attempts: int = 3) -> None:
    """Sign in through the login form; wait for a fresh TOTP step if a code was used."""
    totp = pyotp.TOTP(credentials.totp_seed)
    for _ in range(attempts):
        page = browser.get("/triage/login")
        answer = browser.post("/triage/login", {
            "csrf_token": csrf_token(page.body),
            "email": credentials.email,
            "password": credentials.password,
            "code": totp.now(),
        })
        if answer.status == 303 and "rl_officer" in browser.cookies:
            return
        # A code is accepted once: this step's code may have been used by the last run.
        time.sleep(30 - time.time() % 30 + 1)
    raise RuntimeError(f"could not sign in (last answer {answer.status})")


def pages_to_measure(record: dict[str, Any]) -> dict[str, list[str]]:
    """Page name -> the URLs to cycle through."""
    last_page = max(1, math.ceil(record["reports"] / PAGE_SIZE))
    return {
        "baseline: stylesheet": ["/static/css/reportline.css"],
        "baseline: landing page": ["/"],
        "queue: open cases, page 1": ["/triage/"],
        "queue: everything, page 1": ["/triage/?status=all"],
        f"queue: everything, last page ({last_page})": [f"/triage/?status=all&page={last_page}"],
        "queue: status filter (investigating)": ["/triage/?status=investigating"],
        "case page": [f"/triage/cases/{ref}" for ref in case_sample(record)],
    }


def case_sample(record: dict[str, Any], size: int = 20) -> list[str]:
    """Cases an officer opens: half recent open cases with a dialogue, half from the seed.

    The seed's sample is of cases with at least five events (status changes and
    messages), from any year.
    """
    import sqlite3

    from reportline.services.cases import reference

    database = sqlite3.connect(f"file:{FOLDER / 'reportline.sqlite3'}?mode=ro", uri=True)
    recent = [reference(row[0]) for row in database.execute(
        "SELECT id FROM cases WHERE status != 'closed' AND message_count >= 2 "
        "ORDER BY received_on DESC, id DESC LIMIT ?", (size // 2,))]
    database.close()
    return recent + record["busy_cases"][: size - len(recent)]


def check(name: str, url: str, status: int, body: str) -> None:
    """Fail loudly if a page did not come back as it should."""
    if status != 200:
        raise RuntimeError(f"{name}: {url} answered {status}")
    if name.startswith("queue") and "RL-" not in body:
        raise RuntimeError(f"{name}: {url} shows no cases")
    if name.startswith("case") and url.rsplit("/", 1)[1] not in body:
        raise RuntimeError(f"{name}: {url} does not show the case")


def measure(record: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Serve the instance, sign in and time every page, interleaved; return the summaries.

    With --what-if a second server runs the same instance with the simulated
    change, and each page is requested from both in turn.
    """
    credentials = load_credentials(FOLDER)
    variants = {"reportline": []}
    if args.what_if:
        variants["reportline+" + "+".join(args.what_if)] = [
            arg for name in args.what_if for arg in ("--what-if", name)]
    pages = pages_to_measure(record)
    samples = {variant: {name: [] for name in pages} for variant in variants}
    servers: dict[str, ServerProcess] = {}
    browsers: dict[str, Browser] = {}
    try:
        for variant, extra in variants.items():
            servers[variant] = ServerProcess(
                f"officer-pages-{variant.replace('+', '-')}",
                ["--app", "reportline", "--instance", str(FOLDER), "--threads",
                 str(args.threads), *extra])
            browsers[variant] = Browser(servers[variant].port)
            sign_in(browsers[variant], credentials)
        for browser in browsers.values():  # warm-up: caches, connections, first-use imports
            for name, urls in pages.items():
                for url in urls[:3]:
                    response = browser.get(url)
                    check(name, url, response.status, response.body)
        cursor = dict.fromkeys(pages, 0)
        for number in range(args.rounds * args.requests):
            if number % args.requests == 0:
                print(f"  round {number // args.requests + 1} of {args.rounds}", flush=True)
            for name, urls in pages.items():
                url = urls[cursor[name] % len(urls)]
                cursor[name] += 1
                for variant, browser in browsers.items():
                    response = browser.get(url)
                    check(name, url, response.status, response.body)
                    samples[variant][name].append(response.seconds * 1000)
    finally:
        for browser in browsers.values():
            browser.close()
        for server in servers.values():
            server.stop()
    return {
        variant: {
            name: {
                "requests": len(values),
                "median_ms": median(values),
                "p95_ms": percentile(values, 95),
                "min_ms": min(values),
                "max_ms": max(values),
            }
            for name, values in by_page.items()
        }
        for variant, by_page in samples.items()
    }


def profile_pages(record: dict[str, Any], count: int) -> dict[str, Any]:
    """In-process breakdown of each officer page (categories, functions, queries)."""
    from bench.profiling import RequestProfiler, print_summary
    from reportline import create_app

    os.environ["REPORTLINE_INSTANCE"] = str(FOLDER)
    app = create_app()
    # The officer access log still gets written (it is part of a request's cost), to nowhere.
    for handler in app.logger.handlers:
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    # Functions that have moved between modules are listed under each name; missing ones
    # are skipped.
    profiler = RequestProfiler(app.extensions["reportline.engine"], [
        ("reportline.web.triage.access", "load_officer"),
        ("reportline.services.auth", "resume_session"),
        ("reportline.services.keyring", "unlock_unit_keys"),
        ("reportline.services.queue", "queue_page"),
        ("reportline.services.triage", "queue_page"),
        ("reportline.services.queue", "_unit_grants"),
        ("reportline.services.triage", "_unit_grants"),
        ("reportline.services.cases", "open_secret_from_grants"),
        ("reportline.services.cases", "open_report"),
        ("reportline.services.triage", "open_case"),
        ("reportline.services.cases", "open_case_secret"),
        ("reportline.services.case_checks", "check_as_unit"),
        ("reportline.services.dialogue", "read_dialogue"),
        ("reportline.services.cases", "read_dialogue"),
        ("reportline.services.triage", "_history"),
        ("reportline.services.audit", "record"),
    ])
    client = app.test_client()
    credentials = load_credentials(FOLDER)
    totp = pyotp.TOTP(credentials.totp_seed)
    for _ in range(3):
        page = client.get("/triage/login").get_data(as_text=True)
        answer = client.post("/triage/login", data={
            "csrf_token": csrf_token(page), "email": credentials.email,
            "password": credentials.password, "code": totp.now()})
        if answer.status_code == 303:
            break
        time.sleep(30 - time.time() % 30 + 1)
    else:
        raise RuntimeError("could not sign in in-process")
    pages = pages_to_measure(record)
    rng = random.Random(3)

    def one_each() -> None:
        for name, urls in pages.items():
            url = rng.choice(urls)
            response = profiler.request(name, lambda url=url: client.get(url))
            check(name, url, response.status_code, response.get_data(as_text=True))

    one_each()
    profiler.reset()
    for _ in range(count):
        one_each()
    profiler.run_profiled(lambda: [one_each() for _ in range(max(5, count // 3))])
    summary = profiler.summary()
    print_summary(summary)
    app.extensions["reportline.engine"].dispose()
    return summary


def pagination_queries(reports: int, repeats: int = 5) -> dict[str, Any]:
    """Time the queue's page query at several depths, as issued and in two cheaper shapes.

    Straight on the SQLite file (read-only), outside the app: `as issued` is the
    ORM's query (every column, LIMIT/OFFSET); `ids first` pages over the
    covering index and then fetches 50 rows by key; `keyset` starts after the
    previous page's last (received_on, id) instead of counting rows.
    """
    import sqlite3

    database = sqlite3.connect(f"file:{FOLDER / 'reportline.sqlite3'}?mode=ro", uri=True)
    order = "ORDER BY received_on DESC, id DESC"
    plan = database.execute(
        f"EXPLAIN QUERY PLAN SELECT * FROM cases {order} LIMIT 50 OFFSET 1000").fetchall()

    def timed(sql: str, parameters: tuple = ()) -> tuple[float, list]:
        durations, rows = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            rows = database.execute(sql, parameters).fetchall()
            durations.append((time.perf_counter() - started) * 1000)
        return median(durations), rows

    results: dict[str, Any] = {"plan": [row[-1] for row in plan], "depths": {}}
    last = max(0, (math.ceil(reports / PAGE_SIZE) - 1) * PAGE_SIZE)
    for offset in sorted({0, last // 2, last}):
        issued, _ = timed(f"SELECT * FROM cases {order} LIMIT 50 OFFSET ?", (offset,))
        ids_ms, ids = timed(f"SELECT id, received_on FROM cases {order} LIMIT 50 OFFSET ?",
                            (offset,))
        marks = ",".join("?" * len(ids))
        fetch_ms, _ = timed(f"SELECT * FROM cases WHERE id IN ({marks})",
                            tuple(row[0] for row in ids))
        keyset_ms = float("nan")
        if offset:
            key = database.execute(f"SELECT received_on, id FROM cases {order} LIMIT 1 OFFSET ?",
                                   (offset - 1,)).fetchone()
            keyset_ms, _ = timed(
                f"SELECT * FROM cases WHERE (received_on, id) < (?, ?) {order} LIMIT 50", key)
        count_ms, _ = timed("SELECT count(*) FROM cases")
        results["depths"][offset] = {
            "as_issued_ms": issued,
            "ids_first_ms": ids_ms + fetch_ms,
            "keyset_ms": keyset_ms,
            "count_all_ms": count_ms,
        }
    database.close()
    print("\nQueue page query on the SQLite file (median of "
          f"{repeats}; plan: {'; '.join(results['plan'])})")
    print_table(["OFFSET", "as issued ms", "ids first ms", "keyset ms", "count(*) ms"], [
        [offset, d["as_issued_ms"], d["ids_first_ms"], d["keyset_ms"], d["count_all_ms"]]
        for offset, d in results["depths"].items()])
    return results


def main() -> None:
    """Seed or reuse, measure, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse bench/results/officer-pages if it has --reports reports")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20, help="per page per round")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument("--profile", action="store_true", help="also profile in-process")
    parser.add_argument("--no-serve", action="store_true",
                        help="skip the measurement under waitress (with --profile)")
    parser.add_argument("--profile-count", type=int, default=40)
    parser.add_argument("--what-if", action="append", default=[], choices=sorted(EXPERIMENTS),
                        help="also measure with a simulated optimisation (bench/whatif.py)")
    args = parser.parse_args()

    record = ensure_database(args.reports, args.reuse)
    if args.seed_only:
        return
    results: dict[str, Any] = {
        "benchmark": "officer_pages",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": vars(args),
        "database": {k: v for k, v in record.items() if k != "busy_cases"},
        "pages": {} if args.no_serve else measure(record, args),
    }
    if args.profile:
        results["profile"] = profile_pages(record, args.profile_count)
        results["pagination_queries"] = pagination_queries(record["reports"])
    print(f"\nOfficer pages with {record['reports']:,} reports, one signed-in officer "
          f"(proposed target: median <= {TARGET_MEDIAN_MS} ms, p95 <= {TARGET_P95_MS} ms)")
    rows = []
    for variant, by_page in results["pages"].items():
        for name, data in by_page.items():
            met = "" if name.startswith("baseline") else (
                "yes" if data["median_ms"] <= TARGET_MEDIAN_MS and data["p95_ms"] <= TARGET_P95_MS
                else "NO")
            rows.append([name, variant, data["requests"], data["median_ms"], data["p95_ms"], met])
    order = list(pages_to_measure(record))
    rows.sort(key=lambda row: order.index(row[0]))
    print_table(["page", "app", "requests", "median ms", "p95 ms", "target met"], rows)
    path = write_results("officer-pages", results)
    print(f"\nResults: {path}")


if __name__ == "__main__":
    main()
