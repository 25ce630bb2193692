"""Attachments on bank transactions: raw bytes, size and count limits, file types and names, replace."""

from __future__ import annotations

import hashlib

import pytest
import requests

from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness, spend_money

PDF = b"%PDF-1.4 receipt " + bytes(range(256))


@pytest.fixture
def transaction_id(xero: XeroHarness, bank_account_id: str) -> str:
    element = spend_money(bank_account_id, line={"Description": "Lunch", "AccountCode": "420"})
    answer = xero.accounting("PUT", "BankTransactions", json={"BankTransactions": [element]})
    return str(answer.json()["BankTransactions"][0]["BankTransactionID"])


def upload(xero: XeroHarness, transaction_id: str, name: str, content: bytes, method: str = "PUT") -> requests.Response:
    return xero.accounting(
        method,
        f"BankTransactions/{transaction_id}/Attachments/{name}",
        data=content,
        headers={"Content-Type": "application/pdf"},
    )


def test_given_raw_bytes_when_put_then_stored_byte_for_byte_and_described_as_xero_does(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, transaction_id: str
) -> None:
    answer = xero.accounting(
        "PUT",
        f"BankTransactions/{transaction_id}/Attachments/receipt.pdf",
        data=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert answer.status_code == 200
    (attachment,) = answer.json()["Attachments"]
    assert (attachment["FileName"], attachment["MimeType"], attachment["ContentLength"]) == (
        "receipt.pdf",
        "application/pdf",
        len(PDF),
    )
    assert attachment["Url"].endswith(f"/BankTransactions/{transaction_id}/Attachments/receipt.pdf")
    (stored,) = emu.attachments(tenant, transaction_id)
    assert stored["sha256"] == hashlib.sha256(PDF).hexdigest()
    transaction = xero.accounting("GET", f"BankTransactions/{transaction_id}").json()["BankTransactions"][0]
    assert transaction["HasAttachments"] is True
    assert [a["FileName"] for a in transaction["Attachments"]] == ["receipt.pdf"]


def test_given_an_attachment_when_downloaded_by_name_or_id_then_the_same_bytes(
    xero: XeroHarness, transaction_id: str
) -> None:
    attachment = xero.accounting(
        "PUT", f"BankTransactions/{transaction_id}/Attachments/r.png", data=b"\x89PNG..."
    ).json()["Attachments"][0]
    by_name = xero.accounting("GET", f"BankTransactions/{transaction_id}/Attachments/r.png")
    by_id = xero.accounting("GET", f"BankTransactions/{transaction_id}/Attachments/{attachment['AttachmentID']}")
    assert by_name.content == by_id.content == b"\x89PNG..."
    assert by_name.headers["Content-Type"] == "image/png"
    listed = xero.accounting("GET", f"BankTransactions/{transaction_id}/Attachments").json()["Attachments"]
    assert [a["AttachmentID"] for a in listed] == [attachment["AttachmentID"]]


def test_given_a_file_over_the_limit_when_put_then_413_with_xeros_body(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, transaction_id: str
) -> None:
    answer = upload(xero, transaction_id, "big.pdf", b"x" * 3_000_001)
    assert answer.status_code == 413
    body = answer.json()
    assert (body["Title"], body["Status"], body["Detail"]) == ("RequestEntityTooLarge", 413, "PayloadTooLarge")
    assert emu.attachments(tenant, transaction_id) == []
    assert upload(xero, transaction_id, "max.pdf", b"x" * 3_000_000).status_code == 200


def test_given_a_configured_limit_when_put_then_it_applies(
    emu: XeroEmulator, xero: XeroHarness, transaction_id: str
) -> None:
    emu.configure(attachment_max_bytes=10)
    assert upload(xero, transaction_id, "small.pdf", b"x" * 11).status_code == 413


def test_given_ten_attachments_when_an_eleventh_is_put_then_refused(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, transaction_id: str
) -> None:
    for index in range(10):
        assert upload(xero, transaction_id, f"r{index}.pdf", PDF).status_code == 200
    answer = upload(xero, transaction_id, "r10.pdf", PDF)
    assert answer.status_code == 400
    message = answer.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert "maximum number of attachments (10)" in message
    assert len(emu.attachments(tenant, transaction_id)) == 10


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("script.exe", "file type '.exe' is not supported"),
        ("no-extension", "file type '.' is not supported"),
        ("a+b.pdf", "not allowed"),
    ],
)
def test_given_a_refused_file_name_when_put_then_400(
    xero: XeroHarness, transaction_id: str, name: str, fragment: str
) -> None:
    answer = upload(xero, transaction_id, name, PDF)
    assert answer.status_code == 400
    assert fragment in answer.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_given_the_same_name_when_posted_then_replaced_and_when_put_then_added(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, transaction_id: str
) -> None:
    first = upload(xero, transaction_id, "receipt.pdf", b"one").json()["Attachments"][0]
    replaced = upload(xero, transaction_id, "receipt.pdf", b"two!", method="POST").json()["Attachments"][0]
    assert replaced["AttachmentID"] == first["AttachmentID"]
    assert [(a["FileName"], a["ContentLength"]) for a in emu.attachments(tenant, transaction_id)] == [
        ("receipt.pdf", 4)
    ]
    upload(xero, transaction_id, "receipt.pdf", b"three")
    assert len(emu.attachments(tenant, transaction_id)) == 2


def test_given_an_unknown_transaction_when_attaching_then_404(xero: XeroHarness) -> None:
    answer = upload(xero, "8a0f1b6e-1111-4c1a-9c1a-000000000001", "r.pdf", PDF)
    assert answer.status_code == 404


def test_given_a_token_without_the_attachments_scope_when_attaching_then_403(
    base_url: str, tenant: str, transaction_id: str
) -> None:
    reader = XeroHarness(base_url)
    reader.connect([tenant], scopes="offline_access accounting.banktransactions accounting.attachments.read")
    answer = reader.accounting("PUT", f"BankTransactions/{transaction_id}/Attachments/r.pdf", data=PDF)
    assert answer.status_code == 403
    assert reader.accounting("GET", f"BankTransactions/{transaction_id}/Attachments").status_code == 200
