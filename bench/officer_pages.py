"""Officer page latency on a realistic database: the queue's views and case pages, under waitress.

    python -m bench.officer_pages                  # seed 100,000 reports (minutes), measure
    python -m bench.officer_pages --reuse          # measure the database seeded last time
    python -m bench.officer_pages --reports 20000  # a smaller database
    python -m bench.officer_pages --postgres       # the same on PostgreSQL (reportline_bench)
    python -m bench.officer_pages --reuse --profile   # also: where each page's time goes

The database is seeded in bulk with the app's own sealing code (bench/seed.py)
and kept in bench/results/officer-pages/ (SQLite) or in the PostgreSQL
database `reportline_bench` with its instance folder in
bench/results/officer-pages-postgresql/ (git-ignored). The app then runs
under waitress in its own process, exactly as `reportline serve` runs it; one
officer (the supervisor, who owns a fifth of the cases) signs in through the
login form with a TOTP code and requests the pages in turn (baselines, every
queue view, case pages, baselines, ...) on one keep-alive connection, so every
page sees the same conditions. The baselines (the stylesheet and the landing
page) show what the server costs with no officer work at all.

A view the app does not understand yet is reported as its status (404, 400)
and not timed; a view whose page lists exactly the default view's cases is
marked "same rows as default" (a filter the app may be ignoring).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Any

import pyotp
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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
from bench.instance import POSTGRES_ADMIN_URL, Credentials, create_instance, load_credentials
from bench.whatif import EXPERIMENTS

FOLDER = RESULTS / "officer-pages" / "instance"
PAGE_SIZE = 25  # the default queue_page_size
# Issue 11: with 100,000 cases every queue view and case page under these.
TARGET_MEDIAN_MS = 50
TARGET_P95_MS = 150
POSTGRES_DATABASE = "reportline_bench"
REFERENCE = re.compile(r"RL-[0-9A-Z]{4}-[0-9A-Z]{4}")
# A view that names one of these and lists the default view's cases may be ignoring it.
FILTER = re.compile(r"[?&](assignee|due|priority|category|flag|replies)=")
# A national category and a risk flag to filter on (both common in the seeded records).
CATEGORY = "Controlled drugs"
FLAG = "victimisation"


class Backend:
    """Where the seeded instance lives: its folder, database URL and seed record."""

    def __init__(self, postgres: bool):
        self.name = "postgresql" if postgres else "sqlite"
        self.folder = FOLDER if not postgres else RESULTS / "officer-pages-postgresql" / "instance"
        self.record_path = self.folder.parent / "seed.json"
        admin = make_url(POSTGRES_ADMIN_URL)
        self.url = (
            admin.set(database=POSTGRES_DATABASE).render_as_string(hide_password=False)
            if postgres
            else None
        )

    @property
    def database_url(self) -> str:
        """The URL the app and the benchmark connect with."""
        return self.url or f"sqlite:///{self.folder / 'reportline.sqlite3'}"

    def recreate_database(self) -> None:
        """A new, empty PostgreSQL database (dropping the last one); nothing for SQLite."""
        if self.url is None:
            return
        admin = create_engine(
            make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DATABASE}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{POSTGRES_DATABASE}"'))
        admin.dispose()

    def database_bytes(self) -> int:
        """The database's size on disk."""
        if self.url is None:
            return (self.folder / "reportline.sqlite3").stat().st_size
        with _engine(self.database_url).connect() as connection:
            return int(
                connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )


def _engine(url: str) -> Any:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url)


def ensure_database(reports: int, reuse: bool, backend: Backend) -> dict[str, Any]:
    """Reuse the seeded database if asked and it has `reports`; otherwise seed a new one."""
    if reuse and backend.record_path.exists():
        record = json.loads(backend.record_path.read_text())
        if record["reports"] == reports:
            # The schema may have moved on: upgrade as an operator does (the command
            # also does what a revision leaves to it, such as MACs for existing roles).
            subprocess.run(
                [sys.executable, "-m", "reportline.cli", "db", "upgrade"],
                env={**os.environ, "REPORTLINE_INSTANCE": str(backend.folder)},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"Reusing {backend.folder} ({reports:,} reports, seeded {record['seeded_at']})")
            return record
        print(f"The kept database has {record['reports']:,} reports, not {reports:,}: reseeding")
    from bench.seed import seed_instance

    shutil.rmtree(backend.folder.parent, ignore_errors=True)
    backend.recreate_database()
    credentials = create_instance(backend.folder, backend.url)  # production Argon2 parameters
    print(f"Seeding {reports:,} reports into {backend.folder} ({backend.name})", flush=True)
    result = seed_instance(backend.folder, credentials, reports)
    record = {
        **asdict(result),
        # asdict would rebuild a Counter from its items, counting the pairs
        "statuses": dict(result.statuses),
        "facts": dict(result.facts),
        "seeded_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "revision": git_revision(),
        "backend": backend.name,
        "database_bytes": backend.database_bytes(),
    }
    backend.record_path.write_text(json.dumps(record, indent=2))
    print(
        f"Seeded in {result.seconds:.0f} s: {result.status_changes:,} status changes, "
        f"{result.messages:,} messages, {result.triage_records:,} triage record versions, "
        f"{result.notes:,} notes, {result.audit_entries:,} audit entries"
    )
    return record


def sign_in(browser: Browser, credentials: Credentials, attempts: int = 3) -> None:
    """Sign in through the login form; wait for a fresh TOTP step if a code was used."""
    totp = pyotp.TOTP(credentials.totp_seed)
    for _ in range(attempts):
        page = browser.get("/triage/login")
        answer = browser.post(
            "/triage/login",
            {
                "csrf_token": csrf_token(page.body),
                "email": credentials.email,
                "password": credentials.password,
                "code": totp.now(),
            },
        )
        if answer.status == 303 and "rl_officer" in browser.cookies:
            return
        # A code is accepted once: this step's code may have been used by the last run.
        time.sleep(30 - time.time() % 30 + 1)
    raise RuntimeError(f"could not sign in (last answer {answer.status})")


def queue_views(reports: int) -> dict[str, str]:
    """Queue view name -> URL: every view issue 11 lists."""
    deep = max(1, math.ceil(reports / PAGE_SIZE) // 2)
    return {
        "queue: default (open)": "/triage/",
        "queue: status=all": "/triage/?status=all",
        f"queue: status=all, page {deep:,}": f"/triage/?status=all&page={deep}",
        "queue: assignee=mine": "/triage/?assignee=mine",
        "queue: assignee=unassigned": "/triage/?assignee=unassigned",
        "queue: due=overdue": "/triage/?due=overdue",
        "queue: sort=due": "/triage/?sort=due",
        "queue: sort=priority": "/triage/?sort=priority",
        "queue: priority=high": "/triage/?priority=high",
        "queue: category": "/triage/?category=" + category_code(CATEGORY),
        "queue: flag": f"/triage/?flag={FLAG}",
        "queue: replies=unread": "/triage/?replies=unread",
    }


def category_code(name: str) -> str:
    """How the queue's URL names a national category: the app's `category_code` (in
    `reportline.services.queue_filters`), or the name itself on a revision without it."""
    import importlib
    from urllib.parse import quote

    for module in ("reportline.services.queue_filters", "reportline.services.queue"):
        try:
            coder = getattr(importlib.import_module(module), "category_code", None)
        except ImportError:
            continue
        if coder is not None:
            return str(coder(name))
    return quote(name)


def pages_to_measure(record: dict[str, Any], backend: Backend) -> dict[str, list[str]]:
    """Page name -> the URLs to cycle through."""
    return {
        "baseline: stylesheet": ["/static/css/reportline.css"],
        "baseline: landing page": ["/"],
        **{name: [url] for name, url in queue_views(record["reports"]).items()},
        "case: open, record, notes, messages": [
            f"/triage/cases/{ref}" for ref in record["busy_cases"][:20]
        ],
        "case: closed, with outcome": [
            f"/triage/cases/{ref}" for ref in record["closed_cases"][:20]
        ],
    }


def check(name: str, url: str, status: int, body: str) -> None:
    """Fail loudly if a page did not come back as it should."""
    if status != 200:
        raise RuntimeError(f"{name}: {url} answered {status}")
    if name.startswith("case") and url.rsplit("/", 1)[1] not in body:
        raise RuntimeError(f"{name}: {url} does not show the case")
    if name.startswith(("queue", "case")) and (
        "Failed its integrity check" in body or 'notification--error" role="alert"' in body
    ):
        raise RuntimeError(f"{name}: {url} shows an integrity warning: the seed is wrong")


def survey(browser: Browser, pages: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Each page's status and the cases its first URL lists; views the app refuses are
    left out of the timed rounds."""
    found: dict[str, dict[str, Any]] = {}
    default_rows: list[str] = []
    for name, urls in pages.items():
        response = browser.get(urls[0])
        rows = REFERENCE.findall(response.body) if name.startswith("queue") else []
        found[name] = {"status": response.status, "rows": len(dict.fromkeys(rows))}
        if response.status == 200:
            check(name, urls[0], response.status, response.body)
        if name == "queue: default (open)":
            default_rows = rows
        elif rows == default_rows and FILTER.search(urls[0]):
            found[name]["note"] = "same rows as default"
    return found


def measure(record: dict[str, Any], args: argparse.Namespace, backend: Backend) -> dict[str, Any]:
    """Serve the instance, sign in and time every page, interleaved; return the summaries.

    With --what-if a second server runs the same instance with the simulated
    change, and each page is requested from both in turn.
    """
    credentials = load_credentials(backend.folder)
    variants = {"reportline": []}
    if args.what_if:
        variants["reportline+" + "+".join(args.what_if)] = [
            arg for name in args.what_if for arg in ("--what-if", name)
        ]
    pages = pages_to_measure(record, backend)
    servers: dict[str, ServerProcess] = {}
    browsers: dict[str, Browser] = {}
    surveyed: dict[str, dict[str, Any]] = {}
    try:
        for variant, extra in variants.items():
            servers[variant] = ServerProcess(
                f"officer-pages-{backend.name}-{variant.replace('+', '-')}",
                [
                    "--app",
                    "reportline",
                    "--instance",
                    str(backend.folder),
                    "--threads",
                    str(args.threads),
                    *extra,
                ],
            )
            browsers[variant] = Browser(servers[variant].port)
            sign_in(browsers[variant], credentials)
        for browser in browsers.values():  # warm-up: caches, connections, first-use imports
            surveyed = survey(browser, pages)
            for name, urls in pages.items():
                if surveyed[name]["status"] == 200:
                    for url in urls[:3]:
                        browser.get(url)
        timed = {name: urls for name, urls in pages.items() if surveyed[name]["status"] == 200}
        samples = {variant: {name: [] for name in timed} for variant in variants}
        cursor = dict.fromkeys(timed, 0)
        for number in range(args.rounds * args.requests):
            if number % args.requests == 0:
                print(f"  round {number // args.requests + 1} of {args.rounds}", flush=True)
            for name, urls in timed.items():
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
                **surveyed[name],
                **(
                    {
                        "requests": len(by_page[name]),
                        "median_ms": median(by_page[name]),
                        "p95_ms": percentile(by_page[name], 95),
                        "min_ms": min(by_page[name]),
                        "max_ms": max(by_page[name]),
                    }
                    if name in by_page
                    else {}
                ),
            }
            for name in pages
        }
        for variant, by_page in samples.items()
    }


def profile_pages(record: dict[str, Any], count: int, backend: Backend) -> dict[str, Any]:
    """In-process breakdown of each officer page (categories, functions, queries)."""
    from bench.profiling import RequestProfiler, print_summary
    from reportline import create_app

    os.environ["REPORTLINE_INSTANCE"] = str(backend.folder)
    app = create_app()
    # The officer access log still gets written (it is part of a request's cost), to nowhere.
    for handler in app.logger.handlers:
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    # Functions that have moved between modules are listed under each name; missing ones
    # are skipped.
    profiler = RequestProfiler(
        app.extensions["reportline.engine"],
        [
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
        ],
    )
    client = app.test_client()
    credentials = load_credentials(backend.folder)
    totp = pyotp.TOTP(credentials.totp_seed)
    for _ in range(3):
        page = client.get("/triage/login").get_data(as_text=True)
        answer = client.post(
            "/triage/login",
            data={
                "csrf_token": csrf_token(page),
                "email": credentials.email,
                "password": credentials.password,
                "code": totp.now(),
            },
        )
        if answer.status_code == 303:
            break
        time.sleep(30 - time.time() % 30 + 1)
    else:
        raise RuntimeError("could not sign in in-process")
    pages = {
        name: urls
        for name, urls in pages_to_measure(record, backend).items()
        if client.get(urls[0]).status_code == 200
    }  # views the app understands
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
        f"EXPLAIN QUERY PLAN SELECT * FROM cases {order} LIMIT 50 OFFSET 1000"
    ).fetchall()

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
        ids_ms, ids = timed(
            f"SELECT id, received_on FROM cases {order} LIMIT 50 OFFSET ?", (offset,)
        )
        marks = ",".join("?" * len(ids))
        fetch_ms, _ = timed(
            f"SELECT * FROM cases WHERE id IN ({marks})", tuple(row[0] for row in ids)
        )
        keyset_ms = float("nan")
        if offset:
            key = database.execute(
                f"SELECT received_on, id FROM cases {order} LIMIT 1 OFFSET ?", (offset - 1,)
            ).fetchone()
            keyset_ms, _ = timed(
                f"SELECT * FROM cases WHERE (received_on, id) < (?, ?) {order} LIMIT 50", key
            )
        count_ms, _ = timed("SELECT count(*) FROM cases")
        results["depths"][offset] = {
            "as_issued_ms": issued,
            "ids_first_ms": ids_ms + fetch_ms,
            "keyset_ms": keyset_ms,
            "count_all_ms": count_ms,
        }
    database.close()
    print(
        "\nQueue page query on the SQLite file (median of "
        f"{repeats}; plan: {'; '.join(results['plan'])})"
    )
    print_table(
        ["OFFSET", "as issued ms", "ids first ms", "keyset ms", "count(*) ms"],
        [
            [offset, d["as_issued_ms"], d["ids_first_ms"], d["keyset_ms"], d["count_all_ms"]]
            for offset, d in results["depths"].items()
        ],
    )
    return results


def main() -> None:
    """Seed or reuse, measure, print and save the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse bench/results/officer-pages if it has --reports reports",
    )
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"PostgreSQL: the database {POSTGRES_DATABASE} at 127.0.0.1:5432 "
        "(dropped and made again when seeding)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20, help="per page per round")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument("--profile", action="store_true", help="also profile in-process")
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="skip the measurement under waitress (with --profile)",
    )
    parser.add_argument("--profile-count", type=int, default=40)
    parser.add_argument(
        "--what-if",
        action="append",
        default=[],
        choices=sorted(EXPERIMENTS),
        help="also measure with a simulated optimisation (bench/whatif.py)",
    )
    args = parser.parse_args()

    backend = Backend(args.postgres)
    record = ensure_database(args.reports, args.reuse, backend)
    if args.seed_only:
        return
    results: dict[str, Any] = {
        "benchmark": "officer_pages",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": vars(args),
        "backend": backend.name,
        "database": {k: v for k, v in record.items() if k not in ("busy_cases", "closed_cases")},
        "load_average_before": os.getloadavg(),
        "pages": {} if args.no_serve else measure(record, args, backend),
        "load_average_after": os.getloadavg(),
    }
    if args.profile:
        results["profile"] = profile_pages(record, args.profile_count, backend)
        if backend.url is None:
            results["pagination_queries"] = pagination_queries(record["reports"])
    print(
        f"\nOfficer pages with {record['reports']:,} reports on {backend.name}, one signed-in "
        f"officer (target: median <= {TARGET_MEDIAN_MS} ms, p95 <= {TARGET_P95_MS} ms)"
    )
    rows = []
    for variant, by_page in results["pages"].items():
        for name, data in by_page.items():
            if "median_ms" not in data:
                rows.append([name, variant, f"answered {data['status']}", "", "", "", ""])
                continue
            met = (
                ""
                if name.startswith("baseline")
                else (
                    "yes"
                    if data["median_ms"] <= TARGET_MEDIAN_MS and data["p95_ms"] <= TARGET_P95_MS
                    else "NO"
                )
            )
            rows.append(
                [
                    name,
                    variant,
                    data.get("rows", ""),
                    data["median_ms"],
                    data["p95_ms"],
                    met,
                    data.get("note", ""),
                ]
            )
    print_table(["page", "app", "rows", "median ms", "p95 ms", "target met", "note"], rows)
    path = write_results(f"officer-pages-{backend.name}", results)
    print(f"\nResults: {path}")


if __name__ == "__main__":
    main()
