"""Typed shapes of the Xero objects every Xero user reads: tokens, connections, the organisation, its accounts,
and the types and parsers the other Xero models share (Xero OpenAPI 16.1.0).

Each group of models lives with its users, so that a function builds only the classes it uses (docs/architecture.md,
"Cold start"): the Bank Feeds objects in ``xerosync.xero.bank_feeds``, what only the expense sync sends or reads
(Spend Money, contacts, tax rates, tracking, attachments) in ``xerosync.xero.expense_models``. Accounting objects
use Xero's PascalCase names, Bank Feeds objects camelCase; Python code uses snake_case and the aliases carry Xero's
names both ways. Money is ``Decimal`` throughout: responses are parsed with
``parse_float=Decimal`` and requests write it back as a JSON number (``money_json``).
"""

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
