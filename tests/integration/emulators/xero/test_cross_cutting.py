"""What every API call meets: the tenant header, scopes, correlation ids, rate limits, Idempotency-Key,
body size, strict validation against Xero's OpenAPI files."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness, spend_money
from tests.support.xero_spec import requires_spec


def spend_body(bank_account_id: str, reference: str = "PAY-1") -> dict[str, Any]:
    return {"BankTransactions": [spend_money(bank_account_id, Reference=reference)]}


# ------------------------------------------------------------------------------------ tenant and scopes
def test_given_the_tenant_header_in_any_case_when_calling_then_accepted(xero: XeroHarness, tenant: str) -> None:
    for name in ("xero-tenant-id", "Xero-Tenant-Id", "XERO-TENANT-ID"):
        answer = xero.call("GET", "/api.xro/2.0/Organisation", tenant=False, headers={name: tenant})
        assert answer.status_code == 200


@requires_spec
def test_given_no_tenant_header_when_calling_then_403_forbidden_shape(emu: XeroEmulator, xero: XeroHarness) -> None:
    answer = xero.call("GET", "/api.xro/2.0/Organisation", tenant=False)
    assert answer.status_code == 403
    body = answer.json()
    assert (body["Title"], body["Status"], body["Detail"]) == ("Forbidden", 403, "AuthenticationUnsuccessful")
    assert body["Type"] is None
    assert body["Extensions"] == {}
    assert any("xero-tenant-id" in m for v in emu.spec_violations for m in v["messages"])  # a client bug, noted


def test_given_a_tenant_the_token_is_not_connected_to_when_calling_then_403(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    stranger = emu.seed_organisation("Not connected")
    answer = xero.call("GET", "/api.xro/2.0/Organisation", tenant=False, headers={"xero-tenant-id": stranger})
    assert answer.status_code == 403
    assert answer.json()["Detail"] == "AuthenticationUnsuccessful"


def test_given_a_token_without_the_scope_when_calling_then_403(base_url: str, tenant: str) -> None:
    harness = XeroHarness(base_url)
    harness.connect([tenant], scopes="offline_access accounting.contacts")
    assert harness.accounting("GET", "Accounts").status_code == 403
    assert harness.accounting("GET", "Contacts").status_code == 200


def test_given_broad_or_granular_transaction_scopes_then_both_reach_bank_transactions(
    base_url: str, tenant: str
) -> None:
    for scope in ("accounting.transactions", "accounting.banktransactions.read"):
        harness = XeroHarness(base_url)
        harness.connect([tenant], scopes=f"offline_access {scope}")
        assert harness.accounting("GET", "BankTransactions").status_code == 200
    reader = XeroHarness(base_url)
    reader.connect([tenant], scopes="offline_access accounting.banktransactions.read")
    assert reader.accounting("PUT", "BankTransactions", json={"BankTransactions": []}).status_code == 403


def test_given_any_response_then_it_carries_a_xero_correlation_id(xero: XeroHarness, base_url: str) -> None:
    answers = [
        xero.accounting("GET", "Organisation"),
        xero.accounting("GET", "Nowhere"),
        requests.get(f"{base_url}/api.xro/2.0/Organisation"),
        xero.call("GET", "/connections", tenant=False),
        xero.bankfeeds("GET", "FeedConnections"),
        xero.control("GET", "clock"),
    ]
    ids = [a.headers.get("Xero-Correlation-Id") for a in answers]
    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_given_a_wrong_method_or_path_then_405_or_404(xero: XeroHarness) -> None:
    assert xero.accounting("DELETE", "Organisation").status_code == 405
    assert xero.accounting("GET", "NoSuchThing").status_code == 404


# ----------------------------------------------------------------------------------------- rate limits
def test_given_tenant_calls_then_remaining_headers_count_down(xero: XeroHarness) -> None:
    first = xero.accounting("GET", "Organisation")
    second = xero.accounting("GET", "Organisation")
    assert (first.headers["X-MinLimit-Remaining"], second.headers["X-MinLimit-Remaining"]) == ("59", "58")
    assert (first.headers["X-DayLimit-Remaining"], second.headers["X-DayLimit-Remaining"]) == ("4999", "4998")
    assert int(first.headers["X-AppMinLimit-Remaining"]) > int(second.headers["X-AppMinLimit-Remaining"])


def test_given_60_calls_in_a_minute_when_one_more_then_429_minute_until_the_window_rolls(
    clock: ManualClock, xero: XeroHarness
) -> None:
    for _ in range(60):
        assert xero.accounting("GET", "Organisation").status_code == 200
        clock.advance(0.5)
    refused = xero.accounting("GET", "Organisation")
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert refused.headers["Retry-After"] == "30"  # the first call (30 s ago) leaves the window in 30 s
    assert refused.headers["X-MinLimit-Remaining"] == "0"
    clock.advance(29)
    assert xero.accounting("GET", "Organisation").status_code == 429
    clock.advance(1)
    assert xero.accounting("GET", "Organisation").status_code == 200


def test_given_the_day_limit_reached_then_429_day(emu: XeroEmulator, clock: ManualClock, xero: XeroHarness) -> None:
    emu.configure(tenant_day_limit=3)
    for _ in range(3):
        assert xero.accounting("GET", "Organisation").status_code == 200
        clock.advance(120)
    refused = xero.accounting("GET", "Organisation")
    assert (refused.status_code, refused.headers["X-Rate-Limit-Problem"]) == (429, "day")
    assert int(refused.headers["Retry-After"]) > 3600


def test_given_the_app_minute_limit_reached_across_tenants_then_429_appminute(emu: XeroEmulator, base_url: str) -> None:
    emu.configure(app_minute_limit=2)
    first, second = emu.seed_organisation("A"), emu.seed_organisation("B")
    harness = XeroHarness(base_url)
    harness.connect([first, second])
    assert harness.call("GET", "/api.xro/2.0/Organisation", tenant=False, headers={"xero-tenant-id": first}).ok
    assert harness.call("GET", "/api.xro/2.0/Organisation", tenant=False, headers={"xero-tenant-id": second}).ok
    refused = harness.call("GET", "/connections", tenant=False)
    assert (refused.status_code, refused.headers["X-Rate-Limit-Problem"]) == (429, "appminute")


def test_given_the_calls_in_flight_at_the_limit_when_another_arrives_then_429_concurrent(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    emu.configure(tenant_concurrent_limit=2)
    # Two calls held in flight for 0.6 real seconds after being processed.
    emu.add_fault("timeout", path="*/Organisation", commit=True, hold_s=0.6, times=2)
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(
                requests.get(xero.base_url + "/api.xro/2.0/Organisation", headers=xero.headers(), timeout=5).status_code
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while emu.rate_limiter.in_flight(xero.client_id, tenant) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    refused = requests.get(xero.base_url + "/api.xro/2.0/Accounts", headers=xero.headers(), timeout=5)
    for thread in threads:
        thread.join()
    assert (refused.status_code, refused.headers["X-Rate-Limit-Problem"]) == (429, "concurrent")
    assert refused.headers["Retry-After"] == "1"
    assert statuses == [200, 200]


# ----------------------------------------------------------------------------------------- idempotency
def test_given_a_repeated_key_and_body_when_put_then_the_first_answer_again_and_one_write(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    body = spend_body(bank_account_id)
    first = xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "sync-1"})
    second = xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "sync-1"})
    assert (
        first.json()["BankTransactions"][0]["BankTransactionID"]
        == second.json()["BankTransactions"][0]["BankTransactionID"]
    )
    assert len(emu.bank_transactions(tenant)) == 1
    assert [e["replayed"] for e in emu.request_log if e["method"] == "PUT"] == [False, True]
    assert emu.request_log[-1]["idempotency_key"] == "sync-1"


def test_given_a_repeated_key_with_another_body_when_put_then_400(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    xero.accounting("PUT", "BankTransactions", json=spend_body(bank_account_id, "A"), headers={"Idempotency-Key": "k"})
    answer = xero.accounting(
        "PUT", "BankTransactions", json=spend_body(bank_account_id, "B"), headers={"Idempotency-Key": "k"}
    )
    assert answer.status_code == 400
    assert answer.json()["Message"] == "Idempotency Key: k is used with a different request."
    assert [t["Reference"] for t in emu.bank_transactions(tenant)] == ["A"]


def test_given_a_repeated_key_on_another_url_or_method_when_sent_then_400(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    # Xero's guide: the same key with a different URL, body or method is refused
    body = spend_body(bank_account_id)
    assert xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "k"}).status_code == 200
    contact = {"Contacts": [{"Name": "Acme"}]}
    other_url = xero.accounting("PUT", "Contacts", json=contact, headers={"Idempotency-Key": "k"})
    other_method = xero.accounting("POST", "BankTransactions", json=body, headers={"Idempotency-Key": "k"})
    for answer in (other_url, other_method):
        assert answer.status_code == 400
        assert answer.json()["Message"] == "Idempotency Key: k is used with a different request."
    assert len(emu.bank_transactions(tenant)) == 1
    assert [c["Name"] for c in emu.contacts(tenant) if c["Name"] == "Acme"] == []


def test_given_a_key_in_another_case_when_repeated_then_the_same_key(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    # Xero's guide: keys are not case-sensitive
    body = spend_body(bank_account_id)
    first = xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "Sync-AB"})
    again = xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "sync-ab"})
    assert first.json()["BankTransactions"] == again.json()["BankTransactions"]
    assert len(emu.bank_transactions(tenant)) == 1


def test_given_a_key_older_than_six_minutes_when_reused_then_a_new_write(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    body = spend_body(bank_account_id)
    xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "k"})
    clock.advance(359)
    xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "k"})
    assert len(emu.bank_transactions(tenant)) == 1
    clock.advance(1)
    xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "k"})
    assert len(emu.bank_transactions(tenant)) == 2


def test_given_a_key_longer_than_128_characters_then_400(xero: XeroHarness, bank_account_id: str) -> None:
    answer = xero.accounting(
        "PUT", "BankTransactions", json=spend_body(bank_account_id), headers={"Idempotency-Key": "k" * 129}
    )
    assert answer.status_code == 400
    assert "128" in answer.json()["Message"]


def test_given_an_internal_error_under_a_key_when_retried_with_it_then_the_error_again_until_a_new_key(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    emu.add_fault("error", path="*/BankTransactions", method="PUT", status=500, times=1)
    body = spend_body(bank_account_id)
    first = xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "k"})
    retry = xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "k"})
    assert (first.status_code, retry.status_code) == (500, 500)
    assert emu.bank_transactions(tenant) == []
    assert xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "k2"}).status_code == 200


def test_given_a_repeated_key_on_statements_then_no_second_statement(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    feed = {"accountToken": "t", "accountNumber": "1", "accountName": "n", "accountType": "BANK", "currency": "HKD"}
    feed_id = xero.bankfeeds("POST", "FeedConnections", json={"items": [feed]}).json()["items"][0]["id"]
    body = {
        "items": [
            {
                "feedConnectionId": feed_id,
                "startDate": "2026-02-01",
                "endDate": "2026-02-01",
                "startBalance": {"amount": 1, "creditDebitIndicator": "CREDIT"},
                "endBalance": {"amount": 1, "creditDebitIndicator": "CREDIT"},
            }
        ]
    }
    first = xero.bankfeeds("POST", "Statements", json=body, headers={"Idempotency-Key": "s"})
    second = xero.bankfeeds("POST", "Statements", json=body, headers={"Idempotency-Key": "s"})
    assert first.json() == second.json()
    assert len(emu.statements(tenant)) == 1


# ------------------------------------------------------------------------------------------- body size
def test_given_an_accounting_body_over_the_limit_then_413(
    emu: XeroEmulator, xero: XeroHarness, bank_account_id: str
) -> None:
    emu.configure(accounting_max_body_bytes=1000)
    body = spend_body(bank_account_id, "x" * 2000)
    answer = xero.accounting("PUT", "BankTransactions", json=body)
    assert answer.status_code == 413
    assert answer.json()["Title"] == "RequestEntityTooLarge"


# -------------------------------------------------------------------------------------------- strictness
@requires_spec
def test_given_valid_requests_of_the_whole_product_flow_then_no_spec_violations(
    emu: XeroEmulator, xero: XeroHarness, bank_account_id: str
) -> None:
    xero.accounting("GET", "Organisation")
    xero.accounting("GET", "Accounts", params={"where": 'Type=="BANK"'})
    created = xero.accounting(
        "PUT", "BankTransactions", json=spend_body(bank_account_id), params={"summarizeErrors": "false"}
    )
    transaction_id = created.json()["BankTransactions"][0]["BankTransactionID"]
    xero.accounting(
        "PUT",
        f"BankTransactions/{transaction_id}/Attachments/r.jpg",
        data=b"\xff\xd8",
        headers={"Content-Type": "application/octet-stream"},
    )
    xero.call("GET", "/connections", tenant=False)
    xero.bankfeeds("GET", "FeedConnections", params={"page": "1", "pageSize": "50"})
    assert emu.spec_violations == []


@requires_spec
def test_given_a_malformed_value_when_put_then_400_post_data_invalid_and_a_recorded_violation(
    emu: XeroEmulator, xero: XeroHarness, bank_account_id: str
) -> None:
    body = spend_body(bank_account_id)
    body["BankTransactions"][0]["Type"] = "SPENDING"
    answer = xero.accounting("PUT", "BankTransactions", json=body)
    assert answer.status_code == 400
    assert answer.json()["Type"] == "PostDataInvalidException"
    (violation,) = emu.spec_violations
    assert violation["template"] == "/BankTransactions"
    assert "SPENDING" in violation["messages"][0]


@requires_spec
def test_given_a_missing_required_field_then_recorded_and_xeros_own_message_answers(
    emu: XeroEmulator, xero: XeroHarness, bank_account_id: str
) -> None:
    body = spend_body(bank_account_id)
    del body["BankTransactions"][0]["LineItems"]
    answer = xero.accounting("PUT", "BankTransactions", json=body, params={"summarizeErrors": "false"})
    assert answer.json()["BankTransactions"][0]["ValidationErrors"] == [
        {"Message": "One or more line items must be specified"}
    ]
    assert "'LineItems' is a required property" in emu.spec_violations[0]["messages"][0]


@requires_spec
def test_given_a_malformed_bank_feeds_body_then_400_invalid_request_and_a_violation(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    answer = xero.bankfeeds(
        "POST", "FeedConnections", json={"items": [{"accountToken": "t", "accountType": "SAVINGS"}]}
    )
    assert answer.status_code == 400
    assert answer.json()["type"] == "invalid-request"
    assert emu.spec_violations[0]["api"] == "bankfeeds"


def test_given_strict_mode_off_then_nothing_is_recorded(clock: ManualClock) -> None:
    lenient = XeroEmulator(clock=clock, strict=False)
    base_url = lenient.start()
    try:
        tenant = lenient.seed_organisation()
        harness = XeroHarness(base_url)
        harness.connect([tenant])
        harness.call("GET", "/api.xro/2.0/Organisation", tenant=False)
        assert lenient.spec_violations == []
        assert lenient.strict is False
    finally:
        lenient.stop()


@pytest.mark.parametrize("header", ["Accept", "accept"])
def test_given_accept_json_in_any_case_then_json(xero: XeroHarness, header: str) -> None:
    answer = xero.call("GET", "/api.xro/2.0/Organisation", headers={header: "application/json"})
    assert answer.headers["Content-Type"].startswith("application/json")
