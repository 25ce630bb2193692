"""Receipts of synced expenses: the queue's work (upload what is missing), the status route, and a retry.

The Spend Money worker hands every synced expense that has receipts to AttachmentsQueue
(``xerosync.expenses.models.AttachmentUploadRequest``). Here each message is checked against the expense (a
message for a Spend Money the expense no longer points at is stale: a newer one follows), the receipts go
through ``ReceiptUploader``, and what could not go is written on the expense as its ``attachment_errors``:
the Synced tab's "Sync error", with a reason and a way out per file.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, Field

from xerosync.attachments.plan import UploadRecord, UploadState
from xerosync.attachments.store import ReceiptUploads, ReceiptUploadStore
from xerosync.attachments.uploader import ReceiptUploader, UploadReport
from xerosync.auth import Caller
from xerosync.clock import Clock, iso, utc_now
from xerosync.errors import Conflict
from xerosync.expenses import lifecycle
from xerosync.expenses.access import FeatureGate
from xerosync.expenses.dispatch import AttachmentUploads
from xerosync.expenses.models import (
    AttachmentProblem,
    AttachmentUploadRequest,
    ExpenseRecord,
    ExpenseStatus,
    Receipt,
)
from xerosync.expenses.service import expense_or_not_found
from xerosync.expenses.store import ExpenseStore
from xerosync.observability import logger


class ReceiptState(StrEnum):
    WAITING = "WAITING"  # the expense is not in Xero yet: its receipts go once it is synced
    QUEUED = "QUEUED"  # the Spend Money is in Xero; the upload is on its way
    UPLOADING = "UPLOADING"
    SYNCED = "SYNCED"
    ERROR = "ERROR"


class ReceiptStatusView(BaseModel):
    attachment_id: str
    file_name: str = Field(description="The name in the bank's app.")
    content_type: str
    size_bytes: int
    state: ReceiptState
    xero_file_name: str | None = Field(None, description="The name it has in Xero (sanitised).")
    reason: str | None = Field(None, description="Why it is not in Xero.")
    action: str | None = Field(None, description="What to do about it.")


class AttachmentLimits(BaseModel):
    max_count: int = Field(description="Attachments Xero allows on one transaction.")
    max_bytes: int = Field(description="Each file must be smaller than this.")


class AttachmentStatusView(BaseModel):
    transaction_id: str
    expense_status: ExpenseStatus
    bank_transaction_id: str | None = Field(None, description="The Spend Money in Xero, once synced.")
    summary: str = Field(description="The receipts' state in a sentence.")
    synced: int
    failed: int
    waiting: int = Field(description="Not in Xero yet, and not failed (waiting for the expense, queued, uploading).")
    files: list[ReceiptStatusView]
    limits: AttachmentLimits


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
        expense = self.expenses.get(request.business_id, request.transaction_id)
        if expense is None or not _points_at(expense, request.bank_transaction_id):
            logger.info("receipts message for a Spend Money the expense no longer points at; a newer one follows",
                        extra={"transaction_id": request.transaction_id})
            return None
        if last_delivery:
            self._give_up_unsent(request, expense)
        try:
            report = self.uploader.run(request)
        except Exception:
            if last_delivery:
                logger.exception("receipts failed on their last delivery; marked failed, message to the DLQ",
                                 extra={"transaction_id": request.transaction_id})
                self._give_up_unsent(request, expense)  # what went meanwhile is no longer listed
            raise
        logger.info("receipts processed", extra={"transaction_id": request.transaction_id,
                                                   "uploaded": len(report.uploaded), "skipped": report.skipped,
                                                   "rejected": len(report.rejected)})
        return report

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


class AttachmentStatusService:
    def __init__(self, *, gate: FeatureGate, expenses: ExpenseStore, uploads: ReceiptUploadStore,
                 queue: AttachmentUploads | None, limits: AttachmentLimits) -> None:
        self.gate = gate
        self.expenses = expenses
        self.uploads = uploads
        self.queue = queue
        self.limits = limits

    def status(self, caller: Caller, transaction_id: str) -> AttachmentStatusView:
        expense = self._expense(caller, transaction_id)
        return receipts_view(expense, self.uploads.get(expense.business_id, transaction_id), self.limits)

    def retry(self, caller: Caller, transaction_id: str) -> AttachmentStatusView:
        """Send again what is not in Xero (after a reconnect, or once Xero is back); what is there stays."""
        expense = self._expense(caller, transaction_id)
        if expense.spend_money is None or expense.status != ExpenseStatus.SYNCED:
            raise Conflict("The receipts go to Xero with the expense, and this expense is not synced yet.",
                           action="Sync the expense; its receipts follow it.", code="expense_not_synced")
        if not expense.payment.receipts:
            raise Conflict("This expense has no receipts.", action="Attach receipts in the bank's app first.",
                           code="no_receipts")
        if self.queue is None:
            raise Conflict("Receipt uploads are switched off.", action="Ask the bank's support team.",
                           code="receipt_uploads_off")
        connection = self.gate.admit(caller).connection
        request = AttachmentUploadRequest(
            business_id=expense.business_id, tenant_id=connection.tenant_id, generation=connection.generation,
            account_id=expense.account_id,
            transaction_id=expense.transaction_id, bank_transaction_id=expense.spend_money.bank_transaction_id,
            expense_version=expense.payment.ledger_version)
        # Retries of an unchanged expense within SQS's deduplication window are one message (a double click).
        self.queue.send_again(request, attempt=str(expense.version))
        view = receipts_view(expense, self.uploads.get(expense.business_id, transaction_id), self.limits)
        return _queued_again(view)

    def _expense(self, caller: Caller, transaction_id: str) -> ExpenseRecord:
        return expense_or_not_found(self.expenses, self.gate.admit(caller).business_id, transaction_id)


def receipts_view(expense: ExpenseRecord, uploads: ReceiptUploads | None, limits: AttachmentLimits
                  ) -> AttachmentStatusView:
    bank_transaction_id = expense.spend_money.bank_transaction_id if expense.spend_money else None
    records = uploads.records if uploads and uploads.bank_transaction_id == bank_transaction_id else {}
    problems = {p.attachment_id: p for p in expense.attachment_errors}
    files = [_file_view(receipt, records, problems.get(receipt.attachment_id), in_xero=bank_transaction_id is not None)
             for receipt in expense.payment.receipts]
    synced = sum(1 for f in files if f.state == ReceiptState.SYNCED)
    failed = sum(1 for f in files if f.state == ReceiptState.ERROR)
    waiting = len(files) - synced - failed
    return AttachmentStatusView(
        transaction_id=expense.transaction_id, expense_status=expense.status, bank_transaction_id=bank_transaction_id,
        summary=_summary(len(files), synced, failed, waiting, in_xero=bank_transaction_id is not None),
        synced=synced, failed=failed, waiting=waiting, files=files, limits=limits)


def _file_view(receipt: Receipt, records: dict[str, UploadRecord], problem: AttachmentProblem | None, *,
               in_xero: bool) -> ReceiptStatusView:
    record = records.get(receipt.attachment_id)
    if record is None or record.sha256 != receipt.sha256:
        # The same content under another receipt: sent once, never twice; it shares that one's state.
        same = sorted((r for r in records.values() if r.sha256 == receipt.sha256),
                      key=lambda r: r.state != UploadState.UPLOADED)
        record = same[0] if same else None
    base = {"attachment_id": receipt.attachment_id, "file_name": receipt.file_name,
            "content_type": receipt.content_type, "size_bytes": receipt.size_bytes}
    if (record is None or record.state == UploadState.UPLOADING) and problem is not None and in_xero:
        # Reported on the expense without a file's own outcome (the connection to Xero needs renewing).
        return ReceiptStatusView(**base, state=ReceiptState.ERROR, reason=problem.message, action=problem.action)
    if record is None:
        return ReceiptStatusView(**base, state=ReceiptState.QUEUED if in_xero else ReceiptState.WAITING)
    state = {UploadState.UPLOADED: ReceiptState.SYNCED, UploadState.UPLOADING: ReceiptState.UPLOADING,
             UploadState.REJECTED: ReceiptState.ERROR}[record.state]
    return ReceiptStatusView(**base, state=state, xero_file_name=record.xero_file_name,
                             reason=record.reason if state == ReceiptState.ERROR else None,
                             action=record.action if state == ReceiptState.ERROR else None)


def _summary(total: int, synced: int, failed: int, waiting: int, *, in_xero: bool) -> str:
    if total == 0:
        return "No receipts are attached to this payment."
    if not in_xero:
        return f"{total} receipt(s) will go to Xero when the expense is synced."
    parts = [f"{synced} of {total} receipt(s) in Xero"]
    if failed:
        parts.append(f"{failed} not synced (see each file's reason)")
    if waiting:
        parts.append(f"{waiting} on the way")
    return ", ".join(parts) + "."


def _queued_again(view: AttachmentStatusView) -> AttachmentStatusView:
    files = [f.model_copy(update={"state": ReceiptState.QUEUED, "reason": None, "action": None})
             if f.state == ReceiptState.ERROR else f for f in view.files]
    failed, waiting = 0, view.waiting + view.failed
    return view.model_copy(update={"files": files, "failed": failed, "waiting": waiting,
                                   "summary": _summary(len(files), view.synced, failed, waiting, in_xero=True)})
