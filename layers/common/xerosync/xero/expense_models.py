"""Typed shapes of the Xero objects only the expense sync sends or reads: Spend Money (bank transactions with
their line items, contact and tracking), the reference data the mappings offer (tax rates, tracking categories)
and receipts' attachments (Xero OpenAPI 16.1.0).

Apart from ``xerosync.xero.models`` so that the functions that never sync an expense (connect, auto-sync) never
build them (docs/architecture.md, "Cold start"); the session imports them with its first call that uses them.
"""

from decimal import Decimal
from typing import Any

from pydantic import Field

from xerosync.xero.models import AccountingModel, Money, XeroDate, XeroDateTime


class TaxRate(AccountingModel):
    name: str
    tax_type: str
    status: str = "ACTIVE"
    can_apply_to_expenses: bool = False
    effective_rate: Decimal | None = None
    display_tax_rate: Decimal | None = None


class TrackingOption(AccountingModel):
    tracking_option_id: str = Field(alias="TrackingOptionID")
    name: str
    status: str = "ACTIVE"


class TrackingCategory(AccountingModel):
    tracking_category_id: str = Field(alias="TrackingCategoryID")
    name: str
    status: str = "ACTIVE"
    options: list[TrackingOption] = Field(default_factory=list)


class Contact(AccountingModel):
    contact_id: str | None = Field(None, alias="ContactID")
    name: str | None = None
    contact_status: str | None = None


class ValidationMessage(AccountingModel):
    message: str


class LineItemTracking(AccountingModel):
    tracking_category_id: str | None = Field(None, alias="TrackingCategoryID")
    tracking_option_id: str | None = Field(None, alias="TrackingOptionID")
    name: str | None = None
    option: str | None = None


class LineItem(AccountingModel):
    line_item_id: str | None = Field(None, alias="LineItemID")
    description: str
    quantity: Money = Decimal("1")
    unit_amount: Money
    account_code: str | None = None
    account_id: str | None = Field(None, alias="AccountID")
    tax_type: str | None = None
    tax_amount: Money | None = None
    line_amount: Money | None = None
    tracking: list[LineItemTracking] = Field(default_factory=list)


class AccountRef(AccountingModel):
    account_id: str | None = Field(None, alias="AccountID")
    code: str | None = None


class BankTransaction(AccountingModel):
    bank_transaction_id: str | None = Field(None, alias="BankTransactionID")
    type: str
    contact: Contact | None = None
    bank_account: AccountRef
    line_items: list[LineItem]
    date: XeroDate | None = None
    reference: str | None = None
    url: str | None = None
    currency_code: str | None = None
    currency_rate: Decimal | None = None
    line_amount_types: str | None = None
    status: str | None = None
    is_reconciled: bool | None = None
    has_attachments: bool | None = None
    sub_total: Money | None = None
    total_tax: Money | None = None
    total: Money | None = None
    updated_date_utc: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")
    status_attribute_string: str | None = None
    validation_errors: list[ValidationMessage] = Field(default_factory=list)
    warnings: list[ValidationMessage] = Field(default_factory=list)

    def to_xero(self) -> dict[str, Any]:
        # Read-only fields are never sent back.
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={
            "has_attachments", "sub_total", "total_tax", "total", "updated_date_utc", "status_attribute_string",
            "validation_errors", "warnings", "is_reconciled"})


class Attachment(AccountingModel):
    attachment_id: str = Field(alias="AttachmentID")
    file_name: str
    url: str | None = None
    mime_type: str | None = None
    content_length: int | None = None
