"""Records as the API shows them (pure): names from the cached reference data, problems from validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from xerosync.attachments.plan import before_sync
from xerosync.clock import from_iso
from xerosync.sync_expenses.decisions import job_status
from xerosync.sync_expenses.mapping import CategoryMappings, ResolvedExpense
from xerosync.sync_expenses.models import (
    SPEND_CATEGORIES,
    ExpenseRecord,
    ExpenseStatus,
    ExpenseTab,
    Problem,
    Suggestion,
    SyncJob,
    SyncJobStatus,
    TrackingChoice,
)
from xerosync.sync_expenses.payees import rule_id
from xerosync.sync_expenses.reference_data import ReferenceData, XeroAccount
from xerosync.sync_expenses.suggestions import PayeeSummary, explanation
from xerosync.sync_expenses.validation import (
    ENABLE_PAYMENTS_ACTION,
    SyncContext,
    account_problem,
    category_label,
    problems_for_sync,
    tax_rate_problem,
    tracking_problems,
)
from xerosync.sync_expenses.views import (
    AccountChoiceView,
    AccountOption,
    CategoryMappingView,
    ExpenseView,
    MappingsView,
    Notice,
    PayeeRuleView,
    ReceiptView,
    ReferenceDataView,
    SpendMoneyView,
    SyncJobView,
    TaxRateChoiceView,
    TaxRateOption,
    TrackingCategoryView,
    TrackingChoiceView,
    TrackingOptionView,
    ValueSourceView,
    WaitView,
)


def account_option(account: XeroAccount) -> AccountOption:
    return AccountOption(account_id=account.account_id, code=account.code, name=account.name, type=account.type,
                         tax_type=account.tax_type)


def reference_view(reference: ReferenceData) -> ReferenceDataView:
    notices = []
    accounts = reference.offered_accounts()
    if not accounts:
        notices.append(Notice(code="no_payment_accounts",
                              message="None of your Xero accounts accepts payments, so there is no account to offer.",
                              action=ENABLE_PAYMENTS_ACTION))
    return ReferenceDataView(
        accounts=[account_option(a) for a in accounts],
        tax_rates=[TaxRateOption(tax_type=t.tax_type, name=t.name, rate=None if t.rate is None else str(t.rate))
                   for t in reference.offered_tax_rates()],
        tracking_categories=[TrackingCategoryView(
            tracking_category_id=c.tracking_category_id, name=c.name,
            options=[TrackingOptionView(tracking_option_id=o.tracking_option_id, name=o.name) for o in c.options])
            for c in reference.active_tracking()],
        currencies=sorted({reference.base_currency, *reference.currencies}), base_currency=reference.base_currency,
        refreshed_at=datetime.fromtimestamp(reference.refreshed_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        notices=notices,
    )


def mappings_view(mappings: CategoryMappings, reference: ReferenceData | None) -> MappingsView:
    rows = []
    for category in SPEND_CATEGORIES:
        account_id = mappings.accounts.get(category)
        option = None
        problem = None
        if account_id:
            account = reference.account(account_id) if reference else None
            option = account_option(account) if account else AccountOption(account_id=account_id, name="", type="")
            problem = account_problem(account_id, reference) if reference else None
        rows.append(CategoryMappingView(category=category, label=category_label(category), xero_account=option,
                                        problem=problem))
    return MappingsView(mappings=rows, changed_by=mappings.changed_by, changed_at=mappings.changed_at)


def wait_view(reason: str | None, until: str | None, now: float) -> WaitView | None:
    """The wait, while it lasts (a wait whose time has come shows no more: its work is going on)."""
    if not reason or not until or from_iso(until).timestamp() <= now:
        return None
    at = from_iso(until)
    return WaitView(reason=reason, until=until, message=f"Waiting for {reason}; continues at about {at:%H:%M} UTC.")


def tracking_views(choices: list[TrackingChoice], reference: ReferenceData | None) -> list[TrackingChoiceView]:
    """Tracking choices with their names from the cached reference data (None where it does not know them)."""
    views = []
    for choice in choices:
        category = reference.tracking_category(choice.tracking_category_id) if reference else None
        option = category.option(choice.tracking_option_id) if category else None
        views.append(TrackingChoiceView(tracking_category_id=choice.tracking_category_id,
                                        category_name=category.name if category else None,
                                        tracking_option_id=choice.tracking_option_id,
                                        option_name=option.name if option else None))
    return views


def expense_view(expense: ExpenseRecord, context: SyncContext, account_names: dict[str, str], *,
                 being_synced_by: str | None = None, waiting: WaitView | None = None) -> ExpenseView:
    """``being_synced_by``: a job started on it whose planner has not marked it yet (it shows QUEUED already)."""
    payment = expense.payment
    reference = context.reference
    resolved = context.resolve(expense)
    account_view = None
    if resolved.xero_account_id and resolved.account_source in ("expense", "rule", "history", "mapping"):
        account = reference.account(resolved.xero_account_id) if reference else None
        account_view = AccountChoiceView(account_id=resolved.xero_account_id, code=account.code if account else None,
                                         name=account.name if account else None,
                                         source=resolved.account_source)
    tax_view = None
    if resolved.tax_type and resolved.tax_source in ("expense", "rule", "history", "account"):
        rate = reference.tax_rate(resolved.tax_type) if reference else None
        tax_view = TaxRateChoiceView(tax_type=resolved.tax_type, name=rate.name if rate else None,
                                     source=resolved.tax_source)
    tracking = tracking_views(resolved.tracking, reference)
    status, job_id = expense.status, expense.job_id
    if being_synced_by is not None and not (status == ExpenseStatus.QUEUED and job_id == being_synced_by):
        status, job_id = ExpenseStatus.QUEUED, being_synced_by
    on_pending_tab = expense.tab == ExpenseTab.PENDING_SYNC or expense.updated
    problems = problems_for_sync(expense, context) if on_pending_tab and status != ExpenseStatus.QUEUED else []
    return ExpenseView(
        transaction_id=expense.transaction_id, account_id=payment.account_id,
        account_name=account_names.get(payment.account_id), posted_at=payment.posted_at, date=resolved.date,
        amount=f"{payment.amount:.2f}", currency=payment.currency, payee=payment.payee, reference=resolved.reference,
        description=resolved.description, spend_category=payment.spend_category, status=status,
        tab=expense.tab, updated=expense.updated, xero_account=account_view, tax_rate=tax_view, tracking=tracking,
        contact_name=resolved.contact_name, attachment_count=len(payment.receipts),
        attachments=_receipts(expense, context),
        error=expense.error, attachment_errors=expense.attachment_errors,
        spend_money=SpendMoneyView(bank_transaction_id=expense.spend_money.bank_transaction_id,
                                   url=expense.spend_money.url, synced_at=expense.spend_money.synced_at)
        if expense.spend_money else None,
        ready_to_sync=not problems and status != ExpenseStatus.QUEUED, problems=problems, job_id=job_id,
        waiting=waiting if status == ExpenseStatus.QUEUED else None,
        sources=sources_of(resolved, expense.suggestion),
        has_suggestions=bool(suggested_values(resolved)) and on_pending_tab,
    )


_SHOWN = ("expense", "rule", "history", "mapping", "account")


def sources_of(resolved: ResolvedExpense, suggestion: Suggestion | None) -> list[ValueSourceView]:
    """Where each value shown comes from, in words (the Pending Sync tab and the expense show them)."""
    sources = []
    for name, value, source in (("xero_account", resolved.xero_account_id, resolved.account_source),
                                ("tax_rate", resolved.tax_type, resolved.tax_source),
                                ("tracking", resolved.tracking, resolved.tracking_source)):
        if value and source in _SHOWN:
            sources.append(ValueSourceView(field=name, source=source,
                                           explanation=explanation(source, suggestion)))
    return sources


def suggested_values(resolved: ResolvedExpense) -> dict[str, Any]:
    """The values that come from the payee's rule or history, as an edit would set them (accepting them)."""
    values: dict[str, Any] = {}
    if resolved.xero_account_id and resolved.account_source in ("rule", "history"):
        values["xero_account_id"] = resolved.xero_account_id
    if resolved.tax_type and resolved.tax_source in ("rule", "history"):
        values["tax_type"] = resolved.tax_type
    if resolved.tracking and resolved.tracking_source in ("rule", "history"):
        values["tracking"] = [t.model_dump() for t in resolved.tracking]
    return values


def _receipts(expense: ExpenseRecord, context: SyncContext) -> list[ReceiptView]:
    """The receipts, and before a sync which of them Xero will not take and why (the upload's own rules)."""
    receipts = expense.payment.receipts
    refused: dict[str, tuple[str, str]] = {}
    if expense.spend_money is None and context.receipt_limits is not None and receipts:
        max_bytes, max_count = context.receipt_limits
        refused = before_sync(receipts, max_bytes=max_bytes, max_count=max_count)
    views = []
    for r in receipts:
        reason, action = refused.get(r.attachment_id, (None, None))
        views.append(ReceiptView(attachment_id=r.attachment_id, file_name=r.file_name, content_type=r.content_type,
                                 size_bytes=r.size_bytes, will_sync=reason is None, reason=reason, action=action))
    return views


def job_view(job: SyncJob, now: float) -> SyncJobView:
    status = job_status(job, now)
    total = job.queued + job.rejected
    done = min(total, job.synced + job.failed)
    remaining = total - done
    if status == SyncJobStatus.NOT_STARTED:
        summary = ("This sync did not start completely. Select the expenses and sync them again: any already in Xero "
                   "are found there, not sent twice.")
    elif total == 0:
        summary = f"Nothing to sync: {len(job.skipped)} selected expense(s) were skipped."
    elif status == SyncJobStatus.COMPLETED:
        summary = f"Done: {job.synced} of {total} synced" + (
            f", {job.failed} failed (each failed expense shows why)." if job.failed else ".")
    else:
        summary = f"Syncing: {job.synced} of {total} synced, {job.failed} failed, {remaining} to go."
    waiting = wait_view(job.waiting_reason, job.waiting_until, now) if status == SyncJobStatus.RUNNING else None
    if waiting is not None:
        summary = f"{summary} {waiting.message}"
    return SyncJobView(
        job_id=job.job_id, status=status, summary=summary, requested=job.requested, total=total, synced=job.synced,
        failed=job.failed, remaining=remaining, percent_done=100 if total == 0 else done * 100 // total,
        skipped=job.skipped, failed_transaction_ids=job.failed_ids, created_at=job.created_at,
        completed_at=job.completed_at, waiting=waiting,
    )


def payee_rule_view(summary: PayeeSummary, reference: ReferenceData | None) -> PayeeRuleView:
    """A per-payee rule with names from the cached reference data, and why a value cannot be used now, if so."""
    rule = summary.rule
    assert rule is not None
    account = None
    problems: list[Problem] = []
    if rule.xero_account_id:
        found = reference.account(rule.xero_account_id) if reference else None
        account = account_option(found) if found else AccountOption(account_id=rule.xero_account_id, name="",
                                                                    type="")
        problem = account_problem(rule.xero_account_id, reference) if reference else None
        problems.extend([problem] if problem else [])
    rate = reference.tax_rate(rule.tax_type) if reference and rule.tax_type else None
    if reference is not None and rule.tax_type:
        problem = tax_rate_problem(rule.tax_type, reference)
        problems.extend([problem] if problem else [])
    tracking = None
    if rule.tracking is not None:
        tracking = tracking_views(rule.tracking, reference)
        if reference is not None:
            problems.extend(tracking_problems(rule.tracking, reference))
    return PayeeRuleView(rule_id=rule_id(summary.payee_key), payee=summary.payee, payee_key=summary.payee_key,
                         xero_account=account, tax_type=rule.tax_type, tax_rate_name=rate.name if rate else None,
                         tracking=tracking, problems=problems, changed_by=rule.changed_by,
                         changed_at=rule.changed_at)
