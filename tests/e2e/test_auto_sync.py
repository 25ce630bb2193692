"""Auto-sync end to end on the local stack: the help centre's "auto-synced every 3 hours" and "the date and
time of the last sync ... are visible", driven as the frontend and the schedule do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.stack import DevStack
from tests.support.frontend import connect
from xerosync.auto_sync.statements import BookingCalendar

pytestmark = pytest.mark.e2e


def _ledger_ids(stack: DevStack, account_id: str, since: Any) -> list[str]:
    calendar = BookingCalendar()
    return [t.transaction_id for t in stack.ledger.iter_transactions(account_id)
            if calendar.day_of(datetime.fromtimestamp(t.posted_at, UTC)) >= since]


def _xero_ids(stack: DevStack, tenant_id: str, account_id: str) -> list[str]:
    feed = next(f for f in stack.xero.feed_connections(tenant_id) if f["accountToken"] == account_id)
    return [line["transactionId"] for line in stack.xero.statement_lines(tenant_id, feed["id"])]


def test_the_schedule_syncs_every_transaction_from_the_chosen_day_and_the_last_sync_shows(stack: DevStack) -> None:
    # Given a business with two weeks of HKD history, connected to Xero
    ledger, xero = stack.ledger, stack.xero
    business = ledger.create_business("SG", "Auto Sync Trading Pte. Ltd.")
    hkd = ledger.create_account(business.business_id, "HKD").account_id
    now = datetime.now(UTC)
    for hours in range(14 * 24, 0, -6):
        ledger.post_transaction(hkd, "125.50", "CREDIT" if hours % 4 else "DEBIT",
                                posted_at=int((now - timedelta(hours=hours)).timestamp()))
    tenant = xero.seed_organisation("Auto Sync Books", base_currency="HKD")
    token = stack.token(business_id=business.business_id, user_id="u_fiona", role="Finance")
    assert connect(stack, token, tenant).status_code == 200
    # And Fiona links the account, choosing to send the last 7 days
    since = (now - timedelta(days=7)).date()
    hkd_in_xero = next(a for a in stack.api("GET", "/v1/xero/bank-accounts", token=token).json()["accounts"]
                       if a["currency_code"] == "HKD")
    linked = stack.api("PUT", f"/v1/bank-accounts/{hkd}/feed", token=token,
                       json_body={"xero_account_id": hkd_in_xero["account_id"], "backfill_from": since.isoformat()})
    assert linked.status_code == 200, linked.text

    # When the 3-hour schedule runs and the queues drain
    stack.fire("EveryThreeHours")
    stack.drain()
    xero.settle_pending()

    # Then Xero's feed holds every transaction from the chosen day, once, in order
    assert _xero_ids(stack, tenant, hkd) == _ledger_ids(stack, hkd, since)
    # And the connection status shows the last sync for the account and the connection
    status = stack.api("GET", "/v1/xero/connection", token=token).json()
    link = status["accounts"][0]["link"]
    assert link["last_sync_at"] and link["last_sync_error"] is None
    assert status["connection"]["last_sync_at"] == link["last_sync_at"]

    # When more transactions are posted and Fiona presses Sync now
    for _ in range(3):
        ledger.post_transaction(hkd, "9.99", "DEBIT")
    queued = stack.api("POST", "/v1/xero/sync", token=token)
    assert queued.status_code == 202 and queued.json()["account_ids"] == [hkd]
    stack.drain()
    xero.settle_pending()
    # Then they reach Xero at once too, and pressing it again right away is refused until later
    assert _xero_ids(stack, tenant, hkd) == _ledger_ids(stack, hkd, since)
    again = stack.api("POST", "/v1/xero/sync", token=token)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
