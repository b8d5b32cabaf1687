"""Security headers on every response, and friendly error pages that leak nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import Enrolled, follow_up_sign_in, submit_report
from tests.web.routes import routes

EXPECTED_CSP = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}


# Pages with a form that takes files send them ahead in chunks (static/js/evidence.js).
TAKES_FILES = {"reporter.report", "reporter.follow_up_case"}
# An evidence file's body is never run or rendered as a page.
EVIDENCE_BODIES = {"triage.evidence_preview", "triage.evidence_download"}
EVIDENCE_CSP = {"default-src": "'none'", "sandbox": ""}


def assert_secure_headers(headers: object, https: bool = False, endpoint: str = "") -> None:
    """Check every security header, directive by directive."""
    get = headers.get  # type: ignore[attr-defined]
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2]
        for part in get("Content-Security-Policy").split(";")
    )
    if endpoint in EVIDENCE_BODIES and get("Content-Disposition"):
        assert directives == EVIDENCE_CSP
    elif endpoint in TAKES_FILES and not get("Location"):
        assert directives == {**EXPECTED_CSP, "connect-src": "'self'"}
    else:
        assert directives == EXPECTED_CSP
    assert "unsafe-inline" not in get("Content-Security-Policy")
    assert get("X-Content-Type-Options") == "nosniff"
    assert get("Referrer-Policy") == "no-referrer"
    assert get("Cross-Origin-Opener-Policy") == "same-origin"
    assert get("Cross-Origin-Resource-Policy") == "same-origin"
    assert get("Cache-Control") == "no-store"
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in get("Permissions-Policy")
    assert (get("Strict-Transport-Security") is not None) is https
    # (No `Server` header: the production server's own is checked in tests/test_cli.py.)


UNSET_ATTRIBUTE = re.compile(r'\s[\w-]+="None"')


def assert_no_unset_attributes(html: str, where: object) -> None:
    """No attribute on the page holds the word None (a value that was never set)."""
    found = UNSET_ATTRIBUTE.findall(html)
    assert not found, f"{where}: {found}"


def test_every_page_of_both_sides_carries_the_security_headers(
    app: Flask, samples: dict[str, str | int], supervisor: FlaskClient, unit: Enrolled
) -> None:
    reporter = app.test_client()
    follow_up_sign_in(reporter, submit_report(reporter))
    checked = 0
    for route in routes(app, samples):
        if route.method != "GET":
            continue
        # Each page as a stranger sees it (the sign-in page, say) and as its own side does.
        own_side = supervisor if route.endpoint.startswith("triage.") else reporter
        for client in (app.test_client(), own_side):
            response = client.get(route.url)
            assert_secure_headers(response.headers, endpoint=route.endpoint)
            assert_no_unset_attributes(response.get_data(as_text=True), route)
            assert client.head(route.url).status_code == response.status_code, str(route)
        checked += 1
    with reporter.get("/static/css/reportline.css") as static_file:
        assert_secure_headers(static_file.headers)
    assert checked >= 12


def test_https_deployments_add_hsts_and_host_prefixed_secure_cookies(
    make_app: Callable[..., Flask],
) -> None:
    secure_app = make_app(https=True)
    client = secure_app.test_client()
    response = client.get("/report", base_url="https://reports.example")
    assert_secure_headers(response.headers, https=True, endpoint="reporter.report")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-rl_session=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie


@pytest.mark.parametrize("path", ["/no-such-page", "/triage/no-such-page"])
def test_a_missing_page_is_a_friendly_404_in_the_sites_design(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html and "reportline.css" in html
    assert_secure_headers(response.headers)


def test_a_wrong_method_gets_a_friendly_405(app: Flask) -> None:
    response = app.test_client().delete("/report")
    assert response.status_code == 405
    assert "That action is not possible here" in response.get_data(as_text=True)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.headers["Content-Type"].startswith("text/html")


def test_an_oversized_body_is_refused_with_413_and_nothing_stored(
    app: Flask, unit: Enrolled
) -> None:
    response = app.test_client().post("/report", data={"what_happened": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "too much to send" in response.get_data(as_text=True)


def test_a_server_error_shows_no_stack_trace_or_framework_banner(app: Flask) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/explode")
    def explode() -> str:
        raise RuntimeError("secret detail <script>alert(1)</script>")

    response = app.test_client().get("/explode")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in html
    for leak in ("Traceback", "RuntimeError", "secret detail", "<script>", "Werkzeug", "Flask"):
        assert leak not in html
    assert_secure_headers(response.headers)


def test_nothing_typed_into_a_url_is_reflected_unescaped(app: Flask) -> None:
    response = app.test_client().get('/language/cy?next=/"><script>alert(1)</script>')
    assert response.status_code == 303
    html = app.test_client().get('/triage/cases/"><script>x</script>').get_data(as_text=True)
    assert "<script>x</script>" not in html


def test_the_language_switch_never_redirects_off_site(app: Flask) -> None:
    for target in (
        "https://evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "/%5Cevil.example",  # a backslash, which browsers read as a slash
        "/%5C%5Cevil.example",
        "/%09/evil.example",  # a tab, which browsers drop
        "/%0A/evil.example",
        "/triage/",  # not a reporter page
        "/no-such-page",
    ):
        response = app.test_client().get(f"/language/cy?next={target}")
        assert response.headers["Location"] == "/", target


def test_the_language_switch_returns_to_the_reporter_page_it_was_used_on(app: Flask) -> None:
    for target in ("/report", "/follow-up", "/"):
        response = app.test_client().get(f"/language/cy?next={target}")
        assert response.headers["Location"] == target
