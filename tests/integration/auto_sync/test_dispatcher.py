"""The 3-hour schedule through the Lambda runtime: what reaches the feed-sync queue, and how."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.auto_sync_world import AutoSync
from xerosync.auto_sync import dispatch
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import FeedRecord, FeedStatus


def _business(auto_sync: AutoSync, tenant_id: str, business_id: str, accounts: list[str],
              status: ConnectionStatus = ConnectionStatus.ACTIVE, feed_status: FeedStatus = FeedStatus.ACTIVE) -> None:
    auto_sync.connections.put(XeroConnectionRecord(
        business_id=business_id, tenant_id=tenant_id, generation="gen-1", xero_connection_id=f"conn-{business_id}",
        organisation_name="Org", base_currency="HKD", connected_by="u_fiona", connected_at="2026-11-20T00:00:00Z",
        status=status))
    for account in accounts:
        auto_sync.feeds.save(FeedRecord(
            business_id=business_id, account_id=account, currency="HKD", account_number="1", account_name="HKD",
            tenant_id=tenant_id, generation="gen-1", feed_connection_id=f"fc-{account}", status=feed_status))


def test_the_schedule_sends_each_organisations_due_feeds_in_its_own_message_group(auto_sync: AutoSync) -> None:
    # Given one organisation fed by two businesses, another by a business that must reconnect and one that
    # is fine, and an account that was unlinked
    _business(auto_sync, "tenant-1", "biz_a", ["acc_a1", "acc_a2"])
    _business(auto_sync, "tenant-1", "biz_b", ["acc_b1"])
    _business(auto_sync, "tenant-2", "biz_c", ["acc_c1"], status=ConnectionStatus.NEEDS_RECONNECT)
    _business(auto_sync, "tenant-2", "biz_d", ["acc_d1"])
    _business(auto_sync, "tenant-2", "biz_e", ["acc_e1"], feed_status=FeedStatus.UNLINKED)
    # When the 3-hour schedule fires
    result = auto_sync.fire()
    # Then each organisation has one message in its own group, naming exactly its due feeds
    messages = {m["group"]: m for m in auto_sync.queued()}
    assert set(messages) == {"tenant-1", "tenant-2"}
    assert [(f["business_id"], f["account_id"]) for f in messages["tenant-1"]["feeds"]] == [
        ("biz_a", "acc_a1"), ("biz_a", "acc_a2"), ("biz_b", "acc_b1")]
    assert [f["account_id"] for f in messages["tenant-2"]["feeds"]] == ["acc_d1"]
    assert all(m["reason"] == "schedule" and m["dedup"] == m["origin"] for m in messages.values())
    assert result == {"window": result["window"], "tenants": 2, "feeds": 4, "skipped": 1, "messages": 2,
                      "continued": False}


def test_a_schedule_that_fires_twice_for_one_window_queues_nothing_more(auto_sync: AutoSync) -> None:
    _business(auto_sync, "tenant-1", "biz_a", ["acc_a1"])
    _business(auto_sync, "tenant-2", "biz_b", ["acc_b1"])
    window = datetime(2026, 11, 20, 9, 0, 3, tzinfo=UTC)
    auto_sync.fire(window)
    auto_sync.fire(window.replace(minute=2))  # EventBridge delivered the firing again
    assert auto_sync.depth("FeedSyncQueue") == 2
    auto_sync.fire(window.replace(hour=12))  # the next window is new work
    assert auto_sync.depth("FeedSyncQueue") == 4


def test_a_run_short_of_time_continues_itself_through_the_dispatch_queue(auto_sync: AutoSync,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given three organisations and a dispatcher that has time for one organisation per invocation
    for n in range(3):
        _business(auto_sync, f"tenant-{n}", f"biz_{n}", [f"acc_{n}a", f"acc_{n}b"])
    monkeypatch.setattr(dispatch, "TIME_MARGIN_SECONDS", 10_000.0)
    # When the schedule fires and the continuations it sends itself are processed
    assert auto_sync.fire()["continued"] is True
    hops = 0
    while auto_sync.continuations.poll_once() is not None:
        hops += 1
    # Then every organisation's feeds were queued once, in two continuations
    assert hops == 2 and auto_sync.depth("DispatchQueue") == 0
    queued = sorted(m["group"] for m in auto_sync.queued())
    assert queued == ["tenant-0", "tenant-1", "tenant-2"]
