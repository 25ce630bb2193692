"""The connect feature's adapters, built once per execution environment from the settings."""

from __future__ import annotations

from xerosync import aws
from xerosync.clock import SystemClock
from xerosync.connect.cleanup import CleanupQueue
from xerosync.connect.pending import PendingSelectionStore
from xerosync.connect.service import ConnectService
from xerosync.connect.states import OAuthStateStore
from xerosync.feeds.requests import request_feed_sync
from xerosync.ledger.client import get_ledger_client
from xerosync.lifecycle import per_cold_start
from xerosync.settings import get_settings
from xerosync.store.feeds import FeedStore
from xerosync.xero.client import get_xero_client


@per_cold_start
def get_connect_service() -> ConnectService:
    settings = get_settings()
    xero = get_xero_client()
    table = aws.table(settings.main_table_name)
    return ConnectService(
        xero=xero, feeds=FeedStore(table), states=OAuthStateStore(table),
        pending=PendingSelectionStore(table, xero.vault), ledger=get_ledger_client(),
        cleanup_queue=CleanupQueue(aws.client("sqs"), settings.xero_cleanup_queue_url), clock=SystemClock(),
        request_feed_sync=request_feed_sync,
    )
