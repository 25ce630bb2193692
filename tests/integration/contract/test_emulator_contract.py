"""Every emulator response on the paths the product uses validates against Xero's official OpenAPI files,
successes and documented errors alike (the requests made here are valid too)."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness, spend_money
from emulators.xero.spec import XeroSpecs
from tests.integration.contract.traffic import CheckedTraffic

pytestmark = pytest.mark.contract


def assert_clean(traffic: CheckedTraffic, emu: XeroEmulator, expected_calls: int) -> None:
    assert len(traffic.checked) >= expected_calls, traffic.checked
    assert [(v.direction, v.method, v.template, v.status, v.messages) for v in traffic.violations] == []
    assert emu.spec_violations == []  # the emulator's own strict check agrees


def spend(bank_account_id: str, **overrides: Any) -> dict[str, Any]:
    return spend_money(bank_account_id, line={"Tracking": [{"Name": "Region", "Option": "North"}]}, **overrides)


def test_identity_connections(emu: XeroEmulator, xero: XeroHarness, traffic: CheckedTraffic) -> None:
    (connection,) = xero.call("GET", "/connections", tenant=False).json()
    xero.call("GET", "/connections", params={"authEventId": connection["authEventId"]}, tenant=False)
    assert xero.call("DELETE", f"/connections/{connection['id']}", tenant=False).status_code == 204
    assert xero.call("DELETE", f"/connections/{connection['id']}", tenant=False).status_code == 404
    assert_clean(traffic, emu, 4)


def test_accounting_reference_data(emu: XeroEmulator, xero: XeroHarness, traffic: CheckedTraffic) -> None:
    assert xero.accounting("GET", "Organisation").status_code == 200
    xero.accounting("GET", "Organisation/Actions")
    accounts = xero.accounting("GET", "Accounts", params={"where": 'Type=="BANK"&&Status=="ACTIVE"'}).json()
    xero.accounting(
        "GET", "Accounts", params={"where": 'Status=="ACTIVE"&&EnablePaymentsToAccount==true', "order": "Code"}
    )
    xero.accounting("GET", "Accounts", headers={"If-Modified-Since": "2026-01-01T00:00:00Z"})
    xero.accounting("GET", f"Accounts/{accounts['Accounts'][0]['AccountID']}")
    xero.accounting("GET", "TaxRates")
    xero.accounting("GET", "TrackingCategories", params={"includeArchived": "true"})
    xero.accounting("GET", "Currencies")
    xero.accounting("GET", "Contacts", params={"where": 'Name=="Acme Supplies Ltd"'})
    xero.accounting("PUT", "Contacts", json={"Contacts": [{"Name": "New Supplier", "EmailAddress": "a@b.hk"}]})
    xero.accounting("PUT", "Contacts", json={"Contacts": [{"Name": "New Supplier"}]})  # 400 ValidationException
    assert_clean(traffic, emu, 12)


def test_accounting_bank_transactions_and_attachments(
    emu: XeroEmulator, xero: XeroHarness, traffic: CheckedTraffic
) -> None:
    bank = next(a["AccountID"] for a in emu.accounts(xero.tenant_id or "") if a.get("Code") == "090")
    mixed = xero.accounting(
        "PUT",
        "BankTransactions",
        json={"BankTransactions": [spend(bank), spend(bank, Reference="bad", CurrencyCode="EUR")]},
        params={"summarizeErrors": "false", "unitdp": "4"},
        headers={"Idempotency-Key": "contract-1"},
    )
    transaction_id = mixed.json()["BankTransactions"][0]["BankTransactionID"]
    refused = xero.accounting("PUT", "BankTransactions", json={"BankTransactions": [spend(bank, LineItems=[])]})
    assert refused.status_code == 400
    update = {"BankTransactions": [{**spend(bank), "BankTransactionID": transaction_id, "Reference": "PAY-1b"}]}
    xero.accounting("POST", "BankTransactions", json=update)
    xero.accounting("POST", f"BankTransactions/{transaction_id}", json=update)
    xero.accounting(
        "GET",
        "BankTransactions",
        params={"where": 'Type=="SPEND"', "page": "1", "pageSize": "50", "order": "Date DESC"},
    )
    xero.accounting("GET", f"BankTransactions/{transaction_id}", params={"unitdp": "4"})
    path = f"BankTransactions/{transaction_id}/Attachments"
    binary = {"Content-Type": "application/octet-stream"}  # as the specification declares the body
    xero.accounting("PUT", f"{path}/receipt.pdf", data=b"%PDF-1.4", headers=binary)
    xero.accounting("POST", f"{path}/receipt.pdf", data=b"%PDF-1.5", headers=binary)
    xero.accounting("PUT", f"{path}/photo.jpg", data=b"\xff\xd8\xff", headers=binary)
    xero.accounting("GET", path)
    xero.accounting("GET", f"{path}/receipt.pdf", headers={"contentType": "application/pdf"})
    emu.set_reconciled(xero.tenant_id or "", transaction_id)
    reconciled = xero.accounting("POST", "BankTransactions", json=update)
    assert reconciled.status_code == 400
    assert_clean(traffic, emu, 12)


def test_bankfeeds_feed_connections(emu: XeroEmulator, xero: XeroHarness, traffic: CheckedTraffic) -> None:
    feed = {
        "accountToken": "t-1",
        "accountNumber": "123-456",
        "accountName": "Aspire HKD",
        "accountType": "BANK",
        "currency": "HKD",
    }
    created = xero.bankfeeds("POST", "FeedConnections", json={"items": [feed]}, headers={"Idempotency-Key": "fc-1"})
    assert created.status_code == 202
    rejected = xero.bankfeeds("POST", "FeedConnections", json={"items": [feed]})
    assert rejected.status_code == 400
    feed_id = created.json()["items"][0]["id"]
    xero.bankfeeds("GET", "FeedConnections", params={"page": "1", "pageSize": "10"})
    emu.settle_pending()
    xero.bankfeeds("GET", f"FeedConnections/{feed_id}")
    xero.bankfeeds("GET", "FeedConnections")
    xero.bankfeeds("POST", "FeedConnections/DeleteRequests", json={"items": [{"id": feed_id}]})
    assert_clean(traffic, emu, 6)


def test_bankfeeds_statements(emu: XeroEmulator, xero: XeroHarness, traffic: CheckedTraffic) -> None:
    feed = {
        "accountToken": "t-2",
        "accountNumber": "789",
        "accountName": "Aspire USD",
        "accountType": "BANK",
        "currency": "USD",
    }
    feed_id = xero.bankfeeds("POST", "FeedConnections", json={"items": [feed]}).json()["items"][0]["id"]
    emu.settle_pending()

    def statement(start: float, end: float, lines: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
        item = {
            "feedConnectionId": feed_id,
            "startDate": "2026-02-01",
            "endDate": "2026-02-28",
            "startBalance": {"amount": start, "creditDebitIndicator": "CREDIT"},
            "endBalance": {"amount": end, "creditDebitIndicator": "CREDIT"},
            "statementLines": lines,
        }
        item.update(overrides)
        return item

    line = {
        "postedDate": "2026-02-10",
        "description": "Card payment",
        "amount": 25.5,
        "creditDebitIndicator": "DEBIT",
        "transactionId": "tx-1",
        "payeeName": "Cafe",
        "reference": "ref",
        "chequeNumber": "12",
        "transactionType": "Card",
    }
    accepted = xero.bankfeeds(
        "POST", "Statements", json={"items": [statement(100, 74.5, [line])]}, headers={"Idempotency-Key": "st-1"}
    )
    assert accepted.status_code == 202
    assert xero.bankfeeds("POST", "Statements", json={"items": [statement(100, 74.5, [line])]}).status_code == 409
    assert (
        xero.bankfeeds(
            "POST", "Statements", json={"items": [statement(100, 99, [{**line, "transactionId": "tx-2"}])]}
        ).status_code
        == 422
    )
    assert (
        xero.bankfeeds("POST", "Statements", json={"items": [statement(1, 1, [], endDate="2026-01-01")]}).status_code
        == 422
    )
    too_long = {**line, "transactionId": "tx-3", "chequeNumber": "1" * 21}
    assert xero.bankfeeds("POST", "Statements", json={"items": [statement(100, 74.5, [too_long])]}).status_code == 400
    emu.configure(statements_max_body_bytes=100)
    assert xero.bankfeeds("POST", "Statements", json={"items": [statement(100, 74.5, [line])]}).status_code == 413
    emu.settle_pending()
    xero.bankfeeds("GET", "Statements", params={"page": "1", "pageSize": "5"})
    xero.bankfeeds("GET", f"Statements/{accepted.json()['items'][0]['id']}")
    assert_clean(traffic, emu, 9)


def test_errors_the_gateway_answers_are_not_documented_and_need_no_schema(
    emu: XeroEmulator, xero: XeroHarness, traffic: CheckedTraffic
) -> None:
    emu.add_fault("rate_limit", path="*/Organisation", times=1)
    assert xero.accounting("GET", "Organisation").status_code == 429
    assert (
        xero.call(
            "GET",
            "/api.xro/2.0/Organisation",
            tenant=False,
            headers={"xero-tenant-id": "8a0f1b6e-1111-4c1a-9c1a-000000000001"},
        ).status_code
        == 403
    )
    xero.access_token = "expired"
    assert xero.accounting("GET", "Organisation").status_code == 401
    assert_clean(traffic, emu, 3)


def test_the_spec_loader_reads_xeros_files_as_yaml_1_2(xero_specs: XeroSpecs) -> None:
    # YAML 1.1 would turn the country code NO into False and refuse Norway.
    feed = (
        b'{"items":[{"accountToken":"t","accountNumber":"1","accountName":"n","accountType":"BANK",'
        b'"currency":"NOK","country":"NO"}]}'
    )
    violation = xero_specs.validate_request(
        "POST", "/bankfeeds.xro/1.0/FeedConnections", [], {"Xero-Tenant-Id": "t"}, feed, "application/json"
    )
    assert violation is None
    wrong = xero_specs.validate_request(
        "POST",
        "/bankfeeds.xro/1.0/FeedConnections",
        [],
        {"Xero-Tenant-Id": "t"},
        feed.replace(b'"NO"', b"false"),
        "application/json",
    )
    assert wrong is not None
    assert wrong.malformed


def test_an_attachment_body_is_application_octet_stream_as_the_specification_declares(xero_specs: XeroSpecs) -> None:
    path = "/api.xro/2.0/BankTransactions/297c2dc5-cc47-4afd-8ec8-74990b8761e9/Attachments/taxi.png"
    headers = {"Xero-Tenant-Id": "t"}
    body = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    assert xero_specs.validate_request("PUT", path, [], headers, body, "application/octet-stream") is None
    wrong = xero_specs.validate_request("PUT", path, [], headers, body, "image/png")
    assert wrong is not None and "application/octet-stream" in " ".join(wrong.messages)
