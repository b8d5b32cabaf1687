"""Reporter requests leave no trace: no address, browser, referrer, receipt or exact time."""

from __future__ import annotations

import io
import logging
import re

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


def test_a_reporter_side_crash_logs_no_message_and_no_time_of_day(
    app: Flask, unit: Enrolled
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    output = io.StringIO()
    app.logger.handlers[0].setStream(output)  # type: ignore[attr-defined]

    @app.get("/crash")
    def crash() -> str:
        raise ValueError("CANARY-IN-EXCEPTION what happened text")

    assert app.test_client().get("/crash").status_code == 500
    err = output.getvalue()
    assert "Unhandled ValueError on GET /crash" in err
    assert "CANARY-IN-EXCEPTION" not in err
    line = next(line for line in err.splitlines() if "Unhandled ValueError" in line)
    assert re.match(r"\d{4}-\d{2}-\d{2} ERROR", line)  # the date, no time


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
