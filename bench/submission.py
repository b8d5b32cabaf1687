"""Reporter submissions per second: ReportLine against a bare Flask app, both under waitress.

    python -m bench.submission                    # SQLite, 5 interleaved rounds of 10 s
    python -m bench.submission --postgres         # also on PostgreSQL (scratch databases)
    python -m bench.submission --profile          # also: where a submission's time goes
    python -m bench.submission --what-if form-cache   # also: ReportLine with a simulated change

One submission = GET the form, POST it back with the CSRF token (and
ReportLine's one-time `submission` field) and realistic answers, and check the
receipt page (ten words in the element with id="receipt"). Each app runs in
its own `python -m bench.server` process with the same waitress settings; the
load comes from this process: --clients threads, each one browser (its own
keep-alive connection and cookie jar). Rounds alternate bare, ReportLine,
bare, ReportLine, ...; the result is the median of each app's rounds and the
ratio ReportLine / bare (target: at least 0.80). ReportLine's instance lets a
form be sent at once and never reaches the flood rate (bench.instance's
THROUGHPUT_SETTINGS): a throughput run is a flood by design, measured by
bench.flood. With --what-if, another server
runs ReportLine with a simulated optimisation (bench/whatif.py) in the same
rounds; given more than once, one server per cumulative step (A, A+B, ...).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    SUBMISSION_FIELD,
    VOCABULARY,
    Browser,
    ServerProcess,
    csrf_token,
    git_revision,
    machine_info,
    median,
    percentile,
    print_table,
    receipt_words,
    write_results,
)
from bench.instance import FAST_ARGON2, THROUGHPUT_SETTINGS, create_instance, scratch_postgres
from bench.whatif import EXPERIMENTS

TARGET_RATIO = 0.80
WORK = RESULTS / "submission-work"


class SubmissionFailed(Exception):
    """A submission did not end with a ten-word receipt."""


def realistic_report(rng: random.Random) -> dict[str, str]:
    """Answers of the sizes a real report has: a long account, short details."""

    def words(low: int, high: int) -> str:
        text = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(low, high)))
        return text[:1].upper() + text[1:] + "."

    return {
        "category": rng.choice(
            ["discrimination", "bullying", "corruption", "dishonesty", "sexual_misconduct", "other"]
        ),
        "what_happened": "\n\n".join(words(40, 90) for _ in range(rng.randint(2, 5))),
        "when": rng.choice(["Last Tuesday night", "Since March", "14 October, about 2am"]),
        "where": rng.choice(["Central custody suite", "B shift group chat", "Northgate station"]),
        "who_involved": words(10, 35),
        "how_known": rng.choice(["saw_or_heard", "told", "documents"]),
        "how_known_detail": words(5, 30),
        "at_risk": rng.choice(["no", "not_sure", "no", "yes"]),
        "at_risk_detail": rng.choice(["", "", words(5, 20)]),
    }


EVIDENCE_TEXT_PARTS = ("description",)
# Set by --no-javascript: send the report form as a browser without JavaScript does.
MULTIPART = [False]


def submit(browser: Browser, kind: str, answers: dict[str, str]) -> None:
    """One submission: GET the form, POST it, check the receipt. Raise SubmissionFailed."""
    page = browser.get("/report")
    if page.status != 200:
        raise SubmissionFailed(f"GET /report answered {page.status}")
    form = {**answers, "csrf_token": csrf_token(page.body)}
    files: list[str] = []
    if kind.startswith("reportline"):
        match = SUBMISSION_FIELD.search(page.body)
        if not match:
            raise SubmissionFailed("no submission field on the form")
        form["submission"] = match.group(1)
        # The form takes files. With JavaScript (static/js/evidence.js), a form with no
        # file in its body goes url-encoded; without, as multipart, file inputs empty.
        for slot in range(3):
            form.update({f"evidence-{slot}-{part}": "" for part in EVIDENCE_TEXT_PARTS})
            if MULTIPART[0]:
                files.append(f"evidence-{slot}-file")
    sent = browser.post("/report", form, files)
    if sent.status != 200:
        raise SubmissionFailed(f"POST /report answered {sent.status}")
    if len(receipt_words(sent.body)) != 10:
        raise SubmissionFailed("the receipt page has no ten-word receipt")


def run_round(server: ServerProcess, kind: str, seconds: float, clients: int) -> dict[str, Any]:
    """Drive `clients` browsers against a server for `seconds`; return what they achieved."""
    state: dict[str, float] = {}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(
        clients + 1,
        action=lambda: state.update(
            start=time.perf_counter(),
            server_cpu=server.cpu_seconds(),
            client_cpu=time.process_time(),
        ),
    )

    def client(index: int) -> None:
        rng = random.Random(index * 7919 + int(time.time()))
        browser = Browser(server.port)
        try:
            submit(browser, kind, realistic_report(rng))  # session cookie and connection
        except Exception as exc:
            errors.append(f"warm-up: {exc!r}")
        barrier.wait()
        deadline = state["start"] + seconds
        while True:
            answers = realistic_report(rng)
            started = time.perf_counter()
            try:
                submit(browser, kind, answers)
            except Exception as exc:
                errors.append(repr(exc))
                browser.close()
                continue
            finished = time.perf_counter()
            if finished > deadline:
                break
            latencies[index].append(finished - started)
        browser.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(max(0.0, state["start"] + seconds - time.perf_counter()))
    server_cpu = server.cpu_seconds() - state["server_cpu"]
    client_cpu = time.process_time() - state["client_cpu"]
    for thread in threads:
        thread.join()
    done = [x for per_client in latencies for x in per_client]
    return {
        "submissions": len(done),
        "per_second": len(done) / seconds,
        "latency_ms_median": median(done) * 1000,
        "latency_ms_p95": percentile(done, 95) * 1000,
        "server_cpu_ms_per_submission": server_cpu * 1000 / max(1, len(done)),
        "server_cpu_utilisation": server_cpu / seconds,
        "client_cpu_utilisation": client_cpu / seconds,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "load_average_1min_after": os.getloadavg()[0],
    }


def start_servers(
    backend: str, threads: int, what_if: list[str], stack: ExitStack
) -> dict[str, ServerProcess]:
    """Set up the apps' databases on `backend` and start one server process for each."""
    rl_folder = WORK / backend / "reportline-instance"
    if backend == "postgresql":
        rl_url = stack.enter_context(scratch_postgres("reportline_bench"))
        bare_url = stack.enter_context(scratch_postgres("bare_bench"))
    else:
        rl_url = None
        bare_url = f"sqlite:///{WORK / backend / 'bare.sqlite3'}"
    create_instance(rl_folder, rl_url, FAST_ARGON2, THROUGHPUT_SETTINGS)
    variants = {
        "bare": ["--app", "bare", "--database-url", bare_url],
        "reportline": ["--app", "reportline", "--instance", str(rl_folder)],
    }
    for count in range(1, len(what_if) + 1):  # cumulative: A, A+B, A+B+C ...
        variants["reportline+" + "+".join(what_if[:count])] = [
            "--app",
            "reportline",
            "--instance",
            str(rl_folder),
            *[arg for name in what_if[:count] for arg in ("--what-if", name)],
        ]
    servers = {}
    for kind, args in variants.items():
        label = f"submission-{backend}-{kind.replace('+', '-')}"
        server = ServerProcess(label, [*args, "--threads", str(threads)])
        stack.callback(server.stop)
        servers[kind] = server
    return servers


def measure_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Warm both apps up, then run interleaved rounds; return every round and the medians."""
    with ExitStack() as stack:
        servers = start_servers(backend, args.threads, args.what_if, stack)
        for kind, server in servers.items():
            warm = run_round(server, kind, args.warmup, args.clients)
            print(
                f"[{backend}] warm-up {kind}: {warm['per_second']:.1f}/s, {warm['errors']} errors",
                flush=True,
            )
        rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in servers}
        for number in range(1, args.rounds + 1):
            for kind in servers:
                result = run_round(servers[kind], kind, args.seconds, args.clients)
                rounds[kind].append(result)
                print(
                    f"[{backend}] round {number} {kind[:40]:40s} {result['per_second']:7.1f} "
                    f"submissions/s  latency median {result['latency_ms_median']:.1f} ms "
                    f"p95 {result['latency_ms_p95']:.1f} ms  server CPU "
                    f"{result['server_cpu_ms_per_submission']:.2f} ms/submission  "
                    f"errors {result['errors']}",
                    flush=True,
                )
    bare = [r["per_second"] for r in rounds["bare"]]
    bare_cpu = median([r["server_cpu_ms_per_submission"] for r in rounds["bare"]])
    summary: dict[str, Any] = {"rounds": rounds, "apps": {}}
    for kind, results in rounds.items():
        rates = [r["per_second"] for r in results]
        pair_ratios = [ours / theirs for ours, theirs in zip(rates, bare, strict=True)]
        summary["apps"][kind] = {
            "per_second_median": median(rates),
            "ratio_to_bare": median(rates) / median(bare),
            "ratio_per_round": pair_ratios,
            "ratio_median_of_rounds": median(pair_ratios),
            "latency_ms_median": median([r["latency_ms_median"] for r in results]),
            "latency_ms_p95": median([r["latency_ms_p95"] for r in results]),
            "server_cpu_ms_per_submission": median(
                [r["server_cpu_ms_per_submission"] for r in results]
            ),
            # The server is CPU-bound (one process, one GIL), so bare CPU / app CPU is the
            # throughput ratio the app would reach on a quiet machine; noise moves it less.
            "cpu_ratio": bare_cpu / median([r["server_cpu_ms_per_submission"] for r in results]),
            "errors": sum(r["errors"] for r in results),
        }
    summary["errors"] = sum(app["errors"] for app in summary["apps"].values())
    return summary


def profile_submissions(count: int) -> dict[str, Any]:
    """In-process breakdown of ReportLine's and the bare app's submission requests."""
    from bench.bare_app import create_bare_app
    from reportline import create_app

    folder = WORK / "profile" / "reportline-instance"
    create_instance(folder, None, FAST_ARGON2, THROUGHPUT_SETTINGS)
    os.environ["REPORTLINE_INSTANCE"] = str(folder)
    rl_app = create_app()
    bare_app = create_bare_app(f"sqlite:///{WORK / 'profile' / 'bare.sqlite3'}")
    # Renamed functions are listed under each name; missing ones are skipped.
    probes = [
        ("reportline.services.submissions", "submit_report"),
        ("reportline.services.keyring", "active_unit_key"),
        ("reportline.services.keyring", "PinnedUnitKey.get"),
        ("reportline.services.submissions", "_unused_case_id"),
        ("reportline.crypto.receipt", "generate_receipt"),
        ("reportline.services.cases", "CaseSecret.private_key"),
        ("reportline.crypto.keys", "PrivateKey.public_key"),
        ("reportline.crypto.receipt", "Receipt.reporter_private_key"),
        ("reportline.services.cases", "seal_report"),
        ("reportline.services.cases", "bind_case_key"),
        ("reportline.services.cases", "bind_case"),
        ("reportline.crypto.keys", "seal"),
        ("reportline.crypto.receipt", "Receipt.lookup_hmac"),
    ]
    summaries = {
        "reportline": _profile_app("reportline", rl_app, probes, count),
        "bare": _profile_app("bare", bare_app, [], count),
    }
    return summaries


def _profile_app(kind: str, app: Any, probes: list[tuple[str, str]], count: int) -> dict:
    from bench.profiling import RequestProfiler, print_summary

    engine = app.extensions.get("reportline.engine") or app.extensions["bench.engine"]
    profiler = RequestProfiler(engine, probes)
    client = app.test_client()
    rng = random.Random(1)

    def one() -> None:
        page = profiler.request("GET /report", lambda: client.get("/report"))
        html = page.get_data(as_text=True)
        form = {**realistic_report(rng), "csrf_token": csrf_token(html)}
        if kind == "reportline":
            match = SUBMISSION_FIELD.search(html)
            form["submission"] = match.group(1) if match else ""
        sent = profiler.request("POST /report", lambda: client.post("/report", data=form))
        if len(receipt_words(sent.get_data(as_text=True))) != 10:
            raise SubmissionFailed(f"{kind}: no receipt")

    for _ in range(30):
        one()
    profiler.reset()
    for _ in range(count):
        one()
    profiler.run_profiled(lambda: [one() for _ in range(max(20, count // 3))])
    summary = profiler.summary()
    print(f"\n######## {kind}: in-process profile of one submission (GET + POST)")
    print_summary(summary)
    engine.dispose()
    return summary


def main() -> None:
    """Parse arguments, measure, print the summary and save the results as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per app")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each round")
    parser.add_argument("--warmup", type=float, default=3.0, help="unrecorded first round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent browsers")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (as serve)")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also measure on PostgreSQL at 127.0.0.1:5432 (scratch databases)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite measurement")
    parser.add_argument(
        "--no-javascript",
        action="store_true",
        help="post the report form as multipart, as a browser without JavaScript does",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one submission in-process (categories, queries)",
    )
    parser.add_argument("--profile-count", type=int, default=300)
    parser.add_argument(
        "--what-if",
        action="append",
        default=[],
        choices=sorted(EXPERIMENTS),
        help="also measure ReportLine with a simulated optimisation "
        "(repeat for more, measured cumulatively)",
    )
    args = parser.parse_args()
    MULTIPART[0] = args.no_javascript

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    results: dict[str, Any] = {
        "benchmark": "submission",
        "revision": git_revision(),
        "machine": machine_info(),
        "settings": {k: v for k, v in vars(args).items()},
        "backends": {},
    }
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    for backend in backends:
        results["backends"][backend] = measure_backend(backend, args)
    if args.profile:
        results["profile"] = profile_submissions(args.profile_count)

    print(
        "\nSubmissions per second (median of rounds); ratio = app / bare "
        f"(target for ReportLine >= {TARGET_RATIO:.2f}); latency and server CPU per submission"
    )
    rows = []
    for backend, data in results["backends"].items():
        for kind, app in data["apps"].items():
            met = (
                "" if kind == "bare" else ("yes" if app["ratio_to_bare"] >= TARGET_RATIO else "NO")
            )
            rows.append(
                [
                    backend,
                    kind,
                    app["per_second_median"],
                    f"{app['ratio_to_bare']:.3f}",
                    f"{app['ratio_median_of_rounds']:.3f}",
                    app["latency_ms_median"],
                    app["latency_ms_p95"],
                    app["server_cpu_ms_per_submission"],
                    f"{app['cpu_ratio']:.3f}",
                    met,
                    app["errors"],
                ]
            )
    print_table(
        [
            "backend",
            "app",
            "per s",
            "ratio",
            "ratio (pairs)",
            "latency ms",
            "p95 ms",
            "CPU ms",
            "CPU ratio",
            "target met",
            "errors",
        ],
        rows,
    )
    path = write_results("submission", results)
    print(f"\nResults: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    if any(data["errors"] for data in results["backends"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
