"""Syncs asked for now rather than by the schedule: after a link (the backfill) and the Sync now button.

``request_feed_sync`` is the connect feature's way in (called right after an account is linked).
``SyncNowService`` is the route's logic: Admin and Finance only, rate-limited per business so that it
cannot be used to drain the organisation's Xero budget (5,000 calls a day, shared by every business and
feature on the organisation), and it only queues work: the worker makes the Xero calls, serialised per
organisation with everything else.
"""

import math
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from pydantic import Field

from xerosync.auth import Caller
from xerosync.auto_sync.dispatch import FeedSyncSender
from xerosync.auto_sync.messages import on_demand_requests
from xerosync.clock import Clock, iso, process_clock, utc_now
from xerosync.errors import Conflict, TooManyRequests
from xerosync.model import Model
from xerosync.observability import logger
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import FeedRecord
from xerosync.xero.errors import RECONNECT_ACTION


def request_feed_sync(tenant_id: str, business_id: str, generation: str, account_ids: list[str], reason: str, *,
                      queue: FeedSyncSender | None = None, clock: Clock | None = None) -> None:
    """Queue a sync of these accounts' feeds now (grouped with the organisation's other Xero work).

    The worker reads each feed as it is when the message is processed: after a link it sends the history
    from the feed's ``backfill_from`` (in statements of Xero's size), deduplicated by Xero per line.
    """
    if not account_ids:
        return
    if queue is None:
        from xerosync.auto_sync.wiring import get_feed_sync_queue  # adapters only when none is handed in

        queue = get_feed_sync_queue()
    requested_at = utc_now(clock or process_clock())
    queue.send(on_demand_requests(tenant_id, business_id, generation, account_ids, reason, requested_at))
    logger.info("feed sync requested", extra={"tenant_id": tenant_id, "business_id": business_id,
                                              "accounts": len(account_ids), "reason": reason})


class SyncNowAccepted(Model):
    status: Literal["QUEUED"] = "QUEUED"
    account_ids: list[str] = Field(description="The linked bank accounts whose transactions are being synced.")
    requested_at: str = Field(description="When the sync was asked for (ISO 8601, UTC).")
    next_sync_now_at: str = Field(description="The earliest time Sync now may be used again.")


class ConnectionReader(Protocol):
    def get(self, business_id: str) -> XeroConnectionRecord | None: ...


class BusinessFeeds(Protocol):
    def for_business(self, business_id: str) -> list[FeedRecord]: ...


class SyncNowTurns(Protocol):
    def claim(self, business_id: str, now: float, interval_seconds: int) -> float: ...

    def release(self, business_id: str, now: float) -> None: ...


class SyncNowService:
    def __init__(self, *, connections: ConnectionReader, feeds: BusinessFeeds, turns: SyncNowTurns,
                 queue: FeedSyncSender, clock: Clock, interval_seconds: int) -> None:
        self.connections = connections
        self.feeds = feeds
        self.turns = turns
        self.queue = queue
        self.clock = clock
        self.interval_seconds = interval_seconds

    def request(self, caller: Caller) -> SyncNowAccepted:
        caller.require_accounting_role()
        connection = self.connections.get(caller.business_id)
        if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
            raise Conflict("This business is not connected to Xero.", code="not_connected",
                           action="Connect to Xero first from Accounting > Xero.")
        if connection.status == ConnectionStatus.NEEDS_RECONNECT:
            raise Conflict(connection.status_reason or "The connection to Xero needs to be renewed.",
                           code="reconnect_required", action=RECONNECT_ACTION)
        linked = [f.account_id for f in self.feeds.for_business(caller.business_id)
                  if f.is_live and f.generation == connection.generation]
        if not linked:
            raise Conflict("No bank account is linked to Xero yet.", code="no_linked_accounts",
                           action="Link a bank account to Xero first.")
        now = self.clock.time()
        wait = self.turns.claim(caller.business_id, now, self.interval_seconds)
        if wait > 0:
            retry_after = math.ceil(wait)
            at = datetime.fromtimestamp(now + retry_after, tz=UTC)
            raise TooManyRequests(
                "Sync now was used moments ago; your accounts also sync to Xero on their own every 3 hours.",
                retry_after=retry_after, code="sync_now_too_soon",
                action=f"Try Sync now again after {iso(at)}.")
        try:
            request_feed_sync(connection.tenant_id, caller.business_id, connection.generation, linked, "sync-now",
                              queue=self.queue, clock=self.clock)
        except Exception:
            self.turns.release(caller.business_id, now)  # the turn was not used: do not make the user wait
            raise
        moment = datetime.fromtimestamp(now, tz=UTC)
        return SyncNowAccepted(account_ids=linked, requested_at=iso(moment),
                               next_sync_now_at=iso(moment + timedelta(seconds=self.interval_seconds)))
