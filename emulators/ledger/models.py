"""The ledger's resources as the contract (docs/ledger-contract.md) describes them, and their JSON shapes.

Money is held as integer minor units so that running balances add up exactly; it becomes a decimal string
only at the edge. Times are whole epoch seconds because the contract's timestamps have second precision:
storing more would let ``posted_from`` filtering disagree with what a caller sees.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from emulators.ledger.receipts import ReceiptSource

Direction = Literal["CREDIT", "DEBIT"]
AccountStatus = Literal["ACTIVE", "CLOSED"]

DIRECTIONS: tuple[str, ...] = ("CREDIT", "DEBIT")
ACCOUNT_STATUSES: tuple[str, ...] = ("ACTIVE", "CLOSED")
# The contract's closed lists.
TRANSACTION_TYPES: tuple[str, ...] = ("TRANSFER", "CARD", "FEE", "FX", "INTEREST", "DIRECT_DEBIT", "PAYROLL")
SPEND_CATEGORIES: tuple[str, ...] = (
    "advertising",
    "bank_fees",
    "entertainment",
    "office_supplies",
    "professional_services",
    "rent",
    "software",
    "travel",
    "utilities",
    "payroll",
    "other",
)
# ISO 4217 minor units of the currencies the bank offers (the product syncs HKD, CNY, USD and SGD accounts)
# plus a few that let a test exercise a currency without cents.
CURRENCY_MINOR_UNITS: dict[str, int] = {
    "HKD": 2,
    "CNY": 2,
    "USD": 2,
    "SGD": 2,
    "EUR": 2,
    "GBP": 2,
    "AUD": 2,
    "JPY": 0,
}
# Contract limits on account fields.
ACCOUNT_NUMBER_MAX = 34
ACCOUNT_NAME_MAX = 60

_COUNTRY = re.compile(r"^[A-Z]{2}$")


class Clock(Protocol):
    """What the emulator needs of ``emulators.time_control``'s clocks."""

    def time(self) -> float: ...


class LedgerError(Exception):
    """A failure the HTTP layer turns into the contract's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def invalid(message: str) -> LedgerError:
    return LedgerError(400, "invalid_request", message)


# ---------------------------------------------------------------------------------------------- money


def minor_units(currency: str) -> int:
    try:
        return CURRENCY_MINOR_UNITS[currency]
    except KeyError:
        raise invalid(f"Unsupported currency {currency!r}.") from None


def format_money(amount_minor: int, currency: str) -> str:
    """``123456`` HKD -> ``"1234.56"``; negative balances keep their sign."""
    digits = minor_units(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"


def parse_amount(value: str | int | Decimal, currency: str) -> int:
    """A positive amount in major units (string, int or Decimal, never float) -> minor units.

    Rejects more decimals than the currency has, rather than rounding, because a silent rounding would make
    the emulator disagree with what its caller asked to post.
    """
    if isinstance(value, float):
        raise invalid("Amounts are decimal strings, not floats.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise invalid(f"Amount {value!r} is not a decimal number.") from None
    if not amount.is_finite() or amount <= 0:
        raise invalid(f"Amount {value!r} must be a positive number.")
    digits = minor_units(currency)
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise invalid(f"Amount {value!r} has more than {digits} decimals for {currency}.")
    return int(scaled)


# ---------------------------------------------------------------------------------------------- time


def format_time(epoch_seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def parse_time(value: str) -> int:
    """ISO 8601 with an explicit zone (the contract writes ``Z``) -> epoch seconds."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid(f"{value!r} is not an ISO 8601 time.") from None
    if parsed.tzinfo is None:
        raise invalid(f"{value!r} has no time zone; the ledger's times are UTC with a Z.")
    return int(parsed.timestamp())


def parse_date_start(value: str) -> int:
    """``YYYY-MM-DD`` -> epoch seconds of that day's 00:00:00Z (``posted_from`` is a date)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise invalid(f"posted_from {value!r} is not a date (YYYY-MM-DD).")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise invalid(f"posted_from {value!r} is not a valid date.") from None
    return calendar.timegm(day.timetuple())


def validate_country(value: str) -> str:
    if not _COUNTRY.match(value):
        raise invalid(f"incorporation_country {value!r} is not an ISO 3166-1 alpha-2 code.")
    return value


# ---------------------------------------------------------------------------------------------- resources


@dataclass(frozen=True, slots=True)
class Business:
    business_id: str
    legal_name: str
    incorporation_country: str

    def to_json(self) -> dict[str, Any]:
        return {
            "business_id": self.business_id,
            "legal_name": self.legal_name,
            "incorporation_country": self.incorporation_country,
        }


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    business_id: str
    currency: str
    account_number: str
    name: str
    status: str
    opened_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "business_id": self.business_id,
            "currency": self.currency,
            "account_number": self.account_number,
            "name": self.name,
            "status": self.status,
            "opened_at": format_time(self.opened_at),
        }


@dataclass(frozen=True, slots=True)
class Counterparty:
    name: str = ""
    account_number: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "account_number": self.account_number}


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata plus a source that produces the bytes on demand (see ``receipts``)."""

    attachment_id: str
    file_name: str
    content_type: str
    source: ReceiptSource

    @property
    def size_bytes(self) -> int:
        return self.source.size_bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "attachment_id": self.attachment_id,
            "file_name": self.file_name,
            "content_type": self.content_type,
            "size_bytes": self.source.size_bytes,
            # Computed from the very bytes the attachment endpoint serves, on first use and then cached.
            "sha256": self.source.sha256(),
        }


@dataclass(frozen=True, slots=True)
class Transaction:
    """Immutable: an update replaces the object, so a reader holding one never sees half a change."""

    transaction_id: str
    account_id: str
    business_id: str
    sequence: int
    posted_at: int
    amount_minor: int
    direction: str
    currency: str
    running_balance_minor: int
    counterparty: Counterparty
    reference: str
    description: str
    type: str
    spend_category: str | None
    attachments: tuple[Attachment, ...]
    version: int
    updated_at: int

    @property
    def amount(self) -> str:
        return format_money(self.amount_minor, self.currency)

    @property
    def running_balance(self) -> str:
        return format_money(self.running_balance_minor, self.currency)

    def attachment(self, attachment_id: str) -> Attachment | None:
        return next((a for a in self.attachments if a.attachment_id == attachment_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "account_id": self.account_id,
            "business_id": self.business_id,
            "sequence": self.sequence,
            "posted_at": format_time(self.posted_at),
            "amount": self.amount,
            "direction": self.direction,
            "currency": self.currency,
            "running_balance": self.running_balance,
            "counterparty": self.counterparty.to_json(),
            "reference": self.reference,
            "description": self.description,
            "type": self.type,
            "spend_category": self.spend_category,
            "attachments": [a.to_json() for a in self.attachments],
            "version": self.version,
            "updated_at": format_time(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class TransactionPage:
    transactions: tuple[Transaction, ...]
    has_more: bool

    @property
    def next_after_sequence(self) -> int | None:
        # The contract: the sequence of the last transaction returned, null when none were.
        return self.transactions[-1].sequence if self.transactions else None

    def to_json(self) -> dict[str, Any]:
        return {
            "transactions": [t.to_json() for t in self.transactions],
            "has_more": self.has_more,
            "next_after_sequence": self.next_after_sequence,
        }


@dataclass(frozen=True, slots=True)
class ReceiptSpec:
    """What to attach: a file name and content type as the customer uploaded them, and the bytes' source."""

    file_name: str
    content_type: str
    source: ReceiptSource


@dataclass(frozen=True, slots=True)
class TransactionDraft:
    """A posting before the ledger gives it an id, a sequence and a balance."""

    amount_minor: int
    direction: str
    type: str = "TRANSFER"
    counterparty: Counterparty = field(default_factory=Counterparty)
    reference: str = ""
    description: str = ""
    spend_category: str | None = None
    receipts: tuple[ReceiptSpec, ...] = ()
    posted_at: int | None = None
    transaction_id: str | None = None
    # Attachment ids for ``receipts``, for deterministic seeding; generated when absent.
    attachment_ids: tuple[str, ...] = ()
