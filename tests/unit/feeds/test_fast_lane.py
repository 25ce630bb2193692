"""The fast lane's decisions against in-memory ports: coalescing per organisation, and the budget it keeps to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.feeds.fakes import NOW, FixedClock, Queue, feed
from xerosync.feeds.fast_lane import POSTS_PER_DAY, SWEEPS_PER_DAY, FastLane, Outcome, PostingEvent, lane_window
from xerosync.feeds.messages import SCHEDULE_PERIOD_SECONDS, FeedSyncRequest
from xerosync.store.feeds import FeedRecord, LaneRecord
from xerosync.xero.governor import FEEDS, GENERAL, TenantState

WINDOW = 900
EASY_POSTS: dict[str, Any] = {"posts_used": 0, "posts_cap": 100, "cost": 1, "seconds_left": 3600}


class Feeds:
    def __init__(self, *records: FeedRecord) -> None:
        self.records = {(r.business_id, r.account_id): r for r in records}

    def get(self, business_id: str, account_id: str) -> FeedRecord | None:
        return self.records.get((business_id, account_id))

    def live_for_tenant(self, tenant_id: str) -> list[FeedRecord]:
        return [r for r in self.records.values() if r.tenant_id == tenant_id]


class Windows:
    """The window record's rules in memory: a take names the record read and keeps the day's POSTs under the cap."""

    def __init__(self) -> None:
        self.records: dict[str, LaneRecord] = {}

    def read(self, tenant_id: str) -> LaneRecord:
        return self.records.get(tenant_id, LaneRecord())

    def last(self, tenant_id: str) -> float:
        return self.read(tenant_id).next_at

    def take(self, tenant_id: str, seen: LaneRecord, at: float, *, day: str, cost: int, cap: int,
             keep_seconds: int) -> bool:
        current = self.read(tenant_id)
        used = current.posts_on(day)
        if current != seen or used + cost > cap:
            return False
        self.records[tenant_id] = LaneRecord(next_at=at, posts_day=day, posts=used + cost)
        return True

    def give_back(self, tenant_id: str, taken: float, seen: LaneRecord, *, day: str, cost: int) -> None:
        if self.read(tenant_id).next_at == taken:
            self.records[tenant_id] = seen


class Budget:
    def __init__(self) -> None:
        self.states: dict[str, TenantState] = {}
        self.app = 0

    def tenant_state(self, tenant_id: str) -> TenantState:
        return self.states.get(tenant_id, TenantState())

    def app_calls(self, minute: int) -> int:
        return self.app


class Parker:
    def __init__(self) -> None:
        self.parked: list[dict[str, Any]] = []

    def park(self, **item: Any) -> None:
        self.parked.append(item)


class Lane:
    def __init__(self, window: int = WINDOW, *feeds: FeedRecord, clock: FixedClock | None = None) -> None:
        self.clock = clock or FixedClock()
        self.budget, self.queue, self.parker, self.windows = Budget(), Queue(), Parker(), Windows()
        self.lane = FastLane(window_seconds=window, feeds=Feeds(*(feeds or (feed("acc_1"), feed("acc_2")))),
                             windows=self.windows,
                             budget=self.budget, queue=self.queue, parker=self.parker,
                             feed_sync_queue_url="https://sqs/feed-sync.fifo", clock=self.clock)

    def post(self, account: str = "acc_1", business: str = "biz_1"):  # type: ignore[no-untyped-def]
        return self.lane.on_posting(PostingEvent(business_id=business, account_id=account))

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
    assert lane.queue.sent == [] and lane.parker.parked == [] and lane.windows.records == {}


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
    assert lane_window(WINDOW, 0, 1000, app_calls, 10_000, **EASY_POSTS) == (
        window, "app-minute" if window > WINDOW else "")
    assert lane_window(WINDOW, 100, 1000, app_calls, 10_000, **EASY_POSTS)[0] == window  # another organisation


HOUR = 3600


def _posts(used: int, cost: int, seconds_left: float) -> tuple[int, str]:
    return lane_window(WINDOW, 0, 1000, 0, 10_000, posts_used=used, posts_cap=100, cost=cost,
                       seconds_left=seconds_left)


def test_the_sweeps_runs_of_the_day_are_set_aside_before_the_lane_spends_a_post() -> None:
    # One business: 100 - 8 sweeps = 92 fast syncs, spread evenly over the day (86,400 s / 92)
    assert _posts(0, 1, 24 * HOUR) == (940, "post-budget")
    assert _posts(0, 1, 20 * HOUR) == (WINDOW, "")  # 20 h left: 92 syncs fit at the set window
    assert _posts(91, 1, 2 * HOUR) == (2 * HOUR, "post-budget")  # the last sync: spread over what is left
    assert _posts(92, 1, 2 * HOUR) == (0, "post-budget")  # all 92 taken: the lane stands down
    # Five businesses, each posting its own statements: 40 POSTs kept for the sweep, 60 left = 12 fast syncs
    assert _posts(55, 5, 10 * HOUR) == (SCHEDULE_PERIOD_SECONDS, "post-budget")  # one left: no slower than a sweep
    assert _posts(56, 5, 10 * HOUR) == (0, "post-budget")  # 56 + 5 would pass the 60
    # Thirteen: the sweep alone would pass the cap, the lane never runs
    assert _posts(0, 13, 24 * HOUR) == (0, "post-budget")


@pytest.mark.parametrize(("used", "seconds_left", "window"), [
    (0, 23 * HOUR, 6900),  # 09:00 in Hong Kong, nothing spent: 12 syncs over 23 h
    (30, 12 * HOUR, 2 * HOUR),  # half of them spent by 20:00: 6 syncs over 12 h
    (0, 30 * 60, WINDOW),  # late in the day with everything left: the set window
])
def test_the_window_stretches_so_the_posts_last_the_day(used: int, seconds_left: float, window: int) -> None:
    assert _posts(used, 5, seconds_left) == (window, "post-budget" if window > WINDOW else "")


def test_a_day_of_postings_on_five_businesses_keeps_the_organisation_under_100_posts() -> None:
    businesses = [f"biz_{n}" for n in range(5)]
    midnight = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
    lane = Lane(WINDOW, *(feed(f"acc_{b}", business_id=b) for b in businesses), clock=FixedClock(
        datetime.fromtimestamp(midnight, tz=UTC)))
    decisions = []
    for minute in range(24 * 60):  # every business posts every minute, all day
        lane.clock.now = midnight + minute * 60
        for business in businesses:
            decisions.append(lane.post(f"acc_{business}", business))
    syncs = len(lane.queue.sent) + len(lane.parker.parked)
    # Each sync costs a POST per business; with the day's 8 sweeps the organisation stays within 100
    assert syncs == (POSTS_PER_DAY - SWEEPS_PER_DAY * 5) // 5 == 12
    assert syncs * 5 + SWEEPS_PER_DAY * 5 <= POSTS_PER_DAY
    assert lane.windows.read("tenant-1").posts == 60
    # The lane said why it slowed
    assert any(d.outcome == Outcome.DEFERRED and d.slowed_by == "post-budget" for d in decisions)
    # Syncs were spread over the day, not spent in the first hours
    times = sorted([midnight] + [p["resume_at"] for p in lane.parker.parked])
    assert times[-1] - midnight > 12 * HOUR
    # A new UTC day starts the count afresh
    lane.clock.now = midnight + 24 * HOUR + 60
    assert lane.post("acc_biz_0", "biz_0").outcome in (Outcome.SENT, Outcome.DEFERRED)
    assert lane.windows.read("tenant-1").posts == 5
