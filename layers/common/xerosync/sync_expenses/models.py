"""The expense record, its statuses, sync jobs and the messages between the API, the worker and the attachments worker.

An expense is one outbound payment (a DEBIT) of a linked bank account, as the ledger last described it,
plus what the user chose for Xero (overrides), where it stands (status, Updated flag, error) and, once
synced, the Spend Money it became. Statuses: ``PENDING -> QUEUED -> SYNCED | SYNC_ERROR``; ``updated`` is a
flag beside the status, never a status of its own (docs/sync-expenses.md#statuses-and-updated).
"""

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from xerosync.clock import from_iso
from xerosync.model import Model

# The ledger contract's spend categories (docs/ledger-contract.md), the left side of the mapping.
SPEND_CATEGORIES: tuple[str, ...] = (
    "advertising", "bank_fees", "entertainment", "office_supplies", "professional_services", "rent", "software",
    "travel", "utilities", "payroll", "other",
)

# The help centre: "you can only select a maximum of 1000 transactions at a time".
MAX_EXPENSES_PER_SYNC = 1000
# Xero recommends batches of about 50 per request (docs/xero-facts.md#batches); one batch is one Xero call.
SPEND_MONEY_BATCH_SIZE = 50
# Xero allows at most two tracking categories on a line item (docs/xero-facts.md#accounts-tax-rates-and-tracking).
MAX_TRACKING_PER_LINE = 2
# Xero's field limits (OpenAPI 16.1.0): Contact Name 255, Reference 255, line Description 4000. Here, not in
# ``mapping``, so that the API's edit bodies state them without importing the mapping at the cold start.
MAX_CONTACT_NAME = 255
MAX_REFERENCE = 255
MAX_DESCRIPTION = 4000


class ExpenseStatus(StrEnum):
    PENDING = "PENDING"  # waiting for the user to sync it
    QUEUED = "QUEUED"  # a sync job owns it; the worker will send it
    SYNCED = "SYNCED"  # a Spend Money exists in Xero
    SYNC_ERROR = "SYNC_ERROR"  # the last sync failed; the error says why and how to fix it


class ExpenseTab(StrEnum):
    """The help centre's two tabs. A sync error on the Pending Sync tab means Xero refused the expense."""

    PENDING_SYNC = "pending"
    SYNCED = "synced"


def tab_of(status: ExpenseStatus) -> ExpenseTab:
    return ExpenseTab.SYNCED if status == ExpenseStatus.SYNCED else ExpenseTab.PENDING_SYNC


def booking_day(posted_at: str, utc_offset_minutes: int) -> str:
    return (from_iso(posted_at) + timedelta(minutes=utc_offset_minutes)).date().isoformat()


class Record(Model):
    model_config = ConfigDict(extra="ignore")


class Receipt(Record):
    attachment_id: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str


class Payment(Record):
    """The outbound payment as the ledger last described it (its ``version`` is the ledger's)."""

    account_id: str
    transaction_id: str
    sequence: int
    posted_at: str  # ISO 8601 UTC with Z, as the ledger gives it
    amount: Decimal
    currency: str
    payee: str = ""
    reference: str = ""
    description: str = ""
    spend_category: str | None = None
    type: str = "TRANSFER"
    receipts: list[Receipt] = Field(default_factory=list)
    ledger_version: int = 1

    def booking_day(self, utc_offset_minutes: int) -> str:
        """The bank's booking day of the posting: the date the customer sees, and the date auto-sync gives the
        statement line this expense will be reconciled with in Xero (``STATEMENT_UTC_OFFSET_MINUTES``)."""
        return booking_day(self.posted_at, utc_offset_minutes)


class TrackingChoice(Record):
    model_config = ConfigDict(extra="ignore", frozen=True)

    tracking_category_id: str
    tracking_option_id: str


class Overrides(Record):
    """What the user chose for this expense; ``None`` means "not chosen", so the default applies."""

    xero_account_id: str | None = None
    tax_type: str | None = None
    tracking: list[TrackingChoice] | None = None
    description: str | None = None
    reference: str | None = None
    contact_name: str | None = None


class Problem(Record):
    """Why an expense cannot be synced, for a person: what is wrong and what to do about it."""

    code: str
    message: str
    action: str | None = None


class SyncError(Record):
    code: str
    message: str
    action: str | None = None
    problems: list[Problem] = Field(default_factory=list)  # every problem found before sending
    xero_messages: list[str] = Field(default_factory=list)  # Xero's own words, when Xero refused it
    at: str
    job_id: str | None = None


class Coding(Record):
    """How an expense was coded in Xero: the account, tax rate and tracking a Spend Money was sent with."""

    xero_account_id: str | None = None
    tax_type: str | None = None
    tracking: list[TrackingChoice] = Field(default_factory=list)

    def tracking_key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((t.tracking_category_id, t.tracking_option_id) for t in self.tracking))


class Suggestion(Record):
    """What the payee's summary suggested when it was last written on the expense (``sync_expenses.suggestions``):
    a user's per-payee rule and what the payee's history agrees on, each value with its source."""

    payee_key: str
    payee: str = ""
    summary_version: int = 0
    xero_account_id: str | None = None
    account_source: Literal["rule", "history"] | None = None
    tax_type: str | None = None
    tax_source: Literal["rule", "history"] | None = None
    tracking: list[TrackingChoice] | None = None
    tracking_source: Literal["rule", "history"] | None = None
    agreeing: int = 0  # of the payee's recent synced expenses, how many agree on the learned account
    considered: int = 0  # how many recent synced expenses were looked at
    # The bank category those expenses had: learned values apply to a payment of that category, or of none (a
    # category changed in the bank is a person's signal, and the mapping of the new one applies).
    category: str | None = None


class SpendMoneyLink(Record):
    """The Spend Money an expense became in Xero."""

    bank_transaction_id: str
    url: str  # opens the Spend Money in Xero
    synced_at: str
    revision: int  # the expense's revision that Xero holds
    ledger_version: int
    coding: Coding | None = None  # what it was sent with: the payee's history learns from it


class AttachmentProblem(Record):
    """A receipt that did not reach Xero (written by the attachments worker)."""

    attachment_id: str | None = None
    file_name: str
    message: str
    action: str | None = None


class ExpenseRecord(Record):
    business_id: str
    transaction_id: str
    payment: Payment
    overrides: Overrides = Field(default_factory=Overrides)
    status: ExpenseStatus = ExpenseStatus.PENDING
    # The help centre's "Updated" label: the category, description or receipts changed since the expense was
    # first seen or last synced. Cleared when Xero receives the revision that carries the change.
    updated: bool = False
    # Bumped by every change of what would be sent (ledger changes, user edits); never by status changes.
    revision: int = 1
    # How many times a sync ended for this expense (synced or failed). With ``revision`` it tells a repeated
    # request (a double click) from a new one made after the last sync ended.
    settlements: int = 0
    error: SyncError | None = None
    spend_money: SpendMoneyLink | None = None
    # A create was sent without a definite answer (crash, lost connection, reconnect): look Xero up by the
    # Url marker before creating it again.
    maybe_in_xero: bool = False
    job_id: str | None = None  # the last job that queued it
    queued_at: str | None = None
    attachment_errors: list[AttachmentProblem] = Field(default_factory=list)
    # What the payee's rule and history suggest (below the user's own values, above the mapping).
    suggestion: Suggestion | None = None
    created_at: str
    changed_at: str
    version: int = 0  # optimistic concurrency: every write is conditional on it

    @property
    def tab(self) -> ExpenseTab:
        return tab_of(self.status)

    @property
    def account_id(self) -> str:
        return self.payment.account_id


class SyncOperation(StrEnum):
    CREATE = "create"  # PUT: new Spend Money
    UPDATE = "update"  # POST: the Spend Money of an Updated, already synced expense


class SpendMoneyBatch(Model):
    """The message on ExpenseSyncQueue: up to 50 expenses of one business, one Xero call."""

    kind: Literal["spend_money_batch"] = "spend_money_batch"
    business_id: str
    tenant_id: str
    generation: str  # the connection the job was started on: an ended one's batch is never sent
    job_id: str
    batch: int
    operation: SyncOperation
    transaction_ids: list[str] = Field(min_length=1, max_length=SPEND_MONEY_BATCH_SIZE)


class SpendMoneyPlan(Model):
    """The message on ExpenseSyncQueue that makes a started job's decisions durable and sends its batches."""

    kind: Literal["spend_money_plan"] = "spend_money_plan"
    business_id: str
    tenant_id: str
    generation: str
    job_id: str


class AttachmentUploadRequest(Model):
    """The message on AttachmentsQueue after a Spend Money was created or updated (documented in
    docs/sync-expenses.md and docs/attachments.md)."""

    kind: Literal["expense_attachments"] = "expense_attachments"
    business_id: str
    tenant_id: str
    generation: str  # the connection the Spend Money was synced on: an ended one's receipts are never sent
    account_id: str
    transaction_id: str
    bank_transaction_id: str
    expense_version: int  # the ledger version of the transaction whose receipts are to be in Xero


class SkippedExpense(Model):
    transaction_id: str
    reason: Literal["not_found", "already_queued", "already_synced"]
    message: str


class SyncJobStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    NOT_STARTED = "NOT_STARTED"  # the request failed before any batch was sent; nothing happened


class PlannedBatch(Record):
    operation: SyncOperation
    transaction_ids: list[str]


class SyncJob(Record):
    business_id: str
    job_id: str
    tenant_id: str
    generation: str | None = None  # the connection the job was started on
    created_by: str
    created_at: str
    requested: int  # distinct expenses asked for
    queued: int  # sent to the worker
    rejected: int  # failed validation at once, without a Xero call
    skipped: list[SkippedExpense] = Field(default_factory=list)
    batches_total: int
    # The request's selection, and the expenses it found syncable: being synced from the answer on, until the
    # planner has marked them (docs/sync-expenses.md, "Starting a sync").
    selection: list[str] = Field(default_factory=list)
    queued_ids: list[str] = Field(default_factory=list)
    # The planner's batches, kept so that a redelivered plan sends exactly them again.
    batches: list[PlannedBatch] = Field(default_factory=list)
    planned_at: str | None = None
    dispatched_at: str | None = None
    # Set while a batch waits for Xero (its limits), so the job and its expenses can say why and until when.
    waiting_reason: str | None = None
    waiting_until: str | None = None
    # Written by the worker, one batch at a time (atomic counters, each batch counted once).
    batches_done: int = 0
    synced: int = 0
    failed: int = 0
    failed_ids: list[str] = Field(default_factory=list)
    completed_at: str | None = None
