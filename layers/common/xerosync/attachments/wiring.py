"""The attachments adapters, built once per execution environment from the settings (``build_*`` take what a
test wants to hand in; the ``get_*`` getters build the deployed ones once per cold start).

The receipts worker's code (the uploader, the Xero client) and the status route's are each imported by their own
builder, so that neither function's cold start loads the other's (docs/architecture.md, "Cold start").
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from xerosync import aws
from xerosync.attachments.store import ReceiptUploadStore
from xerosync.clock import Clock, process_clock
from xerosync.ledger.client import LedgerClient, get_ledger_client
from xerosync.lifecycle import per_cold_start
from xerosync.settings import Settings, get_settings
from xerosync.sync_expenses.fifo_queues import AttachmentUploads, FifoSender
from xerosync.sync_expenses.store import ExpenseStore
from xerosync.xero import get_xero_client

if TYPE_CHECKING:
    from xerosync.attachments.service import ReceiptsWorker
    from xerosync.attachments.status import AttachmentStatusService
    from xerosync.xero.client import XeroClient


def build_receipts_worker(settings: Settings, *, xero: XeroClient, ledger: LedgerClient,
                          clock: Clock | None = None) -> ReceiptsWorker:
    from xerosync.attachments.service import ReceiptsWorker, write_problems
    from xerosync.attachments.uploader import ReceiptUploader

    clock = clock or xero.clock
    table = aws.table(settings.main_table_name)
    expenses = ExpenseStore(table)
    uploader = ReceiptUploader(ledger=ledger, session_for=xero.session, uploads=ReceiptUploadStore(table),
                               report_problems=write_problems(expenses, clock), max_bytes=settings.attachment_max_bytes,
                               max_count=settings.attachment_max_count, clock=clock)
    return ReceiptsWorker(expenses=expenses, uploader=uploader)


def build_status_service(settings: Settings, *, ledger: LedgerClient, clock: Clock | None = None
                         ) -> AttachmentStatusService:
    from xerosync.attachments.status import AttachmentLimits, AttachmentStatusService
    from xerosync.sync_expenses.access import feature_gate

    table = aws.table(settings.main_table_name)
    gate = feature_gate(table, ledger, clock or process_clock())
    queue = (AttachmentUploads(FifoSender(partial(aws.client, "sqs"), settings.attachments_queue_url))
             if settings.attachment_uploads_enabled else None)
    limits = AttachmentLimits(max_count=settings.attachment_max_count, max_bytes=settings.attachment_max_bytes)
    return AttachmentStatusService(gate=gate, expenses=ExpenseStore(table), uploads=ReceiptUploadStore(table),
                                   queue=queue, limits=limits)


@per_cold_start
def get_receipts_worker() -> ReceiptsWorker:
    return build_receipts_worker(get_settings(), xero=get_xero_client(), ledger=get_ledger_client())


@per_cold_start
def get_status_service() -> AttachmentStatusService:
    return build_status_service(get_settings(), ledger=get_ledger_client())
