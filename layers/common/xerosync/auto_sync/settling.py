"""One feed-sync message run, and the fast lane's charge for it settled (docs/auto-sync.md, "Fast lane", Settling).

The lane charges a fast sync the statement POSTs it expects, one per message (the worker sends the statements of every
business feeding the organisation in one request stream). A sync with nothing new posts none, and a long backfill or
a retried request more. The run that syncs it charges what it really posted instead, exactly once:

1. Before any Xero call it claims the sync's reservation on the window record (``FastLaneWindows.open``, one
   conditional write). Only the first run of the message can: a redelivered or repeated message finds it claimed
   and settles nothing, since what the earlier run posted is unknown (it may have died after posting).
2. After the run, the claim and the reservation end in one conditional write that adds the POSTs made less those
   set aside (``settle``). A sync that dies before it keeps its full charge; so does one that goes on as a
   continuation (the continuation cannot see the first run's POSTs). All of it errs toward charging too much.

The 3-hour sweep's and on-demand messages carry no charge: they run as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from xerosync.auto_sync.dispatch import FeedSyncSender
from xerosync.auto_sync.messages import FeedSyncRequest, LaneCharge
from xerosync.auto_sync.worker import SyncReport
from xerosync.observability import logger, metrics


class Worker(Protocol):
    def sync(self, request: FeedSyncRequest, time_left: Callable[[], float]) -> SyncReport: ...


class Charges(Protocol):
    def open(self, tenant_id: str, charge: LaneCharge, run: str) -> bool: ...

    def settle(self, tenant_id: str, charge: LaneCharge, run: str, posted: int) -> bool: ...


def sync_and_settle(request: FeedSyncRequest, worker: Worker, charges: Charges, queue: FeedSyncSender, *,
                    time_left: Callable[[], float], run: str | None = None) -> SyncReport:
    """Sync the message's feeds; send a continuation if the run could not finish; settle its fast-lane charge."""
    charge = request.charge
    run = run or uuid.uuid4().hex
    claimed = charge is not None and charges.open(request.tenant_id, charge, run)
    report = worker.sync(request, time_left=time_left)
    # More than one invocation's worth (a long backfill, or time ran out): carry on in the same message
    # group, behind anything else queued for the organisation. Only after progress, so nothing loops.
    if report.unfinished and report.progressed:
        queue.send([request.continuation(report.unfinished)])
        return report  # the sync is not over: it keeps its charge
    if charge is not None and claimed:
        settled = charges.settle(request.tenant_id, charge, run, report.statement_posts)
        returned = charge.posts - report.statement_posts
        if settled and returned > 0:
            metrics.add_metric(name="FastLanePostsReturned", unit="Count", value=returned)
        logger.info("fast-lane charge settled" if settled else "fast-lane charge kept", extra={
            "set_aside": charge.posts, "posted": report.statement_posts, "window": charge.at})
    return report
