"""Bank spend category -> Xero account, and what each expense resolves to (pure).

The help centre: "Once you map a Xero account to an Aspire category, any expense in that category will
automatically be linked to the mapped Xero account. You can always update the Xero account for any
individual transaction or update this mapping later." So the mapping is read at sync time, never copied
into the expense: changing it changes every expense that has no account of its own.
"""

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from xerosync.model import Model
from xerosync.sync_expenses.models import (
    MAX_CONTACT_NAME,
    MAX_DESCRIPTION,
    MAX_REFERENCE,
    ExpenseRecord,
    TrackingChoice,
)
from xerosync.sync_expenses.reference_data import ACTIVE, ReferenceData
from xerosync.text import for_xero

# Payments the bank makes itself carry no payee name in the ledger (fees, FX, interest).
BANK_ORIGINATED_TYPES = frozenset({"FEE", "FX", "INTEREST"})

# Where a value comes from, in precedence order for the account: the user's own choice on the expense, the user's
# rule for the payee, what the payee's history suggests, the category's mapping (docs/sync-expenses.md).
Source = Literal["expense", "rule", "history", "mapping", "account", "ledger", "default"]


class CategoryMappings(Model):
    business_id: str
    accounts: dict[str, str] = Field(default_factory=dict)  # spend category -> Xero AccountID
    changed_by: str | None = None
    changed_at: str | None = None
    version: int = 0


@dataclass(frozen=True)
class ResolvedExpense:
    """What would be sent for an expense, with where each value came from."""

    xero_account_id: str | None
    account_source: Source | None
    tax_type: str | None
    tax_source: Source | None
    tracking: list[TrackingChoice] = field(default_factory=list)
    tracking_source: Source | None = None
    contact_name: str = ""
    description: str = ""
    reference: str = ""
    date: str = ""  # the bank's booking day of the payment


def normalise_name(name: str) -> str:
    """Xero refuses contact names with leading, trailing or repeated spaces; control and text-direction
    characters from the ledger go too (docs/http-api.md "Text sent to Xero")."""
    return for_xero(name, MAX_CONTACT_NAME)


def _usable(account_id: str, reference: ReferenceData | None) -> bool:
    """A learned account is suggested only while Xero offers it (active, payments enabled, not a bank account)."""
    if reference is None:
        return True
    account = reference.account(account_id)
    return account is not None and account.offered_for_expenses


def _tax_usable(tax_type: str, reference: ReferenceData | None) -> bool:
    if reference is None:
        return True
    rate = reference.tax_rate(tax_type)
    return rate is not None and rate.offered_for_expenses


def _tracking_usable(choices: list[TrackingChoice], reference: ReferenceData | None) -> bool:
    if reference is None:
        return True
    for choice in choices:
        category = reference.tracking_category(choice.tracking_category_id)
        option = category.option(choice.tracking_option_id) if category else None
        if category is None or option is None or category.status != ACTIVE or option.status != ACTIVE:
            return False
    return True


def resolve(expense: ExpenseRecord, mappings: CategoryMappings, reference: ReferenceData | None,
            bank_contact_name: str, booking_offset_minutes: int) -> ResolvedExpense:
    """Each value from the first that has one: the expense's own (the user's), the payee's rule, the payee's
    history, then the mapping (account) or the account's default (tax rate). A rule's value is the user's and is
    kept even if Xero stopped offering it (validation then says so); a learned one Xero no longer offers is
    skipped, so an archived account is never suggested."""
    payment, overrides, suggested = expense.payment, expense.overrides, expense.suggestion
    if suggested is not None and suggested.account_source == "history" and suggested.category \
            and payment.spend_category and payment.spend_category != suggested.category:
        # Learned under another bank category: the history's values do not apply (a rule's still do).
        suggested = suggested.model_copy(update={
            "xero_account_id": None, "account_source": None,
            **({} if suggested.tax_source == "rule" else {"tax_type": None, "tax_source": None}),
            **({} if suggested.tracking_source == "rule" else {"tracking": None, "tracking_source": None})})
    account_id: str | None
    account_source: Source | None
    if overrides.xero_account_id:
        account_id, account_source = overrides.xero_account_id, "expense"
    elif suggested and suggested.xero_account_id and suggested.account_source and (
            suggested.account_source == "rule" or _usable(suggested.xero_account_id, reference)):
        account_id, account_source = suggested.xero_account_id, suggested.account_source
    elif payment.spend_category and payment.spend_category in mappings.accounts:
        account_id, account_source = mappings.accounts[payment.spend_category], "mapping"
    else:
        account_id, account_source = None, None
    # Learned tax and tracking go with the learned account: not with another one the user or mapping chose.
    learned_fits = suggested is not None and (account_id == suggested.xero_account_id)

    tax_type: str | None = None
    tax_source: Source | None = None
    if overrides.tax_type:
        tax_type, tax_source = overrides.tax_type, "expense"
    elif suggested and suggested.tax_type and (
            suggested.tax_source == "rule" or (learned_fits and _tax_usable(suggested.tax_type, reference))):
        tax_type, tax_source = suggested.tax_type, suggested.tax_source
    elif account_id and reference is not None:
        account = reference.account(account_id)
        if account is not None and account.tax_type:
            # The account's default tax rate, as Xero would apply it; sent explicitly so the lists show it.
            tax_type, tax_source = account.tax_type, "account"

    tracking: list[TrackingChoice] = []
    tracking_source: Source | None = None
    if overrides.tracking is not None:
        tracking, tracking_source = list(overrides.tracking), "expense" if overrides.tracking else None
    elif suggested and suggested.tracking and (
            suggested.tracking_source == "rule" or (learned_fits and _tracking_usable(suggested.tracking, reference))):
        tracking, tracking_source = list(suggested.tracking), suggested.tracking_source

    contact_source = overrides.contact_name or payment.payee
    if not contact_source.strip() and payment.type in BANK_ORIGINATED_TYPES:
        contact_source = bank_contact_name
    contact = normalise_name(contact_source)

    description = overrides.description if overrides.description is not None else payment.description
    if not description.strip():
        # Xero needs a line description; the payee (or the reference) says the most about the payment.
        description = contact or payment.reference or "Outbound payment"
    reference_text = overrides.reference if overrides.reference is not None else payment.reference
    return ResolvedExpense(
        xero_account_id=account_id, account_source=account_source, tax_type=tax_type, tax_source=tax_source,
        tracking=tracking, tracking_source=tracking_source, contact_name=contact,
        description=for_xero(description, MAX_DESCRIPTION), reference=for_xero(reference_text, MAX_REFERENCE),
        date=payment.booking_day(booking_offset_minutes),
    )
