"""Reporters and officers together: do officers' pages slow submissions down?

    python -m bench.mixed_load                     # SQLite, a copy of the 100,000-report database
    python -m bench.mixed_load --postgres          # PostgreSQL (a copy of reportline_bench)
    python -m bench.mixed_load --pairs 6 --seconds 20 --reporters 8 --officers 5 --every 2
    python -m bench.mixed_load --skip category= --skip flag=   # without those views

One server (`python -m bench.server`, as `reportline serve` runs it) on a copy
of the database bench.officer_pages seeded (seeded first if there is none),
with the throughput settings of bench.submission (a form may be sent at once,
the flood rate is out of reach). Eight reporter clients submit as fast as
they can, each through the form with its CSRF token and one-time value
(bench.submission.submit), for a fixed time: once alone, once while five
officers, each signed in as a different officer from their own address, each
open a page every two seconds (the queue's views and case pages in turn, the
views the app does not understand left out). The two conditions alternate
for --pairs pairs (which goes first alternates too); the result is the median
of the per-pair ratios of submissions/s with officers to without (issue 11's
target: at least 0.90), with officers' page latency under that load, and the
server CPU an officer page took (what the rounds with officers used beyond
their submissions, at the alone rounds' CPU per submission).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import threading
import time
from contextlib import ExitStack
from pathlib import Path
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
from bench.instance import POSTGRES_ADMIN_URL, THROUGHPUT_SETTINGS, _toml, load_credentials
from bench.officer_pages import Backend, ensure_database, pages_to_measure
from bench.seed import officer_logins
from bench.submission import realistic_report, submit
from reportline.config import CONFIG_FILE_NAME

TARGET_RATIO = 0.90
WORK = RESULTS / "mixed-load"
COPY_DATABASE = "reportline_bench_mixed"


def copy_instance(backend: Backend) -> str:
    """A scratch copy of the seeded instance (its database too) in WORK; its folder."""
    shutil.rmtree(WORK, ignore_errors=True)
    folder = WORK / "instance"
    shutil.copytree(backend.folder, folder)  # SQLite: the database file comes along
    config = (folder / CONFIG_FILE_NAME).read_text(encoding="utf-8")
    if backend.url is not None:
        admin = create_engine(
            make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{COPY_DATABASE}" WITH (FORCE)'))
            connection.execute(
                text(
                    f'CREATE DATABASE "{COPY_DATABASE}" TEMPLATE "{make_url(backend.url).database}"'
                )
            )
        admin.dispose()
        copy_url = (
            make_url(backend.url).set(database=COPY_DATABASE).render_as_string(hide_password=False)
        )
        config = config.replace(f'"{backend.url}"', f'"{copy_url}"')
    config += "".join(f"{key} = {_toml(value)}\n" for key, value in THROUGHPUT_SETTINGS.items())
    (folder / CONFIG_FILE_NAME).write_text(config, encoding="utf-8")
    return str(folder)


def drop_copy(backend: Backend) -> None:
    """Drop the PostgreSQL copy (the SQLite one is in WORK, left for inspection)."""
    if backend.url is None:
        return
    admin = create_engine(
        make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{COPY_DATABASE}" WITH (FORCE)'))
    admin.dispose()


def sign_in_officers(port: int, folder: str, count: int) -> list[Browser]:
    """`count` browsers, each signed in as a different officer from its own address."""
    supervisor = load_credentials(Path(folder))
    logins = [
        (supervisor.email, supervisor.password, supervisor.totp_seed),
        *officer_logins(Path(folder)),
    ][:count]
    browsers = []
    for number, (email, password, seed) in enumerate(logins):
        browser = Browser(port, source_address=f"127.0.0.{20 + number}")
        for _ in range(3):
            page = browser.get("/triage/login")
            answer = browser.post(
                "/triage/login",
                {
                    "csrf_token": csrf_token(page.body),
                    "email": email,
                    "password": password,
                    "code": pyotp.TOTP(seed).now(),
                },
            )
            if answer.status == 303 and "rl_officer" in browser.cookies:
                break
            time.sleep(30 - time.time() % 30 + 1)  # the code of this step was used already
        else:
            raise RuntimeError(f"{email} could not sign in (last answer {answer.status})")
        browsers.append(browser)
    return browsers


def officer_urls(
    browser: Browser, record: dict[str, Any], backend: Backend, skip: list[str]
) -> list[str]:
    """Every queue view and case page the app answers, one URL each (cases: several), but
    those whose URL holds one of `skip`."""
    urls = []
    for name, candidates in pages_to_measure(record, backend).items():
        if name.startswith("baseline") or any(part in candidates[0] for part in skip):
            continue
        if browser.get(candidates[0]).status == 200:
            urls += candidates[:4] if name.startswith("case") else candidates[:1]
    return urls


def run_round(
    server: ServerProcess,
    seconds: float,
    reporters: int,
    officers: list[Browser],
    urls: list[str],
    every: float,
) -> dict[str, Any]:
    """Reporters submit for `seconds`; the officers (none for the alone condition) each open a
    page every `every` seconds meanwhile. Returns what both achieved."""
    state: dict[str, float] = {}
    done: list[list[float]] = [[] for _ in range(reporters)]
    pages: list[tuple[float, int]] = []
    errors: list[str] = []
    barrier = threading.Barrier(
        reporters + len(officers) + 1,
        action=lambda: state.update(start=time.perf_counter(), cpu=server.cpu_seconds()),
    )

    def reporter(index: int) -> None:
        rng = random.Random(index * 7919 + int(time.time()))
        browser = Browser(server.port)
        try:
            submit(browser, "reportline", realistic_report(rng))  # cookie and connection
        except Exception as exc:
            errors.append(f"warm-up: {exc!r}")
        barrier.wait()
        deadline = state["start"] + seconds
        while True:
            answers = realistic_report(rng)
            started = time.perf_counter()
            try:
                submit(browser, "reportline", answers)
            except Exception as exc:
                errors.append(repr(exc))
                browser.close()
                continue
            finished = time.perf_counter()
            if finished > deadline:
                break
            done[index].append(finished - started)
        browser.close()

    def officer(index: int, browser: Browser) -> None:
        rng = random.Random(index)
        barrier.wait()
        deadline = state["start"] + seconds
        # Staggered: officer i opens a page at i/n of each interval.
        moment = state["start"] + every * index / max(1, len(officers))
        while moment < deadline:
            time.sleep(max(0.0, moment - time.perf_counter()))
            response = browser.get(rng.choice(urls))
            if response.status != 200:
                errors.append(f"officer page answered {response.status}")
            pages.append((response.seconds, response.status))
            moment += every

    threads = [threading.Thread(target=reporter, args=(i,), daemon=True) for i in range(reporters)]
    threads += [
        threading.Thread(target=officer, args=(i, b), daemon=True) for i, b in enumerate(officers)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(max(0.0, state["start"] + seconds - time.perf_counter()))
    cpu = server.cpu_seconds() - state["cpu"]
    for thread in threads:
        thread.join()
    latencies = [x for per_client in done for x in per_client]
    page_times = [seconds_ for seconds_, _ in pages]
    return {
        "officers": len(officers),
        "submissions": len(latencies),
        "per_second": len(latencies) / seconds,
        "submission_ms_median": median(latencies) * 1000,
        "submission_ms_p95": percentile(latencies, 95) * 1000,
        "officer_pages": len(pages),
        "officer_page_ms_median": median(page_times) * 1000,
        "officer_page_ms_p95": percentile(page_times, 95) * 1000,
        "server_cpu_utilisation": cpu / seconds,
        "server_cpu_seconds": cpu,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "load_average_1min_after": os.getloadavg()[0],
    }


def measure(args: argparse.Namespace, backend: Backend, record: dict[str, Any]) -> dict[str, Any]:
    """Alternate the two conditions for --pairs pairs on one server; return every round."""
    rounds: dict[str, list[dict[str, Any]]] = {"alone": [], "with officers": []}
    with ExitStack() as stack:
        folder = copy_instance(backend)
        stack.callback(drop_copy, backend)
        server = ServerProcess(
            f"mixed-load-{backend.name}",
            ["--app", "reportline", "--instance", folder, "--threads", str(args.threads),
             "--processes", str(args.processes)],
        )
        stack.callback(server.stop)
        officers = sign_in_officers(server.port, folder, args.officers)
        for browser in officers:
            stack.callback(browser.close)
        urls = officer_urls(officers[0], record, backend, args.skip)
        print(f"[{backend.name}] officers open {len(urls)} pages in turn", flush=True)
        for label, crowd in (("alone", []), ("with officers", officers)):
            warm = run_round(server, args.warmup, args.reporters, crowd, urls, args.every)
            print(f"[{backend.name}] warm-up {label}: {warm['per_second']:.1f}/s", flush=True)
        for number in range(args.pairs):
            order = [("alone", []), ("with officers", officers)]
            if number % 2:
                order.reverse()
            for label, crowd in order:
                result = run_round(server, args.seconds, args.reporters, crowd, urls, args.every)
                rounds[label].append(result)
                print(
                    f"[{backend.name}] pair {number + 1} {label:14s} "
                    f"{result['per_second']:6.1f} submissions/s (median "
                    f"{result['submission_ms_median']:.0f} ms, p95 "
                    f"{result['submission_ms_p95']:.0f} ms); officer pages "
                    f"{result['officer_pages']} median {result['officer_page_ms_median']:.0f}"
                    f" ms p95 {result['officer_page_ms_p95']:.0f} ms; server CPU "
                    f"{result['server_cpu_utilisation']:.2f}; errors {result['errors']}",
                    flush=True,
                )
    alone = [r["per_second"] for r in rounds["alone"]]
    mixed = [r["per_second"] for r in rounds["with officers"]]
    ratios = [m / a for m, a in zip(mixed, alone, strict=True)]
    # The server's CPU a submission costs alone; what is left over with officers is theirs.
    per_submission = median(
        [r["server_cpu_seconds"] / max(1, r["submissions"]) for r in rounds["alone"]]
    )
    per_page = [
        (r["server_cpu_seconds"] - r["submissions"] * per_submission) / max(1, r["officer_pages"])
        for r in rounds["with officers"]
    ]
    return {
        "rounds": rounds,
        "officer_urls": urls,
        "alone_per_second_median": median(alone),
        "with_officers_per_second_median": median(mixed),
        "ratio_per_pair": ratios,
        "ratio_median_of_pairs": median(ratios),
        "ratio_of_medians": median(mixed) / median(alone),
        "officer_page_ms_median": median(
            [r["officer_page_ms_median"] for r in rounds["with officers"]]
        ),
        "officer_page_ms_p95": median([r["officer_page_ms_p95"] for r in rounds["with officers"]]),
        "server_cpu_ms_per_submission_alone": per_submission * 1000,
        "server_cpu_ms_per_officer_page": median(per_page) * 1000,
        "errors": sum(r["errors"] for group in rounds.values() for r in group),
    }


def main() -> None:
    """Parse arguments, measure, print the summary and save the results as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--reports",
        type=int,
        default=100_000,
        help="size of the seeded database (bench.officer_pages's)",
    )
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each round")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--reporters", type=int, default=8)
    parser.add_argument("--officers", type=int, default=5)
    parser.add_argument(
        "--every", type=float, default=2.0, help="seconds between one officer's pages"
    )
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument("--processes", type=int, default=1,
                        help="worker processes (as serve --processes)")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="TEXT",
        help="leave out the officer pages whose URL holds TEXT (e.g. category=)",
    )
    args = parser.parse_args()

    backend = Backend(args.postgres)
    record = ensure_database(args.reports, True, backend)
    summary = measure(args, backend, record)
    results = {
        "benchmark": "mixed_load",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": vars(args),
        "backend": backend.name,
        "database": {k: v for k, v in record.items() if k not in ("busy_cases", "closed_cases")},
        **summary,
    }
    print(
        f"\nSubmissions/s with {args.officers} officers each opening a page every "
        f"{args.every:g} s, against alone ({backend.name}, {record['reports']:,} cases; "
        f"target >= {TARGET_RATIO:.2f})"
    )
    print_table(
        ["condition", "submissions/s", "submission p95 ms", "officer page ms", "officer p95 ms"],
        [
            [
                label,
                median([r["per_second"] for r in group]),
                median([r["submission_ms_p95"] for r in group]),
                median([r["officer_page_ms_median"] for r in group]) if label != "alone" else "",
                median([r["officer_page_ms_p95"] for r in group]) if label != "alone" else "",
            ]
            for label, group in summary["rounds"].items()
        ],
    )
    print(
        f"ratio (median of pairs) {summary['ratio_median_of_pairs']:.3f}; per pair "
        + ", ".join(f"{r:.3f}" for r in summary["ratio_per_pair"])
        + f"; target met: {'yes' if summary['ratio_median_of_pairs'] >= TARGET_RATIO else 'NO'}"
    )
    print(
        f"server CPU: {summary['server_cpu_ms_per_submission_alone']:.1f} ms per submission "
        f"alone; about {summary['server_cpu_ms_per_officer_page']:.0f} ms per officer page "
        "(what the rounds with officers used beyond their submissions)"
    )
    path = write_results(f"mixed-load-{backend.name}", results)
    print(f"\nResults: {path}")


if __name__ == "__main__":
    main()
