"""Requests to the Xero and ledger emulators handed to their WSGI applications in this process (the soak's
choice, local/http_in_process.py): the product's clients meet the answers, drops, timeouts and retries they meet
over the wire, and nothing goes on it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from local import http_in_process

NOWHERE = "http://127.0.0.1:9"  # nothing listens here: an answer can only have come from this process
TOKEN = {"grant_type": "refresh_token", "refresh_token": "unknown"}


@pytest.fixture
def xero() -> Iterator[XeroEmulator]:
    emulator = XeroEmulator(strict=False)
    emulator.register_app("client", "secret", ["http://127.0.0.1/callback"])
    emulator.start()
    http_in_process.install(NOWHERE, emulator.app)
    try:
        yield emulator
    finally:
        http_in_process.uninstall(NOWHERE)
        emulator.stop()


def _answer(response: requests.Response) -> tuple[int, str, str, bytes]:
    return response.status_code, response.reason, response.headers.get("Content-Type", ""), response.content


def test_an_answer_is_the_one_the_wire_gives(xero: XeroEmulator) -> None:
    assert xero.base_url is not None
    over_the_wire = requests.post(xero.base_url + "/connect/token", data=TOKEN, auth=("client", "secret"), timeout=5)
    in_process = requests.post(NOWHERE + "/connect/token", data=TOKEN, auth=("client", "secret"), timeout=5)
    assert _answer(in_process) == _answer(over_the_wire)
    assert over_the_wire.status_code == 400 and in_process.json() == {"error": "invalid_grant"}
    # the same headers, less those werkzeug's server adds of its own
    server_only = {"date", "server", "connection", "keep-alive"}
    assert ({k.lower() for k in in_process.headers} - server_only
            == {k.lower() for k in over_the_wire.headers} - server_only)
    with requests.Session() as session:  # a session's pooled connection is handed back and used again
        for _ in range(3):
            assert _answer(session.post(NOWHERE + "/connect/token", data=TOKEN, auth=("client", "secret"),
                                        timeout=5)) == _answer(over_the_wire)
    assert http_in_process.handles(NOWHERE + "/connect/token") and not http_in_process.handles(xero.base_url)


def test_a_dropped_answer_is_a_broken_connection(xero: XeroEmulator) -> None:
    # (a timeout fault's answer is dropped once held; held briefly here, well inside the read timeout)
    xero.add_fault("timeout", path="/connect/token", times=1, hold_s=0.01)
    with pytest.raises(requests.ConnectionError) as broken:
        requests.post(NOWHERE + "/connect/token", data=TOKEN, auth=("client", "secret"), timeout=5)
    assert not isinstance(broken.value, requests.Timeout)
    assert "Remote end closed connection" in repr(broken.value)


def test_an_answer_held_past_the_read_timeout_is_a_read_timeout(xero: XeroEmulator) -> None:
    xero.add_fault("timeout", path="/connect/token", times=1, hold_s=0.4)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(NOWHERE + "/connect/token", data=TOKEN, auth=("client", "secret"), timeout=(1, 0.1))
    assert time.monotonic() - started >= 0.4  # (the hold is waited out: the caller cannot leave it early)
    answered = requests.post(NOWHERE + "/connect/token", data=TOKEN, auth=("client", "secret"), timeout=(1, 0.1))
    assert answered.status_code == 400


def test_the_ledger_clients_retries_of_a_read_still_run() -> None:
    """urllib3's Retry (the ledger client's session) sits above the hand-over: two 503s, then the answer."""
    from xerosync.errors import UpstreamUnavailable
    from xerosync.ledger.client import LedgerClient

    ledger = LedgerEmulator()
    business = ledger.create_business("GB", "Retry Ltd")
    http_in_process.install(NOWHERE, ledger.app)
    try:
        ledger.faults.add(503, 2, "/v1/businesses/")
        assert LedgerClient(NOWHERE).business(business.business_id).business_id == business.business_id
        assert ledger.faults.fired_total == 2
        ledger.faults.add(503, 4, "/v1/businesses/")  # one more than the client's three retries
        with pytest.raises(UpstreamUnavailable):
            LedgerClient(NOWHERE).business(business.business_id)
    finally:
        http_in_process.uninstall(NOWHERE)
    with pytest.raises(UpstreamUnavailable):  # uninstalled: the request goes on the wire, where nothing listens
        LedgerClient(NOWHERE).business(business.business_id)
