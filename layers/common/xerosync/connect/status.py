"""What the Xero page shows: the connection, as Xero sees it now, and every bank account with its link.

Live status: while the connection is ACTIVE, a user opening the page has it confirmed with Xero (the
connections list, one call), at most once every ``confirm_every_seconds`` per business whoever looks (one
conditional write takes the turn), so a disconnect made in Xero shows when the user looks rather than at the
next hourly check. A confirmation that Xero cannot answer leaves what is stored. A PENDING feed is settled
(ACTIVE or REJECTED with Xero's reason) when an Admin or Finance user looks, at most every 30 seconds per
business; auto-sync settles it too: the sync a link asks for looks before and after sending the history.
docs/architecture.md, Connect.
"""

from __future__ import annotations

from dataclasses import dataclass

from xerosync.auth import Caller
from xerosync.clock import Clock, iso, utc_now
from xerosync.connect.models import ConnectionStatusView
from xerosync.connect.ports import Connections, ConnectSessions, Feeds, LedgerAccounts, XeroSignIn
from xerosync.connect.views import account_view, connection_view
from xerosync.observability import logger, metrics
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import FeedRecord, FeedStatus
from xerosync.xero.errors import ReconnectRequired, XeroError
from xerosync.xero.governor import INTERACTIVE
from xerosync.xero.session import DISCONNECTED_IN_XERO

CONFIRM_EVERY_SECONDS = 300
# Pending feeds are asked about at most this often per business (auto-sync settles them too, docs/auto-sync.md).
SETTLE_EVERY_SECONDS = 30

_STILL_PENDING = frozenset({FeedStatus.PENDING})


@dataclass
class ConnectionStatusService:
    connections: Connections
    feeds: Feeds
    ledger: LedgerAccounts
    sessions: ConnectSessions
    identity: XeroSignIn
    clock: Clock
    confirm_every_seconds: int = CONFIRM_EVERY_SECONDS

    def status(self, caller: Caller) -> ConnectionStatusView:
        record = self.connections.get(caller.business_id)
        if record is not None and record.status == ConnectionStatus.ACTIVE:
            record = self._confirmed(record)
        feeds = {f.account_id: f for f in self.feeds.for_business(caller.business_id)}
        pending = [f for f in feeds.values() if f.status == FeedStatus.PENDING and record is not None
                   and f.generation == record.generation]
        if (pending and record is not None and record.status == ConnectionStatus.ACTIVE
                and caller.can_manage_accounting  # a Viewer's look never reaches Xero for them
                and self.connections.claim_turn(record.business_id, record.generation, "feeds_checked_at",
                                                self.clock.time(), SETTLE_EVERY_SECONDS)):
            self._settle_pending_feeds(record, pending, feeds)
        accounts = [account_view(a, feeds.get(a.account_id), record) for a in self.ledger.accounts(caller.business_id)]
        return ConnectionStatusView(connection=connection_view(record) if record else None, accounts=accounts,
                                    can_manage=caller.can_manage_accounting)

    def _confirmed(self, record: XeroConnectionRecord) -> XeroConnectionRecord:
        """The connection after asking Xero whether it still has it, when it is this business's turn to ask."""
        if not self.connections.claim_turn(record.business_id, record.generation, "confirmed_at", self.clock.time(),
                                           self.confirm_every_seconds):
            return record
        metrics.add_metric(name="ConnectionConfirmations", unit="Count", value=1)
        session = self.sessions.session_for_generation(record.business_id, record.tenant_id, record.generation)
        try:
            tenants = {c.tenant_id for c in self.identity.connections(session.access_token())}
        except ReconnectRequired:
            tenants = None  # the grant is dead: refreshing it has marked the connection already
        except XeroError as error:
            logger.info("connection not confirmed with Xero on this read", extra={
                "business_id": record.business_id, "error": type(error).__name__})
            return record
        if tenants is not None and record.tenant_id not in tenants:
            logger.warning("organisation disconnected on Xero's side", extra={
                "business_id": record.business_id, "tenant_id": record.tenant_id})
            self.sessions.connection_lost(record.business_id, record.generation, DISCONNECTED_IN_XERO)
        return self.connections.get(record.business_id) or record

    def _settle_pending_feeds(self, record: XeroConnectionRecord, pending: list[FeedRecord],
                              feeds: dict[str, FeedRecord]) -> None:
        """A feed connection Xero accepted as PENDING becomes active (or rejected) later: look once per read.
        Xero's answer is about the feed connection read; a feed linked again meanwhile keeps its own state."""
        if not pending:
            return
        now = iso(utc_now(self.clock))
        try:
            session = self.sessions.session(record.business_id, record.generation, purpose=INTERACTIVE)
            for feed in pending:
                current = session.feed_connection(str(feed.feed_connection_id))
                if current.status == "REJECTED":
                    reason = (current.error.detail if current.error else None) or "Xero rejected the bank feed."
                    feeds[feed.account_id] = self.feeds.change(
                        feed, only_if=_STILL_PENDING, same_link=True, status=FeedStatus.REJECTED,
                        status_reason=reason, status_changed_at=now)
                elif current.status in (None, "ACTIVE"):
                    feeds[feed.account_id] = self.feeds.change(
                        feed, only_if=_STILL_PENDING, same_link=True, status=FeedStatus.ACTIVE,
                        status_reason=None, xero_account_id=current.account_id or feed.xero_account_id,
                        status_changed_at=now)
        except (XeroError, ReconnectRequired) as error:
            logger.info("pending feeds not settled on this read", extra={"error": type(error).__name__})
