"""Typed shapes of the Bank Feeds objects the product reads and writes (Xero OpenAPI 16.1.0): camelCase names on
the wire, snake_case in Python. Only the functions that call Bank Feeds (connect, auto-sync) import them
(docs/architecture.md, "Cold start")."""

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from xerosync.model import Model
from xerosync.xero.models import Money, XeroDate


class BankFeedsModel(Model):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_xero(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class CreditDebit(StrEnum):
    CREDIT = "CREDIT"
    DEBIT = "DEBIT"


class Problem(BankFeedsModel):
    """Bank Feeds' problem details (application/problem+json)."""

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None


class FeedConnection(BankFeedsModel):
    id: str | None = None
    account_token: str | None = None
    account_number: str | None = None
    account_name: str | None = None
    account_id: str | None = None
    account_type: str | None = None
    currency: str | None = None
    country: str | None = None
    status: str | None = None
    error: Problem | None = None


class Balance(BankFeedsModel):
    amount: Money
    credit_debit_indicator: CreditDebit


class StatementLine(BankFeedsModel):
    posted_date: XeroDate
    description: str | None = None
    amount: Money
    credit_debit_indicator: CreditDebit
    transaction_id: str
    payee_name: str | None = None
    reference: str | None = None
    cheque_number: str | None = None
    transaction_type: str | None = None


class Statement(BankFeedsModel):
    id: str | None = None
    feed_connection_id: str
    status: str | None = None
    start_date: XeroDate | None = None
    end_date: XeroDate | None = None
    start_balance: Balance | None = None
    end_balance: Balance | None = None
    statement_lines: list[StatementLine] = Field(default_factory=list)
    statement_line_count: int | None = None
    errors: list[Problem] = Field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """Xero holds every line: DELIVERED, or refused as a duplicate of lines it already has."""
        return self.status == "DELIVERED" or any(p.type == "duplicate-statement" for p in self.errors)
