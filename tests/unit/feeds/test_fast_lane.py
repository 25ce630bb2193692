"""The fast lane's decisions against in-memory ports: coalescing per organisation, and the budget it keeps to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tests.unit.feeds.fakes import NOW, FixedClock, feed
from xerosync.feeds.fast_lane import FastLane, Outcome, PostingEvent, lane_window
from xerosync.feeds.messages import SCHEDULE_PERIOD_SECONDS, FeedSyncRequest
from xerosync.store.feeds import FeedRecord
from xerosync.xero.governor import FEEDS, GENERAL, TenantState

WINDOW = 900


class Feeds:
    def __init__(self, *records: FeedRecord) -> None:
        self.records = {(r.business_id, r.account_id): r for r in records}

    def get(self, business_id: str, account_id: str) -> FeedRecord | None:
        return self.records.get((business_id, account_id))

    def live_for_tenant(self, tenant_id: str) -> list[FeedRecord]:
        return [r for r in self.records.values() if r.tenant_id == tenant_id]


class Windows:
    def __init__(self) -> None:
        self.next_at: dict[str, float] = {}

    def last(self, tenant_id: str) -> float:
        return self.next_at.get(tenant_id, 0.0)

    def take(self, tenant_id: str, seen: float, at: float, keep_seconds: int) -> bool:
        if self.next_at.get(tenant_id, 0.0) != seen:
            return False
        self.next_at[tenant_id] = at
        return True

    def give_back(self, tenant_id: str, taken: float, seen: float) -> None:
        if self.next_at.get(tenant_id) == taken:
            self.next_at[tenant_id] = seen


class Budget:
    def __init__(self) -> None:
        self.states: dict[str, TenantState] = {}
        self.app = 0

    def tenant_state(self, tenant_id: str) -> TenantState:
        return self.states.get(tenant_id, TenantState())

    def app_calls(self, minute: int) -> int:
        return self.app


class Queue:
    def __init__(self) -> None:
        self.sent: list[FeedSyncRequest] = []

    def send(self, requests: Sequence[FeedSyncRequest]) -> int:
        self.sent.extend(requests)
        return 1


class Parker:
    def __init__(self) -> None:
        self.parked: list[dict[str, Any]] = []

    def park(self, **item: Any) -> None:
        self.parked.append(item)


class Lane:
    def __init__(self, window: int = WINDOW) -> None:
        self.clock = FixedClock()
        self.budget, self.queue, self.parker, self.windows = Budget(), Queue(), Parker(), Windows()
        self.lane = FastLane(window_seconds=window, feeds=Feeds(feed("acc_1"), feed("acc_2")), windows=self.windows,
                             budget=self.budget, queue=self.queue, parker=self.parker,
                             feed_sync_queue_url="https://sqs/feed-sync.fifo", clock=self.clock)

    def post(self, account: str = "acc_1"):  # type: ignore[no-untyped-def]
        return self.lane.on_posting(PostingEvent(business_id="biz_1", account_id=account))

    def spend(self, purpose: str, calls: int) -> None:
        state = self.budget.states.setdefault("tenant-1", TenantState())
        state.add_call(int(self.clock.time() * 1000) - 3_600_000, purpose, calls, "biz_1")


def test_a_posting_syncs_every_live_feed_of_the_organisation_at_once() -> None:
    lane = Lane()
    decision = lane.post()
    assert decision.outcome == Outcome.SENT and decision.at == NOW.timestamp()
    [request] = lane.queue.sent
    assert request.reason == "posting" and request.group_id == "tenant-1"
    assert {f.account_id for f in request.feeds} == {"acc_1", "acc_2"}


def test_postings_within_a_window_park_one_sync_for_its_end_and_the_rest_are_covered() -> None:
    lane = Lane()
    outcomes = []
    for _ in range(500):
        outcomes.append(lane.post().outcome)
        lane.clock.sleep(1)
    assert outcomes.count(Outcome.SENT) == 1 and outcomes.count(Outcome.DEFERRED) == 1
    assert len(lane.queue.sent) == 1
    [parked] = lane.parker.parked
    assert parked["resume_at"] == NOW.timestamp() + WINDOW and parked["group_id"] == "tenant-1"
    # The parked sync has its own window: a posting after it runs takes the next one
    lane.clock.now = NOW.timestamp() + WINDOW + 1
    assert lane.post().outcome == Outcome.DEFERRED
    assert lane.parker.parked[-1]["resume_at"] == NOW.timestamp() + 2 * WINDOW


def test_with_the_lane_off_nothing_is_read_or_sent() -> None:
    lane = Lane(window=0)
    lane.lane.feeds = None  # type: ignore[assignment]  # not even the feed is read
    assert lane.post().outcome == Outcome.OFF
    assert lane.queue.sent == [] and lane.parker.parked == [] and lane.windows.next_at == {}


def test_a_posting_on_an_unlinked_account_asks_for_nothing() -> None:
    lane = Lane()
    assert lane.lane.on_posting(PostingEvent(business_id="biz_1", account_id="acc_9")).outcome == Outcome.NOT_LINKED


def test_when_the_queue_fails_the_window_is_given_back() -> None:
    lane = Lane()

    def refuse(requests: Sequence[FeedSyncRequest]) -> int:
        raise RuntimeError("SQS down")

    lane.queue.send = refuse  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        lane.post()
    assert lane.windows.last("tenant-1") == 0


def test_expense_calls_do_not_slow_the_lane_and_the_lane_keeps_to_the_bank_feed_reserve() -> None:
    lane = Lane()
    lane.spend(GENERAL, 3900)  # a bulk expense sync: the general budget, not the lane's
    first = lane.post()
    assert first.outcome == Outcome.SENT and first.slowed_by == ""
    # When the organisation's bank-feed calls reach three quarters of the reserve, the window stretches
    lane.spend(FEEDS, 750)
    lane.clock.sleep(WINDOW)
    slowed = lane.post()
    assert slowed.slowed_by == "feeds-budget"
    assert slowed.window_seconds == WINDOW + (SCHEDULE_PERIOD_SECONDS - WINDOW) // 2
    # And with the reserve spent the lane stands down: the 3-hour sweep carries the postings
    lane.spend(FEEDS, 250)
    lane.clock.sleep(SCHEDULE_PERIOD_SECONDS)
    assert lane.post().outcome == Outcome.STOOD_DOWN
    assert len(lane.queue.sent) == 1 and len(lane.parker.parked) == 1


@pytest.mark.parametrize(("app_calls", "window"), [
    (5_000, WINDOW), (6_000, WINDOW), (8_000, WINDOW + (SCHEDULE_PERIOD_SECONDS - WINDOW) // 2),
    (10_000, SCHEDULE_PERIOD_SECONDS), (12_000, SCHEDULE_PERIOD_SECONDS),
])
def test_near_the_app_wide_minute_every_organisation_slows_alike(app_calls: int, window: int) -> None:
    assert lane_window(WINDOW, 0, 1000, app_calls, 10_000) == (window, "app-minute" if window > WINDOW else "")
    assert lane_window(WINDOW, 100, 1000, app_calls, 10_000)[0] == window  # another organisation, same window
