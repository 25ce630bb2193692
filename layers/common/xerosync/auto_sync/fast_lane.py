"""The fast lane: a ledger posting on a linked account asks for a feed sync of its Xero organisation, so that
statement lines reach Xero within minutes instead of at the next 3-hour run (docs/auto-sync.md, "Fast lane").

Coalescing: an organisation gets at most one fast sync per window (``FEED_FAST_LANE_MINUTES``). The window
record (``FastLaneWindows``) holds the time of the organisation's latest fast sync, sent or scheduled, and
only moves forward by a conditional write naming the value read. A posting then finds one of three cases:

- a sync is scheduled after now: it will read the ledger after this posting, so nothing more is needed;
- the last sync is at least a window old: this posting takes a new window and its sync is queued at once;
- otherwise the next window's sync is taken now and parked until the window ends; the every-minute
  parked-work schedule sends it then, so a posting waits at most a window and a minute.

The sync itself is the 3-hour run's: a ``FeedSyncRequest`` on FeedSyncQueue, grouped by the organisation,
read by the same worker from each feed's cursor. The lane never sends lines itself, so a lost, repeated or late
event can cost a sync but never a line: the cursor decides what goes, and the 3-hour sweep catches anything
the lane missed.

Budget: the lane's syncs are bank-feed calls (``FEEDS``). It weighs the organisation's bank-feed calls of the
last 24 h against the day's bank-feed reserve and the app's calls this minute against Xero's app-wide limit;
as either fills up the window stretches toward the 3-hour cadence (the same for every organisation, so the
app slows evenly), and with the reserve spent the lane stands down and leaves the organisation to the sweep.

Statement POSTs: an organisation gets at most ``POSTS_PER_DAY`` a bank's day, and no more in any 24 hours. A fast
sync is expected to cost one POST per message (the worker packs the statements of every business feeding the
organisation into one request stream, worker.py step 4); the 3-hour sweep's runs of the day are set aside first, the
window record counts what the lane took, and the window stretches so that what is left lasts the rest of the bank's
day, weighed by the hours postings come in (``ACTIVE_HOURS``). With nothing left the lane stands down until there is
room again. The sync's run settles the charge against the POSTs it really made (none when nothing was new, more when
a backfill or a split request needed them; ``FastLaneWindows.open``/``settle``, called by the feed-sync worker's
handler), exactly once.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from xerosync.auto_sync.dispatch import FeedSyncSender
from xerosync.auto_sync.messages import MAX_FEEDS_PER_MESSAGE, SCHEDULE_PERIOD_SECONDS, FeedRef, fast_lane_requests
from xerosync.clock import Clock
from xerosync.model import Model
from xerosync.observability import logger
from xerosync.store.feeds import BankDay, FeedRecord, LaneRecord
from xerosync.xero.governor import Limits, TenantState

POSTED = "TransactionPosted"
# Below these shares of the bank-feed reserve and of the app-wide minute the lane runs at its set window;
# above, the window stretches linearly to the 3-hour cadence (reserve spent: the lane stands down).
FEEDS_BUDGET_EASY = 0.5
APP_MINUTE_EASY = 0.6
_TAKE_ATTEMPTS = 5
# The product's goal for one organisation's statement POSTs a bank's day and in any 24 hours, sweep and lane together
# (docs/auto-sync.md, "Fast lane", Statement POSTs); the sweep's runs of a day are set aside out of it.
POSTS_PER_DAY = 100
DAY_SECONDS = 86_400
SWEEPS_PER_DAY = DAY_SECONDS // SCHEDULE_PERIOD_SECONDS
# Pacing (docs/auto-sync.md, "Fast lane", Pacing): what is left of the day's POSTs is spread over the rest of the
# bank's day weighed by when postings come: its business hours [start, end) weigh 1, the other hours
# QUIET_HOURS_WEIGHT, so the budget goes to the hours that use it instead of waiting for the night.
ACTIVE_HOURS = (8, 20)
QUIET_HOURS_WEIGHT = 0.2
# How much faster than evenly the pace spends what is left. Measured on benchmarks/feed_latency.py --quick
# (docs/auto-sync.md, Figures): 1 gave p95 38 min; 2 gave p95 115 min with quiet hours at 0.2 and 104 min at 0.5 (the
# busiest organisations ran out in the evening and waited for the sweep). Evenly it is.
POSTS_PACE = 1.0
_KEEP_SECONDS = 2 * 24 * 3600  # the window record outlives any window; TTL removes an idle organisation's


class PostingEvent(Model):
    """What the lane reads of a ledger event's ``detail`` (docs/ledger-contract.md, Events)."""

    business_id: str
    account_id: str


class Outcome(StrEnum):
    OFF = "off"  # the lane is turned off (window 0)
    NOT_LINKED = "not_linked"  # the account has no live feed
    COVERED = "covered"  # a sync already scheduled will read this posting
    SENT = "sent"  # a new window: its sync was queued now
    DEFERRED = "deferred"  # the window is taken: the next window's sync is parked until it starts
    STOOD_DOWN = "stood_down"  # the bank-feed budget is spent: the 3-hour sweep carries the posting


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    tenant_id: str = ""
    at: float = 0.0  # when the sync goes (SENT: now; DEFERRED: the window's end)
    window_seconds: int = 0
    slowed_by: str = ""  # "feeds-budget", "app-minute", "post-budget" or "" when the lane runs at its set window


class FeedLookup(Protocol):
    def get(self, business_id: str, account_id: str) -> FeedRecord | None: ...

    def live_for_tenant(self, tenant_id: str) -> list[FeedRecord]: ...


class Windows(Protocol):
    def read(self, tenant_id: str) -> LaneRecord: ...

    def take(self, tenant_id: str, seen: LaneRecord, at: float, *, cost: int, cap: int, keep_seconds: int) -> bool: ...

    def give_back(self, tenant_id: str, taken: float, seen: LaneRecord, *, cost: int) -> None: ...


class Budget(Protocol):
    def tenant_state(self, tenant_id: str) -> TenantState: ...

    def app_calls(self, minute: int) -> int: ...


class Parker(Protocol):
    def park(self, *, queue_url: str, body: str, group_id: str | None, message_id: str, resume_at: float,
             reason: str) -> None: ...


def lane_posts(cost: int, posts_cap: int = POSTS_PER_DAY) -> int:
    """The statement POSTs a day the lane may take for an organisation whose sync costs ``cost``: the cap, less
    the sweep's runs of the day at the same cost."""
    return posts_cap - SWEEPS_PER_DAY * cost


def sync_cost(refs: Sequence[FeedRef]) -> int:
    """The statement POSTs a sync of an organisation's ``refs`` is expected to make: one per message, whatever the
    businesses feeding it (the worker sends them all in one request stream, worker.py step 4)."""
    return max(1, math.ceil(len(refs) / MAX_FEEDS_PER_MESSAGE))


def activity(hour: int) -> float:
    """How much posting the bank's ``hour`` (of any day) is expected to see, relative to its business hours."""
    start, end = ACTIVE_HOURS
    return 1.0 if start <= hour % 24 < end else QUIET_HOURS_WEIGHT


def _hours_left(seconds_into_day: float) -> tuple[float, float]:
    """The rest of the bank's day from ``seconds_into_day``: its business seconds and its quiet ones."""
    business = quiet = 0.0
    hour = int(seconds_into_day // 3600)
    for at in range(hour, 24):
        seconds = 3600 - (seconds_into_day - hour * 3600 if at == hour else 0)
        if activity(at) == 1.0:
            business += seconds
        else:
            quiet += seconds
    return business, quiet


def active_seconds_left(seconds_into_day: float) -> float:
    """The rest of the bank's day from ``seconds_into_day``, each hour's seconds weighed by its ``activity``."""
    business, quiet = _hours_left(seconds_into_day)
    return business + QUIET_HOURS_WEIGHT * quiet


def spacing(seconds_into_day: float, syncs_left: float, window_seconds: int) -> float:
    """The weighed seconds between two syncs that spends ``syncs_left`` over the rest of the bank's day. Evenly over
    the weighed seconds when that is no faster than the set window in business hours; when it would be, business
    hours keep the set window and the quiet hours share what is left over, so an organisation with room to spare
    is not slowed at night either."""
    business, quiet = _hours_left(seconds_into_day)
    even = (business + QUIET_HOURS_WEIGHT * quiet) / syncs_left
    if even >= window_seconds or quiet == 0:
        return even
    # Here more syncs are left than the business hours can use at the set window (even < window_seconds)
    return QUIET_HOURS_WEIGHT * quiet / (syncs_left - business / window_seconds)


def real_span(since: float, active: float) -> float:
    """The seconds from ``since`` (seconds into the bank's day, on into the next) until ``active`` weighed seconds
    have passed: an hour of quiet counts ``QUIET_HOURS_WEIGHT`` of one. At most the sweep's period."""
    at, left = since, active
    while at - since < SCHEDULE_PERIOD_SECONDS:
        weight = activity(int(at // 3600))
        room = (at // 3600 + 1) * 3600 - at
        if left <= room * weight:
            return at + left / weight - since
        left -= room * weight
        at += room
    return SCHEDULE_PERIOD_SECONDS


def lane_window(window_seconds: int, feeds_spent: int, feeds_reserved: int, app_calls: int, app_limit: int, *,
                posts_used: int, posts_cap: int, cost: int, day_seconds: float, since: float | None = None,
                posts_per_sync: float | None = None) -> tuple[int, str]:
    """The window to use now, and what stretched it. 0 when the lane stands down: the bank-feed reserve is spent,
    or the day's statement POSTs are (``posts_used`` of the lane's share of ``posts_cap``, ``cost`` set aside for a
    sync). The pace spreads the syncs left over the rest of the bank's day from ``day_seconds`` (seconds into it)
    weighed by activity (``spacing``), counted from the latest sync (``since``, seconds into the bank's day it was
    on; now when not given): across quiet hours the window is longer (``real_span``). The syncs left are what is
    left divided by ``posts_per_sync``, what a sync is expected to post (``LaneRecord.posts_per_sync``; ``cost`` when
    not given)."""
    span = max(0, SCHEDULE_PERIOD_SECONDS - window_seconds)
    window, slowed_by = window_seconds, ""
    feeds_share = feeds_spent / feeds_reserved if feeds_reserved > 0 else 1.0
    if feeds_share >= 1:
        return 0, "feeds-budget"
    left = lane_posts(cost, posts_cap) - posts_used
    if left < max(1, cost):  # a take sets aside the whole cost: it would not fit
        return 0, "post-budget"
    syncs_left = max(1.0, left / max(1.0, cost if posts_per_sync is None else posts_per_sync))
    if feeds_share > FEEDS_BUDGET_EASY:
        window = window_seconds + int(span * (feeds_share - FEEDS_BUDGET_EASY) / (1 - FEEDS_BUDGET_EASY))
        slowed_by = "feeds-budget"
    paced = math.ceil(real_span(day_seconds if since is None else since,
                                spacing(day_seconds, syncs_left * POSTS_PACE, window_seconds)))
    if paced > window:
        window, slowed_by = paced, "post-budget"
    app_share = app_calls / app_limit if app_limit > 0 else 0.0
    if app_share > APP_MINUTE_EASY:
        stretched = window_seconds + int(span * min(1.0, (app_share - APP_MINUTE_EASY) / (1 - APP_MINUTE_EASY)))
        if stretched > window:
            window, slowed_by = stretched, "app-minute"
    return window, slowed_by


class FastLane:
    def __init__(self, *, window_seconds: int, feeds: FeedLookup, windows: Windows, budget: Budget,
                 queue: FeedSyncSender, parker: Parker, feed_sync_queue_url: str, clock: Clock,
                 limits: Limits | None = None, bank: BankDay | None = None) -> None:
        self.window_seconds = window_seconds
        self.feeds = feeds
        self.windows = windows
        self.budget = budget
        self.queue = queue
        self.parker = parker
        self.feed_sync_queue_url = feed_sync_queue_url
        self.clock = clock
        self.limits = limits or Limits()
        self.bank = bank or BankDay()

    def on_posting(self, event: PostingEvent, handled: Callable[[str], bool] = lambda _tenant: False) -> Decision:
        """Ask for a sync of the posting's organisation, coalesced to one per window. ``handled``: whether this
        invocation already took care of the organisation since the posting was read (a batch's earlier event)."""
        if self.window_seconds <= 0:
            return Decision(Outcome.OFF)
        feed = self.feeds.get(event.business_id, event.account_id)
        if feed is None or not feed.is_live:
            return Decision(Outcome.NOT_LINKED)
        tenant = feed.tenant_id
        if handled(tenant):
            return Decision(Outcome.COVERED, tenant)
        for _ in range(_TAKE_ATTEMPTS):
            now = math.floor(self.clock.time() * 1000) / 1000  # the window record keeps milliseconds
            record = self.windows.read(tenant)
            last = record.next_at
            if last > now:
                return Decision(Outcome.COVERED, tenant, last)
            refs = self._live_refs(tenant)
            cost = sync_cost(refs)
            window, slowed_by = self._window(tenant, now, record, cost)
            if window == 0:
                return Decision(Outcome.STOOD_DOWN, tenant, slowed_by=slowed_by)
            at = max(now, last + window)
            # Counted on the bank's day and hour the sync runs in; the day before's POSTs of the last 24 hours count
            if record.room(self.bank.day(at), self.bank.hour(at), lane_posts(cost)) < cost:
                return Decision(Outcome.STOOD_DOWN, tenant, slowed_by="post-budget")
            if not self.windows.take(tenant, record, at, cost=cost, cap=lane_posts(cost), keep_seconds=_KEEP_SECONDS):
                continue  # another consumer moved the window or the day's count first: read it again
            try:
                outcome = self._queue(tenant, refs, at, now, cost)
            except Exception:
                # Not queued: the next posting may take the window
                self.windows.give_back(tenant, at, record, cost=cost)
                raise
            return Decision(outcome, tenant, at, window, slowed_by)
        # Every attempt lost to other writers, each of which took a window for this organisation.
        return Decision(Outcome.COVERED, tenant)

    def _window(self, tenant_id: str, now: float, record: LaneRecord, cost: int) -> tuple[int, str]:
        state = self.budget.tenant_state(tenant_id)
        state.prune(int(now * 1000))
        app_calls = self.budget.app_calls(int(now * 1000) // 60_000)
        today, into = self.bank.day(now), self.bank.seconds_into(now)
        # The pace counts from the latest sync; one older than the sweep's period is no constraint (the window is
        # at most that), so it counts from now
        latest = record.next_at if now - record.next_at < SCHEDULE_PERIOD_SECONDS else now
        since = into - (now - latest)
        return lane_window(self.window_seconds, state.feeds_day(), self.limits.feeds_reserved_per_day, app_calls,
                           self.limits.app_per_minute, posts_used=record.posts_on(today), posts_cap=POSTS_PER_DAY,
                           cost=cost, day_seconds=into, since=since, posts_per_sync=record.posts_per_sync(today, cost))

    def _queue(self, tenant_id: str, refs: Sequence[FeedRef], at: float, now: float, cost: int) -> Outcome:
        requests = fast_lane_requests(tenant_id, refs, at, cost)
        if at <= now:
            self.queue.send(requests)
            return Outcome.SENT
        for request in requests:
            self.parker.park(queue_url=self.feed_sync_queue_url, body=request.model_dump_json(),
                             group_id=request.group_id, message_id=request.deduplication_id, resume_at=at,
                             reason="fast-lane")
        return Outcome.DEFERRED

    def _live_refs(self, tenant_id: str) -> Sequence[FeedRef]:
        return [FeedRef(business_id=f.business_id, account_id=f.account_id, generation=f.generation)
                for f in self.feeds.live_for_tenant(tenant_id) if f.is_live]


def log_decision(decision: Decision) -> None:
    if decision.outcome in (Outcome.SENT, Outcome.DEFERRED, Outcome.STOOD_DOWN):
        logger.info("fast lane", extra={"tenant_id": decision.tenant_id, "outcome": decision.outcome.value,
                                        "at": decision.at, "window_seconds": decision.window_seconds,
                                        "slowed_by": decision.slowed_by})


