"""The ledger contract's shapes (docs/ledger-contract.md). Money is Decimal, times are aware UTC."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import ConfigDict, Field

from xerosync.model import Model


class Direction(StrEnum):
    CREDIT = "CREDIT"  # money in, from the account holder's side
    DEBIT = "DEBIT"  # money out


class LedgerModel(Model):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BusinessProfile(LedgerModel):
    business_id: str
    legal_name: str
    incorporation_country: str


class LedgerAccount(LedgerModel):
    account_id: str
    business_id: str
    currency: str
    account_number: str
    name: str
    status: str = "ACTIVE"
    opened_at: datetime | None = None


class Counterparty(LedgerModel):
    name: str = ""
    account_number: str = ""


class AttachmentMeta(LedgerModel):
    attachment_id: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str


class LedgerTransaction(LedgerModel):
    transaction_id: str
    account_id: str
    business_id: str
    sequence: int
    posted_at: datetime
    amount: Decimal
    direction: Direction
    currency: str
    running_balance: Decimal
    counterparty: Counterparty = Field(default_factory=Counterparty)
    reference: str = ""
    description: str = ""
    type: str = "TRANSFER"
    spend_category: str | None = None
    attachments: list[AttachmentMeta] = Field(default_factory=list)
    version: int = 1
    updated_at: datetime | None = None

    @property
    def signed_amount(self) -> Decimal:
        return self.amount if self.direction == Direction.CREDIT else -self.amount

    @property
    def balance_before(self) -> Decimal:
        return self.running_balance - self.signed_amount


class TransactionPage(LedgerModel):
    transactions: list[LedgerTransaction]
    has_more: bool
    next_after_sequence: int | None = None
