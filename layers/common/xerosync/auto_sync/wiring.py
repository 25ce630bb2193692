"""Auto-sync's adapters, built once per execution environment from the settings (tests hand in their own).

The feed-sync worker's code (statements, the ledger and Xero clients) is imported by its own getter, so that
Sync now and the dispatcher never load it (docs/architecture.md, "Cold start").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xerosync import aws
from xerosync.auto_sync.adapters import GovernorBudget, SqsDispatchQueue, SqsFeedSyncQueue, SyncNowLimiter
from xerosync.clock import process_clock
from xerosync.lifecycle import per_cold_start
from xerosync.settings import get_settings
from xerosync.store.connections import ConnectionStore
from xerosync.store.feeds import BankDay, FastLaneWindows, FeedStore
from xerosync.store.parked import ParkedWorkStore
from xerosync.xero import get_xero_client

if TYPE_CHECKING:
    from xerosync.auto_sync.fast_lane import FastLane
    from xerosync.auto_sync.sync_now import SyncNowService
    from xerosync.auto_sync.worker import FeedSyncWorker


@per_cold_start
def get_feed_sync_queue() -> SqsFeedSyncQueue:
    return SqsFeedSyncQueue(aws.client("sqs"), get_settings().feed_sync_queue_url)


@per_cold_start
def get_dispatch_queue() -> SqsDispatchQueue:
    return SqsDispatchQueue(aws.client("sqs"), get_settings().dispatch_queue_url)


@per_cold_start
def get_feed_store() -> FeedStore:
    return FeedStore(aws.table(get_settings().main_table_name))


@per_cold_start
def get_connection_store() -> ConnectionStore:
    return ConnectionStore(aws.table(get_settings().main_table_name))


@per_cold_start
def get_fast_lane_windows() -> FastLaneWindows:
    settings = get_settings()
    return FastLaneWindows(aws.table(settings.main_table_name), BankDay(settings.statement_utc_offset_minutes))


@per_cold_start
def get_feed_sync_worker() -> FeedSyncWorker:
    from xerosync.auto_sync.statements import BookingCalendar, StatementBuilder
    from xerosync.auto_sync.worker import FeedSyncWorker
    from xerosync.ledger.client import get_ledger_client
    from xerosync.sync_expenses.catch_up import PaymentCatchUp
    from xerosync.sync_expenses.store import ExpenseStore

    settings = get_settings()
    xero = get_xero_client()
    return FeedSyncWorker(
        feeds=get_feed_store(), connections=xero.connections, ledger=get_ledger_client(), xero=xero,
        clock=xero.clock, builder=StatementBuilder(calendar=BookingCalendar(settings.statement_utc_offset_minutes)),
        payments=PaymentCatchUp(ExpenseStore(aws.table(settings.main_table_name)), xero.clock),
    )


@per_cold_start
def get_sync_now_service() -> SyncNowService:
    from xerosync.auto_sync.sync_now import SyncNowService

    settings = get_settings()
    return SyncNowService(
        connections=get_connection_store(), feeds=get_feed_store(),
        turns=SyncNowLimiter(aws.table(settings.main_table_name)), queue=get_feed_sync_queue(),
        clock=process_clock(), interval_seconds=settings.sync_now_interval_seconds,
    )


@per_cold_start
def get_fast_lane() -> FastLane:
    from xerosync.auto_sync.fast_lane import FastLane

    settings = get_settings()
    table = aws.table(settings.main_table_name)
    return FastLane(
        window_seconds=settings.feed_fast_lane_minutes * 60, feeds=get_feed_store(), windows=get_fast_lane_windows(),
        budget=GovernorBudget(table), queue=get_feed_sync_queue(), parker=ParkedWorkStore(table),
        feed_sync_queue_url=settings.feed_sync_queue_url, clock=process_clock(),
        bank=BankDay(settings.statement_utc_offset_minutes),
    )
