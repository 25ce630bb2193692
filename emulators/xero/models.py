"""What the emulated Xero holds: organisations and their ledgers, apps, users, grants and connections."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .formats import ms_date, ms_date_for_day


def new_id() -> str:
    return str(uuid.uuid4())


# Account Type -> Class, as Xero reports it [OAS Account.Class].
ACCOUNT_CLASS_BY_TYPE: dict[str, str] = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "FIXED": "ASSET",
    "INVENTORY": "ASSET",
    "NONCURRENT": "ASSET",
    "PREPAYMENT": "ASSET",
    "CURRLIAB": "LIABILITY",
    "LIABILITY": "LIABILITY",
    "TERMLIAB": "LIABILITY",
    "PAYG": "LIABILITY",
    "EQUITY": "EQUITY",
    "DEPRECIATN": "EXPENSE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "OTHERINCOME": "REVENUE",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
}


@dataclass
class App:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Emulated App"
    #: Bank Feeds is a closed API; an app Xero has not enabled gets 403 invalid-application [OAS].
    bank_feeds_enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "name": self.name,
            "bank_feeds_enabled": self.bank_feeds_enabled,
        }


@dataclass
class User:
    user_id: str
    email: str
    given_name: str
    family_name: str


@dataclass
class TaxRate:
    tax_type: str
    name: str
    rate: Decimal
    status: str = "ACTIVE"
    report_tax_type: str = "INPUT"
    can_apply_to_assets: bool = True
    can_apply_to_equity: bool = True
    can_apply_to_expenses: bool = True
    can_apply_to_liabilities: bool = True
    can_apply_to_revenue: bool = True

    def can_apply_to_class(self, account_class: str) -> bool:
        return {
            "ASSET": self.can_apply_to_assets,
            "EQUITY": self.can_apply_to_equity,
            "EXPENSE": self.can_apply_to_expenses,
            "LIABILITY": self.can_apply_to_liabilities,
            "REVENUE": self.can_apply_to_revenue,
        }.get(account_class, False)

    def to_xero(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "TaxType": self.tax_type,
            "ReportTaxType": self.report_tax_type,
            "CanApplyToAssets": self.can_apply_to_assets,
            "CanApplyToEquity": self.can_apply_to_equity,
            "CanApplyToExpenses": self.can_apply_to_expenses,
            "CanApplyToLiabilities": self.can_apply_to_liabilities,
            "CanApplyToRevenue": self.can_apply_to_revenue,
            "DisplayTaxRate": self.rate,
            "EffectiveRate": self.rate,
            "Status": self.status,
            "TaxComponents": [{"Name": self.name, "Rate": self.rate, "IsCompound": False, "IsNonRecoverable": False}],
        }


@dataclass
class Account:
    account_id: str
    code: str | None
    name: str
    type: str
    updated: datetime
    status: str = "ACTIVE"
    tax_type: str = "NONE"
    enable_payments_to_account: bool = False
    bank_account_number: str | None = None
    bank_account_type: str | None = None
    currency_code: str | None = None
    description: str | None = None
    system_account: str | None = None
    show_in_expense_claims: bool = False

    @property
    def account_class(self) -> str:
        return ACCOUNT_CLASS_BY_TYPE.get(self.type, "ASSET")

    def to_xero(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"AccountID": self.account_id}
        if self.code is not None:
            rendered["Code"] = self.code
        rendered.update(
            {
                "Name": self.name,
                "Status": self.status,
                "Type": self.type,
                "TaxType": self.tax_type,
                "Class": self.account_class,
                "EnablePaymentsToAccount": self.enable_payments_to_account,
                "ShowInExpenseClaims": self.show_in_expense_claims,
                "ReportingCode": self.account_class[:3],
                "ReportingCodeName": self.account_class.title(),
                "HasAttachments": False,
                "UpdatedDateUTC": ms_date(self.updated),
                "AddToWatchlist": False,
            }
        )
        if self.description is not None:
            rendered["Description"] = self.description
        if self.type == "BANK":
            rendered["BankAccountNumber"] = self.bank_account_number or ""
            rendered["BankAccountType"] = self.bank_account_type or "BANK"
        if self.currency_code is not None:
            rendered["CurrencyCode"] = self.currency_code
        if self.system_account is not None:
            rendered["SystemAccount"] = self.system_account
        return rendered

    def reference(self) -> dict[str, Any]:
        """How a transaction names its bank account: ``{AccountID, Code, Name}``."""
        rendered: dict[str, Any] = {"AccountID": self.account_id}
        if self.code is not None:
            rendered["Code"] = self.code
        rendered["Name"] = self.name
        return rendered


@dataclass
class TrackingOption:
    option_id: str
    name: str
    status: str = "ACTIVE"


@dataclass
class TrackingCategory:
    category_id: str
    name: str
    status: str = "ACTIVE"
    options: list[TrackingOption] = field(default_factory=list)

    def to_xero(self, include_archived: bool) -> dict[str, Any]:
        options = [o for o in self.options if include_archived or o.status == "ACTIVE"]
        return {
            "TrackingCategoryID": self.category_id,
            "Name": self.name,
            "Status": self.status,
            "Options": [
                {"TrackingOptionID": o.option_id, "Name": o.name, "Status": o.status, "HasValidationErrors": False}
                for o in options
            ],
        }


@dataclass
class Contact:
    contact_id: str
    name: str
    updated: datetime
    status: str = "ACTIVE"
    #: Other fields the client sent (EmailAddress, FirstName...), echoed back as given.
    extra: dict[str, Any] = field(default_factory=dict)
    is_supplier: bool = False
    is_customer: bool = False

    def to_xero(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"ContactID": self.contact_id, "ContactStatus": self.status, "Name": self.name}
        rendered.update(self.extra)
        rendered.update(
            {
                "Addresses": self.extra.get("Addresses", []),
                "Phones": self.extra.get("Phones", []),
                "UpdatedDateUTC": ms_date(self.updated),
                "ContactGroups": [],
                "IsSupplier": self.is_supplier,
                "IsCustomer": self.is_customer,
                "ContactPersons": self.extra.get("ContactPersons", []),
                "HasAttachments": False,
                "HasValidationErrors": False,
            }
        )
        return rendered

    def reference(self) -> dict[str, Any]:
        return {
            "ContactID": self.contact_id,
            "Name": self.name,
            "Addresses": [],
            "Phones": [],
            "ContactGroups": [],
            "ContactPersons": [],
            "HasValidationErrors": False,
        }


@dataclass
class Attachment:
    attachment_id: str
    file_name: str
    mime_type: str
    content: bytes
    created: datetime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def to_xero(self, owner_url: str) -> dict[str, Any]:
        return {
            "AttachmentID": self.attachment_id,
            "FileName": self.file_name,
            "Url": f"{owner_url}/Attachments/{self.file_name}",
            "MimeType": self.mime_type,
            "ContentLength": len(self.content),
        }


@dataclass
class LineItem:
    line_item_id: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    account_code: str | None
    account_id: str | None
    tax_type: str
    tax_amount: Decimal
    line_amount: Decimal
    #: Resolved tracking: ``{TrackingCategoryID, TrackingOptionID, Name, Option}``.
    tracking: list[dict[str, str]] = field(default_factory=list)


@dataclass
class BankTransaction:
    bank_transaction_id: str
    type: str
    contact_id: str | None
    bank_account_id: str
    date: date
    line_amount_types: str
    line_items: list[LineItem]
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal
    currency_code: str
    updated: datetime
    created: datetime
    status: str = "AUTHORISED"
    reference: str | None = None
    url: str | None = None
    currency_rate: Decimal | None = None
    is_reconciled: bool = False
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def date_rendered(self) -> str:
        return ms_date_for_day(self.date)


@dataclass
class Balance:
    amount: Decimal
    credit_debit_indicator: str

    @property
    def signed(self) -> Decimal:
        # From the customer's point of view: money they hold is a CREDIT [OAS CreditDebitIndicator].
        return self.amount if self.credit_debit_indicator == "CREDIT" else -self.amount

    def to_bankfeeds(self) -> dict[str, Any]:
        return {"amount": self.amount, "creditDebitIndicator": self.credit_debit_indicator}


@dataclass
class FeedConnection:
    id: str
    account_token: str
    account_type: str
    currency: str | None
    account_id: str
    account_number: str | None
    account_name: str | None
    country: str | None
    created: datetime
    #: PENDING until ``due``, then ACTIVE (or REJECTED). Deletion requests go DELETING -> DELETED.
    status: str = "PENDING"
    due: float = 0.0
    error: dict[str, Any] | None = None
    #: What the PENDING connection becomes when it settles (tests can set REJECTED + error).
    outcome: str = "ACTIVE"

    def to_bankfeeds(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"id": self.id, "accountToken": self.account_token, "accountType": self.account_type}
        if self.account_number is not None:
            rendered["accountNumber"] = self.account_number
        if self.account_name is not None:
            rendered["accountName"] = self.account_name
        rendered["accountId"] = self.account_id
        if self.currency is not None:
            rendered["currency"] = self.currency
        if self.country is not None:
            rendered["country"] = self.country
        # The file's status enum is PENDING | REJECTED and its GET examples carry no status at all: a
        # connection that went through is shown without one.
        if self.status in {"PENDING", "REJECTED"}:
            rendered["status"] = self.status
        if self.error is not None:
            rendered["error"] = self.error
        return rendered


@dataclass
class Statement:
    id: str
    feed_connection_id: str
    start_date: date
    end_date: date
    start_balance: Balance
    end_balance: Balance
    lines: list[dict[str, Any]]
    #: Identity of each line for duplicate detection, in order.
    line_keys: list[str]
    due: float
    status: str = "PENDING"
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_bankfeeds(self, include_lines: bool = False) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "id": self.id,
            "feedConnectionId": self.feed_connection_id,
            "status": self.status,
            "startDate": self.start_date.isoformat(),
            "endDate": self.end_date.isoformat(),
            "startBalance": self.start_balance.to_bankfeeds(),
            "endBalance": self.end_balance.to_bankfeeds(),
            "statementLineCount": len(self.lines),
        }
        if include_lines:
            rendered["statementLines"] = self.lines
        if self.errors:
            rendered["errors"] = self.errors
        return rendered


@dataclass
class Organisation:
    organisation_id: str
    name: str
    created: datetime
    edition: str = "BUSINESS"
    status: str = "ACTIVE"
    country_code: str = "HK"
    base_currency: str = "HKD"
    timezone: str = "CHINASTANDARDTIME"
    utc_offset_hours: float = 8.0
    is_demo: bool = False
    org_class: str = "STANDARD"
    version: str = "GLOBAL"
    short_code: str = "!emu01"
    period_lock_date: date | None = None
    end_of_year_lock_date: date | None = None
    #: Organisation/Actions UseMulticurrency; foreign currencies need it.
    multicurrency: bool = True
    currencies: list[str] = field(default_factory=list)
    bank_feeds_enabled: bool = True
    #: Xero itself accepts any active non-bank account on a Spend Money line; set True to also demand
    #: "Enable payments to this account" there (the product's own rule, stricter than Xero).
    require_payments_enabled_line_accounts: bool = False
    accounts: dict[str, Account] = field(default_factory=dict)
    tax_rates: dict[str, TaxRate] = field(default_factory=dict)
    tracking_categories: dict[str, TrackingCategory] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    bank_transactions: dict[str, BankTransaction] = field(default_factory=dict)
    feed_connections: dict[str, FeedConnection] = field(default_factory=dict)
    statements: dict[str, Statement] = field(default_factory=dict)
    #: Per feed connection, every statement line Xero accepted, in delivery order.
    accepted_lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Per feed connection, the identity of every line in an accepted (pending or delivered) statement.
    submitted_line_keys: dict[str, set[str]] = field(default_factory=dict)

    def enabled_currencies(self) -> list[str]:
        return [self.base_currency, *[c for c in self.currencies if c != self.base_currency]]

    def account_by_code(self, code: str) -> Account | None:
        wanted = code.strip().upper()
        for account in self.accounts.values():
            if account.code is not None and account.code.upper() == wanted:
                return account
        return None

    def to_xero(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "OrganisationID": self.organisation_id,
            "APIKey": "",
            "Name": self.name,
            "LegalName": self.name,
            "PaysTax": True,
            "Version": self.version,
            "OrganisationType": "COMPANY",
            "BaseCurrency": self.base_currency,
            "CountryCode": self.country_code,
            "IsDemoCompany": self.is_demo,
            "OrganisationStatus": self.status,
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 12,
            "SalesTaxBasis": "ACCRUALS",
            "SalesTaxPeriod": "QUARTERLY",
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Exclusive",
            "CreatedDateUTC": ms_date(self.created),
            "OrganisationEntityType": "COMPANY",
            "Timezone": self.timezone,
            "ShortCode": self.short_code,
            "Edition": self.edition,
            "Class": self.org_class,
            "LineOfBusiness": "Emulated business",
            "Addresses": [],
            "Phones": [],
            "ExternalLinks": [],
            "PaymentTerms": {},
        }
        if self.period_lock_date is not None:
            rendered["PeriodLockDate"] = ms_date_for_day(self.period_lock_date)
        if self.end_of_year_lock_date is not None:
            rendered["EndOfYearLockDate"] = ms_date_for_day(self.end_of_year_lock_date)
        return rendered


@dataclass
class Connection:
    id: str
    client_id: str
    user_id: str
    tenant_id: str
    auth_event_id: str
    created: datetime
    updated: datetime


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    user_id: str
    auth_event_id: str
    issued_at: float
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used: bool = False


@dataclass
class RefreshToken:
    token: str
    grant_id: str
    issued_at: float
    last_used_at: float | None = None
    #: When this token stopped being the grant's current one; the grace period runs from here.
    superseded_at: float | None = None


@dataclass
class Grant:
    """One token family: born from an authorization code, continued by refresh-token rotation."""

    grant_id: str
    client_id: str
    user_id: str
    scopes: list[str]
    auth_event_id: str
    created_at: float
    current_refresh_token: str | None = None
    revoked: bool = False
    refreshes: int = 0


@dataclass
class AccessToken:
    token: str
    jti: str
    grant_id: str
    client_id: str
    user_id: str
    scopes: list[str]
    expires_at: float
