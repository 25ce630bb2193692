"""Uploads an expense's receipts to its Spend Money in Xero: one Xero call per file, never the same file twice.

Per message (a Spend Money was created or updated): read the transaction's receipts from the ledger, plan
(limits, what Xero already has), then for each file to send: read its bytes (refused above the limit before
they are read), judge its type from the bytes, give it a safe name, record it as UPLOADING, upload it, record
the result. A crash between the upload and the record leaves UPLOADING behind: the next run asks Xero for the
Spend Money's attachments before sending that file again. What cannot go is reported per file, with the
reason and the way out, on the expense (the Synced tab's "Sync error").

Two runs of one expense can overlap (SQS hands a message out again when its visibility timeout runs out while
a run still works on it). The UPLOADING record holds a lease until the writing run's longest possible end: a run
that finds one held sends nothing and returns the message for when it ends (``RetryLater``), since the upload may
still land and Xero, asked meanwhile, would not show it yet. A run whose call failed gives its lease up at once.
Every write is conditional on the version read, so a run that read the receipts before another's UPLOADING
record was written fails its own write instead of sending (docs/attachments.md, "Flow").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from xerosync.attachments.files import HEAD_BYTES, identify, xero_file_name
from xerosync.attachments.plan import TYPE_ACTION, Decision, Step, UploadRecord, UploadState, plan_uploads
from xerosync.attachments.store import ReceiptUploads, ReceiptUploadStore
from xerosync.clock import Clock, from_iso, iso, utc_now
from xerosync.errors import NotFound
from xerosync.ledger.client import LedgerClient
from xerosync.ledger.models import AttachmentMeta
from xerosync.observability import logger, metrics
from xerosync.queue import RetryLater
from xerosync.sync_expenses.models import AttachmentUploadRequest as UploadRequest
from xerosync.xero.errors import GenerationChanged, ReconnectRequired, XeroTooLarge, XeroValidationError
from xerosync.xero.expense_models import Attachment
from xerosync.xero.session import XeroSession, idempotency_key

# How long a receipt recorded UPLOADING may still be on its way: the longest a run can last, the worker's timeout
# (template.yaml, AttachmentsWorkerFunction: 120 s), and a margin for the clocks of two execution environments.
UPLOAD_LEASE_SECONDS = 130


@dataclass
class UploadReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: int = 0
    rejected: list[UploadRecord] = field(default_factory=list)


class ReceiptUploader:
    def __init__(self, *, ledger: LedgerClient, session_for: Callable[[str, str], XeroSession],
                 uploads: ReceiptUploadStore, report_problems: Callable[[UploadRequest, list[UploadRecord]], None],
                 max_bytes: int, max_count: int, clock: Clock) -> None:
        self.ledger = ledger
        self.session_for = session_for
        self.uploads = uploads
        self.report_problems = report_problems
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.clock = clock

    def run(self, request: UploadRequest) -> UploadReport:
        try:
            transaction = self.ledger.transaction(request.account_id, request.transaction_id)
        except NotFound:
            logger.warning("expense's transaction no longer in the ledger", extra={"transaction_id":
                                                                                  request.transaction_id})
            return UploadReport()
        state = self._state(request)
        held = self._held_for(state)
        if held is not None:
            # Another run is sending (or may still be sending) a receipt of this expense: it records what Xero
            # took; this run comes back when that run has ended, whatever happened to it.
            logger.info("receipts left to the run sending them; the message comes back after it", extra={
                "transaction_id": request.transaction_id, "delay_seconds": held})
            metrics.add_metric(name="ReceiptsLeftToAnotherRun", unit="Count", value=1)
            raise RetryLater(held, "another run is sending this expense's receipts")
        report = UploadReport()
        try:
            session = self.session_for(request.business_id, request.generation)
            decisions = plan_uploads(transaction.attachments, state.records, max_bytes=self.max_bytes,
                                     max_count=self.max_count)
            in_xero: list[Attachment] | None = None
            for decision in decisions:
                if decision.step == Step.VERIFY:
                    in_xero = in_xero if in_xero is not None else session.attachments(request.bank_transaction_id)
                    state = self._verify(state, decision, in_xero, request, session, report)
                else:
                    state = self._decide(state, decision, request, session, report)
        except (ReconnectRequired, GenerationChanged) as error:
            # Nothing retries a dead connection, and an ended one's receipts never go with another's grant: the
            # receipts wait, and the expense says why.
            if isinstance(error, GenerationChanged):
                reason = "The connection to Xero changed (it was disconnected or connected again) before the " \
                         "receipt was sent."
                action = "Send the receipts again from the expense (or sync the expense again)."
            else:
                reason, action = error.reason or error.message, "Connect to Xero again, then sync the expense again."
            logger.warning("receipts not uploaded: the Xero connection ended or needs reconnecting",
                           extra={"transaction_id": request.transaction_id, "error": type(error).__name__})
            waiting = [self._problem(f, reason, action)
                       for f in transaction.attachments if f.attachment_id not in state.records
                       or state.records[f.attachment_id].state != UploadState.UPLOADED]
            self.report_problems(request, waiting)
            return report
        current = {f.attachment_id for f in transaction.attachments}
        report.rejected = [r for r in state.records.values()
                           if r.attachment_id in current and r.state == UploadState.REJECTED]
        self.report_problems(request, report.rejected)
        metrics.add_metric(name="ReceiptsUploaded", unit="Count", value=len(report.uploaded))
        metrics.add_metric(name="ReceiptsRejected", unit="Count", value=len(report.rejected))
        return report

    # ------------------------------------------------------------------ steps
    def _state(self, request: UploadRequest) -> ReceiptUploads:
        state = self.uploads.get(request.business_id, request.transaction_id)
        if state is None or state.bank_transaction_id != request.bank_transaction_id:
            # A new Spend Money (the earlier one was never made, or was replaced): nothing of it is in Xero.
            return ReceiptUploads(business_id=request.business_id, transaction_id=request.transaction_id,
                                  bank_transaction_id=request.bank_transaction_id,
                                  version=state.version if state else 0)
        return state

    def _held_for(self, state: ReceiptUploads) -> float | None:
        """Seconds until the last lease on an UPLOADING receipt of the expense runs out, or None if none is held."""
        now = utc_now(self.clock)
        held = [from_iso(r.lease_until) - now for r in state.records.values()
                if r.state == UploadState.UPLOADING and r.lease_until is not None]
        longest = max(held, default=timedelta(0))
        return max(1.0, longest.total_seconds()) if longest > timedelta(0) else None

    def _record(self, state: ReceiptUploads, record: UploadRecord) -> ReceiptUploads:
        # A StaleUploads here means another delivery of the same work is running: this one stops (the message
        # fails and comes back) rather than overwrite what the other recorded.
        return self.uploads.save(state.model_copy(update={"records": {**state.records, record.attachment_id: record},
                                                          "updated_at": iso(utc_now(self.clock))}))

    def _problem(self, file: AttachmentMeta, reason: str, action: str | None) -> UploadRecord:
        return UploadRecord(attachment_id=file.attachment_id, original_name=file.file_name, sha256=file.sha256,
                            size_bytes=file.size_bytes, state=UploadState.REJECTED, reason=reason, action=action)

    def _decide(self, state: ReceiptUploads, decision: Decision, request: UploadRequest, session: XeroSession,
                report: UploadReport) -> ReceiptUploads:
        file = decision.file
        if decision.step == Step.SKIP:
            report.skipped += 1
            return state
        if decision.step == Step.REJECT:
            return self._record(state, self._problem(file, str(decision.reason), decision.action))
        return self._upload(state, decision, request, session, report)

    def _verify(self, state: ReceiptUploads, decision: Decision, in_xero: list[Attachment], request: UploadRequest,
                session: XeroSession, report: UploadReport) -> ReceiptUploads:
        earlier = decision.replaces
        assert earlier is not None
        # The upload may have been a replacement: another receipt's file of the same name, which it was to take.
        replaced = next((r for r in state.records.values() if r.attachment_id != earlier.attachment_id
                         and r.state == UploadState.UPLOADED and r.xero_file_name == earlier.xero_file_name), None)
        landed = next((a for a in in_xero if a.file_name == earlier.xero_file_name
                       and a.content_length == earlier.size_bytes), None)
        if landed is not None:
            report.skipped += 1
            if replaced is not None:
                state = state.model_copy(update={"records": {k: v for k, v in state.records.items()
                                                             if k != replaced.attachment_id}})
            return self._record(state, earlier.model_copy(update={"state": UploadState.UPLOADED, "lease_until": None,
                                                                  "xero_attachment_id": landed.attachment_id}))
        # Not in Xero: the same step again, under the same name (and so the same Idempotency-Key).
        again = Decision(decision.file, Step.REPLACE, replaces=replaced) if replaced is not None \
            else Decision(decision.file, Step.UPLOAD)
        return self._upload(state, again, request, session, report)

    def _upload(self, state: ReceiptUploads, decision: Decision, request: UploadRequest, session: XeroSession,
                report: UploadReport) -> ReceiptUploads:
        file = decision.file
        try:
            content = self.ledger.attachment_bytes(request.account_id, request.transaction_id, file.attachment_id,
                                                   max_bytes=self.max_bytes - 1)
        except ValueError:
            return self._record(state, self._problem(
                file, "The file is larger than Xero accepts (under 3 MB).",
                "Attach a smaller copy in the bank's app, then sync the expense again."))
        if not content:
            return self._record(state, self._problem(file, "The file is empty.",
                                                     "Attach the receipt again in the bank's app."))
        kind = identify(content[:HEAD_BYTES])
        if kind is None or not kind.accepted_by_xero:
            what = f"a {kind.extension.upper()} file" if kind else "not a file type we recognise"
            if kind is not None and kind.extension == "exe":
                what = "a program, not a document"
            return self._record(state, self._problem(file, f"Xero does not accept this file: it is {what}.",
                                                     TYPE_ACTION))
        replacing = decision.step == Step.REPLACE and decision.replaces is not None
        name = decision.replaces.xero_file_name if replacing and decision.replaces else None
        if name is None:
            taken = {r.xero_file_name for r in state.records.values() if r.attachment_id != file.attachment_id
                     and r.state in (UploadState.UPLOADED, UploadState.UPLOADING)}
            name = _unique(xero_file_name(file.file_name, kind, f"receipt-{len(state.records) + 1}"), taken)
        earlier = state.records.get(file.attachment_id)
        attempt = (earlier.attempts if earlier is not None else 0) + 1
        lease_until = iso(utc_now(self.clock) + timedelta(seconds=UPLOAD_LEASE_SECONDS))
        record = UploadRecord(attachment_id=file.attachment_id, original_name=file.file_name, sha256=file.sha256,
                              size_bytes=len(content), state=UploadState.UPLOADING, xero_file_name=name,
                              attempts=attempt, lease_until=lease_until)
        # Before the call: a crash after it must not upload twice, and no other run sends the file meanwhile.
        state = self._record(state, record)
        # Each attempt has a key of its own (an earlier one's may be remembered by Xero with its failure); a
        # crash or a redelivery looked Xero up (VERIFY) before coming here again.
        key = idempotency_key(request.tenant_id, "receipt", request.bank_transaction_id, file.sha256, name, attempt)
        try:
            attachment = session.upload_attachment(request.bank_transaction_id, name, content, key=key,
                                                   replace_existing=replacing)
        except XeroTooLarge:
            return self._record(state, self._problem(file, "Xero refused the file as too large.",
                                                     "Attach a smaller copy in the bank's app, then sync the "
                                                     "expense again."))
        except XeroValidationError as error:
            reason = "; ".join(error.messages) or "Xero refused the file."
            return self._record(state, self._problem(file, reason, TYPE_ACTION))
        except Exception:
            # The call is over, whether or not the file landed: the next run looks in Xero at once instead of
            # waiting for the lease to run out.
            self._give_up_lease(state, record)
            raise
        report.uploaded.append(file.attachment_id)
        if replacing and decision.replaces is not None and decision.replaces.attachment_id != file.attachment_id:
            # The replaced receipt's entry goes: its name now holds this file's content.
            records = {k: v for k, v in state.records.items() if k != decision.replaces.attachment_id}
            state = state.model_copy(update={"records": records})
        return self._record(state, record.model_copy(update={"state": UploadState.UPLOADED, "lease_until": None,
                                                             "xero_attachment_id": attachment.attachment_id}))

    def _give_up_lease(self, state: ReceiptUploads, record: UploadRecord) -> None:
        """UPLOADING still (the file may have landed), but nobody is sending it: no run need wait for this one.
        If this write fails too, the lease runs out by itself."""
        try:
            self._record(state, record.model_copy(update={"lease_until": None}))
        except Exception:
            logger.exception("a receipt's lease could not be given up; the next run waits for it to run out",
                             extra={"transaction_id": state.transaction_id, "attachment_id": record.attachment_id})


def _unique(name: str, taken: set[str | None]) -> str:
    """PUT with a name Xero already holds would add a second file of that name; keep names distinct."""
    if name not in taken:
        return name
    stem, _, extension = name.rpartition(".")
    counter = 2
    while f"{stem} ({counter}).{extension}" in taken:
        counter += 1
    return f"{stem} ({counter}).{extension}"
