"""What the attachments API shows of an expense's receipts, file by file on their way to Xero, and a retry of those
that did not go (docs/attachments.md). The uploads themselves are the worker's (``attachments.service``)."""

from enum import StrEnum

from pydantic import Field

from xerosync.attachments.plan import UploadRecord, UploadState, before_sync
from xerosync.attachments.store import ReceiptUploads, ReceiptUploadStore
from xerosync.auth import Caller
from xerosync.errors import Conflict
from xerosync.model import Model
from xerosync.sync_expenses.access import FeatureGate
from xerosync.sync_expenses.fifo_queues import AttachmentUploads
from xerosync.sync_expenses.models import (
    AttachmentProblem,
    AttachmentUploadRequest,
    ExpenseRecord,
    ExpenseStatus,
    Receipt,
)
from xerosync.sync_expenses.store import ExpenseStore, expense_or_not_found


class ReceiptState(StrEnum):
    WAITING = "WAITING"  # the expense is not in Xero yet: its receipts go once it is synced
    QUEUED = "QUEUED"  # the Spend Money is in Xero; the upload is on its way
    UPLOADING = "UPLOADING"
    SYNCED = "SYNCED"
    ERROR = "ERROR"
    NOT_ACCEPTED = "NOT_ACCEPTED"  # the expense is not in Xero yet, and this file will not go with it (reason)


class ReceiptStatusView(Model):
    attachment_id: str
    file_name: str = Field(description="The name in the bank's app.")
    content_type: str
    size_bytes: int
    state: ReceiptState
    xero_file_name: str | None = Field(None, description="The name it has in Xero (sanitised).")
    reason: str | None = Field(None, description="Why it is not in Xero.")
    action: str | None = Field(None, description="What to do about it.")


class AttachmentLimits(Model):
    max_count: int = Field(description="Attachments Xero allows on one transaction.")
    max_bytes: int = Field(description="Each file must be smaller than this.")


class AttachmentStatusView(Model):
    transaction_id: str
    expense_status: ExpenseStatus
    bank_transaction_id: str | None = Field(None, description="The Spend Money in Xero, once synced.")
    summary: str = Field(description="The receipts' state in a sentence.")
    synced: int
    failed: int
    waiting: int = Field(description="Not in Xero yet, and not failed (waiting for the expense, queued, uploading).")
    files: list[ReceiptStatusView]
    limits: AttachmentLimits


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
    if bank_transaction_id is None:
        refused = before_sync(expense.payment.receipts, max_bytes=limits.max_bytes, max_count=limits.max_count)
        files = [f.model_copy(update={"state": ReceiptState.NOT_ACCEPTED, "reason": refused[f.attachment_id][0],
                                      "action": refused[f.attachment_id][1]}) if f.attachment_id in refused else f
                 for f in files]
    synced = sum(1 for f in files if f.state == ReceiptState.SYNCED)
    failed = sum(1 for f in files if f.state in (ReceiptState.ERROR, ReceiptState.NOT_ACCEPTED))
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
        going = f"{waiting} receipt(s) will go to Xero when the expense is synced"
        return f"{going}; {failed} will not (see each file's reason)." if failed else f"{going}."
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
