"""A day of the product with Xero access tokens that live 4 minutes: every function that calls Xero finds its
token about to expire (the product refreshes 5 minutes ahead) and refreshes it itself, with the client secret
and the tokens key, as each does every half hour in AWS. The IAM check (tests/iam) relies on this module to
see each of them seal a business's new tokens."""

from __future__ import annotations

import time

import pytest

from emulators.ledger import Counterparty, generated_spec
from local.stack import DevStack
from tests.support.frontend import ready_to_sync_expenses

pytestmark = pytest.mark.e2e


def test_every_xero_caller_refreshes_an_expiring_token_and_the_day_goes_on(stack: DevStack) -> None:
    ledger, xero = stack.ledger, stack.xero
    xero.configure(access_token_lifetime_s=240)
    # Connect, link and map (connect and the expense API refresh as they read Xero's accounts)
    hkd, tenant, user, _ = ready_to_sync_expenses(stack, "Short Tokens Pte. Ltd.", "Short Tokens Books",
                                                  travel="493")
    # A payment with a receipt is synced as Spend Money, its receipt follows (both workers refresh)
    paid = ledger.post_transaction(hkd, "88.00", "DEBIT", spend_category="travel",
                                   counterparty=Counterparty("Harbour Taxi", "1"),
                                   attachments=(generated_spec("pdf", 20_000, seed=7, file_name="taxi.pdf"),))
    ledger.post_transaction(hkd, "500.00", "CREDIT")
    deadline = time.monotonic() + 30
    while not user.tab("pending"):
        assert time.monotonic() < deadline, "the payment did not become a pending expense"
        time.sleep(0.1)
    # The postings also asked for a fast feed sync: let it finish first. A caller that finds another Lambda
    # refreshing waits and takes that token instead of refreshing itself, and each worker must refresh here.
    stack.drain()
    assert user.sync([paid.transaction_id])["synced"] == 1
    deadline = time.monotonic() + 30
    while user.call("GET", f"/v1/expenses/{paid.transaction_id}/attachments")["synced"] < 1:
        assert time.monotonic() < deadline, "the receipt did not reach Xero"
        time.sleep(0.2)
    # Auto-sync sends the account's lines, and the hourly check looks at the connection (both refresh)
    stack.fire("EveryThreeHours")
    stack.drain()
    stack.fire("Hourly")
    status = user.call("GET", "/v1/xero/connection")
    assert status["connection"]["status"] == "ACTIVE"
    assert status["accounts"][0]["link"]["last_sync_error"] is None
    # A disconnect during a Xero outage is finished by the cleanup worker once Xero is back (it refreshes too)
    xero.add_fault("error", path="*", status=503, times=None)
    assert user.call("DELETE", "/v1/xero/connection")["cleanup_pending"] is True
    xero.clear_faults()
    stack.drain()
    assert tenant not in {c["tenantId"] for c in xero.connections()}
    # Xero saw refreshes and never had to refuse one: nobody was asked to reconnect
    stats = xero.token_stats()
    assert stats["refreshes"] >= 7 and stats["invalid_grant"] == 0
