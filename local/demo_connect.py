"""`make demo`, connect chapters: connect, link HKD and USD accounts, refusals, a disconnect on Xero's side."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.demo import Story


def _connect(story: Story, token: str, tenant_id: str) -> Any:
    started = story.call("POST", "/v1/xero/connect", token)
    redirect = story.stack.xero.consent(started["authorize_url"], tenant_ids=[tenant_id])
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
    return story.stack.api("POST", "/v1/xero/connect/complete", token=token,
                           json_body={"code": query["code"], "state": query["state"]})


def setup_businesses(story: Story) -> None:
    """The bank's side: a Singapore business with HKD, USD and SGD accounts, its sister company, a HK business."""
    ledger = story.stack.ledger
    sg = ledger.create_business("SG", "Harbour & Lion Trading Pte. Ltd.")
    accounts = {currency: ledger.create_account(sg.business_id, currency, name=f"{currency} Operating",
                                                account_number=f"88{i}0012345").account_id
                for i, currency in enumerate(("HKD", "USD", "SGD"))}
    sister = ledger.create_business("SG", "Lion Logistics Pte. Ltd.")
    sister_hkd = ledger.create_account(sister.business_id, "HKD", name="HKD Operating").account_id
    hk = ledger.create_business("HK", "Kowloon Imports Limited")
    hk_hkd = ledger.create_account(hk.business_id, "HKD", name="HKD Operating").account_id
    story.state.update(
        business_id=sg.business_id, accounts=accounts, sister_business_id=sister.business_id,
        sister_account=sister_hkd, hk_business_id=hk.business_id, hk_account=hk_hkd,
        finance_token=story.stack.token(business_id=sg.business_id, user_id="u_fiona", role="Finance"),
        sister_token=story.stack.token(business_id=sister.business_id, user_id="u_sam", role="Admin"),
        hk_finance_token=story.stack.token(business_id=hk.business_id, user_id="u_henry", role="Finance"),
    )


def chapter_connect(story: Story) -> None:
    story.say("2. Connect to Xero (Business Edition and active only)")
    setup_businesses(story)
    xero = story.stack.xero
    tenant = xero.seed_organisation("Harbour & Lion Trading", base_currency="HKD", country_code="SG",
                                    multicurrency=True, currencies=["HKD", "USD", "SGD"])
    partner = xero.seed_organisation("Ledger Advisers (Partner)", edition="PARTNER")
    story.state["tenant_id"] = tenant
    token = story.state["finance_token"]

    refused = _connect(story, token, partner)
    story.expect(refused.status_code == 422, "a Partner Edition organisation is refused")
    story.say(f"   Fiona tries '{'Ledger Advisers (Partner)'}': {refused.status_code} "
              f"{refused.json()['error']['message']}")

    connected = _connect(story, token, tenant)
    story.expect(connected.status_code == 200, f"connecting works: {connected.text}")
    connection = connected.json()["connection"]
    story.say(f"   Fiona connects '{connection['organisation_name']}': {connection['status']}, base currency "
              f"{connection['base_currency']}, connected by {connection['connected_by']}")

    accounts = story.state["accounts"]
    hkd_xero = next(a for a in story.call("GET", "/v1/xero/bank-accounts", token)["accounts"]
                    if a["currency_code"] == "HKD")
    story.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", token, {"xero_account_id": hkd_xero["account_id"]})
    story.call("PUT", f"/v1/bank-accounts/{accounts['USD']}/feed", token,
               {"new_account": {"name": "USD Operating", "number": "8810012345"}})
    story.state["linked_accounts"] = {"HKD": accounts["HKD"], "USD": accounts["USD"]}
    xero.advance_clock(5)
    xero.settle_pending()
    status = story.call("GET", "/v1/xero/connection", token)
    for account in status["accounts"]:
        link = account["link"]
        shown = f"linked to '{link['xero_account_name'] or link['xero_account_id']}' ({link['status']})" if link \
            else "not linked"
        story.say(f"   {account['currency']} account {account['account_number']}: {shown}")
    story.expect(sum(1 for a in status["accounts"] if a["link"] and a["link"]["status"] == "ACTIVE") == 2,
                 "both feeds become active")

    sister = story.state["sister_token"]
    story.expect(_connect(story, sister, tenant).status_code == 200, "the sister company connects to the same org")
    taken = story.stack.api("PUT", f"/v1/bank-accounts/{story.state['sister_account']}/feed", token=sister,
                            json_body={"xero_account_id": hkd_xero["account_id"]})
    story.expect(taken.status_code == 409, "an account already fed is refused")
    story.say(f"   Lion Logistics links to the same Xero account: {taken.json()['error']['message']}")
    story.say(f"     way out: {taken.json()['error']['action']}")
    story.facts.append("connected (Partner Edition refused), HKD and USD feeds active")


def chapter_disconnect_in_xero(story: Story) -> None:
    story.say("3. Disconnected from Xero's side, noticed, and reconnected")
    token = story.state["finance_token"]
    story.stack.xero.disconnect(story.state["tenant_id"])
    story.stack.fire("Hourly")
    connection = story.call("GET", "/v1/xero/connection", token)["connection"]
    story.expect(connection["status"] == "NEEDS_RECONNECT", "the hourly check notices the disconnect")
    story.say(f"   The hourly check: {connection['status']} - {connection['status_reason']}")
    story.say(f"     way out: {connection['action']}")
    story.expect(_connect(story, token, story.state["tenant_id"]).status_code == 200, "reconnecting works")
    connection = story.call("GET", "/v1/xero/connection", token)["connection"]
    story.say(f"   Fiona reconnects: {connection['status']}")
    story.facts.append("a disconnect in Xero noticed and reconnected")
