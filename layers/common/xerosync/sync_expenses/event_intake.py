"""Expense records from the ledger's events (docs/ledger-contract.md, Events).

Every outbound payment (DEBIT) of a linked account becomes a PENDING expense; a later change of its
category, description or receipts sets Updated, before and after it was synced. Events arrive at least once
and possibly out of order: the event's ``version`` is compared with what the expense already holds, and the
transaction itself is read for the current values, so a late or repeated event changes nothing.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pydantic import Field

from xerosync.clock import Clock, iso, utc_now
from xerosync.errors import NotFound
from xerosync.ledger.models import Direction, LedgerTransaction
from xerosync.model import Model
from xerosync.observability import logger
from xerosync.store.feeds import FeedRecord
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.models import ExpenseRecord
from xerosync.sync_expenses.store import ExpenseStore
from xerosync.sync_expenses.suggestion_store import Suggestions

LEDGER_SOURCE = "bank.ledger"
DETAIL_TYPES = frozenset({"TransactionPosted", "TransactionUpdated"})

# An event that fails on its last delivery is parked this long (functions/sync_expenses/ledger_events.py), then
# comes back as a fresh message with all its deliveries again; this many times, after which it goes to the
# dead-letter queue (its alarm): an event that fails that often is not meeting a passing error. The count travels
# in the parked event's envelope, under PARKS_KEY (docs/sync-expenses.md, "Ledger events that fail").
LAST_DELIVERY_PARKS = 3
LAST_DELIVERY_PARK_SECONDS = 900
PARKS_KEY = "xerosync_parks"


class TransactionEvent(Model):
    """The ``detail`` of a ledger event."""

    business_id: str
    account_id: str
    transaction_id: str
    sequence: int
    direction: Direction
    version: int
    changed: list[str] = Field(default_factory=list)
    occurred_at: str | None = None

    @property
    def is_posting(self) -> bool:
        """A TransactionPosted event (version 1, nothing changed yet)."""
        return self.version == 1 and not self.changed


class EventOutcome(StrEnum):
    CREATED = "created"
    REFRESHED = "refreshed"
    STALE = "stale"  # the expense already holds this version or a newer one
    NOT_AN_EXPENSE = "not_an_expense"  # a credit, or a payment of an account that is not linked
    GONE = "gone"  # the ledger no longer knows the transaction


class TransactionSource(Protocol):
    def transaction(self, account_id: str, transaction_id: str) -> LedgerTransaction: ...


class FeedLookup(Protocol):
    def get(self, business_id: str, account_id: str) -> FeedRecord | None: ...


# A live link is remembered this long (an unlink reaches the consumer within it; an expense made meanwhile
# is harmless: a known expense keeps following its payment anyway). "Not linked" is never remembered: a
# payment made just after its account was linked must become an expense.
FEED_CACHE_SECONDS = 60.0


@dataclass
class LedgerEventConsumer:
    expenses: ExpenseStore
    feeds: FeedLookup
    ledger: TransactionSource
    clock: Clock
    suggestions: Suggestions | None = None  # what the payee's history and rule suggest, written on arrival
    _feeds: dict[tuple[str, str], tuple[FeedRecord, float]] = field(default_factory=dict)  # live ones only
    _known: dict[tuple[str, str], ExpenseRecord] = field(default_factory=dict)
    _prefetched: set[tuple[str, str]] = field(default_factory=set)

    def prefetch(self, events: list[TransactionEvent]) -> None:
        """Read the expenses a batch of change events refers to at once (one request instead of one per event).
        A posting needs no read: its expense is new, and is created only if it does not exist yet."""
        self._known.clear()
        self._prefetched.clear()
        by_business: dict[str, list[str]] = {}
        for event in events:
            if event.direction == Direction.DEBIT and not event.is_posting:
                by_business.setdefault(event.business_id, []).append(event.transaction_id)
        for business_id, transaction_ids in by_business.items():
            found = self.expenses.get_many(business_id, transaction_ids)
            for transaction_id in transaction_ids:
                self._prefetched.add((business_id, transaction_id))
                if transaction_id in found:
                    self._known[(business_id, transaction_id)] = found[transaction_id]

    def _existing(self, event: TransactionEvent) -> ExpenseRecord | None:
        key = (event.business_id, event.transaction_id)
        if event.is_posting:
            return None  # created conditionally below; an expense that exists already makes that write stale
        if key in self._prefetched:
            self._prefetched.discard(key)
            return self._known.pop(key, None)
        return self.expenses.get(event.business_id, event.transaction_id)

    def _live_feed(self, business_id: str, account_id: str) -> bool:
        now = self.clock.time()
        cached = self._feeds.get((business_id, account_id))
        if cached is not None and now - cached[1] <= FEED_CACHE_SECONDS:
            return True
        feed = self.feeds.get(business_id, account_id)
        if feed is not None and feed.is_live:
            self._feeds[(business_id, account_id)] = (feed, now)
            return True
        self._feeds.pop((business_id, account_id), None)
        return False

    def handle(self, event: TransactionEvent) -> EventOutcome:
        if event.direction != Direction.DEBIT:
            return EventOutcome.NOT_AN_EXPENSE
        existing = self._existing(event)
        if existing is not None and existing.payment.ledger_version >= event.version:
            return EventOutcome.STALE
        # Expenses start when the account is linked; a known expense keeps following its payment even if the
        # account is unlinked later, so that what the user sees stays true.
        if existing is None and not self._live_feed(event.business_id, event.account_id):
            return EventOutcome.NOT_AN_EXPENSE
        try:
            transaction = self.ledger.transaction(event.account_id, event.transaction_id)
        except NotFound:
            logger.warning("ledger event for a transaction the ledger does not know",
                           extra={"transaction_id": event.transaction_id, "account_id": event.account_id})
            return EventOutcome.GONE
        if transaction.direction != Direction.DEBIT or transaction.business_id != event.business_id:
            return EventOutcome.NOT_AN_EXPENSE
        now = iso(utc_now(self.clock))
        suggest = self.suggestions.attach(event.business_id, transaction.counterparty.name) if self.suggestions \
            else (lambda record: record)
        saved = self.expenses.change(event.business_id, event.transaction_id,
                                     lambda record: suggest(state_machine.apply_ledger(record, transaction, now)),
                                     existing)
        if saved is None:
            return EventOutcome.STALE
        if self.suggestions is not None:
            self.suggestions.catch_up(saved)
        return EventOutcome.CREATED if saved.version == 1 else EventOutcome.REFRESHED
