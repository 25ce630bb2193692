"""An expense as a Xero Spend Money, and Xero's per-element answer as an outcome (pure).

The Spend Money (docs/xero-facts.md#spend-money): Type SPEND; BankAccount = the Xero bank account the paying account's
feed is linked to; Contact by name (Xero finds the contact of that name or creates it, so no call per
payee); Date = the bank's booking day, the day auto-sync gives the statement line this Spend Money will be
reconciled with; the payment's currency; Reference; one line with the account, tax type and tracking; ``Url``
back to the bank's transaction page, which is also the marker that makes creation exactly-once. The line is
tax-inclusive: the bank amount is what was paid, tax included, so the totals of the two match too.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from xerosync.sync_expenses.mapping import ResolvedExpense
from xerosync.sync_expenses.models import ExpenseRecord
from xerosync.sync_expenses.reference_data import ReferenceData
from xerosync.xero.expense_models import AccountRef, BankTransaction, Contact, LineItem, LineItemTracking

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
# Xero's words for the two refusals of an update that the product explains itself (docs/xero-facts.md#spend-money).
RECONCILED_MARK = "cannot be edited as it has been reconciled"
# Not "has been deleted" alone: an archived account's refusal says "has been archived, or has been deleted",
# and reading that as a deleted Spend Money would forget one that still exists (a second would be created).
DELETED_MARK = "cannot be edited as it has been deleted"


def bank_transaction_url(template: str, transaction_id: str) -> str:
    return template.format(transaction_id=transaction_id)


def xero_link(app_url: str, short_code: str | None, bank_transaction_id: str) -> str:
    """Xero's deep link to a Spend Money; the short code picks the right organisation for the user."""
    base = app_url.rstrip("/")
    target = f"/Bank/ViewTransaction.aspx?bankTransactionID={bank_transaction_id}"
    if short_code:
        return f"{base}/organisationlogin/default.aspx?shortcode={short_code}&redirecturl={target}"
    return base + target


def build_spend_money(expense: ExpenseRecord, resolved: ResolvedExpense, *, bank_account_id: str, url: str,
                      reference: ReferenceData | None) -> BankTransaction:
    """The Spend Money for an expense that passed validation (an Updated one carries its BankTransactionID)."""
    if resolved.xero_account_id is None:
        raise ValueError("an expense without a Xero account cannot be built")
    payment = expense.payment
    account = reference.account(resolved.xero_account_id) if reference else None
    tracking = []
    for choice in resolved.tracking:
        category = reference.tracking_category(choice.tracking_category_id) if reference else None
        option = category.option(choice.tracking_option_id) if category else None
        # Xero's older line-item tracking is by name; both ids and names are sent so either reading works.
        tracking.append(LineItemTracking(tracking_category_id=choice.tracking_category_id,
                                         tracking_option_id=choice.tracking_option_id,
                                         name=category.name if category else None,
                                         option=option.name if option else None))
    line = LineItem(
        description=resolved.description, unit_amount=payment.amount,
        account_code=account.code if account and account.code else None,
        account_id=None if account and account.code else resolved.xero_account_id,
        tax_type=resolved.tax_type, tracking=tracking,
    )
    return BankTransaction(
        bank_transaction_id=expense.spend_money.bank_transaction_id if expense.spend_money else None,
        type="SPEND", contact=Contact(name=resolved.contact_name), bank_account=AccountRef(account_id=bank_account_id),
        line_items=[line], date=date.fromisoformat(resolved.date), reference=resolved.reference or None,
        url=url, currency_code=payment.currency.upper(), line_amount_types="Inclusive",
    )


class ElementOutcome(NamedTuple):  # not a frozen dataclass: its class builds 7x faster (docs/architecture.md)
    ok: bool
    bank_transaction_id: str | None
    messages: list[str]

    @property
    def reconciled(self) -> bool:
        return any(RECONCILED_MARK in m.lower() for m in self.messages)

    @property
    def deleted_in_xero(self) -> bool:
        return any(DELETED_MARK in m.lower() for m in self.messages)


def outcome_of(result: BankTransaction) -> ElementOutcome:
    """Xero's answer for one element of a ``summarizeErrors=false`` batch."""
    messages = [m.message for m in result.validation_errors]
    identifier = result.bank_transaction_id if result.bank_transaction_id not in (None, ZERO_GUID) else None
    ok = result.status_attribute_string != "ERROR" and not messages and identifier is not None
    return ElementOutcome(ok=ok, bank_transaction_id=identifier, messages=messages or (
        [] if ok else ["Xero did not accept this expense and gave no reason."]))
