"""Receipts end to end on the local stack: an expense with three receipts is synced from the frontend, and all
three arrive in its Spend Money in Xero, byte for byte, through AttachmentsQueue and its worker."""

from __future__ import annotations

import hashlib
import time

import pytest

from emulators.ledger import Counterparty, generated_spec
from local.stack import DevStack
from tests.support.frontend import ready_to_sync_expenses

pytestmark = pytest.mark.e2e


def test_an_expense_with_three_receipts_has_all_three_in_xero(stack: DevStack) -> None:
    ledger, xero = stack.ledger, stack.xero
    hkd, tenant, user, _ = ready_to_sync_expenses(stack, "Receipts Trading Pte. Ltd.", "Receipts Books",
                                                  travel="493")
    # A hotel stay paid from the HKD account, with the bill, a taxi receipt and a photo of the dinner bill
    receipts = (generated_spec("pdf", 180_000, seed=1, file_name="Hotel bill.pdf"),
                generated_spec("png", 60_000, seed=2, file_name="taxi.png"),
                generated_spec("jpeg", 900_000, seed=3, file_name="IMG_2041.JPG"))
    paid = ledger.post_transaction(hkd, "2380.00", "DEBIT", spend_category="travel",
                                   counterparty=Counterparty("Marina Bay Hotel", "1"), reference="BK-88",
                                   description="Client visit", attachments=receipts)
    deadline = time.monotonic() + 30
    while not user.tab("pending"):
        assert time.monotonic() < deadline, "the payment did not become a pending expense"
        time.sleep(0.1)
    expense = user.call("GET", f"/v1/expenses/{paid.transaction_id}")
    assert expense["attachment_count"] == 3

    # When Fiona syncs it
    assert user.sync([paid.transaction_id])["synced"] == 1

    # Then its three receipts reach the Spend Money, and the status route says so
    deadline = time.monotonic() + 30
    while (status := user.call("GET", f"/v1/expenses/{paid.transaction_id}/attachments"))["synced"] < 3:
        assert time.monotonic() < deadline, f"the receipts did not arrive: {status}"
        time.sleep(0.2)
    assert status["summary"] == "3 of 3 receipt(s) in Xero."
    bank_transaction_id = user.call("GET", f"/v1/expenses/{paid.transaction_id}")["spend_money"]["bank_transaction_id"]
    in_xero = xero.attachments(tenant, bank_transaction_id)
    expected = {f.file_name: hashlib.sha256(ledger.attachment_bytes(hkd, paid.transaction_id, f.attachment_id))
                .hexdigest() for f in paid.attachments}
    assert {a["FileName"]: a["sha256"] for a in in_xero} == {
        "Hotel bill.pdf": expected["Hotel bill.pdf"], "taxi.png": expected["taxi.png"],
        "IMG_2041.jpg": expected["IMG_2041.JPG"]}
    assert user.call("GET", f"/v1/expenses/{paid.transaction_id}")["attachment_errors"] == []
