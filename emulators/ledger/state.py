"""The ledger's state and the rules that keep it consistent: sequences, running balances, versions, events.

One re-entrant lock guards everything. Readers take a snapshot (transactions are immutable, a page is a
tuple) under the lock and serialise it outside, so hashing a large receipt never blocks a posting.
"""

from __future__ import annotations

import threading
import uuid
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from emulators.ledger.events import (
    TRACKED_FIELDS,
    TRANSACTION_POSTED,
    TRANSACTION_UPDATED,
    LedgerEvent,
    event_detail,
)
from emulators.ledger.models import (
    ACCOUNT_NAME_MAX,
    ACCOUNT_NUMBER_MAX,
    ACCOUNT_STATUSES,
    DIRECTIONS,
    SPEND_CATEGORIES,
    TRANSACTION_TYPES,
    Account,
    Attachment,
    Business,
    Clock,
    LedgerError,
    ReceiptSpec,
    Transaction,
    TransactionDraft,
    TransactionPage,
    invalid,
    minor_units,
    validate_country,
)

MAX_PAGE_LIMIT = 500  # the contract's ``limit`` range is 1..500
DEFAULT_PAGE_LIMIT = 100


class Unset(Enum):
    """Marks an update field the caller did not send (``None`` is a real value for ``spend_category``)."""

    UNSET = "UNSET"


UNSET = Unset.UNSET


@dataclass(frozen=True, slots=True)
class TransactionChanges:
    """One update of a transaction; all of it applies with a single version bump and a single event."""

    spend_category: str | Unset | None = UNSET
    description: str | Unset = UNSET
    add_attachments: tuple[ReceiptSpec, ...] = ()
    remove_attachment_ids: tuple[str, ...] = ()
    # (attachment_id to replace, new receipt); the new receipt takes the old one's place in the list
    replace_attachments: tuple[tuple[str, ReceiptSpec], ...] = ()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def not_found(kind: str, identifier: str) -> LedgerError:
    return LedgerError(404, f"{kind}_not_found", f"No {kind.replace('_', ' ')} {identifier!r}.")


class LedgerState:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Re-entrant so a caller (the generator, the emulator) can hold it across a read of the balance and
        # the postings that depend on it.
        self.lock = threading.RLock()
        self._businesses: dict[str, Business] = {}
        self._accounts: dict[str, Account] = {}
        self._accounts_by_business: dict[str, list[str]] = {}
        self._transactions: dict[str, list[Transaction]] = {}
        self._posted_at: dict[str, list[int]] = {}  # per account, parallel to _transactions, for bisect
        self._balances: dict[str, int] = {}
        # transaction_id -> (account_id, sequence); a sequence never changes, so it locates the transaction.
        self._transaction_index: dict[str, tuple[str, int]] = {}
        self._events: list[LedgerEvent] = []

    def reset(self) -> None:
        with self.lock:
            self._businesses.clear()
            self._accounts.clear()
            self._accounts_by_business.clear()
            self._transactions.clear()
            self._posted_at.clear()
            self._balances.clear()
            self._transaction_index.clear()
            self._events.clear()

    def now(self) -> int:
        return int(self.clock.time())

    # ------------------------------------------------------------------------------------------ reads

    def list_businesses(self) -> list[Business]:
        with self.lock:
            return list(self._businesses.values())

    def get_business(self, business_id: str) -> Business:
        with self.lock:
            business = self._businesses.get(business_id)
        if business is None:
            raise not_found("business", business_id)
        return business

    def list_accounts(self, business_id: str) -> list[Account]:
        with self.lock:
            self.get_business(business_id)
            return [self._accounts[a] for a in self._accounts_by_business[business_id]]

    def get_account(self, account_id: str) -> Account:
        with self.lock:
            account = self._accounts.get(account_id)
        if account is None:
            raise not_found("account", account_id)
        return account

    def balance(self, account_id: str) -> int:
        """The account's balance in minor units (the last posting's running balance; 0 before any)."""
        with self.lock:
            self.get_account(account_id)
            return self._balances[account_id]

    def transaction_count(self, account_id: str) -> int:
        with self.lock:
            self.get_account(account_id)
            return len(self._transactions[account_id])

    def last_posted_at(self, account_id: str) -> int | None:
        with self.lock:
            self.get_account(account_id)
            stamps = self._posted_at[account_id]
            return stamps[-1] if stamps else None

    def list_transactions(
        self,
        account_id: str,
        after_sequence: int = 0,
        limit: int = DEFAULT_PAGE_LIMIT,
        posted_from: int | None = None,
    ) -> TransactionPage:
        """The contract's page: sequence > ``after_sequence``, posted at or after ``posted_from`` (epoch s)."""
        if after_sequence < 0:
            raise invalid("after_sequence must be 0 or more.")
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise invalid(f"limit must be between 1 and {MAX_PAGE_LIMIT}.")
        with self.lock:
            self.get_account(account_id)
            transactions = self._transactions[account_id]
            # Sequence n sits at index n - 1, so the first transaction after ``after_sequence`` is at that index.
            start = min(after_sequence, len(transactions))
            if posted_from is not None:
                # posted_at never decreases along an account (see ``post``), so a bisect finds the first match.
                start = max(start, bisect_left(self._posted_at[account_id], posted_from))
            page = tuple(transactions[start : start + limit])
            return TransactionPage(transactions=page, has_more=start + limit < len(transactions))

    def get_transaction(self, account_id: str, transaction_id: str) -> Transaction:
        with self.lock:
            self.get_account(account_id)
            owner, sequence = self._transaction_index.get(transaction_id, ("", 0))
            if owner != account_id:
                raise not_found("transaction", transaction_id)
            return self._transactions[account_id][sequence - 1]

    def get_attachment(self, account_id: str, transaction_id: str, attachment_id: str) -> Attachment:
        attachment = self.get_transaction(account_id, transaction_id).attachment(attachment_id)
        if attachment is None:
            raise not_found("attachment", attachment_id)
        return attachment

    def events(self, after: int = 0, detail_type: str | None = None) -> list[LedgerEvent]:
        """Recorded events with ``index >= after``."""
        with self.lock:
            selected = self._events[max(after, 0) :]
        return [e for e in selected if detail_type in (None, e.detail_type)]

    # ------------------------------------------------------------------------------------------ writes

    def add_business(self, business: Business) -> Business:
        validate_country(business.incorporation_country)
        if not business.legal_name.strip():
            raise invalid("legal_name must not be empty.")
        with self.lock:
            if business.business_id in self._businesses:
                raise invalid(f"Business {business.business_id!r} already exists.")
            self._businesses[business.business_id] = business
            self._accounts_by_business[business.business_id] = []
        return business

    def add_account(self, account: Account) -> Account:
        minor_units(account.currency)
        if account.status not in ACCOUNT_STATUSES:
            raise invalid(f"status must be one of {', '.join(ACCOUNT_STATUSES)}.")
        if not account.account_number or len(account.account_number) > ACCOUNT_NUMBER_MAX:
            raise invalid(f"account_number must have 1 to {ACCOUNT_NUMBER_MAX} characters.")
        if not account.name or len(account.name) > ACCOUNT_NAME_MAX:
            raise invalid(f"name must have 1 to {ACCOUNT_NAME_MAX} characters.")
        with self.lock:
            self.get_business(account.business_id)
            if account.account_id in self._accounts:
                raise invalid(f"Account {account.account_id!r} already exists.")
            self._accounts[account.account_id] = account
            self._accounts_by_business[account.business_id].append(account.account_id)
            self._transactions[account.account_id] = []
            self._posted_at[account.account_id] = []
            self._balances[account.account_id] = 0
        return account

    def set_account_status(self, account_id: str, status: str) -> Account:
        if status not in ACCOUNT_STATUSES:
            raise invalid(f"status must be one of {', '.join(ACCOUNT_STATUSES)}.")
        with self.lock:
            account = replace(self.get_account(account_id), status=status)
            self._accounts[account_id] = account
            return account

    def post(
        self, account_id: str, draft: TransactionDraft, *, emit: bool = True
    ) -> tuple[Transaction, list[LedgerEvent]]:
        """Append a posting: next sequence, running balance, version 1, and a ``TransactionPosted`` event."""
        _validate_draft(draft)
        with self.lock:
            account = self.get_account(account_id)
            if account.status != "ACTIVE":
                raise LedgerError(400, "account_closed", f"Account {account_id!r} is closed.")
            last = self._posted_at[account_id][-1] if self._posted_at[account_id] else None
            if draft.posted_at is None:
                # A ledger's posting times never go backwards within an account; a clock set behind the seeded
                # history (a ManualClock in a test) posts at the last posting's second instead.
                posted_at = max(self.now(), last or 0)
            else:
                posted_at = draft.posted_at
                if last is not None and posted_at < last:
                    raise invalid("posted_at is earlier than the account's last posting; postings are never reordered.")
            transaction_id = draft.transaction_id or new_id("txn")
            if transaction_id in self._transaction_index:
                raise invalid(f"Transaction {transaction_id!r} already exists.")
            sign = 1 if draft.direction == "CREDIT" else -1
            balance = self._balances[account_id] + sign * draft.amount_minor
            txn = Transaction(
                transaction_id=transaction_id,
                account_id=account_id,
                business_id=account.business_id,
                sequence=len(self._transactions[account_id]) + 1,
                posted_at=posted_at,
                amount_minor=draft.amount_minor,
                direction=draft.direction,
                currency=account.currency,
                running_balance_minor=balance,
                counterparty=draft.counterparty,
                reference=draft.reference,
                description=draft.description,
                type=draft.type,
                spend_category=draft.spend_category,
                attachments=_attachments(draft.receipts, draft.attachment_ids),
                version=1,
                updated_at=posted_at,
            )
            self._transactions[account_id].append(txn)
            self._posted_at[account_id].append(posted_at)
            self._balances[account_id] = balance
            self._transaction_index[transaction_id] = (account_id, txn.sequence)
            events = [self._record(TRANSACTION_POSTED, txn, (), posted_at)] if emit else []
            return txn, events

    def update(
        self, account_id: str, transaction_id: str, changes: TransactionChanges
    ) -> tuple[Transaction, list[LedgerEvent]]:
        """Apply ``changes``; when anything actually changed, bump ``version`` once and record one event.

        A change to the same value is not a change: no version bump, no event (a consumer comparing versions
        would otherwise re-sync for nothing).
        """
        with self.lock:
            txn = self.get_transaction(account_id, transaction_id)
            values: dict[str, Any] = {}
            if not isinstance(changes.spend_category, Unset):
                category = changes.spend_category
                if category is not None and category not in SPEND_CATEGORIES:
                    raise invalid(f"spend_category must be one of {', '.join(SPEND_CATEGORIES)} or null.")
                if category is not None and txn.direction == "CREDIT":
                    raise invalid("A credit has no spend_category (the contract: null for credits).")
                if category != txn.spend_category:
                    values["spend_category"] = category
            if not isinstance(changes.description, Unset) and changes.description != txn.description:
                values["description"] = changes.description
            attachments = _changed_attachments(txn.attachments, changes)
            if attachments != txn.attachments:
                values["attachments"] = attachments
            if not values:
                return txn, []
            updated_at = max(self.now(), txn.updated_at)
            updated = replace(txn, version=txn.version + 1, updated_at=updated_at, **values)
            transactions = self._transactions[account_id]
            transactions[updated.sequence - 1] = updated
            changed = [name for name in TRACKED_FIELDS if name in values]
            return updated, [self._record(TRANSACTION_UPDATED, updated, changed, updated_at)]

    def _record(self, detail_type: str, txn: Transaction, changed: Sequence[str], occurred_at: int) -> LedgerEvent:
        event = LedgerEvent(len(self._events), detail_type, event_detail(txn, changed, occurred_at))
        self._events.append(event)
        return event


def _validate_draft(draft: TransactionDraft) -> None:
    if draft.direction not in DIRECTIONS:
        raise invalid(f"direction must be one of {', '.join(DIRECTIONS)}.")
    if draft.type not in TRANSACTION_TYPES:
        raise invalid(f"type must be one of {', '.join(TRANSACTION_TYPES)}.")
    if draft.amount_minor <= 0:
        raise invalid("amount must be positive.")
    if draft.spend_category is not None:
        if draft.spend_category not in SPEND_CATEGORIES:
            raise invalid(f"spend_category must be one of {', '.join(SPEND_CATEGORIES)} or null.")
        if draft.direction == "CREDIT":
            raise invalid("A credit has no spend_category (the contract: null for credits).")
    if draft.attachment_ids and len(draft.attachment_ids) != len(draft.receipts):
        raise invalid("attachment_ids must match receipts one to one.")
    for spec in draft.receipts:
        _validate_receipt(spec)


def _validate_receipt(spec: ReceiptSpec) -> None:
    # The file name is the customer's and deliberately not sanitised (``../../etc/passwd.pdf`` is a test
    # case); only what would break HTTP headers or JSON is refused.
    if not spec.file_name or len(spec.file_name) > 255:
        raise invalid("file_name must have 1 to 255 characters.")
    if not spec.content_type or not all(32 <= ord(c) < 127 for c in spec.content_type):
        raise invalid("content_type must be printable ASCII.")


def _attachments(receipts: Sequence[ReceiptSpec], ids: Sequence[str]) -> tuple[Attachment, ...]:
    chosen = list(ids) or [new_id("att") for _ in receipts]
    if len(set(chosen)) != len(chosen):
        raise invalid("attachment ids must be unique.")
    return tuple(
        Attachment(attachment_id=attachment_id, file_name=s.file_name, content_type=s.content_type, source=s.source)
        for attachment_id, s in zip(chosen, receipts, strict=True)
    )


def _changed_attachments(current: tuple[Attachment, ...], changes: TransactionChanges) -> tuple[Attachment, ...]:
    by_id = {a.attachment_id for a in current}
    for attachment_id in (*changes.remove_attachment_ids, *(old for old, _ in changes.replace_attachments)):
        if attachment_id not in by_id:
            raise not_found("attachment", attachment_id)
    for spec in (*changes.add_attachments, *(new for _, new in changes.replace_attachments)):
        _validate_receipt(spec)
    # A replacement gets a new attachment_id: ids name immutable bytes, so a consumer that cached a file by id
    # never serves stale content.
    replacements = {old: _attachments([new], [])[0] for old, new in changes.replace_attachments}
    removed = set(changes.remove_attachment_ids)
    kept = [replacements.get(a.attachment_id, a) for a in current if a.attachment_id not in removed]
    return (*kept, *_attachments(changes.add_attachments, []))
