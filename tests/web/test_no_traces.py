"""Reporter requests leave no trace: no address, browser, referrer, receipt or exact time."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from reportline.db import Base
from reportline.models import Case, Message, ThrottleBucket
from tests.helpers import (
    Enrolled,
    first_reference,
    follow_up_sign_in,
    officer_writes,
    receipt_fragments,
    reporter_replies,
    submit_report,
)

CLIENT = {
    "REMOTE_ADDR": "10.66.77.88",
    "HTTP_USER_AGENT": "Mozilla/5.0 CanaryBrowser/99.1",
    "HTTP_REFERER": "https://intranet.example/canary-referrer",
}


@pytest.fixture
def log_lines(app: Flask) -> io.StringIO:
    """Everything the app and its libraries log during the test, at every level."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    app.logger.addHandler(handler)
    app.logger.setLevel(logging.DEBUG)
    yield captured
    root.removeHandler(handler)
    app.logger.removeHandler(handler)


def test_reporter_requests_log_no_address_browser_referrer_or_receipt(
    app: Flask, unit: Enrolled, supervisor: FlaskClient, log_lines: io.StringIO
) -> None:
    reporter = app.test_client()
    reporter.environ_base.update(CLIENT)
    receipt = submit_report(reporter)
    follow_up_sign_in(reporter, receipt)
    reporter_replies(reporter, "more detail")
    follow_up_sign_in(app.test_client(), "abacus " * 10)
    reporter.get("/leave")
    officer_writes(supervisor, first_reference(supervisor), "hello")
    logged = log_lines.getvalue()
    for trace in ("10.66.77.88", "CanaryBrowser", "canary-referrer", *receipt_fragments(receipt)):
        assert trace not in logged
    assert "/report" not in logged and "/follow-up" not in logged  # no reporter access log


def test_officer_access_log_names_the_route_and_officer_but_no_address(
    app: Flask, unit: Enrolled, supervisor: FlaskClient, log_lines: io.StringIO
) -> None:
    supervisor.environ_base.update(CLIENT)
    supervisor.get("/triage/")
    logged = log_lines.getvalue()
    assert re.search(r"GET /triage/ 200 officer=\d+", logged)
    assert "10.66.77.88" not in logged and "CanaryBrowser" not in logged


def _crash_on_both_sides(app: Flask) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/crash")
    def crash() -> str:
        raise ValueError("CANARY-IN-EXCEPTION what happened text")

    @app.get("/triage/crash")
    def officer_crash() -> str:
        raise ValueError("CANARY-IN-EXCEPTION officer side")

    assert app.test_client().get("/crash").status_code == 500
    assert app.test_client().get("/triage/crash").status_code in (303, 500)


def test_a_reporter_side_crash_goes_only_to_its_own_file_dated_to_the_day(
    app: Flask, unit: Enrolled, instance_path: object
) -> None:
    shared = io.StringIO()
    app.logger.handlers[0].setStream(shared)  # type: ignore[attr-defined]
    _crash_on_both_sides(app)
    assert "/crash" not in shared.getvalue().replace("/triage/crash", "")
    assert "CANARY-IN-EXCEPTION" not in shared.getvalue()
    own_file = instance_path / "reporter-errors.log"  # type: ignore[operator]
    assert oct(own_file.stat().st_mode & 0o777) == "0o600"
    assert own_file.stat().st_mtime % 86400 == 0  # its own time says the day, nothing more
    lines = own_file.read_text().splitlines()
    line = next(line for line in lines if "Unhandled ValueError on GET /crash" in line)
    assert re.match(r"\d{4}-\d{2}-\d{2} ERROR", line)  # the date, no time
    assert "CANARY-IN-EXCEPTION" not in own_file.read_text()
    assert "/triage" not in own_file.read_text()  # officer-side lines stay in the shared log


def test_the_reporter_error_file_can_be_turned_off(
    make_app: Callable[..., Flask], unit: Enrolled, instance_path: object
) -> None:
    quiet = make_app(reporter_error_log="")
    shared = io.StringIO()
    quiet.logger.handlers[0].setStream(shared)  # type: ignore[attr-defined]
    assert len(quiet.logger.handlers) == 1
    _crash_on_both_sides(quiet)
    assert "GET /crash" not in shared.getvalue()
    assert not (instance_path / "reporter-errors.log").exists()  # type: ignore[operator]


def test_nothing_about_a_reporter_is_stored_finer_than_the_day(
    db: Session, reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    follow_up_sign_in(reporter, submit_report(reporter))
    reporter_replies(reporter, "a reply")
    for model in (Case, Message):
        for column in inspect(model).columns:
            assert column.type.python_type.__name__ != "datetime", f"{model.__name__}.{column.key}"
    assert db.scalars(select(ThrottleBucket)).all() == []


def test_no_table_has_a_column_for_addresses_or_browsers() -> None:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            assert not re.search(r"(^|_)(ip|addr|address|agent|referr)", column.name), (
                f"{table.name}.{column.name}"
            )
