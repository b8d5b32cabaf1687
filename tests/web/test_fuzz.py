"""Bad input never meets a 500: random and hostile values posted to every form in the URL
map, on every backend.

Each example picks a route from the URL map (so a new form is fuzzed without anyone
remembering), fills the fields of every form with text, control characters, NUL,
huge numbers and odd hidden values, sometimes repeats a field or sends a file part
where text belongs, and always brings a valid CSRF token of the right side, so the
values reach the views. Any status is fine but a 5xx.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportline.services.flood import FloodMeter
from tests.helpers import Enrolled, MovableClock, csrf_token, follow_up_sign_in, submit_report
from tests.web.routes import Route, routes

# Every field name any form or view reads (a fuzzed request sends a few of them).
FIELDS = [
    "category", "what_happened", "when", "where", "who_involved", "how_known",
    "how_known_detail", "at_risk", "at_risk_detail", "submission", "homepage", "proof",
    "receipt", "message", "kind", "status", "reason", "email", "password", "code",
    "confirm", "role", "action", "case", "confirm_delete", "after", "kinds", "how_often",
]  # fmt: skip
# Ending the session would leave every later example at the sign-in page.
NOT_FUZZED = {"triage.logout", "triage.logout_everywhere"}

HOSTILE = st.sampled_from(
    [
        "",
        "\x00",
        "a\x00b",
        "\u202etxt.exe",
        "\ud7ff\ufeff\u200b",
        "'; DROP TABLE cases; --",
        "<script>alert(1)</script>",
        "9" * 5000,
        "-1",
        "0",
        "1e309",
        "NaN",
        "RL-0000-0000",
        "RL-ZZZZ-ZZZZ",
        "v1.AAAAAAAAAAAAAAAAAAAAAA.zz.AAAAAAAAAAAAAAAAAAAAAA",
        "corruption",
        "closed",
        "delete",
        "yes",
        "abacus " * 10,
    ]
)
TEXT = st.one_of(
    HOSTILE,
    st.text(max_size=200),
    st.text(st.characters(max_codepoint=0x20), max_size=40),  # control characters, NUL
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
VALUE = st.one_of(
    TEXT,
    st.lists(TEXT, min_size=2, max_size=3),  # the same field twice or more
    st.binary(max_size=64).map(lambda data: ("file", data)),  # a file part in a text field
)


def _form_data(values: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, tuple):
            data[name] = (io.BytesIO(value[1]), "upload.bin")
        else:
            data[name] = value
    return data


def _token(client: FlaskClient, officer_side: bool) -> str:
    page = client.get("/triage/account" if officer_side else "/report")
    return csrf_token(page.get_data(as_text=True))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_form_ever_answers_with_a_server_error(
    app: Flask,
    samples: dict[str, str | int],
    supervisor: FlaskClient,
    unit: Enrolled,
    clock: MovableClock,
    data: st.DataObject,
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash is a 500 page, reported below
    # Sometimes during a flood, where reports take the proof-of-work path.
    in_flood = data.draw(st.booleans(), label="in a flood")
    app.extensions["reportline.flood_meter"] = FloodMeter(0 if in_flood else 10**9, 600)
    reporter = app.test_client()
    candidates: list[Route] = [r for r in routes(app, samples) if r.endpoint not in NOT_FUZZED]
    route = data.draw(st.sampled_from(candidates), label="route")
    officer_side = route.endpoint.startswith("triage.")
    client = supervisor if officer_side else reporter
    if route.method == "GET":
        query = data.draw(st.dictionaries(st.sampled_from(["page", "status", "next"]), TEXT))
        response = client.get(route.url, query_string=query)
    else:
        names = data.draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique=True))
        values = {name: data.draw(VALUE, label=name) for name in names}
        values["csrf_token"] = _token(client, officer_side)
        response = client.post(route.url, data=_form_data(values))
    assert response.status_code < 500, f"{route}: {response.status_code}"


def test_a_signed_in_reporter_page_survives_the_same_fuzzing(
    app: Flask, unit: Enrolled, reporter: FlaskClient
) -> None:
    """The follow-up case page needs a real reporter session: fuzz its reply once signed in."""
    follow_up_sign_in(reporter, submit_report(reporter))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    token = _token(reporter, officer_side=False)
    for value in ("\x00", "a\x00b", "\u202e" * 3, "9" * 20000, ["one", "two"]):
        response = reporter.post("/follow-up/case", data={"csrf_token": token, "message": value})
        assert response.status_code < 500
    upload = {"csrf_token": token, "message": (io.BytesIO(b"x"), "x.txt")}
    assert reporter.post("/follow-up/case", data=upload).status_code < 500
