"""Expense records from the ledger's events, through the EventBridge rule, LedgerEventsQueue and its consumer."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from emulators.ledger import Counterparty, generated_spec
from emulators.time_control import OffsetClock
from local.event_sources import Scheduler
from local.stack import LEDGER_BUS
from tests.integration.expense_world import World
from tests.support.sqs_clock import SqsClock
from xerosync.clock import SystemClock, use_process_clock
from xerosync.settings import get_settings
from xerosync.sync_expenses.event_intake import LAST_DELIVERY_PARKS, PARKS_KEY
from xerosync.sync_expenses.store import ExpenseStore


def test_every_outbound_payment_of_a_linked_account_becomes_a_pending_expense(world: World) -> None:
    # Given an SG business with a linked HKD account and an unlinked USD account
    business = world.business(currencies=("HKD",))
    unlinked = world.ledger.create_account(business.business_id, "USD").account_id
    hkd = business.accounts["HKD"]
    # When money goes out of and comes into the linked account, and goes out of the unlinked one
    paid = world.pay(business, "42.50", payee="Pacific Office Supplies", category="office_supplies",
                     receipts=(generated_spec("pdf", 4000, seed=1), generated_spec("png", 2000, seed=2)))
    world.ledger.post_transaction(hkd, "1000.00", "CREDIT", counterparty=Counterparty("Customer", "1"))
    world.ledger.post_transaction(unlinked, "9.00", "DEBIT", spend_category="software")
    world.pump_events()
    # Then only the linked account's payment is an expense, PENDING, on the Pending Sync tab, with its details
    [expense] = world.user(business.business_id).pending()
    assert expense["transaction_id"] == paid
    assert (expense["status"], expense["tab"], expense["updated"]) == ("PENDING", "pending", False)
    assert (expense["amount"], expense["currency"], expense["payee"]) == ("42.50", "HKD", "Pacific Office Supplies")
    assert expense["attachment_count"] == 2 and expense["account_name"] == "HKD Operating"
    assert expense["ready_to_sync"] is False and expense["problems"][0]["code"] == "no_account"
    assert world.queue_depth("LedgerEventsQueue") == 0


def test_a_payment_made_just_after_its_account_is_linked_becomes_an_expense(world: World) -> None:
    # Given a payment of an account not linked yet, which the consumer (a warm Lambda) sees and ignores
    business = world.business(currencies=("HKD",), link=False)
    before = world.pay(business, "12.00")
    assert ExpenseStore(world.table).get(business.business_id, before) is None
    # When the account is linked and money goes out of it a moment later
    world.link(business, "HKD", business.xero_banks["HKD"])
    after = world.pay(business, "13.00")
    # Then that payment is an expense: "not linked" was not remembered
    assert [e["transaction_id"] for e in world.user(business.business_id).pending()] == [after]
    assert before != after


def test_a_change_of_category_description_or_receipts_sets_updated_before_and_after_sync(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    account = business.accounts["HKD"]
    first, second, third = (world.pay(business, payee=f"Payee {n}", pump=False) for n in range(3))
    world.pump_events()
    # Before sync: each kind of change sets Updated on the Pending Sync tab
    world.ledger.set_spend_category(account, first, "software")
    world.ledger.set_description(account, second, "Taxi to the airport")
    world.ledger.add_attachment(account, third, generated_spec("jpeg", 5000, seed=3))
    world.pump_events()
    pending = {e["transaction_id"]: e for e in user.pending()}
    assert all(e["updated"] for e in pending.values())
    assert pending[first]["spend_category"] == "software"
    assert pending[second]["description"] == "Taxi to the airport"
    assert pending[third]["attachment_count"] == 1
    assert user.pending(updated="true") and user.pending(updated="false") == []
    # When they are synced, Updated is cleared
    travel = world.account_id(business.tenant_id, "493")
    user.ok("PUT", "/v1/expenses/mappings", {"mappings": [{"category": c, "xero_account_id": travel}
                                                          for c in ("travel", "software")]})
    user.sync([first, second, third])
    world.pump_worker()
    synced = {e["transaction_id"]: e for e in user.tab("synced")}
    assert set(synced) == {first, second, third} and not any(e["updated"] for e in synced.values())
    # After sync: a change sets Updated again, on the Synced tab
    world.ledger.set_spend_category(account, first, "travel")
    world.pump_events()
    [updated] = user.tab("synced", updated="true")
    assert updated["transaction_id"] == first and updated["status"] == "SYNCED"


def test_repeated_and_out_of_order_events_are_decided_by_version(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    account = business.accounts["HKD"]
    paid = world.pay(business, category="travel")
    world.ledger.set_spend_category(account, paid, "software")  # version 2
    world.ledger.set_spend_category(account, paid, "rent")  # version 3
    world.pump_events()
    before = user.ok("GET", f"/v1/expenses/{paid}")
    assert before["spend_category"] == "rent" and before["updated"] is True

    # When EventBridge delivers old events again (at least once, out of order) through the rule and the queue
    detail = {"business_id": business.business_id, "account_id": account, "transaction_id": paid, "sequence": 1,
              "direction": "DEBIT", "changed": [], "occurred_at": "2026-11-20T08:15:00Z"}
    events = boto3.client("events")
    for version, detail_type in ((1, "TransactionPosted"), (2, "TransactionUpdated"), (3, "TransactionUpdated")):
        events.put_events(Entries=[{"Source": "bank.ledger", "DetailType": detail_type, "EventBusName": LEDGER_BUS,
                                    "Detail": json.dumps({**detail, "version": version})}])
    outcomes = world.pump_events()
    # Then they are consumed and change nothing
    assert sum(o.deleted for o in outcomes) == 3 and world.queue_depth("LedgerEventsQueue") == 0
    after = user.ok("GET", f"/v1/expenses/{paid}")
    assert after == before


def test_an_event_that_arrives_before_the_posting_creates_the_expense_marked_updated(world: World) -> None:
    # Given a payment whose TransactionPosted is delayed behind its TransactionUpdated
    business = world.business()
    paid = world.pay(business, category="travel", pump=False)
    world.ledger.set_spend_category(business.accounts["HKD"], paid, "software")
    sqs = boto3.client("sqs")
    queue = world.aws.queue_url("LedgerEventsQueue")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    posted = next(m for m in messages if json.loads(m["Body"])["detail-type"] == "TransactionPosted")
    for message in messages:
        if message is not posted:
            sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    # When the update is consumed first: the expense exists with the current values, Updated
    world.pump_events()
    [expense] = world.user(business.business_id).pending()
    assert expense["spend_category"] == "software" and expense["updated"] is True
    # And the late posting changes nothing
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=posted["ReceiptHandle"], VisibilityTimeout=0)
    assert sum(o.deleted for o in world.pump_events()) == 1
    assert world.user(business.business_id).pending() == [expense]


def test_a_failed_read_of_the_whole_batch_leaves_each_event_to_read_its_own(world: World, monkeypatch: Any) -> None:
    # Given changes to two payments, delivered in one batch, whose one read of the batch's expenses fails
    # (a DynamoDB error past the SDK's retries)
    business = world.business()
    user = world.user(business.business_id)
    account = business.accounts["HKD"]
    first, second = (world.pay(business, payee=f"Payee {n}", pump=False) for n in range(2))
    world.pump_events()
    world.ledger.set_spend_category(account, first, "software")
    world.ledger.set_description(account, second, "Taxi to the airport")
    original = ExpenseStore.get_many
    failed: list[bool] = []

    def fails_once(self: ExpenseStore, business_id: str, transaction_ids: Any) -> Any:
        if not failed:
            failed.append(True)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "Internal server error"}},
                              "BatchGetItem")
        return original(self, business_id, transaction_ids)

    monkeypatch.setattr(ExpenseStore, "get_many", fails_once)
    outcomes = world.pump_events()
    # Then that delivery still handles each event (each reads its own expense): nothing comes back to the queue
    # to fail again without a word, and both changes are on the Pending Sync tab
    assert failed
    assert sum(o.failed for o in outcomes) == 0
    pending = {e["transaction_id"]: e for e in user.pending()}
    assert pending[first]["spend_category"] == "software"
    assert pending[second]["description"] == "Taxi to the airport"


def _deliveries(world: World, sqs_clock: SqsClock, count: int) -> None:
    """The next ``count`` deliveries of LedgerEventsQueue, SQS's clock moved past the local queue's visibility
    timeout where nothing is visible, instead of the test waiting for it."""
    mapping = world.mapping("LedgerEventsFunction")
    for _ in range(count):
        waited = 0.0
        while mapping.poll_once() is None and waited < 5:
            sqs_clock.advance(0.25)
            waited += 0.25


def _parked_events_come_back(world: World) -> int:
    """The parked events' wait (15 minutes) is over: the minute's schedule sends them back to their queue."""
    use_process_clock(OffsetClock(SystemClock(), 3600))
    try:
        return int(Scheduler(world.aws.template, world.runtime).fire("EveryMinute")["resumed"])
    finally:
        use_process_clock(None)


def test_a_receipt_added_after_sync_whose_event_fails_on_every_delivery_still_reaches_xero(
        world: World, monkeypatch: Any, sqs_clock: SqsClock) -> None:
    # Given a synced expense without receipts, to which the customer adds one in the bank's app the next day
    business, user = world.mapped_business()
    [paid] = world.seed_expenses(business, 1)
    user.sync([paid])
    world.pump_worker()
    world.pump("AttachmentsWorkerFunction")
    [synced] = user.tab("synced")
    assert synced["transaction_id"] == paid and synced["attachment_count"] == 0
    world.ledger.add_attachment(business.accounts["HKD"], paid,
                                generated_spec("pdf", 9_000, seed=47, file_name="taxi.pdf"))
    # When the write of its expense fails on every delivery SQS makes of that event (a DynamoDB error past the
    # SDK's retries, as the soak met it at seed 3)
    original, failed = ExpenseStore.change, []

    def dynamodb_fails(self: ExpenseStore, business_id: str, transaction_id: str, *args: Any, **kwargs: Any) -> Any:
        if transaction_id == paid:
            failed.append(transaction_id)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "Internal server error"}},
                              "PutItem")
        return original(self, business_id, transaction_id, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(ExpenseStore, "change", dynamodb_fails)
        _deliveries(world, sqs_clock, get_settings().ledger_event_max_receives)
    assert len(failed) == get_settings().ledger_event_max_receives
    # Then the event is not lost to the dead-letter queue, where nothing would bring the receipt back (the
    # expense is synced: nothing re-reads its payment): once DynamoDB answers again and its wait is over, the
    # minute's schedule sends it back, and the expense shows the receipt, Updated on the Synced tab
    _parked_events_come_back(world)
    sqs_clock.advance(3600)
    world.pump_events()
    dead = boto3.client("sqs").receive_message(QueueUrl=world.aws.queue_url("LedgerEventsDeadLetterQueue"),
                                               MaxNumberOfMessages=10).get("Messages", [])
    assert not [m for m in dead if paid in m["Body"]]
    [updated] = user.tab("synced", updated="true")
    assert updated["transaction_id"] == paid and updated["attachment_count"] == 1
    # And syncing it again takes the receipt to Xero, once
    user.sync([paid])
    world.pump_worker()
    world.pump("AttachmentsWorkerFunction")
    status = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert status["summary"] == "1 of 1 receipt(s) in Xero."
    assert [a["FileName"] for a in world.xero.attachments(business.tenant_id, status["bank_transaction_id"])] == [
        "taxi.pdf"]


def test_an_event_that_fails_on_every_delivery_of_three_parks_goes_to_the_dead_letter_queue(
        world: World, monkeypatch: Any, sqs_clock: SqsClock) -> None:
    # Given a change to a payment whose handling fails every time (not a passing error)
    business = world.business()
    paid = world.pay(business)
    world.ledger.set_description(business.accounts["HKD"], paid, "Taxi to the airport")
    original, failed = ExpenseStore.change, []

    def dynamodb_fails(self: ExpenseStore, business_id: str, transaction_id: str, *args: Any, **kwargs: Any) -> Any:
        if transaction_id == paid:
            failed.append(transaction_id)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "Internal server error"}},
                              "PutItem")
        return original(self, business_id, transaction_id, *args, **kwargs)

    monkeypatch.setattr(ExpenseStore, "change", dynamodb_fails)
    receives = get_settings().ledger_event_max_receives
    # When it is parked on the last of each round of deliveries, three times
    for _ in range(LAST_DELIVERY_PARKS):
        _deliveries(world, sqs_clock, receives)
        assert _parked_events_come_back(world) == 1
    _deliveries(world, sqs_clock, receives)
    # Then the fourth round's last delivery leaves it to the dead-letter queue (and its alarm), never parked again
    assert _parked_events_come_back(world) == 0
    sqs_clock.advance(3600)
    world.pump_events()
    dead = boto3.client("sqs").receive_message(QueueUrl=world.aws.queue_url("LedgerEventsDeadLetterQueue"),
                                               MaxNumberOfMessages=10).get("Messages", [])
    [letter] = [m for m in dead if paid in m["Body"]]
    assert json.loads(letter["Body"])[PARKS_KEY] == LAST_DELIVERY_PARKS
    assert len(failed) == (LAST_DELIVERY_PARKS + 1) * receives
