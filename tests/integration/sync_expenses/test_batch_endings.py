"""No expense stays "being synced" with nobody working on it: a request Xero refuses as a whole ends its
expenses in Sync error at once; a batch that fails on every delivery ends them there on its last delivery,
before the message goes to the dead-letter queue (with its alarm). Either way they can be synced again, once.
No receipt stays "on the way" either: the last delivery of a receipts message marks what is not in Xero failed,
with the reason and the way out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulators.ledger import LedgerEmulator, ReceiptSpec, generated_spec
from emulators.time_control import OffsetClock
from emulators.xero import XeroEmulator
from local.event_sources import BatchOutcome, Scheduler
from local.lambda_runtime import acting_as
from local.template import Template
from tests.integration.expense_world import MODULE, ApiUser, Business, World, killed_once_xero_took
from tests.support.expense_checks import assert_exactly_once, mapped_with_expenses, spend_money_creates
from tests.support.integration_stack import local_template
from tests.support.sqs_clock import SqsClock
from xerosync.attachments.service import GAVE_UP, ReceiptsWorker
from xerosync.attachments.uploader import UPLOAD_LEASE_SECONDS, ReceiptUploader
from xerosync.attachments.wiring import get_receipts_worker
from xerosync.clock import SystemClock, use_process_clock, utc_now
from xerosync.sync_expenses import worker as worker_module
from xerosync.sync_expenses.decisions import ABANDONED_AFTER_SECONDS, STUCK_JOB_SECONDS
from xerosync.sync_expenses.fifo_queues import AttachmentUploads
from xerosync.sync_expenses.payees import normalise_payee
from xerosync.sync_expenses.store import ExpenseStore, SyncJobStore
from xerosync.sync_expenses.suggestion_store import PayeeStore
from xerosync.sync_expenses.suggestions import PayeeSummary
from xerosync.sync_expenses.wiring import get_expense_service, get_spend_money_planner
from xerosync.sync_expenses.worker import SEND_LEASE_SECONDS, SpendMoneyWorker

# The template's ExpenseBatchMaxReceives and ReceiptUploadMaxReceives, lowered so the tests reach the last delivery
MAX_RECEIVES = 4


@pytest.fixture(scope=MODULE)
def template(xero: XeroEmulator, ledger: LedgerEmulator) -> Template:
    return local_template(xero_url=xero.base_url, ledger_url=ledger.base_url,
                          ExpenseBatchMaxReceives=str(MAX_RECEIVES), ReceiptUploadMaxReceives=str(MAX_RECEIVES))


@pytest.fixture
def dead_letters(world: World) -> Callable[[], list[str]]:
    """Reads what reached ExpenseSyncQueue's dead-letter queue since the test began."""
    sqs = boto3.client("sqs")
    queue = world.aws.queue_url("ExpenseSyncDeadLetterQueue")
    found: list[str] = []

    def read() -> list[str]:
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                found.append(message["Body"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return found

    read()
    found.clear()
    return read


def _next_delivery(world: World, sqs_clock: SqsClock, within: float = 5,
                   function: str = "SyncExpensesWorkerFunction") -> BatchOutcome | None:
    """The queue's next delivery to ``function``: where nothing is visible, SQS's clock moves on (up to ``within``
    seconds, in steps shorter than the local queue's visibility timeout of 1 s) instead of the test waiting."""
    mapping = world.mapping(function)
    waited = 0.0
    while (outcome := mapping.poll_once()) is None and waited < within:
        sqs_clock.advance(0.25)
        waited += 0.25
    return outcome


def _deliveries_fail(world: World, sqs_clock: SqsClock, count: int,
                     function: str = "SyncExpensesWorkerFunction") -> None:
    """The next ``count`` deliveries to ``function``, each of them failing its one message."""
    for delivery in range(1, count + 1):
        outcome = _next_delivery(world, sqs_clock, function=function)
        assert outcome is not None and outcome.failed == 1, f"delivery {delivery}"


def _both_receipts_given_up(user: ApiUser, paid: str) -> None:
    """The expense's two receipts failed with why and what to do, none "on the way"."""
    status = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert (status["synced"], status["failed"], status["waiting"]) == (0, 2, 0)
    assert {(f["state"], f["reason"], f["action"]) for f in status["files"]} == {("ERROR", *GAVE_UP)}


def test_a_request_xero_refuses_as_a_whole_ends_its_expenses_in_sync_error_at_once(
        world: World, dead_letters: Callable[[], list[str]]) -> None:
    # Given Xero answering the batch's create with 403 while the connection stays (e.g. a permission it lacks)
    business, ids = mapped_with_expenses(world, 3)
    user = world.user(business.business_id)
    world.xero.add_fault("error", status=403, path="*/BankTransactions", method="PUT", times=1)
    job = user.sync(ids)
    # When the worker meets it
    [outcome] = world.pump_worker()
    # Then the message is finished (sending it again cannot help) and each expense shows why, at once
    assert outcome.deleted == 1
    errors = {e["transaction_id"]: e for e in user.pending()}
    assert set(errors) == set(ids) and {e["status"] for e in errors.values()} == {"SYNC_ERROR"}
    error = errors[ids[0]]["error"]
    assert error["code"] == "xero_refused" and error["message"].startswith("Xero refused to sync the expense: ")
    assert "sync the expense again" in error["action"].lower()
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 0, 3)
    assert dead_letters() == [] and world.spend_money(business.tenant_id) == []
    # And syncing them again creates each Spend Money once
    user.sync(ids)
    world.pump_worker()
    assert_exactly_once(world, business, ids)


def test_a_batch_that_fails_on_every_delivery_ends_in_sync_error_and_the_dead_letter_queue(
        world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock) -> None:
    # Given Xero failing every create (500), after the client's own retries, on every delivery of the batch
    business, ids = mapped_with_expenses(world, 3)
    user = world.user(business.business_id)
    world.xero.add_fault("error", status=500, path="*/BankTransactions", method="PUT", times=None)
    job = user.sync(ids)
    # When SQS delivers it until its maxReceiveCount
    for delivery in range(1, MAX_RECEIVES + 1):
        outcome = _next_delivery(world, sqs_clock)
        assert outcome is not None and outcome.failed == 1, f"delivery {delivery}"
        statuses = {e["status"] for e in user.pending()}
        assert statuses == ({"SYNC_ERROR"} if delivery == MAX_RECEIVES else {"QUEUED"}), f"delivery {delivery}"
    # Then the last delivery left each expense in Sync error, syncable again, and the job finished
    errors = user.pending()
    assert {e["error"]["code"] for e in errors} == {"sync_failed"}
    assert all(e["error"]["action"] == "Sync the expense again later." for e in errors)
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["failed"]) == ("COMPLETED", 3)
    # And the message went on to the dead-letter queue, where the alarm is
    assert _next_delivery(world, sqs_clock, within=1.5) is None
    assert [json.loads(body)["job_id"] for body in dead_letters()] == [job["job_id"]]
    world.xero.clear_faults()
    creates_before = len(spend_money_creates(world))
    # When the user syncs them again, each is looked up first (a create may have landed) and created once
    user.sync(ids)
    world.pump_worker()
    assert_exactly_once(world, business, ids)
    assert len(spend_money_creates(world)) == creates_before + 1


def _killed_on_every_delivery(world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock,
                              user: ApiUser, ids: list[str]) -> dict[str, Any]:
    """The user syncs ``ids`` and every delivery of the batch is killed at the Lambda timeout, the last one too
    (its message in the dead-letter queue): the job the user was given."""
    def killed(*_: object) -> None:
        raise SystemExit("the Lambda was killed at its timeout")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SpendMoneyWorker, "_sync", killed)
        job = user.sync(ids)
        for _ in range(MAX_RECEIVES):
            with pytest.raises(SystemExit):
                _next_delivery(world, sqs_clock)
        assert _next_delivery(world, sqs_clock, within=1.5) is None
    assert len(dead_letters()) == 1
    return job


def test_expenses_of_a_batch_killed_on_its_last_delivery_can_be_synced_again_minutes_later(
        world: World, dead_letters: Callable[[], list[str]], monkeypatch: pytest.MonkeyPatch,
        sqs_clock: SqsClock) -> None:
    # Given a batch whose every delivery is killed at the Lambda timeout (nothing in the code can mark it)
    business, ids = mapped_with_expenses(world, 2)
    user = world.user(business.business_id)
    first = _killed_on_every_delivery(world, dead_letters, sqs_clock, user, ids)
    assert {e["status"] for e in user.pending()} == {"QUEUED"}
    # When the user syncs them again a few minutes later, they are taken over (not "already being synced")
    # The API decides in its own function, the planner in the worker's: both see time the same way
    for function, build in (("SyncExpensesApiFunction", get_expense_service),
                            ("SyncExpensesWorkerFunction", get_spend_money_planner)):
        with acting_as(function):
            use_case = build()
        monkeypatch.setattr(use_case, "clock", OffsetClock(use_case.clock, ABANDONED_AFTER_SECONDS + 60))
    again = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": ids},
                      headers={"Idempotency-Key": "a later click"})  # (not a double click of the first)
    assert again.status == 202
    assert again.json()["job_id"] != first["job_id"] and again.json()["skipped"] == []
    world.pump_worker()
    monkeypatch.undo()
    # Then each is synced once
    assert_exactly_once(world, business, ids)


def test_the_minute_sweeper_ends_a_batch_killed_on_its_last_delivery_in_sync_error_with_the_way_out(
        world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock) -> None:
    # Given a batch whose every delivery is killed at the Lambda timeout, the last one too
    business, ids = mapped_with_expenses(world, 2)
    user = world.user(business.business_id)
    job = _killed_on_every_delivery(world, dead_letters, sqs_clock, user, ids)
    schedule = Scheduler(world.aws.template, world.runtime)
    # When the minute's schedule runs before such a delivery could have ended, it leaves the batch alone
    assert schedule.fire("EveryMinute")["batches_settled"] == 0
    assert {e["status"] for e in user.pending()} == {"QUEUED"}
    # And when it runs once the last delivery began longer ago than any delivery lasts
    use_process_clock(OffsetClock(SystemClock(), ABANDONED_AFTER_SECONDS + 60))
    try:
        assert schedule.fire("EveryMinute")["batches_settled"] >= 1  # (an earlier test's too)
        assert schedule.fire("EveryMinute")["batches_settled"] == 0  # (settled once)
    finally:
        use_process_clock(None)
    # Then each expense is in Sync error with why and what to do, and the job is complete with them failed
    errors = user.pending()
    assert {(e["status"], e["error"]["code"]) for e in errors} == {("SYNC_ERROR", "sync_interrupted")}
    assert errors[0]["error"]["action"].startswith("Sync the expense again")
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 0, 2)
    # And syncing them again creates each Spend Money once
    user.sync(ids)
    world.pump_worker()
    assert_exactly_once(world, business, ids)


def _dynamodb_fails(*_: object, **__: object) -> None:
    """A DynamoDB write that fails past the SDK's retries."""
    raise ClientError({"Error": {"Code": "InternalServerError", "Message": "Internal server error"}}, "UpdateItem")


def _minute_schedule_later(world: World, seconds: float) -> int:
    """The minute's schedule, run ``seconds`` from now: how many batches it settled."""
    use_process_clock(OffsetClock(SystemClock(), seconds))
    try:
        return int(Scheduler(world.aws.template, world.runtime).fire("EveryMinute")["batches_settled"])
    finally:
        use_process_clock(None)


def test_a_batch_whose_count_and_last_delivery_mark_fail_on_every_delivery_still_completes_its_job(
        world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock) -> None:
    # Given a batch whose expenses Xero takes on its first delivery, and DynamoDB failing the job's count and the
    # last delivery's mark on every delivery (past the SDK's retries) until the message is dead-lettered
    business, ids = mapped_with_expenses(world, 2)
    user = world.user(business.business_id)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SyncJobStore, "count_batch", _dynamodb_fails)
        patch.setattr(SyncJobStore, "mark_last_delivery", _dynamodb_fails)
        job = user.sync(ids)
        _deliveries_fail(world, sqs_clock, MAX_RECEIVES)
        assert _next_delivery(world, sqs_clock, within=1.5) is None
    [dead] = dead_letters()
    assert json.loads(dead)["job_id"] == job["job_id"]
    assert {e["transaction_id"]: e["status"] for e in user.tab("synced")}.keys() >= set(ids)
    creates = len(spend_money_creates(world))
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert progress["status"] == "RUNNING"
    # When the minute's schedule runs before a delivery could have been abandoned, the job is left alone
    assert _minute_schedule_later(world, 0) == 0
    # And when it runs once one could have been
    assert _minute_schedule_later(world, ABANDONED_AFTER_SECONDS + 60) >= 1  # (an earlier test's too)
    assert _minute_schedule_later(world, ABANDONED_AFTER_SECONDS + 60) == 0  # (settled once)
    # Then the job is complete, with what its expenses became
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 2, 0)
    # And a late delivery of the batch (an operator's redrive of the dead letter) changes nothing, calls nobody
    boto3.client("sqs").send_message(QueueUrl=world.aws.queue_url("ExpenseSyncQueue"), MessageBody=dead,
                                     MessageGroupId=business.tenant_id, MessageDeduplicationId="redriven")
    outcome = _next_delivery(world, sqs_clock)
    assert outcome is not None and outcome.failed == 0
    again = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (again["status"], again["synced"], again["failed"]) == ("COMPLETED", 2, 0)
    assert len(spend_money_creates(world)) == creates
    assert_exactly_once(world, business, ids)


def test_a_last_delivery_whose_mark_fails_still_ends_its_expenses_and_completes_the_job(
        world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock) -> None:
    # Given Xero failing every create (500) on every delivery, and DynamoDB failing the last delivery's mark
    business, ids = mapped_with_expenses(world, 2)
    user = world.user(business.business_id)
    world.xero.add_fault("error", status=500, path="*/BankTransactions", method="PUT", times=None)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(SyncJobStore, "mark_last_delivery", _dynamodb_fails)
            job = user.sync(ids)
            _deliveries_fail(world, sqs_clock, MAX_RECEIVES)
    finally:
        world.xero.clear_faults()
    # Then the last delivery went on without its mark: each expense is in Sync error with the way out, and the
    # job is complete, at once (the message goes on to the dead-letter queue and its alarm)
    assert {(e["status"], e["error"]["code"]) for e in user.pending() if e["transaction_id"] in ids} == {
        ("SYNC_ERROR", "sync_failed")}
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 0, 2)
    assert _next_delivery(world, sqs_clock, within=1.5) is None
    assert [json.loads(body)["job_id"] for body in dead_letters()] == [job["job_id"]]


def test_receipts_whose_hand_over_failed_on_every_delivery_go_to_xero_when_the_sweeper_counts_the_batch(
        world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock) -> None:
    # Given an expense with two receipts that Xero syncs on the batch's first delivery, and the hand-over of its
    # receipts to AttachmentsQueue failing on every delivery until the batch is dead-lettered
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("pdf", 5_000, seed=80), generated_spec("png", 5_000, seed=81)))

    def sqs_fails(*_: object) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "SQS failed"}}, "SendMessageBatch")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AttachmentUploads, "send", sqs_fails)
        job = user.sync([paid])
        _deliveries_fail(world, sqs_clock, MAX_RECEIVES)
        assert _next_delivery(world, sqs_clock, within=1.5) is None
    assert [json.loads(body)["job_id"] for body in dead_letters()] == [job["job_id"]]
    assert user.ok("GET", f"/v1/expenses/{paid}/attachments")["waiting"] == 2  # "on the way", nobody sending
    # When the minute's sweeper checks the running job
    assert _minute_schedule_later(world, ABANDONED_AFTER_SECONDS + 60) >= 1
    world.pump("AttachmentsWorkerFunction")
    # Then the job is complete and both receipts are in Xero
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 1, 0)
    status = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert status["summary"] == "2 of 2 receipt(s) in Xero."
    assert len(world.xero.attachments(business.tenant_id, status["bank_transaction_id"])) == 2


def test_a_batch_killed_on_every_delivery_whose_last_delivery_could_not_be_marked_ends_once_no_delivery_can_come(
        world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock) -> None:
    # Given a batch whose every delivery is killed at the Lambda timeout, and whose last delivery's mark failed
    business, ids = mapped_with_expenses(world, 2)
    user = world.user(business.business_id)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SyncJobStore, "mark_last_delivery", _dynamodb_fails)
        job = _killed_on_every_delivery(world, dead_letters, sqs_clock, user, ids)
    # When the minute's schedule runs while a delivery, a retry or a parked wait could still come, it leaves the
    # expenses to SQS (nothing says the batch was abandoned)
    _minute_schedule_later(world, ABANDONED_AFTER_SECONDS + 60)
    assert {e["status"] for e in user.pending() if e["transaction_id"] in ids} == {"QUEUED"}
    # And once the job is older than any of them can last, it ends them as the worker would have
    _minute_schedule_later(world, STUCK_JOB_SECONDS + 60)
    errors = [e for e in user.pending() if e["transaction_id"] in ids]
    assert {(e["status"], (e["error"] or {}).get("code")) for e in errors} == {("SYNC_ERROR", "sync_interrupted")}
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 0, 2)


def test_a_batch_is_counted_once_when_the_sweeper_checks_its_job_while_its_delivery_counts(
        world: World, sqs_clock: SqsClock) -> None:
    # Given a batch whose request Xero refuses as a whole (403), and the delivery that ends its expenses
    business, ids = mapped_with_expenses(world, 3)
    user = world.user(business.business_id)
    world.xero.add_fault("error", status=403, path="*/BankTransactions", method="PUT", times=1)
    # (the minute's sweeper checks the job between the delivery's ending of its expenses and its count)
    checked, job, outcome = _synced_with_the_sweeper_before_the_count(world, sqs_clock, user, ids)
    assert outcome is not None and outcome.failed == 0
    # Then the sweeper counted the batch and the delivery's own count was a no-op: the job counts each once
    assert checked and checked[0] >= 1
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 0, 3)
    assert {e["status"] for e in user.pending() if e["transaction_id"] in ids} == {"SYNC_ERROR"}


def _synced_with_the_sweeper_before_the_count(world: World, sqs_clock: SqsClock, user: Any,
                                              ids: list[str]) -> tuple[list[int], dict[str, Any], Any]:
    """The user syncs ``ids`` and their batch's delivery runs, with the minute's sweeper checking the job once,
    just before the delivery counts the batch (the sweeper's own count goes straight through). Returns how many
    the sweeper checked (one entry once it ran), the job and the delivery's outcome."""
    original = SyncJobStore.count_batch
    checked: list[int] = []

    def sweeper_first(self: SyncJobStore, *args: Any, **kwargs: Any) -> bool:
        if not checked:
            checked.append(0)
            checked[0] = _minute_schedule_later(world, ABANDONED_AFTER_SECONDS + 60)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SyncJobStore, "count_batch", sweeper_first)
        job = user.sync(ids)
        outcome = _next_delivery(world, sqs_clock)
    return checked, job, outcome


def _source(expense: dict[str, Any], field: str) -> tuple[str, str] | None:
    found = next((s for s in expense["sources"] if s["field"] == field), None)
    return (found["source"], found["explanation"]) if found else None


def _coded_at(world: World, business: Business, user: ApiUser, payee: str, code: str, count: int, *,
              receipts: tuple[ReceiptSpec, ...] = ()) -> list[str]:
    """``count`` payments to ``payee``, each coded to account ``code`` by hand (not synced yet)."""
    ids = [world.pay(business, payee=payee, receipts=receipts, pump=False) for _ in range(count)]
    world.pump_events()
    for transaction_id in ids:
        user.ok("PATCH", f"/v1/expenses/{transaction_id}", {"xero_account_id": world.account_id(business.tenant_id,
                                                                                               code)})
    return ids


def _payee_summary(world: World, business: Business, payee: str) -> PayeeSummary | None:
    return PayeeStore(world.table).get(business.business_id, normalise_payee(payee))


def test_a_batch_the_sweeper_counts_teaches_its_payees_suggestions_as_a_delivery_would(
        world: World, dead_letters: Callable[[], list[str]], sqs_clock: SqsClock) -> None:
    # Given two expenses at Grab coded to 494 by hand and synced (two agree: not yet enough to suggest it), and
    # another Grab expense waiting on the Pending Sync tab
    business, user = world.mapped_business()
    user.sync(_coded_at(world, business, user, "Grab", "494", 2))
    world.pump_worker()
    waiting = world.pay(business, payee="Grab")
    assert _source(user.ok("GET", f"/v1/expenses/{waiting}"), "xero_account") == ("mapping", "from the mapping")
    # And a third coded to 494, with a receipt, whose batch Xero syncs on its first delivery while the receipt's
    # hand-over to AttachmentsQueue fails on every delivery, until the batch is dead-lettered uncounted
    [third] = _coded_at(world, business, user, "Grab", "494", 1, receipts=(generated_spec("pdf", 5_000, seed=82),))

    def sqs_fails(*_: object) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "SQS failed"}}, "SendMessageBatch")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AttachmentUploads, "send", sqs_fails)
        job = user.sync([third])
        _deliveries_fail(world, sqs_clock, MAX_RECEIVES)
        assert _next_delivery(world, sqs_clock, within=1.5) is None
    [dead] = dead_letters()
    assert user.ok("GET", f"/v1/expenses/{third}")["status"] == "SYNCED"
    assert user.ok("GET", f"/v1/expenses/{waiting}")["xero_account"]["source"] == "mapping"  # nothing taught yet
    # When the minute's sweeper checks the running job and counts the batch
    assert _minute_schedule_later(world, ABANDONED_AFTER_SECONDS + 60) >= 1
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 1, 0)
    # Then the payee's history learned the synced expense, as when a delivery counts its batch: the expense
    # waiting, and the next to arrive, are suggested what the three agree on
    arrived = world.pay(business, payee="Grab")
    for transaction_id in (waiting, arrived):
        expense = user.ok("GET", f"/v1/expenses/{transaction_id}")
        assert expense["xero_account"]["code"] == "494" and expense["has_suggestions"], transaction_id
        assert _source(expense, "xero_account") == ("history", "from your last 3 expenses at Grab"), transaction_id
    # And only once: a late delivery of the batch (an operator's redrive of the dead letter) and the sweeper's
    # next run change nothing in the payee's summary
    taught = _payee_summary(world, business, "Grab")
    assert taught is not None and third in {e.transaction_id for e in taught.history} and len(taught.history) == 3
    boto3.client("sqs").send_message(QueueUrl=world.aws.queue_url("ExpenseSyncQueue"), MessageBody=dead,
                                     MessageGroupId=business.tenant_id, MessageDeduplicationId="redriven")
    outcome = _next_delivery(world, sqs_clock)
    assert outcome is not None and outcome.failed == 0
    assert _minute_schedule_later(world, ABANDONED_AFTER_SECONDS + 60) == 0
    assert _payee_summary(world, business, "Grab") == taught


def test_a_batch_its_delivery_and_the_sweeper_both_end_teaches_its_payees_once(
        world: World, sqs_clock: SqsClock) -> None:
    # Given three expenses at Grab coded to 494 by hand (no history yet), synced in one batch
    business, user = world.mapped_business()
    ids = _coded_at(world, business, user, "Grab", "494", 3)
    assert _payee_summary(world, business, "Grab") is None
    # (the minute's sweeper checks the job between the delivery's learning and its count)
    checked, job, outcome = _synced_with_the_sweeper_before_the_count(world, sqs_clock, user, ids)
    assert outcome is not None and outcome.failed == 0 and checked and checked[0] >= 1
    # Then the job counts each expense once, and the payee's summary was written once, with each expense once
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 3, 0)
    summary = _payee_summary(world, business, "Grab")
    assert summary is not None and summary.version == 1
    assert sorted(e.transaction_id for e in summary.history) == sorted(ids)
    arrived = world.pay(business, payee="Grab")
    assert _source(user.ok("GET", f"/v1/expenses/{arrived}"), "xero_account") == (
        "history", "from your last 3 expenses at Grab")


def _synced_with_receipts(world: World) -> tuple[Business, str]:
    """A synced expense with two receipts waiting to go: the business and the transaction id."""
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("pdf", 5_000, seed=70), generated_spec("png", 5_000, seed=71)))
    user.sync([paid])
    world.pump_worker()
    return business, paid


def test_receipts_xero_fails_on_every_delivery_end_failed_with_the_way_out_not_on_the_way(
        world: World, sqs_clock: SqsClock) -> None:
    # Given Xero failing every receipt upload (500), however often it is sent
    business, paid = _synced_with_receipts(world)
    user = world.user(business.business_id)
    world.xero.add_fault("error", status=500, path="*/Attachments/*", method="PUT", times=None)
    dead_letter = world.aws.queue_url("AttachmentsDeadLetterQueue")
    # When SQS delivers the receipts message until its maxReceiveCount
    for delivery in range(1, MAX_RECEIVES + 1):
        outcome = _next_delivery(world, sqs_clock, function="AttachmentsWorkerFunction")
        assert outcome is not None and outcome.failed == 1, f"delivery {delivery}"
        status = user.ok("GET", f"/v1/expenses/{paid}/attachments")
        if delivery < MAX_RECEIVES:
            assert status["waiting"] == 2 and status["failed"] == 0, f"delivery {delivery}"
    # Then after the last one each receipt is failed with why and what to do, not "on the way"
    assert (status["synced"], status["failed"], status["waiting"]) == (0, 2, 0)
    assert {(f["state"], f["reason"], f["action"]) for f in status["files"]} == {("ERROR", *GAVE_UP)}
    assert status["summary"] == "0 of 2 receipt(s) in Xero, 2 not synced (see each file's reason)."
    assert [e["transaction_id"] for e in user.tab("synced", has_error="true")] == [paid]
    assert _next_delivery(world, sqs_clock, within=1.5, function="AttachmentsWorkerFunction") is None
    assert boto3.client("sqs").receive_message(QueueUrl=dead_letter).get("Messages"), "the message is in the DLQ"
    # And once Xero is back, the way out works: sent again, each file is in Xero once and the error is gone
    world.xero.clear_faults()
    user.ok("POST", f"/v1/expenses/{paid}/attachments/retry", status=202)
    world.pump("AttachmentsWorkerFunction")
    after = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert after["summary"] == "2 of 2 receipt(s) in Xero."
    in_xero = world.xero.attachments(business.tenant_id, after["bank_transaction_id"])
    assert len(in_xero) == 2
    assert user.tab("synced", has_error="true") == []


def test_a_last_delivery_that_meets_a_receipt_another_run_is_sending_marks_it_failed_and_comes_back_for_it(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock) -> None:
    # Given a receipts message whose deliveries fail (Xero 500) until the one before last, whose upload lands in
    # Xero and which is killed at its timeout before it records it: its receipt stays UPLOADING, under its lease
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("pdf", 5_000, seed=72),))
    user.sync([paid])
    world.pump_worker()
    fault = world.xero.add_fault("error", status=500, path="*/Attachments/*", method="PUT", times=None)
    _deliveries_fail(world, sqs_clock, MAX_RECEIVES - 2, function="AttachmentsWorkerFunction")
    world.xero.remove_fault(fault["id"])
    with killed_once_xero_took("upload_attachment"):
        _next_delivery(world, sqs_clock, function="AttachmentsWorkerFunction")
    # When the last delivery comes within that lease (as it would beside a run still sending)
    last = _next_delivery(world, sqs_clock, function="AttachmentsWorkerFunction")
    assert last is not None
    # Then it sends nothing, and the receipt is not left "on the way": failed, with the way out
    sent = [r for r in world.xero.request_log if "/Attachments/" in r["path"] and r["method"] == "PUT"]
    assert [r["status"] for r in sent][-1] == 200 and len([r for r in sent if r["status"] == 200]) == 1
    status = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert {(f["state"], f["reason"], f["action"]) for f in status["files"]} == {("ERROR", *GAVE_UP)}
    # And the message is not lost to the dead-letter queue: it comes back once the lease has run out, finds the
    # receipt in Xero, sends nothing, and the error is gone
    dead_letter = world.aws.queue_url("AttachmentsDeadLetterQueue")
    dead = boto3.client("sqs").receive_message(QueueUrl=dead_letter, MaxNumberOfMessages=10).get("Messages", [])
    assert not [m for m in dead if paid in m["Body"]]
    with acting_as("AttachmentsWorkerFunction"):  # the worker's own uploader, as it runs
        uploader = get_receipts_worker().uploader
    monkeypatch.setattr(uploader, "clock", OffsetClock(uploader.clock, UPLOAD_LEASE_SECONDS + 1))
    use_process_clock(OffsetClock(SystemClock(), UPLOAD_LEASE_SECONDS + 60))
    try:
        assert Scheduler(world.aws.template, world.runtime).fire("EveryMinute")["resumed"] >= 1
    finally:
        use_process_clock(None)
    sqs_clock.advance(UPLOAD_LEASE_SECONDS + 60)
    world.pump("AttachmentsWorkerFunction")
    after = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert after["summary"] == "1 of 1 receipt(s) in Xero."
    assert len(world.xero.attachments(business.tenant_id, after["bank_transaction_id"])) == 1
    assert user.tab("synced", has_error="true") == []


def test_receipts_whose_last_delivery_is_killed_at_its_timeout_are_failed_not_on_the_way(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock) -> None:
    # Given every delivery of the receipts message killed at the Lambda timeout (nothing after it runs)
    business, paid = _synced_with_receipts(world)
    user = world.user(business.business_id)

    def killed(*_: object) -> None:
        raise SystemExit("the Lambda was killed at its timeout")

    monkeypatch.setattr(ReceiptUploader, "run", killed)
    for _ in range(MAX_RECEIVES):
        with pytest.raises(SystemExit):
            _next_delivery(world, sqs_clock, function="AttachmentsWorkerFunction")
    assert _next_delivery(world, sqs_clock, within=1.5, function="AttachmentsWorkerFunction") is None
    # Then its receipts say they failed, and what to do
    status = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert {(f["state"], f["reason"], f["action"]) for f in status["files"]} == {("ERROR", *GAVE_UP)}


def test_receipts_whose_last_delivery_cannot_mark_them_first_are_still_failed_not_on_the_way(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock) -> None:
    # Given Xero failing every receipt upload (500), and the last delivery's first marking of the receipts failing
    # on a DynamoDB error past the SDK's retries
    business, paid = _synced_with_receipts(world)
    user = world.user(business.business_id)
    world.xero.add_fault("error", status=500, path="*/Attachments/*", method="PUT", times=None)
    original = ReceiptsWorker._give_up_unsent
    calls: list[int] = []

    def first_fails(self: ReceiptsWorker, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            _dynamodb_fails()
        original(self, *args)

    monkeypatch.setattr(ReceiptsWorker, "_give_up_unsent", first_fails)
    try:
        # When SQS delivers the receipts message until its maxReceiveCount
        _deliveries_fail(world, sqs_clock, MAX_RECEIVES, function="AttachmentsWorkerFunction")
    finally:
        world.xero.clear_faults()
    assert _next_delivery(world, sqs_clock, within=1.5, function="AttachmentsWorkerFunction") is None
    # Then each receipt is failed with why and what to do, not "on the way" with the message in the DLQ
    _both_receipts_given_up(user, paid)


def test_receipts_whose_last_delivery_cannot_read_their_expense_at_first_are_still_failed_not_on_the_way(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock) -> None:
    # Given Xero failing every receipt upload (500) on every delivery
    business, paid = _synced_with_receipts(world)
    user = world.user(business.business_id)
    world.xero.add_fault("error", status=500, path="*/Attachments/*", method="PUT", times=None)
    try:
        _deliveries_fail(world, sqs_clock, MAX_RECEIVES - 1, function="AttachmentsWorkerFunction")
        # When the last delivery's first read of the expense fails (a DynamoDB error past the SDK's retries)
        original = ExpenseStore.get
        failed: list[int] = []

        def first_read_fails(self: ExpenseStore, *args: Any) -> Any:
            if not failed:
                failed.append(1)
                _dynamodb_fails()
            return original(self, *args)

        monkeypatch.setattr(ExpenseStore, "get", first_read_fails)
        outcome = _next_delivery(world, sqs_clock, function="AttachmentsWorkerFunction")
        assert outcome is not None and outcome.failed == 1 and failed
        monkeypatch.undo()
    finally:
        world.xero.clear_faults()
    # Then each receipt is failed with why and what to do, not "on the way" with the message in the DLQ
    assert _next_delivery(world, sqs_clock, within=1.5, function="AttachmentsWorkerFunction") is None
    _both_receipts_given_up(user, paid)


def test_a_last_delivery_that_meets_a_batch_another_delivery_is_sending_comes_back_for_it(
        world: World, monkeypatch: pytest.MonkeyPatch, sqs_clock: SqsClock,
        dead_letters: Callable[[], list[str]]) -> None:
    # Given a batch whose deliveries fail (Xero 500) until the one before last, whose Spend Money lands in Xero and
    # which is killed at its timeout before it records it: the batch stays under that delivery's lease
    business, user = world.mapped_business()
    paid = world.pay(business, description="Taxi")
    fault = world.xero.add_fault("error", status=500, path="*/BankTransactions", method="PUT", times=None)
    job = user.sync([paid])
    _deliveries_fail(world, sqs_clock, MAX_RECEIVES - 2)
    world.xero.remove_fault(fault["id"])
    with killed_once_xero_took("create_bank_transactions_once"):
        _next_delivery(world, sqs_clock)
    # When the last delivery comes within that lease (as it would beside a delivery still sending)
    last = _next_delivery(world, sqs_clock)
    assert last is not None
    # Then it sends nothing, and the message is not lost to the dead-letter queue: it is parked until the lease ends
    assert len(world.spend_money(business.tenant_id)) == 1
    assert dead_letters() == []
    # And once the lease has run out it comes back, finds the Spend Money in Xero by its marker and records it
    monkeypatch.setattr(worker_module, "utc_now", lambda clock: utc_now(OffsetClock(clock, SEND_LEASE_SECONDS + 1)))
    use_process_clock(OffsetClock(SystemClock(), SEND_LEASE_SECONDS + 60))
    try:
        assert Scheduler(world.aws.template, world.runtime).fire("EveryMinute")["resumed"] >= 1
    finally:
        use_process_clock(None)
    sqs_clock.advance(SEND_LEASE_SECONDS + 60)
    world.pump_worker()
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    [spend] = world.spend_money(business.tenant_id)
    assert expense["status"] == "SYNCED" and expense["spend_money"]["bank_transaction_id"] == spend["BankTransactionID"]
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"], progress["failed"]) == ("COMPLETED", 1, 0)
    assert dead_letters() == []
