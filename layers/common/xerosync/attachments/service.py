"""Receipts of synced expenses: the queue's work, uploading what is missing (the status route and its retry are
``attachments.status``).

The Spend Money worker hands every synced expense that has receipts to AttachmentsQueue
(``xerosync.sync_expenses.models.AttachmentUploadRequest``). Here each message is checked against the expense (a
message for a Spend Money the expense no longer points at is stale: a newer one follows), the receipts go
through ``ReceiptUploader``, and what could not go is written on the expense as its ``attachment_errors``:
the Synced tab's "Sync error", with a reason and a way out per file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from xerosync.attachments.plan import UploadRecord, UploadState
from xerosync.attachments.uploader import ReceiptUploader, UploadReport
from xerosync.clock import Clock, iso, utc_now
from xerosync.observability import logger
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.models import AttachmentProblem, AttachmentUploadRequest, ExpenseRecord
from xerosync.sync_expenses.store import ExpenseStore

T = TypeVar("T")


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
            return state_machine.attachments_reported(expense, problems, iso(utc_now(clock)))

        expenses.change(request.business_id, request.transaction_id, reported)

    return report


def _points_at(expense: ExpenseRecord, bank_transaction_id: str) -> bool:
    return expense.spend_money is not None and expense.spend_money.bank_transaction_id == bank_transaction_id


# Tries of the expense's read and of the marking on a receipts message's last delivery (each a new request).
LAST_DELIVERY_TRIES = 3

# A receipts message's last delivery: what is not in Xero by then is not left "on the way".
GAVE_UP = ("Xero did not take the receipt, however often it was tried.",
           "Send the receipts again from the expense; if Xero still fails, sync the expense again later.")


class ReceiptsWorker:
    """One AttachmentsQueue message: upload what is missing of one synced expense's receipts."""

    def __init__(self, *, expenses: ExpenseStore, uploader: ReceiptUploader) -> None:
        self.expenses = expenses
        self.uploader = uploader

    def process(self, request: AttachmentUploadRequest, *, last_delivery: bool = False) -> UploadReport | None:
        """Upload what is missing. ``last_delivery``: SQS will not hand the message back after this one, so every
        receipt not in Xero is marked failed first (a run killed at its timeout leaves them so) and again if the
        run fails; a run that finishes reports its own outcome in their place."""
        expense = self._expense(request, tries=LAST_DELIVERY_TRIES if last_delivery else 1)
        if expense is None or not _points_at(expense, request.bank_transaction_id):
            logger.info("receipts message for a Spend Money the expense no longer points at; a newer one follows",
                        extra={"transaction_id": request.transaction_id})
            return None
        if last_delivery:
            # A marking that fails (a DynamoDB error past the SDK's retries) must not send the message to the
            # dead-letter queue with nothing marked: it is tried again, and the run goes on either way, reporting
            # its own outcome or, if it fails too, marking again below.
            self._give_up_unsent_trying(request, expense)
        try:
            report = self.uploader.run(request)
        except Exception:
            if last_delivery:
                logger.exception("receipts failed on their last delivery; marked failed, message to the DLQ",
                                 extra={"transaction_id": request.transaction_id})
                self._give_up_unsent_trying(request, expense)  # what went meanwhile is no longer listed
            raise
        logger.info("receipts processed", extra={"transaction_id": request.transaction_id,
                                                   "uploaded": len(report.uploaded), "skipped": report.skipped,
                                                   "rejected": len(report.rejected)})
        return report

    def _expense(self, request: AttachmentUploadRequest, *, tries: int) -> ExpenseRecord | None:
        """The expense the message is for. The last delivery reads it again if a read fails (a DynamoDB error past
        the SDK's retries): without it nothing can be marked, and the message would go to the dead-letter queue
        with every receipt still "on the way"."""
        return _tried(lambda: self.expenses.get(request.business_id, request.transaction_id), tries,
                      "reading the expense on the receipts' last delivery failed", request)

    def _give_up_unsent_trying(self, request: AttachmentUploadRequest, expense: ExpenseRecord) -> bool:
        """``_give_up_unsent``, tried again if it fails; False (logged) if it never went through."""
        try:
            _tried(lambda: self._give_up_unsent(request, expense), LAST_DELIVERY_TRIES,
                   "marking the receipts not in Xero failed on their last delivery", request)
        except Exception:
            logger.exception("marking the receipts not in Xero failed on their last delivery",
                             extra={"transaction_id": request.transaction_id})
            return False
        return True

    def _give_up_unsent(self, request: AttachmentUploadRequest, expense: ExpenseRecord) -> None:
        """Every receipt of the expense not in Xero becomes a per-file problem: its own refusal if it had one,
        else ``GAVE_UP``. Read from the expense and the upload records only (the ledger may be what fails)."""
        uploads = self.uploader.uploads.get(request.business_id, request.transaction_id)
        records = uploads.records if uploads and uploads.bank_transaction_id == request.bank_transaction_id else {}
        in_xero = {r.sha256 for r in records.values() if r.state == UploadState.UPLOADED}
        unsent = []
        for receipt in expense.payment.receipts:
            if receipt.sha256 in in_xero:
                continue
            record = records.get(receipt.attachment_id)
            reason, action = ((record.reason, record.action) if record is not None
                              and record.state == UploadState.REJECTED else GAVE_UP)
            unsent.append(UploadRecord(
                attachment_id=receipt.attachment_id, original_name=receipt.file_name, sha256=receipt.sha256,
                size_bytes=receipt.size_bytes, state=UploadState.REJECTED, reason=reason, action=action))
        self.uploader.report_problems(request, unsent)


def _tried(call: Callable[[], T], tries: int, failure: str, request: AttachmentUploadRequest) -> T:
    """``call``, made again (a new request) each time it fails, up to ``tries`` times; the last failure is raised."""
    for _ in range(tries - 1):
        try:
            return call()
        except Exception:
            logger.exception(f"{failure}; trying again", extra={"transaction_id": request.transaction_id})
    return call()
