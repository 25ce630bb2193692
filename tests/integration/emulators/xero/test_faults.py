"""Planned faults: errors, 429 bursts, timeouts, dropped answers after a committed write, invalid_grant on
the token endpoint, a disconnect from Xero's side; matching by path, method, tenant, count and rhythm."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness, spend_money


def spend_body(bank_account_id: str) -> dict[str, Any]:
    return {"BankTransactions": [spend_money(bank_account_id)]}


def test_given_a_500_fault_when_called_then_xeros_500_body_once(emu: XeroEmulator, xero: XeroHarness) -> None:
    emu.add_fault("error", path="/api.xro/2.0/Organisation", status=500)
    failed = xero.accounting("GET", "Organisation")
    assert failed.status_code == 500
    assert failed.json()["Title"] == "An error occurred"
    assert xero.accounting("GET", "Organisation").status_code == 200


def test_given_a_503_fault_on_bank_feeds_then_503_before_anything_runs(emu: XeroEmulator, xero: XeroHarness) -> None:
    emu.add_fault("error", path="/bankfeeds.xro/1.0/*", status=503)
    answer = xero.bankfeeds("POST", "FeedConnections", json={"items": [{"accountToken": "t"}]})
    assert answer.status_code == 503
    assert emu.spec_violations == []  # the edge answered before strict validation


def test_given_a_500_fault_on_bank_feeds_then_the_internal_error_problem(emu: XeroEmulator, xero: XeroHarness) -> None:
    emu.add_fault("error", path="*/Statements", status=500)
    answer = xero.bankfeeds("GET", "Statements")
    assert answer.status_code == 500
    assert answer.json()["type"] == "internal-error"


def test_given_every_second_call_fails_then_the_rhythm_holds(emu: XeroEmulator, xero: XeroHarness) -> None:
    emu.add_fault("error", path="*/Organisation", status=503, every=2, times=None)
    statuses = [xero.accounting("GET", "Organisation").status_code for _ in range(4)]
    assert statuses == [200, 503, 200, 503]


def test_given_method_tenant_and_regex_filters_then_only_matching_calls_fail(
    emu: XeroEmulator, base_url: str, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    other = emu.seed_organisation("Other")
    emu.add_fault("error", path=r"re:/BankTransactions$", method="PUT", tenant=tenant, status=503, times=None)
    assert xero.accounting("GET", "BankTransactions").status_code == 200
    assert xero.accounting("PUT", "BankTransactions", json=spend_body(bank_account_id)).status_code == 503
    harness = XeroHarness(base_url)
    harness.connect([other])
    other_bank = next(a["AccountID"] for a in emu.accounts(other) if a.get("Code") == "090")
    assert harness.accounting("PUT", "BankTransactions", json=spend_body(other_bank)).status_code == 200


def test_given_a_429_burst_then_retry_after_and_the_problem_then_recovery(emu: XeroEmulator, xero: XeroHarness) -> None:
    emu.add_fault("rate_limit", path="*", times=3, retry_after=7, problem="day")
    refused = [xero.accounting("GET", "Organisation") for _ in range(3)]
    assert {(r.status_code, r.headers["Retry-After"], r.headers["X-Rate-Limit-Problem"]) for r in refused} == {
        (429, "7", "day")
    }
    assert xero.accounting("GET", "Organisation").status_code == 200


def test_given_a_timeout_fault_when_the_client_gives_up_then_nothing_was_written(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    emu.add_fault("timeout", path="*/BankTransactions", method="PUT", hold_s=0.4)
    xero.timeout = 0.1
    with pytest.raises(requests.exceptions.Timeout):
        xero.accounting("PUT", "BankTransactions", json=spend_body(bank_account_id))
    assert emu.bank_transactions(tenant) == []


def test_given_a_committing_timeout_when_the_client_gives_up_then_the_write_happened(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    emu.add_fault("timeout", path="*/BankTransactions", method="PUT", hold_s=0.4, commit=True)
    xero.timeout = 0.1
    with pytest.raises(requests.exceptions.Timeout):
        xero.accounting("PUT", "BankTransactions", json=spend_body(bank_account_id))
    assert len(emu.bank_transactions(tenant)) == 1


def test_given_a_dropped_answer_after_commit_then_a_connection_error_and_the_write_is_there(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    emu.add_fault("drop", path="*/BankTransactions", method="PUT")
    body = spend_body(bank_account_id)
    with pytest.raises(requests.exceptions.ConnectionError):
        xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "once"})
    assert len(emu.bank_transactions(tenant)) == 1
    assert emu.request_log[-1]["dropped"] is True
    retry = xero.accounting("PUT", "BankTransactions", json=body, headers={"Idempotency-Key": "once"})
    assert retry.status_code == 200
    assert (
        retry.json()["BankTransactions"][0]["BankTransactionID"]
        == emu.bank_transactions(tenant)[0]["BankTransactionID"]
    )
    assert len(emu.bank_transactions(tenant)) == 1


def test_given_an_invalid_grant_fault_on_the_token_endpoint_then_one_refresh_fails(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    emu.add_fault("invalid_grant", path="/connect/token")
    assert xero.refresh().json() == {"error": "invalid_grant"}
    assert xero.refresh().status_code == 200


def test_given_a_disconnect_fault_then_that_call_and_later_ones_get_403(emu: XeroEmulator, xero: XeroHarness) -> None:
    emu.add_fault("disconnect", path="*/Accounts")
    assert xero.accounting("GET", "Organisation").status_code == 200
    assert xero.accounting("GET", "Accounts").status_code == 403
    assert xero.accounting("GET", "Organisation").status_code == 403
    assert emu.disconnections()[0]["source"] == "xero"


def test_given_faults_over_http_then_listed_with_counts_and_clearable(xero: XeroHarness) -> None:
    created = xero.control(
        "POST", "faults", {"kind": "error", "path": "*/Organisation", "status": 503, "times": 1}
    ).json()
    xero.accounting("GET", "Organisation")
    (listed,) = xero.control("GET", "faults").json()
    assert (listed["id"], listed["fired"], listed["exhausted"]) == (created["id"], 1, True)
    assert xero.control("DELETE", f"faults/{created['id']}").json() == {"removed": True}
    xero.control("POST", "faults", {"kind": "error", "status": 503})
    xero.control("DELETE", "faults")
    assert xero.control("GET", "faults").json() == []
    assert xero.accounting("GET", "Organisation").status_code == 200


def test_given_an_unknown_fault_kind_over_http_then_400(xero: XeroHarness) -> None:
    answer = xero.control("POST", "faults", {"kind": "meteor"})
    assert answer.status_code == 400
    assert "unknown fault kind" in answer.json()["message"]


def test_given_a_probability_then_about_that_share_fails_and_a_seed_gives_each_request_the_same_fate(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    def run(seed: int) -> list[int]:
        emu.clear_faults()
        emu.advance_clock(61)  # a fresh minute of Xero's rate limit
        emu.add_fault("error", path="*/Accounts", status=503, probability=0.5, seed=seed, times=None)
        return [xero.accounting("GET", "Accounts", params={"where": f'Code=="{n}"'}).status_code for n in range(50)]

    first = run(7)
    assert set(first) == {200, 503} and 12 <= first.count(503) <= 38  # half of 50, give or take
    assert run(7) == first  # the same requests, the same fate
    assert run(8) != first


def test_given_faults_that_fired_then_each_firing_is_reported_with_its_request(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    emu.add_fault("error", path="*/Organisation", status=503, times=2)
    emu.add_fault("rate_limit", path="*/Accounts", problem="day", retry_after=3600, times=1)
    for _ in range(3):
        xero.accounting("GET", "Organisation")
    xero.accounting("GET", "Accounts")
    fired = xero.control("GET", "faults/fired").json()
    assert [(f["kind"], f["status"], f["path"], f["tenant"]) for f in fired[:2]] == [
        ("error", 503, "/api.xro/2.0/Organisation", tenant)] * 2
    assert (fired[2]["kind"], fired[2]["problem"]) == ("rate_limit", "day")
    assert all(f["at"] == emu.now() for f in fired)  # on the emulator's clock


def test_given_a_token_expired_fault_then_the_call_gets_401_and_a_refresh_carries_on(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    emu.add_fault("token_expired", path="*/Organisation")
    answer = xero.accounting("GET", "Organisation")
    assert answer.status_code == 401 and "TokenExpired" in answer.text
    assert xero.accounting("GET", "Accounts").status_code == 401  # the token stays expired
    assert xero.refresh().status_code == 200
    assert xero.accounting("GET", "Organisation").status_code == 200


def test_given_tokens_expired_from_the_control_api_then_every_client_must_refresh(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    assert xero.control("POST", "tokens/expire", {"tenant_id": tenant}).json() == {"expired": 1}
    assert xero.accounting("GET", "Organisation").status_code == 401
    assert xero.refresh().status_code == 200
    assert xero.accounting("GET", "Organisation").status_code == 200
