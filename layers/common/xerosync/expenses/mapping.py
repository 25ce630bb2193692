"""Bank spend category -> Xero account, and what each expense resolves to (pure).

The help centre: "Once you map a Xero account to an Aspire category, any expense in that category will
automatically be linked to the mapped Xero account. You can always update the Xero account for any
individual transaction or update this mapping later." So the mapping is read at sync time, never copied
into the expense: changing it changes every expense that has no account of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from xerosync.expenses.models import ExpenseRecord, TrackingChoice
from xerosync.expenses.reference_data import ReferenceData
from xerosync.model import Model
from xerosync.text import for_xero

# Payments the bank makes itself carry no payee name in the ledger (fees, FX, interest).
BANK_ORIGINATED_TYPES = frozenset({"FEE", "FX", "INTEREST"})
# Xero's field limits (OpenAPI 16.1.0): Contact Name 255, Reference 255, line Description 4000.
MAX_CONTACT_NAME = 255
MAX_REFERENCE = 255
MAX_DESCRIPTION = 4000

Source = Literal["expense", "mapping", "account", "ledger", "default"]


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
    contact_name: str = ""
    description: str = ""
    reference: str = ""
    date: str = ""  # the bank's booking day of the payment


def normalise_name(name: str) -> str:
    """Xero refuses contact names with leading, trailing or repeated spaces; control and text-direction
    characters from the ledger go too (docs/http-api.md "Text sent to Xero")."""
    return for_xero(name, MAX_CONTACT_NAME)


def resolve(expense: ExpenseRecord, mappings: CategoryMappings, reference: ReferenceData | None,
            bank_contact_name: str, booking_offset_minutes: int) -> ResolvedExpense:
    payment, overrides = expense.payment, expense.overrides
    account_id: str | None
    account_source: Source | None
    if overrides.xero_account_id:
        account_id, account_source = overrides.xero_account_id, "expense"
    elif payment.spend_category and payment.spend_category in mappings.accounts:
        account_id, account_source = mappings.accounts[payment.spend_category], "mapping"
    else:
        account_id, account_source = None, None

    tax_type: str | None = None
    tax_source: Source | None = None
    if overrides.tax_type:
        tax_type, tax_source = overrides.tax_type, "expense"
    elif account_id and reference is not None:
        account = reference.account(account_id)
        if account is not None and account.tax_type:
            # The account's default tax rate, as Xero would apply it; sent explicitly so the lists show it.
            tax_type, tax_source = account.tax_type, "account"

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
        tracking=list(overrides.tracking or []), contact_name=contact,
        description=for_xero(description, MAX_DESCRIPTION), reference=for_xero(reference_text, MAX_REFERENCE),
        date=payment.booking_day(booking_offset_minutes),
    )
