"""In-memory stand-ins for auto-sync's ports: a ledger, a feed store, connections, and a Xero that keeps
statements the way Xero's Bank Feeds do (accepted, then delivered or rejected; duplicates by transactionId)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from xerosync.auto_sync.messages import FeedSyncRequest
from xerosync.ledger.models import Counterparty, Direction, LedgerTransaction
from xerosync.store.feeds import FeedRecord, FeedStatus, StaleFeed
from xerosync.xero.bank_feeds import FeedConnection, Problem, Statement
from xerosync.xero.errors import GenerationChanged, ReconnectRequired, XeroNotFound, XeroRateLimited

GENERATION = "gen-1"

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong


class FixedClock:
    def __init__(self, moment: datetime = NOW) -> None:
        self.now = moment.timestamp()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeLedger:
    def __init__(self) -> None:
        self.accounts: dict[str, list[LedgerTransaction]] = {}

    def post(self, account_id: str, amount: str, direction: str = "CREDIT", *, at: datetime | None = None,
             description: str = "", payee: str = "", reference: str = "", type: str = "TRANSFER") -> LedgerTransaction:
        history = self.accounts.setdefault(account_id, [])
        previous = history[-1].running_balance if history else Decimal("0")
        value = Decimal(amount)
        balance = previous + (value if direction == "CREDIT" else -value)
        posted_at = at or (history[-1].posted_at + timedelta(minutes=1) if history else NOW - timedelta(days=2))
        txn = LedgerTransaction(
            transaction_id=f"txn_{account_id}_{len(history) + 1}", account_id=account_id, business_id="biz_1",
            sequence=len(history) + 1, posted_at=posted_at, amount=value, direction=Direction(direction),
            currency="HKD", running_balance=balance, counterparty=Counterparty(name=payee), reference=reference,
            description=description, type=type)
        history.append(txn)
        return txn

    def iter_transactions(self, account_id: str, *, after_sequence: int = 0,
                          posted_from: str | None = None) -> Iterator[LedgerTransaction]:
        for txn in self.accounts.get(account_id, []):
            if txn.sequence <= after_sequence:
                continue
            if posted_from is None or txn.posted_at.date().isoformat() >= posted_from:
                yield txn


class FakeFeeds:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], FeedRecord] = {}

    def add(self, record: FeedRecord) -> FeedRecord:
        self.items[(record.business_id, record.account_id)] = record
        return record

    def get(self, business_id: str, account_id: str) -> FeedRecord | None:
        record = self.items.get((business_id, account_id))
        return record.model_copy(deep=True) if record else None

    def save(self, record: FeedRecord) -> FeedRecord:
        current = self.items.get((record.business_id, record.account_id))
        if current is not None and current.version != record.version:
            raise StaleFeed("changed")
        stored = record.model_copy(update={"version": record.version + 1}, deep=True)
        self.items[(record.business_id, record.account_id)] = stored
        return stored.model_copy(deep=True)


class FakeConnections:
    def __init__(self) -> None:
        self.synced: dict[str, str] = {}

    def record_sync(self, business_id: str, at: str) -> bool:
        self.synced[business_id] = at
        return True


@dataclass
class _Held:
    statement: Statement
    status: str = "PENDING"
    errors: list[Problem] = field(default_factory=list)


class FakeXero:
    """One organisation's Bank Feeds: statements are PENDING until ``deliver()``; lines are kept once each."""

    def __init__(self, tenant_id: str = "tenant-1") -> None:
        self.tenant_id = tenant_id
        self.statements: dict[str, _Held] = {}
        self.lines: dict[str, list[str]] = {}  # feed -> delivered transaction ids, in order
        self.submitted: dict[str, set[str]] = {}
        self.feed_status: dict[str, str | None] = {}
        self.posts: list[list[Statement]] = []
        self.keys: list[str] = []
        self.reject_on_arrival: dict[str, Problem] = {}  # feed -> problem for its next statement
        self.raise_on_post: list[BaseException] = []
        self.reconnect = False
        self.generation = GENERATION  # the business's current connection generation
        self.crash_after_accepting = 0  # the worker dies after Xero accepted, before it saw the answer
        self.statement_reads_allowed: int | None = None  # then the tenant's minute is used up (429)
        self.answer_out_of_order = False  # the answers' items come back in another order than sent
        # Several businesses on the organisation, each with its own grant:
        self.generations: dict[str, str] = {}  # a business's current generation, when not ``generation``
        self.disconnected: set[str] = set()  # the product knows: no session is made
        self.revoked: set[str] = set()  # removed in Xero: every call with the business's grant fails
        self.revoked_on_post: set[str] = set()  # removed in Xero just before the grant's next statements POST
        self.calls: list[tuple[str, str]] = []  # (business whose grant made the call, what), in order
        self._ids = itertools.count(1)

    def session(self, business_id: str, generation: str | None = None) -> FakeGrant:
        current = self.generations.get(business_id, self.generation)
        if generation is not None and generation != current:
            raise GenerationChanged("The Xero connection this work was made for has ended.", generation=generation)
        if self.reconnect or business_id in self.disconnected:
            raise ReconnectRequired("gone", reason="The connection was removed in Xero.")
        return FakeGrant(self, business_id)

    def post_statements(self, statements: Sequence[Statement], *, key: str) -> list[Statement]:
        self.keys.append(key)
        if self.raise_on_post:
            raise self.raise_on_post.pop(0)
        self.posts.append(list(statements))
        answers = []
        for statement in statements:
            feed = statement.feed_connection_id
            ids = [line.transaction_id for line in statement.statement_lines]
            problem = self.reject_on_arrival.pop(feed, None)
            seen = self.submitted.setdefault(feed, set())
            if problem is None and ids and all(i in seen for i in ids):
                problem = Problem(type="duplicate-statement", title="Duplicate Statement Received", status=409)
            if problem is not None:
                answers.append(Statement(id=f"s{next(self._ids)}", feed_connection_id=feed, status="REJECTED",
                                         errors=[problem]))
                continue
            seen.update(ids)
            statement_id = f"s{next(self._ids)}"
            self.statements[statement_id] = _Held(statement)
            answers.append(Statement(id=statement_id, feed_connection_id=feed, status="PENDING"))
        if self.crash_after_accepting:
            self.crash_after_accepting -= 1
            raise RuntimeError("the worker crashed after Xero accepted")
        return answers[::-1] if self.answer_out_of_order else answers

    def deliver(self, reject: dict[str, Problem] | None = None) -> None:
        """Xero processes every pending statement; ``reject`` refuses the given statements instead."""
        for statement_id, held in self.statements.items():
            if held.status != "PENDING":
                continue
            if reject and statement_id in reject:
                held.status, held.errors = "REJECTED", [reject[statement_id]]
                continue
            held.status = "DELIVERED"
            delivered = self.lines.setdefault(held.statement.feed_connection_id, [])
            for line in held.statement.statement_lines:
                if line.transaction_id not in delivered:
                    delivered.append(line.transaction_id)

    def statement(self, statement_id: str) -> Statement:
        if self.statement_reads_allowed is not None:
            if self.statement_reads_allowed == 0:
                raise XeroRateLimited("minute used up", status=429, retry_after=30, problem="minute")
            self.statement_reads_allowed -= 1
        held = self.statements.get(statement_id)
        if held is None:
            raise XeroNotFound("no such statement", status=404)
        return held.statement.model_copy(update={"id": statement_id, "status": held.status, "errors": held.errors})

    def feed_connection(self, feed_connection_id: str) -> FeedConnection:
        status = self.feed_status.get(feed_connection_id)
        if status == "GONE":
            raise XeroNotFound("no such feed", status=404)
        error = Problem(type="invalid-feed-connection", detail="The bank account is closed.") \
            if status == "REJECTED" else None
        return FeedConnection(id=feed_connection_id, status=status, error=error)


class FakeGrant:
    """One business's session on the organisation: FakeXero's calls, made with that business's grant."""

    def __init__(self, xero: FakeXero, business_id: str) -> None:
        self.xero = xero
        self.business_id = business_id
        self.tenant_id = xero.tenant_id

    def _call(self, what: str) -> None:
        self.xero.calls.append((self.business_id, what))
        if what == "post" and self.business_id in self.xero.revoked_on_post:
            self.xero.revoked_on_post.discard(self.business_id)
            self.xero.revoked.add(self.business_id)
        if self.business_id in self.xero.revoked:
            raise ReconnectRequired("gone", reason="The connection was removed in Xero.")

    def post_statements(self, statements: Sequence[Statement], *, key: str) -> list[Statement]:
        self._call("post")
        return self.xero.post_statements(statements, key=key)

    def statement(self, statement_id: str) -> Statement:
        self._call("statement")
        return self.xero.statement(statement_id)

    def feed_connection(self, feed_connection_id: str) -> FeedConnection:
        self._call("feed_connection")
        return self.xero.feed_connection(feed_connection_id)


def feed(account_id: str = "acc_1", *, status: FeedStatus = FeedStatus.ACTIVE, business_id: str = "biz_1",
         tenant_id: str = "tenant-1", **changes: Any) -> FeedRecord:
    return FeedRecord(business_id=business_id, account_id=account_id, currency="HKD", account_number="123",
                      account_name="HKD Operating", tenant_id=tenant_id, feed_connection_id=f"fc-{account_id}",
                      xero_account_id="xa", status=status, **{"generation": GENERATION, **changes})


class Queue:
    """A feed-sync queue that keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[FeedSyncRequest] = []

    def send(self, requests: Sequence[FeedSyncRequest]) -> int:
        self.sent.extend(requests)
        return 1
