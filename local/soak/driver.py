"""Plays a world on the local stack, on the virtual clock, with faults at every boundary; then collects the facts.

The loop: wait until the world is quiet for now (every piece of work is asleep on the clock or done, and no
queue holds a message a receive would hand out), move time to the next moment anything is due (a planned
event, a schedule, a sleeper's deadline, a message becoming visible), start what is due, and again.

Work in the world: each SQS batch (the runner's mappings count them), each schedule firing and each user
action (a thread of its own, counted from the moment it is started). The product's functions run as
deployed by the local runner: the HTTP API over loopback, several invocations per queue at once, moto server.

Phases: the planned days with faults on; then, after the last fault, the world runs on (the schedules, the
users looking at the Xero page and fixing what it shows) until it is quiet: nothing queued, parked or waiting,
and the next schedules find nothing to do. Then the auditor's facts are read.
"""

from __future__ import annotations

import functools
import heapq
import json
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from emulators.ledger import Counterparty, generated_spec
from local import moto_patches
from local.soak import chaos as chaos_module
from local.soak.audit import (
    DeadLetter,
    Expense,
    Facts,
    Feed,
    Job,
    Line,
    SpendMoney,
    Statement,
    Txn,
)
from local.soak.chaos import XERO_READ_TIMEOUT_SECONDS, Chaos
from local.soak.shortcuts import answer_items_directly, receive_only_when_ready, sign_cheaply_in_process
from local.soak.simclock import SimClock
from local.soak.users import UserGaveUp, Users
from local.soak.world import DAY, HOUR, Event, Receipt, World
from local.stack import DevStack, DevStackConfig
from local.template import ACCOUNT_ID, REGION

log = logging.getLogger("local.soak")

MINUTE = 60.0
SCHEDULE_PERIODS = {"EveryThreeHours": 3 * HOUR, "Hourly": HOUR, "EveryMinute": MINUTE}
# The minute's schedule (parked work, and batches killed on their last delivery) is fired when it has work, and
# hourly otherwise: a firing that would find nothing costs the same real time as one that does, and 43,200 of
# them would dominate a 30-day run.
QUIET_MINUTE_EVERY = HOUR
LOOK_EVERY_AFTER_FAULTS = 4 * HOUR
RUN_ON_LIMIT = 4 * DAY  # after the last fault, the world must be quiet within this (else the soak says so)
STUCK_REAL_SECONDS = 300.0  # real time without the world going quiet: something waits on something that cannot come


@dataclass
class Options:
    seed: int = 1
    rate: float = 0.2
    concurrency: int = 4
    strict: bool = False  # hold every request to Xero's OpenAPI files (the tests do; it triples a call's cost)
    aws_over_http: bool = False  # AWS calls over loopback to moto server, as the tests make them (slower)
    emulators_over_http: bool = False  # Xero and ledger calls over loopback to the emulators, as the tests (slower)
    progress: Callable[[str], None] = print


class Pulse:
    """Beats whenever anything in the world starts, ends, falls asleep or sends a message: the driver looks again
    then, instead of polling."""

    def __init__(self) -> None:
        self.version = 0
        self._cond = threading.Condition()

    def beat(self) -> None:
        with self._cond:
            self.version += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._cond:
            if self.version == seen:
                self._cond.wait(timeout)


@dataclass
class Activity:
    """Work in the world that is not an SQS batch: user actions and schedule firings."""

    pulse: Pulse
    active: int = 0
    started: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, name: str, work: Callable[[], Any]) -> None:
        """Run ``work`` in a thread of its own, counted from now (before the thread runs)."""
        with self._lock:
            self.active += 1
            self.started += 1
        self.pulse.beat()

        def run() -> None:
            try:
                work()
            except UserGaveUp:
                self.errors["user gave up"] += 1
            except Exception as error:
                self.errors[f"{name}: {type(error).__name__}: {str(error)[:120]}"] += 1
                log.debug("soak: %s failed", name, exc_info=True)
            finally:
                with self._lock:
                    self.active -= 1
                self.pulse.beat()

        threading.Thread(target=run, name=f"soak-{name}", daemon=True).start()


class FailureLog(logging.Handler):
    """The product's WARNINGs about failed messages, by message id (why each dead letter failed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reasons: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []  # the product's unexpected errors (answered 500), with their cause

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.getMessage()[:80]] += 1
        if record.levelno >= logging.ERROR and record.exc_info and record.exc_info[1] is not None:
            import traceback

            frames = traceback.extract_tb(record.exc_info[2]) if record.exc_info[2] else []
            # The innermost frame of the product's own code (where it called what failed), else the last one.
            where = next((f for f in reversed(frames) if "/xerosync/" in f.filename or "/functions/" in f.filename),
                         frames[-1] if frames else None)
            self.errors.append(f"{record.getMessage()[:60]}: {type(record.exc_info[1]).__name__}: "
                               f"{str(record.exc_info[1])[:160]}" + (f" at {where.filename.rsplit('/', 1)[-1]}:"
                                                                      f"{where.lineno}" if where else ""))
        message_id = getattr(record, "message_id", None)
        if message_id and getattr(record, "reason", None):
            self.reasons[str(message_id)] = f"{getattr(record, 'error', '')}: {record.reason}"[:300]  # type: ignore


class Driver:
    def __init__(self, world: World, options: Options) -> None:
        self.world = world
        self.options = options
        self.clock = SimClock(world.start)
        self.chaos = Chaos(seed=options.seed, rate=options.rate, clock=self.clock)
        self.pulse = Pulse()
        self.clock.on_sleep.append(self.pulse.beat)
        self.activity = Activity(self.pulse)
        self.failures = FailureLog()
        self.chaos.failure_reasons = self.failures.reasons
        self.queue: list[tuple[float, int, str, Any]] = []  # (at, order, kind, payload)
        self._order = 0
        self._queue_lock = threading.Lock()
        self.schedule_failures: Counter[str] = Counter()
        self.stack: DevStack | None = None
        self.users: Users | None = None
        self.quiet_at: float | None = None
        self.real_started = time.monotonic()
        self.invocations: Counter[str] = Counter()
        self.steps = 0
        self.invocation_ms: Counter[str] = Counter()
        self.step_reasons: Counter[str] = Counter()
        self.settle_seconds = 0.0
        self.first_link_at: dict[str, float] = {}
        self.windows_from = self.clock.time()  # the 3-hour schedule's windows are counted from here

    # ------------------------------------------------------------------ running
    def run(self) -> Facts:
        chaos_module.install(self.chaos, self.clock)
        config = DevStackConfig(log_level="WARNING", clock=self.clock, visibility_timeout=None,
                                concurrency=self.options.concurrency, xero_strict=self.options.strict,
                                aws_in_process=not self.options.aws_over_http,
                                emulators_in_process=not self.options.emulators_over_http,
                                extra_environment={"XERO_READ_TIMEOUT_SECONDS": str(XERO_READ_TIMEOUT_SECONDS)})
        sign_cheaply_in_process(not self.options.aws_over_http)
        answer_items_directly(not self.options.aws_over_http)
        try:
            with DevStack(config) as stack:
                return self._run_on_stack(stack)
        finally:
            sign_cheaply_in_process(False)
            answer_items_directly(False)

    def _run_on_stack(self, stack: DevStack) -> Facts:
        self.stack = stack
        self._capture_logs()
        moto_patches.SQS_LISTENERS.append(self.pulse.beat)
        for mapping in stack.mappings.values():
            mapping.on_change = self.pulse.beat
            receive_only_when_ready(mapping, functools.partial(_deliverable, self._queue_name(mapping)))
        self._set_up(stack)
        self.users = Users(stack, self.world, self.clock, self.activity)
        assert stack.runtime is not None and stack.xero is not None
        stack.runtime.listeners.append(self._invoked)
        self.chaos.max_receives = {m.source.queue: n for m in stack.mappings.values()
                                   if (n := _max_receives(stack, m.source.queue)) is not None}
        self.chaos.attach(xero=stack.xero, ledger=stack.ledger, xero_url=stack.urls["xero"],
                          runtime=stack.runtime, mappings=list(stack.mappings.values()))
        for event in self.world.events:
            if event.at >= self.world.start:
                self._plan(event.at, "event", event)
        for name, period in SCHEDULE_PERIODS.items():
            self._plan(self.clock.time() + period, "schedule", name)
        self.chaos.arm()
        self.options.progress(f"world {self.world.digest()}: {self.world.describe()}; "
                              f"faults at {self.options.rate:.0%}")
        self._play(until=self.world.end)
        self.chaos.disarm()
        self.options.progress(f"last fault at {_when(self.chaos.last_fault_at)}; running on until quiet")
        self._run_on()
        return self._collect(stack)

    def _invoked(self, invocation: Any) -> None:
        self.invocations[invocation.function] += 1
        self.invocation_ms[invocation.function] += invocation.duration_ms

    def _plan(self, at: float, kind: str, payload: Any) -> None:
        with self._queue_lock:
            self._order += 1
            heapq.heappush(self.queue, (at, self._order, kind, payload))

    def _first(self) -> float:
        with self._queue_lock:
            return self.queue[0][0] if self.queue else float("inf")

    def _play(self, until: float) -> None:
        next_report = self.clock.time()
        while self._first() <= until:
            self.steps += 1
            self._settle()
            due = self._next_moment()
            if due > until and self._first() > until:
                break
            self.clock.advance_to(min(due, until))
            self._start_due()
            if self.clock.time() >= next_report:
                next_report = self.clock.time() + DAY
                self.options.progress(f"  {_when(self.clock.time())}: {self._status()}")
        self._settle()

    def _next_moment(self) -> float:
        candidates = [(self._first(), "planned")]
        wake = self.clock.next_wake()
        if wake is not None:
            candidates.append((wake, "wake"))
        _, visible_at, _ = self._sqs()
        if visible_at is not None:
            candidates.append((visible_at + 0.001, "visible"))
        moment, why = min(candidates)
        self.step_reasons[why] += 1
        return max(moment, self.clock.time())

    def _start_due(self) -> None:
        now = self.clock.time()
        while self._first() <= now:
            with self._queue_lock:
                _, _, kind, payload = heapq.heappop(self.queue)
            if kind == "event":
                self._happen(payload)
            elif kind == "schedule":
                self._schedule(payload)
            elif kind == "call":
                payload()
        assert self.stack is not None
        for mapping in self.stack.mappings.values():
            mapping.wake()

    def _schedule(self, name: str) -> None:
        now = self.clock.time()
        self.activity.start(f"schedule {name}", lambda: self._fire(name, 0))
        if name != "EveryMinute":
            self._plan(now + SCHEDULE_PERIODS[name], "schedule", name)
            return
        self._plan(self._next_minute_firing(now), "schedule", name)

    def _next_minute_firing(self, now: float) -> float:
        """The minute's schedule runs when it has work: the minute parked work is due, or the minute after a
        batch's last delivery may have been killed (11 minutes after it began); else once an hour."""
        candidates = [(now // QUIET_MINUTE_EVERY + 1) * QUIET_MINUTE_EVERY]
        due = _next_parked(self._table("MainTable"))
        if due is not None:
            candidates.append(due)
        marked = [m + 11 * MINUTE for m in self.chaos.last_deliveries_marked if m + 11 * MINUTE > now - MINUTE]
        candidates += marked
        return max(now + MINUTE, (min(candidates) // MINUTE + 1) * MINUTE)

    def _fire(self, name: str, retry: int) -> None:
        """A schedule's invocation is asynchronous: Lambda tries a failed one twice more, a minute and two later
        (then the dispatcher's goes to its OnFailure dead-letter queue; the others' next run does the work)."""
        assert self.stack is not None
        try:
            self.stack.fire(name)
        except Exception:
            if retry < 2:
                self._plan(self.clock.time() + MINUTE * (retry + 1), "call",
                           lambda: self.activity.start(f"schedule {name}", lambda: self._fire(name, retry + 1)))
            else:
                self.schedule_failures[name] += 1

    # ------------------------------------------------------------------ quiet
    def _sqs(self, *, with_room: bool = False) -> tuple[bool, float | None, int]:
        """What the queues hold (``sqs_outlook``); ``with_room``: only the queues whose function has an invocation
        free to receive, as Lambda stops polling a source at its concurrency."""
        assert self.stack is not None
        mappings = [m for m in self.stack.mappings.values()
                    if not with_room or m.in_flight < m.slots]
        return moto_patches.sqs_outlook([self._queue_name(m) for m in mappings], ACCOUNT_ID, REGION)

    def _queue_name(self, mapping: Any) -> str:
        assert self.stack is not None and self.stack.provisioned is not None
        return str(self.stack.provisioned.queue_url(mapping.source.queue).rsplit("/", 1)[1])

    def _busy(self) -> int:
        assert self.stack is not None
        return self.activity.active + sum(m.in_flight for m in self.stack.mappings.values())

    def _settle(self) -> None:
        """Wait (real time) until every piece of work is asleep on the clock or done, and no queue holds a message
        a receive would hand out now."""
        started = entered = time.monotonic()
        while True:
            seen = self.pulse.version
            # First: a receive that empties the queue is then counted as busy. A message is deliverable only to a
            # function with an invocation free: one whose invocations all sleep on the clock cannot take it before
            # the clock moves, and waiting for it would hold the world still for good.
            deliverable, _, _ = self._sqs(with_room=True)
            if not deliverable and self._busy() <= self.clock.sleeping and self.pulse.version == seen:
                self.settle_seconds += time.monotonic() - entered
                return
            if deliverable:
                assert self.stack is not None
                for mapping in self.stack.mappings.values():
                    mapping.wake()
            if time.monotonic() - started > STUCK_REAL_SECONDS:
                self.options.progress(f"  waiting for the world to settle: {self._status()}")
                started = time.monotonic()
            self.pulse.wait(seen, 0.05)

    def _status(self) -> str:
        assert self.stack is not None
        deliverable, _, held = self._sqs()
        slowest = ", ".join(f"{f.replace('Function', '')} {self.invocations[f]}x"
                            f"{ms / max(1, self.invocations[f]):.0f}ms" for f, ms in self.invocation_ms.most_common(4))
        return (f"[{slowest}] {self.steps} steps {dict(self.step_reasons)}, {self.settle_seconds:.1f} s settling, "
                f"{time.monotonic() - self.real_started:.0f} s; "
                f"{self._busy()} at work, {self.clock.sleeping} asleep, {held} queued"
                f"{' (some deliverable)' if deliverable else ''}, {self.activity.started} units started, "
                f"{sum(len(m.outcomes) for m in self.stack.mappings.values())} recent batches")

    def _parked(self) -> bool:
        return _partition_size(self._table("MainTable"), "PARKED") > 0

    def _table(self, logical_id: str) -> str:
        assert self.stack is not None and self.stack.provisioned is not None
        return str(self.stack.provisioned.refs[logical_id])

    # ------------------------------------------------------------------ after the last fault
    def _run_on(self) -> None:
        """The schedules go on, users look every few hours and fix what they see, until nothing is left to do
        and a full round of the schedules finds nothing; the moment the last work ended is when it went quiet."""
        assert self.users is not None
        deadline = self.clock.time() + RUN_ON_LIMIT
        rounds = 0
        while self.clock.time() < deadline:
            rounds += 1
            fixes = self.users.fixes
            for business in self.world.businesses:
                self._plan(self.clock.time() + 1, "call",
                           lambda b=business: self.activity.start("look", lambda: self._final_look(b)))
            self._play(until=self.clock.time() + LOOK_EVERY_AFTER_FAULTS)
            if self._nothing_left() and self.users.fixes == fixes:
                break  # the users found nothing to do, and the product has nothing left either
        self.quiet_at = self._last_work_at()
        assert self.stack is not None and self.stack.xero is not None
        late = [e for e in self.stack.xero.request_log if e["method"] in ("PUT", "POST")
                and e["timestamp"] > (self.chaos.last_fault_at or 0)]
        for entry in late[-5:]:
            log.info("late Xero write: %s %s at %s", entry["method"], entry["path"], _when(entry["timestamp"]))
        self.options.progress(f"quiet at {_when(self.quiet_at)} after {rounds} rounds of users fixing what they saw")
        if self.activity.errors:
            self.options.progress(f"  work that failed: {dict(self.activity.errors)}")
        assert self.users is not None
        for gave_up in self.users.gave_up[-10:]:
            self.options.progress(f"  a user gave up: {gave_up}")
        for error, count in Counter(self.failures.errors).most_common(10):
            self.options.progress(f"  the product answered 500 ({count}x): {error}")

    def _final_look(self, business: Any) -> None:
        assert self.users is not None
        self.users.look(business, fix_expenses=True)

    def _nothing_left(self) -> bool:
        _, _, held = self._sqs()
        return held == 0 and not self._parked() and self.clock.sleeping == 0 and self._busy() == 0

    def _last_work_at(self) -> float:
        assert self.stack is not None and self.stack.xero is not None
        log_entries = self.stack.xero.request_log
        writes = [e["timestamp"] for e in log_entries if e["method"] in ("PUT", "POST")]
        return max(writes) if writes else self.clock.time()

    # ------------------------------------------------------------------ the world's events
    def _happen(self, event: Event) -> None:
        assert self.stack is not None and self.users is not None and self.stack.xero is not None
        users, xero, ledger = self.users, self.stack.xero, self.stack.ledger
        business = self.world.business(event.business_id) if event.business_id else None
        kind = event.kind
        if kind == "post":
            self._post(event)
        elif kind == "recategorise":
            with chaos_module.quiet():
                ledger.set_spend_category(event.args["account_id"], event.args["transaction_id"],
                                          event.args["category"])
        elif kind in ("add_receipt", "replace_receipt"):
            self._change_receipts(event)
        elif business is not None and kind == "connect":
            self.first_link_at.setdefault(business.business_id, self.clock.time())
            self.activity.start(kind, lambda: users.connect(business))
        elif business is not None and kind == "reconnect":
            # From now on the user means to be connected: if this attempt gives up, their next look tries again.
            self.activity.start(kind, lambda: users.reconnect(business))
        elif business is not None and kind == "look":
            self.activity.start(kind, lambda: users.look(business))
        elif business is not None and kind == "sync_now":
            self.activity.start(kind, lambda: users.sync_now(business))
        elif business is not None and kind == "sync_expenses":
            self.activity.start(kind, lambda: users.sync_expenses(business, double_click=event.args["double_click"]))
        elif business is not None and kind == "edit_expenses":
            self.activity.start(kind, lambda: users.edit(business))
        elif business is not None and kind == "disconnect_bank":
            self.activity.start(kind, lambda: users.disconnect(business))
        elif kind == "disconnect_xero":
            xero.disconnect(event.args["tenant_id"])
        elif kind == "invalid_grant":
            xero.add_fault("invalid_grant", path="/connect/token", times=1)
        elif business is not None and kind == "delete_xero_bank":
            self.activity.start(kind, lambda: self._delete_xero_bank(business, event.args["account_id"]))
        elif kind == "xero_outage":
            fault = xero.add_fault("error", status=503, tenant=event.args["tenant_id"], times=None, path="*")
            self._plan(event.args["until"], "call", lambda: xero.remove_fault(fault["id"]))
        elif kind == "ledger_outage":
            fault_id = ledger.faults.add(503, None, "/v1/", probability=1.0)
            self._plan(event.args["until"], "call", lambda: ledger.faults.remove(fault_id))
        elif kind == "expire_tokens":
            xero.expire_access_tokens()

    def _post(self, event: Event, posted_at: int | None = None) -> None:
        assert self.stack is not None
        args = event.args
        with chaos_module.quiet():
            self.stack.ledger.post_transaction(
                args["account_id"], args["amount"], args["direction"], type=args["type"],
                counterparty=Counterparty(args["payee"], "") if args["payee"] else None,
                reference=args["reference"], description=args["description"], spend_category=args["category"],
                attachments=[_spec(r) for r in args["receipts"]], transaction_id=args["transaction_id"],
                posted_at=posted_at)

    def _change_receipts(self, event: Event) -> None:
        assert self.stack is not None
        ledger = self.stack.ledger
        account, transaction = event.args["account_id"], event.args["transaction_id"]
        with chaos_module.quiet():
            current = ledger.get_transaction(account, transaction).attachments
            if event.kind == "replace_receipt" and current:
                ledger.replace_attachment(account, transaction, current[0].attachment_id, _spec(event.args["receipt"]))
            else:
                ledger.add_attachment(account, transaction, _spec(event.args["receipt"]))

    def _delete_xero_bank(self, business: Any, account_id: str) -> None:
        """The user deletes, in Xero's chart of accounts, the Xero bank account one of their accounts feeds."""
        assert self.users is not None and self.stack is not None and self.stack.xero is not None
        status = self.users.json(business, "GET", "/v1/xero/connection")
        link = next((a.get("link") or {} for a in status["accounts"] if a["account_id"] == account_id), {})
        if link.get("status") in ("PENDING", "ACTIVE") and link.get("xero_account_id"):
            self.stack.xero.delete_bank_account(business.tenant_id, link["xero_account_id"])

    # ------------------------------------------------------------------ set-up
    def _set_up(self, stack: DevStack) -> None:
        assert stack.xero is not None
        for organisation in self.world.organisations:
            stack.xero.seed_organisation(organisation.name, tenant_id=organisation.tenant_id,
                                         base_currency=organisation.base_currency, multicurrency=True,
                                         currencies=["HKD", "SGD", "USD", "CNY"], country_code="SG",
                                         timezone="SINGAPORESTANDARDTIME", utc_offset_hours=8)
        for business in self.world.businesses:
            stack.ledger.create_business(business.country, business.legal_name, business_id=business.business_id)
            for account in business.accounts:
                stack.ledger.create_account(business.business_id, account.currency, name=account.name,
                                            account_number=account.number, opened_at=int(account.opened_at),
                                            account_id=account.account_id)
        # The history before the first day: the past, before any business linked an account (its events reached
        # nobody who keeps them); each link's history and the auto-sync's catch-up bring it to Xero.
        publisher, stack.ledger.event_publisher = stack.ledger.event_publisher, None
        try:
            for event in self.world.events:
                if event.at < self.world.start and event.kind == "post":
                    self._post(event, posted_at=int(event.at))
        finally:
            stack.ledger.event_publisher = publisher

    def _capture_logs(self) -> None:
        from xerosync.observability import logger, metrics

        # Metrics are off locally, so Powertools keeps adding them up across invocations and prints them at the
        # hundredth: one process runs every function here, so they are simply dropped.
        provider = metrics.provider
        provider.flush_metrics = lambda *args, **kwargs: provider.clear_metrics()  # type: ignore[method-assign]

        product = logger._logger
        product.handlers = [self.failures]
        product.propagate = False
        product.setLevel(logging.WARNING)
        for name in ("local.event_sources", "local.stack", "local.http"):
            logging.getLogger(name).setLevel(logging.ERROR)

    # ------------------------------------------------------------------ the facts
    def _collect(self, stack: DevStack) -> Facts:
        assert stack.xero is not None and stack.runtime is not None
        with chaos_module.quiet():
            return collect(self, stack)


def collect(driver: Driver, stack: DevStack) -> Facts:
    """What the auditor reads: the ledger, Xero, the product's tables, the dead-letter queues and the log."""
    assert stack.xero is not None and stack.provisioned is not None
    xero, ledger, world = stack.xero, stack.ledger, driver.world
    transactions = []
    for business in world.businesses:
        for account in business.accounts:
            for txn in ledger.iter_transactions(account.account_id):
                body = txn.to_json()
                transactions.append(Txn(
                    transaction_id=body["transaction_id"], business_id=business.business_id,
                    account_id=account.account_id, sequence=body["sequence"], posted_at=body["posted_at"],
                    direction=body["direction"], amount=Decimal(body["amount"]),
                    running_balance=Decimal(body["running_balance"]),
                    receipts=tuple((a["attachment_id"], a["sha256"], a["size_bytes"]) for a in body["attachments"])))
    items = _scan(stack, str(stack.provisioned.refs["MainTable"]))
    feeds = [Feed(business_id=i["business_id"], account_id=i["account_id"], status=i["status"],
                  tenant_id=i.get("tenant_id", ""), xero_account_id=i.get("xero_account_id"),
                  backfill_from=_date(i.get("backfill_from")), generation=str(i.get("generation", "")),
                  state=_feed_state(i))
             for i in items if str(i["sk"]).startswith("FEED#")]
    connections = {str(i["business_id"]): (_connection_state(i), str(i.get("generation", "")),
                                           len(i.get("replaced") or []))
                   for i in items if i["sk"] == "CONNECTION" and "business_id" in i}
    expenses = [_expense(i) for i in items if str(i["sk"]).startswith("EXPENSE#")]
    batches: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i in items:
        if str(i["sk"]).startswith("SYNCJOB#") and "#BATCH#" in str(i["sk"]):
            job_id, number = str(i["sk"]).removeprefix("SYNCJOB#").split("#BATCH#")
            batches[(str(i["pk"]), job_id)].append(
                f"batch {int(number)}: {i.get('attempts', 0)} sends, last delivery {i.get('last_delivery_at', '-')}")
    jobs = [Job(business_id=i["business_id"], job_id=i["job_id"], completed=bool(i.get("completed_at")),
                dispatched=bool(i.get("dispatched_at")),
                progress=f"planned {i.get('planned_at', '-')}, batches {i.get('batches_done', 0)}/"
                         f"{i.get('batches_total', '-')}, counted {sorted(i.get('counted_batches') or [])}, "
                         f"queued {i.get('queued', '-')} synced {i.get('synced', 0)} failed {i.get('failed', 0)}; "
                         + "; ".join(batches[(str(i["pk"]), str(i["job_id"]))]))
            for i in items if str(i["sk"]).startswith("SYNCJOB#") and "#BATCH#" not in str(i["sk"])]
    refused = {}
    for item in items:
        if str(item["sk"]).startswith("RECEIPTS#"):
            for attachment_id, record in (item.get("records") or {}).items():
                if record.get("state") == "REJECTED" and record.get("reason"):
                    refused[(str(item["transaction_id"]), attachment_id)] = str(record["reason"])
    lines, statements, spend, accounts_of, live = [], [], [], {}, {}
    for organisation in world.organisations:
        tenant = organisation.tenant_id
        # A bank account the world deleted in Xero's chart is archived when transactions name it (as Xero does):
        # its lines are gone from the business's point of view, and the relinked account must hold them.
        live[tenant] = {
            a["AccountID"]
            for a in xero.accounts(tenant)
            if a["Type"] == "BANK" and a.get("Status", "ACTIVE") == "ACTIVE"
        }
        for connection in xero.feed_connections(tenant):
            accounts_of[connection["id"]] = connection.get("accountId") or ""
            lines += [Line(tenant, connection["id"], str(line.get("transactionId")))
                      for line in xero.statement_lines(tenant, connection["id"])]
        for statement in xero.statements(tenant):
            statements.append(Statement(
                tenant_id=tenant, feed_connection_id=statement["feedConnectionId"], statement_id=statement["id"],
                status=statement["status"], start_balance=_signed(statement["startBalance"]),
                end_balance=_signed(statement["endBalance"]),
                transaction_ids=tuple(str(line.get("transactionId")) for line in statement.get("statementLines", []))))
        # Read from the emulator's state, not rendered: the world deletes bank accounts in Xero's chart, and a
        # Spend Money of a deleted account has no account to render (Xero itself only archives one in use).
        for transaction in _bank_transactions(xero, tenant):
            attachments = tuple((a["FileName"], a["sha256"])
                                for a in xero.attachments(tenant, transaction.bank_transaction_id))
            spend.append(SpendMoney(tenant_id=tenant, bank_transaction_id=transaction.bank_transaction_id,
                                    transaction_id=_marker(transaction.url), status=transaction.status,
                                    total=transaction.total, attachments=attachments))
    dead = []
    for mapping in stack.mappings.values():
        queue = _dlq_of(stack, mapping.source.queue)
        if queue:
            dead += [DeadLetter(queue, m_id, body) for m_id, body in _drain(stack, queue)]
    leftovers: Counter[str] = Counter()
    _, _, held = driver._sqs()
    leftovers["messages queued"] = held
    leftovers["work parked"] = _partition_size(str(stack.provisioned.refs["MainTable"]), "PARKED")
    leftovers["batches marked on their last delivery"] = sum(
        1 for i in items if i.get("gsi1pk") == "SYNCBATCHES#LAST_DELIVERY")
    return Facts(
        transactions=transactions, syncing_businesses={b.business_id for b in world.businesses if b.syncs_expenses},
        feeds=feeds, live_xero_accounts=live, feed_connection_accounts=accounts_of, lines=lines,
        statements=statements, spend_money=spend, expenses=expenses, receipts_refused=refused, jobs=jobs,
        dead_letters=dead, failure_reasons=dict(driver.failures.reasons), xero_calls=xero_calls(xero.request_log),
        first_link_at=dict(driver.first_link_at),
        windows_from=driver.windows_from, faults=dict(driver.chaos.counts), invocations=Counter(driver.invocations),
        dynamodb=Counter(driver.chaos.aws_calls), last_fault_at=driver.chaos.last_fault_at,
        quiet_at=driver.quiet_at, real_seconds=time.monotonic() - driver.real_started, leftovers=leftovers,
        connections=connections, group_overlaps=sum(m.overlaps for m in stack.mappings.values()),
        overran=Counter(driver.chaos.overran), longest=Counter(driver.chaos.longest))


def _deliverable(queue: str) -> bool:
    """Whether a receive from ``queue`` (moto in this process) would hand out a message now."""
    return moto_patches.sqs_outlook([queue], ACCOUNT_ID, REGION)[0]


def _connection_state(item: dict[str, Any]) -> str:
    confirmed = _when(float(item["confirmed_at"])) if item.get("confirmed_at") else "-"
    return f"{item.get('status', '')} ({item.get('status_reason') or 'no reason'}, confirmed {confirmed})"


def _feed_state(item: dict[str, Any]) -> str:
    return (f"cursor {item.get('cursor')}, {len(item.get('unconfirmed_statements') or [])} unconfirmed, last sync "
            f"{item.get('last_sync_at') or '-'}, last error {str(item.get('last_sync_error') or '-')[:80]}")


def _bank_transactions(xero: Any, tenant: str) -> list[Any]:
    with xero.state.lock:
        organisation = xero.state.organisation(tenant)
        return list(organisation.bank_transactions.values()) if organisation is not None else []


def _spec(receipt: Receipt) -> Any:
    return generated_spec(receipt.kind, receipt.size, seed=receipt.seed, file_name=receipt.file_name)


def _expense(item: dict[str, Any]) -> Expense:
    error = item.get("error") or {}
    spend = item.get("spend_money") or {}
    return Expense(business_id=item["business_id"], transaction_id=item["transaction_id"], status=item["status"],
                   error_code=error.get("code"), error_message=error.get("message"), error_action=error.get("action"),
                   bank_transaction_id=spend.get("bank_transaction_id"), job_id=item.get("job_id"),
                   updated=bool(item.get("updated")),
                   attachment_errors=tuple((p["attachment_id"], p.get("message", ""), p.get("action"))
                                           for p in item.get("attachment_errors") or []))


def _signed(balance: dict[str, Any]) -> Decimal:
    amount = Decimal(str(balance["amount"]))
    return amount if balance.get("creditDebitIndicator") == "CREDIT" else -amount


def _marker(url: str | None) -> str | None:
    return url.rstrip("/").rsplit("/", 1)[-1] if url else None


def _date(value: Any) -> Any:
    from datetime import date

    return date.fromisoformat(str(value)) if value else None


def _when(moment: float | None) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _scan(stack: DevStack, table: str) -> list[dict[str, Any]]:
    import boto3

    resource = boto3.resource("dynamodb", endpoint_url=stack.urls["moto"], region_name=REGION)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = resource.Table(table).scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _max_receives(stack: DevStack, queue: str) -> int | None:
    """The receives after which SQS moves a message of ``queue`` to its dead-letter queue (None: no redrive)."""
    assert stack.provisioned is not None
    properties = stack.provisioned.template.body["Resources"][queue]["Properties"]
    policy = stack.provisioned.template.resolve(properties).get("RedrivePolicy") or {}
    count = policy.get("maxReceiveCount")
    return int(count) if count is not None else None


def _dlq_of(stack: DevStack, queue: str) -> str:
    assert stack.provisioned is not None
    template = stack.provisioned.template
    policy = template.body["Resources"][queue]["Properties"].get("RedrivePolicy") or {}
    target = policy.get("deadLetterTargetArn", {}).get("Fn::GetAtt")
    return str(target[0]) if target else ""


def _drain(stack: DevStack, queue: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message the queue holds (a dead-letter queue), read from moto itself: a receive would miss the dead
    letters past the queue's retention period and, behind the first of them, every later one
    (``moto_patches.queue_contents``)."""
    assert stack.provisioned is not None
    name = stack.provisioned.queue_url(queue).rsplit("/", 1)[1]
    found = []
    for message_id, text in moto_patches.queue_contents(name, ACCOUNT_ID, REGION):
        try:
            body = json.loads(text)
        except ValueError:
            body = {"raw": text[:200]}
        found.append((message_id, body if isinstance(body, dict) else {"raw": body}))
    return found


def _next_parked(table: str) -> float | None:
    """When the earliest parked work may resume (its sort key starts with the moment, in milliseconds)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = dynamodb_backends[ACCOUNT_ID][REGION].tables.get(table)
    partition = found.items.get(DynamoType({"S": "PARKED"})) if found is not None else None
    if not partition:
        return None
    return min(int(str(key.value).split("#", 1)[0]) for key in list(partition)) / 1000.0


def _partition_size(table: str, pk: str) -> int:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    backend = dynamodb_backends[ACCOUNT_ID][REGION]
    found = backend.tables.get(table)
    if found is None:
        return 0
    partition = found.items.get(DynamoType({"S": pk}))
    return len(partition) if partition else 0


def xero_calls(log_entries: list[dict[str, Any]]) -> Counter[str]:
    """Xero calls by kind, from the emulator's request log."""
    calls: Counter[str] = Counter()
    for entry in log_entries:
        path = entry["path"].lower()
        write = entry["method"] in ("PUT", "POST")
        if "/statements" in path:
            kind = "statements post" if write else "statement reads"
        elif "/attachments" in path:
            kind = "receipt uploads" if write else "receipt reads"
        elif "/banktransactions" in path:
            kind = "spend money writes" if write else "spend money reads"
        else:
            kind = "other"
        calls[kind] += 1
    return calls
