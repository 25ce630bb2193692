"""The sync-expenses adapters, built once per execution environment from the settings.

``build_*`` take the adapters a test wants to hand in (a Xero client with its own clock and retry policy,
a ledger client); the ``get_*`` getters build the deployed ones once per cold start.

Three functions use this module: the API, the Spend Money worker and the ledger-events consumer. Each use case
is imported by its own builder, so that a function's cold start imports its own code and no other's
(docs/architecture.md, "Cold start").
"""

from __future__ import annotations

from functools import cache, partial
from typing import TYPE_CHECKING

from xerosync import aws
from xerosync.clock import Clock, process_clock
from xerosync.lifecycle import per_cold_start
from xerosync.settings import Settings, get_settings
from xerosync.sync_expenses.fifo_queues import AttachmentUploads, FifoSender, SpendMoneyQueue
from xerosync.sync_expenses.store import ExpenseStore, MappingStore, ReferenceDataStore, SyncActivityStore, SyncJobStore
from xerosync.xero import get_xero_client
from xerosync.xero.purposes import GENERAL

if TYPE_CHECKING:
    from xerosync.ledger.client import LedgerClient
    from xerosync.sync_expenses.event_intake import LedgerEventConsumer
    from xerosync.sync_expenses.planner import SpendMoneyPlanner
    from xerosync.sync_expenses.request_dedup import SyncRequestDeduplicator
    from xerosync.sync_expenses.service import ExpenseService, SessionFactory
    from xerosync.sync_expenses.sweeper import AbandonedBatchSweeper
    from xerosync.sync_expenses.worker import SpendMoneyWorker
    from xerosync.sync_expenses.xero_gateway import ReferenceDataCache
    from xerosync.xero.client import XeroClient
    from xerosync.xero.session import XeroSession


def _reference_cache(settings: Settings, clock: Clock) -> ReferenceDataCache:
    from xerosync.sync_expenses.xero_gateway import ReferenceDataCache

    return ReferenceDataCache(ReferenceDataStore(aws.table(settings.main_table_name), clock), clock,
                              settings.expense_reference_data_max_age_seconds)


class XeroOnFirstUse:
    """The cold start's Xero client, built when a request first opens a Xero session: most of the API's requests
    (the tabs, an expense, an edit, a job's progress) never call Xero, and never pay for its client."""

    def session(self, business_id: str, generation: str | None = None, *, purpose: str = GENERAL) -> XeroSession:
        return get_xero_client().session(business_id, generation, purpose=purpose)


def build_expense_service(settings: Settings, *, xero: SessionFactory, ledger: LedgerClient,
                          clock: Clock | None = None) -> ExpenseService:
    from xerosync.sync_expenses.access import feature_gate
    from xerosync.sync_expenses.service import ExpenseService
    from xerosync.sync_expenses.suggestion_store import Suggestions

    clock = clock or process_clock()
    table = aws.table(settings.main_table_name)

    @cache
    def deduplicator() -> SyncRequestDeduplicator:
        from xerosync.sync_expenses.request_dedup import SyncRequestDeduplicator

        return SyncRequestDeduplicator(settings.idempotency_table_name, aws.client("dynamodb"),
                                       settings.expense_sync_request_window_seconds)

    return ExpenseService(
        gate=feature_gate(table, ledger, clock),
        expenses=ExpenseStore(table), mappings=MappingStore(table), jobs=SyncJobStore(table),
        reference=_reference_cache(settings, clock), xero=xero,
        spend_money_queue=SpendMoneyQueue(FifoSender(partial(aws.client, "sqs"), settings.expense_sync_queue_url)),
        deduplicator=deduplicator,
        activity=SyncActivityStore(table), clock=clock, bank_contact_name=settings.expense_bank_contact_name,
        booking_offset_minutes=settings.statement_utc_offset_minutes,
        receipt_limits=(settings.attachment_max_bytes, settings.attachment_max_count),
        suggestions=Suggestions(ExpenseStore(table)),
    )


def build_spend_money_worker(settings: Settings, *, xero: XeroClient, clock: Clock | None = None,
                             ledger: LedgerClient | None = None) -> SpendMoneyWorker:
    """``ledger``: where the payments' current values are read before sending (None: the sweeper's worker, which
    sends nothing). Every worker teaches the payees' histories what a batch synced when it counts the batch, the
    sweeper's too (a batch it counts teaches as one a delivery counts)."""
    from xerosync.store.feeds import FeedStore
    from xerosync.sync_expenses.suggestion_store import Suggestions
    from xerosync.sync_expenses.worker import SpendMoneyWorker

    clock = clock or xero.clock
    table = aws.table(settings.main_table_name)
    suggestions = Suggestions(ExpenseStore(table))
    uploads = (AttachmentUploads(FifoSender(partial(aws.client, "sqs"), settings.attachments_queue_url))
               if settings.attachment_uploads_enabled else None)
    return SpendMoneyWorker(
        expenses=ExpenseStore(table), mappings=MappingStore(table), jobs=SyncJobStore(table), feeds=FeedStore(table),
        reference=_reference_cache(settings, clock), xero=xero, attachment_uploads=uploads, clock=clock,
        bank_contact_name=settings.expense_bank_contact_name, url_template=settings.bank_transaction_url_template,
        xero_app_url=str(settings.xero_app_url), booking_offset_minutes=settings.statement_utc_offset_minutes,
        suggestions=suggestions, ledger=ledger,
    )


def build_ledger_event_consumer(settings: Settings, *, ledger: LedgerClient, clock: Clock | None = None
                                ) -> LedgerEventConsumer:
    from xerosync.store.feeds import FeedStore
    from xerosync.sync_expenses.event_intake import LedgerEventConsumer
    from xerosync.sync_expenses.suggestion_store import Suggestions

    table = aws.table(settings.main_table_name)
    return LedgerEventConsumer(expenses=ExpenseStore(table), feeds=FeedStore(table), ledger=ledger,
                               clock=clock or process_clock(), suggestions=Suggestions(ExpenseStore(table)))


def build_spend_money_planner(settings: Settings, *, xero: XeroClient, clock: Clock | None = None
                              ) -> SpendMoneyPlanner:
    from xerosync.store.feeds import FeedStore
    from xerosync.sync_expenses.planner import SpendMoneyPlanner

    clock = clock or xero.clock
    table = aws.table(settings.main_table_name)
    return SpendMoneyPlanner(
        expenses=ExpenseStore(table), jobs=SyncJobStore(table), mappings=MappingStore(table), feeds=FeedStore(table),
        reference=_reference_cache(settings, clock), xero=xero,
        queue=SpendMoneyQueue(FifoSender(partial(aws.client, "sqs"), settings.expense_sync_queue_url)),
        activity=SyncActivityStore(table), clock=clock, bank_contact_name=settings.expense_bank_contact_name,
        booking_offset_minutes=settings.statement_utc_offset_minutes)


@per_cold_start
def get_expense_service() -> ExpenseService:
    from xerosync.ledger.client import get_ledger_client

    return build_expense_service(get_settings(), xero=XeroOnFirstUse(), ledger=get_ledger_client())


@per_cold_start
def get_spend_money_worker() -> SpendMoneyWorker:
    from xerosync.ledger.client import get_ledger_client

    return build_spend_money_worker(get_settings(), xero=get_xero_client(), ledger=get_ledger_client())


@per_cold_start
def get_spend_money_planner() -> SpendMoneyPlanner:
    return build_spend_money_planner(get_settings(), xero=get_xero_client())


@per_cold_start
def get_ledger_event_consumer() -> LedgerEventConsumer:
    from xerosync.ledger.client import get_ledger_client

    return build_ledger_event_consumer(get_settings(), ledger=get_ledger_client())


@per_cold_start
def get_abandoned_batch_sweeper() -> AbandonedBatchSweeper:
    from xerosync.sync_expenses.sweeper import AbandonedBatchSweeper

    return AbandonedBatchSweeper(jobs=SyncJobStore(aws.table(get_settings().main_table_name)),
                                 worker=build_spend_money_worker(get_settings(), xero=get_xero_client()))
