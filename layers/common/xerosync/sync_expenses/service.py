"""The sync-expenses API's use cases: reference data, mappings, the two tabs, edits and sync jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from xerosync.auth import Caller
from xerosync.clock import Clock, from_iso, iso, utc_now
from xerosync.errors import Conflict, InvalidRequest, NotFound
from xerosync.observability import logger
from xerosync.store.connections import ConnectionStatus
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.access import Admission, FeatureGate
from xerosync.sync_expenses.decisions import DISPATCH_GRACE_SECONDS, decide, new_job_id, stranded_jobs
from xerosync.sync_expenses.fifo_queues import SpendMoneyQueue
from xerosync.sync_expenses.mapping import CategoryMappings
from xerosync.sync_expenses.models import (
    MAX_EXPENSES_PER_SYNC,
    SPEND_CATEGORIES,
    ExpenseRecord,
    ExpenseStatus,
    Problem,
    SpendMoneyPlan,
    SyncJob,
    TrackingChoice,
)
from xerosync.sync_expenses.payees import normalise_payee, rule_id
from xerosync.sync_expenses.presenter import (
    expense_view,
    job_view,
    mappings_view,
    payee_rule_view,
    reference_view,
    suggested_values,
    wait_view,
)
from xerosync.sync_expenses.reference_data import ReferenceData
from xerosync.sync_expenses.store import (
    ExpenseFilter,
    ExpenseStore,
    MappingStore,
    StaleExpense,
    SyncActivityStore,
    SyncJobStore,
    expense_or_not_found,
    must_exist,
)
from xerosync.sync_expenses.suggestion_store import Suggestions
from xerosync.sync_expenses.suggestions import PayeeRule, PayeeSummary
from xerosync.sync_expenses.validation import (
    SyncContext,
    account_problem,
    category_label,
    depends_on_reference_data,
    tax_rate_problem,
    tracking_problems,
)
from xerosync.sync_expenses.views import (
    ExpenseEdit,
    ExpensePage,
    ExpenseView,
    ListQuery,
    MappingsUpdate,
    MappingsView,
    PayeeRuleIn,
    PayeeRulesView,
    PayeeRuleValues,
    PayeeRuleView,
    ReferenceDataView,
    StartSync,
    SyncJobView,
)
from xerosync.sync_expenses.xero_gateway import ReferenceDataCache, chosen_since
from xerosync.xero.errors import RECONNECT_ACTION
from xerosync.xero.purposes import GENERAL, INTERACTIVE

if TYPE_CHECKING:  # loads with the first Xero call (XeroOnFirstUse): the tabs and edits make none
    from xerosync.sync_expenses.request_dedup import SyncRequestDeduplicator
    from xerosync.xero.session import XeroSession

C = TypeVar("C")
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # what the lists' date filters accept


class SessionFactory(Protocol):
    def session(self, business_id: str, generation: str | None = None, *, purpose: str = GENERAL) -> XeroSession: ...


@dataclass
class ExpenseService:
    gate: FeatureGate
    expenses: ExpenseStore
    mappings: MappingStore
    jobs: SyncJobStore
    reference: ReferenceDataCache
    xero: SessionFactory
    spend_money_queue: SpendMoneyQueue
    # Built with the first sync started (Powertools' idempotency and a DynamoDB client): the tabs, edits and job
    # reads never need it, and a cold start that serves one of them does not pay for it.
    deduplicator: Callable[[], SyncRequestDeduplicator]
    activity: SyncActivityStore
    clock: Clock
    bank_contact_name: str
    booking_offset_minutes: int = 480
    receipt_limits: tuple[int, int] | None = None  # (max bytes, max count) Xero takes, shown before a sync
    suggestions: Suggestions | None = None  # per-payee rules and the suggestions they put on pending expenses

    def _now(self) -> str:
        return iso(utc_now(self.clock))

    def _context(self, admission: Admission, reference: ReferenceData | None) -> SyncContext:
        return SyncContext(reference=reference, mappings=self.mappings.get(admission.business_id),
                           linked_accounts=admission.linked_accounts, bank_contact_name=self.bank_contact_name,
                           booking_offset_minutes=self.booking_offset_minutes, receipt_limits=self.receipt_limits)

    def _session_for(self, admission: Admission) -> Callable[[], XeroSession]:
        """Opens the admitted connection's session when Xero is really called, for a user who waits."""
        return lambda: self.xero.session(admission.business_id, admission.connection.generation,
                                         purpose=INTERACTIVE)

    def _reference(self, admission: Admission) -> ReferenceData | None:
        """The cached snapshot, refreshed when stale (a stale one, or none, when Xero cannot be asked); a
        connection that needs renewing serves the cache only. A connection found gone raises
        ReconnectRequired, which reaches the caller through xerosync.http's mapping (409)."""
        if admission.connection.status != ConnectionStatus.ACTIVE:
            return self.reference.cached(admission.tenant_id)
        return self.reference.current(admission.tenant_id, self._session_for(admission))

    def _reference_needed(self, admission: Admission, *, force: bool = False) -> ReferenceData:
        """The snapshot, for what cannot be answered without one (validating a choice, listing the options)."""
        if admission.connection.status != ConnectionStatus.ACTIVE:
            cached = self.reference.cached(admission.tenant_id)
            if cached is None:
                raise Conflict("Your connection to Xero needs to be renewed.", action=RECONNECT_ACTION,
                               code="reconnect_required")
            return cached
        reference = self.reference.current(admission.tenant_id, self._session_for(admission), force=force,
                                           required=True)
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
        reference, _, (problems, accounts) = self._checked(admission, self._reference_needed(admission),
                                                           lambda ref: _mapping_choices(update, ref))
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

    def _checked(self, admission: Admission, reference: ReferenceData,
                 check: Callable[[ReferenceData], tuple[list[Problem], C]]) -> tuple[ReferenceData, list[Problem], C]:
        """``check`` against the snapshot; if what it found depends on Xero's reference data (something missing
        or archived), against a snapshot refreshed once, since the user may just have changed it in Xero."""
        problems, found = check(reference)
        if depends_on_reference_data(problems):
            session = self._session_for(admission) if admission.connection.status == ConnectionStatus.ACTIVE \
                else None
            fresher = self.reference.without_gaps(reference, admission.tenant_id, session,
                                                  known_since=chosen_since(admission.feeds,
                                                                           self.mappings.get(admission.business_id)))
            if fresher is not None and fresher is not reference:
                return (fresher, *check(fresher))
        return reference, problems, found

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
        return ExpensePage(items=self._views(admission, records, context), next_cursor=cursor)

    def get_expense(self, caller: Caller, transaction_id: str) -> ExpenseView:
        admission = self.gate.admit(caller)
        record = self._expense(admission, transaction_id)
        context = self._context(admission, self.reference.cached(admission.tenant_id))
        return self._views(admission, [record], context)[0]

    def _views(self, admission: Admission, records: list[ExpenseRecord], context: SyncContext) -> list[ExpenseView]:
        """The expenses as the tabs show them: those a started job will sync already show as being synced, and
        those whose sync waits for Xero say why and until when (a few job reads per page, no Xero call)."""
        now = self.clock.time()
        being_synced: dict[str, str] = {}
        planning = self.activity.planning(admission.business_id)
        if planning:
            for job_id, job in self.jobs.many(admission.business_id, planning,
                                              "queued_ids, created_at, dispatched_at").items():
                started = from_iso(str(job["created_at"])).timestamp()
                if "dispatched_at" not in job and now - started <= DISPATCH_GRACE_SECONDS:
                    being_synced.update((transaction_id, job_id) for transaction_id in job.get("queued_ids") or [])
                else:
                    self.activity.planned(admission.business_id, job_id)  # planned (or never will be): forget it
        listed = {r.transaction_id for r in records}
        jobs_of_queued = {job_id for transaction_id, job_id in being_synced.items() if transaction_id in listed} | {
            r.job_id for r in records if r.status == ExpenseStatus.QUEUED and r.job_id}
        waits = {job_id: wait_view(job.get("waiting_reason"), job.get("waiting_until"), now)
                 for job_id, job in self.jobs.many(admission.business_id, jobs_of_queued,
                                                   "waiting_reason, waiting_until").items()} if jobs_of_queued else {}
        views = []
        for record in records:
            planned_by = being_synced.get(record.transaction_id)
            views.append(expense_view(record, context, admission.account_names, being_synced_by=planned_by,
                                      waiting=waits.get(planned_by or record.job_id or "")))
        return views

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
            reference, problems, _ = self._checked(admission, self._reference_needed(admission),
                                                   lambda ref: (_choice_problems(changes, ref), None))
            if problems:
                raise InvalidRequest(problems[0].message, action=problems[0].action, code=problems[0].code,
                                     details=[p.model_dump(exclude_none=True) for p in problems])
        def edited(record: ExpenseRecord | None) -> ExpenseRecord:
            return state_machine.edited(_editable(record), changes, self._now())

        try:
            saved = self.expenses.change(admission.business_id, transaction_id, edited)
        except StaleExpense:
            raise Conflict("The expense keeps changing; try again.", code="expense_changed") from None
        assert saved is not None  # edited never leaves the expense alone
        context = self._context(admission, reference or self.reference.cached(admission.tenant_id))
        return expense_view(saved, context, admission.account_names)

    def accept_suggestions(self, caller: Caller, transaction_id: str) -> ExpenseView:
        """The values the payee's rule or history gave the expense become its own (they no longer follow the
        history or the rule); what the user set already stays."""
        admission = self.gate.admit(caller)
        context = self._context(admission, self.reference.cached(admission.tenant_id))

        def accepted(record: ExpenseRecord | None) -> ExpenseRecord:
            record = _editable(record)
            values = suggested_values(context.resolve(record))
            if not values:
                raise Conflict("This expense has no suggested values to accept.",
                               action="Choose the values for this expense, or save a rule for its payee.",
                               code="no_suggestions")
            return state_machine.edited(record, values, self._now())

        try:
            saved = self.expenses.change(admission.business_id, transaction_id, accepted)
        except StaleExpense:
            raise Conflict("The expense keeps changing; try again.", code="expense_changed") from None
        assert saved is not None
        return expense_view(saved, context, admission.account_names)

    # ------------------------------------------------------------------ per-payee rules
    def _suggestions(self) -> Suggestions:
        assert self.suggestions is not None, "wired by build_expense_service"
        return self.suggestions

    def payee_rules(self, caller: Caller) -> PayeeRulesView:
        admission = self.gate.admit(caller)
        reference = self.reference.cached(admission.tenant_id)
        return PayeeRulesView(rules=[payee_rule_view(s, reference)
                                     for s in self._suggestions().payees.with_rules(admission.business_id)])

    def create_payee_rule(self, caller: Caller, body: PayeeRuleIn) -> PayeeRuleView:
        admission = self.gate.admit(caller)
        key = normalise_payee(body.payee)
        if not key:
            raise InvalidRequest("The payee name has no letters or digits to recognise it by.",
                                 action="Enter the payee as the bank names it.", code="invalid_payee")
        values, reference = self._rule_values(admission, body)

        def created(current: PayeeRule | None) -> PayeeRule:
            if current is not None:
                raise Conflict(f"There is already a rule for {body.payee}.",
                               action=f"Change it with PUT /v1/expenses/payee-rules/{rule_id(key)}.",
                               code="payee_rule_exists", details={"rule_id": rule_id(key)})
            return PayeeRule(**values, changed_by=caller.user_id, changed_at=self._now())

        saved = self._save_rule(admission, key, " ".join(body.payee.split()), created)
        return payee_rule_view(saved, reference)

    def change_payee_rule(self, caller: Caller, rule: str, body: PayeeRuleValues) -> PayeeRuleView:
        admission = self.gate.admit(caller)
        summary = self._rule(admission, rule)
        values, reference = self._rule_values(admission, body)

        def changed(current: PayeeRule | None) -> PayeeRule:
            if current is None:
                raise _RULE_NOT_FOUND
            return PayeeRule(**values, changed_by=caller.user_id, changed_at=self._now())

        saved = self._save_rule(admission, summary.payee_key, summary.payee, changed)
        return payee_rule_view(saved, reference)

    def delete_payee_rule(self, caller: Caller, rule: str) -> PayeeRulesView:
        admission = self.gate.admit(caller)
        summary = self._rule(admission, rule)

        def removed(current: PayeeRule | None) -> None:
            if current is None:
                raise _RULE_NOT_FOUND

        self._save_rule(admission, summary.payee_key, summary.payee, removed)
        return self.payee_rules(caller)

    def _rule(self, admission: Admission, rule: str) -> PayeeSummary:
        """The payee whose rule the id names (the business's own: rules are read in its partition only)."""
        found = self._suggestions().payees.by_rule_id(admission.business_id, rule)
        if found is None or found.rule is None:
            raise _RULE_NOT_FOUND
        return found

    def _save_rule(self, admission: Admission, key: str, payee: str,
                   change: Callable[[PayeeRule | None], PayeeRule | None]) -> PayeeSummary:
        try:
            return self._suggestions().set_rule(admission.business_id, key, payee, change)
        except StaleExpense:
            raise Conflict("The payee's rule keeps changing; try again.", code="payee_rule_changed") from None

    def _rule_values(self, admission: Admission, body: PayeeRuleValues
                     ) -> tuple[dict[str, Any], ReferenceData]:
        """The rule's values, checked against Xero as an edit's are (an account that is active and accepts
        payments, an active tax rate for expenses, active tracking options)."""
        values: dict[str, Any] = {"xero_account_id": body.xero_account_id, "tax_type": body.tax_type,
                                  "tracking": None if body.tracking is None else
                                  [TrackingChoice(**c.model_dump()).model_dump() for c in body.tracking]}
        if body.xero_account_id is None and body.tax_type is None and body.tracking is None:
            raise InvalidRequest("A rule needs a Xero account, a tax rate or tracking.",
                                 action="Send at least one of xero_account_id, tax_type and tracking.",
                                 code="empty_rule")
        reference, problems, _ = self._checked(admission, self._reference_needed(admission),
                                               lambda ref: (_choice_problems(values, ref), None))
        if problems:
            raise InvalidRequest(f"The rule cannot be saved: {problems[0].message}", action=problems[0].action,
                                 code=problems[0].code, details=[p.model_dump(exclude_none=True) for p in problems])
        account = reference.account(body.xero_account_id) if body.xero_account_id else None
        if account is not None:
            values["xero_account_id"] = account.account_id  # as Xero spells it
        rate = reference.tax_rate(body.tax_type) if body.tax_type else None
        if rate is not None:
            values["tax_type"] = rate.tax_type
        return values, reference

    # ------------------------------------------------------------------ sync jobs
    def start_sync(self, caller: Caller, request: StartSync, *, client_key: str | None = None) -> SyncJobView:
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
        created = self.deduplicator().once(fingerprint, lambda: self._start_job(admission, ids, records))
        return SyncJobView.model_validate(created)

    def _start_job(self, admission: Admission, ids: list[str], records: dict[str, ExpenseRecord]) -> dict[str, Any]:
        """Decide in memory, record the job and hand it to the planner (``sync_expenses.planner``): the answer does not
        wait for a write per expense, and the Pending Sync tab shows the expenses being synced from now on."""
        moment = utc_now(self.clock)
        now = iso(moment)
        job_id = new_job_id(moment)
        context = self._context(admission, self._reference(admission))
        stranded = stranded_jobs(self.jobs, admission.business_id, records.values(), self.clock.time())
        decisions = decide(ids, records, context, stranded, job_id, now)
        batches = decisions.batches()
        nothing_to_do = not decisions.to_queue and not decisions.rejected
        job = SyncJob(business_id=admission.business_id, job_id=job_id, tenant_id=admission.tenant_id,
                      generation=admission.connection.generation, created_by=admission.caller.user_id,
                      created_at=now, requested=len(ids), queued=len(decisions.to_queue),
                      rejected=len(decisions.rejected), skipped=decisions.skipped, batches_total=len(batches),
                      failed=len(decisions.rejected), failed_ids=[r.transaction_id for r in decisions.rejected],
                      selection=ids, queued_ids=[r.transaction_id for r in decisions.to_queue],
                      dispatched_at=now if nothing_to_do else None, completed_at=now if nothing_to_do else None)
        self.jobs.create(job)
        if not nothing_to_do:
            self.spend_money_queue.plan(SpendMoneyPlan(
                business_id=admission.business_id, tenant_id=admission.tenant_id,
                generation=admission.connection.generation, job_id=job_id))
            if decisions.to_queue:  # (after the plan is sent: a job whose plan never left shows nothing)
                self.activity.started(admission.business_id, job_id)
        logger.info("sync job started", extra={"job_id": job_id, "queued": len(decisions.to_queue),
                                               "rejected": len(decisions.rejected),
                                               "skipped": len(decisions.skipped), "batches": len(batches)})
        return job_view(job, self.clock.time()).model_dump(mode="json")

    def get_job(self, caller: Caller, job_id: str) -> SyncJobView:
        admission = self.gate.admit(caller)
        job = self.jobs.get(admission.business_id, job_id)
        if job is None:
            raise NotFound("There is no sync with this id.", code="sync_job_not_found")
        return job_view(job, self.clock.time())


_RULE_NOT_FOUND = NotFound("There is no rule with this id for your business.",
                           action="List the rules with GET /v1/expenses/payee-rules.", code="payee_rule_not_found")


def _editable(record: ExpenseRecord | None) -> ExpenseRecord:
    """The expense, if a person may change it now: waiting to be synced, failed, or synced and Updated."""
    record = must_exist(record)
    if record.status == ExpenseStatus.QUEUED:
        raise Conflict("This expense is being synced right now.", action="Edit it when the sync is done.",
                       code="expense_being_synced")
    if record.status == ExpenseStatus.SYNCED and not record.updated:
        raise Conflict("This expense is already synced and unchanged; only expenses waiting to be synced "
                       "can be edited.", action="Change it in Xero if something is wrong.",
                       code="expense_already_synced")
    return record


def _mapping_choices(update: MappingsUpdate, reference: ReferenceData
                     ) -> tuple[list[Problem], tuple[list[dict[str, Any]], dict[str, str]]]:
    """The mapping's problems, and per category, with the accounts chosen (as Xero spells their ids)."""
    problems: list[dict[str, Any]] = []
    found: list[Problem] = []
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
            found.append(problem)
            problems.append({"category": choice.category, **problem.model_dump(exclude_none=True)})
        elif choice.xero_account_id:
            account = reference.account(choice.xero_account_id)
            assert account is not None  # account_problem found it
            accounts[choice.category] = account.account_id  # as Xero spells it
    return found, (problems, accounts)


def _choice_problems(changes: dict[str, Any], reference: ReferenceData) -> list[Problem]:
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
    return problems
