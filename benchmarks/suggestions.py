"""Suggestions: how often a payee's history fills an expense in, how often a person would keep what it filled in,
and how many edits that saves, for each threshold.

A business's history comes from the ledger emulator's generator (a year of postings on each of its accounts);
its outbound payments are replayed in time order. A bookkeeper (``generator.Bookkeeper``, hidden from the
product) codes each expense by a habit per payee, with payees coded by amount, one-off exceptions and payees
recoded halfway; card statements spell a share of payees their own way (``generator.statement_spelling``).
Syncs happen once a week: an expense sees the history of the syncs before it.

Each expense shows what the product resolves (``mapping.resolve`` with the suggestion ``suggestion_for`` makes
from the payee's summary, the mapping below it), and the person edits it when that is not their coding (account
and tax rate). The summary then learns what was synced. Without suggestions, the mapping alone is shown.

Printed per threshold: the share of expenses with a suggested account, the share of suggestions kept (not
edited), edits per 100 expenses without and with suggestions, and the share of edits saved.
Goal: at least 95% kept and at least half of all edits saved.

Run: .venv/bin/python benchmarks/suggestions.py [seed ...]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from support import ROOT  # noqa: F401  (puts the product's code on the path)

from emulators.ledger.generator import Bookkeeper, mapping_coding, seed_ledger, statement_spelling
from emulators.ledger.state import LedgerState
from emulators.time_control import ManualClock
from xerosync.sync_expenses.mapping import CategoryMappings, resolve
from xerosync.sync_expenses.models import Coding, ExpenseRecord, Payment, SpendMoneyLink
from xerosync.sync_expenses.payees import normalise_payee
from xerosync.sync_expenses.reference_data import ReferenceData, XeroAccount, XeroTaxRate
from xerosync.sync_expenses.suggestions import (
    DEFAULT,
    PayeeSummary,
    Thresholds,
    entry_of,
    suggestion_for,
)

DAY, WEEK = 86_400, 7 * 86_400
END_AT = 1_790_000_000
THRESHOLDS = (Thresholds(1, 0.5, recent=0), Thresholds(2, 0.8, recent=0), Thresholds(3, 0.8, recent=0),
              Thresholds(2, 0.8, recent=1), DEFAULT, Thresholds(3, 0.9, recent=1), Thresholds(3, 0.8, recent=2),
              Thresholds(5, 0.8, recent=1), Thresholds(5, 1.0, recent=1))
CHART = (("400", "INPUT"), ("404", "NONE"), ("420", "NONE"), ("429", "INPUT"), ("493", "INPUT"), ("494", "NONE"))


@dataclass
class Tally:
    expenses: int = 0
    suggested: int = 0
    kept: int = 0
    edits_mapping_only: int = 0
    edits_with_suggestions: int = 0

    def line(self, label: str) -> str:
        per100 = 100 / max(1, self.expenses)
        saved = self.edits_mapping_only - self.edits_with_suggestions
        return (f"{label:<22} {self.suggested * 100 / max(1, self.expenses):6.1f}% "
                f"{self.kept * 100 / max(1, self.suggested):8.1f}% "
                f"{self.edits_mapping_only * per100:9.1f} {self.edits_with_suggestions * per100:9.1f} "
                f"{saved * per100:9.1f} {saved * 100 / max(1, self.edits_mapping_only):7.1f}%")


def _reference() -> ReferenceData:
    return ReferenceData(
        tenant_id="bench", refreshed_at=0, base_currency="SGD", currencies=["USD", "HKD", "CNY"],
        accounts=[XeroAccount(account_id=code, code=code, name=code, type="OVERHEADS", tax_type=tax,
                              enable_payments_to_account=True) for code, tax in CHART],
        tax_rates=[XeroTaxRate(tax_type=t, name=t, can_apply_to_expenses=True) for t in ("INPUT", "NONE")])


def _history(seed: int) -> list[Payment]:
    state = LedgerState(ManualClock(END_AT))
    summary, _ = seed_ledger(state, seed=seed, businesses=2, transactions_per_account=1200, history_days=365,
                             end_at=END_AT, emit_events=False)
    business = summary.businesses[1]  # a Singapore business (Hong Kong ones cannot sync expenses)
    payments = []
    for account in business["accounts"]:
        page = state.list_transactions(account["account_id"], limit=500)
        transactions = list(page.transactions)
        while page.has_more and page.next_after_sequence is not None:
            page = state.list_transactions(account["account_id"], after_sequence=page.next_after_sequence,
                                           limit=500)
            transactions.extend(page.transactions)
        for t in transactions:
            if t.direction != "DEBIT" or not t.counterparty.name:
                continue  # the bank's own fees and FX have no payee to learn
            payments.append(Payment(
                account_id=t.account_id, transaction_id=t.transaction_id, sequence=t.sequence,
                posted_at=datetime.fromtimestamp(t.posted_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                amount=Decimal(t.amount), currency=t.currency,
                payee=statement_spelling(t.counterparty.name, t.transaction_id, seed), spend_category=t.spend_category,
                type=t.type))
    return sorted(payments, key=lambda p: (p.posted_at, p.transaction_id))


def replay(payments: list[Payment], seed: int, thresholds: Thresholds) -> Tally:
    bookkeeper = Bookkeeper(seed)
    reference = _reference()
    categories = {p.spend_category for p in payments}
    mappings = CategoryMappings(business_id="bench", accounts={c: mapping_coding(c)[0] for c in categories if c})
    summaries: dict[str, PayeeSummary] = {}
    waiting: list[ExpenseRecord] = []
    tally = Tally()
    first, last = _epoch(payments[0]), _epoch(payments[-1])
    next_sync = first + WEEK

    def sync() -> None:
        for key, synced in _by_payee(waiting).items():
            summary = summaries.get(key) or PayeeSummary(business_id="bench", payee_key=key)
            learned = summary.learned([e for e in (entry_of(r) for r in synced) if e is not None])
            summaries[key] = learned.model_copy(update={"version": summary.version + 1,
                                                        "payee": synced[-1].payment.payee})
        waiting.clear()

    for payment in payments:
        while _epoch(payment) >= next_sync:
            sync()
            next_sync += WEEK
        key = normalise_payee(payment.payee)
        summary = summaries.get(key)
        expense = ExpenseRecord(business_id="bench", transaction_id=payment.transaction_id, payment=payment,
                                created_at="", changed_at="")
        if summary is not None:
            expense = expense.model_copy(update={"suggestion": suggestion_for(summary, thresholds)})
        shown = resolve(expense, mappings, reference, "Bank", 480)
        mapped = resolve(expense.model_copy(update={"suggestion": None}), mappings, reference, "Bank", 480)
        position = (_epoch(payment) - first) / max(1, last - first)
        wanted = bookkeeper.coding(key, payment.spend_category, float(payment.amount), position,
                                   payment.transaction_id)
        tally.expenses += 1
        tally.edits_mapping_only += (mapped.xero_account_id, mapped.tax_type) != wanted
        tally.edits_with_suggestions += (shown.xero_account_id, shown.tax_type) != wanted
        if shown.account_source == "history":
            tally.suggested += 1
            tally.kept += (shown.xero_account_id, shown.tax_type) == wanted
        coded = Coding(xero_account_id=wanted[0], tax_type=wanted[1])
        waiting.append(expense.model_copy(update={"spend_money": SpendMoneyLink(
            bank_transaction_id="x", url="", synced_at="", revision=1, ledger_version=1, coding=coded)}))
    sync()
    return tally


def _epoch(payment: Payment) -> int:
    return int(datetime.fromisoformat(payment.posted_at.replace("Z", "+00:00")).timestamp())


def _by_payee(records: list[ExpenseRecord]) -> dict[str, list[ExpenseRecord]]:
    grouped: dict[str, list[ExpenseRecord]] = {}
    for record in records:
        key = normalise_payee(record.payment.payee)
        if key:
            grouped.setdefault(key, []).append(record)
    return grouped


def main(seeds: list[int]) -> None:
    print("min, share, newest      suggested     kept  edits/100  edits/100  saved/100   saved")
    print("                                              mapping    +suggest")
    for seed in seeds:
        payments = _history(seed)
        print(f"seed {seed}: {len(payments)} expenses with a payee, "
              f"{len({normalise_payee(p.payee) for p in payments})} payees after normalisation "
              f"({len({p.payee for p in payments})} spellings)")
        for thresholds in THRESHOLDS:
            label = (f"{thresholds.min_history}, {thresholds.min_share:.2f}, {thresholds.recent}"
                     + (" (default)" if thresholds == DEFAULT else ""))
            print(replay(payments, seed, thresholds).line(label))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [7, 11, 42])
