"""The sync-expenses API's use cases: reference data, mappings, the two tabs, edits and sync jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.auth import Caller
from xerosync.clock import Clock, from_iso, iso, utc_now
from xerosync.errors import Conflict, InvalidRequest, NotFound
from xerosync.expenses import lifecycle
from xerosync.expenses.access import Admission, FeatureGate
from xerosync.expenses.dispatch import SpendMoneyQueue
from xerosync.expenses.mapping import CategoryMappings
from xerosync.expenses.models import (
    MAX_EXPENSES_PER_SYNC,
    SPEND_CATEGORIES,
    SPEND_MONEY_BATCH_SIZE,
    ExpenseRecord,
    ExpenseStatus,
    Problem,
    SkippedExpense,
    SpendMoneyBatch,
    SyncJob,
    SyncJobStatus,
    SyncOperation,
    TrackingChoice,
)
from xerosync.expenses.presenter import expense_view, job_status, job_view, mappings_view, reference_view
from xerosync.expenses.reference_data import ReferenceData
from xerosync.expenses.request_dedup import SyncRequestDeduplicator
from xerosync.expenses.store import (
    ExpenseFilter,
    ExpenseStore,
    MappingStore,
    StaleExpense,
    SyncJobStore,
    chunks,
)
from xerosync.expenses.validation import (
    SyncContext,
    account_problem,
    category_label,
    problems_for_sync,
    tax_rate_problem,
    tracking_problems,
)
from xerosync.expenses.views import (
    ExpenseEdit,
    ExpensePage,
    ExpenseView,
    ListQuery,
    MappingsUpdate,
    MappingsView,
    ReferenceDataView,
    StartSync,
    SyncJobView,
)
from xerosync.expenses.xero_gateway import ReferenceDataCache
from xerosync.observability import logger, metrics
from xerosync.store.connections import ConnectionStatus
from xerosync.xero.errors import RECONNECT_ACTION
from xerosync.xero.session import XeroSession

_SAVE_ATTEMPTS = 4
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # what the lists' date filters accept
# Longer than a batch's deliveries and retries (10 x 12 minutes) and a wait parked behind Xero's daily limit.
STUCK_JOB_SECONDS = 26 * 3600
# A batch's last delivery that began this long ago and was never counted was killed (the worker's timeout
# is 120 s): its expenses may be synced again at once.
ABANDONED_AFTER_SECONDS = 600


class SessionFactory(Protocol):
    def session(self, business_id: str) -> XeroSession: ...


def new_job_id(now: datetime) -> str:
    """Jobs sort by creation time and never collide."""
    return f"job_{now:%Y%m%d%H%M%S}_{uuid.uuid4().hex[:12]}"


@dataclass
class ExpenseService:
    gate: FeatureGate
    expenses: ExpenseStore
    mappings: MappingStore
    jobs: SyncJobStore
    reference: ReferenceDataCache
    xero: SessionFactory
    spend_money_queue: SpendMoneyQueue
    deduplicator: SyncRequestDeduplicator
    clock: Clock
    bank_contact_name: str
    booking_offset_minutes: int = 480

    def _now(self) -> str:
        return iso(utc_now(self.clock))

    def _context(self, admission: Admission, reference: ReferenceData | None) -> SyncContext:
        return SyncContext(reference=reference, mappings=self.mappings.get(admission.business_id),
                           linked_accounts=admission.linked_accounts, bank_contact_name=self.bank_contact_name,
                           booking_offset_minutes=self.booking_offset_minutes)

    def _reference(self, admission: Admission) -> ReferenceData | None:
        """The cached snapshot, refreshed when stale (a stale one, or none, when Xero cannot be asked); a
        connection that needs renewing serves the cache only. A connection found gone raises
        ReconnectRequired, which reaches the caller through xerosync.http's mapping (409)."""
        if admission.connection.status != ConnectionStatus.ACTIVE:
            return self.reference.cached(admission.tenant_id)
        return self.reference.current(admission.tenant_id, lambda: self.xero.session(admission.business_id))

    def _reference_needed(self, admission: Admission, *, force: bool = False) -> ReferenceData:
        """The snapshot, for what cannot be answered without one (validating a choice, listing the options)."""
        if admission.connection.status != ConnectionStatus.ACTIVE:
            cached = self.reference.cached(admission.tenant_id)
            if cached is None:
                raise Conflict("Your connection to Xero needs to be renewed.", action=RECONNECT_ACTION,
                               code="reconnect_required")
            return cached
        reference = self.reference.current(admission.tenant_id, lambda: self.xero.session(admission.business_id),
                                           force=force, required=True)
        assert reference is not None  # required: Xero's answer, or Xero's error
        return reference

    # ------------------------------------------------------------------ reference data and mappings
    def reference_data(self, caller: Caller, *, refresh: bool = False) -> ReferenceDataView:
        admission = self.gate.admit(caller)
        return reference_view(self._reference_needed(admission, force=refresh))

    def get_mappings(self, caller: Caller) -> MappingsView:
        admission = self.gate.admit(caller)
        return mappings_view(self.mappings.get(admission.business_id), self._reference(admission))

    def set_mappings(self, caller: Caller, update: MappingsUpdate) -> MappingsView:
        admission = self.gate.admit(caller)
        reference = self._reference_needed(admission)
        problems: list[dict[str, Any]] = []
        accounts: dict[str, str] = {}
        for choice in update.mappings:
            problem: Problem | None = None
            if choice.category not in SPEND_CATEGORIES:
                problem = Problem(code="unknown_category", message=f"'{choice.category}' is not a bank spend category.",
                                  action="Use one of: " + ", ".join(SPEND_CATEGORIES) + ".")
            elif choice.category in accounts or any(p["category"] == choice.category for p in problems):
                problem = Problem(code="category_repeated", message=f"'{choice.category}' is mapped twice.",
                                  action="Map each category once.")
            elif choice.xero_account_id:
                problem = account_problem(choice.xero_account_id, reference)
            if problem is not None:
                problems.append({"category": choice.category, **problem.model_dump(exclude_none=True)})
            elif choice.xero_account_id:
                account = reference.account(choice.xero_account_id)
                assert account is not None  # account_problem found it
                accounts[choice.category] = account.account_id  # as Xero spells it
        if problems:
            first = problems[0]
            raise InvalidRequest(f"The mapping for {category_label(first['category'])} cannot be saved: "
                                 f"{first['message']}", action=first.get("action"), code="invalid_mapping",
                                 details=problems)
        current = self.mappings.get(admission.business_id)
        try:
            saved = self.mappings.save(CategoryMappings(business_id=admission.business_id, accounts=accounts,
                                                        changed_by=caller.user_id, changed_at=self._now(),
                                                        version=current.version))
        except StaleExpense:
            raise Conflict("The mapping was changed by someone else meanwhile.",
                           action="Reload the mapping and make your change again.", code="mapping_changed") from None
        return mappings_view(saved, reference)

    # ------------------------------------------------------------------ the tabs
    def list_expenses(self, caller: Caller, query: ListQuery) -> ExpensePage:
        admission = self.gate.admit(caller)
        if query.posted_from and query.posted_to and query.posted_from > query.posted_to:
            raise InvalidRequest("posted_from is after posted_to.", action="Swap the dates.", code="invalid_dates")
        if any(day and not EARLIEST_DAY <= day <= LATEST_DAY for day in (query.posted_from, query.posted_to)):
            raise InvalidRequest(f"Dates must be between {EARLIEST_DAY} and {LATEST_DAY}.",
                                 action="Choose dates in that range.", code="invalid_dates")
        wanted = ExpenseFilter(tab=query.tab, posted_from=query.posted_from, posted_to=query.posted_to,
                               account_id=query.account_id, status=query.status, updated=query.updated,
                               has_error=query.has_error, booking_offset_minutes=self.booking_offset_minutes)
        records, cursor = self.expenses.page(admission.business_id, wanted, limit=query.limit, cursor=query.cursor)
        # Listing never calls Xero: names come from the cached reference data, whatever its age.
        context = self._context(admission, self.reference.cached(admission.tenant_id))
        return ExpensePage(items=[expense_view(r, context, admission.account_names) for r in records],
                           next_cursor=cursor)

    def get_expense(self, caller: Caller, transaction_id: str) -> ExpenseView:
        admission = self.gate.admit(caller)
        record = self._expense(admission, transaction_id)
        context = self._context(admission, self.reference.cached(admission.tenant_id))
        return expense_view(record, context, admission.account_names)

    def _expense(self, admission: Admission, transaction_id: str) -> ExpenseRecord:
        return expense_or_not_found(self.expenses, admission.business_id, transaction_id)

    def edit_expense(self, caller: Caller, transaction_id: str, edit: ExpenseEdit) -> ExpenseView:
        admission = self.gate.admit(caller)
        changes: dict[str, Any] = {name: getattr(edit, name) for name in edit.model_fields_set}
        if not changes:
            raise InvalidRequest("Nothing to change.", action="Send at least one field.", code="empty_edit")
        if changes.get("tracking") is not None:
            changes["tracking"] = [TrackingChoice(**c.model_dump()).model_dump() for c in edit.tracking or []]
        reference = None
        if {"xero_account_id", "tax_type", "tracking"} & {k for k, v in changes.items() if v}:
            reference = self._reference_needed(admission)
            self._check_choices(changes, reference)
        def edited(record: ExpenseRecord | None) -> ExpenseRecord:
            record = _must_exist(record)
            if record.status == ExpenseStatus.QUEUED:
                raise Conflict("This expense is being synced right now.", action="Edit it when the sync is done.",
                               code="expense_being_synced")
            if record.status == ExpenseStatus.SYNCED and not record.updated:
                raise Conflict("This expense is already synced and unchanged; only expenses waiting to be synced "
                               "can be edited.", action="Change it in Xero if something is wrong.",
                               code="expense_already_synced")
            return lifecycle.edited(record, changes, self._now())

        try:
            saved = self.expenses.change(admission.business_id, transaction_id, edited)
        except StaleExpense:
            raise Conflict("The expense keeps changing; try again.", code="expense_changed") from None
        assert saved is not None  # edited never leaves the expense alone
        context = self._context(admission, reference or self.reference.cached(admission.tenant_id))
        return expense_view(saved, context, admission.account_names)

    @staticmethod
    def _check_choices(changes: dict[str, Any], reference: ReferenceData) -> None:
        problems: list[Problem] = []
        if changes.get("xero_account_id"):
            problem = account_problem(changes["xero_account_id"], reference)
            if problem:
                problems.append(problem)
        if changes.get("tax_type"):
            problem = tax_rate_problem(changes["tax_type"], reference)
            if problem:
                problems.append(problem)
        if changes.get("tracking"):
            problems.extend(tracking_problems([TrackingChoice(**c) for c in changes["tracking"]], reference))
        if problems:
            raise InvalidRequest(problems[0].message, action=problems[0].action, code=problems[0].code,
                                 details=[p.model_dump(exclude_none=True) for p in problems])

    # ------------------------------------------------------------------ sync jobs
    def start_sync(self, caller: Caller, request: StartSync, *, client_key: str | None = None,
                   lambda_context: LambdaContext | None = None) -> SyncJobView:
        admission = self.gate.admit(caller)
        ids = list(dict.fromkeys(request.transaction_ids))
        if len(ids) > MAX_EXPENSES_PER_SYNC:
            raise InvalidRequest(f"You can sync at most {MAX_EXPENSES_PER_SYNC} expenses at a time, and "
                                 f"{len(ids):,} were selected.",
                                 action=f"Select {MAX_EXPENSES_PER_SYNC} or fewer and sync again.",
                                 code="too_many_expenses")
        if admission.connection.status != ConnectionStatus.ACTIVE:
            raise Conflict("Your connection to Xero needs to be renewed before expenses can be synced.",
                           action=RECONNECT_ACTION, code="reconnect_required")
        records = self.expenses.get_many(admission.business_id, ids)
        # The same selection, unchanged and with no sync ended since, is the same request (a double click).
        fingerprint = {"business_id": admission.business_id, "client_key": client_key,
                       "expenses": [[i, *((records[i].revision, records[i].settlements) if i in records else ())]
                                    for i in sorted(ids)]}
        created = self.deduplicator.once(fingerprint, lambda: self._start_job(admission, ids, records),
                                         lambda_context)
        return SyncJobView.model_validate(created)

    def _start_job(self, admission: Admission, ids: list[str], records: dict[str, ExpenseRecord]) -> dict[str, Any]:
        moment = utc_now(self.clock)
        now = iso(moment)
        job_id = new_job_id(moment)
        context = self._context(admission, self._reference(admission))
        stranded = self._stranded_jobs(admission.business_id, records.values())
        skipped: list[SkippedExpense] = []
        to_queue: list[ExpenseRecord] = []
        rejected: list[ExpenseRecord] = []
        for transaction_id in ids:
            record = records.get(transaction_id)
            reason = _skip_reason(record, stranded)
            if reason is not None:
                skipped.append(SkippedExpense(transaction_id=transaction_id, reason=reason[0], message=reason[1]))
                continue
            assert record is not None
            problems = problems_for_sync(record, context)
            if problems:
                rejected.append(lifecycle.reject(record, problems, job_id, now))
            else:
                to_queue.append(record)
        batches = _plan_batches(admission, job_id, to_queue)
        job = SyncJob(business_id=admission.business_id, job_id=job_id, tenant_id=admission.tenant_id,
                      created_by=admission.caller.user_id, created_at=now, requested=len(ids), queued=len(to_queue),
                      rejected=len(rejected), skipped=skipped, batches_total=len(batches), failed=len(rejected),
                      failed_ids=[r.transaction_id for r in rejected], completed_at=None if batches else now)
        # The job first (progress has a home), then each expense's decision (QUEUED, or SYNC_ERROR at once), then
        # the batches, which the worker only ever finds marked. If this request dies before the batches are sent,
        # the job reads NOT_STARTED after a grace period and its expenses can be synced again.
        self.jobs.create(job)
        self._write_decisions(admission, job_id, now, rejected, [lifecycle.queue(r, job_id, now) for r in to_queue],
                              context)
        self.spend_money_queue.send(batches)
        self.jobs.mark_dispatched(admission.business_id, job_id, now)
        metrics.add_metric(name="ExpensesQueued", unit="Count", value=len(to_queue))
        metrics.add_metric(name="ExpensesRejectedBeforeSending", unit="Count", value=len(rejected))
        logger.info("sync job started", extra={"job_id": job_id, "queued": len(to_queue), "rejected": len(rejected),
                                               "skipped": len(skipped), "batches": len(batches)})
        return job_view(job.model_copy(update={"dispatched_at": now}), self.clock.time()).model_dump(mode="json")

    def _stranded_jobs(self, business_id: str, records: Iterable[ExpenseRecord]) -> set[str]:
        """Jobs whose QUEUED expenses nobody will settle: their batches were never all sent (the request died
        half-way), a batch's last delivery began long enough ago to have been killed at its timeout without
        being counted, or the job is older than any delivery, retry or parked wait lasts. A new job may take
        their expenses over; it looks Xero up before creating anything."""
        queued_by = {r.job_id for r in records if r.status == ExpenseStatus.QUEUED and r.job_id}
        stranded = set()
        now = self.clock.time()
        for job_id in queued_by:
            job = self.jobs.get(business_id, job_id)
            if job is None or self._nobody_will_finish(job, now):
                stranded.add(job_id)
        return stranded

    def _nobody_will_finish(self, job: SyncJob, now: float) -> bool:
        if job_status(job, now) == SyncJobStatus.NOT_STARTED:
            return True
        if job.completed_at is not None:
            return False
        return now - from_iso(job.created_at).timestamp() > STUCK_JOB_SECONDS or self.jobs.abandoned(
            job.business_id, job.job_id, last_delivery_before=now - ABANDONED_AFTER_SECONDS)

    def _write_decisions(self, admission: Admission, job_id: str, now: str, rejected: list[ExpenseRecord],
                         queued: list[ExpenseRecord], context: SyncContext) -> None:
        pending = rejected + queued
        for _ in range(_SAVE_ATTEMPTS):
            results = self.expenses.save_many(pending)
            lost = [r.transaction_id for r, saved in zip(pending, results, strict=True) if saved is None]
            if not lost:
                return
            # Someone wrote first (a ledger event, an edit): decide again from what is there now.
            fresh = self.expenses.get_many(admission.business_id, lost)
            pending = []
            batched = {r.transaction_id for r in queued}
            for record in fresh.values():
                if record.job_id == job_id or _skip_reason(record, set()) is not None:
                    continue
                problems = problems_for_sync(record, context)
                if problems:
                    pending.append(lifecycle.reject(record, problems, job_id, now))  # its batch then skips it
                elif record.transaction_id in batched:
                    pending.append(lifecycle.queue(record, job_id, now))
                # (rejected at first and fine now: it is in no batch, so it stays as it is, to be synced again)

    def get_job(self, caller: Caller, job_id: str) -> SyncJobView:
        admission = self.gate.admit(caller)
        job = self.jobs.get(admission.business_id, job_id)
        if job is None:
            raise NotFound("There is no sync with this id.", code="sync_job_not_found")
        return job_view(job, self.clock.time())


def _skip_reason(record: ExpenseRecord | None, stranded_jobs: set[str]) -> tuple[Any, str] | None:
    if record is None:
        return "not_found", "There is no expense with this id (only outbound payments of linked accounts are)."
    if record.status == ExpenseStatus.QUEUED and record.job_id not in stranded_jobs:
        return "already_queued", "This expense is already being synced."
    if record.status == ExpenseStatus.SYNCED and not record.updated:
        return "already_synced", "This expense is already synced and has not changed since."
    return None


def expense_or_not_found(expenses: ExpenseStore, business_id: str, transaction_id: str) -> ExpenseRecord:
    return _must_exist(expenses.get(business_id, transaction_id))


def _must_exist(record: ExpenseRecord | None) -> ExpenseRecord:
    if record is None:
        raise NotFound("There is no expense with this id.",
                       action="Only outbound payments of bank accounts linked to Xero are expenses.",
                       code="expense_not_found")
    return record


def _plan_batches(admission: Admission, job_id: str, records: list[ExpenseRecord]) -> list[SpendMoneyBatch]:
    """Creates and updates go in separate batches of up to 50: each batch is exactly one Xero call."""
    batches: list[SpendMoneyBatch] = []
    for operation in (SyncOperation.CREATE, SyncOperation.UPDATE):
        is_update = operation == SyncOperation.UPDATE
        group = [r.transaction_id for r in records if (r.spend_money is not None) == is_update]
        for ids in chunks(group, SPEND_MONEY_BATCH_SIZE):
            batches.append(SpendMoneyBatch(business_id=admission.business_id, tenant_id=admission.tenant_id,
                                           generation=admission.connection.generation, job_id=job_id,
                                           batch=len(batches), operation=operation, transaction_ids=ids))
    return batches

