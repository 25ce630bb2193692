"""Outbound payments that auto-sync reads from the ledger become expenses where the ledger's events have not
made them so: an account's history from the start date chosen when it was linked (its events came before
the link), and any posting event lost or late on the way. The events stay the fast path; this is the sure one
for postings. A change to an older payment whose event is lost is not among what auto-sync reads: the Spend
Money worker reads each payment before sending it (docs/sync-expenses.md, "As the ledger has it").

Idempotent: an expense that exists is only refreshed when the ledger holds a newer version of its payment,
through the same state machine and the same conditional writes as the events' consumer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from xerosync.clock import Clock, iso, utc_now
from xerosync.ledger.models import Direction, LedgerTransaction
from xerosync.observability import metrics
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.models import ExpenseRecord
from xerosync.sync_expenses.payees import normalise_payee
from xerosync.sync_expenses.store import ExpenseStore, in_parallel
from xerosync.sync_expenses.suggestion_store import Suggestions
from xerosync.sync_expenses.suggestions import with_suggestion


@dataclass
class PaymentCatchUp:
    expenses: ExpenseStore
    clock: Clock
    suggestions: Suggestions | None = None  # None: the payees' summaries on the expenses' own table

    def __post_init__(self) -> None:
        if self.suggestions is None:
            self.suggestions = Suggestions(self.expenses)

    def watch(self, transactions: Iterable[LedgerTransaction], seen: list[LedgerTransaction]
              ) -> Iterator[LedgerTransaction]:
        """Pass ``transactions`` through, keeping the outbound payments read in ``seen``."""
        for transaction in transactions:
            if transaction.direction == Direction.DEBIT:
                seen.append(transaction)
            yield transaction

    def record(self, business_id: str, payments: list[LedgerTransaction]) -> int:
        """Make each payment's expense exist and be current; returns how many were created or refreshed."""
        payments = [p for p in payments if p.direction == Direction.DEBIT and p.business_id == business_id]
        if not payments:
            return 0
        known = self.expenses.get_many(business_id, [p.transaction_id for p in payments])
        behind = [p for p in payments if p.transaction_id not in known
                  or known[p.transaction_id].payment.ledger_version < p.version]
        now = iso(utc_now(self.clock))
        assert self.suggestions is not None
        summaries = self.suggestions.attach_many(business_id, (p.counterparty.name for p in behind))

        def catch_up(payment: LedgerTransaction) -> bool:
            summary = summaries.get(normalise_payee(payment.counterparty.name))

            def changed(record: ExpenseRecord | None) -> ExpenseRecord | None:
                after = state_machine.apply_ledger(record, payment, now)
                return None if after is None else with_suggestion(after, summary)

            saved = self.expenses.change(business_id, payment.transaction_id, changed,
                                         known.get(payment.transaction_id))
            return saved is not None

        changed = sum(in_parallel(catch_up, behind))
        if changed:
            metrics.add_metric(name="ExpensesCaughtUp", unit="Count", value=changed)
        return changed
