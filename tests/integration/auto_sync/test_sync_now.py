"""Sync now through the HTTP API: who may, what it queues, and the per-business limit."""

from __future__ import annotations

from emulators.xero import XeroEmulator
from tests.integration.auto_sync_world import AutoSync
from xerosync.clock import SystemClock, iso, utc_now
from xerosync.store.connections import ConnectionStatus


def test_finance_syncs_now_and_the_transactions_reach_xero_with_the_last_sync_time(auto_sync: AutoSync,
                                                                                 xero: XeroEmulator) -> None:
    # Given a connected business with a linked account that has new transactions
    tenant = xero.seed_organisation()
    auto_sync.connect("biz_now", tenant)
    account = auto_sync.account("biz_now")
    auto_sync.ledger.post_generated(account.account_id, 5)
    feed = auto_sync.link("biz_now", account)
    # When Fiona (Finance) presses Sync now
    response = auto_sync.call("biz_now", "POST", "/v1/xero/sync")
    # Then the sync is queued at once for the business's linked accounts
    assert response.status == 202, response.body
    body = response.json()
    assert body["status"] == "QUEUED" and body["account_ids"] == [account.account_id]
    assert body["next_sync_now_at"] > body["requested_at"]
    [message] = auto_sync.queued()
    assert message["group"] == tenant and message["reason"] == "sync-now"
    # And once the worker has run, Xero has the transactions and the feed and connection show the sync
    auto_sync.pump()
    xero.settle_pending()
    assert len(auto_sync.xero_lines(feed)) == 5
    synced = auto_sync.feed(feed)
    connection = auto_sync.connections.get("biz_now")
    assert synced.last_sync_at and connection is not None and connection.last_sync_at == synced.last_sync_at


def test_sync_now_again_within_the_interval_is_refused_with_retry_after(auto_sync: AutoSync,
                                                                       xero: XeroEmulator) -> None:
    tenant = xero.seed_organisation()
    auto_sync.connect("biz_now", tenant)
    auto_sync.link("biz_now", auto_sync.account("biz_now"))
    assert auto_sync.call("biz_now", "POST", "/v1/xero/sync").status == 202
    # When an Admin presses it again straight away
    again = auto_sync.call("biz_now", "POST", "/v1/xero/sync", role="Admin")
    # Then it is refused with when to try again, and nothing more was queued for Xero
    assert again.status == 429 and again.json()["error"]["code"] == "sync_now_too_soon"
    assert 590 <= int(again.headers["retry-after"]) <= 600
    assert "every 3 hours" in again.json()["error"]["message"]
    assert auto_sync.depth("FeedSyncQueue") == 1


def test_only_admin_and_finance_may_sync_now(auto_sync: AutoSync, xero: XeroEmulator) -> None:
    tenant = xero.seed_organisation()
    auto_sync.connect("biz_now", tenant)
    auto_sync.link("biz_now", auto_sync.account("biz_now"))
    refused = auto_sync.call("biz_now", "POST", "/v1/xero/sync", role="Employee")
    assert refused.status == 403 and refused.json()["error"]["code"] == "role_not_allowed"
    assert auto_sync.depth("FeedSyncQueue") == 0


def test_sync_now_explains_what_is_missing(auto_sync: AutoSync, xero: XeroEmulator) -> None:
    # A business that never connected
    assert auto_sync.call("biz_none", "POST", "/v1/xero/sync").json()["error"]["code"] == "not_connected"
    # One connected without a linked account
    tenant = xero.seed_organisation()
    auto_sync.connect("biz_now", tenant)
    unlinked = auto_sync.call("biz_now", "POST", "/v1/xero/sync")
    assert unlinked.status == 409 and unlinked.json()["error"]["code"] == "no_linked_accounts"
    # And one whose connection must be renewed
    auto_sync.link("biz_now", auto_sync.account("biz_now"))
    auto_sync.connections.set_status("biz_now", ConnectionStatus.NEEDS_RECONNECT, "Xero access expired.",
                                     iso(utc_now(SystemClock())))
    stale = auto_sync.call("biz_now", "POST", "/v1/xero/sync")
    assert stale.status == 409 and stale.json()["error"]["code"] == "reconnect_required"
    assert stale.json()["error"]["message"] == "Xero access expired."
    assert auto_sync.depth("FeedSyncQueue") == 0
