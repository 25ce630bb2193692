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

Statement POSTs: an organisation gets at most ``POSTS_PER_DAY`` a UTC day. A fast sync costs one POST per business
feeding the organisation (each business posts its own statements); the 3-hour sweep's runs of the day are set
aside first, the window record counts what the lane took, and the window stretches so that what is left lasts
the rest of the day. With nothing left the lane stands down until the next UTC day. The charge is an upper
bound (a business with nothing new posts nothing): the sync's run settles it against the POSTs it really made
(``FastLaneWindows.open``/``settle``, called by the feed-sync worker's handler), exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from xerosync.clock import Clock
from xerosync.feeds.dispatch import FeedSyncSender
from xerosync.feeds.messages import SCHEDULE_PERIOD_SECONDS, FeedRef, fast_lane_requests
from xerosync.model import Model
from xerosync.observability import logger
from xerosync.store.feeds import FeedRecord, LaneRecord
from xerosync.xero.governor import Limits, TenantState

POSTED = "TransactionPosted"
# Below these shares of the bank-feed reserve and of the app-wide minute the lane runs at its set window;
# above, the window stretches linearly to the 3-hour cadence (reserve spent: the lane stands down).
FEEDS_BUDGET_EASY = 0.5
APP_MINUTE_EASY = 0.6
_TAKE_ATTEMPTS = 5
# The product's goal for one organisation's statement POSTs a UTC day, sweep and lane together (docs/auto-sync.md,
# "Fast lane", Statement POSTs); the sweep's runs of a day are set aside out of it.
POSTS_PER_DAY = 100
DAY_SECONDS = 86_400
SWEEPS_PER_DAY = DAY_SECONDS // SCHEDULE_PERIOD_SECONDS
# How much faster than evenly over the rest of the UTC day the lane may spend its POSTs. Measured on
# benchmarks/feed_latency.py --quick (docs/auto-sync.md, Figures): 1 gave p95 46 min, max 81 min; 3 gave p95 47 min,
# max 116 min (a busy organisation ran out and waited for the sweep); 6 gave p95 75 min. Evenly it is. With each sync
# settled to what it posted: 1 gave p95 44 min; 3 gave p95 16 min but 113 POSTs over the bank's day (67 in a UTC day).
POSTS_PACE = 1
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

    def take(self, tenant_id: str, seen: LaneRecord, at: float, *, day: str, cost: int, cap: int,
             keep_seconds: int) -> bool: ...

    def give_back(self, tenant_id: str, taken: float, seen: LaneRecord, *, day: str, cost: int) -> None: ...


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


def lane_window(window_seconds: int, feeds_spent: int, feeds_reserved: int, app_calls: int, app_limit: int, *,
                posts_used: int, posts_cap: int, cost: int, seconds_left: float,
                posts_per_sync: float | None = None) -> tuple[int, str]:
    """The window to use now, and what stretched it. 0 when the lane stands down: the bank-feed reserve is spent,
    or the day's statement POSTs are (``posts_used`` of the lane's share of ``posts_cap``, ``cost`` set aside for a
    sync, with ``seconds_left`` in the UTC day). The pace divides what is left by ``posts_per_sync``, what a sync is
    expected to post (``LaneRecord.posts_per_sync``; ``cost`` when not given)."""
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
    paced = min(SCHEDULE_PERIOD_SECONDS, math.ceil(seconds_left / (POSTS_PACE * syncs_left)))
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
                 limits: Limits | None = None) -> None:
        self.window_seconds = window_seconds
        self.feeds = feeds
        self.windows = windows
        self.budget = budget
        self.queue = queue
        self.parker = parker
        self.feed_sync_queue_url = feed_sync_queue_url
        self.clock = clock
        self.limits = limits or Limits()

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
            cost = max(1, len({ref.business_id for ref in refs}))  # one statements POST per business (worker.py)
            window, slowed_by = self._window(tenant, now, record, cost)
            if window == 0:
                return Decision(Outcome.STOOD_DOWN, tenant, slowed_by=slowed_by)
            at = max(now, last + window)
            # Charged to the UTC day the sync runs in: next_at only moves forward, so the record's day does too.
            day = _utc_day(at)
            if not self.windows.take(tenant, record, at, day=day, cost=cost, cap=lane_posts(cost),
                                     keep_seconds=_KEEP_SECONDS):
                continue  # another consumer moved the window first (or the day's POSTs ran out): read it again
            try:
                outcome = self._queue(tenant, refs, at, now, cost)
            except Exception:
                # Not queued: the next posting may take the window
                self.windows.give_back(tenant, at, record, day=day, cost=cost)
                raise
            return Decision(outcome, tenant, at, window, slowed_by)
        # Every attempt lost to other writers, each of which took a window for this organisation.
        return Decision(Outcome.COVERED, tenant)

    def _window(self, tenant_id: str, now: float, record: LaneRecord, cost: int) -> tuple[int, str]:
        state = self.budget.tenant_state(tenant_id)
        state.prune(int(now * 1000))
        app_calls = self.budget.app_calls(int(now * 1000) // 60_000)
        today = _utc_day(now)
        return lane_window(self.window_seconds, state.feeds_day(), self.limits.feeds_reserved_per_day, app_calls,
                           self.limits.app_per_minute, posts_used=record.posts_on(today),
                           posts_cap=POSTS_PER_DAY, cost=cost, seconds_left=DAY_SECONDS - now % DAY_SECONDS,
                           posts_per_sync=record.posts_per_sync(today, cost))

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


def _utc_day(moment: float) -> str:
    """The UTC day of a moment read from the lane's clock, as the window record names it: ``2026-11-20``."""
    return datetime.fromtimestamp(moment, tz=UTC).date().isoformat()


def log_decision(decision: Decision) -> None:
    if decision.outcome in (Outcome.SENT, Outcome.DEFERRED, Outcome.STOOD_DOWN):
        logger.info("fast lane", extra={"tenant_id": decision.tenant_id, "outcome": decision.outcome.value,
                                        "at": decision.at, "window_seconds": decision.window_seconds,
                                        "slowed_by": decision.slowed_by})


