"""A one-line seed gives a usable Business Edition organisation: a small chart of accounts modelled on
Xero's default one, tax rates that exercise every rule, and tracking at Xero's limit of two active
categories. Everything can be overridden or extended with Xero-shaped (PascalCase) dictionaries."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .formats import parse_xero_date, to_decimal
from .models import Account, Contact, Organisation, TaxRate, TrackingCategory, TrackingOption, new_id

#: UTC offsets for the Xero time zones a test is likely to use (no daylight saving in Asia).
TIMEZONE_OFFSETS: dict[str, float] = {
    "CHINASTANDARDTIME": 8,
    "SINGAPORESTANDARDTIME": 8,
    "TAIPEISTANDARDTIME": 8,
    "TOKYOSTANDARDTIME": 9,
    "AUSEASTERNSTANDARDTIME": 10,
    "NEWZEALANDSTANDARDTIME": 12,
    "UTC": 0,
    "GMTSTANDARDTIME": 0,
    "EASTERNSTANDARDTIME": -5,
    "PACIFICSTANDARDTIME": -8,
}

#: At most two ACTIVE tracking categories per organisation, four in all
#: (https://developer.xero.com/documentation/api/tracking-categories).
MAX_ACTIVE_TRACKING_CATEGORIES = 2
MAX_TRACKING_CATEGORIES = 4

# (code, name, type, tax type, enable payments, status)
_DEFAULT_CHART: tuple[tuple[str, str, str, str, bool, str], ...] = (
    ("200", "Sales", "REVENUE", "OUTPUT", False, "ACTIVE"),
    ("260", "Other Revenue", "REVENUE", "OUTPUT", False, "ACTIVE"),
    ("300", "Purchases", "DIRECTCOSTS", "INPUT", False, "ACTIVE"),
    ("400", "Advertising", "OVERHEADS", "INPUT", True, "ACTIVE"),
    ("404", "Bank Fees", "OVERHEADS", "NONE", True, "ACTIVE"),
    ("419", "Legacy Consulting", "OVERHEADS", "INPUT", True, "ARCHIVED"),
    ("420", "Entertainment", "OVERHEADS", "NONE", True, "ACTIVE"),
    ("429", "General Expenses", "OVERHEADS", "INPUT", True, "ACTIVE"),
    ("461", "Printing & Stationery", "OVERHEADS", "INPUT", False, "ACTIVE"),
    ("493", "Travel - National", "OVERHEADS", "INPUT", True, "ACTIVE"),
    ("494", "Travel - International", "OVERHEADS", "NONE", True, "ACTIVE"),
    ("620", "Prepayments", "PREPAYMENT", "NONE", False, "ACTIVE"),
    ("710", "Office Equipment", "FIXED", "INPUT", False, "ACTIVE"),
    ("960", "Retained Earnings", "EQUITY", "NONE", False, "ACTIVE"),
)
_SYSTEM_ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    ("610", "Accounts Receivable", "CURRENT", "DEBTORS"),
    ("800", "Accounts Payable", "CURRLIAB", "CREDITORS"),
    ("820", "Sales Tax", "CURRLIAB", "GST"),
)


def _default_tax_rates() -> list[TaxRate]:
    return [
        TaxRate("NONE", "Tax Exempt", Decimal("0"), report_tax_type="NONE"),
        TaxRate("INPUT", "Tax on Purchases", Decimal("10"), report_tax_type="INPUT", can_apply_to_revenue=False),
        TaxRate(
            "OUTPUT",
            "Tax on Sales",
            Decimal("10"),
            report_tax_type="OUTPUT",
            can_apply_to_assets=False,
            can_apply_to_expenses=False,
        ),
        TaxRate("TAX001", "Retired Purchase Tax", Decimal("5"), status="DELETED", can_apply_to_revenue=False),
    ]


def _default_tracking() -> list[TrackingCategory]:
    return [
        TrackingCategory(
            new_id(),
            "Region",
            options=[
                TrackingOption(new_id(), "North"),
                TrackingOption(new_id(), "South"),
                TrackingOption(new_id(), "East", status="ARCHIVED"),
            ],
        ),
        TrackingCategory(
            new_id(), "Department", options=[TrackingOption(new_id(), "Sales"), TrackingOption(new_id(), "Operations")]
        ),
        TrackingCategory(new_id(), "Legacy Projects", status="ARCHIVED", options=[TrackingOption(new_id(), "Alpha")]),
    ]


def account_from_xero(data: dict[str, Any], now: datetime) -> Account:
    """An Account from a Xero-shaped dictionary (``Code``, ``Name``, ``Type``...)."""
    account_type = str(data.get("Type", "EXPENSE")).upper()
    return Account(
        account_id=str(data.get("AccountID") or new_id()),
        code=None if data.get("Code") in (None, "") else str(data["Code"]),
        name=str(data.get("Name") or f"Account {data.get('Code', '')}".strip()),
        type=account_type,
        updated=now,
        status=str(data.get("Status", "ACTIVE")).upper(),
        tax_type=str(data.get("TaxType", "NONE")),
        enable_payments_to_account=bool(data.get("EnablePaymentsToAccount", False)),
        bank_account_number=data.get("BankAccountNumber"),
        bank_account_type=data.get("BankAccountType") or ("BANK" if account_type == "BANK" else None),
        currency_code=data.get("CurrencyCode"),
        description=data.get("Description"),
        system_account=data.get("SystemAccount"),
        show_in_expense_claims=bool(data.get("ShowInExpenseClaims", False)),
    )


def tax_rate_from_xero(data: dict[str, Any]) -> TaxRate:
    rate = to_decimal(data.get("Rate", data.get("EffectiveRate", data.get("DisplayTaxRate", 0)))) or Decimal(0)
    return TaxRate(
        tax_type=str(data["TaxType"]),
        name=str(data.get("Name", data["TaxType"])),
        rate=rate,
        status=str(data.get("Status", "ACTIVE")).upper(),
        report_tax_type=str(data.get("ReportTaxType", "INPUT")),
        can_apply_to_assets=bool(data.get("CanApplyToAssets", True)),
        can_apply_to_equity=bool(data.get("CanApplyToEquity", True)),
        can_apply_to_expenses=bool(data.get("CanApplyToExpenses", True)),
        can_apply_to_liabilities=bool(data.get("CanApplyToLiabilities", True)),
        can_apply_to_revenue=bool(data.get("CanApplyToRevenue", True)),
    )


def tracking_from_xero(data: dict[str, Any]) -> TrackingCategory:
    options = [
        TrackingOption(
            str(o.get("TrackingOptionID") or new_id()), str(o["Name"]), str(o.get("Status", "ACTIVE")).upper()
        )
        for o in data.get("Options", [])
    ]
    return TrackingCategory(
        str(data.get("TrackingCategoryID") or new_id()),
        str(data["Name"]),
        str(data.get("Status", "ACTIVE")).upper(),
        options,
    )


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    parsed = parse_xero_date(str(value))
    if parsed is None:
        raise ValueError(f"not a date: {value!r}")
    return parsed


def check_tracking_limits(categories: list[TrackingCategory]) -> None:
    active = [c for c in categories if c.status == "ACTIVE"]
    if len(active) > MAX_ACTIVE_TRACKING_CATEGORIES:
        raise ValueError(f"Xero allows at most {MAX_ACTIVE_TRACKING_CATEGORIES} active tracking categories")
    if len([c for c in categories if c.status != "DELETED"]) > MAX_TRACKING_CATEGORIES:
        raise ValueError(f"Xero allows at most {MAX_TRACKING_CATEGORIES} tracking categories")


def build_organisation(
    now: datetime,
    *,
    name: str = "Emulated Trading Ltd",
    tenant_id: str | None = None,
    edition: str = "BUSINESS",
    status: str = "ACTIVE",
    country_code: str = "HK",
    base_currency: str = "HKD",
    timezone: str = "CHINASTANDARDTIME",
    utc_offset_hours: float | None = None,
    is_demo: bool = False,
    org_class: str | None = None,
    version: str = "GLOBAL",
    short_code: str | None = None,
    period_lock_date: date | str | None = None,
    end_of_year_lock_date: date | str | None = None,
    multicurrency: bool = True,
    currencies: list[str] | None = None,
    bank_feeds_enabled: bool | None = None,
    require_payments_enabled_line_accounts: bool = False,
    default_chart: bool = True,
    accounts: list[dict[str, Any]] | None = None,
    tax_rates: list[dict[str, Any]] | None = None,
    tracking_categories: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> Organisation:
    organisation_id = tenant_id or new_id()
    if currencies is None:
        currencies = [c for c in ("USD", "CNY", "SGD", "HKD") if c != base_currency] if multicurrency else []
    elif not multicurrency and any(c != base_currency for c in currencies):
        raise ValueError("an organisation without multicurrency has only its base currency")
    organisation = Organisation(
        organisation_id=organisation_id,
        name=name,
        created=now,
        edition=edition.upper(),
        status=status.upper(),
        country_code=country_code.upper(),
        base_currency=base_currency.upper(),
        timezone=timezone.upper(),
        utc_offset_hours=(
            utc_offset_hours if utc_offset_hours is not None else TIMEZONE_OFFSETS.get(timezone.upper(), 0.0)
        ),
        is_demo=is_demo,
        org_class=(org_class or ("DEMO" if is_demo else "STANDARD")).upper(),
        version=version.upper(),
        short_code=short_code or "!" + organisation_id.replace("-", "")[:5],
        period_lock_date=_as_date(period_lock_date),
        end_of_year_lock_date=_as_date(end_of_year_lock_date),
        multicurrency=multicurrency,
        currencies=[c.upper() for c in currencies],
        # The Demo Company cannot take bank feeds (codat-docs#420, Codat's Xero FAQ).
        bank_feeds_enabled=(not is_demo) if bank_feeds_enabled is None else bank_feeds_enabled,
        require_payments_enabled_line_accounts=require_payments_enabled_line_accounts,
    )
    chart: list[Account] = []
    if default_chart:
        chart.append(
            account_from_xero(
                {
                    "Code": "090",
                    "Name": "Business Bank Account",
                    "Type": "BANK",
                    "BankAccountNumber": "012-345678-001",
                    "CurrencyCode": organisation.base_currency,
                },
                now,
            )
        )
        if multicurrency and organisation.base_currency != "USD":
            chart.append(
                account_from_xero(
                    {
                        "Code": "091",
                        "Name": "USD Business Account",
                        "Type": "BANK",
                        "BankAccountNumber": "012-345678-002",
                        "CurrencyCode": "USD",
                    },
                    now,
                )
            )
        for code, account_name, account_type, tax_type, payments, account_status in _DEFAULT_CHART:
            chart.append(
                account_from_xero(
                    {
                        "Code": code,
                        "Name": account_name,
                        "Type": account_type,
                        "TaxType": tax_type,
                        "EnablePaymentsToAccount": payments,
                        "Status": account_status,
                    },
                    now,
                )
            )
        for code, account_name, account_type, system in _SYSTEM_ACCOUNTS:
            chart.append(
                account_from_xero(
                    {"Code": code, "Name": account_name, "Type": account_type, "SystemAccount": system}, now
                )
            )
    if tenant_id:
        # A tenant seeded with a fixed id gets fixed ids for its default chart too, one per code, so that a
        # walkthrough written down once (the README's) can name the accounts it maps to.
        for account in chart:
            account.account_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-emulator:{organisation_id}:{account.code}"))
    for extra in accounts or []:
        account = account_from_xero(extra, now)
        if account.code is not None:
            chart = [a for a in chart if a.code != account.code]
        chart.append(account)
    for account in chart:
        organisation.accounts[account.account_id] = account

    rates = _default_tax_rates() if default_chart else []
    for extra in tax_rates or []:
        rate = tax_rate_from_xero(extra)
        rates = [r for r in rates if r.tax_type != rate.tax_type] + [rate]
    organisation.tax_rates = {r.tax_type: r for r in rates}

    categories = (
        [tracking_from_xero(c) for c in tracking_categories] if tracking_categories is not None else _default_tracking()
    )
    check_tracking_limits(categories)
    organisation.tracking_categories = {c.category_id: c for c in categories}

    for contact_data in contacts if contacts is not None else [{"Name": "Acme Supplies Ltd", "IsSupplier": True}]:
        contact = Contact(
            contact_id=str(contact_data.get("ContactID") or new_id()),
            name=str(contact_data["Name"]),
            updated=now,
            status=str(contact_data.get("ContactStatus", "ACTIVE")).upper(),
            is_supplier=bool(contact_data.get("IsSupplier", False)),
            is_customer=bool(contact_data.get("IsCustomer", False)),
        )
        organisation.contacts[contact.contact_id] = contact
    return organisation
