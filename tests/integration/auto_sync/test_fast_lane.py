"""The bank-feed fast lane on moto: ledger postings reach the rule's second target, the feed-events function
coalesces them per organisation, and the 3-hour run's worker delivers the lines (docs/auto-sync.md, "Fast lane").

The lane's clock is a manual one, so that windows pass without waiting; everything else runs as the local stack
runs it (EventBridge rule to SQS, event-source mappings, the every-minute parked-work schedule).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from emulators.ledger import EventBridgePublisher, LedgerEmulator
from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from local.direct_connect import connect_directly
from local.event_sources import SqsEventSourceMapping
from local.lambda_runtime import acting_as
from local.provision import Provisioned
from local.stack import LEDGER_BUS
from local.template import Template
from tests.integration.auto_sync_world import AutoSync
from tests.support.integration_stack import local_template, serving
from tests.support.moto_events import MotoEvents
from xerosync import aws as xerosync_aws
from xerosync.auto_sync import wiring
from xerosync.auto_sync.adapters import GovernorBudget
from xerosync.auto_sync.fast_lane import POSTS_PER_DAY, FastLane, Outcome, PostingEvent, lane_posts
from xerosync.auto_sync.messages import LaneCharge
from xerosync.clock import from_iso, use_process_clock
from xerosync.lifecycle import new_cold_start
from xerosync.settings import get_settings
from xerosync.store.feeds import (
    BankDay,
    FastLaneWindows,
    FeedRecord,
    Held,
    LaneRecord,
    day_before,
    fast_lane_key,
    reservation,
)
from xerosync.store.parked import ParkedWorkStore
from xerosync.xero.client import build_xero_client
from xerosync.xero.governor import Limits
from xerosync.xero.transport import RetryPolicy

WINDOW = 15 * 60


@pytest.fixture
def events() -> MotoEvents:
    return MotoEvents()


@pytest.fixture
def ledger(events: MotoEvents) -> Iterator[LedgerEmulator]:
    with serving(LedgerEmulator(event_publisher=EventBridgePublisher(events, LEDGER_BUS))) as emulator:  # type: ignore[arg-type]
        yield emulator


@pytest.fixture
def template(xero: XeroEmulator, ledger: LedgerEmulator, request: pytest.FixtureRequest) -> Template:
    """The local template; a test may set parameters (``indirect`` parametrisation)."""
    return local_template(xero_url=xero.base_url, ledger_url=ledger.base_url, **getattr(request, "param", {}))


@pytest.fixture
def clock() -> ManualClock:
    """The lane's clock at the bank's 10:00 (the latest one past): the lane paces by the bank's hours, and in its
    business hours an organisation with POSTs to spare runs at the set window, as these tests expect."""
    now = time.time()
    return ManualClock(now - (BankDay().seconds_into(now) - 10 * 3600) % 86_400)


@pytest.fixture
def lane(aws: Provisioned, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastLane]:
    """The function's own lane (its wiring), on the manual clock."""
    monkeypatch.setattr(wiring, "process_clock", lambda: clock)
    new_cold_start()
    with acting_as("FeedEventsFunction"):
        built = wiring.get_fast_lane()
    yield built
    new_cold_start()


def _lane(clock: ManualClock, window_seconds: int | None = None) -> FastLane:
    settings = get_settings()
    table = xerosync_aws.table(settings.main_table_name)
    return FastLane(window_seconds=settings.feed_fast_lane_minutes * 60 if window_seconds is None else window_seconds,
                    feeds=wiring.get_feed_store(), windows=FastLaneWindows(table), budget=GovernorBudget(table),
                    queue=wiring.get_feed_sync_queue(), parker=ParkedWorkStore(table),
                    feed_sync_queue_url=settings.feed_sync_queue_url, clock=clock)


class Lane:
    def __init__(self, auto_sync: AutoSync, clock: ManualClock) -> None:
        self.auto_sync, self.clock = auto_sync, clock
        source = next(s for s in auto_sync.aws.template.sqs_sources() if s.function == "FeedEventsFunction")
        self.postings = SqsEventSourceMapping(source, auto_sync.aws.template, auto_sync.runtime, auto_sync.sqs,
                                              auto_sync.aws.queue_url(source.queue))
        self.queue_url = auto_sync.aws.queue_url("FeedSyncQueue")
        self.messages: list[dict[str, Any]] = []  # every feed-sync message the worker was handed

    def take_postings(self) -> int:
        """Let the feed-events function read everything the rule delivered."""
        batches = 0
        while self.postings.poll_once() is not None:
            batches += 1
        return batches

    def sync_messages(self) -> list[dict[str, Any]]:
        """The feed-sync messages waiting now (read and counted, then left for the worker)."""
        found = self.auto_sync.queued()
        self.messages.extend(found)
        return found

    def minute_passes(self) -> None:
        """A minute later: the every-minute schedule sends parked work that is due."""
        self.clock.advance(60)
        use_process_clock(self.clock)
        try:
            self.auto_sync.scheduler.fire("EveryMinute")
        finally:
            use_process_clock(None)


@pytest.fixture
def fast(auto_sync: AutoSync, clock: ManualClock, lane: FastLane) -> Lane:
    return Lane(auto_sync, clock)


def _linked(auto_sync: AutoSync, business: str) -> tuple[str, FeedRecord]:
    tenant, account = auto_sync.connected_account(business)
    return tenant, auto_sync.link(business, account)


def test_a_posting_reaches_xero_through_the_fast_lane_with_the_last_sync_time(
        fast: Lane, auto_sync: AutoSync, xero: XeroEmulator) -> None:
    # Given a linked account whose link's backfill has gone
    tenant, feed = _linked(auto_sync, "biz_fast")
    auto_sync.fire()
    auto_sync.pump()
    assert auto_sync.feed(feed).last_sync_at
    auto_sync.feeds.change(auto_sync.feed(feed), last_sync_at="2026-01-01T00:00:00Z")  # long ago, to see it move
    # When a payment is posted on it
    [txn] = auto_sync.ledger.post_generated(feed.account_id, 1)
    fast.take_postings()
    # Then a feed sync of its organisation is queued at once, in the organisation's group
    [message] = fast.sync_messages()
    assert message["group"] == tenant and message["reason"] == "posting"
    assert [f["account_id"] for f in message["feeds"]] == [feed.account_id]
    # And once the worker has run, Xero has the line and the feed shows the new last sync
    auto_sync.pump()
    xero.settle_pending()
    assert txn.transaction_id in auto_sync.xero_lines(feed)
    synced = auto_sync.feed(feed)
    connection = auto_sync.connections.get("biz_fast")
    assert synced.last_sync_at and from_iso(synced.last_sync_at).timestamp() >= txn.posted_at
    assert connection is not None and connection.last_sync_at == synced.last_sync_at


@pytest.mark.long
def test_a_burst_of_500_postings_is_one_sync_per_window_and_every_line_once(
        fast: Lane, auto_sync: AutoSync, xero: XeroEmulator) -> None:
    _, feed = _linked(auto_sync, "biz_burst")
    # When 500 postings arrive within a minute
    posted = [t.transaction_id for t in auto_sync.ledger.post_generated(feed.account_id, 500)]
    fast.take_postings()
    # Then the organisation has one sync now, and one parked for the end of the window, not 500
    assert len(fast.sync_messages()) == 1
    parked = ParkedWorkStore(xerosync_aws.table(get_settings().main_table_name)).due(fast.clock.time() + WINDOW)
    assert len(parked) == 1 and parked[0]["group_id"] == feed.tenant_id
    auto_sync.pump()
    # And the parked sync goes when the window ends, not before
    for _ in range(14):
        fast.minute_passes()
        assert auto_sync.depth("FeedSyncQueue") == 0
    fast.minute_passes()
    fast.minute_passes()
    assert len(fast.sync_messages()) == 1
    auto_sync.pump()
    xero.settle_pending()
    # Every line is in Xero exactly once
    lines = auto_sync.xero_lines(feed)
    assert sorted(lines) == sorted(posted)


def test_a_repeated_or_late_posting_event_takes_no_second_window(fast: Lane, auto_sync: AutoSync,
                                                                  lane: FastLane) -> None:
    _, feed = _linked(auto_sync, "biz_repeat")
    posting = PostingEvent(business_id="biz_repeat", account_id=feed.account_id)
    with acting_as("FeedEventsFunction"):
        first = lane.on_posting(posting)
        again = lane.on_posting(posting)  # the same event delivered twice, a second later
        fast.clock.advance(300)
        late = lane.on_posting(posting)  # and once more, five minutes late
    assert first.outcome == Outcome.SENT
    assert again.outcome == Outcome.DEFERRED and again.at == first.at + WINDOW
    assert late.outcome == Outcome.COVERED
    assert len(fast.sync_messages()) == 1


def test_two_consumers_at_once_take_one_window(fast: Lane, auto_sync: AutoSync, clock: ManualClock) -> None:
    _, feed = _linked(auto_sync, "biz_race")
    posting = PostingEvent(business_id="biz_race", account_id=feed.account_id)
    lanes = [_lane(clock), _lane(clock)]  # two Lambdas: two cold starts' adapters
    outcomes: list[Outcome] = []
    for _ in range(5):
        start = threading.Barrier(2)

        def consume(lane: FastLane, start: threading.Barrier = start) -> None:
            start.wait()
            with acting_as("FeedEventsFunction"):
                outcomes.append(lane.on_posting(posting).outcome)

        threads = [threading.Thread(target=consume, args=(lane,)) for lane in lanes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        clock.advance(WINDOW * 2 + 1)  # both syncs of the round (now and the window's end) are in the past
    # Each round: one consumer sent now; the other either parked the next window or found it taken
    assert outcomes.count(Outcome.SENT) == 5
    assert outcomes.count(Outcome.DEFERRED) + outcomes.count(Outcome.COVERED) == 5
    assert len(fast.sync_messages()) == 5


def test_the_sweep_delivers_what_the_lane_missed(fast: Lane, auto_sync: AutoSync, events: MotoEvents,
                                                 xero: XeroEmulator) -> None:
    _, feed = _linked(auto_sync, "biz_lost")
    # When the ledger's events are lost on the way
    events.muted = True  # lost between the ledger and the product
    posted = [t.transaction_id for t in auto_sync.ledger.post_generated(feed.account_id, 7)]
    fast.take_postings()
    assert fast.sync_messages() == []
    # Then the 3-hour run delivers them all
    auto_sync.fire()
    auto_sync.pump()
    xero.settle_pending()
    assert sorted(auto_sync.xero_lines(feed)) == sorted(posted)


@pytest.mark.parametrize("template", [{"FeedFastLaneMinutes": "0"}], indirect=True)
def test_with_the_lane_off_postings_queue_nothing(auto_sync: AutoSync, clock: ManualClock) -> None:
    # The template's parameter at 0, as an operator turns the lane off: the function's own wiring reads it
    off = Lane(auto_sync, clock)
    _, feed = _linked(auto_sync, "biz_off")
    auto_sync.ledger.post_generated(feed.account_id, 3)
    off.take_postings()
    assert off.sync_messages() == []
    assert ParkedWorkStore(xerosync_aws.table(get_settings().main_table_name)).due(clock.time() + 86400) == []
    assert auto_sync.depth("FeedEventsQueue") == 0  # read and done with, not left to retry


def test_a_posting_on_an_account_not_linked_asks_for_nothing(fast: Lane, auto_sync: AutoSync) -> None:
    tenant, account = auto_sync.connected_account("biz_unlinked")
    auto_sync.ledger.post_generated(account.account_id, 2)
    fast.take_postings()
    assert fast.sync_messages() == []
    assert FastLaneWindows(xerosync_aws.table(get_settings().main_table_name)).last(tenant) == 0


def _utc_midnight(clock: ManualClock) -> float:
    """Today's UTC midnight on the lane's clock, set an hour after it."""
    midnight = clock.time() // 86_400 * 86_400
    clock.set(midnight + 3600)
    return midnight


def _table() -> Any:
    return xerosync_aws.table(get_settings().main_table_name)


@pytest.mark.parametrize("spent", ["today", "yesterday evening"])
def test_two_consumers_at_once_never_spend_past_the_days_posts(fast: Lane, auto_sync: AutoSync, clock: ManualClock,
                                                               spent: str) -> None:
    # Given an organisation fed by one business whose lane has two statement POSTs left: today's count, or the last
    # 24 hours' (the day before spent them in its evening, so the day's first take starts a count holding them)
    tenant, feed = _linked(auto_sync, "biz_race_posts")
    _utc_midnight(clock)  # 09:00 at the bank
    day = BankDay().day(clock.time())
    cap = lane_posts(1)
    if spent == "today":
        seeded = {"posts_day": day, "posts": cap - 2, "held": {}, "hours": {"8": cap - 2}, "prev_hours": {}}
    else:
        seeded = {"posts_day": day_before(day), "posts": cap - 2, "held": {}, "hours": {"20": cap - 2}}
    _table().put_item(Item={**fast_lane_key(tenant), **seeded})
    posting = PostingEvent(business_id="biz_race_posts", account_id=feed.account_id)
    lanes = [_lane(clock), _lane(clock)]
    outcomes: Counter[Outcome] = Counter()
    for _ in range(3):
        start = threading.Barrier(2)

        def consume(lane: FastLane, start: threading.Barrier = start) -> None:
            start.wait()
            with acting_as("FeedEventsFunction"):
                outcomes[lane.on_posting(posting).outcome] += 1

        threads = [threading.Thread(target=consume, args=(lane,)) for lane in lanes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        clock.advance(3 * 3600 + 1)  # past the parked sync, stretched to the sweep's 3 hours (one sync left)
    # Then the two POSTs went to one sync now and one parked, and every later posting was left to the sweep
    assert outcomes == {Outcome.SENT: 1, Outcome.DEFERRED: 1, Outcome.STOOD_DOWN: 4}
    windows = FastLaneWindows(_table())
    record = windows.read(tenant)
    assert record.posts_day == day and record.room(day, BankDay().hour(clock.time()), cap) == 0
    assert record.posts == (cap if spent == "today" else 2)
    assert len(fast.sync_messages()) == 1
    assert len(ParkedWorkStore(_table()).due(clock.time() + 86_400)) == 1
    # And the write itself refuses a sync that would pass the cap, even from a taker that read an older count
    stale = record.model_copy(update={"posts": record.posts - 1})
    assert not windows.take(tenant, stale, clock.time(), cost=1, cap=cap, keep_seconds=3600)
    assert windows.read(tenant) == record


@pytest.mark.long
def test_a_day_of_postings_on_five_businesses_stays_within_100_posts_and_loses_nothing(
        fast: Lane, auto_sync: AutoSync, xero: XeroEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Xero's minute limits run on real time, and this test plays a day in about a minute: they are raised here
    # (the minute budget has tests of its own); what it counts is the organisation's statement POSTs of the day.
    xero.config.tenant_minute_limit = 6_000
    client = build_xero_client(get_settings(), limits=Limits(per_minute=6_000, max_wait_seconds=2),
                               retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05))
    monkeypatch.setattr(wiring, "get_xero_client", lambda: client)
    new_cold_start()
    # Given five businesses feeding one Xero organisation, an account each, linked and backfilled
    tenant = xero.seed_organisation()
    feeds = []
    for n in range(5):
        business = f"biz_shared_{n}"
        auto_sync.connect(business, tenant)
        feeds.append(auto_sync.link(business, auto_sync.account(business)))
    auto_sync.fire()
    auto_sync.pump()
    xero.settle_pending()
    before = len(xero.request_log)
    midnight = _utc_midnight(fast.clock)
    fast.clock.set(midnight)
    posted: list[str] = []
    # When one business posts every 20 minutes from 00:00 to 12:00 UTC and the other four a few times in the
    # morning, the sweep running every 3 hours all day
    for step in range(24 * 3):
        now = midnight + step * 1200
        if step % 9 == 0:
            auto_sync.fire(datetime.fromtimestamp(now, tz=UTC))
        if step < 12 * 3:
            for n in [0] + ([1 + step // 3 % 4] if step % 3 == 0 and step < 24 else []):
                posted += [t.transaction_id for t in auto_sync.ledger.post_generated(feeds[n].account_id, 1)]
            fast.take_postings()
        fast.sync_messages()
        fast.clock.set(now + 1140)
        if ParkedWorkStore(_table()).due(fast.clock.time() + 60):
            fast.minute_passes()  # the every-minute schedule sends the parked sync that is due
            fast.sync_messages()
        auto_sync.pump()
        xero.settle_pending()
    # Then the organisation's statement POSTs of the day stayed within the cap
    day_posts = [e for e in xero.request_log[before:] if e.get("tenant") == tenant and e["method"] == "POST"
                 and e["path"].lower().endswith("/statements")]
    assert len(day_posts) <= POSTS_PER_DAY
    # The lane took no more than its share (100 less 8 sweeps of one POST: the five businesses' statements go in one
    # request stream), every sync settled to what it posted
    record = FastLaneWindows(_table()).read(tenant)
    assert 1 <= record.posts <= lane_posts(1) == 92 and record.held == {}
    # And every posting, 20 minutes apart, got a fast sync of its own: one POST a sync leaves room for them all
    fast_syncs = {m["dedup"] for m in fast.messages if m["reason"] == "posting"}
    assert len(fast_syncs) == 12 * 3
    # And every line is in Xero exactly once
    delivered = [line["transactionId"] for record in feeds for statement in xero.statements(tenant)
                 if statement["feedConnectionId"] == str(record.feed_connection_id).lower()
                 and statement["status"] == "DELIVERED" for line in statement["statementLines"]]
    assert sorted(delivered) == sorted(posted)


def test_a_fast_sync_is_charged_what_it_posted_once_even_when_its_message_comes_again(
        fast: Lane, auto_sync: AutoSync, xero: XeroEmulator) -> None:
    # Given three businesses feeding one organisation, linked and backfilled
    tenant = xero.seed_organisation()
    feeds = []
    for n in range(3):
        auto_sync.connect(f"biz_settle_{n}", tenant)
        feeds.append(auto_sync.link(f"biz_settle_{n}", auto_sync.account(f"biz_settle_{n}")))
    auto_sync.fire()
    auto_sync.pump()
    # When one of them posts: the lane sets aside the one POST a sync of the organisation makes
    auto_sync.ledger.post_generated(feeds[0].account_id, 1)
    fast.take_postings()
    [message] = fast.sync_messages()
    windows = FastLaneWindows(_table())
    assert message["charge"]["posts"] == 1 and windows.read(tenant).posts == 1
    auto_sync.pump()
    # Then the worker's run settled the sync at the one POST it made, and the reservation is over
    record = windows.read(tenant)
    assert (record.posts, record.held, record.settled, record.settled_posts) == (1, {}, 1, 1)
    # When the same message comes again (a copy SQS did not drop, or a redelivery)
    body = {k: v for k, v in message.items() if k not in ("group", "dedup")}
    auto_sync.sqs.send_message(QueueUrl=fast.queue_url, MessageBody=json.dumps(body), MessageGroupId=tenant,
                               MessageDeduplicationId=message["dedup"] + "-again")
    auto_sync.pump()
    # Then nothing is settled twice: the count stays as settled
    record = windows.read(tenant)
    assert (record.posts, record.settled, record.settled_posts) == (1, 1, 1)


def _statement_posts(xero: XeroEmulator, tenant: str, since: int) -> list[dict[str, Any]]:
    return [e for e in xero.request_log[since:] if e.get("tenant") == tenant and e["method"] == "POST"
            and e["path"].lower().endswith("/statements") and e["status"] == 202]


def _removed_in_xero(auto_sync: AutoSync, xero: XeroEmulator, business: str) -> None:
    """The business's Xero user removes the app from the organisation on Xero's side: that connection only."""
    record = auto_sync.connections.get(business)
    assert record is not None
    with xero.state.lock:
        xero.identity.remove_connection(xero.state.connections[record.xero_connection_id], source="xero")


def test_two_businesses_on_one_organisation_go_in_one_statements_post_and_a_disconnected_one_stops_alone(
        fast: Lane, auto_sync: AutoSync, xero: XeroEmulator) -> None:
    # Given two businesses feeding one organisation, each connected by its own Xero user, linked and backfilled
    tenant = xero.seed_organisation()
    feeds = {}
    for business in ("biz_pair_a", "biz_pair_b"):
        connect_directly(auto_sync.client, xero, business, tenant, user=f"{business}@example.com")
        feeds[business] = auto_sync.link(business, auto_sync.account(business))
    auto_sync.fire()
    auto_sync.pump()
    xero.settle_pending()
    before = len(xero.request_log)
    # When both post
    posted = {business: [t.transaction_id for t in auto_sync.ledger.post_generated(feed.account_id, 3)]
              for business, feed in feeds.items()}
    fast.take_postings()
    # Then one fast sync of the organisation, set aside one POST, covers both
    [message] = fast.sync_messages()
    assert {f["business_id"] for f in message["feeds"]} == set(feeds) and message["charge"]["posts"] == 1
    auto_sync.pump()
    xero.settle_pending()
    # And one statements POST carried both businesses' lines, each DELIVERED on its own feed in Xero
    assert len(_statement_posts(xero, tenant, before)) == 1
    for business, feed in feeds.items():
        lines = [line["transactionId"] for s in auto_sync.delivered_statements(feed) for line in s["statementLines"]]
        assert lines == posted[business]
        assert auto_sync.feed(feed).last_sync_error is None
    # When b's user removes the app in Xero, and both post again a window later
    _removed_in_xero(auto_sync, xero, "biz_pair_b")
    fast.clock.advance(WINDOW + 1)
    before = len(xero.request_log)
    again = {business: [t.transaction_id for t in auto_sync.ledger.post_generated(feed.account_id, 2)]
             for business, feed in feeds.items()}
    fast.take_postings()
    assert len(fast.sync_messages()) == 1
    auto_sync.pump()
    xero.settle_pending()
    # Then a's lines keep going, in one POST that carries none of b's
    assert len(_statement_posts(xero, tenant, before)) == 1
    a_lines = [line["transactionId"] for s in auto_sync.delivered_statements(feeds["biz_pair_a"])
               for line in s["statementLines"]]
    assert a_lines == posted["biz_pair_a"] + again["biz_pair_a"]
    # And b's stop: nothing new of b in Xero, its feed and connection say to reconnect
    b_lines = [line["transactionId"] for s in xero.statements(tenant)
               if s["feedConnectionId"] == str(feeds["biz_pair_b"].feed_connection_id).lower()
               for line in s["statementLines"]]
    assert b_lines == posted["biz_pair_b"]
    error = auto_sync.feed(feeds["biz_pair_b"]).last_sync_error
    assert error is not None and "Connect to Xero again" in error
    connection = auto_sync.connections.get("biz_pair_b")
    assert connection is not None and connection.status == "NEEDS_RECONNECT"


# 00:00 of 2026-11-20 at the bank (UTC+8), and that day's date
BANK_MIDNIGHT, DAY = datetime(2026, 11, 19, 16, tzinfo=UTC).timestamp(), "2026-11-20"


def test_settling_is_once_per_reservation_whatever_the_order(aws: Provisioned) -> None:
    windows = FastLaneWindows(_table())
    tenant = "tenant-settle"
    at_1, at_2 = BANK_MIDNIGHT + 9 * 3600, BANK_MIDNIGHT + 10 * 3600  # 09:00 and 10:00
    first, second = LaneCharge(at=at_1, posts=3), LaneCharge(at=at_2, posts=3)
    with acting_as("FeedEventsFunction"):
        assert windows.take(tenant, windows.read(tenant), at_1, cost=3, cap=60, keep_seconds=60)
    with acting_as("AutoSyncWorkerFunction"):
        # The first delivery claims the reservation; a redelivery of the same message cannot
        assert windows.open(tenant, first, "run-a")
        assert not windows.open(tenant, first, "run-b")
        assert not windows.settle(tenant, first, "run-b", 0)  # nor settle it
    with acting_as("FeedEventsFunction"):  # a newer window is taken before the first run settles
        assert windows.take(tenant, windows.read(tenant), at_2, cost=3, cap=60, keep_seconds=60)
    with acting_as("AutoSyncWorkerFunction"):
        # The late settle gives back its own sync's unused POSTs only, once, from the day and from its hour
        assert windows.settle(tenant, first, "run-a", 1)
        assert not windows.settle(tenant, first, "run-a", 1)
        record = windows.read(tenant)
        assert (record.posts, set((record.held or {}).keys())) == (4, {reservation(at_2)})
        assert record.hours == {9: 1, 10: 3}
        # A settle for a reservation its own run never claimed changes nothing (its run died before posting)
        assert not windows.settle(tenant, second, "run-c", 0)
        assert windows.read(tenant).posts == 4
    with acting_as("FeedEventsFunction"):  # a new bank's day starts afresh: yesterday's reservations end with it
        assert windows.take(tenant, windows.read(tenant), BANK_MIDNIGHT + 34 * 3600, cost=3, cap=60,
                            keep_seconds=60)
    with acting_as("AutoSyncWorkerFunction"):
        assert not windows.open(tenant, second, "run-d")
        assert not windows.settle(tenant, second, "run-d", 0)
        record = windows.read(tenant)
        assert (record.posts_on("2026-11-21"), record.hours, record.prev_hours) == (3, {10: 3}, {9: 1, 10: 3})


def test_the_write_keeps_every_24_hours_within_the_cap(aws: Provisioned) -> None:
    windows = FastLaneWindows(_table())
    tenant = "tenant-24h"
    with acting_as("FeedEventsFunction"):
        # The day spends its 60 in the afternoon (two syncs at 14:00 and 15:00, 30 each)
        for hour in (14, 15):
            assert windows.take(tenant, windows.read(tenant), BANK_MIDNIGHT + hour * 3600, cost=30, cap=60,
                                keep_seconds=60)
        assert not windows.take(tenant, windows.read(tenant), BANK_MIDNIGHT + 16 * 3600, cost=1, cap=60,
                                keep_seconds=60)
        # The next day at 14:30, 14:00's POSTs are out of the last 24 hours but the hour counts whole: nothing fits
        next_day = BANK_MIDNIGHT + 86_400
        yesterday = windows.read(tenant)
        assert not windows.take(tenant, yesterday, next_day + 14.5 * 3600, cost=1, cap=60, keep_seconds=60)
        # At 15:00 the 14:00 hour has passed: 30 fit, and the day before's hours start the new day's record
        assert windows.take(tenant, yesterday, next_day + 15 * 3600, cost=30, cap=60, keep_seconds=60)
        today = windows.read(tenant)
        assert (today.posts_day, today.posts, today.hours, today.prev_hours) == ("2026-11-21", 30, {15: 30},
                                                                                 {14: 30, 15: 30})
        # Until 16:00 the day before's 15:00 sync is inside the 24 hours: the write refuses more, even from a taker
        # that read a smaller count
        assert not windows.take(tenant, today.model_copy(update={"posts": 0}), next_day + 15.5 * 3600, cost=1,
                                cap=60, keep_seconds=60)
        assert not windows.take(tenant, today, next_day + 15.5 * 3600, cost=1, cap=60, keep_seconds=60)
        assert windows.take(tenant, today, next_day + 16 * 3600, cost=30, cap=60, keep_seconds=60)
        assert windows.read(tenant).posts == 60


def test_a_window_given_back_leaves_the_record_as_it_was_read(aws: Provisioned) -> None:
    at_1, at_2 = BANK_MIDNIGHT + 9 * 3600, BANK_MIDNIGHT + 9.5 * 3600
    windows = FastLaneWindows(_table())
    with acting_as("FeedEventsFunction"):
        # A first take on a record that did not exist, given back: nothing left of it
        fresh = windows.read("tenant-give")
        assert windows.take("tenant-give", fresh, at_1, cost=5, cap=60, keep_seconds=60)
        windows.give_back("tenant-give", at_1, fresh, cost=5)
        assert windows.read("tenant-give") == fresh
        # A take on a day that already counts POSTs, given back: the count as it was
        assert windows.take("tenant-give", fresh, at_1, cost=5, cap=60, keep_seconds=60)
        counted = windows.read("tenant-give")
        assert windows.take("tenant-give", counted, at_2, cost=5, cap=60, keep_seconds=60)
        assert windows.read("tenant-give").posts == 10
        windows.give_back("tenant-give", at_2, counted, cost=5)
        assert windows.read("tenant-give") == counted == LaneRecord(
            next_at=at_1, posts_day=DAY, posts=5, held={reservation(at_1): Held(posts=5)}, hours={9: 5})
    with acting_as("AutoSyncWorkerFunction"):  # the first sync's run has claimed its reservation
        assert windows.open("tenant-give", LaneCharge(at=at_1, posts=5), "run-1")
    with acting_as("FeedEventsFunction"):
        counted = windows.read("tenant-give")
        # A take that starts a new day, given back: the previous day's count and reservations come back with it,
        # the claim included (no later run may claim it again)
        assert windows.take("tenant-give", counted, at_1 + 86_400, cost=5, cap=60, keep_seconds=60)
        assert windows.read("tenant-give").posts_on("2026-11-21") == 5
        windows.give_back("tenant-give", at_1 + 86_400, counted, cost=5)
        assert windows.read("tenant-give") == counted
        assert counted.held == {reservation(at_1): Held(posts=5, run="run-1")}
