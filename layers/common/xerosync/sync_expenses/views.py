"""The sync-expenses API's request and response shapes (they also document the API in docs/openapi.json)."""

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from xerosync.bodies import NOT_BLANK, StrictBody, XeroId
from xerosync.model import Model
from xerosync.sync_expenses.models import (
    MAX_CONTACT_NAME,
    MAX_DESCRIPTION,
    MAX_EXPENSES_PER_SYNC,
    MAX_REFERENCE,
    MAX_TRACKING_PER_LINE,
    AttachmentProblem,
    ExpenseStatus,
    ExpenseTab,
    Problem,
    SkippedExpense,
    SyncError,
    SyncJobStatus,
)
from xerosync.text import NO_FORBIDDEN_CHARACTERS, NOT_BLANK_PATTERN, PATTERN

# Where a value shown comes from (docs/sync-expenses.md, "Suggestions and per-payee rules").
Source = Literal["expense", "rule", "history", "mapping", "account"]


# ---------------------------------------------------------------------------------------------- reference data
class AccountOption(Model):
    account_id: str
    code: str | None = None
    name: str
    type: str
    tax_type: str | None = Field(None, description="The account's default tax rate.")


class TaxRateOption(Model):
    tax_type: str
    name: str
    rate: str | None = Field(None, description="Effective rate in percent, as a decimal string.")


class TrackingOptionView(Model):
    tracking_option_id: str
    name: str


class TrackingCategoryView(Model):
    tracking_category_id: str
    name: str
    options: list[TrackingOptionView]


class Notice(Model):
    code: str
    message: str
    action: str | None = None


class ReferenceDataView(Model):
    accounts: list[AccountOption] = Field(description="Xero accounts that accept payments (the only ones offered).")
    tax_rates: list[TaxRateOption] = Field(description="Active tax rates that apply to expenses.")
    tracking_categories: list[TrackingCategoryView] = Field(description="Active categories, active options.")
    currencies: list[str]
    base_currency: str
    refreshed_at: str = Field(description="When this was read from Xero; it is cached per organisation.")
    notices: list[Notice] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------- mappings
class CategoryMappingView(Model):
    category: str
    label: str
    xero_account: AccountOption | None = None
    problem: Problem | None = Field(None, description="Why the mapped account cannot be used now, if so.")


class MappingsView(Model):
    mappings: list[CategoryMappingView] = Field(description="Every bank spend category, mapped or not.")
    changed_by: str | None = None
    changed_at: str | None = None


class MappingChoice(StrictBody):
    category: str = Field(min_length=1, max_length=64, json_schema_extra=NOT_BLANK)
    xero_account_id: XeroId | None = Field(None, description="The Xero account's AccountID; null removes the mapping.")


class MappingsUpdate(StrictBody):
    mappings: list[MappingChoice] = Field(max_length=64, description="Replaces the whole mapping.")


# ---------------------------------------------------------------------------------------------- expenses
class AccountChoiceView(Model):
    account_id: str
    code: str | None = None
    name: str | None = Field(None, description="Null when the account is not in the cached reference data.")
    source: Source = Field(description="expense: chosen for this expense; rule: the payee's rule; history: learned "
                                       "from the payee's synced expenses; mapping: from its category.")


class TaxRateChoiceView(Model):
    tax_type: str
    name: str | None = None
    source: Source = Field(description="expense: chosen for this expense; rule: the payee's rule; history: learned "
                                       "from the payee's synced expenses; account: the account's default.")


class TrackingChoiceView(Model):
    tracking_category_id: str
    category_name: str | None = None
    tracking_option_id: str
    option_name: str | None = None


class ValueSourceView(Model):
    field: Literal["xero_account", "tax_rate", "tracking"]
    source: Source
    explanation: str = Field(description='For people: "from your last 6 expenses at Grab", "from the mapping".')


class ReceiptView(Model):
    attachment_id: str
    file_name: str
    content_type: str
    size_bytes: int
    will_sync: bool = Field(True, description="Before the expense is synced: false when Xero will not take this "
                                              "file (too big, one too many, a type Xero refuses); reason says why.")
    reason: str | None = None
    action: str | None = None


class SpendMoneyView(Model):
    bank_transaction_id: str
    url: str = Field(description="Opens the Spend Money in Xero.")
    synced_at: str


class WaitView(Model):
    reason: str = Field(description="What the sync waits for, in the product's words.")
    until: str = Field(description="When it goes on, about (ISO 8601, UTC).")
    message: str = Field(description="Both in a sentence, for the page.")


class ExpenseView(Model):
    transaction_id: str
    account_id: str
    account_name: str | None = None
    posted_at: str
    date: str = Field(description="The bank's booking day (the Spend Money's date).")
    amount: str = Field(description="Decimal string in the account's currency; tax included.")
    currency: str
    payee: str
    reference: str
    description: str
    spend_category: str | None = None
    status: ExpenseStatus
    tab: ExpenseTab
    updated: bool = Field(description="The help centre's Updated label: category, description or receipts changed.")
    xero_account: AccountChoiceView | None = None
    tax_rate: TaxRateChoiceView | None = None
    tracking: list[TrackingChoiceView] = Field(default_factory=list)
    contact_name: str
    attachment_count: int
    attachments: list[ReceiptView] = Field(default_factory=list)
    error: SyncError | None = Field(None, description="Why the last sync failed, and what to do.")
    attachment_errors: list[AttachmentProblem] = Field(default_factory=list)
    spend_money: SpendMoneyView | None = None
    ready_to_sync: bool = Field(description="False when validation finds a problem (listed in problems).")
    problems: list[Problem] = Field(default_factory=list)
    job_id: str | None = None
    waiting: WaitView | None = Field(None, description="While its sync waits for Xero's limits: why and until when.")
    sources: list[ValueSourceView] = Field(default_factory=list, description=(
        "Where the account, tax rate and tracking shown come from, in words."))
    has_suggestions: bool = Field(False, description=(
        "Some values come from the payee's rule or history: accept-suggestions makes them the expense's own."))


class ExpensePage(Model):
    items: list[ExpenseView]
    next_cursor: str | None = Field(None, description=(
        "Pass it back as cursor for the next page; null at the end. A page may hold fewer items than the limit, "
        "even none, when a filter matches little: each request reads a bounded part of the list."))


class TrackingChoiceIn(StrictBody):
    tracking_category_id: XeroId
    tracking_option_id: XeroId


class ExpenseEdit(StrictBody):
    """Only the fields sent change; null puts a field back to its default (mapping, account or ledger)."""

    xero_account_id: XeroId | None = None
    tax_type: str | None = Field(None, min_length=1, max_length=50, json_schema_extra=NOT_BLANK)
    tracking: list[TrackingChoiceIn] | None = Field(None, max_length=MAX_TRACKING_PER_LINE)
    # Text that goes to Xero: refused when it holds control or text-direction characters (docs/http-api.md).
    description: Annotated[str | None, NO_FORBIDDEN_CHARACTERS] = Field(
        None, min_length=1, max_length=MAX_DESCRIPTION, json_schema_extra={"pattern": NOT_BLANK_PATTERN})
    reference: Annotated[str | None, NO_FORBIDDEN_CHARACTERS] = Field(
        None, max_length=MAX_REFERENCE, json_schema_extra={"pattern": PATTERN})
    contact_name: Annotated[str | None, NO_FORBIDDEN_CHARACTERS] = Field(
        None, min_length=1, max_length=MAX_CONTACT_NAME, json_schema_extra={"pattern": NOT_BLANK_PATTERN})


# ---------------------------------------------------------------------------------------------- payee rules
class PayeeRuleValues(StrictBody):
    """What every expense of the payee gets, unless the expense has its own value (at least one)."""

    xero_account_id: XeroId | None = Field(None, description="The Xero account's AccountID.")
    tax_type: str | None = Field(None, min_length=1, max_length=50, json_schema_extra=NOT_BLANK)
    tracking: list[TrackingChoiceIn] | None = Field(None, max_length=MAX_TRACKING_PER_LINE, description=(
        "One option per tracking category; [] means no tracking; null leaves it to the history."))


class PayeeRuleIn(PayeeRuleValues):
    payee: Annotated[str, NO_FORBIDDEN_CHARACTERS] = Field(
        min_length=1, max_length=MAX_CONTACT_NAME, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description='The payee as the bank names it; "GRAB* Grab", "Grab" and "GRAB PTE. LTD." are one payee.')


class PayeeRuleView(Model):
    rule_id: str
    payee: str
    payee_key: str = Field(description="The payee as rules and suggestions know it (normalised).")
    xero_account: AccountOption | None = None
    tax_type: str | None = None
    tax_rate_name: str | None = None
    tracking: list[TrackingChoiceView] | None = None
    problems: list[Problem] = Field(default_factory=list, description="Why a value cannot be used now, if so.")
    changed_by: str
    changed_at: str


class PayeeRulesView(Model):
    rules: list[PayeeRuleView]


# ---------------------------------------------------------------------------------------------- sync jobs
class StartSync(StrictBody):
    transaction_ids: list[Annotated[str, Field(min_length=1, max_length=64, json_schema_extra=NOT_BLANK)]] = Field(
        min_length=1, description=f"1 to {MAX_EXPENSES_PER_SYNC} expenses (a repeated id counts once).")


class SyncJobView(Model):
    job_id: str
    status: SyncJobStatus
    summary: str = Field(description="The progress in a sentence.")
    requested: int
    total: int = Field(description="Expenses this job syncs or rejected at once (requested minus skipped).")
    synced: int
    failed: int = Field(description="Rejected before sending plus refused by Xero; see each expense's error.")
    remaining: int
    percent_done: int
    skipped: list[SkippedExpense] = Field(default_factory=list)
    failed_transaction_ids: list[str] = Field(default_factory=list)
    created_at: str
    completed_at: str | None = None
    waiting: WaitView | None = Field(None, description="While the sync waits for Xero's limits: why and until when.")


class ListQuery(Model):
    tab: ExpenseTab = ExpenseTab.PENDING_SYNC
    posted_from: date | None = None
    posted_to: date | None = None
    account_id: str | None = None
    status: ExpenseStatus | None = None
    updated: bool | None = None
    has_error: bool | None = None
    limit: int = 50
    cursor: str | None = None
