"""The contract's read endpoints over real HTTP: shapes, 404 codes, the error body, X-Request-Id."""

from __future__ import annotations

import re

import pytest

from emulators.ledger import Counterparty, LedgerEmulator, generated_spec
from emulators.time_control import ManualClock
from tests.integration.emulators.ledger.ledger_http import T0, LedgerHttp

TRANSACTION_FIELDS = {
    "transaction_id",
    "account_id",
    "business_id",
    "sequence",
    "posted_at",
    "amount",
    "direction",
    "currency",
    "running_balance",
    "counterparty",
    "reference",
    "description",
    "type",
    "spend_category",
    "attachments",
    "version",
    "updated_at",
}


@pytest.fixture
def sg_account(ledger: LedgerEmulator) -> tuple[str, str]:
    business = ledger.create_business("SG", "Acme Trading Pte. Ltd.", business_id="biz_acme")
    account = ledger.create_account(
        business.business_id, "SGD", name="SGD Operating", account_number="0123456789", account_id="acc_sgd"
    )
    return business.business_id, account.account_id


def test_given_a_business_when_read_then_profile_has_exactly_the_contract_fields(
    http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    response = http.get("/v1/businesses/biz_acme")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "business_id": "biz_acme",
        "legal_name": "Acme Trading Pte. Ltd.",
        "incorporation_country": "SG",
    }


def test_given_accounts_when_listed_then_each_has_the_contract_shape(
    ledger: LedgerEmulator, http: LedgerHttp, clock: ManualClock, sg_account: tuple[str, str]
) -> None:
    # Given a second account opened an hour later
    clock.advance(3600)
    ledger.create_account("biz_acme", "usd", account_id="acc_usd")

    # When
    response = http.get("/v1/businesses/biz_acme/accounts")

    # Then both come back in creation order, currency upper-cased, times in UTC with a Z
    assert response.status_code == 200
    accounts = response.json()["accounts"]
    assert [a["account_id"] for a in accounts] == ["acc_sgd", "acc_usd"]
    assert accounts[0] == {
        "account_id": "acc_sgd",
        "business_id": "biz_acme",
        "currency": "SGD",
        "account_number": "0123456789",
        "name": "SGD Operating",
        "status": "ACTIVE",
        "opened_at": "2026-11-20T08:15:00Z",
    }
    assert accounts[1]["currency"] == "USD"
    assert accounts[1]["opened_at"] == "2026-11-20T09:15:00Z"
    assert http.get("/v1/accounts/acc_usd").json() == accounts[1]


def test_given_a_posting_when_read_singly_then_every_contract_field_is_there(
    ledger: LedgerEmulator, http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    # Given an opening credit and a categorised debit with one receipt
    ledger.post_transaction("acc_sgd", "100000.00", "CREDIT", description="Capital")
    receipt = generated_spec("pdf", 5_000, seed=3, file_name="receipt.pdf")
    txn = ledger.post_transaction(
        "acc_sgd",
        "1250.00",
        "DEBIT",
        counterparty=Counterparty("Pacific Office Supplies", "998877"),
        reference="INV-2231",
        description="Office chairs",
        spend_category="office_supplies",
        attachments=[receipt],
    )

    # When
    body = http.get(f"/v1/accounts/acc_sgd/transactions/{txn.transaction_id}").json()

    # Then
    assert set(body) == TRANSACTION_FIELDS
    attachment = body.pop("attachments")[0]
    assert body == {
        "transaction_id": txn.transaction_id,
        "account_id": "acc_sgd",
        "business_id": "biz_acme",
        "sequence": 2,
        "posted_at": "2026-11-20T08:15:00Z",
        "amount": "1250.00",
        "direction": "DEBIT",
        "currency": "SGD",
        "running_balance": "98750.00",
        "counterparty": {"name": "Pacific Office Supplies", "account_number": "998877"},
        "reference": "INV-2231",
        "description": "Office chairs",
        "type": "TRANSFER",
        "spend_category": "office_supplies",
        "version": 1,
        "updated_at": "2026-11-20T08:15:00Z",
    }
    assert set(attachment) == {"attachment_id", "file_name", "content_type", "size_bytes", "sha256"}
    assert attachment["file_name"] == "receipt.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size_bytes"] == 5_000
    assert re.fullmatch(r"[0-9a-f]{64}", attachment["sha256"])


def test_given_empty_strings_when_posted_then_they_are_present_not_absent(
    ledger: LedgerEmulator, http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    # Given a fee with no counterparty, reference or description
    ledger.post_transaction("acc_sgd", "10", "CREDIT")
    ledger.post_transaction("acc_sgd", "0.50", "DEBIT", type="FEE")

    body = http.get("/v1/accounts/acc_sgd/transactions").json()["transactions"][1]

    assert body["counterparty"] == {"name": "", "account_number": ""}
    assert body["reference"] == ""
    assert body["description"] == ""
    assert body["amount"] == "0.50"
    assert body["running_balance"] == "9.50"
    assert body["spend_category"] is None
    assert body["attachments"] == []


def test_given_a_debit_beyond_the_balance_when_posted_then_the_running_balance_is_negative_and_signed(
    ledger: LedgerEmulator, http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    ledger.post_transaction("acc_sgd", "5.00", "CREDIT")
    ledger.post_transaction("acc_sgd", "17.25", "DEBIT")

    body = http.get("/v1/accounts/acc_sgd/transactions").json()["transactions"][1]

    assert body["running_balance"] == "-12.25"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/businesses/biz_missing", "business_not_found"),
        ("/v1/businesses/biz_missing/accounts", "business_not_found"),
        ("/v1/accounts/acc_missing", "account_not_found"),
        ("/v1/accounts/acc_missing/transactions", "account_not_found"),
        ("/v1/accounts/acc_sgd/transactions/txn_missing", "transaction_not_found"),
        ("/v1/accounts/acc_sgd/transactions/txn_missing/attachments/att_x", "transaction_not_found"),
    ],
)
def test_given_unknown_ids_when_read_then_404_with_the_contract_error_code(
    http: LedgerHttp, sg_account: tuple[str, str], path: str, code: str
) -> None:
    response = http.get(path)

    assert response.status_code == 404
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


def test_given_a_transaction_of_another_account_when_read_through_this_one_then_404(
    ledger: LedgerEmulator, http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    # Given a transaction on a second account of the same business
    other = ledger.create_account("biz_acme", "USD")
    txn = ledger.post_transaction(other.account_id, "1.00", "CREDIT")

    # When it is asked for under the first account
    response = http.get(f"/v1/accounts/acc_sgd/transactions/{txn.transaction_id}")

    # Then the ledger does not leak it across accounts
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "transaction_not_found"


def test_given_an_x_request_id_when_any_call_is_made_then_it_is_echoed_even_on_errors(
    http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    ok = http.get("/v1/businesses/biz_acme", headers={"X-Request-Id": "req-123"})
    missing = http.get("/v1/accounts/nope", headers={"X-Request-Id": "req-456"})
    bad = http.get("/v1/accounts/acc_sgd/transactions?limit=0", headers={"X-Request-Id": "req-789"})

    assert ok.headers["X-Request-Id"] == "req-123"
    assert missing.headers["X-Request-Id"] == "req-456"
    assert bad.headers["X-Request-Id"] == "req-789"


def test_given_no_x_request_id_when_called_then_the_ledger_supplies_one(
    http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    first = http.get("/v1/businesses/biz_acme").headers["X-Request-Id"]
    second = http.get("/v1/businesses/biz_acme").headers["X-Request-Id"]

    assert first
    assert second
    assert first != second


def test_given_an_unknown_route_or_method_when_called_then_the_error_body_is_still_the_contracts(
    http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    unknown = http.get("/v1/nothing-here")
    wrong_method = http.post("/v1/businesses/biz_acme")

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_given_non_ascii_names_when_served_then_json_is_utf8(
    ledger: LedgerEmulator, http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    ledger.post_transaction("acc_sgd", "8.00", "CREDIT", counterparty=Counterparty("深圳光明电子有限公司"))

    response = http.get("/v1/accounts/acc_sgd/transactions")

    assert "深圳光明电子有限公司".encode() in response.content
    assert response.json()["transactions"][0]["counterparty"]["name"] == "深圳光明电子有限公司"


def test_given_an_injected_fault_when_the_contract_api_is_called_then_5xx_once_then_normal(
    ledger: LedgerEmulator, http: LedgerHttp, sg_account: tuple[str, str]
) -> None:
    # Given one 503 armed for transaction listings
    ledger.faults.add(503, count=1, path_contains="/transactions")

    # When
    other = http.get("/v1/accounts/acc_sgd")
    failed = http.get("/v1/accounts/acc_sgd/transactions")
    retried = http.get("/v1/accounts/acc_sgd/transactions")

    # Then only the matching call failed, once, in the contract's error shape
    assert other.status_code == 200
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "ledger_unavailable"
    assert retried.status_code == 200


def test_given_the_clock_moves_when_posting_then_posted_at_follows_it(
    ledger: LedgerEmulator, http: LedgerHttp, clock: ManualClock, sg_account: tuple[str, str]
) -> None:
    clock.advance(86_400 + 59)
    txn = ledger.post_transaction("acc_sgd", "1.00", "CREDIT")

    assert txn.posted_at == T0 + 86_459
    body = http.get(f"/v1/accounts/acc_sgd/transactions/{txn.transaction_id}").json()
    assert body["posted_at"] == "2026-11-21T08:15:59Z"
