"""A fast sync charged what it posted (docs/auto-sync.md, "Fast lane", Settling): the arithmetic, and the order of
claim, sync and settle against in-memory ports (the conditional writes have their tests on moto)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.auto_sync.fakes import Queue
from xerosync.auto_sync.fast_lane import lane_window
from xerosync.auto_sync.messages import MAX_FEEDS_PER_MESSAGE, FeedRef, FeedSyncRequest, LaneCharge, fast_lane_requests
from xerosync.auto_sync.settling import sync_and_settle
from xerosync.auto_sync.worker import SyncReport
from xerosync.store.feeds import LaneRecord, settled_delta

HOUR = 3600
DAY = "2026-11-20"


def _refs(count: int) -> list[FeedRef]:
    return [FeedRef(business_id=f"biz_{n}", account_id=f"acc_{n}", generation="g1") for n in range(count)]


@pytest.mark.parametrize(("held", "posted", "delta"), [
    (5, 1, -4),  # one business of five had new lines: four POSTs come back
    (5, 0, -5),  # nothing new anywhere
    (5, 5, 0),
    (2, 3, 1),  # a retried request: the extra POST is charged too
    (3, -1, -3),  # never less than nothing posted
])
def test_settling_charges_what_was_posted_instead_of_what_was_set_aside(held: int, posted: int, delta: int) -> None:
    assert settled_delta(held, posted) == delta


def test_the_pace_follows_what_the_days_syncs_really_posted() -> None:
    # No sync settled yet: each is expected to cost what is set aside
    assert LaneRecord(posts_day=DAY, posts=10).posts_per_sync(DAY, 5) == 5
    # Three settled syncs that posted one each, and one more at the set-aside cost: (3 + 5) / 4
    assert LaneRecord(posts_day=DAY, posts=3, settled=3, settled_posts=3).posts_per_sync(DAY, 5) == 2
    # Another day's syncs say nothing of today's
    assert LaneRecord(posts_day="2026-11-19", settled=9, settled_posts=9).posts_per_sync(DAY, 5) == 5


@pytest.mark.parametrize(("per_sync", "window"), [
    (5.0, 3840),  # every sync posts for all five businesses: 12 syncs over the day from 08:00 (46,080 s weighed)
    (2.0, 1536),  # two a sync: 30 syncs
    (0.5, 900),  # never counted below one POST a sync: 60 syncs, more than the business hours use at the set window
])
def test_the_window_shrinks_as_syncs_post_less_than_set_aside(per_sync: float, window: int) -> None:
    assert lane_window(900, 0, 1000, 0, 10_000, posts_used=0, posts_cap=100, cost=5, day_seconds=8 * HOUR,
                       posts_per_sync=per_sync) == (window, "post-budget" if window > 900 else "")


def test_the_lane_stands_down_when_a_whole_set_aside_would_not_fit_however_little_syncs_post() -> None:
    assert lane_window(900, 0, 1000, 0, 10_000, posts_used=56, posts_cap=100, cost=5, day_seconds=23 * HOUR,
                       posts_per_sync=1.0) == (0, "post-budget")


def test_a_fast_sync_carries_its_charge_only_when_one_message_holds_it() -> None:
    [one] = fast_lane_requests("tenant-1", _refs(3), 1000.0, 3)
    assert one.charge == LaneCharge(at=1000.0, posts=3)
    assert one.continuation(_refs(1)).charge is None  # a continuation cannot see the first run's POSTs
    split = fast_lane_requests("tenant-1", _refs(MAX_FEEDS_PER_MESSAGE + 1), 1000.0, 41)
    assert len(split) == 2 and all(r.charge is None for r in split)
    assert FeedSyncRequest.model_validate_json(one.model_dump_json()) == one


class Charges:
    def __init__(self, *, claim: bool = True) -> None:
        self.claim = claim
        self.calls: list[tuple[str, ...]] = []

    def open(self, tenant_id: str, charge: LaneCharge, run: str) -> bool:
        self.calls.append(("open", run))
        return self.claim

    def settle(self, tenant_id: str, charge: LaneCharge, run: str, posted: int) -> bool:
        self.calls.append(("settle", run, str(posted)))
        return True


class Worker:
    def __init__(self, report: SyncReport | None = None, error: Exception | None = None,
                 charges: Charges | None = None) -> None:
        self.report, self.error, self.charges = report or SyncReport(), error, charges

    def sync(self, request: FeedSyncRequest, time_left: Callable[[], float]) -> SyncReport:
        if self.charges is not None:
            self.charges.calls.append(("sync",))
        if self.error:
            raise self.error
        return self.report


def _charged() -> FeedSyncRequest:
    [request] = fast_lane_requests("tenant-1", _refs(3), 1000.0, 3)
    return request


def test_the_run_claims_before_it_syncs_and_settles_what_it_posted() -> None:
    charges = Charges()
    sync_and_settle(_charged(), Worker(SyncReport(statement_posts=1), charges=charges), charges, Queue(),
                    time_left=lambda: 60.0, run="run-a")
    assert charges.calls == [("open", "run-a"), ("sync",), ("settle", "run-a", "1")]


def test_a_run_that_could_not_claim_settles_nothing() -> None:
    charges = Charges(claim=False)  # a redelivery: an earlier run claimed the reservation
    sync_and_settle(_charged(), Worker(SyncReport(statement_posts=0)), charges, Queue(), time_left=lambda: 60.0,
                    run="run-b")
    assert charges.calls == [("open", "run-b")]


def test_a_run_that_fails_or_goes_on_keeps_the_full_charge() -> None:
    charges = Charges()
    with pytest.raises(RuntimeError):
        sync_and_settle(_charged(), Worker(error=RuntimeError("Xero down")), charges, Queue(),
                        time_left=lambda: 60.0, run="run-c")
    queue = Queue()
    unfinished = SyncReport(statement_posts=2, statements_accepted=2, unfinished=_refs(1))
    sync_and_settle(_charged(), Worker(unfinished), charges, queue, time_left=lambda: 60.0, run="run-d")
    assert [c[0] for c in charges.calls] == ["open", "open"]
    assert [r.hop for r in queue.sent] == [1] and queue.sent[0].charge is None


def test_the_sweeps_messages_settle_nothing() -> None:
    charges = Charges()
    request = FeedSyncRequest(tenant_id="tenant-1", feeds=_refs(1), reason="schedule", origin="w20261120T09:x")
    sync_and_settle(request, Worker(SyncReport(statement_posts=1)), charges, Queue(), time_left=lambda: 60.0)
    assert charges.calls == []
