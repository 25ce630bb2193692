"""The web console's local site: its page and files, the user token it mints, the emulators' control routes it
forwards, and nothing else (the browser tests in tests/browser walk the page itself)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Request, Response

from emulators.xero import XeroEmulator
from local.authorizer import DevTokenAuthority
from local.console import ConsoleSite

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@pytest.fixture(scope="module")
def xero() -> Iterator[XeroEmulator]:
    emulator = XeroEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def authority() -> DevTokenAuthority:
    return DevTokenAuthority(key_path=None)


@pytest.fixture
def site(authority: DevTokenAuthority, xero: XeroEmulator) -> ConsoleSite:
    return ConsoleSite(authority, xero_url=xero.base_url, ledger_url=None)


def ask(site: ConsoleSite, method: str, path: str, body: Any = None) -> TestResponse | None:
    """The site's answer, over WSGI as the local API serves it; None when it leaves the request to the API."""
    handled: list[bool] = []

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = site(Request(environ))
        handled.append(answer is not None)
        return (answer or Response(status=599))(environ, start_response)

    response = Client(application).open(path, method=method, json=body)
    return response if handled[0] else None


def test_the_page_is_served_at_the_console_and_at_xeros_callback_and_never_cached(site: ConsoleSite) -> None:
    for path in ("/console/", "/xero/callback"):
        page = ask(site, "GET", path)
        assert page is not None and page.status_code == 200 and page.mimetype == "text/html"
        assert b'<script type="module" src="/console/js/main.js">' in page.get_data()
        assert page.headers["Cache-Control"] == "no-store"
    script = ask(site, "GET", "/console/js/main.js")
    assert script is not None and script.status_code == 200 and "javascript" in script.mimetype
    moved = ask(site, "GET", "/console")
    assert moved is not None and moved.status_code in (301, 302) and moved.headers["Location"].endswith("/console/")


def test_files_outside_the_console_and_unknown_ones_are_not_found(site: ConsoleSite) -> None:
    for path in ("/console/../__init__.py", "/console/%2e%2e/seed.py", "/console/js/nope.js"):
        answer = ask(site, "GET", path)
        assert answer is not None and answer.status_code == 404, path


def test_requests_that_are_not_the_consoles_are_left_to_the_api(site: ConsoleSite) -> None:
    assert ask(site, "GET", "/v1/health") is None
    assert ask(site, "POST", "/_local/schedules", {"name": "Hourly"}) is None


def test_a_token_names_the_business_user_and_role_and_only_known_roles_get_one(
        site: ConsoleSite, authority: DevTokenAuthority) -> None:
    minted = ask(site, "POST", "/_local/token", {"business_id": "biz_1", "user_id": "u_fiona", "role": "Finance"})
    assert minted is not None and minted.status_code == 200
    claims = authority.verify("Bearer " + json.loads(minted.get_data())["token"])
    assert (claims["business_id"], claims["sub"], claims["role"]) == ("biz_1", "u_fiona", "Finance")
    assert jwt.get_unverified_header(json.loads(minted.get_data())["token"])["alg"] == "RS256"
    refused = ask(site, "POST", "/_local/token", {"business_id": "biz_1", "user_id": "u_x", "role": "Owner"})
    assert refused is not None and refused.status_code == 400
    assert "Admin, Finance, Employee" in json.loads(refused.get_data())["message"]


def test_the_emulators_control_routes_are_forwarded_and_a_missing_emulator_is_named(
        site: ConsoleSite, xero: XeroEmulator) -> None:
    added = ask(site, "POST", "/_local/xero/faults", {"kind": "rate_limit", "times": 2})
    assert added is not None and added.status_code == 200
    assert [f["kind"] for f in xero.faults()] == ["rate_limit"]
    listed = ask(site, "GET", "/_local/xero/faults")
    assert listed is not None and [f["times"] for f in json.loads(listed.get_data())] == [2]
    unknown = ask(site, "POST", "/_local/xero/faults", {"kind": "flood"})
    assert unknown is not None and unknown.status_code == 400  # the emulator's own answer, passed on
    xero.clear_faults()
    missing = ask(site, "GET", "/_local/ledger/businesses")
    assert missing is not None and missing.status_code == 503
    assert json.loads(missing.get_data())["message"] == "The ledger emulator is not running in this stack."
