"""The issue's proof: the schedule runs window after window over a ledger that keeps posting, with Xero
failing in every way the emulator can, and every transaction reaches Xero's feed once, in order, with
balances continuous from statement to statement."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from emulators.xero import XeroEmulator
from local.provision import Provisioned
from tests.integration.auto_sync_world import AutoSync, signed_balance
from xerosync.auto_sync.worker import FeedSyncWorker

WINDOW = timedelta(hours=3)


def _assert_exactly_once_in_order_and_continuous(auto_sync: AutoSync, feeds: list[Any], since: Any) -> None:
    for record in feeds:
        record = auto_sync.feed(record)
        ledger = auto_sync.ledger_lines(record, since)
        # Every ledger transaction from the backfill start is in Xero's feed once, in ledger order
        assert auto_sync.xero_lines(record) == [t.transaction_id for t in ledger], record.account_id
        # Statements follow one another: each starts at the balance the previous ended with, the first at
        # the balance before the first transaction, the last at the account's balance now
        statements = auto_sync.delivered_statements(record)
        assert signed_balance(statements[0]["startBalance"]) == ledger[0].balance_before
        for before, after in itertools.pairwise(statements):
            assert signed_balance(after["startBalance"]) == signed_balance(before["endBalance"])
        assert signed_balance(statements[-1]["endBalance"]) == ledger[-1].running_balance
        # And the feed's own state agrees: cursor on the last line, nothing left unconfirmed, synced
        assert record.cursor == ledger[-1].sequence and record.cursor_balance == ledger[-1].running_balance
        assert record.unconfirmed_statements == [] and record.last_sync_error is None and record.last_sync_at


def test_every_transaction_reaches_xero_once_in_order_through_faults_and_schedule_hiccups(
        auto_sync: AutoSync, xero: XeroEmulator, aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two organisations: one fed by an HKD and a USD account of one business, one by another business
    tenant_a, tenant_b = xero.seed_organisation("Harbour Group"), xero.seed_organisation("Lion City Trading")
    auto_sync.connect("biz_harbour", tenant_a)
    auto_sync.connect("biz_lion", tenant_b)
    hkd, usd = auto_sync.account("biz_harbour", "HKD"), auto_sync.account("biz_harbour", "USD")
    sgd = auto_sync.account("biz_lion", "HKD")
    # And 120 days of HKD history, of which the user chose to send the last 20 days (1,200 transactions)
    now = datetime.now(UTC)
    start = now - timedelta(days=20)
    for n in range(1300):
        at = start - timedelta(days=100 - n) if n < 100 else start + timedelta(minutes=(n - 100) * 23)
        auto_sync.ledger.post_transaction(hkd.account_id, f"{n % 500 + 1}.25", "DEBIT" if n % 3 == 1 else "CREDIT",
                                          posted_at=int(at.timestamp()))
    for account in (usd, sgd):
        auto_sync.ledger.post_generated(account.account_id, 40)
    since = (now - timedelta(days=20)).date()
    feeds = [auto_sync.link("biz_harbour", hkd, backfill_from=since), auto_sync.link("biz_harbour", usd),
             auto_sync.link("biz_lion", sgd)]
    since_usd = feeds[1].backfill_from
    window = datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC)

    def keep_posting() -> None:
        for account in (hkd, usd, sgd):
            auto_sync.ledger.post_generated(account.account_id, 7)

    def run_window(moment: datetime) -> None:
        auto_sync.fire(moment)
        auto_sync.pump()
        xero.settle_pending()  # Xero processes what it accepted

    # When window 1 runs the backfill through a burst of 429s
    xero.add_fault("rate_limit", path="*/Statements", method="POST", times=2, retry_after=1, problem="minute")
    run_window(window)
    # And window 2 loses Xero's answer after Xero committed the statements
    keep_posting()
    xero.add_fault("drop", path="*/Statements", method="POST", times=1, tenant=tenant_a)
    run_window(window + WINDOW)
    # And window 3 meets Xero failing with 500s, and the schedule fires twice for it
    keep_posting()
    xero.add_fault("error", path="*/Statements", method="POST", status=500, times=2)
    run_window(window + 2 * WINDOW)
    run_window(window + 2 * WINDOW + timedelta(minutes=1))
    # And in window 4 the worker dies right after Xero accepted its statements
    keep_posting()
    original_post = FeedSyncWorker._post
    crashes = {"left": 1}

    def post_then_crash(self: FeedSyncWorker, *args: Any, **kwargs: Any) -> Any:
        answer = original_post(self, *args, **kwargs)
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("the worker died after Xero accepted")
        return answer

    monkeypatch.setattr(FeedSyncWorker, "_post", post_then_crash)
    run_window(window + 3 * WINDOW)
    # And window 5 never fires, while the ledger keeps posting; window 6 catches up
    keep_posting()
    keep_posting()
    run_window(window + 5 * WINDOW)
    run_window(window + 6 * WINDOW)  # reads back the last statuses

    # Then every fault really happened
    assert all(fault["fired"] >= 1 for fault in xero.faults()), xero.faults()
    assert crashes["left"] == 0
    # And every transaction is in Xero exactly once, in order, with continuous balances
    _assert_exactly_once_in_order_and_continuous(auto_sync, feeds[:1], since)
    _assert_exactly_once_in_order_and_continuous(auto_sync, feeds[1:2], since_usd)
    _assert_exactly_once_in_order_and_continuous(auto_sync, feeds[2:], feeds[2].backfill_from)
    # And the backfill went in statements of at most 1000 lines
    backfill = auto_sync.delivered_statements(feeds[0])
    assert len(backfill[0]["statementLines"]) == 1000
    # And nothing was dropped or dead-lettered, and the connections show their last sync
    dead = boto3.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url("FeedSyncDeadLetterQueue"),
                                                    AttributeNames=["ApproximateNumberOfMessages"])
    assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"
    for business in ("biz_harbour", "biz_lion"):
        connection = auto_sync.connections.get(business)
        assert connection is not None and connection.last_sync_at
    assert Decimal(auto_sync.ledger.balance(hkd.account_id)) == auto_sync.feed(feeds[0]).cursor_balance
