"""``LedgerEmulator``: the bank's core ledger (docs/ledger-contract.md) in-process, over real HTTP.

The facade ties the state, the generator, the publisher and the server together. Every write goes through
here so that whatever the state records as an event is also handed to the publisher, whichever door (Python
or ``/_ledger`` HTTP) the write came in by. Publishing happens after the state's lock is released: a slow
EventBridge call must not stall the HTTP API, and the contract allows out-of-order delivery anyway.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from types import TracebackType

from emulators.ledger.control import EventFaults, FaultInjector
from emulators.ledger.events import EventPublisher, LedgerEvent
from emulators.ledger.generator import SeedSummary, business_plan, ongoing_generator, seed_ledger
from emulators.ledger.http_api import create_app
from emulators.ledger.models import (
    Account,
    Attachment,
    Business,
    Clock,
    Counterparty,
    ReceiptSpec,
    Transaction,
    TransactionDraft,
    TransactionPage,
    format_money,
    parse_amount,
)
from emulators.ledger.server import BackgroundServer
from emulators.ledger.state import (
    DEFAULT_PAGE_LIMIT,
    UNSET,
    LedgerState,
    TransactionChanges,
    Unset,
    new_id,
)
from emulators.time_control import SystemClock

logger = logging.getLogger(__name__)

DEFAULT_EVENT_BUS_NAME = "default"


class LedgerEmulator:
    """The ledger: contract API on ``start()``'s URL, control methods here and under ``/_ledger``.

    ``clock`` is any object with ``time()`` (``emulators.time_control``); it stamps ``posted_at``, ``updated_at`` and
    ``occurred_at``. ``event_publisher`` receives lists of EventBridge ``PutEvents`` entries; with ``None``
    events are only recorded (see ``events()``). ``event_bus_name`` fills the entries' ``EventBusName``.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        event_publisher: EventPublisher | None = None,
        *,
        event_bus_name: str = DEFAULT_EVENT_BUS_NAME,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.event_publisher = event_publisher
        self._built_with_publisher = event_publisher
        self.event_bus_name = event_bus_name
        self.state = LedgerState(self.clock)
        self.faults = FaultInjector()
        self.event_faults = EventFaults()
        # Errors from the publisher: a failed delivery must not fail the posting (the ledger's write has
        # happened), but a test must be able to see it.
        self.publish_errors: list[Exception] = []
        self.app = create_app(self)
        self._server = BackgroundServer(self.app)

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port) from background threads; returns the base URL."""
        return self._server.start(host, port)

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def reset(self) -> None:
        """Forget every business, account, transaction, event, fault and publish error; events go to the publisher
        the emulator was built with."""
        self.event_publisher = self._built_with_publisher
        self.state.reset()
        self.faults.clear()
        self.event_faults.clear()
        self.publish_errors.clear()

    def __enter__(self) -> LedgerEmulator:
        if not self._server.running:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ reads

    def get_business(self, business_id: str) -> Business:
        return self.state.get_business(business_id)

    def list_businesses(self) -> list[Business]:
        return self.state.list_businesses()

    def list_accounts(self, business_id: str) -> list[Account]:
        return self.state.list_accounts(business_id)

    def get_account(self, account_id: str) -> Account:
        return self.state.get_account(account_id)

    def balance(self, account_id: str) -> str:
        """The account's current balance as the contract writes money (the last running balance)."""
        return format_money(self.state.balance(account_id), self.state.get_account(account_id).currency)

    def list_transactions(
        self,
        account_id: str,
        after_sequence: int = 0,
        limit: int = DEFAULT_PAGE_LIMIT,
        posted_from: int | None = None,
    ) -> TransactionPage:
        return self.state.list_transactions(account_id, after_sequence, limit, posted_from)

    def iter_transactions(self, account_id: str) -> Iterator[Transaction]:
        """Every transaction of the account in sequence order, paging internally."""
        after = 0
        while True:
            page = self.state.list_transactions(account_id, after_sequence=after, limit=500)
            yield from page.transactions
            if not page.has_more or page.next_after_sequence is None:
                return
            after = page.next_after_sequence

    def get_transaction(self, account_id: str, transaction_id: str) -> Transaction:
        return self.state.get_transaction(account_id, transaction_id)

    def get_attachment(self, account_id: str, transaction_id: str, attachment_id: str) -> Attachment:
        return self.state.get_attachment(account_id, transaction_id, attachment_id)

    def attachment_bytes(self, account_id: str, transaction_id: str, attachment_id: str) -> bytes:
        return self.get_attachment(account_id, transaction_id, attachment_id).source.read()

    def events(self, after: int = 0, detail_type: str | None = None) -> list[LedgerEvent]:
        """The event log (every event the ledger emitted since the last reset), from index ``after``."""
        return self.state.events(after, detail_type)

    @property
    def event_count(self) -> int:
        return len(self.state.events())

    # ------------------------------------------------------------------------------------------ control

    def create_business(
        self, incorporation_country: str, legal_name: str | None = None, *, business_id: str | None = None
    ) -> Business:
        country = incorporation_country.upper()
        name = legal_name or ("Sample Trading Limited" if country == "HK" else "Sample Trading Pte. Ltd.")
        return self.state.add_business(Business(business_id or new_id("biz"), name, country))

    def create_account(
        self,
        business_id: str,
        currency: str,
        *,
        name: str | None = None,
        account_number: str | None = None,
        status: str = "ACTIVE",
        opened_at: int | None = None,
        account_id: str | None = None,
    ) -> Account:
        currency = currency.upper()
        account = Account(
            account_id=account_id or new_id("acc"),
            business_id=business_id,
            currency=currency,
            account_number=account_number or f"{random.randrange(10**9, 10**12)}",
            name=name or f"{currency} Operating",
            status=status,
            opened_at=opened_at if opened_at is not None else self.state.now(),
        )
        return self.state.add_account(account)

    def set_account_status(self, account_id: str, status: str) -> Account:
        return self.state.set_account_status(account_id, status)

    def post_transaction(
        self,
        account_id: str,
        amount: str | int | Decimal,
        direction: str,
        *,
        type: str = "TRANSFER",  # the contract's field name
        counterparty: Counterparty | None = None,
        reference: str = "",
        description: str = "",
        spend_category: str | None = None,
        attachments: Sequence[ReceiptSpec] = (),
        posted_at: int | None = None,
        transaction_id: str | None = None,
    ) -> Transaction:
        """Post one transaction now (or at ``posted_at``, epoch seconds) and emit ``TransactionPosted``."""
        account = self.state.get_account(account_id)
        draft = TransactionDraft(
            amount_minor=parse_amount(amount, account.currency),
            direction=direction,
            type=type,
            counterparty=counterparty or Counterparty(),
            reference=reference,
            description=description,
            spend_category=spend_category,
            receipts=tuple(attachments),
            posted_at=posted_at,
            transaction_id=transaction_id,
        )
        txn, events = self.state.post(account_id, draft)
        self._publish(events)
        return txn

    def post_generated(self, account_id: str, count: int = 1, *, seed: int | None = None) -> list[Transaction]:
        """Post ``count`` realistic transactions on the account now (receipts included), one event each.

        Deterministic for a given account state and ``seed``: the generator is seeded from the account id
        and its next sequence, so a replayed test posts the same transactions.
        """
        if count < 1:
            raise ValueError("count must be 1 or more")
        posted: list[Transaction] = []
        events: list[LedgerEvent] = []
        with self.state.lock:
            account = self.state.get_account(account_id)
            gen = ongoing_generator(account, self.state.transaction_count(account_id) + 1, seed)
            for _ in range(count):
                balance = self.state.balance(account_id)
                # An empty (or overdrawn) account gets money in first, as a real one would.
                draft = gen.opening_deposit(None) if balance <= 0 else gen.next(balance, None)
                txn, new_events = self.state.post(account_id, draft)
                posted.append(txn)
                events.extend(new_events)
        self._publish(events)
        return posted

    def apply_changes(self, account_id: str, transaction_id: str, changes: TransactionChanges) -> Transaction:
        """Apply several changes as one update: one version bump, one ``TransactionUpdated`` listing them."""
        txn, events = self.state.update(account_id, transaction_id, changes)
        self._publish(events)
        return txn

    def update_transaction(
        self,
        account_id: str,
        transaction_id: str,
        *,
        spend_category: str | Unset | None = UNSET,
        description: str | Unset = UNSET,
        add_attachments: Sequence[ReceiptSpec] = (),
        remove_attachment_ids: Sequence[str] = (),
        replace_attachments: Mapping[str, ReceiptSpec] | None = None,
    ) -> Transaction:
        return self.apply_changes(
            account_id,
            transaction_id,
            TransactionChanges(
                spend_category=spend_category,
                description=description,
                add_attachments=tuple(add_attachments),
                remove_attachment_ids=tuple(remove_attachment_ids),
                replace_attachments=tuple((replace_attachments or {}).items()),
            ),
        )

    def set_spend_category(self, account_id: str, transaction_id: str, spend_category: str | None) -> Transaction:
        return self.update_transaction(account_id, transaction_id, spend_category=spend_category)

    def set_description(self, account_id: str, transaction_id: str, description: str) -> Transaction:
        return self.update_transaction(account_id, transaction_id, description=description)

    def add_attachment(self, account_id: str, transaction_id: str, receipt: ReceiptSpec) -> Transaction:
        return self.update_transaction(account_id, transaction_id, add_attachments=[receipt])

    def remove_attachment(self, account_id: str, transaction_id: str, attachment_id: str) -> Transaction:
        return self.update_transaction(account_id, transaction_id, remove_attachment_ids=[attachment_id])

    def replace_attachment(
        self, account_id: str, transaction_id: str, attachment_id: str, receipt: ReceiptSpec
    ) -> Transaction:
        """Swap a receipt's bytes; the new one takes the old one's place with a new ``attachment_id``."""
        return self.update_transaction(account_id, transaction_id, replace_attachments={attachment_id: receipt})

    # ------------------------------------------------------------------------------------------ seeding

    def seed_demo(
        self,
        seed: int = 7,
        businesses: int = 3,
        transactions_per_account: int = 2000,
        *,
        history_days: int = 365,
        end_at: int | None = None,
        emit_events: bool = False,
    ) -> SeedSummary:
        """Add a realistic, deterministic ledger (see README "Seeding"); histories end at ``end_at`` or now.

        ``emit_events`` is off by default: the seeded history predates the product's subscription, and
        thousands of events would only flood the event log and the bus.
        """
        if businesses < 1:
            raise ValueError("businesses must be 1 or more")
        summary, events = seed_ledger(
            self.state,
            seed=seed,
            businesses=businesses,
            transactions_per_account=transactions_per_account,
            history_days=history_days,
            end_at=end_at if end_at is not None else self.state.now(),
            emit_events=emit_events,
        )
        self._publish(events)
        return summary

    def add_sample_account(
        self,
        currency: str = "SGD",
        *,
        incorporation_country: str = "SG",
        transactions: int = 0,
        seed: int = 0,
        business_id: str | None = None,
    ) -> Account:
        """A light builder for tests: a business (new unless ``business_id``), an account, and optionally
        ``transactions`` generated postings made now (which emit events like any posting).
        """
        if business_id is None:
            country = incorporation_country.upper()
            plan, _ = business_plan(seed, 0 if country == "HK" else 1)
            business_id = self.create_business(country, plan.legal_name).business_id
        account = self.create_account(business_id, currency)
        if transactions:
            self.post_generated(account.account_id, transactions, seed=seed)
        return account

    # ------------------------------------------------------------------------------------------ events

    def release_held_events(self) -> int:
        """Publish every event the event faults hold back (delayed delivery); returns how many."""
        held = self.event_faults.release()
        self._deliver(held)
        return len(held)

    def _publish(self, events: Sequence[LedgerEvent]) -> None:
        self._deliver(self.event_faults.apply(list(events)))

    def _deliver(self, events: Sequence[LedgerEvent]) -> None:
        if not events or self.event_publisher is None:
            return
        entries = [e.to_entry(self.event_bus_name) for e in events]
        try:
            self.event_publisher(entries)
        except Exception as error:  # a failed delivery must not undo or fail the write
            logger.warning("ledger emulator could not publish %d events: %s", len(entries), error)
            self.publish_errors.append(error)
