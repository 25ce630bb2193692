"""The 3-hour fan-out, against in-memory indexes: grouping by tenant, skipping, continuing, deduplication."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from xerosync.auto_sync.dispatch import dispatch_due_feeds
from xerosync.auto_sync.messages import (
    MAX_FEEDS_PER_MESSAGE,
    DispatchContinuation,
    FeedSyncRequest,
    on_demand_requests,
    schedule_requests,
    schedule_window,
)
from xerosync.store.connections import ConnectionStatus

GENERATION = "gen-1"


class Index:
    def __init__(self, positions: list[str], statuses: dict[str, ConnectionStatus],
                 generations: dict[str, str] | None = None) -> None:
        self.positions = sorted(positions)
        self.statuses = dict(sorted(statuses.items()))
        self.generations = generations or {}  # position -> the feed's generation, where not GENERATION

    def live_positions(self, after: str | None = None) -> Iterator[tuple[str, str]]:
        return iter([(p, self.generations.get(p, GENERATION)) for p in self.positions if after is None or p > after])

    def statuses_after(self, after: str | None = None) -> Iterator[tuple[str, ConnectionStatus, str]]:
        return iter([(k, v, GENERATION) for k, v in self.statuses.items() if after is None or k > after])


class Outbox:
    def __init__(self) -> None:
        self.sent: list[FeedSyncRequest] = []
        self.continuations: list[DispatchContinuation] = []

    def send(self, requests: Sequence[FeedSyncRequest]) -> int:
        self.sent.extend(requests)
        return (len(requests) + 9) // 10

    def continue_from(self, continuation: DispatchContinuation) -> None:
        self.continuations.append(continuation)


def _world(tenants: int, businesses: int, accounts: int,
           statuses: dict[str, ConnectionStatus] | None = None) -> Index:
    positions, connections = [], {}
    for t in range(tenants):
        for b in range(businesses):
            key = f"tenant-{t:03d}#biz_{t:03d}_{b}"
            connections[key] = (statuses or {}).get(key, ConnectionStatus.ACTIVE)
            positions.extend(f"{key}#acc_{a}" for a in range(accounts))
    return Index(positions, connections)


def test_feeds_are_sent_in_one_message_per_tenant_grouped_by_tenant() -> None:
    # Given three organisations, each fed by two businesses with three accounts each
    index = _world(tenants=3, businesses=2, accounts=3)
    outbox = Outbox()
    # When the schedule fires
    report = dispatch_due_feeds(window="20261120T09", feeds=index, connections=index, sender=outbox,
                                continuer=outbox, time_left=lambda: 300.0)
    # Then each tenant gets one message, in its own group, naming all six of its feeds
    assert [m.group_id for m in outbox.sent] == ["tenant-000", "tenant-001", "tenant-002"]
    assert all(len(m.feeds) == 6 for m in outbox.sent)
    assert report.feeds_dispatched == 18 and report.messages == 3 and report.sqs_calls == 1


def test_businesses_that_must_reconnect_or_are_disconnected_are_skipped() -> None:
    index = _world(tenants=2, businesses=2, accounts=2, statuses={
        "tenant-000#biz_000_1": ConnectionStatus.NEEDS_RECONNECT,
        "tenant-001#biz_001_0": ConnectionStatus.DISCONNECTED,
    })
    index.positions.append("tenant-002#biz_without_connection#acc_0")  # a leftover feed, no connection
    index.positions.sort()
    outbox = Outbox()
    report = dispatch_due_feeds(window="w", feeds=index, connections=index, sender=outbox, continuer=outbox,
                                time_left=lambda: 300.0)
    sent = {(m.tenant_id, f.business_id) for m in outbox.sent for f in m.feeds}
    assert sent == {("tenant-000", "biz_000_0"), ("tenant-001", "biz_001_1")}
    assert report.feeds_skipped == 5


def test_a_feed_of_another_generation_than_its_business_connection_is_skipped() -> None:
    # Given a business that connected again, one of whose feeds still carries the previous generation
    index = _world(tenants=1, businesses=1, accounts=2)
    index.generations["tenant-000#biz_000_0#acc_1"] = "gen-0"
    outbox = Outbox()
    report = dispatch_due_feeds(window="w", feeds=index, connections=index, sender=outbox, continuer=outbox,
                                time_left=lambda: 300.0)
    # Then only the feed of the current generation is sent, carrying that generation
    assert [(f.account_id, f.generation) for m in outbox.sent for f in m.feeds] == [("acc_0", GENERATION)]
    assert report.feeds_skipped == 1


def test_a_tenant_with_many_feeds_is_split_into_messages_of_the_same_group() -> None:
    index = _world(tenants=1, businesses=1, accounts=MAX_FEEDS_PER_MESSAGE * 2 + 1)
    outbox = Outbox()
    dispatch_due_feeds(window="w", feeds=index, connections=index, sender=outbox, continuer=outbox,
                       time_left=lambda: 300.0)
    assert [len(m.feeds) for m in outbox.sent] == [MAX_FEEDS_PER_MESSAGE, MAX_FEEDS_PER_MESSAGE, 1]
    assert len({m.group_id for m in outbox.sent}) == 1 and len({m.deduplication_id for m in outbox.sent}) == 3


def test_when_time_runs_short_the_dispatcher_continues_itself_from_the_last_whole_tenant() -> None:
    # Given a run with time for about two tenants
    index = _world(tenants=5, businesses=1, accounts=2)
    outbox = Outbox()
    clock = iter([100.0, 100.0, 10.0])
    report = dispatch_due_feeds(window="w", feeds=index, connections=index, sender=outbox, continuer=outbox,
                                time_left=lambda: next(clock, 0.0))
    # Then what was reached is sent, and a continuation names where to carry on
    assert [m.tenant_id for m in outbox.sent] == ["tenant-000", "tenant-001", "tenant-002"]
    [continuation] = outbox.continuations
    assert continuation.after == report.continued_after == "tenant-002#biz_002_0#acc_1" and continuation.hop == 1
    # When the continuation runs, the rest of the window is sent and nothing twice
    dispatch_due_feeds(window="w", feeds=index, connections=index, sender=outbox, continuer=outbox,
                       time_left=lambda: 300.0, after=continuation.after, hop=continuation.hop)
    assert [m.tenant_id for m in outbox.sent] == [f"tenant-{t:03d}" for t in range(5)]
    assert len(outbox.continuations) == 1


def test_a_schedule_firing_twice_in_one_window_sends_the_same_deduplication_ids() -> None:
    fired = datetime(2026, 11, 20, 10, 59, 58, tzinfo=UTC)
    again = fired + timedelta(minutes=1)
    assert schedule_window(fired) == schedule_window(again) == "20261120T09"
    assert schedule_window(fired + timedelta(hours=3)) == "20261120T12"  # the next firing: a new window
    index = _world(tenants=2, businesses=1, accounts=1)
    first, second = Outbox(), Outbox()
    for outbox, moment in ((first, fired), (second, again)):
        dispatch_due_feeds(window=schedule_window(moment), feeds=index, connections=index, sender=outbox,
                           continuer=outbox, time_left=lambda: 300.0)
    assert [m.deduplication_id for m in first.sent] == [m.deduplication_id for m in second.sent]


def test_deduplication_ids_fit_sqs_and_differ_per_tenant_window_and_continuation() -> None:
    one = schedule_requests("20261120T09", "tenant-a", [])  # nothing due: no message
    assert one == []
    from xerosync.auto_sync.messages import FeedRef

    feeds = [FeedRef(business_id="b", account_id="a", generation=GENERATION)]
    a = schedule_requests("20261120T09", "tenant-a", feeds)[0]
    b = schedule_requests("20261120T09", "tenant-b", feeds)[0]
    c = schedule_requests("20261120T12", "tenant-a", feeds)[0]
    assert len({a.deduplication_id, b.deduplication_id, c.deduplication_id}) == 3
    follow = a.continuation(feeds)
    assert follow.deduplication_id == f"{a.deduplication_id}~1" and follow.group_id == a.group_id
    now = on_demand_requests("tenant-a", "b" * 128, GENERATION, ["x" * 128], "sync-now",
                             datetime(2026, 11, 20, tzinfo=UTC))[0]
    assert all(len(r.deduplication_id) <= 128 for r in (a, follow, now))
