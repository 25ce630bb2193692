"""Ongoing posting: a ledger that keeps posting while a product syncs it, including from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from emulators.ledger import LedgerEmulator, RecordingPublisher
from emulators.time_control import ManualClock
from tests.integration.emulators.ledger.ledger_http import T0, LedgerHttp


def _assert_consistent(postings: list[dict[str, object]]) -> None:
    assert [p["sequence"] for p in postings] == list(range(1, len(postings) + 1))
    balance = Decimal(0)
    for p in postings:
        amount = Decimal(str(p["amount"]))
        balance += amount if p["direction"] == "CREDIT" else -amount
        assert Decimal(str(p["running_balance"])) == balance


def test_given_a_seeded_account_when_n_are_posted_now_then_they_follow_the_history_at_the_clocks_time(
    ledger: LedgerEmulator, http: LedgerHttp, clock: ManualClock, publisher: RecordingPublisher
) -> None:
    # Given a seeded history ending at T0, and the clock three hours later (the product's sync interval)
    summary = ledger.seed_demo(seed=9, businesses=2, transactions_per_account=50, end_at=T0)
    account_id = summary.special["over_3mb"].account_id
    clock.advance(3 * 3600)

    # When
    posted = ledger.post_generated(account_id, 30)

    # Then
    assert [t.sequence for t in posted] == list(range(51, 81))
    assert {t.posted_at for t in posted} == {T0 + 3 * 3600}
    _assert_consistent(http.all_transactions(account_id))
    assert [d["sequence"] for d in publisher.details("TransactionPosted")] == list(range(51, 81))
    assert any(t.attachments for t in posted if t.direction == "DEBIT")


def test_given_the_same_state_and_seed_when_generating_then_the_same_postings_result() -> None:
    def run(seed: int) -> list[tuple[str, str, str, tuple[str, ...]]]:
        emulator = LedgerEmulator(clock=ManualClock(start=T0))
        business = emulator.create_business("HK", business_id="biz_fixed")
        account = emulator.create_account(business.business_id, "HKD", account_id="acc_fixed")
        return [
            (t.transaction_id, t.amount, t.direction, tuple(a.source.sha256() for a in t.attachments))
            for t in emulator.post_generated(account.account_id, 40, seed=seed)
        ]

    first, again, other = run(8), run(8), run(9)

    assert first == again
    assert first != other
    assert any(receipts for *_, receipts in first)


def test_given_a_clock_set_behind_the_history_when_posting_now_then_posted_at_does_not_go_backwards(
    ledger: LedgerEmulator, clock: ManualClock
) -> None:
    # Given a posting a day ahead of the clock (history seeded for "tomorrow", a test's clock left behind)
    account = ledger.add_sample_account()
    ledger.post_transaction(account.account_id, "100.00", "CREDIT", posted_at=T0 + 86_400)

    txn = ledger.post_generated(account.account_id, 1)[0]

    assert clock.time() == T0
    assert txn.posted_at == T0 + 86_400


def test_given_many_threads_posting_over_http_when_they_race_then_sequences_and_balances_stay_consistent(
    ledger: LedgerEmulator, http: LedgerHttp
) -> None:
    # Given an account, and 8 writers posting 25 times each through the control API while a reader pages
    account = ledger.add_sample_account()
    path = f"/_ledger/accounts/{account.account_id}/transactions"

    def writer(index: int) -> list[int]:
        client = LedgerHttp(http.base_url)
        sequences = []
        for n in range(25):
            direction = "CREDIT" if (index + n) % 3 else "DEBIT"
            response = client.post(path, {"amount": f"{index + 1}.{n:02d}", "direction": direction})
            assert response.status_code == 201, response.text
            sequences.append(response.json()["sequence"])
        return sequences

    def reader() -> int:
        client = LedgerHttp(http.base_url)
        pages = 0
        for _ in range(20):
            _assert_consistent(client.all_transactions(account.account_id, limit=50))
            pages += 1
        return pages

    with ThreadPoolExecutor(max_workers=9) as pool:
        reading = pool.submit(reader)
        results = list(pool.map(writer, range(8)))

    # Then every posting got a distinct sequence, and the final ledger adds up
    assert reading.result() == 20
    assert sorted(s for r in results for s in r) == list(range(1, 201))
    final = http.all_transactions(account.account_id)
    _assert_consistent(final)
    assert ledger.balance(account.account_id) == final[-1]["running_balance"]
