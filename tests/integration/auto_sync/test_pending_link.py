"""The sync a link asks for settles the link's PENDING feed connection (docs/architecture.md, Connect, Linking)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.xero import XeroEmulator
from tests.integration.auto_sync_world import AutoSync
from xerosync.ledger.client import LedgerClient
from xerosync.ledger.models import LedgerTransaction


def test_a_link_xero_activates_while_its_history_is_sent_shows_active_when_the_sync_ends(
        auto_sync: AutoSync, xero: XeroEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a connected business whose account has a week of history, and Xero's default 2 s to activate a feed
    _, account = auto_sync.connected_account("biz_pending")
    for day in range(7, 0, -1):
        auto_sync.post_days_ago(account.account_id, day)
    token = auto_sync.authority.mint(business_id="biz_pending", user_id="u_fiona", role="Finance")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def look() -> dict[str, Any]:
        answer = auto_sync.gateway.handle("GET", "/v1/xero/connection", headers=headers, body=b"")
        assert answer.status == 200, answer.body
        return dict(answer.json()["accounts"][0]["link"])

    # When Fiona links the account with that history and the Xero page looks at once (as the console does)
    linked = auto_sync.gateway.handle("PUT", f"/v1/bank-accounts/{account.account_id}/feed", headers=headers,
                                      body=json.dumps({"new_account": {"name": "HKD Operating", "number": "88001"},
                                                       "backfill_from": days_ago(xero, 30)}))
    assert linked.status == 200, linked.body
    assert linked.json()["account"]["link"]["status"] == "PENDING"
    assert look()["status"] == "PENDING"  # Xero has not activated it yet; the page asked
    # And the sync the link asked for finds the feed connection still PENDING, then reads the history from the
    # bank for as long as Xero takes to activate it (on the emulator's clock), and sends it
    read = LedgerClient.iter_transactions

    def slow_read(self: LedgerClient, *args: Any, **kwargs: Any) -> Iterator[LedgerTransaction]:
        xero.advance_clock(xero.config.feed_connection_delay_s + 1)
        return read(self, *args, **kwargs)

    monkeypatch.setattr(LedgerClient, "iter_transactions", slow_read)
    auto_sync.pump()
    monkeypatch.setattr(LedgerClient, "iter_transactions", read)
    # Then the page shows the link ACTIVE as soon as that sync has ended, not half a minute after its first look
    shown = look()
    assert shown["status"] == "ACTIVE", shown
    assert shown["last_sync_at"] is not None and shown["last_sync_error"] is None
    # And the history reached Xero's bank account
    xero.settle_pending()
    feed = auto_sync.feeds.get("biz_pending", account.account_id)
    assert feed is not None and len(auto_sync.xero_lines(feed)) == 7


def days_ago(xero: XeroEmulator, days: int) -> str:
    return (datetime.fromtimestamp(xero.now(), tz=UTC) - timedelta(days=days)).date().isoformat()
