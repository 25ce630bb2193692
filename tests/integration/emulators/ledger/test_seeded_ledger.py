"""A seeded ledger read over HTTP: thousands of postings whose running balances add up, realistic variety,
and determinism by seed."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from emulators.ledger import SPECIAL_RECEIPTS, LedgerEmulator, LedgerError, SeedSummary
from emulators.time_control import ManualClock
from tests.integration.emulators.ledger.ledger_http import T0, LedgerHttp

Seeded = tuple[LedgerEmulator, SeedSummary, LedgerHttp]

MONEY = re.compile(r"^-?\d+\.\d{2}$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TYPES = {"TRANSFER", "CARD", "FEE", "FX", "INTEREST", "DIRECT_DEBIT", "PAYROLL"}
CATEGORIES = {
    "advertising",
    "bank_fees",
    "entertainment",
    "office_supplies",
    "professional_services",
    "rent",
    "software",
    "travel",
    "utilities",
    "payroll",
    "other",
}


Postings = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def postings(seeded: Seeded) -> Postings:
    """Every account's transactions, paged over HTTP once for the module (limit 500, as a bulk caller would)."""
    _, summary, http = seeded
    return {account_id: http.all_transactions(account_id) for account_id in summary.account_ids}


def test_given_a_seeded_ledger_when_every_account_is_paged_then_running_balances_add_up(
    seeded: Seeded, postings: Postings
) -> None:
    _, summary, _ = seeded
    transactions = postings

    total = 0
    for account in (a for b in summary.businesses for a in b["accounts"]):
        account_postings = transactions[account["account_id"]]
        # Then sequences are 1..n without a gap, and each balance is the previous one plus or minus the amount
        assert [t["sequence"] for t in account_postings] == list(range(1, len(account_postings) + 1))
        previous = Decimal("0")  # an account starts empty
        for txn in account_postings:
            assert MONEY.match(txn["amount"])
            assert MONEY.match(txn["running_balance"])
            amount, balance = Decimal(txn["amount"]), Decimal(txn["running_balance"])
            assert amount > 0
            # The contract: the balance before is running_balance - amount for a credit, + amount for a debit
            before = balance - amount if txn["direction"] == "CREDIT" else balance + amount
            assert before == previous, txn
            previous = balance
        assert f"{previous:.2f}" == account["closing_balance"]
        assert len(account_postings) == account["transactions"]
        total += len(account_postings)

    assert total == summary.transactions
    assert total >= 9_000  # 2 businesses x 3 accounts x 1500, plus a short closed account


def test_given_a_seeded_ledger_then_posting_times_never_go_backwards_and_end_at_end_at(postings: Postings) -> None:
    for account_postings in postings.values():
        stamps = [t["posted_at"] for t in account_postings]
        assert all(TIME.match(s) for s in stamps)
        assert stamps == sorted(stamps)
        assert stamps[-1] <= "2026-11-20T08:15:00Z"
        assert all(t["version"] == 1 and t["updated_at"] == t["posted_at"] for t in account_postings)


def test_given_a_seeded_ledger_then_businesses_accounts_and_currencies_are_as_the_product_meets_them(
    seeded: Seeded,
) -> None:
    _, summary, http = seeded

    businesses = [http.get(f"/v1/businesses/{b['business_id']}").json() for b in summary.businesses]
    accounts = [
        a
        for b in summary.businesses
        for a in http.get(f"/v1/businesses/{b['business_id']}/accounts").json()["accounts"]
    ]

    assert [b["incorporation_country"] for b in businesses] == ["HK", "SG"]
    assert {a["currency"] for a in accounts} == {"HKD", "CNY", "USD", "SGD"}
    assert Counter(a["status"] for a in accounts) == Counter({"ACTIVE": 6, "CLOSED": 1})
    assert all(len(a["account_number"]) <= 34 and len(a["name"]) <= 60 for a in accounts)
    assert all(a["opened_at"] < "2025-11-21T00:00:00Z" for a in accounts)  # opened before a year of history


def test_given_a_seeded_ledger_then_postings_have_realistic_variety_within_the_contract(postings: Postings) -> None:
    everything = [t for ts in postings.values() for t in ts]

    directions = Counter(t["direction"] for t in everything)
    types = Counter(t["type"] for t in everything)
    categories = Counter(t["spend_category"] for t in everything if t["direction"] == "DEBIT")
    # Then money flows both ways, every type and category occurs, and credits are never categorised
    assert directions["CREDIT"] > 1_000
    assert directions["DEBIT"] > 3_000
    assert set(types) == TYPES
    assert set(categories) - {None} == CATEGORIES
    assert categories[None] > 0  # uncategorised debits exist
    assert all(t["spend_category"] is None for t in everything if t["direction"] == "CREDIT")
    assert {t["type"] for t in everything if t["spend_category"] == "bank_fees"} == {"FEE"}
    # Empty strings appear, never absent values
    assert any(t["reference"] == "" for t in everything)
    assert any(t["description"] == "" for t in everything)
    assert any(t["counterparty"]["name"] == "" for t in everything)
    assert len({t["counterparty"]["name"] for t in everything}) > 30
    assert len({t["transaction_id"] for t in everything}) == len(everything)


def test_given_a_seeded_ledger_then_receipts_cover_the_kinds_and_limits_the_product_must_handle(
    seeded: Seeded, postings: Postings
) -> None:
    _, summary, _ = seeded
    everything = [t for ts in postings.values() for t in ts]
    attachments = [a for t in everything for a in t["attachments"]]

    types = Counter(a["content_type"] for a in attachments)
    assert {"application/pdf", "image/jpeg", "image/png", "image/heic", "text/plain", "text/csv"} <= set(types)
    assert sum(1 for a in attachments if a["size_bytes"] > 3 * 1024 * 1024) >= 3
    assert sum(1 for t in everything if len(t["attachments"]) > 10) >= 1
    assert all(not t["attachments"] for t in everything if t["direction"] == "CREDIT")
    assert len({a["attachment_id"] for a in attachments}) == len(attachments)
    assert len({a["sha256"] for a in attachments if a["size_bytes"]}) == sum(1 for a in attachments if a["size_bytes"])
    assert summary.attachments == len(attachments)
    assert set(summary.special) == set(SPECIAL_RECEIPTS)


def test_given_the_same_seed_when_seeded_twice_then_ids_amounts_and_receipt_hashes_are_identical() -> None:
    def snapshot(seed: int) -> list[tuple[Any, ...]]:
        emulator = LedgerEmulator(clock=ManualClock(start=T0))
        summary = emulator.seed_demo(seed=seed, businesses=2, transactions_per_account=120, end_at=T0)
        return [
            (
                t.transaction_id,
                t.posted_at,
                t.amount,
                t.running_balance,
                tuple(a.to_json()["sha256"] for a in t.attachments),
            )
            for account_id in summary.account_ids
            for t in emulator.iter_transactions(account_id)
        ]

    first, again, other = snapshot(5), snapshot(5), snapshot(6)

    assert first == again
    assert {t[0] for t in first}.isdisjoint({t[0] for t in other})


def test_given_a_seeded_ledger_when_the_same_seed_is_added_again_then_it_is_refused(
    ledger: LedgerEmulator,
) -> None:
    ledger.seed_demo(seed=3, businesses=1, transactions_per_account=10)

    with pytest.raises(LedgerError, match="already exists"):
        ledger.seed_demo(seed=3, businesses=1, transactions_per_account=10)
