"""From ledger transactions to Xero bank statements (Bank Feeds API). Pure: no I/O, no clock.

Xero's rules, each honoured here (sources in docs/auto-sync.md):

- start balance plus the lines equals the end balance, or Xero answers 422 ``invalid-end-balance`` [OAS];
- amounts and balances are unsigned, the sign is ``creditDebitIndicator``, CREDIT being money the customer
  holds [OAS];
- the start date is no older than one year, the end date not in the future (422 ``invalid-start-date`` /
  ``invalid-end-date``) [OAS; Airwallex help centre];
- a request body over 3,000,000 bytes is refused with 413 [OAS];
- ``description`` at most 2000 characters, ``payeeName`` and ``reference`` 255, ``transactionType`` 30 [OAS].

Where Xero is silent the limits below are the product's choice (docs/auto-sync.md explains each).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from xerosync.ledger.models import Direction, LedgerTransaction
from xerosync.text import for_xero
from xerosync.xero.bank_feeds import Balance, CreditDebit, Statement, StatementLine

# Xero refuses a POST /Statements body over 3,000,000 bytes [OAS 413 example]. The budget keeps a margin
# for anything the size estimate cannot see (it measures the same compact JSON the transport sends).
XERO_MAX_REQUEST_BYTES = 3_000_000
REQUEST_BYTES_BUDGET = 2_900_000
_ENVELOPE_BYTES = len('{"items":[]}')
# An upper bound of a statement's JSON without its lines (ids, dates, two balances, keys).
_STATEMENT_OVERHEAD_BYTES = 512

# Xero documents no maximum of lines per statement. 1000 is the most Codat, a Xero bank-feeds partner,
# writes to Xero at a time ("A maximum of 1000 transactions can be written at a time").
MAX_LINES_PER_STATEMENT = 1000
# Xero documents no maximum of statements per request either; 50 is the batch size Xero recommends for the
# Accounting API [OldLimits]. The byte budget usually binds first.
MAX_STATEMENTS_PER_REQUEST = 50
# Xero takes statement lines from the last 365 days only [OAS; Airwallex]. A day of margin absorbs the
# difference between the bank's booking day and the organisation's own time zone.
MAX_STATEMENT_AGE_DAYS = 365
AGE_MARGIN_DAYS = 1

DESCRIPTION_MAX = 2000
PAYEE_MAX = 255
REFERENCE_MAX = 255
TRANSACTION_TYPE_MAX = 30

# The ledger's transaction types (docs/ledger-contract.md) as a person reads them in Xero.
TYPE_LABELS = {
    "TRANSFER": "Transfer", "CARD": "Card payment", "FEE": "Bank fee", "FX": "Currency exchange",
    "INTEREST": "Interest", "DIRECT_DEBIT": "Direct debit", "PAYROLL": "Payroll",
}


@dataclass(frozen=True)
class StatementLimits:
    max_lines: int = MAX_LINES_PER_STATEMENT
    max_request_bytes: int = REQUEST_BYTES_BUDGET
    max_statements_per_request: int = MAX_STATEMENTS_PER_REQUEST
    max_age_days: int = MAX_STATEMENT_AGE_DAYS
    age_margin_days: int = AGE_MARGIN_DAYS

    @property
    def max_statement_bytes(self) -> int:
        return self.max_request_bytes - _ENVELOPE_BYTES

    def earliest_day(self, today: date) -> date:
        return today - timedelta(days=self.max_age_days - self.age_margin_days)


@dataclass(frozen=True)
class BookingCalendar:
    """The bank's booking day: the date a customer sees on a transaction (the ledger's times are UTC)."""

    utc_offset_minutes: int = 480

    def day_of(self, moment: datetime) -> date:
        return (moment.astimezone(UTC) + timedelta(minutes=self.utc_offset_minutes)).date()


def json_size(value: Any) -> int:
    """Bytes of ``value`` as the transport sends it (compact JSON, ASCII-escaped)."""
    return len(json.dumps(value, separators=(",", ":")))


def balance_of(amount: Decimal) -> Balance:
    """A signed balance as Xero wants it: unsigned amount, CREDIT when the customer holds money."""
    return Balance(amount=abs(amount), credit_debit_indicator=CreditDebit.CREDIT if amount >= 0 else CreditDebit.DEBIT)


def signed(balance: Balance) -> Decimal:
    return balance.amount if balance.credit_debit_indicator == CreditDebit.CREDIT else -balance.amount


def _clip(text: str, limit: int) -> str | None:
    # Xero shows one line: newlines and runs of spaces only cost bytes, control and text-direction characters
    # go (docs/http-api.md "Text sent to Xero").
    return for_xero(text, limit) or None


def statement_line(transaction: LedgerTransaction, calendar: BookingCalendar, not_before: date | None = None
                   ) -> StatementLine:
    """The transaction as a statement line, dated its booking day, or ``not_before`` if that is later (a
    posting booked with an earlier date after later lines went: docs/auto-sync.md, "Out-of-order postings")."""
    label = TYPE_LABELS.get(transaction.type, transaction.type.replace("_", " ").title())
    day = calendar.day_of(transaction.posted_at)
    # A line without any text is unreadable in Xero's reconciliation screen: fall back to what is known.
    description = (transaction.description or transaction.reference or transaction.counterparty.name or label)
    return StatementLine(
        posted_date=max(day, not_before) if not_before is not None else day,
        description=_clip(description, DESCRIPTION_MAX),
        amount=transaction.amount,
        credit_debit_indicator=CreditDebit.CREDIT if transaction.direction == Direction.CREDIT else CreditDebit.DEBIT,
        transaction_id=transaction.transaction_id,  # Xero's duplicate detection key [OAS]
        payee_name=_clip(transaction.counterparty.name, PAYEE_MAX),
        reference=_clip(transaction.reference, REFERENCE_MAX),
        transaction_type=_clip(label, TRANSACTION_TYPE_MAX),
    )


@dataclass(frozen=True)
class PlannedStatement:
    """One statement for one feed, with the ledger range it covers and its exact size on the wire."""

    statement: Statement
    first_sequence: int
    last_sequence: int
    size_bytes: int

    @property
    def feed_connection_id(self) -> str:
        return self.statement.feed_connection_id

    @property
    def line_count(self) -> int:
        return len(self.statement.statement_lines)

    @property
    def start_balance(self) -> Decimal:
        assert self.statement.start_balance is not None
        return signed(self.statement.start_balance)

    @property
    def end_balance(self) -> Decimal:
        assert self.statement.end_balance is not None
        return signed(self.statement.end_balance)

    @property
    def start_date(self) -> date:
        assert self.statement.start_date is not None
        return self.statement.start_date

    @property
    def end_date(self) -> date:
        assert self.statement.end_date is not None
        return self.statement.end_date


@dataclass
class StatementPlan:
    statements: list[PlannedStatement] = field(default_factory=list)
    # Lines Xero cannot take (older than its one-year window, or before the chosen backfill start): the
    # last one's sequence and the balance after it, so that the cursor can move past them.
    skipped: int = 0
    skipped_through: tuple[int, Decimal] | None = None
    # The read stopped at ``max_lines`` with possibly more to come.
    more: bool = False

    @property
    def line_count(self) -> int:
        return sum(s.line_count for s in self.statements)


@dataclass
class _Chunk:
    transactions: list[LedgerTransaction] = field(default_factory=list)
    lines: list[StatementLine] = field(default_factory=list)
    line_bytes: int = 0


class StatementBuilder:
    def __init__(self, limits: StatementLimits | None = None, calendar: BookingCalendar | None = None) -> None:
        self.limits = limits or StatementLimits()
        self.calendar = calendar or BookingCalendar()

    def plan(self, feed_connection_id: str, transactions: Iterable[LedgerTransaction], *, today: date,
             not_before: date | None = None, max_lines: int | None = None,
             dated_through: date | None = None) -> StatementPlan:
        """Statements for ``transactions`` (in ledger order, after the feed's cursor).

        Lines go in ledger order with dates that never go back: a line booked before a line already sent (or
        before ``dated_through``, the latest date the feed has sent) is dated as that latest date, so that no
        line is older than the newest Xero already holds and every balance still adds up.

        Lines dated before Xero's one-year window or before ``not_before`` (the backfill start) are skipped
        while they lead; lines dated after ``today`` stop the read (Xero refuses a future end date). A
        statement closes at ``max_lines`` lines, at the byte budget, or where the ledger's running balance
        does not continue (so every statement adds up on its own).
        """
        cutoff = self.limits.earliest_day(today)
        if not_before is not None and not_before > cutoff:
            cutoff = not_before
        plan = StatementPlan()
        chunk = _Chunk()
        taken = 0
        floor = dated_through
        for transaction in transactions:
            day = self.calendar.day_of(transaction.posted_at)
            if not taken and day < cutoff:
                plan.skipped += 1
                plan.skipped_through = (transaction.sequence, transaction.running_balance)
                continue
            if day > today:
                break
            if max_lines is not None and taken >= max_lines:
                plan.more = True
                break
            line = statement_line(transaction, self.calendar, floor)
            floor = line.posted_date
            size = json_size(line.to_xero()) + 1
            if chunk.transactions and (
                len(chunk.lines) >= self.limits.max_lines
                or _STATEMENT_OVERHEAD_BYTES + chunk.line_bytes + size > self.limits.max_statement_bytes
                or chunk.transactions[-1].running_balance != transaction.balance_before
            ):
                plan.statements.append(self._close(feed_connection_id, chunk))
                chunk = _Chunk()
            chunk.transactions.append(transaction)
            chunk.lines.append(line)
            chunk.line_bytes += size
            taken += 1
        if chunk.transactions:
            plan.statements.append(self._close(feed_connection_id, chunk))
        return plan

    def rebuild(self, feed_connection_id: str, transactions: Sequence[LedgerTransaction],
                start_date: date | None = None) -> PlannedStatement:
        """Exactly one statement of exactly these lines (a statement sent before whose answer was lost), its
        lines dated as ``plan`` dated them: from its recorded ``start_date`` on, never going back."""
        if not transactions:
            raise ValueError("a statement needs at least one line")
        lines: list[StatementLine] = []
        floor = start_date
        for transaction in transactions:
            lines.append(statement_line(transaction, self.calendar, floor))
            floor = lines[-1].posted_date
        return self._close(feed_connection_id, _Chunk(list(transactions), lines))

    def _close(self, feed_connection_id: str, chunk: _Chunk) -> PlannedStatement:
        first, last = chunk.transactions[0], chunk.transactions[-1]
        days = [line.posted_date for line in chunk.lines]
        statement = Statement(
            feed_connection_id=feed_connection_id, start_date=min(days), end_date=max(days),
            start_balance=balance_of(first.balance_before), end_balance=balance_of(last.running_balance),
            statement_lines=chunk.lines,
        )
        return PlannedStatement(statement=statement, first_sequence=first.sequence, last_sequence=last.sequence,
                                size_bytes=json_size(statement.to_xero()))


T = TypeVar("T")


def pack_requests(items: Sequence[T], size_of: Callable[[T], int], limits: StatementLimits | None = None
                  ) -> list[list[T]]:
    """Consecutive groups of ``items`` (order kept) that each fit one POST /Statements: as few as the byte
    budget and the statement count allow."""
    limits = limits or StatementLimits()
    requests: list[list[T]] = []
    current: list[T] = []
    size = _ENVELOPE_BYTES
    for item in items:
        extra = size_of(item) + (1 if current else 0)
        if current and (len(current) >= limits.max_statements_per_request or size + extra > limits.max_request_bytes):
            requests.append(current)
            current, size = [], _ENVELOPE_BYTES
            extra = size_of(item)
        current.append(item)
        size += extra
    if current:
        requests.append(current)
    return requests
