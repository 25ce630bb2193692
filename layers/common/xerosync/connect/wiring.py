"""The connect feature's composition root: its use cases over the deployed adapters, built once per execution
environment from the settings (``build_*`` take what a test wants to hand in)."""

from __future__ import annotations

from dataclasses import dataclass

from xerosync import aws
from xerosync.connect.claims import XeroConnectionClaims
from xerosync.connect.cleanup import CleanupQueue, CleanupRunner, XeroCleanup
from xerosync.connect.consents import ConsentStore
from xerosync.connect.disconnect import Disconnect
from xerosync.connect.linking import FeedLinking
from xerosync.connect.oauth import ConnectOAuth
from xerosync.connect.states import OAuthStateStore
from xerosync.connect.status import ConnectionStatusService
from xerosync.feeds.requests import request_feed_sync
from xerosync.ledger.client import LedgerClient, get_ledger_client
from xerosync.lifecycle import per_cold_start
from xerosync.settings import Settings, get_settings
from xerosync.store.feeds import FeedStore
from xerosync.store.shared_cache import SharedCache
from xerosync.xero.client import XeroClient, get_xero_client


@dataclass
class ConnectFeature:
    oauth: ConnectOAuth
    status: ConnectionStatusService
    linking: FeedLinking
    disconnect: Disconnect
    cleanup: XeroCleanup
    consents: ConsentStore


def build_connect(settings: Settings, *, xero: XeroClient, ledger: LedgerClient) -> ConnectFeature:
    table = aws.table(settings.main_table_name)
    feeds = FeedStore(table)
    claims = XeroConnectionClaims(table)
    consents = ConsentStore(table)
    cleanup = XeroCleanup(xero, claims, feeds, xero.clock)
    cleaner = CleanupRunner(cleanup, CleanupQueue(aws.client("sqs"), settings.xero_cleanup_queue_url))
    return ConnectFeature(
        oauth=ConnectOAuth(states=OAuthStateStore(table), identity=xero.identity, sessions=xero, tokens=xero.vault,
                           consents=consents, claims=claims, connections=xero.connections, feeds=feeds,
                           cleaner=cleaner, clock=xero.clock, request_feed_sync=request_feed_sync),
        status=ConnectionStatusService(connections=xero.connections, feeds=feeds, ledger=ledger, sessions=xero,
                                       identity=xero.identity, clock=xero.clock,
                                       confirm_every_seconds=settings.connection_confirm_seconds),
        linking=FeedLinking(connections=xero.connections, feeds=feeds, ledger=ledger, sessions=xero, cleaner=cleaner,
                            clock=xero.clock, cache=SharedCache(table, xero.clock),
                            request_feed_sync=request_feed_sync),
        disconnect=Disconnect(connections=xero.connections, feeds=feeds, tokens=xero.vault, claims=claims,
                              cleaner=cleaner, clock=xero.clock),
        cleanup=cleanup, consents=consents)


@per_cold_start
def get_connect() -> ConnectFeature:
    return build_connect(get_settings(), xero=get_xero_client(), ledger=get_ledger_client())
