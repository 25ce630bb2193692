"""Steps the connect tests of several modules take: a business with accounts, connected to an organisation of
the Xero emulator, linked, and a disconnect that dies half-way."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from tests.support.connect_api import Api, User
from xerosync.connect.disconnect import Disconnect
from xerosync.connect.ports import Feeds
from xerosync.store.feeds import FeedRecord


def business_with_accounts(ledger: LedgerEmulator, *currencies: str, country: str = "SG") -> tuple[str, dict[str, str]]:
    business = ledger.create_business(country)
    accounts = {c: ledger.create_account(business.business_id, c, name=f"{c} Operating").account_id
                for c in currencies}
    return business.business_id, accounts


def connected_to_xero(api: Api, xero: XeroEmulator, business_id: str, **seed: object) -> tuple[User, str]:
    tenant = xero.seed_organisation("Harbour Trading Ltd", base_currency="HKD", **seed)  # type: ignore[arg-type]
    fiona = api.as_user(business_id)
    assert fiona.connect(tenant).status == 200
    return fiona, tenant


def xero_bank_account(xero: XeroEmulator, tenant: str, currency: str) -> str:
    return next(a["AccountID"] for a in xero.accounts(tenant)
                if a["Type"] == "BANK" and a.get("CurrencyCode", "HKD") == currency)


@dataclass
class LinkedAccount:
    """A business's HKD account linked to its organisation's HKD bank account, and the feed table it is in."""

    fiona: User
    path: str  # the account's feed route
    bank: str  # the Xero bank account it feeds
    feeds: Feeds
    feed: FeedRecord  # as the link stored it


def linked_account(api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> LinkedAccount:
    """An HKD account of a new business, linked to the organisation's HKD bank account."""
    from xerosync.connect.wiring import get_connect

    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    bank = xero_bank_account(xero, tenant, "HKD")
    path = f"/v1/bank-accounts/{accounts['HKD']}/feed"
    assert fiona.call("PUT", path, {"xero_account_id": bank}).status == 200
    feeds = get_connect().linking.feeds
    feed = feeds.get(business_id, accounts["HKD"])
    assert feed is not None and feed.feed_connection_id
    return LinkedAccount(fiona, path, bank, feeds, feed)


def linked_business(api: Api, xero: XeroEmulator, ledger: LedgerEmulator, name: str = "Harbour Trading Ltd"
                     ) -> tuple[User, str, str, str]:
    business = ledger.create_business("SG")
    account = ledger.create_account(business.business_id, "HKD").account_id
    tenant = xero.seed_organisation(name, base_currency="HKD")
    fiona = api.as_user(business.business_id)
    assert fiona.connect(tenant).status == 200
    assert fiona.call("PUT", f"/v1/bank-accounts/{account}/feed",
                      {"new_account": {"name": "HKD Operating", "number": "42"}}).status == 200
    return fiona, business.business_id, account, tenant


def unlink_and_link_again(fiona: User, xero: XeroEmulator, path: str, bank: str) -> None:
    assert fiona.call("DELETE", path).status == 200
    xero.advance_clock(7 * 60)  # Xero has removed the old feed connection (and forgotten the last key)
    xero.settle_pending()
    assert fiona.call("PUT", path, {"xero_account_id": bank}).status == 200


def disconnect_that_dies_after_marking(fiona: User) -> None:
    """Fiona disconnects, and the request dies right after the connection was marked DISCONNECTED (a Lambda
    killed, a DynamoDB error): its links, tokens and what it left in Xero were not dealt with."""
    def died(*_: object, **__: object) -> list[str]:
        raise RuntimeError("the execution environment died")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Disconnect, "_retire_links", died)
        assert fiona.call("DELETE", "/v1/xero/connection").status == 500
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "DISCONNECTED"
