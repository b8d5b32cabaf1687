"""A ReportLine instance set up the way a real one is, for benchmarking.

`reportline init` does it, as an operator would: a config with fresh secrets,
the migrations (`reportline.migrate.upgrade`), `setup.initialise` (unit key,
recovery key, a supervisor who holds the unit key) and the pinned unit key.
The benchmark then adds its database URL, Argon2 cost and any other settings
it needs (`settings`) to the config, so the server needs no environment. The
supervisor's credentials are written beside it in bench-credentials.json so a
later run can sign in again: bench data only, git-ignored, never a real instance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pyotp
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import REPO
from reportline.config import CONFIG_FILE_NAME, Settings, load_settings
from reportline.crypto.kdf import Argon2Cost

SUPERVISOR_EMAIL = "supervisor@bench.reportline.invalid"
SUPERVISOR_PASSWORD = "violet kettle harbour sketch lantern"
# Argon2id cost for instances where sign-in speed is not what is measured.
FAST_ARGON2 = Argon2Cost(time_cost=1, memory_cost_kib=1024, parallelism=1)
CREDENTIALS_FILE = "bench-credentials.json"
# Settings for benchmarks that send reports as fast as they can (submissions/s): such a
# run is a flood by design. A form may be sent at once (the issue allows
# min_form_seconds = 0 for benchmarks), and the flood rate is never reached, so
# reports are not held apart or refused at the flood ceiling. bench.flood keeps the
# defaults: that is what it measures.
THROUGHPUT_SETTINGS: dict[str, int | bool | str] = {
    "min_form_seconds": 0,
    "flood_reports": 1_000_000_000,
}
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Credentials:
    """How to sign in as the instance's supervisor."""

    email: str
    password: str
    totp_seed: str


def create_instance(
    folder: Path,
    database_url: str | None = None,
    argon2: Argon2Cost | None = None,
    settings: Mapping[str, int | bool | str] | None = None,
) -> Credentials:
    """Run `reportline init` into `folder`; return the supervisor's credentials.

    `database_url` defaults to SQLite in the folder; `argon2` to production defaults;
    `settings` are further settings written to the instance config after `init`
    (e.g. THROUGHPUT_SETTINGS).
    """
    folder.mkdir(parents=True, exist_ok=True)
    extra = {"database_url": f'"{database_url}"'} if database_url else {}
    if argon2:
        extra |= {"argon2_time_cost": str(argon2.time_cost),
                  "argon2_memory_cost_kib": str(argon2.memory_cost_kib),
                  "argon2_parallelism": str(argon2.parallelism)}
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REPORTLINE_")}
    environment |= {"REPORTLINE_INSTANCE": str(folder), "PYTHONPATH": str(REPO)}
    environment |= {f"REPORTLINE_{k.upper()}": v.strip('"') for k, v in extra.items()}
    extra |= {name: _toml(value) for name, value in (settings or {}).items()}
    done = subprocess.run(
        [sys.executable, "-m", "reportline.cli", "init", "--admin", SUPERVISOR_EMAIL,
         "--password-stdin", "--recovery-key-file", str(folder / "recovery-key.txt")],
        input=SUPERVISOR_PASSWORD + "\n", capture_output=True, text=True, cwd=REPO,
        env=environment, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reportline init failed:\n{done.stdout}\n{done.stderr}")
    uri = next(line for line in done.stdout.splitlines() if line.startswith("otpauth://"))
    with (folder / CONFIG_FILE_NAME).open("a", encoding="utf-8") as config:
        config.writelines(f"{key} = {value}\n" for key, value in extra.items())
    credentials = Credentials(SUPERVISOR_EMAIL, SUPERVISOR_PASSWORD,
                              pyotp.parse_uri(uri).secret)
    (folder / CREDENTIALS_FILE).write_text(json.dumps(asdict(credentials)), encoding="utf-8")
    return credentials


def _toml(value: int | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def load_credentials(folder: Path) -> Credentials:
    """The supervisor credentials written by `create_instance`."""
    saved = json.loads((folder / CREDENTIALS_FILE).read_text(encoding="utf-8"))
    return Credentials(saved["email"], saved["password"], saved["totp_seed"])


def instance_settings(folder: Path) -> Settings:
    """The instance's settings as the app would load them (ignoring the environment)."""
    return load_settings({}, folder)


@contextmanager
def scratch_postgres(prefix: str, admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database for one run, dropped afterwards; yields its URL."""
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_url_for(backend: str, prefix: str, stack: ExitStack) -> str | None:
    """The database a benchmark's instance uses on `backend` ("sqlite": None, the
    instance's own file; "postgresql": a scratch database dropped when `stack` closes)."""
    if backend == "postgresql":
        return stack.enter_context(scratch_postgres(prefix))
    return None
