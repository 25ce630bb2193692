"""The connect feature's composition root: its use cases over the deployed adapters, built once per execution
environment from the settings (``build_*`` take what a test wants to hand in).

Three functions use it: the API (every use case), the cleanup queue's consumer (the cleanup) and the hourly
check (the consent sweeper and the check). The DynamoDB adapters are the store package's (``xerosync.store``);
no use case sees a table. Each use case is built, and its module imported, when a request first needs it,
so that a function's cold start loads only its own (docs/architecture.md, "Cold start").
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from xerosync import aws
from xerosync.ledger.client import LedgerClient, get_ledger_client
from xerosync.lifecycle import per_cold_start
from xerosync.settings import Settings, get_settings
from xerosync.store.claims import XeroConnectionClaims
from xerosync.store.feeds import FeedStore
from xerosync.xero.client import XeroClient, get_xero_client

if TYPE_CHECKING:
    from xerosync.connect.check import ConnectionCheck
    from xerosync.connect.cleanup import CleanupRunner, XeroCleanup
    from xerosync.connect.disconnect import Disconnect
    from xerosync.connect.linking import FeedLinking
    from xerosync.connect.oauth import ConnectOAuth
    from xerosync.connect.status import ConnectionStatusService
    from xerosync.store.consents import ConsentStore


class ConnectFeature:
    """The connect use cases of one Xero client and ledger client; each is built on first use, then kept."""

    def __init__(self, settings: Settings, *, xero: XeroClient, ledger: LedgerClient) -> None:
        self.settings, self.xero, self.ledger = settings, xero, ledger
        self._table = aws.table(settings.main_table_name)
        self.feeds = FeedStore(self._table)
        self.claims = XeroConnectionClaims(self._table)

    @cached_property
    def consents(self) -> ConsentStore:
        from xerosync.store.consents import ConsentStore

        return ConsentStore(self._table)

    @cached_property
    def cleanup(self) -> XeroCleanup:
        from xerosync.connect.cleanup import XeroCleanup

        return XeroCleanup(self.xero, self.claims, self.feeds, self.xero.clock)

    @cached_property
    def cleaner(self) -> CleanupRunner:
        """Cleans up in Xero now, or hands the job to the cleanup queue."""
        from xerosync.connect.adapters import SqsCleanupQueue
        from xerosync.connect.cleanup import CleanupRunner

        return CleanupRunner(self.cleanup, SqsCleanupQueue(aws.client("sqs"), self.settings.xero_cleanup_queue_url))

    @cached_property
    def oauth(self) -> ConnectOAuth:
        from xerosync.auto_sync.sync_now import request_feed_sync
        from xerosync.connect.oauth import ConnectOAuth
        from xerosync.store.oauth_states import OAuthStateStore

        xero = self.xero
        return ConnectOAuth(states=OAuthStateStore(self._table), identity=xero.identity, sessions=xero,
                            tokens=xero.vault, consents=self.consents, claims=self.claims,
                            connections=xero.connections, feeds=self.feeds, cleaner=self.cleaner, clock=xero.clock,
                            request_feed_sync=request_feed_sync)

    @cached_property
    def status(self) -> ConnectionStatusService:
        from xerosync.connect.status import ConnectionStatusService

        xero = self.xero
        return ConnectionStatusService(connections=xero.connections, feeds=self.feeds, ledger=self.ledger,
                                       sessions=xero, identity=xero.identity, clock=xero.clock,
                                       confirm_every_seconds=self.settings.connection_confirm_seconds)

    @cached_property
    def linking(self) -> FeedLinking:
        from xerosync.auto_sync.sync_now import request_feed_sync
        from xerosync.connect.linking import FeedLinking
        from xerosync.store.keys import xero_bank_accounts_key
        from xerosync.store.shared_cache import SharedCache, TenantCache

        xero = self.xero
        bank_accounts = TenantCache(SharedCache(self._table, xero.clock), xero_bank_accounts_key)
        return FeedLinking(connections=xero.connections, feeds=self.feeds, ledger=self.ledger, sessions=xero,
                           cleaner=self.cleaner, clock=xero.clock, cache=bank_accounts,
                           request_feed_sync=request_feed_sync)

    @cached_property
    def disconnect(self) -> Disconnect:
        from xerosync.connect.disconnect import Disconnect

        xero = self.xero
        return Disconnect(connections=xero.connections, feeds=self.feeds, tokens=xero.vault, claims=self.claims,
                          cleaner=self.cleaner, clock=xero.clock)

    @cached_property
    def check(self) -> ConnectionCheck:
        """The hourly check, which finishes what a disconnect or a reconnection that died half-way left undone."""
        from xerosync.connect.check import ConnectionCheck
        from xerosync.store.connections import ConnectionCheckPosition

        xero = self.xero
        return ConnectionCheck(connections=xero.connections, position=ConnectionCheckPosition(self._table),
                               feeds=self.feeds, tokens=xero.tokens, identity=xero.identity, sessions=xero,
                               clock=xero.clock, finish_disconnect=self.disconnect.end,
                               finish_replacement=self.oauth.finish_replacement)


def build_connect(settings: Settings, *, xero: XeroClient, ledger: LedgerClient) -> ConnectFeature:
    return ConnectFeature(settings, xero=xero, ledger=ledger)


@per_cold_start
def get_connect() -> ConnectFeature:
    return build_connect(get_settings(), xero=get_xero_client(), ledger=get_ledger_client())
