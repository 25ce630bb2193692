"""What a feed shows when it cannot sync, the backfill after a link, and the queue left clean each time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3

from emulators.xero import XeroEmulator
from local.provision import Provisioned
from tests.integration.auto_sync_world import AutoSync
from xerosync.auto_sync.statements import BookingCalendar
from xerosync.auto_sync.sync_now import request_feed_sync
from xerosync.auto_sync.worker import LEDGER_REFUSED
from xerosync.store.connections import ConnectionStatus
from xerosync.store.feeds import FeedStatus
from xerosync.sync_expenses.models import ExpenseStatus
from xerosync.sync_expenses.store import ExpenseStore


def _dead_letters(aws: Provisioned) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url("FeedSyncDeadLetterQueue"),
                                                          AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_a_link_starts_the_backfill_at_once_from_the_chosen_day_within_xeros_year(auto_sync: AutoSync,
                                                                                  xero: XeroEmulator) -> None:
    # Given an account with 400 days of history, linked with the earliest start Xero allows (365 days)
    tenant, account = auto_sync.connected_account("biz_backfill")
    now = datetime.now(UTC)
    for day in range(400, 0, -1):
        auto_sync.post_days_ago(account.account_id, day)
    chosen = (now - timedelta(days=365)).date()
    # (and a Xero that takes a minute to activate the feed connection: longer than the sync takes)
    xero.configure(feed_connection_delay_s=60)
    feed = auto_sync.link("biz_backfill", account, backfill_from=chosen)
    # When connect asks for the feed's sync right after the link
    request_feed_sync(tenant, "biz_backfill", feed.generation, [account.account_id], "linked")
    auto_sync.pump()
    xero.settle_pending()
    # Then Xero has the history from the first day it takes (a day inside its one-year window), once
    today = BookingCalendar().day_of(now)
    sent = auto_sync.ledger_lines(feed, today - timedelta(days=364))
    assert auto_sync.xero_lines(feed) == [t.transaction_id for t in sent]
    [statement] = auto_sync.delivered_statements(feed)
    assert statement["startBalance"]["amount"] == float(sent[0].balance_before)
    # And the feed is synced, its cursor past the lines Xero could not take
    synced = auto_sync.feed(feed)
    assert synced.cursor == 400 and synced.last_sync_at and synced.last_sync_error is None
    # And the next run finds the feed connection Xero has activated meanwhile
    assert synced.status == FeedStatus.PENDING
    auto_sync.fire()
    auto_sync.pump()
    assert auto_sync.feed(feed).status == FeedStatus.ACTIVE


def test_the_outbound_payments_of_a_linked_accounts_history_become_pending_expenses(auto_sync: AutoSync,
                                                                                    xero: XeroEmulator) -> None:
    # Given an account whose payments were made before it was linked (their ledger events came before the link)
    tenant, account = auto_sync.connected_account("biz_history")
    now = datetime.now(UTC)
    posted = {days_ago: auto_sync.post_days_ago(account.account_id, days_ago, "25.00", direction,
                                                spend_category="travel" if direction == "DEBIT" else None)
              for days_ago, direction in [(40, "DEBIT"), (20, "DEBIT"), (10, "CREDIT"), (5, "DEBIT")]}
    # When it is linked with its history from 30 days ago, and the feed syncs
    feed = auto_sync.link("biz_history", account, backfill_from=(now - timedelta(days=30)).date())
    request_feed_sync(tenant, "biz_history", feed.generation, [account.account_id], "linked")
    auto_sync.pump()
    # Then the payments from the chosen start are PENDING expenses; money in and older payments are not
    expenses = ExpenseStore(boto3.resource("dynamodb").Table(auto_sync.aws.refs["MainTable"]))
    found = {days_ago: expenses.get("biz_history", txn) for days_ago, txn in posted.items()}
    assert found[40] is None and found[10] is None
    assert found[20] is not None and found[5] is not None
    assert {found[20].status, found[5].status} == {ExpenseStatus.PENDING}
    assert (found[20].payment.amount, found[20].payment.spend_category) == (Decimal("25.00"), "travel")
    xero.settle_pending()
    assert len(auto_sync.xero_lines(feed)) == 3
    # And the next run, which reads nothing new, changes nothing
    auto_sync.fire()
    auto_sync.pump()
    again = expenses.get("biz_history", posted[5])
    assert again is not None and again.version == found[5].version


def test_a_business_disconnected_in_xero_shows_it_on_its_feeds_and_the_message_does_not_loop(
        auto_sync: AutoSync, xero: XeroEmulator, aws: Provisioned) -> None:
    # Given a linked account with new transactions, and the user removed the app in Xero
    tenant = xero.seed_organisation()
    auto_sync.connect("biz_gone", tenant)
    account = auto_sync.account("biz_gone")
    feed = auto_sync.link("biz_gone", account)
    auto_sync.ledger.post_generated(account.account_id, 3)
    xero.disconnect(tenant)
    # When the schedule runs
    auto_sync.fire()
    auto_sync.pump()
    # Then the message finished (not retried, not dead-lettered) and the feed says what to do
    assert auto_sync.depth("FeedSyncQueue") == 0 and _dead_letters(aws) == 0
    assert len(auto_sync.worker.outcomes) == 1 and auto_sync.worker.outcomes[0].deleted == 1
    error = auto_sync.feed(feed).last_sync_error
    assert error is not None and "removed in Xero" in error and "Connect to Xero again" in error
    connection = auto_sync.connections.get("biz_gone")
    assert connection is not None and connection.status == ConnectionStatus.NEEDS_RECONNECT
    # And the next window leaves the business alone until it reconnects
    assert auto_sync.fire()["skipped"] == 1 and auto_sync.depth("FeedSyncQueue") == 0


def test_a_feed_xero_refuses_after_the_link_shows_xeros_reason_and_leaves_the_schedule(
        auto_sync: AutoSync, xero: XeroEmulator) -> None:
    # Given a link whose feed connection Xero will refuse, and statements already sent to it
    tenant = xero.seed_organisation()
    auto_sync.connect("biz_refused", tenant)
    account = auto_sync.account("biz_refused")
    auto_sync.ledger.post_generated(account.account_id, 4)
    feed = auto_sync.link("biz_refused", account)
    assert xero.reject_next_feed_connections(tenant, {
        "type": "account-not-valid", "title": "Account Not Valid", "status": 400,
        "detail": "The bank account is closed in Xero."}) == 1
    request_feed_sync(tenant, "biz_refused", feed.generation, [account.account_id], "linked")
    auto_sync.pump()
    first = auto_sync.feed(feed)
    assert first.cursor == 4 and first.unconfirmed_statements  # accepted while the feed was pending
    # When Xero settles (refusing the feed and its statement) and the next window reads it back
    xero.settle_pending()
    auto_sync.fire()
    auto_sync.pump()
    # Then the feed is REJECTED with Xero's reason, the cursor is back where the statement started (no gap
    # if the feed is linked again), and the schedule no longer sends it
    refused = auto_sync.feed(feed)
    assert refused.status == FeedStatus.REJECTED and refused.status_reason == "The bank account is closed in Xero."
    assert refused.cursor == 0 and refused.unconfirmed_statements == []
    assert refused.last_sync_error == "The bank account is closed in Xero."
    assert auto_sync.fire()["feeds"] == 0


def test_a_ledger_refusal_shows_the_products_words_never_the_ledgers(auto_sync: AutoSync, xero: XeroEmulator) -> None:
    # Given a linked account with new transactions, and then the bank's ledger no longer knows the account
    _, account = auto_sync.connected_account("biz_ledger_gone")
    auto_sync.ledger.post_generated(account.account_id, 2)
    feed = auto_sync.link("biz_ledger_gone", account)
    auto_sync.ledger.reset()
    # When the schedule runs
    auto_sync.fire()
    auto_sync.pump()
    # Then the account's last sync error (what the status page shows) is the product's sentence with its way
    # out; the ledger's own text (its code, its message) stays in the logs
    error = auto_sync.feed(feed).last_sync_error
    assert error == LEDGER_REFUSED
    assert "not_found" not in error and account.account_id not in error and "No account" not in error

