"""Receipts of synced expenses: the queue's work, uploading what is missing (the status route and its retry are
``attachments.status``).

The Spend Money worker hands every synced expense that has receipts to AttachmentsQueue
(``xerosync.expenses.models.AttachmentUploadRequest``). Here each message is checked against the expense (a
message for a Spend Money the expense no longer points at is stale: a newer one follows), the receipts go
through ``ReceiptUploader``, and what could not go is written on the expense as its ``attachment_errors``:
the Synced tab's "Sync error", with a reason and a way out per file.
"""

from __future__ import annotations

from collections.abc import Callable

from xerosync.attachments.plan import UploadRecord
from xerosync.attachments.uploader import ReceiptUploader, UploadReport
from xerosync.clock import Clock, iso, utc_now
from xerosync.expenses import lifecycle
from xerosync.expenses.models import AttachmentProblem, AttachmentUploadRequest, ExpenseRecord
from xerosync.expenses.store import ExpenseStore
from xerosync.observability import logger


def write_problems(expenses: ExpenseStore, clock: Clock) -> Callable[[AttachmentUploadRequest, list[UploadRecord]],
                                                                      None]:
    """The uploader's reporter: per-file problems onto the expense (status, Updated and revision untouched)."""

    def report(request: AttachmentUploadRequest, records: list[UploadRecord]) -> None:
        problems = [AttachmentProblem(attachment_id=r.attachment_id, file_name=r.original_name,
                                      message=r.reason or "The file was not sent to Xero.", action=r.action)
                    for r in records]
        def reported(expense: ExpenseRecord | None) -> ExpenseRecord | None:
            if expense is None or not _points_at(expense, request.bank_transaction_id):
                return None  # re-synced meanwhile: the newer Spend Money's own message reports
            if expense.attachment_errors == problems:
                return expense
            return lifecycle.attachments_reported(expense, problems, iso(utc_now(clock)))

        expenses.change(request.business_id, request.transaction_id, reported)

    return report


def _points_at(expense: ExpenseRecord, bank_transaction_id: str) -> bool:
    return expense.spend_money is not None and expense.spend_money.bank_transaction_id == bank_transaction_id


class ReceiptsWorker:
    """One AttachmentsQueue message: upload what is missing of one synced expense's receipts."""

    def __init__(self, *, expenses: ExpenseStore, uploader: ReceiptUploader) -> None:
        self.expenses = expenses
        self.uploader = uploader

    def process(self, request: AttachmentUploadRequest) -> UploadReport | None:
        expense = self.expenses.get(request.business_id, request.transaction_id)
        if expense is None or not _points_at(expense, request.bank_transaction_id):
            logger.info("receipts message for a Spend Money the expense no longer points at; a newer one follows",
                        extra={"transaction_id": request.transaction_id})
            return None
        report = self.uploader.run(request)
        logger.info("receipts processed", extra={"transaction_id": request.transaction_id,
                                                   "uploaded": len(report.uploaded), "skipped": report.skipped,
                                                   "rejected": len(report.rejected)})
        return report
