"""Disconnecting from the bank's side (the help centre: Manage connection > Disconnect Xero > YES, DISCONNECT).

Idempotent. The business's side ends DISCONNECTED at once, whatever Xero answers: the generation is ended
first (its tokens retired, so no work uses them again, and its hold on the Xero connection released), its
links are marked DISCONNECTED, and a cleanup job bound to that generation removes its feed connections, the Xero
connection unless someone else holds it, and the grant, now or from the cleanup queue. Mappings, expenses and
sync history stay, keyed by business, so a reconnection finds them. docs/architecture.md, Connect.

A disconnect that dies after marking the connection (a Lambda killed, a DynamoDB error) is finished by the next
one, or by the hourly check when nobody clicks again (``end``, recorded by ``generation_ended``): otherwise its
feed connections would stay in Xero, and the accounts could never be linked again.
"""

from __future__ import annotations

from dataclasses import dataclass

from xerosync.auth import Caller
from xerosync.clock import Clock, iso, utc_now
from xerosync.connect.models import ConnectionView
from xerosync.connect.oauth import DISCONNECTED_REASON, end_generation
from xerosync.connect.ports import Cleaner, ConnectionClaims, Connections, Feeds, TokenStore
from xerosync.connect.views import connection_view
from xerosync.errors import Conflict, NotFound
from xerosync.observability import metrics
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import LIVE_STATUSES, FeedStatus

ATTEMPTS = 3


@dataclass
class Disconnect:
    connections: Connections
    feeds: Feeds
    tokens: TokenStore
    claims: ConnectionClaims
    cleaner: Cleaner
    clock: Clock

    def disconnect(self, caller: Caller) -> ConnectionView:
        caller.require_accounting_role()
        record = self._mark_disconnected(caller.business_id)
        if record is None:
            stored = self.connections.get(caller.business_id)
            assert stored is not None
            if stored.generation_ended:
                return connection_view(stored)  # disconnected already
            record = stored  # an earlier disconnect died half-way: this one finishes it
        pending = self.end(record)
        metrics.add_metric(name="Disconnected", unit="Count", value=1)
        stored = self.connections.get(caller.business_id)
        assert stored is not None
        view = connection_view(stored)
        view.cleanup_pending = pending
        return view

    def end(self, record: XeroConnectionRecord) -> bool:
        """End the disconnected connection's generation: its live links, its tokens and hold, and a cleanup of
        what it left in Xero, now or queued. Safe to repeat. True when the cleanup waits in the queue."""
        feed_ids = self._retire_links(record)
        job = end_generation(self.tokens, self.claims, record.business_id, record, self.clock.time(), feed_ids)
        pending = not self.cleaner.clean_or_queue(job)
        self.connections.mark_generation_ended(record.business_id, record.generation)
        return pending

    def _mark_disconnected(self, business_id: str) -> XeroConnectionRecord | None:
        """The connection this request ends (whichever generation is current when it lands), or None when it
        was disconnected already."""
        for _ in range(ATTEMPTS):
            record = self.connections.get(business_id)
            if record is None:
                raise NotFound("This business is not connected to Xero.", code="not_connected")
            if record.status == ConnectionStatus.DISCONNECTED:
                return None
            if self.connections.set_status(business_id, ConnectionStatus.DISCONNECTED, "Disconnected by a user.",
                                           iso(utc_now(self.clock)), generation=record.generation):
                return record
        raise Conflict("The business's Xero connection changed while this request ran.", action="Try again.",
                       code="connection_changed")

    def _retire_links(self, record: XeroConnectionRecord) -> list[str]:
        """Mark the business's live links DISCONNECTED; their feed connections, and those of the generation's
        other links (an unlinked one's may still wait for its own cleanup), go to the cleanup job."""
        feed_ids = []
        for feed in self.feeds.for_business(record.business_id):
            if feed.is_live:
                ended = self.feeds.change(feed, only_if=LIVE_STATUSES, status=FeedStatus.DISCONNECTED,
                                          status_reason=DISCONNECTED_REASON,
                                          status_changed_at=iso(utc_now(self.clock)))
                # linked again since it was read: the link ended is the new one, and its feed connection goes too
                if ended.feed_connection_id not in (None, feed.feed_connection_id):
                    feed_ids.append(ended.feed_connection_id)
            elif feed.generation != record.generation:
                continue
            if feed.feed_connection_id:
                feed_ids.append(feed.feed_connection_id)
        return feed_ids
