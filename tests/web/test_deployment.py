"""Behind HTTPS and a reverse proxy: forms still work, and only trusted hops are believed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask

from reportline.cli import waitress_options
from reportline.config import load_settings
from tests.helpers import Enrolled, MovableClock, csrf_token, totp_code

HTTPS = "https://reports.force.example"


def test_officers_can_sign_in_over_https_without_a_referer(
    make_app: Callable[..., Flask], unit: Enrolled, clock: MovableClock
) -> None:
    app = make_app(https=True)
    client = app.test_client()
    page = client.get("/triage/login", base_url=HTTPS).get_data(as_text=True)
    response = client.post(
        "/triage/login",
        base_url=HTTPS,
        data={
            "csrf_token": csrf_token(page),
            "email": unit.email,
            "password": unit.password,
            "code": totp_code(unit.totp_seed, clock),
        },
    )
    assert response.status_code == 303
    officer_cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Secure-rl_officer=")
    )
    assert "Secure" in officer_cookie and "Path=/triage" in officer_cookie
    assert client.get("/triage/", base_url=HTTPS).status_code == 200


def test_trusted_proxy_headers_set_the_scheme_and_client_bucket(
    make_app: Callable[..., Flask], unit: Enrolled, clock: MovableClock
) -> None:
    app = make_app(https=True, proxy_hops=1, login_free_attempts=1)

    def guess(address: str, attempt: int) -> int:
        # A different unknown account each time: only the client's bucket is shared.
        client = app.test_client()
        headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
        page = client.get("/triage/login", headers=headers).get_data(as_text=True)
        return client.post(
            "/triage/login",
            headers=headers,
            data={
                "csrf_token": csrf_token(page),
                "email": f"nobody{attempt}@unit.example",
                "password": "wrong password here",
                "code": "123456",
            },
        ).status_code

    assert [guess("10.1.1.1", n) for n in range(5)] == [401, 401, 401, 401, 429]
    other = next(f"10.9.{i}.{i}" for i in range(1, 200) if guess(f"10.9.{i}.{i}", 99) == 401)
    assert other  # some other address falls in another bucket and is not slowed


def test_the_production_server_passes_proxy_headers_on_only_when_proxies_are_configured(
    tmp_path: Path,
) -> None:
    secrets = {"REPORTLINE_SECRET_KEY": "c" * 44, "REPORTLINE_RECEIPT_PEPPER": "d" * 44}
    direct = load_settings(secrets, tmp_path)
    proxied = load_settings({**secrets, "REPORTLINE_PROXY_HOPS": "1"}, tmp_path)
    assert waitress_options(direct)["clear_untrusted_proxy_headers"] is True
    assert waitress_options(proxied)["clear_untrusted_proxy_headers"] is False
    assert waitress_options(direct)["ident"] == ""
