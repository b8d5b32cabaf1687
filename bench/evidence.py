"""Evidence files: storing, downloading, cleaning and exporting them (issue 14).

    python -m bench.evidence                 # SQLite (the instance's own file)
    python -m bench.evidence --postgres      # PostgreSQL (a scratch database, dropped after)
    python -m bench.evidence --quick         # smaller files, fewer repeats: does it run?

1. Store: already-cleaned files of 1, 10 and 50 MiB (random bytes, as a cleaned
   video is: incompressible) through `evidence.store_cleaned` and a commit, on a
   `DatabaseChunkStore` over the instance's own engine (SQLite: WAL,
   synchronous=FULL). Beside it, in the same rounds, its two halves alone: sealing
   the chunks (and the SHA-256) with no database, and storing chunks sealed
   beforehand. Median of 5.
2. Download: a case sent through the submission service with a 50 MiB and a 200
   MiB file, served by `python -m bench.server` (waitress with
   `reportline.cli.waitress_options`, as `reportline serve`), fetched by the
   signed-in supervisor over HTTP, the body read as it streams. Median of 5, and
   the server's peak RSS above its RSS just before (VmHWM after `clear_refs`; RSS
   counts the shared memory a process maps). Beside it, in-process: the chunks read
   from the database alone, then read and opened (`evidence.read_part`).
3. Cleaning per type, each cleaning in a fresh child process
   (bench/evidence_cleaning.py): median time of 3, peak RSS growth, the memory
   files ffmpeg works on, and ffmpeg's own peak.
4. Export: a case with four 50 MiB files (200 MiB), POST .../export through the
   server, without and with a passphrase: time, MB/s, the server's peak RSS growth.

MB/s is 10^6 bytes a second (the issue's target: at least 100 MB/s each way).
The instance is made by `reportline init` (bench/instance.py) with a fast Argon2
cost and evidence limits raised so a 200 MiB file fits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    RESULTS,
    Browser,
    ServerProcess,
    csrf_token,
    git_revision,
    machine_info,
    median,
    print_table,
    write_results,
)
from bench.evidence_cleaning import SAMPLES, make_samples, reset_peak, status_kib
from bench.instance import FAST_ARGON2, Credentials, create_instance, database_url_for
from bench.officer_pages import sign_in
from reportline.cleaning import CleanedFile
from reportline.config import Settings
from reportline.services import cases, evidence, form_tickets, instance, keyring, submissions
from reportline.services.evidence_store import DatabaseChunkStore

MB = 1_000_000
MIB = 2**20
TARGET_MB_S = 100
WORK = RESULTS / "evidence-work"
PASSPHRASE = "a passphrase long enough for the bench"


@dataclass(frozen=True)
class Plan:
    """Sizes (MiB) and repeats of one run."""

    store_mib: tuple[int, ...] = (1, 10, 50)
    download_mib: tuple[int, ...] = (50, 200)
    export_files: int = 4
    export_mib: int = 50
    repeats: int = 5
    export_repeats: int = 3
    clean_repeats: int = 3


QUICK = Plan((1, 10), (10, 40), 4, 10, 2, 1, 1)


# ---------------------------------------------------------------- in-process pieces


def cleaned(data: bytes) -> CleanedFile:
    """An already-cleaned video: what store_cleaned is given after clean_file."""
    return CleanedFile(data=data, media_type="video/mp4", kind="video", extension="mp4", removed=())


def limits(settings: Settings) -> evidence.Limits:
    """The instance's evidence limits."""
    return evidence.Limits(
        settings.evidence_file_max_bytes,
        settings.evidence_report_max_bytes,
        settings.evidence_quota_bytes,
    )


def mb_s(size: int, seconds: float) -> float:
    """Throughput in MB/s (10^6 bytes)."""
    return size / seconds / MB


class Stopwatch:
    """Wall time and this process's CPU time of a `with` block."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def rates(size: int, times: list[tuple[float, float]]) -> dict[str, Any]:
    """Median wall MB/s, and MB per CPU second (steadier on a busy machine)."""
    wall, cpu = [t[0] for t in times], [t[1] for t in times]
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "median_seconds": median(wall),
        "mb_s": mb_s(size, median(wall)),
        "mb_per_cpu_s": mb_s(size, median(cpu)),
    }


def measure_store(settings: Settings, plan: Plan) -> dict[str, Any]:
    """Per size: store_cleaned + commit, sealing alone, storing sealed chunks alone."""
    results: dict[str, Any] = {}
    with instance.database_session(settings) as session:
        store = DatabaseChunkStore(session)
        for size_mib in plan.store_mib:
            data = os.urandom(size_mib * MIB)
            runs: dict[str, list[tuple[float, float]]] = {
                "store_cleaned": [],
                "seal_only": [],
                "insert_sealed": [],
            }
            for round_ in range(plan.repeats + 1):  # the first round warms up, unrecorded
                key, file_id = os.urandom(32), 1
                with Stopwatch() as seal:
                    sealed = list(evidence.seal_chunks(key, file_id, evidence.CONTENT, data))
                    hashlib.sha256(data).hexdigest()
                with Stopwatch() as insert:
                    store.put(file_id, evidence.CONTENT, sealed)
                    session.commit()
                store.discard([file_id])
                session.commit()
                del sealed
                with Stopwatch() as full:
                    prepared = evidence.store_cleaned(
                        store, cleaned(data), "f.mp4", "", limits(settings)
                    )
                    session.commit()
                store.discard([prepared.file_id])
                session.commit()
                for name, watch in (
                    ("store_cleaned", full),
                    ("seal_only", seal),
                    ("insert_sealed", insert),
                ):
                    if round_:
                        runs[name].append((watch.seconds, watch.cpu))
            results[f"{size_mib} MiB"] = {
                name: rates(len(data), times) for name, times in runs.items()
            }
            print(
                f"store {size_mib:3d} MiB: "
                + ", ".join(
                    f"{name} {row['mb_s']:.0f} MB/s"
                    for name, row in results[f"{size_mib} MiB"].items()
                ),
                flush=True,
            )
    return results


@dataclass(frozen=True)
class StoredCase:
    """A case made for the benchmark: its reference and its files as stored."""

    reference: str
    files: tuple[evidence.PreparedFile, ...]


def make_case(settings: Settings, sizes_mib: tuple[int, ...]) -> StoredCase:
    """A report sent through the submission service with files of these sizes."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with instance.database_session(settings) as session:
        store = DatabaseChunkStore(session)
        prepared = []
        for number, size in enumerate(sizes_mib, start=1):
            prepared.append(
                evidence.store_cleaned(
                    store,
                    cleaned(os.urandom(size * MIB)),
                    f"clip-{number}.mp4",
                    "",
                    limits(settings),
                )
            )
            session.commit()
        ticket_key = instance.form_ticket_key(settings)
        ticket = form_tickets.read(ticket_key, form_tickets.issue(ticket_key, now))
        assert ticket is not None
        draft = submissions.ReportDraft(
            category="corruption",
            what_happened="The clips show the seized cash being taken.",
            when="Last week",
            where="Northgate",
            who_involved="A sergeant",
            how_known="saw_or_heard",
            how_known_detail="",
            at_risk="no",
            at_risk_detail="",
        )
        keys = submissions.SubmissionKeys(
            settings.receipt_pepper, instance.spent_form_key(settings)
        )
        submitted = submissions.submit_report(
            session,
            draft,
            ticket,
            keys,
            keyring.PinnedUnitKey(settings.unit_key_fingerprint),
            now.date(),
            evidence=prepared,
        )
        session.commit()
        from sqlalchemy import select

        from reportline.models import Case

        case_id = session.scalars(
            select(Case.id).where(Case.receipt_hmac == submitted.receipt.lookup_hmac(keys.pepper))
        ).one()
    return StoredCase(cases.reference(case_id), tuple(prepared))


def measure_read(settings: Settings, stored: evidence.PreparedFile, repeats: int) -> dict:
    """In-process: a file's chunks read from the database alone, then read and opened."""
    item = evidence.EvidenceItem(
        1,
        stored.file_id,
        None,
        stored.chunk_count,
        0,
        description=stored.description,
        key=stored.key,
    )
    runs: dict[str, list[tuple[float, float]]] = {"chunks_read": [], "read_part": []}
    with instance.database_session(settings) as session:
        store = DatabaseChunkStore(session, streaming=True)
        for round_ in range(repeats + 1):
            with Stopwatch() as chunks:
                for _chunk in store.read(stored.file_id, evidence.CONTENT, stored.chunk_count):
                    pass
            with Stopwatch() as opened:
                for _piece in evidence.read_part(store, item):
                    pass
            if round_:
                runs["chunks_read"].append((chunks.seconds, chunks.cpu))
                runs["read_part"].append((opened.seconds, opened.cpu))
    return {name: rates(stored.description.size, times) for name, times in runs.items()}


# ---------------------------------------------------------------- over HTTP


def server_peak(server: ServerProcess, action: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run `action`; return what it returned, the server's peak RSS growth in MiB and the
    CPU seconds the server spent meanwhile."""
    pid = str(server.process.pid)
    reset_peak(pid)
    before = status_kib("VmRSS", pid)
    cpu = server.cpu_seconds()
    result = action()
    return result, (status_kib("VmHWM", pid) - before) / 1024, server.cpu_seconds() - cpu


def add_triage_record(browser: Browser, reference: str) -> None:
    """The supervisor fills in the case's triage record (an export needs one)."""
    url = f"/triage/cases/{reference}/record"
    page = browser.get(url)
    version = page.body.split('name="version"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    answer = browser.post(
        url,
        {
            "csrf_token": csrf_token(page.body),
            "version": version,
            "priority": "high",
            "relationship": "colleague",
            "source_evaluation": "2",
            "intelligence_assessment": "B",
            "handling_code": "C",
            "decision": "investigate",
            "handling_conditions": "Not to be shared outside the unit",
            "rationale": "Clips of the seized cash",
            "links-0-kind": "related_to",
            "allegation_summary": "A sergeant is said to have kept seized cash",
        },
    )
    if answer.status != 303:
        errors = re.findall(r"<a href=\"#[^\"]*\">([^<]+)</a>", answer.body)
        raise RuntimeError(f"the triage record was refused ({answer.status}): {errors}")


def measure_download(
    server: ServerProcess, browser: Browser, stored: StoredCase, repeats: int
) -> dict[str, Any]:
    """Each file of the case downloaded `repeats` times (plus one warm-up)."""
    results = {}
    for seq, item in enumerate(stored.files, start=1):
        url = f"/triage/cases/{stored.reference}/evidence/{seq}/download"
        times, peaks = [], []
        for round_ in range(repeats + 1):
            (status, size, took), peak, cpu = server_peak(
                server, lambda u=url: browser.stream("GET", u)
            )
            if status != 200 or size != item.description.size:
                raise RuntimeError(f"{url}: {status}, {size} bytes")
            if round_:
                times.append((took, cpu))
                peaks.append(peak)
        results[f"{item.description.size // MIB} MiB"] = {
            **rates(item.description.size, times),
            "server_peak_growth_mib": peaks,
            "server_peak_growth_mib_max": max(peaks),
        }
        print(
            f"download {item.description.size // MIB} MiB: "
            f"{mb_s(item.description.size, median([t[0] for t in times])):.0f} MB/s, peak "
            f"+{max(peaks):.0f} MiB",
            flush=True,
        )
    return results


def measure_export(
    server: ServerProcess, browser: Browser, stored: StoredCase, repeats: int, passphrase: str
) -> dict[str, Any]:
    """The case exported `repeats` times: time, archive size, the server's peak growth."""
    evidence_bytes = sum(item.description.size for item in stored.files)
    url = f"/triage/cases/{stored.reference}"
    times, peaks, sizes = [], [], []
    for _ in range(repeats):
        form = {
            "csrf_token": csrf_token(browser.get(url).body),
            "variant": "sanitised",
            "passphrase": passphrase,
            "confirm": passphrase,
        }
        (status, size, took), peak, cpu = server_peak(
            server, lambda f=form: browser.stream("POST", f"{url}/export", f)
        )
        if status != 200 or size < evidence_bytes:
            raise RuntimeError(f"export: {status}, {size} bytes")
        times.append((took, cpu))
        peaks.append(peak)
        sizes.append(size)
    return {
        "evidence_bytes": evidence_bytes,
        "archive_bytes": sizes,
        **rates(evidence_bytes, times),
        "server_peak_growth_mib": peaks,
        "server_peak_growth_mib_max": max(peaks),
    }


# ---------------------------------------------------------------- cleaning


def measure_cleaning(repeats: int) -> dict[str, Any]:
    """Each sample cleaned `repeats` times, each time in a fresh child process."""
    paths = make_samples(WORK / "samples")
    results: dict[str, Any] = {}
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    for kind in SAMPLES:
        runs = []
        for _ in range(repeats):
            done = subprocess.run(
                [sys.executable, "-m", "bench.evidence_cleaning", "--measure", str(paths[kind])],
                cwd=REPO,
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(done.stdout))
        growth = [run["peak_rss_growth_mib"] for run in runs]
        memfd = [run["memfd_peak_mib"] for run in runs]
        results[kind] = {
            "runs": runs,
            "input_bytes": runs[0]["input_bytes"],
            "median_seconds": median([run["seconds"] for run in runs]),
            "peak_rss_growth_mib": max(growth),
            "memfd_peak_mib": max(memfd),
            "total_peak_mib": max(g + m for g, m in zip(growth, memfd, strict=True)),
            "child_peak_rss_mib": max(run["child_peak_rss_mib"] for run in runs),
        }
        print(f"clean {kind}: {results[kind]['median_seconds']:.2f} s", flush=True)
    return results


# ---------------------------------------------------------------- a run


def run_backend(backend: str, plan: Plan, clean: bool) -> dict[str, Any]:
    """Every measurement on one backend; returns the results."""
    results: dict[str, Any] = {}
    largest = max(max(plan.download_mib), plan.export_mib) * MIB
    raised = {
        "evidence_file_max_bytes": largest,
        "evidence_report_max_bytes": 4 * largest + sum(plan.download_mib) * MIB,
    }
    with ExitStack() as stack:
        folder = WORK / backend / "instance"
        shutil.rmtree(folder.parent, ignore_errors=True)
        url = database_url_for(backend, "evidence_bench", stack)
        credentials = create_instance(folder, url, FAST_ARGON2, raised)
        from bench.instance import instance_settings

        settings = instance_settings(folder)
        results["store"] = measure_store(settings, plan)
        download_case = make_case(settings, plan.download_mib)
        export_case = make_case(settings, (plan.export_mib,) * plan.export_files)
        results["read_in_process"] = {
            f"{item.description.size // MIB} MiB": measure_read(settings, item, plan.repeats)
            for item in download_case.files
        }
        results.update(
            serve_and_measure(backend, folder, credentials, plan, download_case, export_case, stack)
        )
    if clean:
        results["cleaning"] = measure_cleaning(plan.clean_repeats)
    return results


def serve_and_measure(
    backend: str,
    folder: Path,
    credentials: Credentials,
    plan: Plan,
    download_case: StoredCase,
    export_case: StoredCase,
    stack: ExitStack,
) -> dict[str, Any]:
    """Start the server, sign in, download and export."""
    server = ServerProcess(
        f"evidence-{backend}", ["--app", "reportline", "--instance", str(folder)]
    )
    stack.callback(server.stop)
    browser = Browser(server.port, timeout=600)
    sign_in(browser, credentials)
    add_triage_record(browser, export_case.reference)
    results: dict[str, Any] = {
        "server_rss_mib_at_start": status_kib("VmRSS", str(server.process.pid)) / 1024
    }
    results["download"] = measure_download(server, browser, download_case, plan.repeats)
    results["export"] = {
        "no passphrase": measure_export(server, browser, export_case, plan.export_repeats, ""),
        "passphrase": measure_export(server, browser, export_case, plan.export_repeats, PASSPHRASE),
    }
    for name, row in results["export"].items():
        print(
            f"export ({name}): {row['mb_s']:.0f} MB/s, server peak "
            f"+{row['server_peak_growth_mib_max']:.0f} MiB",
            flush=True,
        )
    browser.close()
    return results


def print_summary(backend: str, results: dict[str, Any]) -> None:
    """The run's tables."""
    print(
        f"\n## {backend}: storing already-cleaned files, in-process (target {TARGET_MB_S} "
        "MB/s): median MB/s wall | MB per CPU second"
    )
    print_table(
        ["size", "store_cleaned + commit", "seal only", "insert sealed + commit"],
        [
            [size, *(_both(row[name]) for name in ("store_cleaned", "seal_only", "insert_sealed"))]
            for size, row in results["store"].items()
        ],
    )
    print(f"\n## {backend}: downloading (MB/s wall | MB per server CPU s; peak RSS +MiB)")
    print_table(
        [
            "size",
            "HTTP download",
            "server peak +MiB",
            "in-process read_part",
            "in-process chunks read",
        ],
        [
            [
                size,
                _both(row),
                row["server_peak_growth_mib_max"],
                _both(results["read_in_process"][size]["read_part"]),
                _both(results["read_in_process"][size]["chunks_read"]),
            ]
            for size, row in results["download"].items()
        ],
    )
    print(f"\n## {backend}: export of a case (evidence MB/s wall | per server CPU s)")
    print_table(
        ["export", "evidence MiB", "median s", "MB/s", "server peak +MiB"],
        [
            [
                name,
                row["evidence_bytes"] // MIB,
                row["median_seconds"],
                _both(row),
                row["server_peak_growth_mib_max"],
            ]
            for name, row in results["export"].items()
        ],
    )
    if "cleaning" in results:
        print("\n## cleaning, each in a fresh process (median s; peaks in MiB)")
        print_table(
            [
                "type",
                "input MB",
                "median s",
                "MB/s",
                "RSS peak +",
                "memfd peak",
                "RSS + memfd",
                "ffmpeg peak",
            ],
            [
                [
                    kind,
                    row["input_bytes"] / MB,
                    row["median_seconds"],
                    mb_s(row["input_bytes"], row["median_seconds"]),
                    row["peak_rss_growth_mib"],
                    row["memfd_peak_mib"],
                    row["total_peak_mib"],
                    row["child_peak_rss_mib"],
                ]
                for kind, row in results["cleaning"].items()
            ],
        )


def _both(row: dict[str, Any]) -> str:
    return f"{row['mb_s']:.0f} | {row['mb_per_cpu_s']:.0f}"


def main() -> None:
    """Parse arguments, measure one backend, print the tables and save the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="PostgreSQL at 127.0.0.1:5432 (a scratch database) instead of SQLite",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller files and fewer repeats: check that it runs"
    )
    parser.add_argument("--no-cleaning", action="store_true", help="skip the cleaning part")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    backend = "postgresql" if args.postgres else "sqlite"
    results: dict[str, Any] = {
        "benchmark": "evidence",
        "backend": backend,
        "revision": git_revision(),
        "machine": machine_info(),
        "plan": plan.__dict__,
        "units": "MB/s = 10^6 bytes/s; sizes and memory in MiB",
    }
    results |= run_backend(backend, plan, not args.no_cleaning)
    print_summary(backend, results)
    path = write_results(f"evidence-{backend}", results)
    print(f"\nResults: {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
