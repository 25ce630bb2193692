"""Connect end to end on the local stack: the help centre's "How to Integrate and Disconnect Xero"."""

from __future__ import annotations

import pytest

from local.stack import DevStack
from tests.e2e.frontend import connect

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
