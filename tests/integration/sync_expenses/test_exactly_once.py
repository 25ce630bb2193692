"""Exactly one Spend Money per expense: redelivered messages, a worker crash after Xero accepted (after Xero
forgot the Idempotency-Key), dropped answers, Xero failing, and a connection lost half-way."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.integration.expense_world import World, worker_dies_when_xero_answers
from tests.support.expense_checks import assert_exactly_once, mapped_with_expenses, spend_money_creates
from tests.support.sqs_clock import SqsClock
from tests.support.xero_sessions import connect
from xerosync.sync_expenses.worker import SpendMoneyWorker

XERO_IDEMPOTENCY_WINDOW = 6 * 60  # the emulator remembers a key this long, as Xero is said to


def test_a_redelivered_batch_changes_nothing(world: World) -> None:
    business, ids = mapped_with_expenses(world, 12)
    user = world.user(business.business_id)
    job = user.sync(ids)
    sqs = boto3.client("sqs")
    queue = world.aws.queue_url("ExpenseSyncQueue")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   MessageSystemAttributeNames=["MessageGroupId"])["Messages"]
    bodies = [m["Body"] for m in messages]
    # (the batch message is the documented one: one tenant's group, up to 50 expenses)
    generation = world.client.connections.get(business.business_id).generation  # type: ignore[union-attr]
    assert json.loads(bodies[0]) == {"kind": "spend_money_batch", "business_id": business.business_id,
                                     "tenant_id": business.tenant_id, "generation": generation,
                                     "job_id": job["job_id"], "batch": 0,
                                     "operation": "create", "transaction_ids": ids}
    # (one business's group on its organisation: its batches are serial, its siblings' go side by side)
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {f"{business.tenant_id}:{business.business_id}"}
    world.pump_worker()
    calls = len(world.xero.request_log)
    # When SQS delivers the batch again (at least once), after its deduplication window
    for n, body in enumerate(bodies):
        sqs.send_message(QueueUrl=queue, MessageBody=body,
                         MessageGroupId=f"{business.tenant_id}:{business.business_id}",
                         MessageDeduplicationId=f"again-{n}")
    outcomes = world.pump_worker()
    # Then they are consumed without a Xero call, and the progress is not counted twice
    assert sum(o.deleted for o in outcomes) == 1 and len(world.xero.request_log) == calls
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["synced"], progress["failed"], progress["status"]) == (12, 0, "COMPLETED")
    assert_exactly_once(world, business, ids)


def test_a_worker_crash_after_xero_accepted_is_recovered_by_marker_without_a_second_create(
        world: World, sqs_clock: SqsClock) -> None:
    business, ids = mapped_with_expenses(world, 20)
    user = world.user(business.business_id)
    # Given a worker that dies right after Xero created the batch, before it could record anything
    with worker_dies_when_xero_answers(RuntimeError("Lambda timed out"), times=1) as crashed:
        job = user.sync(ids)
        [failed] = world.pump_worker()
        assert failed.error is not None and crashed == [20] and len(world.spend_money(business.tenant_id)) == 20
        assert {e["status"] for e in user.pending()} == {"QUEUED"}
        # When the message comes back after Xero has forgotten the Idempotency-Key
        world.xero.advance_clock(XERO_IDEMPOTENCY_WINDOW + 60)
        sqs_clock.advance(1.1)  # the local queue's visibility timeout
        world.pump_worker()
    # Then the expenses are found in Xero by their Url and recorded: no second create, nothing twice
    assert len(spend_money_creates(world)) == 1
    assert_exactly_once(world, business, ids)
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["synced"] == 20


@pytest.mark.parametrize("fault", [{"kind": "drop"},  # written in Xero, the answer never arrives
                                   {"kind": "error", "status": 500}])  # Xero failed (and says so again)
def test_lost_answers_and_xero_failures_still_create_each_spend_money_once(world: World,
                                                                           fault: dict[str, Any]) -> None:
    business, ids = mapped_with_expenses(world, 20)
    world.xero.add_fault(path="*/BankTransactions", method="PUT", times=1, **fault)
    job = world.user(business.business_id).sync(ids)
    world.pump_worker()
    assert_exactly_once(world, business, ids)
    assert any(f["fired"] for f in world.xero.faults()), "the fault must have hit"
    progress = world.user(business.business_id).ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["synced"], progress["status"]) == (20, "COMPLETED")
    # A lost answer is resolved by looking Xero up (all 20 are there); a 500 by sending what is missing again
    assert len(spend_money_creates(world)) == (1 if fault["kind"] == "drop" else 2)


def test_a_batch_cut_off_by_a_lost_connection_is_looked_up_after_reconnecting(
        world: World, sqs_clock: SqsClock) -> None:
    business, ids = mapped_with_expenses(world, 5)
    user = world.user(business.business_id)
    # Given a batch that Xero accepted while the worker died, and the app then removed in Xero
    with worker_dies_when_xero_answers(RuntimeError("Lambda timed out")):
        user.sync(ids)
        world.pump_worker()
    assert len(world.spend_money(business.tenant_id)) == 5
    world.xero.disconnect(business.tenant_id)
    sqs_clock.advance(1.1)  # the local queue's visibility timeout
    world.pump_worker()
    # Then the expenses end in SYNC_ERROR with reconnect guidance (the message is not retried forever)
    assert {e["error"]["code"] for e in user.pending()} == {"reconnect_required"}
    assert world.queue_depth("ExpenseSyncQueue") == 0
    # When the business reconnects and syncs them again, they are found in Xero, not created again
    connect(world.client, world.xero, business.business_id, business.tenant_id)
    world.xero.clear_request_log()
    user.sync(ids)
    world.pump_worker()
    assert spend_money_creates(world) == []
    assert_exactly_once(world, business, ids)


def test_a_worker_that_dies_after_recording_but_before_counting_still_leaves_the_right_progress(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock) -> None:
    business, ids = mapped_with_expenses(world, 7)
    user = world.user(business.business_id)
    original = SpendMoneyWorker._count
    died: list[int] = []

    def die_once(self: SpendMoneyWorker, batch: Any, tally: Any) -> None:
        if not died:
            died.append(len(tally.synced))
            raise RuntimeError("Lambda timed out")
        original(self, batch, tally)

    # Given a delivery that recorded Xero's answer for every expense, then died before counting the batch
    monkeypatch.setattr(SpendMoneyWorker, "_count", die_once)
    job = user.sync(ids)
    [failed] = world.pump_worker()
    assert failed.failed == 1 and died == [7]
    # When SQS delivers the batch again
    sqs_clock.advance(1.1)  # the local queue's visibility timeout
    world.pump_worker()
    # Then nothing is sent again, and the job counts what the first delivery did
    assert len(spend_money_creates(world)) == 1
    assert_exactly_once(world, business, ids)
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 7, 0)
