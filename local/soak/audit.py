"""The auditor: Xero against the ledger and the product's own tables, once the world is quiet.

``audit(facts)`` is pure: ``Facts`` is what the driver read from the emulators, the tables, the dead-letter
queues and the log (``driver.collect``), and every invariant below is a function of it, so that a unit test can
plant the fault each one is for (tests/unit/soak). The report renders as the soak's table; ``Report.failures``
lists what is missing, duplicated or stuck, and the soak exits non-zero when it is not empty.

Invariants:
- every posting of a linked account (from the history the user chose) is a statement line in Xero exactly
  once, in a live Xero bank account; no line in Xero that the ledger does not have;
- each Xero bank account's delivered statements continue one another, and each ends at the ledger's balance;
- every outbound payment of a linked account of a business that may sync expenses is an expense;
- each expense is in Xero at most once (by its Url marker), and ends synced (in Xero, as the ledger has it) or
  in Sync error with a reason; none is left being synced;
- each receipt of a synced expense is in Xero once, or refused with a reason; none is left on the way;
- every sync job completes (or never started and touched nothing);
- every message in a dead-letter queue is explained: why it failed (the log), and what became of its work.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

BOOKING_OFFSET = timedelta(hours=8)  # the product's STATEMENT_UTC_OFFSET_MINUTES
LIVE_FEEDS = ("PENDING", "ACTIVE")


# ---------------------------------------------------------------------------------------------- facts
@dataclass(frozen=True)
class Txn:
    transaction_id: str
    business_id: str
    account_id: str
    sequence: int
    posted_at: str
    direction: str
    amount: Decimal
    running_balance: Decimal
    receipts: tuple[tuple[str, str, int], ...] = ()  # (attachment id, sha256, size)

    @property
    def booking_day(self) -> date:
        return (datetime.fromisoformat(self.posted_at.replace("Z", "+00:00")) + BOOKING_OFFSET).date()


@dataclass(frozen=True)
class Feed:
    business_id: str
    account_id: str
    status: str
    tenant_id: str
    xero_account_id: str | None
    backfill_from: date | None
    generation: str = ""
    state: str = ""  # the feed's own account of its syncing at the end (cursor, unconfirmed, last error)


@dataclass(frozen=True)
class Line:
    tenant_id: str
    feed_connection_id: str
    transaction_id: str


@dataclass(frozen=True)
class Statement:
    tenant_id: str
    feed_connection_id: str
    statement_id: str
    status: str
    start_balance: Decimal  # signed (money the customer holds is positive)
    end_balance: Decimal
    transaction_ids: tuple[str, ...]


@dataclass(frozen=True)
class SpendMoney:
    tenant_id: str
    bank_transaction_id: str
    transaction_id: str | None  # from its Url marker
    status: str
    total: Decimal
    attachments: tuple[tuple[str, str], ...] = ()  # (file name, sha256)


@dataclass(frozen=True)
class Expense:
    business_id: str
    transaction_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    error_action: str | None = None
    bank_transaction_id: str | None = None
    job_id: str | None = None
    updated: bool = False
    attachment_errors: tuple[tuple[str, str, str | None], ...] = ()  # (attachment id, message, action)


@dataclass(frozen=True)
class Job:
    business_id: str
    job_id: str
    completed: bool
    dispatched: bool
    progress: str = ""  # batches planned, counted, and each batch's sends and last delivery (read when stuck)


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    body: dict[str, Any]


@dataclass
class Facts:
    transactions: list[Txn]
    syncing_businesses: set[str]  # those that may sync expenses (not incorporated in Hong Kong)
    feeds: list[Feed]
    live_xero_accounts: dict[str, set[str]]  # tenant -> live Xero bank accounts
    feed_connection_accounts: dict[str, str]  # feed connection -> the Xero bank account it fed
    lines: list[Line]
    statements: list[Statement]  # in the order Xero received them
    spend_money: list[SpendMoney]
    expenses: list[Expense]
    receipts_refused: dict[tuple[str, str], str]  # (transaction, attachment) -> the product's reason
    jobs: list[Job]
    dead_letters: list[DeadLetter]
    failure_reasons: dict[str, str]  # message id -> why it last failed (the product's WARNING)
    xero_calls: Counter[str] = field(default_factory=Counter)  # by kind (statements post, receipt uploads...)
    first_link_at: dict[str, float] = field(default_factory=dict)  # business -> when it first connected
    windows_from: float = 0.0  # the 3-hour schedule's windows are counted from here
    faults: dict[str, Counter[str]] = field(default_factory=dict)
    invocations: Counter[str] = field(default_factory=Counter)
    dynamodb: Counter[str] = field(default_factory=Counter)
    last_fault_at: float | None = None
    quiet_at: float | None = None
    real_seconds: float = 0.0
    leftovers: Counter[str] = field(default_factory=Counter)  # queued, parked or marked work at the end
    # business -> its connection at the end: status, generation, generations it replaced not yet finished
    connections: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    group_overlaps: int = 0  # FIFO batches received while another batch of their group was still running
    overran: Counter[str] = field(default_factory=Counter)  # invocations that reached their timeout in world time
    longest: Counter[str] = field(default_factory=Counter)  # the longest invocation, world seconds, by function


def merge(parts: list[Facts]) -> Facts:
    """The facts of a world played as groups of organisations, one process each (``world.split``), as one: the
    groups share no organisation, business, message or table item, so lists join, counts add up, and the times
    are the latest of any group (the world went quiet when its last group did)."""
    if len(parts) == 1:
        return parts[0]
    faults: dict[str, Counter[str]] = defaultdict(Counter)
    longest: Counter[str] = Counter()
    for part in parts:
        for boundary, kinds in part.faults.items():
            faults[boundary].update(kinds)
        for function, seconds in part.longest.items():
            longest[function] = max(longest[function], seconds)

    def latest(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return max(known) if known else None

    def summed(name: str) -> Counter[str]:
        total: Counter[str] = Counter()
        for part in parts:
            total.update(getattr(part, name))
        return total

    return Facts(
        transactions=[t for p in parts for t in p.transactions],
        syncing_businesses=set().union(*(p.syncing_businesses for p in parts)),
        feeds=[f for p in parts for f in p.feeds],
        live_xero_accounts={k: v for p in parts for k, v in p.live_xero_accounts.items()},
        feed_connection_accounts={k: v for p in parts for k, v in p.feed_connection_accounts.items()},
        lines=[line for p in parts for line in p.lines],
        statements=[s for p in parts for s in p.statements],
        spend_money=[s for p in parts for s in p.spend_money],
        expenses=[e for p in parts for e in p.expenses],
        receipts_refused={k: v for p in parts for k, v in p.receipts_refused.items()},
        jobs=[j for p in parts for j in p.jobs],
        dead_letters=[d for p in parts for d in p.dead_letters],
        failure_reasons={k: v for p in parts for k, v in p.failure_reasons.items()},
        xero_calls=summed("xero_calls"),
        first_link_at={k: v for p in parts for k, v in p.first_link_at.items()},
        windows_from=min(p.windows_from for p in parts),
        faults=dict(faults),
        invocations=summed("invocations"),
        dynamodb=summed("dynamodb"),
        last_fault_at=latest([p.last_fault_at for p in parts]),
        quiet_at=latest([p.quiet_at for p in parts]),
        real_seconds=max(p.real_seconds for p in parts),
        leftovers=summed("leftovers"),
        connections={k: v for p in parts for k, v in p.connections.items()},
        group_overlaps=sum(p.group_overlaps for p in parts),
        overran=summed("overran"),
        longest=longest,
    )


# ---------------------------------------------------------------------------------------------- report
@dataclass
class Row:
    label: str
    value: str
    failing: bool = False


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)

    def add(self, label: str, value: int | str, *, key: str | None = None, must_be_zero: bool = False,
            why: list[str] | None = None) -> None:
        failing = must_be_zero and isinstance(value, int) and value > 0
        self.rows.append(Row(label, f"{value:,}" if isinstance(value, int) else value, failing))
        if key is not None and isinstance(value, int):
            self.numbers[key] = value
        if failing:
            self.failures.append(f"{label.strip()}: {value}" + (f" ({'; '.join(why[:5])})" if why else ""))

    def render(self, title: str) -> str:
        width = max(len(r.label) for r in self.rows) + 2
        lines = [title, "-" * len(title)]
        for row in self.rows:
            flag = "   <-- FAIL" if row.failing else ""
            lines.append(f"{row.label:<{width}}{row.value:>14}{flag}")
        if self.notes:
            lines += ["", *self.notes]
        lines += ["", "PASS: nothing missing, duplicated or stuck" if not self.failures
                  else "FAIL:\n  " + "\n  ".join(self.failures)]
        return "\n".join(lines)


def audit(facts: Facts) -> Report:
    report = Report()
    _statement_lines(facts, report)
    _balances(facts, report)
    _expenses(facts, report)
    _receipts(facts, report)
    _jobs(facts, report)
    _dead_letters(facts, report)
    _figures(facts, report)
    return report


# ---------------------------------------------------------------------------------------------- invariants
def _statement_lines(facts: Facts, report: Report) -> None:
    feeds = {(f.business_id, f.account_id): f for f in facts.feeds}
    delivered: Counter[str] = Counter()
    stray: list[str] = []
    known = {t.transaction_id for t in facts.transactions}
    for line in facts.lines:
        account = facts.feed_connection_accounts.get(line.feed_connection_id)
        if account is None or account not in facts.live_xero_accounts.get(line.tenant_id, set()):
            continue  # the Xero bank account was deleted in Xero: its lines went with it
        delivered[line.transaction_id] += 1
        if line.transaction_id not in known:
            stray.append(line.transaction_id)
    expected, unlinked = [], []
    accounts_unlinked: Counter[str] = Counter()
    for txn in facts.transactions:
        feed = feeds.get((txn.business_id, txn.account_id))
        if feed is None or feed.status not in LIVE_FEEDS:
            unlinked.append(txn.transaction_id)
            accounts_unlinked[f"{txn.business_id}/{txn.account_id} {feed.status if feed else 'never linked'}"] += 1
        elif feed.backfill_from is None or txn.booking_day >= feed.backfill_from:
            expected.append(txn)
    once = sum(1 for t in expected if delivered[t.transaction_id] == 1)
    missing = [t.transaction_id for t in expected if delivered[t.transaction_id] == 0]
    doubled = [t.transaction_id for t in expected if delivered[t.transaction_id] > 1]
    doubled += [t for t in delivered if delivered[t] > 1 and t not in {e.transaction_id for e in expected}]
    report.add("Transactions posted in the ledger", len(facts.transactions), key="transactions")
    report.add("  on accounts not linked at the end", len(unlinked), key="unlinked", must_be_zero=True,
               why=[f"{a}: {n}" for a, n in accounts_unlinked.items()])
    report.add("  delivered to Xero once", once, key="delivered_once")
    report.add("  missing", len(missing), key="lines_missing", must_be_zero=True,
               why=[_missing_why(t, feeds, facts) for t in expected if delivered[t.transaction_id] == 0])
    report.add("  duplicated", len(doubled), key="lines_duplicated", must_be_zero=True, why=doubled)
    report.add("  in Xero but not in the ledger", len(stray), key="lines_stray", must_be_zero=True, why=stray)


def _missing_why(txn: Txn, feeds: dict[tuple[str, str], Feed], facts: Facts) -> str:
    """A missing line, with what the product's tables say of its link and connection at the end."""
    feed = feeds[(txn.business_id, txn.account_id)]
    status, generation, replaced = facts.connections.get(txn.business_id, ("no connection", "", 0))
    moved = "" if not generation or feed.generation == generation else ", link on another generation"
    return (f"{txn.transaction_id} (seq {txn.sequence}, booking day {txn.booking_day}; link {feed.status}{moved}"
            + (f" [{feed.state}]" if feed.state else "") + f"; connection {status}"
            + (f", {replaced} replaced generation(s) unfinished" if replaced else "") + ")")


def _balances(facts: Facts, report: Report) -> None:
    """Per Xero bank account, the delivered statements in the order Xero received them: each starts where the
    one before ended, and each ends at the ledger's running balance after its last line."""
    balance_after = {t.transaction_id: t.running_balance for t in facts.transactions}
    last_end: dict[str, Decimal] = {}
    breaks: list[str] = []
    for statement in facts.statements:
        if statement.status != "DELIVERED":
            continue
        account = facts.feed_connection_accounts.get(statement.feed_connection_id, statement.feed_connection_id)
        if account not in facts.live_xero_accounts.get(statement.tenant_id, set()):
            continue
        previous = last_end.get(account)
        if previous is not None and previous != statement.start_balance:
            breaks.append(f"{statement.statement_id} starts at {statement.start_balance}, the one before ended at "
                          f"{previous}")
        if statement.transaction_ids:
            ledger = balance_after.get(statement.transaction_ids[-1])
            if ledger is not None and ledger != statement.end_balance:
                breaks.append(f"{statement.statement_id} ends at {statement.end_balance}, the ledger at {ledger}")
        last_end[account] = statement.end_balance
    report.add("Statement balance breaks", len(breaks), key="balance_breaks", must_be_zero=True, why=breaks)


def _expenses(facts: Facts, report: Report) -> None:
    feeds = {(f.business_id, f.account_id): f for f in facts.feeds}
    by_id = {e.transaction_id: e for e in facts.expenses}
    in_xero: dict[str, list[SpendMoney]] = defaultdict(list)
    for spend in facts.spend_money:
        if spend.status != "DELETED" and spend.transaction_id:
            in_xero[spend.transaction_id].append(spend)
    amounts = {t.transaction_id: t.amount for t in facts.transactions}
    payments = [t for t in facts.transactions if t.direction == "DEBIT" and t.business_id in facts.syncing_businesses
                and (t.business_id, t.account_id) in feeds]
    no_record = [t.transaction_id for t in payments if t.transaction_id not in by_id]
    mine = [e for e in facts.expenses if e.business_id in facts.syncing_businesses]
    synced = [e for e in mine if e.status == "SYNCED" and len(in_xero[e.transaction_id]) == 1
              and in_xero[e.transaction_id][0].bank_transaction_id == e.bank_transaction_id]
    stale = [e.transaction_id for e in synced if not e.updated and e.error_code is None
             and in_xero[e.transaction_id][0].total != amounts.get(e.transaction_id)]
    lost_link = [e.transaction_id for e in mine if e.status == "SYNCED" and e not in synced]
    doubled = [t for t, found in in_xero.items() if len(found) > 1]
    unknown = [s.bank_transaction_id for s in facts.spend_money
               if s.status != "DELETED" and (s.transaction_id is None or s.transaction_id not in by_id)]
    errors = [e for e in mine if e.status == "SYNC_ERROR"]
    without_reason = [e.transaction_id for e in errors if not e.error_message]
    stuck = [e.transaction_id for e in mine if e.status == "QUEUED"]
    pending = [e.transaction_id for e in mine if e.status == "PENDING"]
    report.add("Expenses (outbound payments of linked accounts, outside Hong Kong)", len(payments), key="expenses")
    report.add("  with no expense record", len(no_record), key="expenses_unrecorded", must_be_zero=True,
               why=no_record)
    report.add("  synced once", len(synced), key="expenses_synced")
    report.add("  synced, but not as the ledger has it", len(stale), key="expenses_stale", must_be_zero=True,
               why=stale)
    report.add("  shown synced, but not in Xero as recorded", len(lost_link), key="expenses_lost",
               must_be_zero=True, why=lost_link)
    report.add("  duplicated in Xero", len(doubled) + len(unknown), key="expenses_duplicated", must_be_zero=True,
               why=doubled + unknown)
    report.add("  in Sync error with a reason", len(errors) - len(without_reason), key="expenses_sync_error")
    codes = Counter(e.error_code or "?" for e in errors)
    if codes:
        report.notes.append("Sync errors by reason: " + ", ".join(f"{c} {n}" for c, n in codes.most_common()))
    report.add("  in Sync error without a reason", len(without_reason), key="expenses_unexplained",
               must_be_zero=True, why=without_reason)
    report.add("  stuck (being synced, nobody working on it)", len(stuck), key="expenses_stuck", must_be_zero=True,
               why=stuck)
    report.add("  never selected for a sync", len(pending), key="expenses_pending")


def _receipts_on_the_way(facts: Facts) -> tuple[list[str], list[str], int, int]:
    """Receipts of synced expenses (``transaction/attachment``) neither in Xero nor refused with a reason, those
    in Xero more than once, and how many are in Xero once and refused."""
    txns = {t.transaction_id: t for t in facts.transactions}
    spend = {s.bank_transaction_id: s for s in facts.spend_money if s.status != "DELETED"}
    in_xero = refused = 0
    missing: list[str] = []
    doubled: list[str] = []
    for expense in facts.expenses:
        if expense.status != "SYNCED" or expense.bank_transaction_id not in spend:
            continue
        attached = Counter(sha for _, sha in spend[expense.bank_transaction_id].attachments)
        problems = {a for a, _, _ in expense.attachment_errors}
        txn = txns.get(expense.transaction_id)
        for attachment_id, sha, _ in txn.receipts if txn else ():
            found = attached[sha]
            if found == 1:
                in_xero += 1
            elif found > 1:
                doubled.append(f"{expense.transaction_id}/{attachment_id}")
            elif attachment_id in problems or (expense.transaction_id, attachment_id) in facts.receipts_refused:
                refused += 1
            else:
                missing.append(f"{expense.transaction_id}/{attachment_id}")
    return missing, doubled, in_xero, refused


def _receipts(facts: Facts, report: Report) -> None:
    missing, doubled, in_xero, refused = _receipts_on_the_way(facts)
    report.add("Receipts of synced expenses in Xero", in_xero, key="receipts_in_xero")
    report.add("  not in Xero, with the reason and the way out", refused, key="receipts_refused")
    report.add("  missing (on the way, nobody working on it)", len(missing), key="receipts_missing",
               must_be_zero=True, why=missing)
    report.add("  duplicated", len(doubled), key="receipts_duplicated", must_be_zero=True, why=doubled)


def _jobs(facts: Facts, report: Report) -> None:
    queued_by = {e.job_id for e in facts.expenses if e.status == "QUEUED" and e.job_id}
    complete = [j for j in facts.jobs if j.completed]
    never = [j for j in facts.jobs if not j.completed and not j.dispatched and j.job_id not in queued_by]
    stuck = [j.job_id for j in facts.jobs if not j.completed and j not in never]
    report.add("Sync jobs complete", len(complete), key="jobs_complete")
    report.add("  never started (their request died first; nothing touched)", len(never), key="jobs_never_started")
    progress = {j.job_id: j.progress for j in facts.jobs}
    report.add("  stuck", len(stuck), key="jobs_stuck", must_be_zero=True,
               why=[f"{job_id} ({progress[job_id]})" if progress.get(job_id) else job_id for job_id in stuck])


def _dead_letters(facts: Facts, report: Report) -> None:
    """Each message that reached a dead-letter queue: why (the product's WARNING), and what became of its work
    (the invariants above hold for it)."""
    by_queue: Counter[str] = Counter()
    unexplained = []
    expenses = {e.transaction_id: e for e in facts.expenses}
    on_the_way = {missing.split("/", 1)[0] for missing in _receipts_on_the_way(facts)[0]}
    for letter in facts.dead_letters:
        by_queue[letter.queue] += 1
        reason = facts.failure_reasons.get(letter.message_id)
        outcome = _outcome(letter, expenses, on_the_way)
        if reason is None or outcome is None:
            unexplained.append(f"{letter.queue} {letter.message_id}: "
                               f"{'no reason in the log' if reason is None else outcome or 'its work is unsettled'}")
        else:
            report.notes.append(f"DLQ {letter.queue}: {letter.body.get('kind', 'message')} failed: {reason}; "
                                f"{outcome}")
    summary = ", ".join(f"{q} {n}" for q, n in by_queue.most_common()) or "none"
    report.add("Messages in dead-letter queues", len(facts.dead_letters), key="dead_letters")
    report.rows[-1].value = f"{len(facts.dead_letters):,}"
    if facts.dead_letters:
        report.notes.append(f"Dead letters by queue: {summary}")
    report.add("  unexplained", len(unexplained), key="dead_letters_unexplained", must_be_zero=True, why=unexplained)


def _outcome(letter: DeadLetter, expenses: dict[str, Expense], on_the_way: set[str]) -> str | None:
    """What became of a dead letter's work, or None when it is not settled (``on_the_way``: the transactions with
    a receipt missing)."""
    body = letter.body
    if body.get("kind") == "spend_money_batch":
        ids = body.get("transaction_ids") or []
        unsettled = [t for t in ids if (e := expenses.get(t)) is not None and e.status == "QUEUED"
                     and e.job_id == body.get("job_id")]
        return None if unsettled else f"its {len(ids)} expenses ended (synced, or Sync error with the way out)"
    if body.get("kind") == "expense_attachments":
        transaction_id = str(body.get("transaction_id"))
        if expenses.get(transaction_id) is None or transaction_id in on_the_way:
            return None  # a receipt of it neither in Xero nor failed with the way out: lost with the message
        return "its receipts are in Xero or failed with the way out"
    if "feeds" in body or body.get("kind") == "feed_sync":
        return "its feeds were brought up to date by later syncs (no line missing or doubled)"
    return "its work was done again by the schedule or the user"


def lower_bound(facts: Facts) -> Counter[str]:
    """The fewest Xero calls the work done needed: one statements POST per organisation and 3-hour window in which
    one of its businesses had new lines (the history of a new link in the first; the businesses feeding one
    organisation send in one request, docs/auto-sync.md "Carrying"), one status read per delivered statement, one
    Spend Money call per 50 expenses synced of a business, one call per receipt in Xero."""
    bound: Counter[str] = Counter()
    period = 3 * 3600
    tenant_of = {feed.account_id: feed.tenant_id for feed in facts.feeds}
    windows: set[tuple[str, int]] = set()
    for txn in facts.transactions:
        linked = facts.first_link_at.get(txn.business_id)
        if linked is None:
            continue
        posted = datetime.fromisoformat(txn.posted_at.replace("Z", "+00:00")).timestamp()
        windows.add((tenant_of.get(txn.account_id, txn.business_id),
                     int((max(posted, linked) - facts.windows_from) // period)))
    bound["statements post"] = len(windows)
    bound["statement reads"] = sum(1 for s in facts.statements if s.status == "DELIVERED")
    synced = Counter(e.business_id for e in facts.expenses if e.status == "SYNCED")
    bound["spend money writes"] = sum(-(-n // 50) for n in synced.values())
    bound["receipt uploads"] = sum(len(s.attachments) for s in facts.spend_money if s.status != "DELETED")
    return bound


def _figures(facts: Facts, report: Report) -> None:
    bound = lower_bound(facts)
    bounded = sum(facts.xero_calls[k] for k in bound)
    report.add("Xero calls made", sum(facts.xero_calls.values()), key="xero_calls")
    report.add("  statements, Spend Money and receipts", bounded, key="xero_calls_bounded")
    report.add("  lower bound for that work", sum(bound.values()), key="xero_lower_bound")
    if bound:
        report.rows[-1].value += f" (x{bounded / max(1, sum(bound.values())):.2f})"
    report.notes.append("Xero calls by kind (made / lower bound): " + ", ".join(
        f"{kind} {facts.xero_calls[kind]}" + (f"/{bound[kind]}" if kind in bound else "")
        for kind in sorted(facts.xero_calls)))
    for boundary, counts in facts.faults.items():
        fired = sum(counts.values())
        report.add(f"Faults fired: {boundary}", fired, key=f"faults_{boundary}")
        if counts:
            report.notes.append(f"Faults at {boundary}: " + ", ".join(f"{k} {n}" for k, n in counts.most_common()))
    if facts.last_fault_at is not None and facts.quiet_at is not None:
        minutes = max(0.0, facts.quiet_at - facts.last_fault_at) / 60
        report.add("Time from the last fault to quiet", f"{minutes:,.0f} min")
    delivered = report.numbers.get("delivered_once", 0) or 1
    invocations = sum(facts.invocations.values())
    report.add("Lambda invocations per delivered transaction", f"{invocations / delivered:.2f}")
    report.add("DynamoDB reads per delivered transaction", f"{facts.dynamodb['read'] / delivered:.2f}")
    report.add("DynamoDB writes per delivered transaction", f"{facts.dynamodb['write'] / delivered:.2f}")
    report.add("FIFO batches received while their group had one running", facts.group_overlaps,
               key="group_overlaps")
    report.add("Invocations that reached their timeout (world time; ended there)", sum(facts.overran.values()),
               key="overran")
    if facts.overran:
        report.notes.append("At their timeout (world time), by function: " + ", ".join(
            f"{f} {n} (longest {facts.longest[f]} s)" for f, n in facts.overran.most_common()))
    left = sum(facts.leftovers.values())
    report.add("Work left queued, parked or marked at the end", left, key="leftovers", must_be_zero=True,
               why=[f"{k} {n}" for k, n in facts.leftovers.items() if n])


def booking_day(moment: float) -> date:
    return (datetime.fromtimestamp(moment, tz=UTC) + BOOKING_OFFSET).date()
