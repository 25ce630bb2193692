"""The expense's state machine (pure): ``PENDING -> QUEUED -> SYNCED | SYNC_ERROR``, with ``updated`` beside.

- The ledger's events create an expense (PENDING) and refresh it; a change of category, description or
  receipts sets ``updated`` whatever the status, and bumps ``revision``. Events older than what is known
  (at-least-once, out-of-order delivery) change nothing.
- A sync job moves PENDING, SYNC_ERROR and Updated SYNCED expenses to QUEUED, or at once to SYNC_ERROR
  when validation finds a problem.
- Xero's answer moves QUEUED to SYNCED (``updated`` cleared only if Xero received the latest revision) or
  to SYNC_ERROR with Xero's messages. An update of a reconciled Spend Money is refused by Xero: the expense
  stays SYNCED and Updated, with an error that says so.
- An edit changes what will be sent; a failed expense that is edited is PENDING again (its old error no
  longer describes it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xerosync.sync_expenses.models import (
    AttachmentProblem,
    Coding,
    ExpenseRecord,
    ExpenseStatus,
    Overrides,
    Payment,
    Problem,
    Receipt,
    SpendMoneyLink,
    SyncError,
)

if TYPE_CHECKING:  # the ledger's events and the API read transactions; the workers only move statuses
    from xerosync.ledger.models import LedgerTransaction

RESYNC_ACTION = "Fix what the message describes, then sync the expense again."
RECONNECT_ACTION = "Connect to Xero again from Accounting > Xero > Manage connection, then sync the expense again."


def payment_from_ledger(transaction: LedgerTransaction) -> Payment:
    return Payment(
        account_id=transaction.account_id, transaction_id=transaction.transaction_id,
        sequence=transaction.sequence, posted_at=transaction.posted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        amount=transaction.amount, currency=transaction.currency.upper(), payee=transaction.counterparty.name,
        reference=transaction.reference, description=transaction.description,
        spend_category=transaction.spend_category, type=transaction.type,
        receipts=[Receipt.model_validate(a.model_dump()) for a in transaction.attachments],
        ledger_version=transaction.version,
    )


def _content_changed(before: Payment, after: Payment) -> bool:
    """The changes the contract versions and the help centre labels "Updated"."""
    return (before.spend_category != after.spend_category or before.description != after.description
            or [r.model_dump() for r in before.receipts] != [r.model_dump() for r in after.receipts])


def apply_ledger(existing: ExpenseRecord | None, transaction: LedgerTransaction, now: str) -> ExpenseRecord | None:
    """The expense after the ledger's current view of the payment; None when that changes nothing."""
    payment = payment_from_ledger(transaction)
    if existing is None:
        # Version 1 is the posting itself; a higher first-seen version means it was changed since, which the
        # user should see whichever event arrived first.
        return ExpenseRecord(business_id=transaction.business_id, transaction_id=transaction.transaction_id,
                             payment=payment, updated=transaction.version > 1, created_at=now, changed_at=now)
    if payment.ledger_version <= existing.payment.ledger_version:
        return None
    changed = _content_changed(existing.payment, payment)
    return existing.model_copy(update={
        "payment": payment, "updated": existing.updated or changed,
        "revision": existing.revision + (1 if changed else 0), "changed_at": now,
    })


def queue(expense: ExpenseRecord, job_id: str, now: str) -> ExpenseRecord:
    # Taken over from another job that stopped (QUEUED still): a batch of it may have reached Xero, so the
    # new one looks Xero up by the marker before it creates anything.
    taken_over = expense.status == ExpenseStatus.QUEUED and expense.job_id != job_id
    return expense.model_copy(update={"status": ExpenseStatus.QUEUED, "job_id": job_id, "queued_at": now,
                                      "maybe_in_xero": expense.maybe_in_xero or taken_over, "changed_at": now})


def reject(expense: ExpenseRecord, problems: list[Problem], job_id: str | None, now: str) -> ExpenseRecord:
    """Validation found problems: SYNC_ERROR at once, nothing sent."""
    first = problems[0]
    message = first.message if len(problems) == 1 else " ".join(p.message for p in problems)
    error = SyncError(code=first.code if len(problems) == 1 else "not_ready", message=message,
                      action=first.action if len(problems) == 1 else "; ".join(
                          dict.fromkeys(p.action for p in problems if p.action)) or None,
                      problems=problems, at=now, job_id=job_id)
    return expense.model_copy(update={"status": ExpenseStatus.SYNC_ERROR, "error": error, "job_id": job_id,
                                      "changed_at": now,
                                      "settlements": expense.settlements + 1})


def synced(expense: ExpenseRecord, *, bank_transaction_id: str, link: str, sent_revision: int, job_id: str | None,
           now: str, coding: Coding | None = None) -> ExpenseRecord:
    # A change that arrived after the expense was read for sending is not in Xero yet: it stays Updated.
    still_updated = expense.updated and expense.revision != sent_revision
    spend_money = SpendMoneyLink(bank_transaction_id=bank_transaction_id, url=link, synced_at=now,
                                 revision=sent_revision, ledger_version=expense.payment.ledger_version,
                                 coding=coding)
    return expense.model_copy(update={"status": ExpenseStatus.SYNCED, "spend_money": spend_money, "error": None,
                                      "updated": still_updated, "maybe_in_xero": False, "job_id": job_id,
                                      "changed_at": now,
                                      "settlements": expense.settlements + 1})


def refused(expense: ExpenseRecord, messages: list[str], job_id: str | None, now: str) -> ExpenseRecord:
    error = SyncError(code="xero_refused", message="Xero did not accept this expense: " + " ".join(messages),
                      action=RESYNC_ACTION, xero_messages=messages, at=now, job_id=job_id)
    return expense.model_copy(update={"status": ExpenseStatus.SYNC_ERROR, "error": error, "job_id": job_id,
                                      "changed_at": now,
                                      "settlements": expense.settlements + 1})


def update_refused_reconciled(expense: ExpenseRecord, messages: list[str], job_id: str | None, now: str
                              ) -> ExpenseRecord:
    """Xero keeps reconciled transactions as they are; the expense is still synced, and still Updated."""
    error = SyncError(code="reconciled_in_xero",
                      message="The changes could not be synced: this Spend Money is reconciled in Xero, and Xero "
                              "does not let a reconciled transaction be edited.",
                      action="To sync the changes, unreconcile the transaction in Xero and sync it again; "
                             "otherwise update it in Xero by hand.",
                      xero_messages=messages, at=now, job_id=job_id)
    return expense.model_copy(update={"status": ExpenseStatus.SYNCED, "error": error, "job_id": job_id,
                                      "changed_at": now,
                                      "settlements": expense.settlements + 1})


def spend_money_deleted(expense: ExpenseRecord, messages: list[str], job_id: str | None, now: str) -> ExpenseRecord:
    """The Spend Money was deleted in Xero: forget it, so that the next sync creates a new one."""
    error = SyncError(code="deleted_in_xero",
                      message="The Spend Money of this expense was deleted in Xero, so the changes could not be "
                              "synced.",
                      action="Sync the expense again to create a new Spend Money in Xero.",
                      xero_messages=messages, at=now, job_id=job_id)
    # maybe_in_xero: the next sync looks Xero up by the marker first (a deleted one is not found there).
    return expense.model_copy(update={"status": ExpenseStatus.SYNC_ERROR, "error": error, "spend_money": None,
                                      "maybe_in_xero": True, "job_id": job_id, "changed_at": now,
                                      "settlements": expense.settlements + 1})


def not_synced(expense: ExpenseRecord, *, code: str, message: str, action: str, maybe_in_xero: bool,
               job_id: str | None, now: str) -> ExpenseRecord:
    """The batch ended without Xero's answer for this expense: SYNC_ERROR with the reason, syncable again.
    ``maybe_in_xero`` (a send had begun) makes the next sync look in Xero before it creates anything."""
    error = SyncError(code=code, message=message, action=action, at=now, job_id=job_id)
    return expense.model_copy(update={"status": ExpenseStatus.SYNC_ERROR, "error": error, "job_id": job_id,
                                      "maybe_in_xero": expense.maybe_in_xero or maybe_in_xero, "changed_at": now,
                                      "settlements": expense.settlements + 1})


def reconnect_required(expense: ExpenseRecord, reason: str, *, maybe_in_xero: bool, job_id: str | None,
                       now: str) -> ExpenseRecord:
    return not_synced(expense, code="reconnect_required",
                      message=f"The expense could not be synced because the connection to Xero is gone: {reason}",
                      action=RECONNECT_ACTION, maybe_in_xero=maybe_in_xero, job_id=job_id, now=now)


def attachments_reported(expense: ExpenseRecord, problems: list[AttachmentProblem], now: str) -> ExpenseRecord:
    """The attachments worker's per-file results: any problem is the Synced tab's "Sync error".
    Status, Updated and revision stay as they are: the Spend Money itself is in Xero."""
    return expense.model_copy(update={"attachment_errors": problems, "changed_at": now})


def edited(expense: ExpenseRecord, changes: dict[str, Any], now: str) -> ExpenseRecord:
    """Apply the user's choices (a ``None`` value clears the choice, so the default applies again)."""
    overrides = Overrides.model_validate({**expense.overrides.model_dump(), **changes})
    if overrides == expense.overrides:
        return expense
    status = ExpenseStatus.PENDING if expense.status == ExpenseStatus.SYNC_ERROR else expense.status
    return expense.model_copy(update={
        "overrides": overrides, "revision": expense.revision + 1, "status": status,
        "error": None if status == ExpenseStatus.PENDING else expense.error, "changed_at": now,
    })
