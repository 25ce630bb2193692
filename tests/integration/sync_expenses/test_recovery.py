"""What a sync leaves behind when something goes wrong half-way is put right: never a second Spend Money, never
a change lost, never receipts or expenses left waiting for work that nobody will do."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from emulators.ledger import generated_spec
from emulators.time_control import OffsetClock
from local.event_sources import BatchOutcome
from local.lambda_runtime import acting_as
from tests.integration.expense_world import (
    ApiUser,
    World,
    killed_once_xero_took,
    worker_dies_when_xero_answers,
)
from tests.support.sqs_clock import SqsClock
from tests.support.xero_sessions import connect
from xerosync.clock import iso, utc_now
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses import worker as worker_module
from xerosync.sync_expenses.decisions import STUCK_JOB_SECONDS
from xerosync.sync_expenses.store import ExpenseStore, SyncJobStore
from xerosync.sync_expenses.wiring import get_expense_service
from xerosync.sync_expenses.worker import SEND_LEASE_SECONDS, SpendMoneyWorker


def test_an_update_refused_for_an_archived_account_keeps_the_spend_money_it_refers_to(world: World) -> None:
    # Given a synced expense, Updated in the bank, whose Xero account is then archived in Xero
    business, user = world.mapped_business()
    tenant = business.tenant_id
    paid = world.pay(business, description="Taxi")
    user.sync([paid])
    world.pump_worker()
    world.ledger.set_description(business.accounts["HKD"], paid, "Taxi, corrected")
    world.pump_events()
    world.xero.update_account(tenant, world.account_id(tenant, "493"), {"Status": "ARCHIVED"})
    # When the update meets Xero's "has been archived, or has been deleted" (the cached list did not know yet)
    user.sync([paid])
    world.pump_worker()
    # Then the expense keeps its Spend Money and says what Xero said, not that the Spend Money was deleted
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNC_ERROR" and expense["error"]["code"] == "xero_refused"
    assert expense["spend_money"] is not None
    # And after choosing another account, syncing again updates that one Spend Money
    world.map_categories(business, travel="429")
    user.sync([paid])
    world.pump_worker()
    [spend_money] = world.spend_money(tenant)
    assert spend_money["LineItems"][0]["AccountCode"] == "429"


def test_a_spend_money_found_by_its_marker_is_brought_up_to_date(world: World, sqs_clock: SqsClock) -> None:
    # Given a create that reached Xero while the worker died, then a connection lost before the retry
    business, user = world.mapped_business()
    tenant = business.tenant_id
    paid = world.pay(business, description="Taxi")
    with worker_dies_when_xero_answers(RuntimeError("Lambda timed out")):
        user.sync([paid])
        world.pump_worker()
    world.xero.disconnect(tenant)
    sqs_clock.advance(1.1)
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/{paid}")["error"]["code"] == "reconnect_required"
    # When the bank's description changes before the user reconnects and syncs again
    connect(world.client, world.xero, business.business_id, tenant)
    world.ledger.set_description(business.accounts["HKD"], paid, "Taxi to the airport")
    world.pump_events()
    user.sync([paid])
    world.pump_worker()
    # Then the one Spend Money in Xero carries the change, and the expense is synced and not Updated
    [spend_money] = world.spend_money(tenant)
    assert spend_money["LineItems"][0]["Description"] == "Taxi to the airport"
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert (expense["status"], expense["updated"]) == ("SYNCED", False)
    assert expense["spend_money"]["bank_transaction_id"] == spend_money["BankTransactionID"]


def test_receipts_are_handed_over_even_when_the_delivery_that_synced_died_first(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock) -> None:
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("pdf", 1000, seed=90),))
    original = SpendMoneyWorker._hand_over_receipts
    died: list[bool] = []

    def die_once(self: SpendMoneyWorker, batch: Any, synced: Any) -> None:
        if not died:
            died.append(True)
            raise RuntimeError("Lambda timed out")
        original(self, batch, synced)

    # Given a delivery that recorded the Spend Money and died before handing its receipts over
    monkeypatch.setattr(SpendMoneyWorker, "_hand_over_receipts", die_once)
    job = user.sync([paid])
    world.pump_worker()
    # When the batch comes back
    sqs_clock.advance(1.1)
    world.pump_worker()
    world.pump("AttachmentsWorkerFunction")
    # Then the receipt reached the Spend Money, and the job counts the expense once, as synced
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert len(world.xero.attachments(business.tenant_id, expense["spend_money"]["bank_transaction_id"])) == 1
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"]) == ("COMPLETED", 1)


def test_receipts_synced_by_a_delivery_that_died_are_handed_over_by_the_one_running_beside_it(
        world: World, sqs_clock: SqsClock) -> None:
    # Given a payment whose receipt reached the ledger without its event (the batch brings the expense up to the
    # ledger before sending), and a sync of it
    business, user = world.mapped_business()
    paid = world.pay(business, description="Taxi")
    world.ledger_events.muted = True
    try:
        world.ledger.add_attachment(business.accounts["HKD"], paid,
                                    generated_spec("pdf", 6_000, seed=91, file_name="taxi.pdf"))
    finally:
        world.ledger_events.muted = False
    job = user.sync([paid])
    # When the batch's delivery A outlives the message's visibility timeout, so SQS hands the batch to delivery B
    # as well: B reads the batch (the expense as it was, QUEUED) before A settles it; A records the Spend Money
    # and dies before handing the receipt over and counting; then B goes on, finds the expense synced (nothing to
    # send) and counts the batch
    a_settled = threading.Event()
    settle = SpendMoneyWorker._settle

    def settles_then_dies(self: SpendMoneyWorker, decided: list[Any], tally: Any) -> None:
        settle(self, decided, tally)
        if decided and threading.get_ident() == first:
            a_settled.set()
            raise RuntimeError("Lambda timed out")

    first = threading.get_ident()
    with pytest.MonkeyPatch.context() as patch, _beside_a_second_delivery(world, sqs_clock, a_settled) as b_outcome:
        patch.setattr(SpendMoneyWorker, "_settle", settles_then_dies)
        a_outcome = world.mapping("SyncExpensesWorkerFunction").poll_once()
    assert a_outcome is not None and a_outcome.failed == 1
    assert b_outcome and b_outcome[0] is not None and b_outcome[0].deleted == 1
    world.pump_worker()
    world.pump("AttachmentsWorkerFunction")
    # Then the receipt is in Xero on the one Spend Money, and the job counts the expense once, as synced
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNCED"
    [spend] = world.spend_money(business.tenant_id)
    assert spend["BankTransactionID"] == expense["spend_money"]["bank_transaction_id"]
    assert [a["FileName"] for a in world.xero.attachments(business.tenant_id, spend["BankTransactionID"])] == [
        "taxi.pdf"]
    assert user.ok("GET", f"/v1/expenses/{paid}/attachments")["summary"] == "1 of 1 receipt(s) in Xero."
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 1, 0)


def test_two_deliveries_of_a_batch_at_once_create_one_spend_money(world: World, sqs_clock: SqsClock) -> None:
    # Given a sync of one expense
    business, user = world.mapped_business()
    paid = world.pay(business, description="Taxi")
    job = user.sync([paid])
    # When the batch's delivery A outlives the message's visibility timeout just before its Spend Money is
    # created, so SQS hands the batch to delivery B as well, and B runs to its end before A's create lands
    mapping = world.mapping("SyncExpensesWorkerFunction")
    first = threading.get_ident()
    b_outcome: list[Any] = []
    create = SpendMoneyWorker._create

    def deliver_b() -> None:
        b_outcome.append(world.mapping("SyncExpensesWorkerFunction").poll_once())

    def b_runs_first(self: SpendMoneyWorker, *args: Any) -> None:
        if threading.get_ident() == first and not b_outcome:
            sqs_clock.advance(mapping.in_flight_visibility + 1)
            delivery_b = threading.Thread(target=deliver_b)
            delivery_b.start()
            delivery_b.join(60)
            assert b_outcome, "delivery B never ran"
        create(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SpendMoneyWorker, "_create", b_runs_first)
        a_outcome = mapping.poll_once()
    assert a_outcome is not None and a_outcome.deleted == 1
    # Then Xero holds one Spend Money: B sent nothing (A was sending), its message came back for after A's lease
    assert [t["BankTransactionID"] for t in world.spend_money(business.tenant_id)] == [
        user.ok("GET", f"/v1/expenses/{paid}")["spend_money"]["bank_transaction_id"]]
    assert b_outcome[0] is not None and b_outcome[0].failed == 1
    sqs_clock.advance(SEND_LEASE_SECONDS + 1)
    world.pump_worker()
    assert world.queue_depth("ExpenseSyncQueue") == 0
    # and found nothing left to send; the expense links to the one Spend Money, and the job counts it once
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNCED"
    [spend] = world.spend_money(business.tenant_id)
    assert spend["BankTransactionID"] == expense["spend_money"]["bank_transaction_id"]
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 1, 0)


def test_a_delivery_that_read_its_batch_before_the_one_beside_it_ended_sends_nothing_again(
        world: World, sqs_clock: SqsClock) -> None:
    # Given a sync of one expense
    business, user = world.mapped_business()
    paid = world.pay(business, description="Taxi")
    job = user.sync([paid])
    # When delivery B reads the batch (the expense QUEUED) while delivery A runs, and goes on only once A has
    # created, recorded and counted it, and given its lease up
    a_ended = threading.Event()
    with _beside_a_second_delivery(world, sqs_clock, a_ended) as b_outcome:
        a_outcome = world.mapping("SyncExpensesWorkerFunction").poll_once()
        a_ended.set()
    # Then B sends nothing to Xero (not even an update of what A created): the expense is synced once, as A left it
    assert a_outcome is not None and a_outcome.deleted == 1
    assert b_outcome and b_outcome[0] is not None and b_outcome[0].deleted == 1
    calls = [(r["method"], r["status"]) for r in world.xero.request_log
             if r["path"].endswith("/BankTransactions") and r["method"] in ("PUT", "POST")]
    assert calls == [("PUT", 200)]
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    [spend] = world.spend_money(business.tenant_id)
    assert expense["status"] == "SYNCED" and expense["spend_money"]["bank_transaction_id"] == spend["BankTransactionID"]
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 1, 0)


def test_a_delivery_killed_while_sending_holds_the_batch_until_its_timeout_then_xero_is_asked_first(
        world: World, sqs_clock: SqsClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch whose delivery is killed at its timeout right after its Spend Money landed in Xero
    business, user = world.mapped_business()
    paid = world.pay(business, description="Taxi")
    job = user.sync([paid])
    with killed_once_xero_took("create_bank_transactions_once"):
        world.pump_worker()
    # When the message comes back before that delivery's longest possible end: nothing is sent, it comes back later
    sqs_clock.advance(1.1)
    [early] = world.pump_worker()
    assert early.failed == 1 and len(world.spend_money(business.tenant_id)) == 1
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "QUEUED"
    # Then once that delivery's timeout has passed, Xero is asked first: the Spend Money is there and is recorded
    # (the worker's clock moved on, in whichever execution environment takes the message)
    monkeypatch.setattr(worker_module, "utc_now", lambda clock: utc_now(OffsetClock(clock, SEND_LEASE_SECONDS + 1)))
    sqs_clock.advance(SEND_LEASE_SECONDS + 60)
    world.pump_worker()
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    [spend] = world.spend_money(business.tenant_id)
    assert expense["status"] == "SYNCED"
    assert expense["spend_money"]["bank_transaction_id"] == spend["BankTransactionID"]
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 1, 0)
    assert world.queue_depth("ExpenseSyncQueue") == 0


def test_an_expense_rejected_at_the_start_and_fixed_meanwhile_is_synced_by_the_same_job(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    business = world.business()
    user = world.user(business.business_id)
    paid = world.pay(business, category=None)  # no account: refused before sending
    account = world.account_id(business.tenant_id, "493")
    original = ExpenseStore.save_many
    raced: list[bool] = []

    def edit_lands_first(self: ExpenseStore, records: list[Any]) -> list[Any]:
        if not raced:  # another tab's edit chooses an account between the job's read and its write
            raced.append(True)
            self.change(business.business_id, paid, lambda r: state_machine.edited(
                r, {"xero_account_id": account}, iso(utc_now(world.client.clock))))
        return original(self, records)

    monkeypatch.setattr(ExpenseStore, "save_many", edit_lands_first)
    job = user.sync([paid])
    monkeypatch.setattr(ExpenseStore, "save_many", original)
    assert (job["total"], job["failed"]) == (1, 1)  # what the API saw: refused before sending
    world.pump_worker()
    # The planner decided again from the edited expense: it is queued in the job's batch and synced once, and
    # the job's figures say so (nothing left QUEUED, nothing counted twice)
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "SYNCED"
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"], progress["total"]) == ("COMPLETED", 1, 0, 1)
    assert len(world.spend_money(business.tenant_id)) == 1


def test_expenses_of_a_job_nobody_will_finish_can_be_synced_again_once(world: World,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a job whose batch reached Xero and whose worker was killed on its last delivery: QUEUED, no message
    business, user = world.mapped_business()
    paid = world.pay(business)
    with worker_dies_when_xero_answers(SystemExit("the Lambda was killed at its timeout")):
        user.sync([paid])
        with pytest.raises(SystemExit):
            world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "QUEUED"
    assert _sync_click(user, paid, "click-2")["skipped"][0]["reason"] == "already_queued"
    # When that job is older than any delivery, retry or parked wait lasts
    with acting_as("SyncExpensesApiFunction"):  # the expense API's own service, as it runs
        service = get_expense_service()
    monkeypatch.setattr(service, "clock", OffsetClock(service.clock, STUCK_JOB_SECONDS + 60))
    assert _sync_click(user, paid, "click-3")["skipped"] == []
    monkeypatch.undo()
    # the killed delivery's message comes back first (FIFO): its batch finds nothing to do. Real time passes here,
    # not only SQS's: the killed delivery's claim on the batch is timed by the worker's own clock too; and the
    # worker's clock has passed the killed delivery's lease on the batch, as the deployed 720 s visibility timeout does
    monkeypatch.setattr(worker_module, "utc_now", lambda clock: utc_now(OffsetClock(clock, SEND_LEASE_SECONDS + 1)))
    time.sleep(1.1)
    world.pump_worker()
    # Then the new job takes it over, finds the Spend Money already in Xero, and creates nothing twice
    assert len(world.spend_money(business.tenant_id)) == 1
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "SYNCED"


def _sync_click(user: ApiUser, transaction_id: str, click: str) -> dict[str, Any]:
    """Another click of Sync Expenses (its own Idempotency-Key: not a double click of an earlier one)."""
    response = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": [transaction_id]},
                         headers={"Idempotency-Key": click})
    assert response.status == 202, response.body
    return dict(json.loads(response.body))



def test_a_job_with_nothing_to_send_completes_when_the_planner_died_after_dispatching_it(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock) -> None:
    # Given a sync whose only expense is refused before sending (no account chosen): the plan has no batch, so
    # the planner itself completes the job, right after marking it dispatched
    business = world.business()
    user = world.user(business.business_id)
    paid = world.pay(business, category=None)
    original = SyncJobStore.complete_if_done
    died: list[bool] = []

    def die_once(self: SyncJobStore, business_id: str, job_id: str, at: str) -> bool:
        if not died:  # the Lambda is killed (its timeout, a DynamoDB error past the SDK's retries) in between
            died.append(True)
            raise RuntimeError("Lambda timed out")
        return original(self, business_id, job_id, at)

    monkeypatch.setattr(SyncJobStore, "complete_if_done", die_once)
    job = user.sync([paid])
    world.pump_worker()
    assert died
    # When the plan message comes back (nothing was deleted)
    sqs_clock.advance(1.1)
    world.pump_worker()
    # Then the job completes, with the expense failed; no batch will ever count it, so nothing else would
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["failed"], progress["total"]) == ("COMPLETED", 1, 1)
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "SYNC_ERROR"


@contextmanager
def _beside_a_second_delivery(world: World, sqs_clock: SqsClock,
                              b_goes_on: threading.Event) -> Iterator[list[BatchOutcome | None]]:
    """The Spend Money batch's delivery A (run inside, on this thread) outlives the message's visibility timeout, so
    SQS hands the batch to delivery B as well: B reads the batch's expenses while A runs, then waits for
    ``b_goes_on``. Yields B's outcome, there once B has ended (on leaving)."""
    mapping = world.mapping("SyncExpensesWorkerFunction")
    first = threading.get_ident()
    b_has_read = threading.Event()
    b_outcome: list[BatchOutcome | None] = []
    b_delivery: list[threading.Thread] = []
    as_in_ledger = SpendMoneyWorker._as_in_ledger

    def interleaved(self: SpendMoneyWorker, work: list[Any]) -> Any:
        if threading.get_ident() == first:
            sqs_clock.advance(mapping.in_flight_visibility + 1)
            b_delivery.append(threading.Thread(target=lambda: b_outcome.append(mapping.poll_once())))
            b_delivery[0].start()
            assert b_has_read.wait(30), "delivery B never took the batch"
        else:  # B has read the batch's expenses before it came here
            b_has_read.set()
            assert b_goes_on.wait(30), "delivery B was never let go on"
        return as_in_ledger(self, work)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SpendMoneyWorker, "_as_in_ledger", interleaved)
        yield b_outcome
        assert b_delivery, "delivery A never read its batch"
        b_delivery[0].join(60)
