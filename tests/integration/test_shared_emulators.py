"""The Xero and ledger emulators are shared by the tests of a process (tests/integration/conftest.py) and reset
before each: a test that sets everything a test can set leaves nothing the next test could meet. What the emulator
shows after a reset is what a new emulator shows."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from emulators.ledger import LedgerEmulator, RecordingPublisher
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness


def _what_xero_shows(xero: XeroEmulator) -> dict[str, Any]:
    return {"organisations": xero.organisations(), "connections": xero.connections(),
            "disconnections": xero.disconnections(), "token_stats": xero.token_stats(),
            "request_log": xero.request_log, "spec_violations": xero.spec_violations, "faults": xero.faults(),
            "fired_faults": xero.fired_faults(), "settings": xero.config.as_dict()}


def _minute_left(harness: XeroHarness) -> str:
    answer = harness.accounting("GET", "Accounts")
    assert answer.status_code == 200, answer.text
    return str(answer.headers["X-MinLimit-Remaining"])


def _write(harness: XeroHarness, key: str, name: str) -> requests.Response:
    return harness.accounting("PUT", "Contacts", json={"Contacts": [{"Name": name}]},
                              headers={"Idempotency-Key": key})


def test_a_reset_xero_emulator_is_as_new_whatever_the_test_before_set(xero: XeroEmulator) -> None:
    new = _what_xero_shows(XeroEmulator(strict=xero.strict))
    # Given a test that connected, wrote under an Idempotency-Key, spent its per-minute calls, planned faults,
    # changed settings, moved Xero's clock and left an answer held by a timeout fault
    tenant = xero.seed_organisation("Before Ltd")
    before = XeroHarness(str(xero.base_url))
    before.connect([tenant])
    assert _write(before, "key-1", "Acme").status_code == 200
    assert _minute_left(before) == "58"
    xero.configure(tenant_minute_limit=3, feed_connection_delay_s=600)
    xero.add_fault("error", method="GET", path="*/Contacts", times=None)
    xero.advance_clock(7200)
    xero.add_fault("timeout", path="*/TrackingCategories", hold_s=120)
    held: list[BaseException | requests.Response] = []

    def wait_for_the_held_answer() -> None:
        try:
            held.append(before.accounting("GET", "TrackingCategories"))
        except requests.RequestException as error:
            held.append(error)

    waiting = threading.Thread(target=wait_for_the_held_answer)
    waiting.start()
    while not xero.fired_faults() or len(xero.fired_faults()) < 1:
        time.sleep(0.01)
    assert _what_xero_shows(xero) != new

    # When the emulator is reset for the next test
    xero.reset()

    # Then the held answer leaves at once (and is not logged), and the emulator shows what a new one shows
    waiting.join(timeout=10)
    assert not waiting.is_alive() and held, "the held answer was released by the reset"
    assert _what_xero_shows(xero) == new
    assert abs(xero.now() - time.time()) < 60, "no clock offset left"
    # And nothing the earlier test had is honoured: its tokens, its organisation, its counters, its keys
    assert before.accounting("GET", "Accounts").status_code == 401
    tenant = xero.seed_organisation("After Ltd")
    after = XeroHarness(str(xero.base_url))
    after.connect([tenant])
    assert _minute_left(after) == "59"
    assert _write(after, "key-1", "Another name").status_code == 200, "an Idempotency-Key of before is not known"
    assert after.accounting("GET", "Contacts").status_code == 200, "no fault of before is planned"


def test_a_reset_ledger_emulator_is_as_new_whatever_the_test_before_set(ledger: LedgerEmulator) -> None:
    def shows(emulator: LedgerEmulator) -> dict[str, Any]:
        return {"businesses": emulator.list_businesses(), "events": emulator.events(),
                "faults": emulator.faults.pending, "fired": emulator.faults.fired_total,
                "event_faults": emulator.event_faults.as_json(), "publish_errors": emulator.publish_errors,
                "publisher": emulator.event_publisher}

    new = shows(LedgerEmulator())
    # Given a test that made a business with a posting, planned faults, changed the events' delivery and their
    # publisher, and saw a publish error
    business = ledger.create_business("SG")
    account = ledger.create_account(business.business_id, "HKD")
    ledger.post_transaction(account.account_id, "12.00", "DEBIT")
    ledger.faults.add(503, count=None, probability=0.5)
    ledger.event_faults.configure(lose=0.5, seed=3)
    ledger.event_publisher = RecordingPublisher()
    ledger.publish_errors.append(RuntimeError("EventBridge said no"))
    assert shows(ledger) != new

    # When the emulator is reset for the next test, it shows what a new one shows
    ledger.reset()
    assert shows(ledger) == new
    with pytest.raises(Exception, match="No account"):
        ledger.get_account(account.account_id)
