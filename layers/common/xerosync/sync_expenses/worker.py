"""The Spend Money worker: one message = one batch of up to 50 expenses of one business = one Xero call.

Exactly once, whatever happens to the message:
- a batch counts its send attempts (one item per batch); a second attempt (redelivery after a crash, a lost
  answer, a DLQ redrive) or an expense flagged ``maybe_in_xero`` first looks Xero up by the ``Url`` marker
  and only creates what is missing, under a new Idempotency-Key (Xero remembers keys for minutes only);
- the attempt takes the batch's lease (``SEND_LEASE_SECONDS``): two deliveries of one batch can overlap (SQS
  hands a message out again when its visibility timeout runs out while a delivery still runs), and a delivery
  that finds another's lease held sends nothing and returns the message for when it runs out (``RetryLater``),
  since the other's create may still land and Xero, asked meanwhile, would not show it yet; a delivery gives its
  lease up once its calls are over, and one killed at its timeout leaves it to run out;
- the shared session resolves an answer lost in flight the same way (``create_bank_transactions_once``);
- an expense is only taken if this job queued it and it is still QUEUED (the API marks before it sends the
  batches; one it could not mark but that is still syncable is claimed here with a conditional write); one
  tenant's batches run one at a time (FIFO group), so two jobs never send one expense at once;
- Xero's answer is recorded per element before anything else, and progress is counted once per batch.
Each expense is sent as the ledger has its payment when the batch runs (read before anything is decided): a
change whose ledger event was lost (a receipt added, a category or description changed) still reaches Xero,
and the receipts handed over are the ones the ledger holds (docs/sync-expenses.md, "As the ledger has it").
``ReconnectRequired`` does not loop: the expenses get SYNC_ERROR with reconnect guidance and the message is
finished; so does a request Xero refuses as a whole (400, 403, 404, 409, 413, 422), with Xero's message.
Rate limits propagate (the message comes back after the wait); so do Xero outages and lost answers, until the
batch's last delivery, which marks the expenses SYNC_ERROR before the message goes to the DLQ (alarm): no
expense is left "being synced" with nobody working on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, Protocol

from xerosync.clock import Clock, from_iso, iso, utc_now
from xerosync.errors import NotFound
from xerosync.observability import logger, metrics
from xerosync.queue import RetryLater
from xerosync.store.feeds import FeedRecord
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.fifo_queues import AttachmentUploads
from xerosync.sync_expenses.models import (
    AttachmentUploadRequest,
    Coding,
    ExpenseRecord,
    ExpenseStatus,
    SpendMoneyBatch,
)
from xerosync.sync_expenses.payees import normalise_payee
from xerosync.sync_expenses.spend_money import bank_transaction_url, build_spend_money, outcome_of, xero_link
from xerosync.sync_expenses.store import (
    ExpenseStore,
    MappingStore,
    SendLeaseHeld,
    StaleExpense,
    SyncJobStore,
    in_parallel,
)
from xerosync.sync_expenses.validation import SyncContext, depends_on_reference_data, problems_for_sync
from xerosync.sync_expenses.xero_gateway import ReferenceDataCache, chosen_since, update_spend_money
from xerosync.xero.errors import (
    GenerationChanged,
    ReconnectRequired,
    XeroConflict,
    XeroForbidden,
    XeroNotFound,
    XeroRateLimited,
    XeroTooLarge,
    XeroUnprocessable,
    XeroValidationError,
)
from xerosync.xero.expense_models import BankTransaction
from xerosync.xero.session import XeroSession, idempotency_key

# The ledger's models load with its client, and the payees' histories with their store, both built with the first
# batch (docs/architecture.md, "Cold start").
if TYPE_CHECKING:
    from xerosync.ledger.models import LedgerTransaction
    from xerosync.sync_expenses.suggestion_store import Suggestions
    from xerosync.sync_expenses.suggestions import PayeeSummary

# How long a delivery that began sending a batch may still be sending it: the longest a delivery can last, the
# worker's timeout (template.yaml, SyncExpensesWorkerFunction: 120 s), and a margin for the clocks of two
# execution environments (docs/sync-expenses.md, "Exactly once").
SEND_LEASE_SECONDS = 130
ANOTHER_DELIVERY = "another delivery is sending this batch"

# What a sync waits for, by the limit Xero (or the rate governor) named: the job's progress shows it.
WAITS_FOR = {
    "minute": "Xero's per-minute limit for your organisation",
    "day": "Xero's daily limit for your organisation",
    "concurrent": "Xero's limit on calls at once",
    "appminute": "Xero's limit for all the bank's customers",
    "minute-share": "the other businesses on your Xero organisation (each gets a fair share of Xero's limits)",
    "day-share": "the other businesses on your Xero organisation (each gets a fair share of Xero's daily limit)",
    "token-refresh": "the connection to Xero to be renewed",
    "refresh": "Xero's data to be read",
    "another-delivery": "an earlier run of this sync to finish",
}


def wait_reason(problem: str) -> str:
    return WAITS_FOR.get(problem, "Xero to be ready")


# Xero's answers to a whole request that the same request will get again; and the ones that only say "later".
REFUSALS = (XeroValidationError, XeroForbidden, XeroNotFound, XeroConflict, XeroTooLarge, XeroUnprocessable)
WAITS = (XeroRateLimited, RetryLater)

Transition = Callable[[ExpenseRecord], ExpenseRecord]
Decision = tuple[ExpenseRecord, Transition]  # an expense and what Xero's answer (or validation) makes of it


class SessionFactory(Protocol):
    def session(self, business_id: str, generation: str | None = None) -> XeroSession: ...


class FeedSource(Protocol):
    def get(self, business_id: str, account_id: str) -> FeedRecord | None: ...


class PaymentSource(Protocol):
    def transaction(self, account_id: str, transaction_id: str) -> LedgerTransaction: ...

    def iter_transactions(self, account_id: str, *, after_sequence: int = 0, posted_from: str | None = None,
                          page_size: int = ...) -> Iterator[LedgerTransaction]: ...


# The contract's largest page of an account's postings (docs/ledger-contract.md, Transactions).
LEDGER_PAGE = 500


class LedgerRead(NamedTuple):  # not a frozen dataclass: its class builds 7x faster (docs/architecture.md)
    """One ledger call of a batch: a page of the account's postings from ``first`` to ``last`` (sequences), or,
    for a payment alone in its range, the payment itself (``first == last``)."""

    account_id: str
    first: int
    last: int
    transaction_ids: tuple[str, ...]


def ledger_reads(work: list[ExpenseRecord], page: int = LEDGER_PAGE) -> list[LedgerRead]:
    """The calls that read a batch's payments: per account, its expenses' sequences in ranges of at most a page,
    each range one listing (sequences are consecutive per account and never reordered, so a range of n sequences
    is one page of n postings); a range that holds one payment reads that payment alone. Never more calls than
    expenses; a batch of one account's recent payments is one call."""
    by_account: dict[str, list[tuple[int, str]]] = {}
    for expense in work:
        by_account.setdefault(expense.account_id, []).append((expense.payment.sequence, expense.transaction_id))
    reads = []
    for account_id, postings in by_account.items():
        postings.sort()
        start = 0
        while start < len(postings):
            end = start
            while end + 1 < len(postings) and postings[end + 1][0] - postings[start][0] < page:
                end += 1
            reads.append(LedgerRead(account_id, postings[start][0], postings[end][0],
                                    tuple(t for _, t in postings[start:end + 1])))
            start = end + 1
    return reads


def read_payments(ledger: PaymentSource, work: list[ExpenseRecord]) -> dict[str, LedgerTransaction]:
    """The ledger's current copy of each expense's payment, by transaction id; a payment the ledger does not
    know is left out. A payment a listing did not show where its sequence says (never expected: postings are
    not reordered or deleted) is read by itself, so that what it answers is what decides."""

    def read(call: LedgerRead) -> dict[str, LedgerTransaction]:
        wanted = set(call.transaction_ids)
        found: dict[str, LedgerTransaction] = {}
        if len(wanted) > 1:
            # The client pages (a ledger may answer a smaller page than asked); the next page is asked for only if
            # this range's last sequence has not been listed yet.
            for listed in ledger.iter_transactions(call.account_id, after_sequence=call.first - 1,
                                                   page_size=call.last - call.first + 1):
                if listed.transaction_id in wanted:
                    found[listed.transaction_id] = listed
                if len(found) == len(wanted) or listed.sequence >= call.last:
                    break
        for transaction_id in wanted - found.keys():
            with suppress(NotFound):
                found[transaction_id] = ledger.transaction(call.account_id, transaction_id)
        return found

    payments: dict[str, LedgerTransaction] = {}
    for found in in_parallel(read, ledger_reads(work)):
        payments |= found
    return payments


class Tally:
    # A plain class, like the worker's: a dataclass compiles its methods when the module is imported.
    def __init__(self) -> None:
        self.synced: list[ExpenseRecord] = []
        self.failed: list[str] = []
        self.settled: set[str] = set()
        self.sending = False  # a call that may create Spend Money has begun
        self.earlier_synced = 0  # synced by an earlier delivery of the batch that died before counting it

    def done(self, transaction_id: str) -> bool:
        return transaction_id in self.settled


def synced_cleanly(expense: ExpenseRecord) -> bool:
    """Counts as synced in a job: in Xero as the expense is (a refused update leaves SYNCED with an error)."""
    return expense.status == ExpenseStatus.SYNCED and expense.error is None


def takes(expense: ExpenseRecord, job_id: str) -> bool:
    """Whether this job's batch may sync the expense now."""
    if expense.job_id == job_id:
        return expense.status == ExpenseStatus.QUEUED  # anything else: this job already settled it
    if expense.status == ExpenseStatus.QUEUED:
        return False  # another job owns it
    return expense.status in (ExpenseStatus.PENDING, ExpenseStatus.SYNC_ERROR) or expense.updated


class SpendMoneyWorker:
    # A plain class: a dataclass compiles its methods when the module is imported, at every cold start
    # (docs/architecture.md, "Cold start").
    def __init__(self, expenses: ExpenseStore, mappings: MappingStore, jobs: SyncJobStore, feeds: FeedSource,
                 reference: ReferenceDataCache, xero: SessionFactory,
                 attachment_uploads: AttachmentUploads | None,  # None when receipt uploads are switched off
                 clock: Clock, bank_contact_name: str, url_template: str, xero_app_url: str,
                 booking_offset_minutes: int = 480,
                 suggestions: Suggestions | None = None,  # learns from what was synced (None: learns nothing)
                 ledger: PaymentSource | None = None,  # the payments' current values (None: the sweeper)
                 ) -> None:
        self.expenses = expenses
        self.mappings = mappings
        self.jobs = jobs
        self.feeds = feeds
        self.reference = reference
        self.xero = xero
        self.attachment_uploads = attachment_uploads
        self.clock = clock
        self.bank_contact_name = bank_contact_name
        self.url_template = url_template
        self.xero_app_url = xero_app_url
        self.booking_offset_minutes = booking_offset_minutes
        self.suggestions = suggestions
        self.ledger = ledger

    def _now(self) -> str:
        return iso(utc_now(self.clock))

    def process(self, batch: SpendMoneyBatch, *, last_delivery: bool = False) -> Tally:
        """Sync one batch. ``last_delivery``: SQS will not hand the message back after this one (the next
        failure sends it to the dead-letter queue), so a failure leaves its expenses Sync error first."""
        records = self.expenses.get_many(batch.business_id, batch.transaction_ids)
        work = [records[t] for t in batch.transaction_ids if t in records and takes(records[t], batch.job_id)]
        tally = Tally()
        if last_delivery and work:
            try:
                self.jobs.mark_last_delivery(batch, self.clock.time())
            except Exception:
                # The mark only lets the sweeper find this delivery if it is killed: without it, the delivery
                # still ends its expenses and counts the batch (and the sweeper's check of running jobs counts a
                # batch whose expenses ended).
                logger.exception("the batch's last delivery could not be marked; it goes on", extra={
                    "job_id": batch.job_id, "batch": batch.batch})
        try:
            if work:
                self._sync(batch, work, self.xero.session(batch.business_id, batch.generation), tally)
        except GenerationChanged:
            # The job was started on a connection that has ended (disconnected, or connected again): its batch
            # is never sent with another connection's grant; its expenses say so and may be synced again.
            self._end_unsettled(batch, work, tally, partial(
                state_machine.not_synced, code="connection_changed",
                message="The expense was not synced: the connection to Xero changed (it was disconnected or "
                        "connected again) before it was sent.",
                action="Sync the expense again."))
        except ReconnectRequired as error:
            logger.warning("xero connection gone; expenses of the batch marked for reconnecting",
                           extra={"job_id": batch.job_id, "batch": batch.batch, "reason": error.reason})
            reason = error.reason or error.message
            self._end_unsettled(batch, work, tally, partial(state_machine.reconnect_required, reason=reason))
        except WAITS as wait:
            self._note_wait(batch, wait)
            raise  # not a failure: the message comes back when the wait is over
        except REFUSALS as error:
            # Xero refused the whole request (not an expense of it): sending it again cannot succeed.
            logger.error("xero refused a spend money batch", extra={
                "job_id": batch.job_id, "batch": batch.batch, "status": error.status, "error": error.message})
            metrics.add_metric(name="SpendMoneyBatchRefused", unit="Count", value=1)
            self._end_unsettled(batch, work, tally, partial(
                state_machine.not_synced, code="xero_refused",
                message=f"Xero refused to sync the expense: {error.message}",
                action="Sync the expense again later; if Xero refuses it again, contact the bank's support "
                       "with this message."))
        except Exception:
            if not last_delivery:
                raise  # SQS hands the batch back: a Xero outage or a lost answer is resolved by the next try
            logger.exception("spend money batch failed on its last delivery; expenses marked, message to the DLQ",
                             extra={"job_id": batch.job_id, "batch": batch.batch})
            self._end_unsettled(batch, work, tally, partial(
                state_machine.not_synced, code="sync_failed",
                message="The expense could not be synced: Xero could not be reached or did not answer, "
                        "however often it was tried.",
                action="Sync the expense again later."))
            self._finish(batch, tally)
            raise  # the message still goes to the dead-letter queue, whose alarm tells a person
        self._finish(batch, tally)
        return tally

    def settle_abandoned(self, batch: SpendMoneyBatch, *, only_if_ended: bool = False) -> Tally | None:
        """A batch whose last delivery was killed (at the Lambda's timeout) before it counted: SQS will not hand
        it back, so its expenses still QUEUED by its job end Sync error with the reason and the way out (looked
        up in Xero before anything is created, if a send had begun), and the batch is counted. No Xero call.

        ``only_if_ended``: a batch no delivery counted, of a running job (the sweeper's check): counted (as what
        its expenses became, their receipts handed over and their payees' histories taught, as a delivery's count
        does) only if none of its expenses is still QUEUED by its job, so only once nothing of this job will ever
        change them; otherwise left to SQS (None). The planner writes every expense of a batch QUEUED by its job
        before it sends the batch."""
        records = self.expenses.get_many(batch.business_id, batch.transaction_ids)
        work = [records[t] for t in batch.transaction_ids
                if t in records and records[t].status == ExpenseStatus.QUEUED and records[t].job_id == batch.job_id]
        if only_if_ended and work:
            return None
        tally = Tally()
        self._end_unsettled(batch, work, tally, partial(
            state_machine.not_synced, code="sync_interrupted",
            message="The expense's sync was cut off before it finished (the work ran out of time), and nothing "
                    "could confirm whether it reached Xero.",
            action="Sync the expense again: Xero is checked first, so it is never created twice."))
        self._finish(batch, tally)
        logger.warning("batch settled by the sweeper: no delivery counted it", extra={
            "job_id": batch.job_id, "batch": batch.batch, "expenses_ended": len(work),
            "synced": len(tally.synced) + tally.earlier_synced, "failed": len(tally.failed)})
        return tally

    def _note_wait(self, batch: SpendMoneyBatch, wait: Exception) -> None:
        """The job, and through it each of its waiting expenses, says what it waits for and until about when."""
        if isinstance(wait, XeroRateLimited):
            seconds, problem = wait.retry_after, wait.problem
        else:
            seconds = float(getattr(wait, "seconds", 60))
            problem = "another-delivery" if getattr(wait, "reason", None) == ANOTHER_DELIVERY else "lease"
        until = iso(utc_now(self.clock) + timedelta(seconds=max(1.0, seconds)))
        self.jobs.note_wait(batch.business_id, batch.job_id, wait_reason(problem), until)

    def _end_unsettled(self, batch: SpendMoneyBatch, work: list[ExpenseRecord], tally: Tally,
                       ending: Callable[..., ExpenseRecord]) -> None:
        """Every expense of the batch without Xero's answer ends SYNC_ERROR through ``ending``."""
        # This or an earlier delivery of the batch may have reached Xero before it failed.
        maybe_sent = tally.sending or self.jobs.send_attempts(batch.business_id, batch.job_id, batch.batch) > 0
        now = self._now()

        def end(expense: ExpenseRecord) -> ExpenseRecord:
            if expense.status != ExpenseStatus.QUEUED or expense.job_id != batch.job_id:
                return expense  # settled already (Xero's answer was written before the failure): it stands
            return ending(expense, job_id=batch.job_id, now=now,
                          maybe_in_xero=maybe_sent and expense.spend_money is None)

        self._settle([(e, end) for e in work if not tally.done(e.transaction_id)], tally)

    def _finish(self, batch: SpendMoneyBatch, tally: Tally) -> None:
        # Another delivery of the batch may have settled some of it and died before handing its receipts over or
        # counting it (a timeout, a crash; also one running beside this one, after the message's visibility
        # timeout ran out, whose settling this delivery's first read predates): those count as what they became,
        # so that the job's figures add up whichever delivery counts, and their receipts are handed over again
        # (the hand-over is deduplicated). What they became is read now, consistently, not taken from the read
        # at the start: one more batched read, only for a batch this delivery did not settle whole.
        unsettled = [t for t in batch.transaction_ids if not tally.done(t)]
        records = self.expenses.get_many(batch.business_id, unsettled) if unsettled else {}
        earlier: list[ExpenseRecord] = []
        for transaction_id in unsettled:
            record = records.get(transaction_id)
            if record is None or record.job_id != batch.job_id:
                continue
            if synced_cleanly(record):
                earlier.append(record)
            elif record.status in (ExpenseStatus.SYNCED, ExpenseStatus.SYNC_ERROR):
                tally.failed.append(transaction_id)
        tally.earlier_synced += len(earlier)
        self._hand_over_receipts(batch, tally.synced + earlier)
        if self.suggestions is not None:
            # The payees' histories learn what was synced (again, harmlessly, on a redelivery or by the sweeper
            # beside a delivery: an unchanged summary is not written) before the batch is counted: a failure here
            # brings the message back, or leaves the batch to the sweeper's next check.
            self.suggestions.learn(batch.business_id, tally.synced + earlier)
        self._count(batch, tally)

    # ------------------------------------------------------------------ the batch
    def _sync(self, batch: SpendMoneyBatch, work: list[ExpenseRecord], session: XeroSession, tally: Tally) -> None:
        work = self._as_in_ledger(work)
        feeds = [self.feeds.get(batch.business_id, account_id) for account_id in {e.account_id for e in work}]
        context = SyncContext(
            reference=self.reference.current(batch.tenant_id, lambda: session),
            mappings=self.mappings.get(batch.business_id),
            linked_accounts={f.account_id: f.xero_account_id for f in feeds
                             if f is not None and f.is_live and f.xero_account_id},
            bank_contact_name=self.bank_contact_name, booking_offset_minutes=self.booking_offset_minutes)
        now = self._now()
        found = [(expense, problems_for_sync(expense, context)) for expense in work]
        if any(depends_on_reference_data(problems) for _, problems in found):
            # The snapshot may predate what the user did in Xero: it says "archived or deleted" only once fresh.
            fresher = self.reference.without_gaps(context.reference, batch.tenant_id, lambda: session,
                                                  known_since=chosen_since(
                                                      [f for f in feeds if f is not None], context.mappings))
            if fresher is not context.reference:
                context = replace(context, reference=fresher)
                found = [(expense, problems_for_sync(expense, context)) for expense in work]
        rejected: list[Decision] = []
        valid: list[ExpenseRecord] = []
        for expense, problems in found:
            if problems:
                rejected.append((expense, partial(state_machine.reject, problems=problems, job_id=batch.job_id,
                                                  now=now)))
            else:
                valid.append(expense)
        self._settle(rejected, tally)
        ready = [e for e in in_parallel(partial(self._claim, job_id=batch.job_id), valid) if e is not None]
        if not ready:
            return
        attempt, lease_until = self._begin_send(batch)
        tally.sending = True
        try:
            if attempt > 1:
                # An earlier attempt's delivery may have settled expenses since this one read them (it ran beside
                # this one and has ended: its lease is over): what it settled is not sent again.
                ready = self._still_queued(batch, ready)
            creates = [e for e in ready if e.spend_money is None]
            updates = [e for e in ready if e.spend_money is not None]
            if creates:
                self._create(batch, creates, context, session, attempt, tally)
            if updates:
                self._update(batch, updates, context, session, attempt, tally)
        except Exception:
            # This delivery's calls are over, whether or not they reached Xero: the next delivery (after a 5xx or a
            # 429) goes on at once, looking Xero up first. A delivery killed at its timeout leaves the lease to run out.
            self._end_send(batch, lease_until)
            raise
        self._end_send(batch, lease_until)

    def _begin_send(self, batch: SpendMoneyBatch) -> tuple[int, str]:
        """Count this attempt and take the batch's lease; the attempt's number and the lease's end. A delivery that
        finds another's lease held sends nothing: that one may still be creating the batch's Spend Money, which Xero
        would not show yet, so the message comes back once the lease has run out (``RetryLater``)."""
        now = utc_now(self.clock)
        lease_until = iso(now + timedelta(seconds=SEND_LEASE_SECONDS))
        try:
            attempt = self.jobs.begin_send(batch.business_id, batch.job_id, batch.batch, now=iso(now),
                                           lease_until=lease_until)
        except SendLeaseHeld as held:
            seconds = (from_iso(held.until) - utc_now(self.clock)).total_seconds()
            logger.info("spend money batch left to the delivery sending it; the message comes back after it",
                        extra={"job_id": batch.job_id, "batch": batch.batch, "lease_until": held.until})
            metrics.add_metric(name="SpendMoneyLeftToAnotherDelivery", unit="Count", value=1)
            raise RetryLater(max(1.0, seconds), ANOTHER_DELIVERY) from None
        return attempt, lease_until

    def _still_queued(self, batch: SpendMoneyBatch, ready: list[ExpenseRecord]) -> list[ExpenseRecord]:
        records = self.expenses.get_many(batch.business_id, [e.transaction_id for e in ready])
        return [e for e in ready if (latest := records.get(e.transaction_id)) is not None
                and latest.status == ExpenseStatus.QUEUED and latest.job_id == batch.job_id]

    def _end_send(self, batch: SpendMoneyBatch, lease_until: str) -> None:
        try:
            self.jobs.end_send(batch.business_id, batch.job_id, batch.batch, lease_until)
        except Exception:
            logger.exception("a spend money batch's lease could not be given up; the next delivery waits for it",
                             extra={"job_id": batch.job_id, "batch": batch.batch})

    def _as_in_ledger(self, work: list[ExpenseRecord]) -> list[ExpenseRecord]:
        """Each expense brought up to the ledger's current version of its payment, through the same state machine
        and conditional write as the ledger's events (an event that arrives later finds it current). The events
        are the fast path and are not always delivered; this read is what makes the sync send what the customer
        sees in the bank's app. A ledger that cannot be read fails the delivery (SQS hands the batch back).
        The payments are read a page of the account's postings at a time (``ledger_reads``), and the payee's
        suggestion follows a payment whose payee changed."""
        if self.ledger is None:
            return work
        # Loaded with the first batch, not at import (docs/architecture.md, cold start).
        from xerosync.sync_expenses.suggestions import with_suggestion

        payments = read_payments(self.ledger, work)
        now = self._now()
        summaries = self._new_payees(work, payments)

        def current(expense: ExpenseRecord) -> ExpenseRecord:
            payment = payments.get(expense.transaction_id)
            if payment is None:
                return expense  # the ledger no longer knows it: what the expense holds is all there is
            if payment.version <= expense.payment.ledger_version:
                return expense

            def brought_up(record: ExpenseRecord | None) -> ExpenseRecord | None:
                # An event that wrote this version (or a newer one) first leaves the latest copy to send, as it is
                # (the copy read with the batch predates it).
                if record is None:
                    return None
                changed = state_machine.apply_ledger(record, payment, now)
                if changed is None:
                    return record
                # The payee's suggestion follows the payee (the event consumer attaches it the same way).
                return with_suggestion(changed, summaries.get(normalise_payee(changed.payment.payee)))

            saved = self.expenses.change(expense.business_id, expense.transaction_id, brought_up, expense)
            if saved is not None and saved.payment.ledger_version != expense.payment.ledger_version:
                logger.info("expense brought up to the ledger before sending", extra={
                    "transaction_id": expense.transaction_id, "ledger_version": saved.payment.ledger_version})
            return saved or expense

        return in_parallel(current, work)

    def _new_payees(self, work: list[ExpenseRecord], payments: dict[str, LedgerTransaction]
                    ) -> dict[str, PayeeSummary]:
        """The summaries of the payees the ledger now names where an expense's suggestion is another payee's (one
        read for the batch, none when no payee changed, the usual case)."""
        if self.suggestions is None or not work:
            return {}
        payees = []
        for expense in work:
            payment = payments.get(expense.transaction_id)
            if payment is None or payment.version <= expense.payment.ledger_version:
                continue
            held = expense.suggestion.payee_key if expense.suggestion else normalise_payee(expense.payment.payee)
            if normalise_payee(payment.counterparty.name) != held:
                payees.append(payment.counterparty.name)
        return self.suggestions.attach_many(work[0].business_id, payees) if payees else {}

    def _claim(self, expense: ExpenseRecord, job_id: str) -> ExpenseRecord | None:
        """An expense of the batch that the API could not mark QUEUED (it lost a race and decided again) is
        claimed here before sending, so that no other job queues it meanwhile."""

        def claim(record: ExpenseRecord | None) -> ExpenseRecord | None:
            if record is None or (record.status == ExpenseStatus.QUEUED and record.job_id == job_id):
                return record
            return state_machine.queue(record, job_id, self._now()) if takes(record, job_id) else None

        try:
            return self.expenses.change(expense.business_id, expense.transaction_id, claim, expense)
        except StaleExpense:
            return None  # still changing under us: left out of this batch, as one another job took

    def _spend_money(self, expense: ExpenseRecord, context: SyncContext) -> BankTransaction:
        return build_spend_money(expense, context.resolve(expense),
                                 bank_account_id=context.linked_accounts[expense.account_id],
                                 url=bank_transaction_url(self.url_template, expense.transaction_id),
                                 reference=context.reference)

    def _synced(self, expense: ExpenseRecord, bank_transaction_id: str, context: SyncContext, job_id: str
                ) -> Decision:
        short_code = context.reference.short_code if context.reference else None
        resolved = context.resolve(expense)
        coding = Coding(xero_account_id=resolved.xero_account_id, tax_type=resolved.tax_type,
                        tracking=resolved.tracking)
        return expense, partial(state_machine.synced, bank_transaction_id=bank_transaction_id,
                                link=xero_link(self.xero_app_url, short_code, bank_transaction_id),
                                sent_revision=expense.revision, job_id=job_id, now=self._now(), coding=coding)

    def _create(self, batch: SpendMoneyBatch, creates: list[ExpenseRecord], context: SyncContext,
                session: XeroSession, attempt: int, tally: Tally) -> None:
        items = {e.transaction_id: self._spend_money(e, context) for e in creates}
        pending = list(creates)
        if attempt > 1 or any(e.maybe_in_xero for e in creates):
            # An earlier attempt may have reached Xero: what is there already is recorded, not created again.
            found = session.find_bank_transactions_by_marker([items[e.transaction_id] for e in creates])
            recovered = []
            for expense in creates:
                existing = found.get(str(items[expense.transaction_id].url))
                if existing is not None and existing.bank_transaction_id:
                    recovered.append(self._synced(expense, existing.bank_transaction_id, context, batch.job_id))
            if recovered:
                self._bring_up_to_date(batch, recovered, context, session, attempt, tally)
            pending = [e for e in creates if not tally.done(e.transaction_id)]
            metrics.add_metric(name="SpendMoneyRecoveredByMarker", unit="Count", value=len(recovered))
        if not pending:
            return
        results = session.create_bank_transactions_once([items[e.transaction_id] for e in pending],
                                                        batch_id=f"{batch.job_id}:{batch.batch}:{attempt}")
        decided: list[Decision] = []
        now = self._now()
        for expense, result in zip(pending, results, strict=True):
            outcome = outcome_of(result)
            if outcome.ok and outcome.bank_transaction_id:
                decided.append(self._synced(expense, outcome.bank_transaction_id, context, batch.job_id))
            else:
                decided.append((expense, partial(state_machine.refused, messages=outcome.messages, job_id=batch.job_id,
                                                 now=now)))
        self._settle(decided, tally)

    def _bring_up_to_date(self, batch: SpendMoneyBatch, recovered: list[Decision], context: SyncContext,
                          session: XeroSession, attempt: int, tally: Tally) -> None:
        """Spend Money an earlier attempt created holds what that attempt sent; the expense may have changed
        since (an edit after the Sync error, a ledger change). The link is recorded first, so that nothing
        creates it again, then one update sends the current content; each expense counts once, as the
        update left it."""
        linked = Tally()
        self._settle(recovered, linked)
        updated = Tally()
        if linked.synced:
            self._update(batch, linked.synced, context, session, attempt, updated)
        tally.settled |= linked.settled
        tally.synced += [r for r in linked.synced if not updated.done(r.transaction_id)] + updated.synced
        tally.failed += linked.failed + updated.failed

    def _update(self, batch: SpendMoneyBatch, updates: list[ExpenseRecord], context: SyncContext,
                session: XeroSession, attempt: int, tally: Tally) -> None:
        items = [self._spend_money(e, context) for e in updates]
        key = idempotency_key(batch.tenant_id, "spend-update", batch.job_id, batch.batch, attempt,
                              *sorted(f"{e.transaction_id}:{e.revision}" for e in updates))
        results = update_spend_money(session, items, key=key)
        decided: list[Decision] = []
        for expense, result in zip(updates, results, strict=True):
            outcome = outcome_of(result)
            if outcome.ok and outcome.bank_transaction_id:
                decided.append(self._synced(expense, outcome.bank_transaction_id, context, batch.job_id))
            else:
                decided.append((expense, self._update_refusal(outcome.messages, reconciled=outcome.reconciled,
                                                              deleted=outcome.deleted_in_xero,
                                                              job_id=batch.job_id)))
        self._settle(decided, tally)

    def _update_refusal(self, messages: list[str], *, reconciled: bool, deleted: bool, job_id: str) -> Transition:
        now = self._now()

        def refusal(expense: ExpenseRecord) -> ExpenseRecord:
            if reconciled:
                return state_machine.update_refused_reconciled(expense, messages, job_id, now)
            if deleted:
                return state_machine.spend_money_deleted(expense, messages, job_id, now)
            return state_machine.refused(expense, messages, job_id, now)

        return refusal

    # ------------------------------------------------------------------ recording
    def _settle(self, decided: list[Decision], tally: Tally) -> None:
        """Write each outcome (in parallel: one conditional write per expense) and tally it."""
        stored = in_parallel(lambda decision: self._write(*decision), decided)
        for (expense, _), saved in zip(decided, stored, strict=True):
            tally.settled.add(expense.transaction_id)
            if synced_cleanly(saved):
                tally.synced.append(saved)
            else:
                tally.failed.append(expense.transaction_id)

    def _write(self, expense: ExpenseRecord, transition: Transition) -> ExpenseRecord:
        """Apply the outcome to the latest copy of the expense: a ledger event may have changed it since."""

        def apply(record: ExpenseRecord | None) -> ExpenseRecord:
            if record is None:
                raise StaleExpense(expense.transaction_id)
            return transition(record)

        saved = self.expenses.change(expense.business_id, expense.transaction_id, apply, expense)
        assert saved is not None  # apply never leaves the expense alone
        return saved

    def _hand_over_receipts(self, batch: SpendMoneyBatch, synced: list[ExpenseRecord]) -> None:
        if self.attachment_uploads is None:
            return
        requests = [AttachmentUploadRequest(
            business_id=e.business_id, tenant_id=batch.tenant_id, generation=batch.generation, account_id=e.account_id,
            transaction_id=e.transaction_id, bank_transaction_id=e.spend_money.bank_transaction_id,
            expense_version=e.payment.ledger_version)
            for e in synced if e.spend_money is not None and e.payment.receipts]
        if requests:
            self.attachment_uploads.send(requests)

    def _count(self, batch: SpendMoneyBatch, tally: Tally) -> None:
        self.jobs.count_batch(batch.business_id, batch.job_id, batch.batch,
                              synced=len(tally.synced) + tally.earlier_synced, failed_ids=tally.failed)
        # Also when this batch was counted before: the delivery that counted it may have died right after.
        self.jobs.complete_if_done(batch.business_id, batch.job_id, self._now())
        metrics.add_metric(name="ExpensesSynced", unit="Count", value=len(tally.synced))
        metrics.add_metric(name="ExpensesFailed", unit="Count", value=len(tally.failed))
        logger.info("spend money batch done", extra={"job_id": batch.job_id, "batch": batch.batch,
                                                     "synced": len(tally.synced), "failed": len(tally.failed)})
