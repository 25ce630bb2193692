"""Xero's reference data for expenses, as one cached snapshot per organisation (pure).

What the product offers (the help centre; docs/xero-facts.md#accounts-tax-rates-and-tracking):
- accounts: ACTIVE, not BANK, with "Enable payments to this account" ticked; the help centre tells users
  to tick it when an account is missing;
- tax rates: ACTIVE and applicable to expenses;
- tracking: ACTIVE categories with their ACTIVE options (at most two categories are active in Xero).
Archived and other accounts, rates and options stay in the snapshot so that an expense that refers to one
can be told exactly what is wrong, without a Xero call.
"""

from decimal import Decimal

from pydantic import Field

from xerosync.model import Model

ACTIVE = "ACTIVE"


class XeroAccount(Model):
    account_id: str
    code: str | None = None
    name: str
    type: str
    status: str = ACTIVE
    tax_type: str | None = None
    enable_payments_to_account: bool = False
    currency_code: str | None = None

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}" if self.code else self.name

    @property
    def is_bank(self) -> bool:
        return self.type == "BANK"

    @property
    def offered_for_expenses(self) -> bool:
        return self.status == ACTIVE and self.enable_payments_to_account and not self.is_bank


class XeroTaxRate(Model):
    tax_type: str
    name: str
    status: str = ACTIVE
    can_apply_to_expenses: bool = False
    rate: Decimal | None = None

    @property
    def offered_for_expenses(self) -> bool:
        return self.status == ACTIVE and self.can_apply_to_expenses


class XeroTrackingOption(Model):
    tracking_option_id: str
    name: str
    status: str = ACTIVE


class XeroTrackingCategory(Model):
    tracking_category_id: str
    name: str
    status: str = ACTIVE
    options: list[XeroTrackingOption] = Field(default_factory=list)

    def option(self, option_id: str) -> XeroTrackingOption | None:
        return next((o for o in self.options if o.tracking_option_id == option_id), None)


class ReferenceData(Model):
    """One organisation's snapshot; ``refreshed_at`` is epoch seconds."""

    tenant_id: str
    refreshed_at: float
    base_currency: str
    currencies: list[str]
    short_code: str | None = None
    period_lock_date: str | None = None
    end_of_year_lock_date: str | None = None
    accounts: list[XeroAccount] = Field(default_factory=list)
    tax_rates: list[XeroTaxRate] = Field(default_factory=list)
    tracking_categories: list[XeroTrackingCategory] = Field(default_factory=list)

    def age(self, now: float) -> float:
        return now - self.refreshed_at

    def account(self, account_id: str) -> XeroAccount | None:
        wanted = account_id.lower()
        return next((a for a in self.accounts if a.account_id.lower() == wanted), None)

    def tax_rate(self, tax_type: str) -> XeroTaxRate | None:
        wanted = tax_type.upper()
        return next((t for t in self.tax_rates if t.tax_type.upper() == wanted), None)

    def tracking_category(self, category_id: str) -> XeroTrackingCategory | None:
        return next((c for c in self.tracking_categories if c.tracking_category_id == category_id), None)

    def uses_currency(self, currency: str) -> bool:
        return currency.upper() == self.base_currency.upper() or currency.upper() in {c.upper() for c in
                                                                                      self.currencies}

    def offered_accounts(self) -> list[XeroAccount]:
        return sorted((a for a in self.accounts if a.offered_for_expenses), key=lambda a: (a.code or "~", a.name))

    def offered_tax_rates(self) -> list[XeroTaxRate]:
        return sorted((t for t in self.tax_rates if t.offered_for_expenses), key=lambda t: t.name)

    def active_tracking(self) -> list[XeroTrackingCategory]:
        return [c.model_copy(update={"options": [o for o in c.options if o.status == ACTIVE]})
                for c in self.tracking_categories if c.status == ACTIVE]
