"""Unit key rotation at 100,000 cases: how long `reportline keys rotate` takes.

    python -m bench.rotation [--cases 100000]            # SQLite
    python -m bench.rotation --postgres [--no-sqlite]    # PostgreSQL too (scratch database)

Makes an instance with `reportline init`, adds the cases with Core inserts
(each case secret genuinely sealed to the unit key in `case_seals`; the other
case columns hold random bytes of a real case's sizes, since a rotation never
reads them), then times the command as an operator runs it, in its own
process, from start to exit, and reads back how many seals moved. While it
runs, one client sends a report every 0.2 s through the services (as the app
does) and the run records how long each took, to show that reports keep
arriving. Target: under 60 s (issue 13).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.common import REPO, RESULTS, machine_info, median, percentile, print_table, write_results
from bench.instance import create_instance, database_url_for, instance_settings
from reportline import utcnow
from reportline.crypto.aead import new_key
from reportline.crypto.kdf import Argon2Cost
from reportline.crypto.keys import PublicKey
from reportline.db import random_id
from reportline.models import Case, CaseSeal, KeyRotation, UnitKey
from reportline.services import cases, instance, keyring

FAST_ARGON2 = Argon2Cost(time_cost=1, memory_cost_kib=1024, parallelism=1)
CHUNK = 2000


def _case_rows(unit_key_id: int, unit_public: PublicKey, count: int) -> Any:
    """`count` cases in chunks: (case rows, seal rows)."""
    today = date.today()
    made = 0
    while made < count:
        rows, seals = [], []
        for _ in range(min(CHUNK, count - made)):
            case_id = random_id()
            received = today - timedelta(days=made % 1500)
            rows.append(
                {
                    "id": case_id,
                    "received_on": received,
                    "unit_key_id": unit_key_id,
                    "status": "closed" if made % 3 else "investigating",
                    "status_changed_on": received,
                    "case_public_key": secrets.token_bytes(1217),
                    "report": secrets.token_bytes(1053),
                    "receipt_hmac": secrets.token_bytes(32),
                    "reporter_public_key": secrets.token_bytes(1217),
                    "key_binding": secrets.token_bytes(285),
                    "state_mac": secrets.token_bytes(32),
                }
            )
            seals.append(
                cases.seal_row(case_id, unit_key_id, cases.CaseSecret(new_key()), unit_public)
            )
            made += 1
        yield rows, seals


def seed(folder: Path, count: int) -> float:
    """Add `count` cases to the instance; return the seconds it took."""
    started = time.perf_counter()
    settings = instance_settings(folder)
    with instance.database_session(settings) as session:
        unit_key_id, unit_public = keyring.PinnedUnitKey(settings.unit_key_fingerprint).get(session)
        session.commit()
        for rows, seals in _case_rows(unit_key_id, unit_public, count):
            session.execute(insert(Case), rows)
            session.execute(insert(CaseSeal), seals)
            session.commit()
    return time.perf_counter() - started


class Reporter(threading.Thread):
    """Sends a report every 0.2 s through the submission service while the rotation runs."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        from reportline.services import form_tickets, submissions

        settings = instance_settings(self.folder)
        keys = submissions.SubmissionKeys(
            settings.receipt_pepper, instance.spent_form_key(settings)
        )
        pinned = keyring.PinnedUnitKey(settings.unit_key_fingerprint, self.folder / "config.toml")
        draft = submissions.ReportDraft("other", "bench report", "", "", "", "other", "", "no", "")
        with instance.database_session(settings) as session:
            while not self.stop.is_set():
                key = instance.form_ticket_key(settings)
                ticket = form_tickets.read(key, form_tickets.issue(key, utcnow()))
                assert ticket is not None
                started = time.perf_counter()
                try:
                    submissions.submit_report(session, draft, ticket, keys, pinned, date.today())
                    session.commit()
                    self.latencies.append((time.perf_counter() - started) * 1000)
                except Exception:
                    session.rollback()
                    self.failures += 1
                self.stop.wait(0.2)


def run_backend(backend: str, count: int, stack: ExitStack) -> dict[str, Any]:
    """One instance on `backend`, seeded and rotated; the figures."""
    folder = RESULTS / "rotation" / backend
    if folder.exists():
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    url = database_url_for(backend, "reportline_rotation", stack)
    create_instance(folder, url, FAST_ARGON2)
    seeded = seed(folder, count)
    print(f"{backend}: {count:,} cases seeded in {seeded:.1f} s")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REPORTLINE_")}
    environment |= {"REPORTLINE_INSTANCE": str(folder), "PYTHONPATH": str(REPO)}
    reporter = Reporter(folder)
    reporter.start()
    time.sleep(1)
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reportline.cli",
            "keys",
            "rotate",
            "--recovery-key-file",
            str(folder / "recovery-key.txt"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        check=False,
    )
    seconds = time.perf_counter() - started
    time.sleep(1)
    reporter.stop.set()
    reporter.join()
    if done.returncode != 0:
        raise RuntimeError(f"keys rotate failed:\n{done.stdout}\n{done.stderr}")
    settings = instance_settings(folder)
    with instance.database_session(settings) as session:
        rotation = session.scalars(select(KeyRotation)).one()
        new_key = session.get(UnitKey, rotation.to_unit_key_id)
        assert new_key is not None
        under_new = session.scalar(
            select(func.count()).select_from(CaseSeal).where(CaseSeal.holder_id == new_key.id)
        )
        total = session.scalar(select(func.count()).select_from(CaseSeal))
    lat = reporter.latencies
    return {
        "backend": backend,
        "cases": count,
        "seed_seconds": seeded,
        "rotate_seconds": seconds,
        "seals_moved": rotation.total,
        "seals_under_new_key": under_new,
        "seals_total": total,
        "reports_during": len(lat),
        "reports_refused": reporter.failures,
        "report_ms_median": median(lat) if lat else None,
        "report_ms_p95": percentile(lat, 95) if lat else None,
        "report_ms_max": max(lat) if lat else None,
    }


def main() -> None:
    """Seed, rotate and report, on each backend asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    options = parser.parse_args()
    backends = ([] if options.no_sqlite else ["sqlite"]) + (
        ["postgresql"] if options.postgres else []
    )
    runs = []
    with ExitStack() as stack:
        for backend in backends:
            runs.append(run_backend(backend, options.cases, stack))
    print_table(
        ["backend", "cases", "rotate s", "reports during", "refused", "report ms p50/p95/max"],
        [
            [
                r["backend"],
                r["cases"],
                r["rotate_seconds"],
                r["reports_during"],
                r["reports_refused"],
                f"{r['report_ms_median']:.0f}/{r['report_ms_p95']:.0f}/{r['report_ms_max']:.0f}"
                if r["report_ms_median"] is not None
                else "-",
            ]
            for r in runs
        ],
    )
    name = "rotation-" + "-".join(backends)
    print(f"\nResults: {write_results(name, {'machine': machine_info(), 'runs': runs})}")


if __name__ == "__main__":
    main()
