"""Linking bank accounts as Xero bank feeds, the status the frontend shows, and the picker."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from tests.support.connect_api import Api
from tests.support.connect_steps import (
    business_with_accounts,
    connected_to_xero,
    linked_account,
    unlink_and_link_again,
    xero_bank_account,
)
from xerosync.connect.linking import ALREADY_CONNECTED, ALREADY_CONNECTED_ACTION, FeedLinking


def test_link_an_existing_xero_bank_account_then_it_becomes_active(api: Api, xero: XeroEmulator,
                                                                    ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    target = xero_bank_account(xero, tenant, "HKD")
    # When Fiona links the HKD account to Xero's HKD bank account
    response = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", {"xero_account_id": target})
    # Then Xero has a pending feed connection for it, and the status shows it pending
    assert response.status == 200
    link = response.json()["account"]["link"]
    assert link["status"] == "PENDING" and link["xero_account_id"] == target
    assert link["backfill_from"] == date.fromtimestamp(xero.now()).isoformat()
    feeds = xero.feed_connections(tenant)
    assert [(f["accountToken"], f["accountId"]) for f in feeds] == [(accounts["HKD"], target)]
    # And once Xero activates the feed, the next status read shows it active
    xero.advance_clock(5)
    xero.settle_pending()
    status = fiona.call("GET", "/v1/xero/connection").json()
    assert status["accounts"][0]["link"]["status"] == "ACTIVE"


def test_link_to_a_new_xero_account_and_several_currencies(api: Api, xero: XeroEmulator,
                                                           ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD", "USD", "CNY")
    fiona, tenant = connected_to_xero(api, xero, business_id, multicurrency=True, currencies=["HKD", "USD", "CNY"])
    for currency in ("USD", "CNY"):
        response = fiona.call("PUT", f"/v1/bank-accounts/{accounts[currency]}/feed",
                              {"new_account": {"name": f"Bank {currency}", "number": f"0099-{currency}"}})
        assert response.status == 200, response.body
    created = {a["Name"]: a for a in xero.accounts(tenant) if a["Type"] == "BANK"}
    assert created["Bank USD"]["CurrencyCode"] == "USD" and created["Bank CNY"]["CurrencyCode"] == "CNY"
    status = fiona.call("GET", "/v1/xero/connection").json()
    linked = {a["currency"]: a["link"] for a in status["accounts"]}
    assert linked["HKD"] is None
    assert linked["USD"]["xero_account_id"] == created["Bank USD"]["AccountID"]


def test_the_picker_lists_a_xero_account_made_by_a_link_at_once_though_it_caches_the_list(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD", "USD")
    fiona, _ = connected_to_xero(api, xero, business_id, multicurrency=True, currencies=["HKD", "USD"])
    # Given the picker read the organisation's bank accounts (cached for every Lambda for a minute)
    before = {a["name"] for a in fiona.call("GET", "/v1/xero/bank-accounts").json()["accounts"]}
    assert "Bank USD" not in before
    # When a link makes a new Xero bank account
    assert fiona.call("PUT", f"/v1/bank-accounts/{accounts['USD']}/feed",
                      {"new_account": {"name": "Bank USD", "number": "0099-USD"}}).status == 200
    # Then the picker lists it straight away, taken
    after = {a["name"]: a for a in fiona.call("GET", "/v1/xero/bank-accounts").json()["accounts"]}
    assert after["Bank USD"]["linked"] is True and set(after) == before | {"Bank USD"}


def test_a_foreign_currency_account_needs_multicurrency_in_xero(api: Api, xero: XeroEmulator,
                                                               ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "USD")
    fiona, tenant = connected_to_xero(api, xero, business_id, multicurrency=False)
    response = fiona.call("PUT", f"/v1/bank-accounts/{accounts['USD']}/feed",
                          {"new_account": {"name": "USD", "number": "123"}})
    assert response.status == 409
    error = response.json()["error"]
    assert error["code"] == "multicurrency_required" and "USD" in error["message"]
    assert "multi-currency" in error["action"]
    assert xero.feed_connections(tenant) == []


def test_an_account_already_fed_shows_the_products_words_and_the_way_out(api: Api, xero: XeroEmulator,
                                                                        ledger: LedgerEmulator) -> None:
    # Given two businesses of one group feeding the same organisation
    first_id, first_accounts = business_with_accounts(ledger, "HKD")
    second_id, second_accounts = business_with_accounts(ledger, "HKD")
    first, tenant = connected_to_xero(api, xero, first_id)
    second = api.as_user(second_id, user_id="u_sam")
    assert second.connect(tenant).status == 200
    target = xero_bank_account(xero, tenant, "HKD")
    linked = first.call("PUT", f"/v1/bank-accounts/{first_accounts['HKD']}/feed", {"xero_account_id": target})
    assert linked.status == 200
    # The picker shows the account as taken
    picker = second.call("GET", "/v1/xero/bank-accounts").json()["accounts"]
    assert next(a for a in picker if a["account_id"] == target)["linked"] is True
    # When the second business links its account to the same Xero bank account
    response = second.call("PUT", f"/v1/bank-accounts/{second_accounts['HKD']}/feed", {"xero_account_id": target})
    # Then it is refused in the help centre's words, with the way out
    assert response.status == 409
    error = response.json()["error"]
    assert error["code"] == "feed_already_connected"
    assert error["message"] == ALREADY_CONNECTED and error["action"] == ALREADY_CONNECTED_ACTION
    # And a fresh Xero account works for it: several businesses feed one organisation
    fresh = second.call("PUT", f"/v1/bank-accounts/{second_accounts['HKD']}/feed",
                        {"new_account": {"name": "Second Co HKD", "number": "777-888"}})
    assert fresh.status == 200
    assert len(xero.feed_connections(tenant)) == 2


def test_a_feed_that_xero_rejects_later_shows_the_reason(api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", {"new_account": {"name": "HKD", "number": "1"}})
    feed_id = xero.feed_connections(tenant)[0]["id"]
    xero.settle_feed_connection(tenant, feed_id, status="REJECTED",
                                error={"type": "account-not-valid", "title": "Invalid account", "status": 400,
                                       "detail": "The bank account could not be verified."})
    link = fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]
    assert link["status"] == "REJECTED" and link["status_reason"] == "The bank account could not be verified."
    assert link["action"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"new_account": {"name": "N" * 31, "number": "1"}}, 400, "invalid_request"),
    ({"new_account": {"name": "Fine", "number": "9" * 41}}, 400, "invalid_request"),
    ({"xero_account_id": "a", "new_account": {"name": "x", "number": "1"}}, 400, "invalid_request"),
    ({}, 400, "invalid_request"),
    ({"new_account": {"name": "Fine", "number": "1"}, "backfill_from": "2020-01-01"}, 400, "backfill_too_old"),
    # Only a Xero id reaches Xero's URL: an empty one used to list the accounts and link the first
    ({"xero_account_id": ""}, 400, "invalid_request"),
    ({"xero_account_id": "   "}, 400, "invalid_request"),
    ({"xero_account_id": "../Organisation"}, 400, "invalid_request"),
    ({"xero_account_id": "?where=Type==\"BANK\""}, 400, "invalid_request"),
    ({"xero_account_id": "not-a-uuid"}, 400, "invalid_request"),
])
def test_bad_link_requests_are_refused_and_nothing_is_linked(api: Api, xero: XeroEmulator, ledger: LedgerEmulator,
                                                            body: dict[str, object], status: int, code: str) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    response = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", body)
    assert response.status == status and response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert xero.feed_connections(tenant) == []


def test_an_account_of_another_business_or_a_non_bank_xero_account_is_refused(api: Api, xero: XeroEmulator,
                                                                             ledger: LedgerEmulator) -> None:
    business_id, _ = business_with_accounts(ledger, "HKD")
    _, stranger_accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    foreign = fiona.call("PUT", f"/v1/bank-accounts/{stranger_accounts['HKD']}/feed",
                         {"new_account": {"name": "x", "number": "1"}})
    assert foreign.status == 404 and foreign.json()["error"]["code"] == "account_not_found"
    own = ledger.create_account(business_id, "HKD").account_id
    expense_account = next(a["AccountID"] for a in xero.accounts(tenant) if a["Type"] != "BANK" and a.get("Code"))
    not_bank = fiona.call("PUT", f"/v1/bank-accounts/{own}/feed", {"xero_account_id": expense_account})
    assert not_bank.status == 400 and not_bank.json()["error"]["code"] == "not_a_bank_account"
    assert xero.feed_connections(tenant) == []


def test_status_is_readable_by_every_role_and_changes_only_by_admin_and_finance(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD")
    connected_to_xero(api, xero, business_id)
    eric = api.as_user(business_id, user_id="u_eric", role="Employee")
    status = eric.call("GET", "/v1/xero/connection")
    assert status.status == 200 and status.json()["can_manage"] is False
    assert status.json()["connection"]["status"] == "ACTIVE"
    refused = eric.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed",
                        {"new_account": {"name": "x", "number": "1"}})
    assert refused.status == 403
    assert eric.call("DELETE", "/v1/xero/connection").status == 403


def test_unlink_removes_the_feed_in_xero_and_keeps_the_history(api: Api, xero: XeroEmulator,
                                                               ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", {"new_account": {"name": "HKD", "number": "1"}})
    response = fiona.call("DELETE", f"/v1/bank-accounts/{accounts['HKD']}/feed")
    assert response.status == 200 and response.json()["account"]["link"]["status"] == "UNLINKED"
    xero.advance_clock(5)
    xero.settle_pending()
    assert [f["state"] for f in xero.feed_connections(tenant)] == ["DELETED"]
    again = fiona.call("DELETE", f"/v1/bank-accounts/{accounts['HKD']}/feed")
    assert again.status == 409 and again.json()["error"]["code"] == "not_linked"


def test_backfill_from_is_kept_for_auto_sync(api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, _ = connected_to_xero(api, xero, business_id)
    start = (date.fromtimestamp(xero.now()) - timedelta(days=90)).isoformat()
    response = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed",
                          {"new_account": {"name": "HKD", "number": "1"}, "backfill_from": start})
    assert response.json()["account"]["link"]["backfill_from"] == start


def test_a_link_change_made_while_auto_sync_writes_the_feed_is_reapplied_not_lost(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    from xerosync.connect.wiring import get_connect
    from xerosync.store.feeds import FeedStatus

    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, _ = connected_to_xero(api, xero, business_id)
    fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", {"new_account": {"name": "HKD", "number": "1"}})
    feeds = get_connect().linking.feeds
    seen = feeds.get(business_id, accounts["HKD"])
    assert seen is not None and seen.status == FeedStatus.PENDING
    # Auto-sync saves the feed (its cursor) after this request read it
    feeds.save(seen.model_copy(update={"cursor": 42}))
    # The status read's settle, working from the older copy, still lands, and keeps auto-sync's cursor
    settled = feeds.change(seen, only_if=frozenset({FeedStatus.PENDING}), status=FeedStatus.ACTIVE)
    assert settled.status == FeedStatus.ACTIVE and settled.cursor == 42
    # An unlink racing the same way is applied too
    stale = feeds.get(business_id, accounts["HKD"])
    assert stale is not None
    feeds.save(stale.model_copy(update={"cursor": 43}))
    unlinked = feeds.change(stale, status=FeedStatus.UNLINKED)
    assert unlinked.status == FeedStatus.UNLINKED and unlinked.cursor == 43


def test_an_unlink_that_read_the_link_before_a_relink_leaves_the_new_link_alone(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from xerosync.store.feeds import FeedStore

    linked = linked_account(api, xero, ledger)
    first, feeds = linked.feed, linked.feeds
    # Given one Finance user's unlink that read the link, and meanwhile another's unlink and link again
    unlink_and_link_again(linked.fiona, xero, linked.path, linked.bank)
    relinked = feeds.get(first.business_id, first.account_id)
    assert relinked is not None and relinked.feed_connection_id != first.feed_connection_id
    reads, real_get = [first], FeedStore.get
    # When the first unlink goes on from what it read
    with monkeypatch.context() as patch:
        patch.setattr(FeedStore, "get", lambda store, *key: reads.pop() if reads else real_get(store, *key))
        response = linked.fiona.call("DELETE", linked.path)
    # Then it is refused as a change made meanwhile, and the new link and its feed in Xero are untouched
    assert response.status == 409 and response.json()["error"]["code"] == "link_changed"
    kept = feeds.get(first.business_id, first.account_id)
    assert kept is not None and kept.is_live and kept.feed_connection_id == relinked.feed_connection_id
    xero.advance_clock(7 * 60)
    xero.settle_pending()
    states = {f["id"]: f["state"] for f in xero.feed_connections(first.tenant_id)}
    assert states[str(relinked.feed_connection_id)] != "DELETED"


@pytest.mark.parametrize("overtaken_by", ["a disconnect", "a reconnection"])
def test_a_link_that_a_disconnect_or_a_reconnection_overtook_is_refused_and_leaves_no_live_link(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, monkeypatch: pytest.MonkeyPatch,
        overtaken_by: str) -> None:
    from xerosync.auth import Caller
    from xerosync.connect.models import CompleteConnect
    from xerosync.connect.wiring import get_connect

    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    bank = xero_bank_account(xero, tenant, "HKD")
    signed_in_again = CompleteConnect(**fiona.consent([tenant]))  # the reconnection's sign-in, done in Xero
    # Given Fiona links the account, and once Xero has made the feed connection, before her request records it,
    # an Admin disconnects, or Fiona's sign-in in another tab connects again (as another Lambda would: the
    # link's own is busy)
    record_link = FeedLinking._replace_feed

    def overtaken(linking: FeedLinking, *args: Any) -> Any:
        connect = get_connect()
        if overtaken_by == "a disconnect":
            connect.disconnect.disconnect(
                Caller(business_id=business_id, user_id="u_frank", role="Admin", can_manage_accounting=True))
        else:
            outcome = connect.oauth.complete(
                Caller(business_id=business_id, user_id="u_fiona", role="Finance", can_manage_accounting=True),
                signed_in_again)
            assert outcome.status == "CONNECTED", outcome
        return record_link(linking, *args)

    with monkeypatch.context() as patch:
        patch.setattr(FeedLinking, "_replace_feed", overtaken)
        response = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", {"xero_account_id": bank})
    # Then the link is refused with the way out, and no live link is left on the ended connection
    assert response.status == 409 and response.json()["error"]["code"] == "connection_changed"
    page = fiona.call("GET", "/v1/xero/connection").json()
    assert page["connection"]["status"] == ("DISCONNECTED" if overtaken_by == "a disconnect" else "ACTIVE")
    assert page["accounts"][0]["link"] is None
    # And once she is connected again, linking the account works, with one feed in Xero (the feed connection the
    # refused request made could not be removed, the grant being gone or not yet known: the new link adopts it)
    if overtaken_by == "a disconnect":
        assert fiona.connect(tenant).status == 200
    again = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", {"xero_account_id": bank})
    assert again.status == 200, again.body
    live = [f for f in xero.feed_connections(tenant) if f["state"] != "DELETED"]
    assert [f["id"] for f in live] == [again.json()["account"]["link"]["feed_connection_id"]]


def test_a_relink_resends_what_the_previous_feed_had_not_delivered(api: Api, xero: XeroEmulator,
                                                                   ledger: LedgerEmulator) -> None:
    from datetime import date as day
    from decimal import Decimal

    from xerosync.store.feeds import SentStatement

    linked = linked_account(api, xero, ledger)
    fiona, path, bank, feeds, feed = linked.fiona, linked.path, linked.bank, linked.feeds, linked.feed
    # Given a feed that sent lines 1-10 (lines 1-5 dated up to 1 November), of which Xero never delivered the
    # statement of lines 6-10
    undelivered = SentStatement(statement_id="6f1c1b7e-0000-4000-8000-000000000006", first_sequence=6,
                                last_sequence=10, start_balance=Decimal("500.00"), end_balance=Decimal("450.00"),
                                start_date=day(2026, 11, 1), end_date=day(2026, 11, 2), sent_at="2026-11-02T00:00:00Z",
                                line_count=5)
    feeds.save(feed.model_copy(update={"cursor": 10, "cursor_balance": Decimal("450.00"),
                                       "dated_through": day(2026, 11, 1), "unconfirmed_statements": [undelivered]}))
    # When the account is unlinked before Xero delivered it, and linked again to the same Xero account
    unlink_and_link_again(fiona, xero, path, bank)
    # Then the new feed starts where the lines surely in Xero end: lines 6-10 go again, nothing is lost
    relinked = feeds.get(feed.business_id, feed.account_id)
    assert relinked is not None
    assert (relinked.cursor, relinked.cursor_balance, relinked.unconfirmed_statements) == (5, Decimal("500.00"), [])
    # And its lines are never dated before what the previous feed delivered (not the undelivered statement's end)
    assert relinked.dated_through == day(2026, 11, 1)


@pytest.mark.parametrize("target", ["existing", "new"])
def test_a_link_that_died_after_xero_made_its_feed_connection_can_be_made_again(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, target: str) -> None:
    # Given a link request that died after Xero created the feed connection, before the product recorded it
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)
    body = ({"xero_account_id": xero_bank_account(xero, tenant, "HKD")} if target == "existing"
            else {"new_account": {"name": "HKD Operating", "number": "0011-22"}})
    banks = len([a for a in xero.accounts(tenant) if a["Type"] == "BANK"])

    def died(*_: object, **__: object) -> None:
        raise RuntimeError("the execution environment died")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FeedLinking, "_replace_feed", died)
        assert fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", body).status == 500
    # When the user links it again, after Xero has forgotten the first request's Idempotency-Key
    xero.advance_clock(7 * 60)
    response = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", body)
    # Then the feed connection Xero made for the account is its link (not "already connected"), the only one
    assert response.status == 200, response.body
    link = response.json()["account"]["link"]
    live = [f for f in xero.feed_connections(tenant) if f["state"] != "DELETED"]
    assert [(f["id"], f["accountToken"]) for f in live] == [(link["feed_connection_id"], accounts["HKD"])]
    assert len([a for a in xero.accounts(tenant) if a["Type"] == "BANK"]) == banks + (target == "new")


def test_a_feed_connection_left_by_a_link_that_died_is_removed_when_the_user_chooses_another_account(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    # Given a link to a new Xero account that died after Xero made the feed connection
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, tenant = connected_to_xero(api, xero, business_id)

    def died(*_: object, **__: object) -> None:
        raise RuntimeError("the execution environment died")

    first = {"new_account": {"name": "HKD Operating", "number": "0011-22"}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FeedLinking, "_replace_feed", died)
        assert fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", first).status == 500
    xero.advance_clock(7 * 60)
    # When the user now chooses the organisation's existing HKD account instead
    other = {"xero_account_id": xero_bank_account(xero, tenant, "HKD")}
    refused = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", other)
    # Then the product removes the feed connection nobody recorded and asks for a few minutes
    assert refused.status == 409 and refused.json()["error"]["code"] == "feed_still_being_removed"
    xero.advance_clock(5)
    xero.settle_pending()
    response = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed", other)
    assert response.status == 200, response.body
    live = [f for f in xero.feed_connections(tenant) if f["state"] != "DELETED"]
    assert [f["accountId"] for f in live] == [other["xero_account_id"]]
