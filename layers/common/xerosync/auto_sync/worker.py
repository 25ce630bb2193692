"""One Xero tenant's feeds brought up to date: what the feed-sync worker does with one message.

For each business named in the message, under the business's own Xero grant, and each of its live feeds:

1. A feed whose Xero feed connection was PENDING is looked up first: ACTIVE, or REJECTED with Xero's reason
   (a REJECTED feed leaves the live feeds; the status route shows why). Still PENDING, and statements of it
   sent in this run: looked up once more at the end of the run.
2. Statements sent before and not yet seen delivered are read back, oldest first. DELIVERED (or REJECTED as
   ``duplicate-statement``: Xero already had every line) are done. Any other REJECTED rewinds the cursor to
   where that statement started, so its lines go again, and its reason shows on the feed.

A business whose own grant fails there (reconnect required, or a connection that has ended) stops: its
statements go nowhere this run. Then, for the organisation as a whole:

3. New statements are built from the ledger after the cursor and recorded on the feed *before* they are
   sent (write-ahead). After a crash between Xero accepting them and the answer being recorded, the next
   run sends exactly those statements again: Xero replays its answer (same Idempotency-Key) or calls them
   duplicates, and no statement overlapping them ever reaches Xero.
4. The statements of every business's feeds go in as few POST /Statements as Xero's limits allow, under the
   grant of one of those businesses (the carrier: the first, in business order, with statements to send). A
   business's statements are carried only if its own grant answered a call in this run (step 1 or 2, or one
   feed-connection lookup made to prove it); the carrier's own POST proves its grant. A carrier whose grant
   fails at the POST stops as in step 2, and the others' statements go under the next one's grant
   (docs/auto-sync.md, "The worker"). The cursor moves only over what Xero accepted (or already had), in order;
   after a rejection nothing later of that feed is sent until the next run.

Everything a run learns is saved on the feed as it goes (version-checked), so a 429, a crash or a timeout
loses nothing and a repeated message repeats nothing. Domain logic only: the ports are handed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import takewhile
from typing import Protocol, TypeVar

from xerosync.auto_sync.messages import FeedRef, FeedSyncRequest
from xerosync.auto_sync.statements import PlannedStatement, StatementBuilder, pack_requests
from xerosync.clock import Clock, iso, utc_now
from xerosync.errors import NotFound
from xerosync.ledger.client import LedgerError
from xerosync.ledger.models import LedgerTransaction
from xerosync.observability import logger
from xerosync.store.feeds import FeedRecord, FeedStatus, SentStatement, StaleFeed
from xerosync.xero.bank_feeds import FeedConnection, Problem, Statement
from xerosync.xero.errors import (
    RECONNECT_ACTION,
    GenerationChanged,
    ReconnectRequired,
    XeroError,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroTooLarge,
    XeroUncertainOutcome,
    XeroValidationError,
)
from xerosync.xero.session import idempotency_key

DUPLICATE_STATEMENT = "duplicate-statement"
# Problems that mean the feed connection itself is gone or not this organisation's.
FEED_GONE = frozenset({"invalid-feed-connection", "invalid-feed-connection-for-organisation", "bank-feed-not-found"})
# One round reads at most this many new lines per feed (5 statements of Xero's 1000): memory stays small and
# a long backfill advances round by round, saving its place after each.
MAX_LINES_PER_FEED_PER_ROUND = 5000
# A feed whose statements Xero has not processed waits rather than pile up more (Xero is slow or stuck).
MAX_UNCONFIRMED_STATEMENTS = 100
# A statements call whose answer was lost or failed is sent again under a new key (Xero replays a keyed
# error, so the same key would only fail again); every repeat of a line is caught by Xero by transactionId.
POST_ATTEMPTS = 3
# Stop starting Xero calls when less than this is left of the invocation (a call may take 25 s).
TIME_MARGIN_SECONDS = 30.0
LEDGER_REFUSED = ("The bank could not provide this account's transactions to send to Xero. Auto-sync tries again "
                  "at the next sync; if this message stays, contact the bank.")
_T = TypeVar("_T")
_SYNC_FIELDS = ("cursor", "cursor_balance", "dated_through", "unconfirmed_statements", "last_sync_at",
                "last_sync_error")


class FeedRepository(Protocol):
    def get(self, business_id: str, account_id: str) -> FeedRecord | None: ...

    def save(self, record: FeedRecord) -> FeedRecord: ...


class ConnectionSyncRecorder(Protocol):
    def record_sync(self, business_id: str, at: str) -> bool: ...


class LedgerReader(Protocol):
    def iter_transactions(self, account_id: str, *, after_sequence: int = 0,
                          posted_from: str | None = None) -> Iterator[LedgerTransaction]: ...


class PaymentSink(Protocol):
    def watch(self, transactions: Iterable[LedgerTransaction], seen: list[LedgerTransaction]
              ) -> Iterator[LedgerTransaction]: ...

    def record(self, business_id: str, payments: list[LedgerTransaction]) -> int: ...


class BankFeedSession(Protocol):
    tenant_id: str

    def post_statements(self, statements: Sequence[Statement], *, key: str) -> list[Statement]: ...

    def statement(self, statement_id: str) -> Statement: ...

    def feed_connection(self, feed_connection_id: str) -> FeedConnection: ...


class XeroSessions(Protocol):
    def session(self, business_id: str, generation: str | None = None) -> BankFeedSession: ...


@dataclass
class SyncReport:
    feeds: int = 0
    feeds_synced: int = 0
    statements_accepted: int = 0
    statements_rejected: int = 0
    lines_accepted: int = 0
    statement_posts: int = 0
    status_reads: int = 0
    stale: int = 0  # feeds (or businesses) whose part of the message was made for an ended connection: dropped
    unfinished: list[FeedRef] = field(default_factory=list)

    @property
    def progressed(self) -> bool:
        return self.statements_accepted > 0


@dataclass
class _FeedRun:
    """One feed during one run: its record as last saved, and what the run decided about it."""

    record: FeedRecord
    loaded_status: FeedStatus
    blocked: bool = False  # rejected, refused or waiting: nothing more is sent this run
    more: bool = False  # the ledger may hold more than this run has read
    gone: bool = False  # unlinked or relinked meanwhile: this run's state is dropped
    sent: bool = False  # Xero accepted statements of this feed in this run
    error: str | None = None

    @property
    def ref(self) -> FeedRef:
        return FeedRef(business_id=self.record.business_id, account_id=self.record.account_id,
                       generation=self.record.generation)

    @property
    def has_unsent(self) -> bool:
        return any(e.statement_id is None for e in self.record.unconfirmed_statements)


class _Grant:
    """A business's own session, noting whether Xero answered a call made with it in this run (``proven``): only
    then may another business's grant carry its statements."""

    def __init__(self, session: BankFeedSession) -> None:
        self.session = session
        self.tenant_id = session.tenant_id
        self.proven = False

    def post_statements(self, statements: Sequence[Statement], *, key: str) -> list[Statement]:
        return self._answered(lambda: self.session.post_statements(statements, key=key))

    def statement(self, statement_id: str) -> Statement:
        return self._answered(lambda: self.session.statement(statement_id))

    def feed_connection(self, feed_connection_id: str) -> FeedConnection:
        return self._answered(lambda: self.session.feed_connection(feed_connection_id))

    def _answered(self, call: Callable[[], _T]) -> _T:
        try:
            answer = call()
        except XeroNotFound:
            self.proven = True  # Xero took the token and looked: the grant is good
            raise
        self.proven = True
        return answer


@dataclass
class _Business:
    """One business's part of the message: one connection generation, its grant and its feeds' runs."""

    business_id: str
    runs: list[_FeedRun]
    grant: _Grant | None = None
    stopped: bool = False  # its own grant failed: nothing of it is sent, by anyone
    stale: bool = False  # its connection ended meanwhile: its part of the message is dropped


class FeedSyncWorker:
    def __init__(self, *, feeds: FeedRepository, connections: ConnectionSyncRecorder, ledger: LedgerReader,
                 xero: XeroSessions, clock: Clock, builder: StatementBuilder | None = None,
                 max_lines_per_round: int = MAX_LINES_PER_FEED_PER_ROUND,
                 time_margin_seconds: float = TIME_MARGIN_SECONDS, payments: PaymentSink | None = None) -> None:
        self.feeds = feeds
        self.connections = connections
        self.ledger = ledger
        self.xero = xero
        self.clock = clock
        self.builder = builder or StatementBuilder()
        self.max_lines_per_round = max_lines_per_round
        self.time_margin_seconds = time_margin_seconds
        self.payments = payments  # outbound payments read here also become expenses (sync expenses)

    # ------------------------------------------------------------------ one message
    def sync(self, request: FeedSyncRequest, time_left: Callable[[], float]) -> SyncReport:
        report = SyncReport()
        businesses: list[_Business] = []
        # In business order, so that the carrier (step 4) is the same business on every delivery of the message
        for business_id, generation, account_ids in sorted(request.by_connection()):
            runs = self._load(request.tenant_id, business_id, generation, account_ids, report)
            report.feeds += len(runs)
            if not runs:
                continue
            business = _Business(business_id=business_id, runs=runs)
            try:
                business.grant = _Grant(self.xero.session(business_id, generation))
                self._settle_business(business.grant, runs, report, time_left)
            except (GenerationChanged, ReconnectRequired) as failed:
                self._stop(business, failed, report)
            businesses.append(business)
        self._send(businesses, report, time_left)
        self._look_again_at_pending(businesses, report)
        for business in businesses:
            if not business.stale:
                self._finish(business.business_id, business.runs, report)
        return report

    def _stop(self, business: _Business, failed: GenerationChanged | ReconnectRequired, report: SyncReport) -> None:
        """The business's own grant failed: nothing more of it is sent this run, under its grant or another's."""
        business.stopped = True
        for run in business.runs:
            run.blocked = True
        if isinstance(failed, GenerationChanged):
            # Made for a connection that has ended: dropped (the session logged and counted it). What this run
            # learnt is saved already; the feeds now belong to the new connection, which syncs them.
            business.stale = True
            report.stale += len(business.runs)
            return
        # Only the user can fix this: record it where the status route shows it and finish the message
        # (retrying would loop until the user reconnects).
        logger.warning("feeds not synced: reconnect required", extra={"business_id": business.business_id})
        for run in business.runs:
            run.error = f"{failed.reason or failed.message} {RECONNECT_ACTION}"

    def _load(self, tenant_id: str, business_id: str, generation: str, account_ids: list[str],
              report: SyncReport) -> list[_FeedRun]:
        runs = []
        for account_id in account_ids:
            record = self.feeds.get(business_id, account_id)
            if record is None or not record.is_live or record.tenant_id != tenant_id:
                continue  # unlinked, disconnected or moved since the message was sent: nothing to do
            if record.generation != generation:
                report.stale += 1  # moved to a newer connection since: its own syncs carry it
                continue
            runs.append(_FeedRun(record=record, loaded_status=record.status))
        return runs

    def _settle_business(self, grant: _Grant, runs: list[_FeedRun], report: SyncReport,
                         time_left: Callable[[], float]) -> None:
        """Steps 1 and 2, under the business's own grant."""
        for run in runs:
            before = run.record.model_copy(deep=True)
            if run.record.status == FeedStatus.PENDING:
                self._refresh_feed_connection(grant, run)
            # Even for a feed Xero refused: the cursor must come back over what Xero did not keep.
            try:
                self._settle(grant, run, report, time_left)
            except XeroRateLimited:
                if run.record != before:
                    self._save(run)  # the statuses read so far are kept: the next delivery goes on from there
                raise
            if run.record != before:
                self._save(run)  # what Xero said is kept even if a later call meets a 429

    def _send(self, businesses: list[_Business], report: SyncReport, time_left: Callable[[], float]) -> None:
        """Steps 3 and 4 for every business still going, in one stream of requests for the organisation."""
        candidates = [run for business in businesses for run in business.runs if not run.blocked]
        while candidates:
            if time_left() < self.time_margin_seconds:
                for run in candidates:
                    run.more = True
                return
            planned = [(run, statement) for run in candidates for statement in self._plan(run)]
            if not planned:
                return
            self._write_ahead(planned)
            if not self._post_all(businesses, planned, report, time_left):
                return  # out of time: the write-ahead statements go first next run
            candidates = [run for run in candidates if not run.blocked and not run.gone and run.more]

    # ------------------------------------------------------------------ step 1: pending feed connections
    def _look_again_at_pending(self, businesses: list[_Business], report: SyncReport) -> None:
        """A feed whose connection was still PENDING at step 1 and whose statements this run sent is looked up once
        more (one call): sending a link's history takes a while, and Xero may have activated the feed connection
        meanwhile; the link then shows ACTIVE when the sync ends rather than at the next status read's turn. A
        feed going on in a continuation is looked up there. Optional: a call that fails leaves the feed PENDING
        for the status route or the next run to settle (docs/auto-sync.md, "The worker", step 1)."""
        for business in businesses:
            for run in business.runs:
                if run.record.status != FeedStatus.PENDING or not run.sent or run.gone or run.more:
                    continue
                try:
                    self._recheck_feed_connection(business, run, report)
                except XeroError as error:
                    logger.info("pending feed not looked up again after sending", extra={
                        "account_id": run.record.account_id, "error": type(error).__name__})
                    return

    def _refresh_feed_connection(self, session: BankFeedSession, run: _FeedRun) -> None:
        record = run.record
        if not record.feed_connection_id:
            self._feed_rejected(run, "The account has no Xero feed connection.")
            return
        try:
            connection = session.feed_connection(record.feed_connection_id)
        except XeroNotFound:
            self._feed_rejected(run, "The feed connection no longer exists in Xero.")
            return
        if connection.status == "REJECTED":
            self._feed_rejected(run, _problem_text([connection.error]) if connection.error
                                else "Xero rejected the feed connection.")
        elif connection.status in (None, "", "ACTIVE") and record.status != FeedStatus.ACTIVE:
            # Xero shows a live feed connection without a status [OAS examples]; ACTIVE where it says so.
            record.status, record.status_reason = FeedStatus.ACTIVE, None
            record.status_changed_at = iso(utc_now(self.clock))
        # Still PENDING: statements are sent anyway; Xero delivers them once it activates the feed, or
        # rejects them if it refuses the feed, which step 2 then finds.

    def _feed_rejected(self, run: _FeedRun, reason: str) -> None:
        record = run.record
        record.status, record.status_reason = FeedStatus.REJECTED, reason
        record.status_changed_at = iso(utc_now(self.clock))
        run.blocked, run.error = True, reason

    # ------------------------------------------------------------------ step 2: statements sent before
    def _settle(self, session: BankFeedSession, run: _FeedRun, report: SyncReport,
                time_left: Callable[[], float]) -> None:
        record = run.record
        for entry in list(record.unconfirmed_statements):
            if entry.statement_id is None:
                break  # not sent yet (write-ahead): step 3 sends it
            if time_left() < self.time_margin_seconds:
                return  # what was read is saved; the next run reads on
            try:
                status = session.statement(entry.statement_id)
            except XeroNotFound:
                status = Statement(feed_connection_id=record.feed_connection_id or "", status="REJECTED",
                                   errors=[Problem(type="statement-not-found", title="Statement not found",
                                                   detail="Xero no longer knows this statement.")])
            report.status_reads += 1
            if status.delivered:
                record.unconfirmed_statements = [e for e in record.unconfirmed_statements if e is not entry]
            elif status.status == "REJECTED":
                self._rewind(run, entry, status.errors)
                report.statements_rejected += 1
                if _feed_gone(status.errors) and record.status != FeedStatus.REJECTED:
                    self._refresh_feed_connection(session, run)
                return
            else:
                return  # still PENDING: Xero works through a feed's statements in order, later ones too

    def _rewind(self, run: _FeedRun, entry: SentStatement, problems: list[Problem]) -> None:
        """Xero refused a statement after accepting it: its lines (and everything after) go again."""
        record = run.record
        record.cursor, record.cursor_balance = entry.first_sequence - 1, entry.start_balance
        record.unconfirmed_statements = [e for e in record.unconfirmed_statements
                                         if e.first_sequence < entry.first_sequence]
        if not run.blocked:  # a feed Xero refused keeps Xero's reason for the feed as its error
            run.error = (f"Xero rejected the statement of {_period(entry)}: {_problem_text(problems)} "
                         "Its transactions are sent again.")
        logger.warning("statement rejected after acceptance; cursor rewound", extra={
            "business_id": record.business_id, "account_id": record.account_id, "statement_id": entry.statement_id,
            "cursor": record.cursor, "problems": [p.type for p in problems]})

    # ------------------------------------------------------------------ step 3: what to send
    def _plan(self, run: _FeedRun) -> list[PlannedStatement]:
        record = run.record
        run.more = False
        if not record.feed_connection_id:
            run.blocked, run.error = True, "The account has no Xero feed connection."
            return []
        unsent = [e for e in record.unconfirmed_statements if e.statement_id is None]
        try:
            if unsent:
                run.more = True  # new lines follow once these are through
                return self._rebuild(record, unsent)
            if len(record.unconfirmed_statements) >= MAX_UNCONFIRMED_STATEMENTS:
                run.blocked = True
                run.error = (f"Xero has not processed the last {len(record.unconfirmed_statements)} statements "
                             "yet; new transactions wait until it has.")
                return []
            return self._new_statements(run)
        except (NotFound, LedgerError) as refused:
            # The ledger's own words are for the bank's engineers (the log); the user reads the product's.
            run.blocked, run.error = True, LEDGER_REFUSED
            logger.warning("the ledger refused the account's transactions", extra={
                "business_id": record.business_id, "account_id": record.account_id,
                "ledger_error": type(refused).__name__, "ledger_code": getattr(refused, "code", None),
                "ledger_message": str(refused)})
            return []

    def _new_statements(self, run: _FeedRun) -> list[PlannedStatement]:
        record = run.record
        assert record.feed_connection_id is not None
        # The contract's posted_from is a UTC day; the booking day may start earlier, so read a day more.
        posted_from = (record.backfill_from - timedelta(days=1)).isoformat() if record.backfill_from else None
        transactions = self.ledger.iter_transactions(record.account_id, after_sequence=record.cursor,
                                                     posted_from=posted_from)
        payments: list[LedgerTransaction] = []
        if self.payments is not None:
            transactions = self.payments.watch(transactions, payments)
        plan = self.builder.plan(record.feed_connection_id, transactions, today=self._today(),
                                 not_before=record.backfill_from, max_lines=self.max_lines_per_round,
                                 dated_through=_dated_through(record))
        if self.payments is not None and plan.statements:
            # The payments the statements carry (from the start date, inside Xero's window), before anything
            # is posted: a failure here returns the message with nothing half-done.
            ranges = [(p.first_sequence, p.last_sequence) for p in plan.statements]
            self.payments.record(record.business_id, [t for t in payments
                                                      if any(a <= t.sequence <= b for a, b in ranges)])
        if plan.skipped_through and plan.skipped_through[0] > record.cursor:
            # Older than Xero's one-year window or than the chosen start: Xero cannot take them, ever.
            record.cursor, record.cursor_balance = plan.skipped_through
            logger.info("lines outside Xero's window skipped", extra={
                "account_id": record.account_id, "skipped": plan.skipped, "cursor": record.cursor})
        if plan.statements and record.cursor and record.cursor_balance is not None \
                and plan.statements[0].start_balance != record.cursor_balance:
            # The ledger contract says balances never change; if they did, Xero gets the ledger's truth.
            logger.error("ledger balance does not continue from the last statement", extra={
                "account_id": record.account_id, "cursor": record.cursor,
                "expected": str(record.cursor_balance), "found": str(plan.statements[0].start_balance)})
        run.more = plan.more
        return plan.statements

    def _rebuild(self, record: FeedRecord, unsent: list[SentStatement]) -> list[PlannedStatement]:
        """The statements recorded before a request whose answer was never recorded, exactly as they were."""
        assert record.feed_connection_id is not None
        last = unsent[-1].last_sequence
        transactions = list(takewhile(lambda t: t.sequence <= last, self.ledger.iter_transactions(
            record.account_id, after_sequence=unsent[0].first_sequence - 1)))
        rebuilt = []
        for entry in unsent:
            lines = [t for t in transactions if entry.first_sequence <= t.sequence <= entry.last_sequence]
            if lines:
                rebuilt.append(self.builder.rebuild(record.feed_connection_id, lines, entry.start_date))
            else:  # the ledger contract never removes postings; if it did, nothing is left to send
                logger.error("recorded statement's transactions are gone from the ledger", extra={
                    "account_id": record.account_id, "first_sequence": entry.first_sequence})
                record.unconfirmed_statements = [e for e in record.unconfirmed_statements if e is not entry]
        return rebuilt

    def _write_ahead(self, planned: list[tuple[_FeedRun, PlannedStatement]]) -> None:
        sent_at = iso(utc_now(self.clock))
        touched: dict[int, _FeedRun] = {}
        for run, statement in planned:
            if _entry_for(run.record, statement) is None:
                run.record.unconfirmed_statements = [*run.record.unconfirmed_statements, SentStatement(
                    first_sequence=statement.first_sequence, last_sequence=statement.last_sequence,
                    start_balance=statement.start_balance, end_balance=statement.end_balance,
                    start_date=statement.start_date, end_date=statement.end_date,
                    line_count=statement.line_count, sent_at=sent_at)]
                touched[id(run)] = run
        for run in touched.values():
            self._save(run)

    # ------------------------------------------------------------------ step 4: send and record
    def _post_all(self, businesses: list[_Business], planned: list[tuple[_FeedRun, PlannedStatement]],
                  report: SyncReport, time_left: Callable[[], float]) -> bool:
        owners = {id(run): business for business in businesses for run in business.runs}
        for group in pack_requests(planned, lambda pair: pair[1].size_bytes, self.builder.limits):
            while True:
                group = [(run, s) for run, s in group if not run.blocked and not run.gone]
                if not group:
                    break
                if time_left() < self.time_margin_seconds:
                    for run, _ in group:
                        run.more = True
                    return False
                senders = [business for business in businesses
                           if any(owners[id(run)] is business for run, _ in group)]
                carrier, carried = senders[0], senders[1:]
                # Another business's statements go only if its own grant answered in this run: a business that
                # disconnected, on either side, stops flowing (docs/auto-sync.md, "The worker")
                unproven = [business for business in carried if not _proven(business)]
                for business in unproven:
                    self._prove(business, [run for run, _ in group if owners[id(run)] is business], report)
                if unproven:
                    continue  # a business whose grant failed, or a feed Xero refused, leaves the request
                try:
                    results = self._post(_grant(carrier), [s for _, s in group], report)
                except (GenerationChanged, ReconnectRequired) as failed:
                    self._stop(carrier, failed, report)
                    continue  # the other businesses' statements go under the next one's grant
                _check_answers_match(group, results)
                touched: dict[int, _FeedRun] = {}
                recheck: dict[int, _FeedRun] = {}
                for (run, statement), result in zip(group, results, strict=True):
                    if self._record_answer(run, statement, result, report):
                        recheck[id(run)] = run
                    touched[id(run)] = run
                for run in touched.values():
                    self._save(run)
                for run in recheck.values():
                    self._recheck_feed_connection(owners[id(run)], run, report)
                break
        return True

    def _prove(self, business: _Business, runs: list[_FeedRun], report: SyncReport) -> None:
        """One cheap call under the business's own grant, that also brings one of its feeds' status up to date
        (``GET /FeedConnections/{id}``, not a statement POST)."""
        run = next((run for run in runs if run.record.feed_connection_id), None)
        if run is not None:
            self._recheck_feed_connection(business, run, report)
        if not business.stopped and not _proven(business):  # no call could be made: nothing to prove it with
            business.stopped = True
            for each in business.runs:
                each.blocked = True

    def _recheck_feed_connection(self, business: _Business, run: _FeedRun, report: SyncReport) -> None:
        """A feed connection looked up under its business's own grant, outside that business's steps 1 and 2."""
        if business.stopped:
            return
        before = run.record.model_copy(deep=True)
        try:
            self._refresh_feed_connection(_grant(business), run)
        except (GenerationChanged, ReconnectRequired) as failed:
            self._stop(business, failed, report)
            return
        if run.record != before:
            self._save(run)

    def _post(self, session: BankFeedSession, statements: list[PlannedStatement], report: SyncReport
              ) -> list[Statement]:
        body = json.dumps([s.statement.to_xero() for s in statements], separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()
        failure: XeroError | None = None
        for attempt in range(1, POST_ATTEMPTS + 1):
            key = idempotency_key(session.tenant_id, "statements", digest, attempt)
            report.statement_posts += 1
            try:
                results = session.post_statements([s.statement for s in statements], key=key)
            except (XeroRateLimited, ReconnectRequired):
                raise  # the queue returns the message for Retry-After / the user must reconnect
            except (XeroServerError, XeroUncertainOutcome) as error:
                logger.warning("statements call failed; sending again under a new key", extra={
                    "attempt": attempt, "statements": len(statements), "error": type(error).__name__})
                failure = error
                continue
            except (XeroTooLarge, XeroValidationError) as error:
                # A request-level refusal names no statement: halve the request to find the one at fault.
                if len(statements) > 1:
                    half = len(statements) // 2
                    return self._post(session, statements[:half], report) + \
                        self._post(session, statements[half:], report)
                return [_refused(statements[0], error)]
            except XeroError as error:
                if error.status is not None and 400 <= error.status < 500 and error.status != 401:
                    return [_refused(s, error) for s in statements]  # e.g. 403 organisation without feeds
                raise
            if len(results) != len(statements):
                raise XeroError(f"Xero answered {len(results)} items for {len(statements)} statements")
            return results
        assert failure is not None
        raise failure

    def _record_answer(self, run: _FeedRun, statement: PlannedStatement, result: Statement,
                       report: SyncReport) -> bool:
        """Xero's answer for one statement, on its feed. True when the answer says the feed connection may be gone:
        the caller looks it up, under the feed's own business's grant."""
        record = run.record
        entry = _entry_for(record, statement)
        if entry is None:
            return False  # dropped after an earlier statement of this feed was refused
        if result.status == "REJECTED" and not _is_duplicate(result.errors):
            record.unconfirmed_statements = [e for e in record.unconfirmed_statements
                                             if e.first_sequence < entry.first_sequence or e.statement_id]
            run.blocked = True
            run.error = f"Xero did not accept the statement of {_period(entry)}: {_problem_text(result.errors)}"
            report.statements_rejected += 1
            logger.warning("statement refused", extra={
                "business_id": record.business_id, "account_id": record.account_id,
                "problems": [p.type for p in result.errors], "first_sequence": entry.first_sequence})
            return _feed_gone(result.errors)
        # Accepted (PENDING), or a duplicate: Xero holds every line already, which is delivered.
        record.cursor, record.cursor_balance = entry.last_sequence, entry.end_balance
        record.dated_through = max(record.dated_through or entry.end_date, entry.end_date)
        if result.status == "REJECTED" or not result.id:
            record.unconfirmed_statements = [e for e in record.unconfirmed_statements if e is not entry]
        else:
            record.unconfirmed_statements = [e.model_copy(update={"statement_id": result.id}) if e is entry else e
                                             for e in record.unconfirmed_statements]
        report.statements_accepted += 1
        report.lines_accepted += entry.line_count
        run.sent = True
        return False

    # ------------------------------------------------------------------ the end of a business's run
    def _finish(self, business_id: str, runs: list[_FeedRun], report: SyncReport) -> None:
        now = iso(utc_now(self.clock))
        synced = False
        for run in runs:
            if run.gone:
                continue
            record = run.record
            if run.blocked or run.more or run.has_unsent:
                if run.error:
                    record.last_sync_error = run.error
                if not run.blocked:
                    report.unfinished.append(run.ref)
            else:
                record.last_sync_at, record.last_sync_error = now, None
                report.feeds_synced += 1
                synced = True
            self._save(run)
        if synced:
            self.connections.record_sync(business_id, now)

    def _save(self, run: _FeedRun) -> None:
        """Save the run's record; if someone else changed the feed meanwhile, carry this run's sync state
        over to their version (or drop it if the feed was unlinked or relinked)."""
        for _ in range(3):
            try:
                run.record = self.feeds.save(run.record)
                return
            except StaleFeed:
                fresh = self.feeds.get(run.record.business_id, run.record.account_id)
                if fresh is None or not fresh.is_live or fresh.feed_connection_id != run.record.feed_connection_id:
                    logger.warning("feed changed while syncing; this run's state is dropped", extra={
                        "business_id": run.record.business_id, "account_id": run.record.account_id})
                    run.gone = run.blocked = True
                    return
                update = {name: getattr(run.record, name) for name in _SYNC_FIELDS}
                if run.record.status != run.loaded_status:
                    update.update(status=run.record.status, status_reason=run.record.status_reason,
                                  status_changed_at=run.record.status_changed_at)
                run.record = fresh.model_copy(update=update)
        raise StaleFeed(f"feed {run.record.account_id} kept changing")

    def _today(self) -> date:
        return self.builder.calendar.day_of(utc_now(self.clock))


def _grant(business: _Business) -> _Grant:
    assert business.grant is not None  # a business without a session stopped before it had statements
    return business.grant


def _proven(business: _Business) -> bool:
    return business.grant is not None and business.grant.proven


def _check_answers_match(group: list[tuple[_FeedRun, PlannedStatement]], results: list[Statement]) -> None:
    """Xero answers item by item in the order sent; an answer for another feed would move a cursor over lines
    Xero did not take, so it fails the message instead (the write-ahead entries are sent again, exactly)."""
    sent = [statement.feed_connection_id.lower() for _, statement in group]
    answered = [(result.feed_connection_id or "").lower() for result in results]  # as many: _post checked
    if any(a and a != s for s, a in zip(sent, answered, strict=True)):
        raise XeroAnswerMismatch(f"Xero answered {len(answered)} statements for {answered}; sent {sent}")


class XeroAnswerMismatch(Exception):
    """Xero's per-item answers do not line up with the statements sent."""


def _entry_for(record: FeedRecord, statement: PlannedStatement) -> SentStatement | None:
    return next((e for e in record.unconfirmed_statements if e.first_sequence == statement.first_sequence
                 and e.last_sequence == statement.last_sequence), None)


def _is_duplicate(problems: list[Problem]) -> bool:
    return any(p.type == DUPLICATE_STATEMENT for p in problems)


def _feed_gone(problems: list[Problem]) -> bool:
    return any(p.type in FEED_GONE for p in problems)


def _refused(statement: PlannedStatement, error: XeroError) -> Statement:
    """A request-level refusal, as if Xero had answered it for this statement."""
    return Statement(feed_connection_id=statement.feed_connection_id, status="REJECTED", errors=[Problem(
        type=error.problem_type, title=None, status=error.status, detail=error.message)])


def _problem_text(problems: Sequence[Problem | None]) -> str:
    texts = []
    for problem in problems:
        if problem is None:
            continue
        text = problem.detail or problem.title or problem.type or ""
        if text and text not in texts:
            texts.append(text if text.endswith(".") else text + ".")
    return " ".join(texts) or "Xero gave no reason."


def _period(entry: SentStatement) -> str:
    if entry.start_date == entry.end_date:
        return entry.start_date.isoformat()
    return f"{entry.start_date.isoformat()} to {entry.end_date.isoformat()}"


def _dated_through(record: FeedRecord) -> date | None:
    """The latest line date the feed has sent (accepted, or recorded and about to go): new lines never go back
    before it (docs/auto-sync.md, "Out-of-order postings")."""
    days = [e.end_date for e in record.unconfirmed_statements]
    if record.dated_through is not None:
        days.append(record.dated_through)
    return max(days) if days else None
