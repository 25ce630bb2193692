"""Starting a sync job in two steps, so that "Sync Expenses" answers at once (docs/sync-expenses.md, "Starting a
sync"):

1. The API (``ExpenseService.start_sync``) reads the selection and decides in memory what each expense becomes
   (``sync_expenses.decisions.decide``): the answer carries the counts. It records the job with its selection and the
   expenses it will sync (``queued_ids``), marks the job as being planned, and sends one plan message. From that
   moment the Pending Sync tab shows those expenses as being synced.
2. The planner (``SpendMoneyPlanner``, in the Spend Money worker) makes the decisions durable: each expense
   QUEUED or Sync error with a conditional write (deciding again from what is there now when another writer got
   there first), the plan recorded on the job once, the batches sent, the job dispatched.

Repeating the plan is harmless: an expense this job queued before counts as its own, a recorded plan is sent
again exactly (deterministic deduplication ids; the worker settles each expense once), and a job already
dispatched is left alone, but for completing it if it is done (a plan with no batch is completed by the planner
itself, after dispatching it, and the delivery may have died in between). A job whose plan message never left
the API shows NOT_STARTED after a grace period, and its expenses were never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

from xerosync.clock import Clock, iso, utc_now
from xerosync.observability import logger, metrics
from xerosync.store.feeds import FeedRecord
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.decisions import ABANDONED_AFTER_SECONDS, Decisions, JobReads, decide, stranded_jobs
from xerosync.sync_expenses.mapping import CategoryMappings
from xerosync.sync_expenses.models import ExpenseRecord, ExpenseStatus, SpendMoneyBatch, SpendMoneyPlan, SyncJob
from xerosync.sync_expenses.reference_data import ReferenceData
from xerosync.sync_expenses.store import StaleExpense
from xerosync.sync_expenses.validation import SyncContext, depends_on_reference_data
from xerosync.sync_expenses.xero_gateway import chosen_since
from xerosync.xero.session import XeroSession

SAVE_ATTEMPTS = 4


class ExpenseReads(Protocol):
    def get_many(self, business_id: str, transaction_ids: Iterable[str]) -> dict[str, ExpenseRecord]: ...

    def save_many(self, records: list[ExpenseRecord]) -> list[ExpenseRecord | None]: ...


class JobRecords(JobReads, Protocol):
    def record_plan(self, job: SyncJob, at: str) -> bool: ...

    def mark_dispatched(self, business_id: str, job_id: str, at: str, check_at: float) -> None: ...

    def complete_if_done(self, business_id: str, job_id: str, at: str) -> bool: ...


class BatchSender(Protocol):
    def send(self, batches: list[SpendMoneyBatch]) -> None: ...


class Activity(Protocol):
    def planned(self, business_id: str, job_id: str) -> None: ...


class Mappings(Protocol):
    def get(self, business_id: str) -> CategoryMappings: ...


class BusinessFeeds(Protocol):
    def for_business(self, business_id: str) -> list[FeedRecord]: ...


class Reference(Protocol):
    def cached(self, tenant_id: str) -> ReferenceData | None: ...

    def without_gaps(self, snapshot: ReferenceData | None, tenant_id: str, open_session: Any, *,
                     known_since: float = 0.0) -> ReferenceData | None: ...


class Sessions(Protocol):
    def session(self, business_id: str, generation: str | None = None) -> XeroSession: ...


class SpendMoneyPlanner:
    # A plain class: a dataclass compiles its methods when the module is imported, at every cold start
    # (docs/architecture.md, "Cold start").
    def __init__(self, expenses: ExpenseReads, jobs: JobRecords, mappings: Mappings, feeds: BusinessFeeds,
                 reference: Reference, xero: Sessions, queue: BatchSender, activity: Activity, clock: Clock,
                 bank_contact_name: str, booking_offset_minutes: int = 480) -> None:
        self.expenses = expenses
        self.jobs = jobs
        self.mappings = mappings
        self.feeds = feeds
        self.reference = reference
        self.xero = xero
        self.queue = queue
        self.activity = activity
        self.clock = clock
        self.bank_contact_name = bank_contact_name
        self.booking_offset_minutes = booking_offset_minutes

    def plan(self, message: SpendMoneyPlan) -> None:
        job = self.jobs.get(message.business_id, message.job_id)
        if job is None or job.dispatched_at is not None:
            if job is not None and job.completed_at is None:
                # The delivery that dispatched it may have died before completing a job with nothing to send
                # (below): no batch will ever count it, so nothing else would (conditional: a no-op otherwise).
                self.jobs.complete_if_done(job.business_id, job.job_id, iso(utc_now(self.clock)))
            self.activity.planned(message.business_id, message.job_id)
            return  # a repeat of a plan that went through
        now = iso(utc_now(self.clock))
        if job.planned_at is None:
            self.jobs.record_plan(self._decide(job, message, now), now)
            recorded = self.jobs.get(message.business_id, message.job_id)  # as recorded (by this or a repeat)
            assert recorded is not None
            job = recorded
        self.queue.send([SpendMoneyBatch(
            business_id=job.business_id, tenant_id=job.tenant_id, generation=message.generation, job_id=job.job_id,
            batch=n, operation=planned.operation, transaction_ids=planned.transaction_ids)
            for n, planned in enumerate(job.batches)])
        # Checked by the minute's sweeper from when a batch could have been abandoned, until it completes.
        self.jobs.mark_dispatched(job.business_id, job.job_id, now, self.clock.time() + ABANDONED_AFTER_SECONDS)
        if not job.batches:
            self.jobs.complete_if_done(job.business_id, job.job_id, now)  # every expense ended at once
        self.activity.planned(job.business_id, job.job_id)
        metrics.add_metric(name="ExpensesQueued", unit="Count", value=job.queued)
        metrics.add_metric(name="ExpensesRejectedBeforeSending", unit="Count", value=job.rejected)
        logger.info("sync job planned", extra={"job_id": job.job_id, "queued": job.queued, "rejected": job.rejected,
                                               "skipped": len(job.skipped), "batches": len(job.batches)})

    def _decide(self, job: SyncJob, message: SpendMoneyPlan, now: str) -> SyncJob:
        """The job's final decisions, written on each expense (QUEUED, or Sync error at once)."""
        feeds = self.feeds.for_business(message.business_id)
        context = self._context(message, feeds)
        records = self.expenses.get_many(job.business_id, job.selection)
        stranded = stranded_jobs(self.jobs, job.business_id, records.values(), self.clock.time())
        decisions = decide(job.selection, records, context, stranded, job.job_id, now)
        if any(r.error is not None and depends_on_reference_data(r.error.problems) for r in decisions.rejected):
            # The snapshot may predate what the user did in Xero: it says "archived or deleted" only once fresh.
            fresher = self.reference.without_gaps(context.reference, job.tenant_id,
                                                  lambda: self.xero.session(job.business_id, message.generation),
                                                  known_since=chosen_since(feeds, context.mappings))
            if fresher is not None and fresher is not context.reference:
                context = replace(context, reference=fresher)
                decisions = decide(job.selection, records, context, stranded, job.job_id, now)
        decisions = self._write(job, decisions, context, stranded, now)
        batches = decisions.batches()
        return job.model_copy(update={
            "queued": len(decisions.to_queue), "rejected": len(decisions.rejected), "skipped": decisions.skipped,
            "failed": len(decisions.rejected), "failed_ids": [r.transaction_id for r in decisions.rejected],
            "batches": batches, "batches_total": len(batches)})

    def _context(self, message: SpendMoneyPlan, feeds: list[FeedRecord]) -> SyncContext:
        return SyncContext(reference=self.reference.cached(message.tenant_id),
                           mappings=self.mappings.get(message.business_id),
                           linked_accounts={f.account_id: f.xero_account_id for f in feeds
                                            if f.is_live and f.xero_account_id},
                           bank_contact_name=self.bank_contact_name, booking_offset_minutes=self.booking_offset_minutes)

    def _write(self, job: SyncJob, decisions: Decisions, context: SyncContext, stranded: set[str],
               now: str) -> Decisions:
        """Each decision by a conditional write; an expense another writer changed meanwhile (a ledger event, an
        edit) is decided again from what is there now. Returns the decisions as written."""
        final: dict[str, ExpenseRecord] = {}
        skipped = list(decisions.skipped)
        rejected, to_queue = decisions.rejected, decisions.to_queue
        for _ in range(SAVE_ATTEMPTS):
            ours = {r.transaction_id: r for r in to_queue
                    if r.status == ExpenseStatus.QUEUED and r.job_id == job.job_id}
            final.update(ours)  # queued by this job before (a repeated plan): nothing to write
            to_save = rejected + [state_machine.queue(r, job.job_id, now) for r in to_queue
                                  if r.transaction_id not in ours]
            lost = []
            for record, saved in zip(to_save, self.expenses.save_many(to_save), strict=True):
                if saved is None:
                    lost.append(record.transaction_id)
                else:
                    final[record.transaction_id] = saved
            if not lost:
                break
            again = decide(lost, self.expenses.get_many(job.business_id, lost), context, stranded, job.job_id, now)
            skipped.extend(again.skipped)
            rejected, to_queue = again.rejected, again.to_queue
        else:
            # Another writer kept winning: the message comes back and the plan is made again from scratch.
            raise StaleExpense(f"expenses of job {job.job_id} kept changing while it was planned")
        ordered = [final[i] for i in job.selection if i in final]
        return Decisions(skipped=skipped, to_queue=[r for r in ordered if r.status == ExpenseStatus.QUEUED],
                         rejected=[r for r in ordered if r.status == ExpenseStatus.SYNC_ERROR])
