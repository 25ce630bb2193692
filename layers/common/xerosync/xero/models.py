"""Typed shapes of the Xero objects the product reads and writes (Xero OpenAPI 16.1.0).

Accounting objects use Xero's PascalCase names, Bank Feeds objects camelCase (``xerosync.xero.bank_feeds``, apart,
so that the functions that never call Bank Feeds never build them); Python code uses snake_case and the aliases
carry Xero's names both ways. Money is ``Decimal`` throughout: responses are parsed with
``parse_float=Decimal`` and requests write it back as a JSON number (``money_json``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel, to_pascal

from xerosync.model import Model

_XERO_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def parse_xero_datetime(value: Any) -> Any:
    """Xero's JSON dates: ``/Date(1573755038314+0000)/`` or ISO 8601; anything else is left to pydantic."""
    if isinstance(value, str):
        match = _XERO_DATE.fullmatch(value.strip())
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
        if len(value) >= 19 and value[10] == "T" and not value.endswith("Z") and "+" not in value[19:]:
            return value + "Z"  # Xero's UTC timestamps often lack the zone
    return value


def parse_xero_date(value: Any) -> Any:
    parsed = parse_xero_datetime(value)
    if isinstance(parsed, datetime):
        return parsed.date()
    if isinstance(parsed, str) and "T" in parsed:
        return parsed.split("T", 1)[0]
    return parsed


def money_json(value: Decimal) -> float:
    """Decimal to a JSON number, refusing any value a float cannot carry exactly (never alter money)."""
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise ValueError(f"{value} cannot be sent as a JSON number without rounding")
    return as_float


XeroDateTime = Annotated[datetime, BeforeValidator(parse_xero_datetime)]
XeroDate = Annotated[date, BeforeValidator(parse_xero_date), PlainSerializer(lambda d: d.isoformat(), when_used="json")]
Money = Annotated[Decimal, PlainSerializer(money_json, when_used="json")]


class AccountingModel(Model):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")

    def to_xero(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# ---------------------------------------------------------------------------------------------- identity
class TokenSet(Model):
    """What the token endpoint returns, with the absolute expiry worked out on receipt."""

    access_token: str
    refresh_token: str
    expires_at: float
    token_type: str = "Bearer"
    scope: str = ""
    id_token: str | None = None


class XeroConnection(Model):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str
    auth_event_id: str | None = None
    tenant_id: str
    tenant_type: str
    tenant_name: str | None = None
    created_date_utc: XeroDateTime | None = None
    updated_date_utc: XeroDateTime | None = None


# ---------------------------------------------------------------------------------------------- accounting
class OrganisationEdition(StrEnum):
    BUSINESS = "BUSINESS"
    PARTNER = "PARTNER"


class Organisation(AccountingModel):
    organisation_id: str = Field(alias="OrganisationID")
    name: str
    legal_name: str | None = None
    edition: str | None = None
    organisation_status: str | None = None
    country_code: str | None = None
    base_currency: str
    timezone: str | None = None
    is_demo_company: bool = False
    short_code: str | None = None
    period_lock_date: XeroDate | None = None
    end_of_year_lock_date: XeroDate | None = None
    class_: str | None = Field(None, alias="Class")


class OrganisationAction(AccountingModel):
    name: str
    status: str


class Account(AccountingModel):
    account_id: str = Field(alias="AccountID")
    code: str | None = None
    name: str
    type: str
    status: str = "ACTIVE"
    bank_account_number: str | None = None
    bank_account_type: str | None = None
    currency_code: str | None = None
    tax_type: str | None = None
    enable_payments_to_account: bool = False
    updated_date_utc: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")


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
