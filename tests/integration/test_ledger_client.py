"""The product's ledger client against the ledger emulator (docs/ledger-contract.md)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from emulators.ledger import LedgerEmulator
from emulators.time_control import ManualClock
from xerosync import deadline
from xerosync.errors import NotFound, TemporarilyUnavailable, UpstreamUnavailable
from xerosync.ledger.client import LedgerClient
from xerosync.ledger.models import Direction


def test_profile_accounts_and_paged_transactions_with_balances(ledger: LedgerEmulator) -> None:
    account = ledger.add_sample_account("HKD", incorporation_country="HK", transactions=1203, seed=3)
    client = LedgerClient(ledger.base_url)
    assert client.business(account.business_id).incorporation_country == "HK"
    assert [a.account_id for a in client.accounts(account.business_id)] == [account.account_id]
    transactions = list(client.iter_transactions(account.account_id))
    assert [t.sequence for t in transactions] == list(range(1, 1204))
    for earlier, later in itertools.pairwise(transactions):
        assert later.balance_before == earlier.running_balance
    tail = list(client.iter_transactions(account.account_id, after_sequence=1200))
    assert [t.sequence for t in tail] == [1201, 1202, 1203]
    assert all(isinstance(t.amount, Decimal) and t.direction in Direction for t in transactions)


def test_attachment_bytes_are_refused_above_the_limit_before_being_read(ledger: LedgerEmulator) -> None:
    business = ledger.create_business("SG")
    account = ledger.create_account(business.business_id, "SGD")
    from emulators.ledger.receipts import generated_spec

    txn = ledger.post_transaction(account.account_id, "12.50", "DEBIT", spend_category="travel", attachments=[
        generated_spec("pdf", 4000, seed=1, file_name="small.pdf"),
        generated_spec("pdf", 3_500_000, seed=2, file_name="big.pdf")])
    client = LedgerClient(ledger.base_url)
    stored = client.transaction(account.account_id, txn.transaction_id)
    small, big = stored.attachments
    assert client.attachment_bytes(account.account_id, txn.transaction_id, small.attachment_id,
                                   max_bytes=3 * 1024 * 1024).startswith(b"%PDF")
    assert client.attachment_size(account.account_id, txn.transaction_id, big.attachment_id) == 3_500_000
    with pytest.raises(ValueError, match="above"):
        client.attachment_bytes(account.account_id, txn.transaction_id, big.attachment_id, max_bytes=3 * 1024 * 1024)


def test_errors_are_the_products_own(ledger: LedgerEmulator) -> None:
    client = LedgerClient(ledger.base_url)
    with pytest.raises(NotFound):
        client.business("biz_missing")
    ledger.faults.add(status=503, count=10)
    with pytest.raises(UpstreamUnavailable):
        client.accounts("biz_any")


def test_an_http_request_without_the_time_for_an_answer_does_not_ask_the_ledger(ledger: LedgerEmulator) -> None:
    business = ledger.create_business("SG")
    client = LedgerClient(ledger.base_url)
    clock = ManualClock()
    ledger.faults.add(status=503, count=10)
    # A request with 0.5 s left (less than a ledger call is given) is answered at once, the ledger never asked
    with deadline.answer_within(0.5 + deadline.ANSWER_SECONDS, clock), pytest.raises(TemporarilyUnavailable):
        client.accounts(business.business_id)
    assert ledger.faults.fired_total == 0
    # One with time asks it (and meets its failure)
    with deadline.answer_within(5 + deadline.ANSWER_SECONDS, clock), pytest.raises(UpstreamUnavailable):
        client.accounts(business.business_id)
    assert ledger.faults.fired_total > 0
