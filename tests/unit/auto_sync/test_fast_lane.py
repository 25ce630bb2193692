"""The fast lane's decisions against in-memory ports: coalescing per organisation, and the budget it keeps to."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.auto_sync.fakes import NOW, FixedClock, Queue, feed
from xerosync.auto_sync.fast_lane import (
    POSTS_PER_DAY,
    QUIET_HOURS_WEIGHT,
    SWEEPS_PER_DAY,
    Decision,
    FastLane,
    Outcome,
    PostingEvent,
    active_seconds_left,
    activity,
    lane_posts,
    lane_window,
    real_span,
    spacing,
)
from xerosync.auto_sync.messages import SCHEDULE_PERIOD_SECONDS, FeedSyncRequest
from xerosync.store.feeds import BankDay, FeedRecord, LaneRecord, day_before
from xerosync.xero.governor import FEEDS, GENERAL, TenantState

WINDOW = 900
EASY_POSTS: dict[str, Any] = {"posts_used": 0, "posts_cap": 100, "cost": 1, "day_seconds": 23 * 3600}
BANK = BankDay(480)  # Hong Kong


class Feeds:
    def __init__(self, *records: FeedRecord) -> None:
        self.records = {(r.business_id, r.account_id): r for r in records}

    def get(self, business_id: str, account_id: str) -> FeedRecord | None:
        return self.records.get((business_id, account_id))

    def live_for_tenant(self, tenant_id: str) -> list[FeedRecord]:
        return [r for r in self.records.values() if r.tenant_id == tenant_id]


class Windows:
    """The window record's rules in memory: a take names the record read and keeps the POSTs under the cap on the
    bank's day and over the last 24 hours (the conditional writes have their tests on moto)."""

    def __init__(self) -> None:
        self.records: dict[str, LaneRecord] = {}

    def read(self, tenant_id: str) -> LaneRecord:
        return self.records.get(tenant_id, LaneRecord())

    def last(self, tenant_id: str) -> float:
        return self.read(tenant_id).next_at

    def take(self, tenant_id: str, seen: LaneRecord, at: float, *, cost: int, cap: int, keep_seconds: int) -> bool:
        current = self.read(tenant_id)
        day, hour = BANK.day(at), BANK.hour(at)
        if current != seen or current.room(day, hour, cap) < cost:
            return False
        same = current.counts_hours_of(day)
        hours = dict(current.hours or {}) if same else {}
        hours[hour] = hours.get(hour, 0) + cost
        before = current.prev_hours if same else current.day_hours() if current.posts_day == day_before(day) else {}
        self.records[tenant_id] = LaneRecord(next_at=at, posts_day=day, posts=current.posts_on(day) + cost,
                                             hours=hours, prev_hours=before)
        return True

    def give_back(self, tenant_id: str, taken: float, seen: LaneRecord, *, cost: int) -> None:
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


@pytest.mark.parametrize(("businesses", "accounts_each", "posts"), [
    (1, 1, 1),
    (3, 2, 1),  # three businesses: their statements go in one request stream (worker.py step 4), one POST
    (41, 1, 2),  # 41 feeds are two messages of at most 40, a stream each
])
def test_a_sync_sets_aside_one_statements_post_per_message_whatever_the_businesses(
        businesses: int, accounts_each: int, posts: int) -> None:
    lane = Lane(WINDOW, *(feed(f"acc_{b}_{a}", business_id=f"biz_{b}") for b in range(businesses)
                          for a in range(accounts_each)))
    assert lane.post("acc_0_0", "biz_0").outcome == Outcome.SENT
    assert lane.windows.read("tenant-1").posts == posts
    assert [r.charge.posts if r.charge else None for r in lane.queue.sent] == ([1] if posts == 1 else [None] * posts)


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


def _posts(used: int, cost: int, day_seconds: float) -> tuple[int, str]:
    return lane_window(WINDOW, 0, 1000, 0, 10_000, posts_used=used, posts_cap=100, cost=cost, day_seconds=day_seconds)


def test_the_sweeps_runs_of_the_day_are_set_aside_before_the_lane_spends_a_post() -> None:
    # One business: 100 - 8 sweeps = 92 fast syncs. At 09:00 they fit the set window in the 11 business hours left
    # (44 syncs), and the other 48 go to the 4 quiet hours after them
    assert _posts(0, 1, 9 * HOUR) == (WINDOW, "")
    # At the bank's midnight the 48 business-hour syncs of the day leave 44 for its 12 quiet hours: 16.4 minutes
    assert _posts(0, 1, 0) == (982, "post-budget")
    assert _posts(91, 1, 22 * HOUR) == (2 * HOUR, "post-budget")  # the last sync: spread over what is left
    assert _posts(92, 1, 22 * HOUR) == (0, "post-budget")  # all 92 taken: the lane stands down
    # Five businesses, each posting its own statements: 40 POSTs kept for the sweep, 60 left = 12 fast syncs
    assert _posts(55, 5, 10 * HOUR) == (SCHEDULE_PERIOD_SECONDS, "post-budget")  # one left: no slower than a sweep
    assert _posts(56, 5, 10 * HOUR) == (0, "post-budget")  # 56 + 5 would pass the 60
    # Thirteen: the sweep alone would pass the cap, the lane never runs
    assert _posts(0, 13, 0) == (0, "post-budget")


@pytest.mark.parametrize(("used", "day_seconds", "window"), [
    (0, 9 * HOUR, 3540),  # 09:00, nothing spent: 12 syncs over 11 business hours and 4 quiet ones (42,480 s weighed)
    (30, 20 * HOUR, 2400),  # half of them spent by 20:00: 6 syncs over 4 quiet hours
    (0, 23.5 * HOUR, WINDOW),  # late in the day with everything left: the set window
])
def test_the_window_stretches_so_the_posts_last_the_day(used: int, day_seconds: float, window: int) -> None:
    assert _posts(used, 5, day_seconds) == (window, "post-budget" if window > WINDOW else "")


def test_the_banks_business_hours_weigh_most_of_its_day() -> None:
    assert activity(8) == activity(19) == 1.0
    assert activity(7) == activity(20) == activity(3) == QUIET_HOURS_WEIGHT
    quiet = QUIET_HOURS_WEIGHT * HOUR
    assert active_seconds_left(0) == pytest.approx(12 * HOUR + 12 * quiet)  # 08:00-20:00, and 12 quiet hours
    assert active_seconds_left(7.5 * HOUR) == pytest.approx(0.5 * quiet + 12 * HOUR + 4 * quiet)
    assert active_seconds_left(20 * HOUR) == pytest.approx(4 * quiet)
    assert active_seconds_left(24 * HOUR - 1) == pytest.approx(QUIET_HOURS_WEIGHT)


def test_the_pace_spends_the_days_posts_in_the_business_hours() -> None:
    # Five businesses, 60 POSTs: 12 syncs. At 09:00 with nothing spent: 11 business hours and 4 quiet ones left
    # (42,480 weighed seconds), where spreading over the 23 hours left would give 6,900 s
    assert spacing(9 * HOUR, 12, WINDOW) == pytest.approx(3540)
    assert _posts(0, 5, 9 * HOUR) == (3540, "post-budget")
    # A window that runs into the quiet hours is longer by their weight: from 19:30, 30 minutes of business hours,
    # then the 1,740 weighed seconds left take 1,740 / 0.2 real ones
    assert real_span(19.5 * HOUR, 3540) == pytest.approx(1800 + 1740 / QUIET_HOURS_WEIGHT)
    # and one from a quiet hour into the business hours is shorter than by the quiet hours' weight alone
    assert real_span(7.5 * HOUR, 3540) == pytest.approx(1800 + 3540 - 1800 * QUIET_HOURS_WEIGHT)
    # Never longer than the sweep's period
    assert real_span(0, 10 * HOUR) == SCHEDULE_PERIOD_SECONDS
    # The window counts from the latest sync: one at 07:00 and a posting at 07:45 with 12 syncs left at 09:00's pace
    assert lane_window(WINDOW, 0, 1000, 0, 10_000, posts_used=0, posts_cap=100, cost=5, day_seconds=7.75 * HOUR,
                       since=7 * HOUR)[0] == math.ceil(real_span(7 * HOUR, spacing(7.75 * HOUR, 12, WINDOW)))
    # One business with room to spare keeps the set window in the business hours and is not slowed at night
    # beyond what the spare syncs allow
    assert spacing(20 * HOUR, 40, WINDOW) == pytest.approx(QUIET_HOURS_WEIGHT * 4 * HOUR / 40)
    assert _posts(52, 1, 20 * HOUR) == (WINDOW, "")


DAY = "2026-11-20"


def test_the_last_24_hours_count_the_day_befores_posts_until_their_hour_has_passed() -> None:
    yesterday = LaneRecord(posts_day=day_before(DAY), posts=60, hours={9: 30, 14: 30})
    assert [yesterday.room(DAY, hour, 92) for hour in (0, 9, 10, 14, 15, 23)] == [32, 32, 62, 62, 92, 92]
    # Later the same day: its own POSTs, and the day before's kept from the day's first take
    today = LaneRecord(posts_day=DAY, posts=10, hours={9: 10}, prev_hours={9: 30, 14: 30})
    assert (today.room(DAY, 12, 92), today.room(DAY, 15, 92)) == (52, 82)
    # Two days back is outside any 24 hours
    assert LaneRecord(posts_day="2026-11-18", posts=92, hours={23: 92}).room(DAY, 0, 92) == 92
    # A record that did not count hours: all its POSTs count as the day's last hour's
    assert LaneRecord(posts_day=day_before(DAY), posts=40).room(DAY, 22, 92) == 52


def _bank_time(day: str, hour: float) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=hour - 8)


def test_the_posts_are_counted_by_the_banks_day_and_not_the_utc_day() -> None:
    lane = Lane(clock=FixedClock(_bank_time(DAY, 7.5)))  # 23:30 UTC the day before
    assert lane.post().outcome == Outcome.SENT
    lane.clock.now = _bank_time(DAY, 8.5).timestamp()  # 00:30 UTC: a new UTC day, the same bank's day
    assert lane.post().outcome == Outcome.SENT
    record = lane.windows.read("tenant-1")
    assert (record.posts_day, record.posts, record.hours) == (DAY, 2, {7: 1, 8: 1})
    lane.clock.now = _bank_time(DAY, 24.25).timestamp()  # 00:15 the next bank day: a new count
    assert lane.post().outcome == Outcome.SENT
    record = lane.windows.read("tenant-1")
    assert (record.posts_day, record.posts, record.prev_hours) == ("2026-11-21", 1, {7: 1, 8: 1})


def test_a_day_of_postings_on_five_businesses_keeps_the_organisation_under_100_posts() -> None:
    businesses = [f"biz_{n}" for n in range(5)]
    midnight = _bank_time(DAY, 0).timestamp()
    lane = Lane(WINDOW, *(feed(f"acc_{b}", business_id=b) for b in businesses), clock=FixedClock(
        datetime.fromtimestamp(midnight, tz=UTC)))
    decisions = []
    for minute in range(24 * 60):  # every business posts every minute, all day
        lane.clock.now = midnight + minute * 60
        for business in businesses:
            decisions.append(lane.post(f"acc_{business}", business))
    syncs = len(lane.queue.sent) + len(lane.parker.parked)
    # Each sync costs one POST, the five businesses' statements packed in one request stream (worker.py step 4);
    # with the day's 8 sweeps the organisation stays within 100
    assert syncs == POSTS_PER_DAY - SWEEPS_PER_DAY * 1 == 92
    assert syncs + SWEEPS_PER_DAY <= POSTS_PER_DAY
    assert lane.windows.read("tenant-1").posts == lane_posts(1) == 92
    # The lane said why it slowed
    assert any(d.outcome == Outcome.DEFERRED and d.slowed_by == "post-budget" for d in decisions)
    # The bank's 12 business hours had a sync every set window, and its 12 quiet ones shared what was left
    hours = [BANK.hour(at) for at in [midnight] + [p["resume_at"] for p in lane.parker.parked]]
    in_hours = sum(8 <= hour < 20 for hour in hours)
    assert in_hours == 12 * HOUR // WINDOW == 48 and len(hours) - in_hours == 44
    # The next bank's day counts afresh, but no 24 hours pass the cap: at 00:01 the day before's 92 are all inside
    # them, so the lane stands down, and a sync fits only from 01:00, when the hour of the day before's first sync
    # has left them
    lane.clock.now = midnight + 24 * HOUR + 60
    assert lane.windows.read("tenant-1").room("2026-11-21", 0, lane_posts(1)) == 0
    assert lane.post("acc_biz_0", "biz_0") == Decision(Outcome.STOOD_DOWN, "tenant-1", slowed_by="post-budget")
    lane.clock.now = midnight + 25 * HOUR + 60
    next_day = lane.post("acc_biz_0", "biz_0")
    assert next_day.outcome == Outcome.SENT and next_day.at >= midnight + 25 * HOUR
    record = lane.windows.read("tenant-1")
    assert (record.posts_day, record.posts, sum(record.prev_hours.values())) == ("2026-11-21", 1, 92)
