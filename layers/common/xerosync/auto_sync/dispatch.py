"""The 3-hour fan-out: every live feed whose business is connected, in messages grouped by Xero tenant.

Two index walks, no per-feed reads: the live feeds (``FEEDS#LIVE``, sorted ``tenant#business#account``) and
the connections (``CONNECTIONS``, sorted ``tenant#business``) come back in the same order, so one pass
joins them like a merge. Feeds of a business whose connection is NEEDS_RECONNECT or DISCONNECTED are
skipped: their work cannot succeed until the user reconnects, and the status route already says so; so is a
feed of another connection generation than the business's (a reconnection is moving it).

The walk checks the time left at every tenant boundary; when too little is left it sends the rest of the
window to itself (DispatchQueue) with the position reached, so any number of feeds is covered in time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from xerosync.auto_sync.messages import DispatchContinuation, FeedRef, FeedSyncRequest, schedule_requests
from xerosync.store.connections import ConnectionStatus

# Enough for a last page of the index and the sends it leads to (measured: well under a second each).
TIME_MARGIN_SECONDS = 30.0
# Messages are sent in bulk once this many are waiting (SQS takes 10 per call; the sender parallelises).
FLUSH_AT = 500


class LiveFeedIndex(Protocol):
    def live_positions(self, after: str | None = None) -> Iterator[tuple[str, str]]: ...


class ConnectionIndex(Protocol):
    def statuses_after(self, after: str | None = None) -> Iterator[tuple[str, ConnectionStatus, str]]: ...


class FeedSyncSender(Protocol):
    def send(self, requests: Sequence[FeedSyncRequest]) -> int:
        """Send the messages; returns how many SQS calls it took."""
        ...


class DispatchContinuer(Protocol):
    def continue_from(self, continuation: DispatchContinuation) -> None: ...


@dataclass
class DispatchReport:
    window: str
    tenants: int = 0
    feeds_dispatched: int = 0
    feeds_skipped: int = 0  # the business's connection is not ACTIVE
    messages: int = 0
    sqs_calls: int = 0
    continued_after: str | None = None


class _ConnectionJoin:
    """Looks up ``tenant#business`` positions in ascending order against the connection index."""

    def __init__(self, connections: ConnectionIndex, start: str | None) -> None:
        self.connections = connections
        self._restart(start)

    def _restart(self, start: str | None) -> None:
        self._walk = self.connections.statuses_after(start)
        self._current = next(self._walk, None)
        self._last_key = start or ""

    def status(self, key: str) -> tuple[ConnectionStatus, str] | None:
        """The connection's status and generation."""
        if key < self._last_key:  # ids outside the usual alphabet can sort differently: start again there
            self._restart(_just_before(key))
        self._last_key = key
        while self._current is not None and self._current[0] < key:
            self._current = next(self._walk, None)
        if self._current is not None and self._current[0] == key:
            return self._current[1], self._current[2]
        return None


def _just_before(key: str) -> str:
    """The greatest string below ``key`` that index queries with ``> after`` can start from."""
    return key[:-1] + chr(ord(key[-1]) - 1) + "\uffff" if key else ""


def dispatch_due_feeds(*, window: str, feeds: LiveFeedIndex, connections: ConnectionIndex,
                       sender: FeedSyncSender, continuer: DispatchContinuer, time_left: Callable[[], float],
                       after: str | None = None, hop: int = 0,
                       margin_seconds: float | None = None) -> DispatchReport:
    margin = TIME_MARGIN_SECONDS if margin_seconds is None else margin_seconds
    report = DispatchReport(window=window)
    tenant_start = after.split("#", 1)[0] + "#" if after else None
    join = _ConnectionJoin(connections, tenant_start)
    outbox: list[FeedSyncRequest] = []

    def flush() -> None:
        if outbox:
            report.sqs_calls += sender.send(outbox)
            report.messages += len(outbox)
            outbox.clear()

    tenant: str | None = None
    due: list[FeedRef] = []
    last_position: str | None = None
    for position, generation in feeds.live_positions(after):
        tenant_id, business_id, account_id = position.split("#", 2)
        if tenant_id != tenant:
            if tenant is not None:
                outbox.extend(_close_tenant(window, tenant, due, report))
                if len(outbox) >= FLUSH_AT:
                    flush()
                if time_left() < margin and last_position is not None:
                    flush()
                    # Continue after the last feed of the tenant just sent: the next starts a new tenant.
                    continuer.continue_from(DispatchContinuation(window=window, after=last_position, hop=hop + 1))
                    report.continued_after = last_position
                    return report
            tenant, due = tenant_id, []
        connection = join.status(f"{tenant_id}#{business_id}")
        if connection == (ConnectionStatus.ACTIVE, generation):
            due.append(FeedRef(business_id=business_id, account_id=account_id, generation=generation))
        else:
            report.feeds_skipped += 1
        last_position = position
    if tenant is not None:
        outbox.extend(_close_tenant(window, tenant, due, report))
    flush()
    return report


def _close_tenant(window: str, tenant_id: str, due: list[FeedRef], report: DispatchReport) -> list[FeedSyncRequest]:
    if not due:
        return []
    report.tenants += 1
    report.feeds_dispatched += len(due)
    return schedule_requests(window, tenant_id, due)
