"""Officer sign-in: password and second factor, one vague answer, throttling and lockout."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import Officer, OfficerSession
from reportline.services import enrolment, instance
from tests.helpers import (
    Enrolled,
    MovableClock,
    add_officer,
    csrf_token,
    post_form,
    sign_in,
    totp_code,
    unlock_officer_key,
)

GENERIC = "The e-mail address, password or code was not right"


def _failed(response: object) -> bool:
    return response.status_code == 401 and GENERIC in response.get_data(as_text=True)  # type: ignore[attr-defined]


def test_password_and_code_sign_an_officer_in_with_a_fresh_cookie(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    client = app.test_client()
    client.get("/triage/login")
    before = client.get_cookie("rl_session")
    response = sign_in(client, unit, clock)
    assert response.status_code == 303 and response.headers["Location"] == "/triage/"
    cookie = response.headers.getlist("Set-Cookie")
    officer_cookie = next(c for c in cookie if c.startswith("rl_officer="))
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/triage"):
        assert attribute in officer_cookie
    assert "Expires" not in officer_cookie and "Domain" not in officer_cookie
    after = client.get_cookie("rl_session")
    assert before is not None and (after is None or after.value != before.value)
    assert client.get("/triage/").status_code == 200


@pytest.mark.parametrize("mistake", ["password", "email", "code", "empty-code"])
def test_every_kind_of_mistake_gets_the_same_answer(
    app: Flask, unit: Enrolled, clock: MovableClock, mistake: str
) -> None:
    wrong = Enrolled(unit.email, unit.password, unit.totp_seed, unit.officer_id)
    code = None
    if mistake == "password":
        wrong.password = "not the password at all"
    elif mistake == "email":
        wrong.email = "nobody@unit.example"
    elif mistake == "code":
        code = f"{(int(totp_code(unit.totp_seed, clock)) + 1) % 1_000_000:06d}"
    else:
        code = ""
    assert _failed(sign_in(app.test_client(), wrong, clock, code=code))


def test_digits_from_other_scripts_are_a_wrong_code_and_count_as_a_failure(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    victim = add_officer(db, clock, "digits@unit.example")
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in totp_code(victim.totp_seed, clock))
    for _attempt in range(4):
        assert _failed(sign_in(app.test_client(), victim, clock, code=arabic_indic))
    # The failures were recorded: the next attempt is delayed like any other guessing.
    assert sign_in(app.test_client(), victim, clock, code=arabic_indic).status_code == 429


def test_a_code_is_accepted_once_only(app: Flask, unit: Enrolled, clock: MovableClock) -> None:
    code = totp_code(unit.totp_seed, clock)
    assert sign_in(app.test_client(), unit, clock, code=code).status_code == 303
    assert _failed(sign_in(app.test_client(), unit, clock, code=code))


def test_codes_one_step_early_or_late_work_but_two_steps_do_not(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    assert (
        sign_in(
            app.test_client(), unit, clock, code=totp_code(unit.totp_seed, clock, -1)
        ).status_code
        == 303
    )
    clock.advance(seconds=60)
    assert (
        sign_in(
            app.test_client(), unit, clock, code=totp_code(unit.totp_seed, clock, +1)
        ).status_code
        == 303
    )
    clock.advance(seconds=120)
    assert _failed(
        sign_in(app.test_client(), unit, clock, code=totp_code(unit.totp_seed, clock, +2))
    )
    assert _failed(
        sign_in(app.test_client(), unit, clock, code=totp_code(unit.totp_seed, clock, -2))
    )


def test_a_recovery_code_replaces_the_app_once(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    code = unit.recovery_codes[0]
    assert sign_in(app.test_client(), unit, clock, code=code.upper()).status_code == 303
    assert _failed(sign_in(app.test_client(), unit, clock, code=code))


def test_new_recovery_codes_replace_the_old_ones_and_are_shown_once(
    app: Flask, supervisor: FlaskClient, unit: Enrolled, clock: MovableClock
) -> None:
    response = post_form(supervisor, "/triage/account", "/triage/account/recovery-codes", {})
    assert response.status_code == 200
    new_codes = re.findall(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", response.text)
    assert len(set(new_codes)) == 10 and unit.recovery_codes[0] not in new_codes
    assert _failed(sign_in(app.test_client(), unit, clock, code=unit.recovery_codes[0]))
    assert sign_in(app.test_client(), unit, clock, code=new_codes[0]).status_code == 303
    account = supervisor.get("/triage/account").text
    assert re.search(r"Unused recovery codes\s*</dt>\s*<dd[^>]*>\s*9\s*<", account)


def _guess_until(
    client_factory: Any, who: Enrolled, clock: MovableClock, failures: int
) -> list[int]:
    """Wrong sign-ins until `failures` were answered 401, waiting out each delay."""
    statuses: list[int] = []
    while statuses.count(401) < failures:
        response = sign_in(client_factory(), who, clock)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "Too many attempts" in response.get_data(as_text=True)
            clock.advance(seconds=int(response.headers["Retry-After"]))
    return statuses


def test_strangers_are_slowed_down_but_never_lock_the_account(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    victim = add_officer(db, clock, "target@unit.example")
    attacker = replace(victim, password="guessing password 1")
    statuses = _guess_until(app.test_client, attacker, clock, 12)
    assert statuses[:5] == [401, 401, 401, 401, 429]  # three free, the fourth starts a delay
    db.expire_all()
    assert not db.get(Officer, victim.officer_id).locked  # type: ignore[union-attr]
    clock.advance(hours=2)
    assert sign_in(app.test_client(), victim, clock).status_code == 303


def test_an_officer_at_their_own_browser_gets_in_while_strangers_are_held_back(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    victim = add_officer(db, clock, "target@unit.example")
    usual_browser = app.test_client()
    assert sign_in(usual_browser, victim, clock).status_code == 303  # earns the device cookie
    post_form(usual_browser, "/triage/account", "/triage/logout", {})
    clock.advance(seconds=30)
    _guess_until(app.test_client, replace(victim, password="guessing password 1"), clock, 5)
    assert sign_in(app.test_client(), victim, clock).status_code == 429  # a new browser waits
    assert sign_in(usual_browser, victim, clock).status_code == 303  # its own budget


def test_a_forged_device_cookie_counts_as_a_stranger(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    victim = add_officer(db, clock, "target@unit.example")
    _guess_until(app.test_client, replace(victim, password="guessing password 1"), clock, 4)
    forger = app.test_client()
    forged = f"v1.{victim.officer_id}.{'A' * 22}.{'B' * 22}"
    forger.set_cookie("rl_device", forged, path="/triage")
    assert sign_in(forger, victim, clock).status_code == 429


def test_failures_from_the_accounts_own_browser_lock_it_until_a_supervisor_lifts_it(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    victim = add_officer(db, clock, "target@unit.example")
    usual_browser = app.test_client()
    assert sign_in(usual_browser, victim, clock).status_code == 303
    post_form(usual_browser, "/triage/account", "/triage/logout", {})
    statuses = _guess_until(
        lambda: usual_browser, replace(victim, password="guessing password 1"), clock, 10
    )
    assert 429 in statuses
    db.expire_all()
    assert db.get(Officer, victim.officer_id).locked  # type: ignore[union-attr]
    clock.advance(hours=2)
    assert _failed(sign_in(app.test_client(), victim, clock))  # right password, still locked

    supervisor = app.test_client()
    sign_in(supervisor, unit, clock)
    officer_page = f"/triage/admin/officers/{victim.officer_id}"
    assert "Lift lockout" in supervisor.get(officer_page).get_data(as_text=True)
    post_form(supervisor, officer_page, f"{officer_page}/unlock", {})
    clock.advance(seconds=30)
    assert sign_in(app.test_client(), victim, clock).status_code == 303


def test_strangers_waiting_for_argon2id_never_hold_up_an_officers_own_browser(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    """Argon2id runs in two lanes per process: strangers fill theirs (and are told the
    service is busy without running it), a known browser still gets in."""
    victim = add_officer(db, clock, "target@unit.example")
    usual_browser = app.test_client()
    assert sign_in(usual_browser, victim, clock).status_code == 303
    post_form(usual_browser, "/triage/account", "/triage/logout", {})
    clock.advance(seconds=30)
    strangers = app.extensions["reportline.argon2_gate.stranger"]
    strangers.wait_seconds = 0.01
    with strangers.slot():  # the stranger lane is full
        assert sign_in(app.test_client(), victim, clock).status_code == 429
        assert sign_in(usual_browser, victim, clock).status_code == 303


def test_unknown_accounts_are_throttled_exactly_like_real_ones(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    ghost = Enrolled("ghost@unit.example", "whatever password", unit.totp_seed, 0)
    real = Enrolled(unit.email, "whatever password", unit.totp_seed, unit.officer_id)
    ghost_statuses = [sign_in(app.test_client(), ghost, clock).status_code for _ in range(5)]
    clock.advance(hours=2)
    real_statuses = [sign_in(app.test_client(), real, clock).status_code for _ in range(5)]
    assert ghost_statuses == real_statuses == [401, 401, 401, 401, 429]


def test_the_idle_timeout_ends_a_quiet_session(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    client = app.test_client()
    sign_in(client, unit, clock)
    clock.advance(minutes=14)
    assert client.get("/triage/").status_code == 200
    clock.advance(minutes=15, seconds=1)
    assert client.get("/triage/").headers["Location"] == "/triage/login"


def test_the_absolute_timeout_ends_even_a_busy_session_after_eight_hours(
    app: Flask, unit: Enrolled, clock: MovableClock
) -> None:
    client = app.test_client()
    sign_in(client, unit, clock)
    signed_in_at = clock()
    while clock() - signed_in_at < timedelta(hours=7, minutes=50):
        clock.advance(minutes=10)
        assert client.get("/triage/").status_code == 200
    clock.advance(minutes=11)
    assert client.get("/triage/").headers["Location"] == "/triage/login"


def test_timeouts_are_configurable(
    make_app: Callable[..., Flask], unit: Enrolled, clock: MovableClock
) -> None:
    short = make_app(officer_idle_minutes=2)
    client = short.test_client()
    sign_in(client, unit, clock)
    clock.advance(minutes=3)
    assert client.get("/triage/").headers["Location"] == "/triage/login"


def test_a_cookie_copied_before_sign_out_unlocks_nothing_afterwards(
    app: Flask, supervisor: FlaskClient, db: Session
) -> None:
    stolen = supervisor.get_cookie("rl_officer", path="/triage")
    assert stolen is not None
    supervisor.post(
        "/triage/logout",
        data={"csrf_token": csrf_token(supervisor.get("/triage/account").get_data(as_text=True))},
    )
    assert db.scalars(select(OfficerSession)).all() == []
    thief = app.test_client()
    thief.set_cookie("rl_officer", stolen.value, path="/triage")
    assert thief.get("/triage/").headers["Location"] == "/triage/login"


def test_signing_out_everywhere_ends_sessions_on_other_computers(
    app: Flask, unit: Enrolled, clock: MovableClock, supervisor: FlaskClient
) -> None:
    laptop = app.test_client()
    sign_in(laptop, unit, clock)
    post_form(supervisor, "/triage/account", "/triage/logout-everywhere", {})
    assert laptop.get("/triage/").headers["Location"] == "/triage/login"
    assert supervisor.get("/triage/").headers["Location"] == "/triage/login"


def test_a_session_started_in_one_worker_process_works_in_another(
    make_app: Callable[..., Flask], supervisor: FlaskClient
) -> None:
    other_worker = make_app()
    client = other_worker.test_client()
    client.set_cookie(
        "rl_officer",
        supervisor.get_cookie("rl_officer", path="/triage").value,  # type: ignore[union-attr]
        path="/triage",
    )
    assert client.get("/triage/").status_code == 200


def test_the_session_row_holds_no_private_key_in_clear(
    supervisor: FlaskClient, db: Session, unit: Enrolled
) -> None:
    key = unlock_officer_key(db, unit)
    for row in db.scalars(select(OfficerSession)):
        assert key.raw not in row.sealed and key.raw[1:33] not in row.sealed
    cookie = supervisor.get_cookie("rl_officer", path="/triage")
    assert cookie is not None and key.raw.hex() not in cookie.value


def test_an_invited_officer_sets_a_strong_password_then_an_authenticator(
    app: Flask, supervisor: FlaskClient, clock: MovableClock, db: Session
) -> None:
    created = post_form(
        supervisor,
        "/triage/admin/officers/new",
        "/triage/admin/officers/new",
        {"email": "Recruit@Unit.Example", "role": "officer"},
    )
    link = re.search(r'id="enrolment-link">([^<]+)<', created.get_data(as_text=True))
    assert link
    path = link.group(1).replace("http://localhost", "")

    newcomer = app.test_client()
    weak = post_form(newcomer, path, path, {"password": "password1234", "confirm": "password1234"})
    assert weak.status_code == 400 and "Try a few unrelated words" in weak.get_data(as_text=True)
    short = post_form(newcomer, path, path, {"password": "short", "confirm": "short"})
    assert "Use at least 12 characters" in short.get_data(as_text=True)
    chosen = "tundra pelican orchard velvet"
    response = post_form(newcomer, path, path, {"password": chosen, "confirm": chosen})
    assert response.headers["Location"] == "/triage/second-factor"

    page = newcomer.get("/triage/second-factor").get_data(as_text=True)
    assert 'src="/triage/second-factor/qr.svg"' in page
    with newcomer.get("/triage/second-factor/qr.svg") as qr:
        assert qr.mimetype == "image/svg+xml" and qr.get_data().startswith(b"<svg")
        assert qr.headers["Cache-Control"] == "no-store"
    seed = re.search(r'class="secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    wrong = post_form(
        newcomer, "/triage/second-factor", "/triage/second-factor", {"code": "000000"}
    )
    assert "That code was not right" in wrong.get_data(as_text=True)
    done = post_form(
        newcomer,
        "/triage/second-factor",
        "/triage/second-factor",
        {"code": pyotp.TOTP(seed).at(clock().replace(tzinfo=UTC))},
    )
    codes = re.findall(
        r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>", done.get_data(as_text=True)
    )
    assert len(codes) == 10
    assert newcomer.get("/triage/").status_code == 403  # awaiting access to the unit key
    assert newcomer.get(path).status_code == 404  # the link worked once
    recruit = db.scalars(select(Officer).where(Officer.email == "recruit@unit.example")).one()
    assert recruit.has_keys and recruit.totp_seed_sealed is not None


def test_an_expired_enrolment_link_does_not_work(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    supervisor_row = db.get(Officer, unit.officer_id)
    _, token = enrolment.invite_officer(
        db,
        "late@unit.example",
        "officer",
        supervisor_row,
        clock(),  # type: ignore[arg-type]
        instance.integrity_key(db.info["settings"]),
    )
    db.commit()
    clock.advance(hours=73)
    response = app.test_client().get(f"/triage/enrol/{token}")
    assert response.status_code == 404 and "This link does not work" in response.get_data(
        as_text=True
    )


def test_officer_pages_never_reach_the_reporter_side_cookie_path(
    supervisor: FlaskClient,
) -> None:
    assert supervisor.get_cookie("rl_officer", path="/") is None
    assert supervisor.get_cookie("rl_officer", path="/triage") is not None


def test_two_sign_ins_racing_with_one_code_cannot_both_use_it(
    unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    """Both read the officer before either writes, as two PostgreSQL workers can."""
    from sqlalchemy.orm import sessionmaker

    from reportline.services import second_factor

    other = sessionmaker(bind=db.get_bind())()
    first, second = db.get(Officer, unit.officer_id), other.get(Officer, unit.officer_id)
    assert first is not None and second is not None
    code = totp_code(unit.totp_seed, clock)
    assert second_factor.accept_totp(db, first, unit.totp_seed, code, clock())
    db.commit()
    assert not second_factor.accept_totp(other, second, unit.totp_seed, code, clock())

    recovery = unit.recovery_codes[0]
    assert second_factor.use_recovery_code(db, first, recovery)
    db.commit()
    assert not second_factor.use_recovery_code(other, second, recovery)
    other.close()


def test_a_changed_argon2_cost_reaches_each_key_at_its_next_sign_in(
    make_app: Callable[..., Flask], unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    from reportline.crypto.kdf import Argon2Cost
    from reportline.crypto.password import read_params

    def cost() -> Argon2Cost:
        db.expire_all()
        officer = db.get(Officer, unit.officer_id)
        assert officer is not None and officer.wrapped_private_key is not None
        return read_params(officer.wrapped_private_key).cost

    before = cost()
    app = make_app(argon2_time_cost=before.time_cost + 1)  # the operator raises the cost
    assert sign_in(app.test_client(), unit, clock).status_code == 303
    assert cost() == Argon2Cost(before.time_cost + 1, before.memory_cost_kib, before.parallelism)
    clock.advance(seconds=30)
    assert sign_in(app.test_client(), unit, clock).status_code == 303  # the new wrap opens


@pytest.mark.parametrize("who", ["unknown account", "wrong password", "right password"])
def test_every_sign_in_runs_argon2id_exactly_once(
    app: Flask, unit: Enrolled, clock: MovableClock, monkeypatch: pytest.MonkeyPatch, who: str
) -> None:
    """The expensive step costs the same whether or not the account exists."""
    from reportline.crypto import password
    from reportline.services import auth, officers

    runs: list[int] = []
    original = password.argon2id

    def counted(*args: object, **kwargs: object) -> bytes:
        runs.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(password, "argon2id", counted)
    assert auth.derive_password_key is password.derive_password_key  # one place to count
    assert officers.derive_password_key is password.derive_password_key
    attempt = Enrolled(unit.email, unit.password, unit.totp_seed, unit.officer_id)
    if who == "unknown account":
        attempt.email = "nobody.here@unit.example"
    elif who == "wrong password":
        attempt.password = "not the password at all"
    sign_in(app.test_client(), attempt, clock)
    assert len(runs) == 1


def test_argon2id_runs_while_no_database_lock_is_held(
    app: Flask,
    unit: Enrolled,
    clock: MovableClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On SQLite a transaction holds the one write lock: an Argon2id run inside it would
    keep every reporter waiting for as long as it takes (and a guesser could keep that
    up). The password is checked between two transactions."""
    from sqlalchemy import create_engine, text

    from reportline.services import auth as auth_service
    from reportline.services import officers as officer_service

    probe = create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        connect_args={"timeout": 0.2} if database_url.startswith("sqlite") else {},
    )
    free: list[bool] = []

    def lock_is_free() -> bool:
        with probe.connect() as connection:
            if database_url.startswith("sqlite"):
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.execute(
                    text("SELECT id FROM officers WHERE id = :id FOR UPDATE NOWAIT"),
                    {"id": unit.officer_id},
                )
            connection.rollback()
        return True

    def watched(original: Any) -> Any:
        def derive(*args: Any, **kwargs: Any) -> Any:
            try:
                free.append(lock_is_free())
            except Exception:
                free.append(False)
            return original(*args, **kwargs)

        return derive

    monkeypatch.setattr(
        officer_service, "derive_password_key", watched(officer_service.derive_password_key)
    )
    monkeypatch.setattr(
        auth_service, "derive_password_key", watched(auth_service.derive_password_key)
    )
    assert sign_in(app.test_client(), unit, clock).status_code == 303  # a known account
    clock.advance(seconds=30)
    ghost = replace(unit, email="nobody@unit.example")
    assert _failed(sign_in(app.test_client(), ghost, clock))  # an unknown one
    probe.dispose()
    assert free == [True, True]


def test_attempts_are_counted_before_their_password_is_checked(
    app: Flask, unit: Enrolled, db: Session, clock: MovableClock
) -> None:
    """Attempts racing in parallel each use up budget before Argon2id runs, so a burst
    cannot buy more password checks than the budget allows."""
    from reportline.services import auth as auth_service
    from reportline.services.errors import Throttled
    from reportline.services.limits import WorkGate

    gate = WorkGate(1, wait_seconds=1)
    client = auth_service.SignInClient(None, None, auth_service.Argon2Gates(gate, gate))
    outcomes = []
    with app.extensions["reportline.sessionmaker"]() as session:  # the app's own kind
        for _ in range(6):  # none of them finishes: their passwords are still "being checked"
            try:
                auth_service.begin_sign_in(
                    session, unit.email, client, clock(), db.info["settings"]
                )
                session.commit()
                outcomes.append("counted")
            except Throttled:
                session.rollback()
                outcomes.append("refused")
    assert outcomes == ["counted"] * 4 + ["refused"] * 2
