"""An organisation disconnected in Xero, learnt by an invocation that died half-way through recording it.

Found by the soak (docs/soak.md, "Findings"): recording that Xero no longer has a connection disables the
generation's tokens, then marks the connection NEEDS_RECONNECT. An invocation that died between the two left
the connection ACTIVE with its tokens disabled: every later sync stopped at the tokens, the page showed
nothing to do, the user never reconnected and the account's new lines never reached Xero.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulators.xero import XeroEmulator
from tests.integration.auto_sync_world import AutoSync
from xerosync.store.connections import ConnectionStatus
from xerosync.xero.tokens import AccessTokens


def test_a_lost_connection_recorded_half_way_is_marked_by_the_next_sync(
        auto_sync: AutoSync, xero: XeroEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a linked account with new transactions, and the user removed the app in Xero
    tenant = xero.seed_organisation()
    auto_sync.connect("biz_half", tenant)
    account = auto_sync.account("biz_half")
    feed = auto_sync.link("biz_half", account)
    auto_sync.ledger.post_generated(account.account_id, 3)
    xero.disconnect(tenant)
    # And the sync that learns it dies after disabling the tokens, before marking the connection
    died: list[str] = []

    def dies_half_way(self: AccessTokens, business_id: str, generation: str, reason: str) -> None:
        self.vault.disable(business_id, generation, reason)
        died.append(business_id)
        raise RuntimeError("the execution environment died")

    with monkeypatch.context() as patch:
        patch.setattr(AccessTokens, "connection_lost", dies_half_way)
        auto_sync.fire()
        auto_sync.pump()  # the message comes back after its visibility timeout and is synced again
    assert died == ["biz_half"]
    # Then the connection says it needs reconnecting (the page and the schedule read it), with the reason
    connection: Any = auto_sync.connections.get("biz_half")
    assert connection is not None and connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert connection.status_reason and "Xero" in connection.status_reason
    error = auto_sync.feed(feed).last_sync_error
    assert error is not None and "Connect to Xero again" in error
    # And the next window leaves the business alone until it reconnects
    assert auto_sync.fire()["skipped"] == 1 and auto_sync.depth("FeedSyncQueue") == 0
