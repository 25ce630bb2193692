"""How the Spend Money worker reads its batch's payments from the ledger: pages of the account's postings, not one
call per payment (docs/sync-expenses.md, "As the ledger has it"), against a ledger that keeps the contract's
paging (docs/ledger-contract.md, Transactions)."""

from __future__ import annotations

import random

import pytest

from tests.unit.sync_expenses.factories import expense, ledger_transaction, payment
from xerosync.errors import NotFound
from xerosync.ledger.client import LedgerClient
from xerosync.ledger.models import LedgerTransaction, TransactionPage
from xerosync.sync_expenses.models import ExpenseRecord
from xerosync.sync_expenses.worker import LEDGER_PAGE, ledger_reads, read_payments


class Ledger:
    """The contract's two reads over postings held per account; ``page_cap`` is a ledger that answers smaller
    pages than asked (the contract lets it say ``has_more``)."""

    def __init__(self, page_cap: int = LEDGER_PAGE) -> None:
        self.postings: dict[str, list[LedgerTransaction]] = {}
        self.page_cap = page_cap
        self.calls: list[tuple[str, ...]] = []

    def post(self, account_id: str, count: int, *, direction: str = "DEBIT", version: int = 1) -> list[str]:
        held = self.postings.setdefault(account_id, [])
        posted = []
        for _ in range(count):
            sequence = len(held) + 1
            held.append(ledger_transaction(transaction_id=f"txn_{account_id}_{sequence}", account_id=account_id,
                                           sequence=sequence, direction=direction, version=version,
                                           description=f"Payment {sequence} v{version}"))
            posted.append(held[-1].transaction_id)
        return posted

    def change(self, account_id: str, transaction_id: str, description: str) -> None:
        held = self.postings[account_id]
        index = next(i for i, t in enumerate(held) if t.transaction_id == transaction_id)
        held[index] = held[index].model_copy(update={"description": description, "version": held[index].version + 1})

    def transactions(self, account_id: str, *, after_sequence: int = 0, limit: int = 100,
                     posted_from: str | None = None) -> TransactionPage:
        assert 1 <= limit <= LEDGER_PAGE and after_sequence >= 0  # the contract's bounds
        self.calls.append(("list", account_id, str(after_sequence), str(limit)))
        held = self.postings.get(account_id, [])
        page = held[after_sequence:after_sequence + min(limit, self.page_cap)]
        return TransactionPage(transactions=page, has_more=after_sequence + len(page) < len(held),
                               next_after_sequence=page[-1].sequence if page else None)

    iter_transactions = LedgerClient.iter_transactions  # the client's own paging, over these pages

    def transaction(self, account_id: str, transaction_id: str) -> LedgerTransaction:
        self.calls.append(("get", account_id, transaction_id))
        for posted in self.postings.get(account_id, []):
            if posted.transaction_id == transaction_id:
                return posted
        raise NotFound("no such transaction", code="transaction_not_found")


def _expenses(ledger: Ledger, account_id: str, transaction_ids: list[str]) -> list[ExpenseRecord]:
    by_id = {t.transaction_id: t for t in ledger.postings[account_id]}
    return [expense(transaction_id=t, payment=payment(account_id=account_id, transaction_id=t,
                                                      sequence=by_id[t].sequence)) for t in transaction_ids]


def test_a_batch_of_one_accounts_payments_is_one_listing_with_the_current_copies() -> None:
    ledger = Ledger()
    ledger.post("acc_a", 30)
    paid = []
    for _ in range(50):  # payments between credits: the range holds both
        paid += ledger.post("acc_a", 1)
        ledger.post("acc_a", 2, direction="CREDIT")
    ledger.change("acc_a", paid[7], "Changed in the bank")
    work = _expenses(ledger, "acc_a", paid)
    random.Random(3).shuffle(work)

    found = read_payments(ledger, work)

    assert ledger.calls == [("list", "acc_a", "30", str(paid_span(ledger, paid)))]
    assert set(found) == set(paid)
    assert found[paid[7]].description == "Changed in the bank" and found[paid[7]].version == 2


def paid_span(ledger: Ledger, paid: list[str]) -> int:
    sequences = [t.sequence for t in ledger.postings["acc_a"] if t.transaction_id in paid]
    return max(sequences) - min(sequences) + 1


def test_accounts_and_far_apart_payments_get_their_own_reads_never_more_calls_than_payments() -> None:
    ledger = Ledger()
    near = ledger.post("acc_a", 3)
    ledger.post("acc_a", 800, direction="CREDIT")
    alone = ledger.post("acc_a", 1)
    other = ledger.post("acc_b", 2)
    work = _expenses(ledger, "acc_a", near + alone) + _expenses(ledger, "acc_b", other)

    found = read_payments(ledger, work)

    assert sorted(ledger.calls) == sorted([("list", "acc_a", "0", "3"), ("get", "acc_a", alone[0]),
                                           ("list", "acc_b", "0", "2")])
    assert set(found) == set(near + alone + other)


@pytest.mark.parametrize("seed", range(20))
def test_the_reads_cover_every_payment_once_in_ranges_a_page_long(seed: int) -> None:
    rng = random.Random(seed)
    sequences = rng.sample(range(1, 5000), rng.randint(1, 50))
    work = [expense(transaction_id=f"txn_{s}", payment=payment(account_id=rng.choice(["acc_a", "acc_b"]),
                                                                 transaction_id=f"txn_{s}", sequence=s))
            for s in sequences]
    reads = ledger_reads(work)
    assert len(reads) <= len(work)
    assert sorted(t for r in reads for t in r.transaction_ids) == sorted(e.transaction_id for e in work)
    sequence_of = {e.transaction_id: (e.account_id, e.payment.sequence) for e in work}
    for read in reads:
        assert read.last - read.first < LEDGER_PAGE
        assert all(sequence_of[t][0] == read.account_id and read.first <= sequence_of[t][1] <= read.last
                   for t in read.transaction_ids)


def test_a_ledger_that_answers_smaller_pages_is_paged_through() -> None:
    ledger = Ledger(page_cap=7)
    paid = ledger.post("acc_a", 40)
    found = read_payments(ledger, _expenses(ledger, "acc_a", paid))
    assert set(found) == set(paid)
    assert [c[2] for c in ledger.calls] == ["0", "7", "14", "21", "28", "35"]


def test_a_payment_the_listing_does_not_show_is_read_alone_and_one_the_ledger_does_not_know_is_left_out() -> None:
    ledger = Ledger()
    paid = ledger.post("acc_a", 5)
    work = _expenses(ledger, "acc_a", paid)
    # The record says sequence 3; the ledger has no such transaction (a record of another ledger's payment)
    work.append(expense(transaction_id="txn_gone", payment=payment(account_id="acc_a", transaction_id="txn_gone",
                                                                    sequence=3)))
    found = read_payments(ledger, work)
    assert set(found) == set(paid)
    assert ledger.calls == [("list", "acc_a", "0", "5"), ("get", "acc_a", "txn_gone")]
