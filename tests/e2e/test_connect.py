"""Connect end to end on the local stack: the help centre's "How to Integrate and Disconnect Xero"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local.stack import DevStack
from tests.support.frontend import Frontend, connect

pytestmark = pytest.mark.e2e


def test_connect_link_refuse_disconnect_in_xero_reconnect_disconnect_reconnect(stack: DevStack) -> None:
    ledger, xero = stack.ledger, stack.xero
    # Xero settles feed connections and their removal a while after answering; the test moves Xero's clock (or
    # settles them) where it means to, so a slow machine cannot let a removal finish before it looks.
    xero.configure(feed_connection_delay_s=120)
    business = ledger.create_business("SG", "E2E Trading Pte. Ltd.")
    hkd = ledger.create_account(business.business_id, "HKD").account_id
    usd = ledger.create_account(business.business_id, "USD").account_id
    tenant = xero.seed_organisation("E2E Books", base_currency="HKD", multicurrency=True, currencies=["HKD", "USD"])
    partner = xero.seed_organisation("E2E Adviser Practice", edition="PARTNER")
    token = stack.token(business_id=business.business_id, user_id="u_e2e", role="Finance")

    # A Partner Edition organisation is refused with the reason
    refused = connect(stack, token, partner)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "partner_edition"

    # Connect, and link an HKD account (to Xero's HKD bank account) and a USD one (to a new Xero account)
    assert connect(stack, token, tenant).status_code == 200
    hkd_in_xero = next(a for a in stack.api("GET", "/v1/xero/bank-accounts", token=token).json()["accounts"]
                       if a["currency_code"] == "HKD")
    assert stack.api("PUT", f"/v1/bank-accounts/{hkd}/feed", token=token,
                     json_body={"xero_account_id": hkd_in_xero["account_id"]}).status_code == 200
    assert stack.api("PUT", f"/v1/bank-accounts/{usd}/feed", token=token,
                     json_body={"new_account": {"name": "E2E USD", "number": "5550001"}}).status_code == 200
    xero.advance_clock(5)
    xero.settle_pending()
    status = stack.api("GET", "/v1/xero/connection", token=token).json()
    assert status["connection"]["status"] == "ACTIVE"
    assert {a["currency"]: a["link"]["status"] for a in status["accounts"]} == {"HKD": "ACTIVE", "USD": "ACTIVE"}

    # Another business linking the same Xero account gets the product's words and the way out
    sister = ledger.create_business("SG")
    sister_hkd = ledger.create_account(sister.business_id, "HKD").account_id
    sister_token = stack.token(business_id=sister.business_id, user_id="u_sister", role="Admin")
    assert connect(stack, sister_token, tenant).status_code == 200
    taken = stack.api("PUT", f"/v1/bank-accounts/{sister_hkd}/feed", token=sister_token,
                      json_body={"xero_account_id": hkd_in_xero["account_id"]})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "feed_already_connected"

    # Disconnected from Xero's side: shown as NEEDS_RECONNECT with guidance; reconnecting restores it
    xero.disconnect(tenant)
    stack.fire("Hourly")
    connection = stack.api("GET", "/v1/xero/connection", token=token).json()["connection"]
    assert connection["status"] == "NEEDS_RECONNECT" and connection["action"]
    assert connect(stack, token, tenant).status_code == 200
    assert stack.api("GET", "/v1/xero/connection", token=token).json()["connection"]["status"] == "ACTIVE"

    # The business maps a spend category to a Xero account (Sync expenses' mapping)
    travel = next(a for a in stack.api("GET", "/v1/expenses/reference-data", token=token).json()["accounts"]
                  if a["code"] == "493")
    assert stack.api("PUT", "/v1/expenses/mappings", token=token, json_body={"mappings": [
        {"category": "travel", "xero_account_id": travel["account_id"]}]}).status_code == 200

    # Disconnected from the bank's side, then connected again
    gone = stack.api("DELETE", "/v1/xero/connection", token=token)
    assert gone.status_code == 200 and gone.json()["status"] == "DISCONNECTED"
    assert stack.api("GET", "/v1/xero/connection", token=token).json()["accounts"][0]["link"]["status"] == \
        "DISCONNECTED"
    assert connect(stack, token, tenant).status_code == 200
    restored = stack.api("GET", "/v1/xero/connection", token=token).json()
    assert restored["connection"]["status"] == "ACTIVE"
    # ...and finds what it had: each account's Xero bank account and last sync, to link again with one click,
    # and, once linked, the category mapping
    remembered = {a["currency"]: a["link"] for a in restored["accounts"]}
    assert {c: link["status"] for c, link in remembered.items()} == {"HKD": "DISCONNECTED", "USD": "DISCONNECTED"}
    assert remembered["HKD"]["xero_account_id"] == hkd_in_xero["account_id"]
    assert all(link["last_sync_at"] for link in remembered.values())
    # Xero removes a feed connection a few moments after the disconnect asked it to; until then it refuses a
    # new one for the same Xero account, and the customer is told to wait rather than to pick another account
    link_hkd = {"xero_account_id": remembered["HKD"]["xero_account_id"]}
    early = stack.api("PUT", f"/v1/bank-accounts/{hkd}/feed", token=token, json_body=link_hkd)
    assert early.status_code == 409 and early.json()["error"]["code"] == "feed_still_being_removed"
    xero.advance_clock(7 * 60)  # (past Xero's 6-minute memory of the refused request's Idempotency-Key too)
    xero.settle_pending()
    assert stack.api("PUT", f"/v1/bank-accounts/{hkd}/feed", token=token, json_body=link_hkd).status_code == 200
    xero.advance_clock(5)
    xero.settle_pending()
    relinked = {a["currency"]: a["link"]
                for a in stack.api("GET", "/v1/xero/connection", token=token).json()["accounts"]}
    assert relinked["HKD"]["status"] == "ACTIVE"
    # (the relink also asks for a sync, which may already have run and moved the last sync on)
    assert relinked["HKD"]["last_sync_at"] >= remembered["HKD"]["last_sync_at"]
    mappings = stack.api("GET", "/v1/expenses/mappings", token=token).json()["mappings"]
    assert [(m["category"], m["xero_account"]["code"]) for m in mappings if m["xero_account"]] == [("travel", "493")]


def test_disconnect_while_xero_fails_reconnect_recover_and_auto_sync_delivers_to_the_new_connection(
        stack: DevStack) -> None:
    ledger, xero = stack.ledger, stack.xero
    business = ledger.create_business("SG", "Lifecycle Trading Pte. Ltd.").business_id
    hkd = ledger.create_account(business, "HKD").account_id
    now = datetime.now(UTC)
    for hours in range(48, 0, -4):
        ledger.post_transaction(hkd, "80.25", "CREDIT" if hours % 8 else "DEBIT",
                                posted_at=int((now - timedelta(hours=hours)).timestamp()))
    tenant = xero.seed_organisation("Lifecycle Books", base_currency="HKD")
    user = Frontend(stack, stack.token(business_id=business, user_id="u_fiona", role="Finance"))
    since = (now - timedelta(days=2)).date().isoformat()
    # Given a connected business whose account's history went to Xero
    assert connect(stack, user.token, tenant).status_code == 200
    bank = next(a for a in user.call("GET", "/v1/xero/bank-accounts")["accounts"] if a["currency_code"] == "HKD")
    user.call("PUT", f"/v1/bank-accounts/{hkd}/feed", {"xero_account_id": bank["account_id"], "backfill_from": since})
    stack.fire("EveryThreeHours")
    stack.drain()
    xero.settle_pending()
    first_feed = next(f["id"] for f in xero.feed_connections(tenant) if f["accountToken"] == hkd)
    delivered_before = [line["transactionId"] for line in xero.statement_lines(tenant, first_feed)]
    assert delivered_before
    # When Fiona disconnects while Xero fails to remove the feed, and connects again at once
    revocations = xero.token_stats()["revocations"]
    xero.add_fault("error", path="*/FeedConnections/DeleteRequests", status=503, times=None)
    assert user.call("DELETE", "/v1/xero/connection")["cleanup_pending"] is True
    assert connect(stack, user.token, tenant).status_code == 200
    # And Xero recovers, so the queued cleanup runs
    xero.clear_faults()
    stack.drain()
    xero.settle_pending()
    # Then the cleanup removed only the old feed: the new connection, its grant and its tokens stand
    assert {f["id"]: f["state"] for f in xero.feed_connections(tenant)}[first_feed] == "DELETED"
    assert tenant in {c["tenantId"] for c in xero.connections()}
    assert xero.token_stats()["revocations"] == revocations
    assert user.call("GET", "/v1/xero/connection")["connection"]["status"] == "ACTIVE"
    # And once the account is linked again, auto-sync delivers what was posted since to the new connection
    user.call("PUT", f"/v1/bank-accounts/{hkd}/feed", {"xero_account_id": bank["account_id"]})
    posted_after = [ledger.post_transaction(hkd, f"{n + 10}.00", "DEBIT").transaction_id for n in range(3)]
    stack.fire("EveryThreeHours")
    stack.drain()
    xero.settle_pending()
    new_feed = next(f["id"] for f in xero.feed_connections(tenant)
                    if f["accountToken"] == hkd and f["state"] != "DELETED")
    delivered_after = [line["transactionId"] for line in xero.statement_lines(tenant, new_feed)]
    assert delivered_after == posted_after
    # And nothing else changed: the old feed's lines are as they were, every transaction once, no dead letters
    assert [line["transactionId"] for line in xero.statement_lines(tenant, first_feed)] == delivered_before
    assert sorted(delivered_before + delivered_after) == sorted(
        t.transaction_id for t in ledger.iter_transactions(hkd) if t.transaction_id in set(
            delivered_before + posted_after))
    assert len(set(delivered_before + delivered_after)) == len(delivered_before) + len(delivered_after)
    assert all(stack.queue_depth(q) == 0 for q in ("XeroCleanupDeadLetterQueue", "FeedSyncDeadLetterQueue"))
    link = user.call("GET", "/v1/xero/connection")["accounts"][0]["link"]
    assert link["status"] == "ACTIVE" and link["last_sync_error"] is None
