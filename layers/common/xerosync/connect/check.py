"""The periodic check: notices organisations disconnected on Xero's side before anyone calls, and bank feeds
whose Xero bank account was deleted there (the help centre's other way to remove the bank from Xero).

Each ACTIVE connection costs one ``GET /connections`` (Xero counts it against the app's minute only), and one
``GET /FeedConnections`` if the business has active feeds (a feed missing from the list is confirmed by id
before it is marked). A run stops before its time is up and the next continues where it stopped, so any
number of connections is covered, one pass after another.

An AWS error that outlasts the SDK's retries while one connection is looked at (a throttled read, KMS
unavailable while its token is opened) leaves that connection to the next pass and the run goes on: failing the
run would have the schedule's retries start the pass again from where the last run stopped, redoing every
connection already looked at (each one a token read, often a refresh, and two or three Xero calls), and a pass
over many connections meets such an error somewhere more often than not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from xerosync.clock import Clock, from_iso, iso, utc_now
from xerosync.connect.ports import AccessTokens, CheckPosition, ConnectionWalk, ConnectSessions, Feeds, GrantConnections
from xerosync.observability import logger
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import FeedStatus, StaleFeed
from xerosync.xero.errors import ReconnectRequired, XeroError, XeroNotFound
from xerosync.xero.session import DISCONNECTED_IN_XERO

SAFETY_MARGIN_MS = 30_000


@dataclass
class CheckReport:
    checked: int = 0
    still_connected: int = 0
    needs_reconnect: list[str] = field(default_factory=list)
    feeds_gone: list[str] = field(default_factory=list)  # bank account ids whose feed was deleted in Xero
    unreachable: int = 0
    left_to_next_pass: int = 0  # connections an AWS error stopped this pass from looking at
    disconnects_finished: int = 0
    reconnections_finished: int = 0
    finished_pass: bool = False


@dataclass
class ConnectionCheck:
    connections: ConnectionWalk
    position: CheckPosition
    feeds: Feeds
    tokens: AccessTokens
    identity: GrantConnections
    sessions: ConnectSessions
    clock: Clock
    # What a disconnect or a reconnection that died half-way left undone (``Disconnect.end``,
    # ``ConnectOAuth.finish_replacement``); None: not finished by this check.
    finish_disconnect: Callable[[XeroConnectionRecord], object] | None = None
    finish_replacement: Callable[[XeroConnectionRecord], object] | None = None

    def run(self, remaining_ms: Callable[[], int]) -> CheckReport:
        report = CheckReport()
        position = self.position.load()
        for record in self.connections.all(after=position):
            if remaining_ms() < SAFETY_MARGIN_MS:
                self.position.save(position)
                return report
            position = self.connections.position(record)
            try:
                self._check_one(record, report)
            except (ClientError, BotoCoreError) as error:
                report.left_to_next_pass += 1
                logger.warning("connection check met an AWS error; the next pass looks at this connection again",
                               extra={"business_id": record.business_id, "error": type(error).__name__})
        self.position.clear()
        report.finished_pass = True
        return report

    def _check_one(self, record: XeroConnectionRecord, report: CheckReport) -> None:
        if self.finish_disconnect is not None and _unfinished_disconnect(record, self.clock.time()):
            logger.warning("finishing a disconnect that died half-way", extra={"business_id": record.business_id})
            self.finish_disconnect(record)
            report.disconnects_finished += 1
        if self.finish_replacement is not None and _unfinished_replacement(record, self.clock.time()):
            logger.warning("finishing a reconnection that died half-way", extra={"business_id": record.business_id})
            self.finish_replacement(record)
            report.reconnections_finished += 1
        if record.status != ConnectionStatus.ACTIVE:
            return
        report.checked += 1
        try:
            # invalid_grant marks NEEDS_RECONNECT itself
            token = self.tokens.access_token(record.business_id, record.generation)
            tenants = {c.tenant_id for c in self.identity.connections(token)}
        except ReconnectRequired:
            report.needs_reconnect.append(record.business_id)
            return
        except XeroError:
            report.unreachable += 1
            return
        if record.tenant_id in tenants:
            report.still_connected += 1
            try:
                report.feeds_gone.extend(self._feeds_deleted_in_xero(record))
            except ReconnectRequired:
                report.needs_reconnect.append(record.business_id)
            except XeroError:
                report.unreachable += 1
            return
        self.sessions.connection_lost(record.business_id, record.generation, DISCONNECTED_IN_XERO)
        report.needs_reconnect.append(record.business_id)
        logger.warning("organisation disconnected on Xero's side", extra={"business_id": record.business_id,
                                                                         "tenant_id": record.tenant_id})

    def _feeds_deleted_in_xero(self, record: XeroConnectionRecord) -> list[str]:
        """Active feeds of the business whose feed connection Xero no longer has: REJECTED, with the way back."""
        active = [f for f in self.feeds.for_business(record.business_id)
                  if f.status == FeedStatus.ACTIVE and f.feed_connection_id and f.generation == record.generation]
        if not active:
            return []
        session = self.sessions.session_for_generation(record.business_id, record.tenant_id, record.generation)
        listed = {str(c.id).lower() for c in session.feed_connections() if c.id}
        gone = []
        for feed in active:
            assert feed.feed_connection_id is not None
            if feed.feed_connection_id.lower() in listed:
                continue
            try:
                session.feed_connection(feed.feed_connection_id)
                continue  # Xero still has it: the list was behind
            except XeroNotFound:
                pass
            # A sync saving its progress meanwhile does not put this off to the next pass; an unlink or a relink
            # meanwhile (another status, another feed connection) wins, and the feed is left as it made it.
            try:
                saved = self.feeds.change(
                    feed, only_if=_STILL_ACTIVE, same_link=True, status=FeedStatus.REJECTED,
                    status_reason=FEED_DELETED_IN_XERO, last_sync_error=FEED_DELETED_IN_XERO,
                    status_changed_at=iso(utc_now(self.clock)))
            except StaleFeed:
                continue  # it kept changing: the next pass looks again
            if saved.status != FeedStatus.REJECTED or saved.status_reason != FEED_DELETED_IN_XERO:
                continue
            gone.append(feed.account_id)
            logger.warning("bank feed deleted in Xero", extra={"business_id": record.business_id,
                                                               "account_id": feed.account_id})
        return gone


# A disconnect (or a reconnection) still unfinished this long after it wrote the connection is not running any
# more (a request lasts 30 seconds at most): it died half-way, and the check finishes it.
UNFINISHED_DISCONNECT_SECONDS = 600


def _unfinished_disconnect(record: XeroConnectionRecord, now: float) -> bool:
    if record.status != ConnectionStatus.DISCONNECTED or record.generation_ended:
        return False
    changed = from_iso(record.status_changed_at).timestamp() if record.status_changed_at else 0.0
    return now - changed > UNFINISHED_DISCONNECT_SECONDS


def _unfinished_replacement(record: XeroConnectionRecord, now: float) -> bool:
    """A connection made this long ago that has not ended the generations it replaced: its request died."""
    return bool(record.replaced) and now - from_iso(record.connected_at).timestamp() > UNFINISHED_DISCONNECT_SECONDS


_STILL_ACTIVE = frozenset({FeedStatus.ACTIVE})

FEED_DELETED_IN_XERO = "The Xero bank account this account fed, or its bank feed, was deleted in Xero."
