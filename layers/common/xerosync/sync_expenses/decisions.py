"""What a sync job does with each expense it was asked for, decided in memory: by the API when the job starts
(the answer carries the counts) and again by the planner when it makes the decisions durable
(docs/sync-expenses.md, "Starting a sync"). Shared by both, so the API never imports the planner's worker code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from xerosync.clock import from_iso
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.models import (
    SPEND_MONEY_BATCH_SIZE,
    ExpenseRecord,
    ExpenseStatus,
    PlannedBatch,
    SkippedExpense,
    SyncJob,
    SyncJobStatus,
    SyncOperation,
)
from xerosync.sync_expenses.store import chunks
from xerosync.sync_expenses.validation import SyncContext, problems_for_sync

# A job whose batches were never handed to the worker (the request died half-way) is reported as such
# once this long has passed, so nobody waits for progress that will not come.
DISPATCH_GRACE_SECONDS = 120
# Longer than a batch's deliveries and retries (10 x 12 minutes) and a wait parked behind Xero's daily limit.
STUCK_JOB_SECONDS = 26 * 3600
# A batch's last delivery that began this long ago and was never counted was killed (the worker's timeout
# is 120 s): its expenses may be synced again at once.
ABANDONED_AFTER_SECONDS = 600


def new_job_id(now: datetime) -> str:
    """Jobs sort by creation time and never collide."""
    return f"job_{now:%Y%m%d%H%M%S}_{uuid.uuid4().hex[:12]}"


class Decisions:
    # A plain class: a dataclass compiles its methods when the module is imported, at every cold start
    # (docs/architecture.md, "Cold start").
    def __init__(self, skipped: list[SkippedExpense] | None = None, to_queue: list[ExpenseRecord] | None = None,
                 rejected: list[ExpenseRecord] | None = None) -> None:
        self.skipped: list[SkippedExpense] = [] if skipped is None else skipped
        self.to_queue: list[ExpenseRecord] = [] if to_queue is None else to_queue
        self.rejected: list[ExpenseRecord] = [] if rejected is None else rejected  # already turned into Sync errors

    def batches(self) -> list[PlannedBatch]:
        """Creates and updates in separate batches of up to 50: each batch is exactly one Xero call."""
        planned: list[PlannedBatch] = []
        for operation in (SyncOperation.CREATE, SyncOperation.UPDATE):
            is_update = operation == SyncOperation.UPDATE
            group = [r.transaction_id for r in self.to_queue if (r.spend_money is not None) == is_update]
            planned.extend(PlannedBatch(operation=operation, transaction_ids=ids)
                           for ids in chunks(group, SPEND_MONEY_BATCH_SIZE))
        return planned


def skip_reason(record: ExpenseRecord | None, stranded_jobs: set[str], job_id: str | None = None
                ) -> tuple[Any, str] | None:
    if record is None:
        return "not_found", "There is no expense with this id (only outbound payments of linked accounts are)."
    if record.status == ExpenseStatus.QUEUED and record.job_id not in stranded_jobs and record.job_id != job_id:
        return "already_queued", "This expense is already being synced."
    if record.status == ExpenseStatus.SYNCED and not record.updated:
        return "already_synced", "This expense is already synced and has not changed since."
    return None


def decide(ids: list[str], records: dict[str, ExpenseRecord], context: SyncContext, stranded: set[str],
           job_id: str, now: str) -> Decisions:
    """What each selected expense becomes in this job: skipped (with why), queued, or a Sync error at once."""
    decisions = Decisions()
    for transaction_id in ids:
        record = records.get(transaction_id)
        reason = skip_reason(record, stranded, job_id)
        if reason is not None:
            decisions.skipped.append(SkippedExpense(transaction_id=transaction_id, reason=reason[0],
                                                    message=reason[1]))
            continue
        assert record is not None
        problems = problems_for_sync(record, context)
        if problems:
            decisions.rejected.append(state_machine.reject(record, problems, job_id, now))
        else:
            decisions.to_queue.append(record)
    return decisions


class JobReads(Protocol):
    def get(self, business_id: str, job_id: str) -> SyncJob | None: ...

    def abandoned(self, business_id: str, job_id: str, last_delivery_before: float) -> bool: ...


def job_status(job: SyncJob, now: float) -> SyncJobStatus:
    """Running, done, or never started (its plan never left the API: nothing of it will happen)."""
    if job.completed_at:
        return SyncJobStatus.COMPLETED
    created = from_iso(job.created_at).timestamp()
    if job.dispatched_at is None and now - created > DISPATCH_GRACE_SECONDS:
        return SyncJobStatus.NOT_STARTED
    return SyncJobStatus.RUNNING


def stranded_jobs(jobs: JobReads, business_id: str, records: Iterable[ExpenseRecord], now: float) -> set[str]:
    """Jobs whose QUEUED expenses nobody will settle: their batches were never all sent (the request died
    half-way), a batch's last delivery began long enough ago to have been killed at its timeout without
    being counted, or the job is older than any delivery, retry or parked wait lasts. A new job may take
    their expenses over; it looks Xero up before creating anything."""
    queued_by = {r.job_id for r in records if r.status == ExpenseStatus.QUEUED and r.job_id}
    stranded = set()
    for job_id in queued_by:
        job = jobs.get(business_id, job_id)
        if job is None or _nobody_will_finish(jobs, job, now):
            stranded.add(job_id)
    return stranded


def _nobody_will_finish(jobs: JobReads, job: SyncJob, now: float) -> bool:
    if job_status(job, now) == SyncJobStatus.NOT_STARTED:
        return True
    if job.completed_at is not None:
        return False
    return now - from_iso(job.created_at).timestamp() > STUCK_JOB_SECONDS or jobs.abandoned(
        job.business_id, job.job_id, last_delivery_before=now - ABANDONED_AFTER_SECONDS)
