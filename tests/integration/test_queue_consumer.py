"""Queue consumers wait out Xero's limits without sleeping: short waits return the message, long ones park it."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from local.event_sources import Scheduler, SqsEventSourceMapping
from local.lambda_runtime import LambdaRuntime, LocalContext
from local.provision import Provisioned
from local.template import ACCOUNT_ID, REGION
from tests.support.sqs_clock import SqsClock
from xerosync.auto_sync.adapters import SqsMessageSender
from xerosync.auto_sync.parked_resumer import ParkedWorkResumer
from xerosync.queue import PARK_FROM_RECEIVE, ParkOnLastDelivery, consume, queue_url_from_arn
from xerosync.store.parked import ParkedWorkStore
from xerosync.xero.errors import XeroRateLimited, XeroServerError


def _mapping(aws: Provisioned, runtime: LambdaRuntime, function: str) -> SqsEventSourceMapping:
    source = next(s for s in aws.template.sqs_sources() if s.function == function)
    return SqsEventSourceMapping(source, aws.template, runtime, boto3.client("sqs"), aws.queue_url(source.queue))


def _consumer(outcomes: list[Any]) -> Any:
    """A worker whose record handler raises the next scripted outcome (or succeeds)."""

    def record_handler(record: Any) -> None:
        outcome = outcomes.pop(0) if outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome

    return lambda event, context: consume(event, context, record_handler)


def _send(aws: Provisioned, body: dict[str, Any]) -> None:
    boto3.client("sqs").send_message(QueueUrl=aws.queue_url("ExpenseSyncQueue"), MessageBody=json.dumps(body),
                                     MessageGroupId="tenant-1", MessageDeduplicationId=body["id"])


def test_a_429_returns_the_message_for_retry_after_seconds(
        aws: Provisioned, runtime: LambdaRuntime, sqs_clock: SqsClock) -> None:
    busy = XeroRateLimited("busy", retry_after=2, problem="minute")
    runtime.override("SyncExpensesWorkerFunction", _consumer([busy]))
    _send(aws, {"id": "batch-1"})
    mapping = _mapping(aws, runtime, "SyncExpensesWorkerFunction")
    outcome = mapping.poll_once()
    assert outcome is not None and outcome.failed == 1
    sqs_clock.advance(1.2)  # longer than the local 1 s visibility timeout, shorter than Retry-After
    assert mapping.poll_once() is None, "the message came back before Retry-After"
    sqs_clock.advance(1.0)
    again = mapping.poll_once()
    assert again is not None and again.deleted == 1


def test_a_message_that_keeps_meeting_429s_is_parked_instead_of_reaching_the_dead_letter_queue(
        aws: Provisioned, runtime: LambdaRuntime, sqs_clock: SqsClock) -> None:
    # Given Xero answering 429 (Retry-After: 1) every time the worker tries, more times than the DLQ allows
    busy = [XeroRateLimited("busy", retry_after=1, problem="minute") for _ in range(20)]
    runtime.override("SyncExpensesWorkerFunction", _consumer(busy))
    _send(aws, {"id": "batch-busy"})
    mapping = _mapping(aws, runtime, "SyncExpensesWorkerFunction")
    # When it is handed back until the receive that parks it
    for receive in range(1, PARK_FROM_RECEIVE + 1):
        if receive > 1:
            sqs_clock.advance(1.1)  # the Retry-After the consumer set the message's visibility to
        outcome = mapping.poll_once()
        assert outcome is not None, f"receive {receive} never came"
        assert outcome.failed == (0 if receive == PARK_FROM_RECEIVE else 1)
    # Then it is parked (as a fresh message to come), nothing is left in the queue or its dead-letter queue
    sqs = boto3.client("sqs")
    store = ParkedWorkStore(boto3.resource("dynamodb").Table(aws.refs["MainTable"]))
    parked = store.due(time.time() + 60)
    assert [json.loads(p["body"])["id"] for p in parked] == ["batch-busy"]
    sqs_clock.advance(1.2)
    assert mapping.poll_once() is None
    dead = sqs.receive_message(QueueUrl=aws.queue_url("ExpenseSyncDeadLetterQueue"), WaitTimeSeconds=0)
    assert dead.get("Messages", []) == []


def test_the_log_says_why_each_message_failed(aws: Provisioned, runtime: LambdaRuntime,
                                             caplog: pytest.LogCaptureFixture, sqs_clock: SqsClock) -> None:
    # Given a worker that fails its message twice: Xero answers 500, then the ledger is unreachable
    runtime.override("SyncExpensesWorkerFunction", _consumer([
        XeroServerError("Intermittent Internal Xero Error", status=500, correlation_id="corr-1"),
        ConnectionError("the ledger could not be reached")]))
    _send(aws, {"id": "batch-failing"})
    mapping = _mapping(aws, runtime, "SyncExpensesWorkerFunction")
    # When SQS delivers it and hands it back
    with caplog.at_level(logging.WARNING):
        first = mapping.poll_once()
        sqs_clock.advance(1.1)
        second = mapping.poll_once()
    assert first is not None and second is not None and first.failed == second.failed == 1
    # Then each failure is a WARNING naming the message, its group, the receive and the reason
    failures = [r for r in caplog.records if r.getMessage().startswith("message failed")]
    assert [(r.levelname, r.receive_count, r.error, r.reason) for r in failures] == [  # type: ignore[attr-defined]
        ("WARNING", 1, "XeroServerError", "Intermittent Internal Xero Error status=500 xero-correlation-id=corr-1"),
        ("WARNING", 2, "ConnectionError", "the ledger could not be reached")]
    assert {r.message_group_id for r in failures} == {"tenant-1"}  # type: ignore[attr-defined]
    assert len({r.message_id for r in failures}) == 1  # type: ignore[attr-defined]
    assert (failures[0].status, failures[0].xero_correlation_id) == (500, "corr-1")  # type: ignore[attr-defined]


def test_every_queue_consumer_parks_before_its_dead_letter_queue_takes_a_waiting_message(aws: Provisioned) -> None:
    for source in aws.template.sqs_sources():
        queue = aws.template.resolve(aws.template.body["Resources"][source.queue]["Properties"])
        assert int(queue["RedrivePolicy"]["maxReceiveCount"]) > PARK_FROM_RECEIVE, source.queue


def test_a_wait_beyond_what_sqs_can_hold_parks_the_work_and_the_schedule_resumes_it(
        aws: Provisioned, runtime: LambdaRuntime) -> None:
    # Given Xero's daily limit exhausted for the next 20 hours
    runtime.override("SyncExpensesWorkerFunction",
                     _consumer([XeroRateLimited("day used up", retry_after=20 * 3600, problem="day")]))
    _send(aws, {"id": "batch-2", "expenses": ["e1", "e2"]})
    mapping = _mapping(aws, runtime, "SyncExpensesWorkerFunction")
    # When the worker meets it, the message leaves the queue and is parked, not lost
    outcome = mapping.poll_once()
    assert outcome is not None and outcome.deleted == 1
    store = ParkedWorkStore(boto3.resource("dynamodb").Table(aws.refs["MainTable"]))
    assert store.due(time.time()) == []
    parked = store.due(time.time() + 21 * 3600)
    assert len(parked) == 1 and json.loads(parked[0]["body"])["expenses"] == ["e1", "e2"]
    assert parked[0]["group_id"] == "tenant-1"
    # And once the wait is over the schedule sends it back to its queue, where it is processed
    assert ParkedWorkResumer(store, SqsMessageSender(boto3.client("sqs"))).resume(time.time() + 21 * 3600) == 1
    assert store.due(time.time() + 21 * 3600) == []
    resumed = mapping.poll_once()
    assert resumed is not None and resumed.deleted == 1


def test_the_parked_work_schedule_sends_each_queues_work_back_through_its_handler(
        aws: Provisioned, runtime: LambdaRuntime) -> None:
    # Given work parked from each queue that waits on Xero, its wait over (as consume parks it: queue by ARN)
    sqs = boto3.client("sqs")
    store = ParkedWorkStore(boto3.resource("dynamodb").Table(aws.refs["MainTable"]))
    queues = ("FeedSyncQueue", "ExpenseSyncQueue", "AttachmentsQueue", "XeroCleanupQueue")
    for queue in queues:
        store.park(queue_url=queue_url_from_arn(aws.template.arn(queue)), body=json.dumps({"from": queue}),
                   group_id="tenant-1", message_id=f"m-{queue}", resume_at=time.time() - 1, reason="Xero day limit")
    # When the schedule fires, the parked-work function sends each back to its queue and forgets it
    assert Scheduler(aws.template, runtime).fire("EveryMinute") == {"resumed": 4, "batches_settled": 0}
    assert store.due(time.time()) == []
    for queue in queues:
        [message] = sqs.receive_message(QueueUrl=aws.queue_url(queue)).get("Messages", [])
        assert json.loads(message["Body"]) == {"from": queue}
    assert Scheduler(aws.template, runtime).fire("EveryMinute") == {"resumed": 0, "batches_settled": 0}


def test_the_log_says_why_a_message_held_behind_its_group_failed(
        aws: Provisioned, runtime: LambdaRuntime, caplog: pytest.LogCaptureFixture) -> None:
    # Given a FIFO batch of two messages of one group and one of another (as a consumer taking more than one message
    # a batch would receive), and a handler that fails the group's first message
    sqs, url = boto3.client("sqs"), aws.queue_url("ExpenseSyncQueue")
    for n in (1, 2):
        _send(aws, {"id": f"held-{n}"})
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "other"}), MessageGroupId="tenant-2",
                     MessageDeduplicationId="other")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(received) == 3
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{url.rsplit('/', 1)[1]}"
    event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                          "attributes": m["Attributes"], "messageAttributes": {}, "eventSource": "aws:sqs",
                          "eventSourceARN": arn, "awsRegion": REGION} for m in received]}
    ids = {json.loads(m["Body"])["id"]: m["MessageId"] for m in received}
    handled: list[str] = []

    def record_handler(record: Any) -> None:
        handled.append(record.message_id)
        if record.message_id == ids["held-1"]:
            raise XeroServerError("Intermittent Internal Xero Error", status=500)

    # When the consumer runs the batch
    context = LocalContext("SyncExpensesWorkerFunction", 512, arn, "request-1", 120, time.monotonic())
    with caplog.at_level(logging.WARNING):
        response = consume(event, context, record_handler)
    # Then the group's two messages go back, the second untried, and the log names each with why
    assert sorted(handled) == sorted([ids["held-1"], ids["other"]])
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {ids["held-1"], ids["held-2"]}
    lines = {getattr(r, "message_id", None): r for r in caplog.records if r.getMessage().startswith("message failed")}
    assert set(lines) == {ids["held-1"], ids["held-2"]}
    assert (getattr(lines[ids["held-2"]], "error", None), getattr(lines[ids["held-2"]], "message_group_id", None)) == (
        "HeldBehindItsGroup", "tenant-1")


def test_a_consumer_that_asks_for_it_parks_a_message_failing_on_its_last_delivery_a_few_times_then_lets_it_go(
        aws: Provisioned) -> None:
    # Given a consumer of a standard queue whose handler always fails, and that asks for two parks on the last of
    # five deliveries
    sqs, url = boto3.client("sqs"), aws.queue_url("LedgerEventsQueue")
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{url.rsplit('/', 1)[1]}"
    last = ParkOnLastDelivery(max_receives=5, times=2, seconds=900, count_key="parks", reason="failed again")
    store = ParkedWorkStore(boto3.resource("dynamodb").Table(aws.refs["MainTable"]))
    context = LocalContext("LedgerEventsFunction", 512, arn, "request-1", 120, time.monotonic())

    def goes_back(body: str, receive: int) -> bool:
        """Whether the consumer hands the message back to SQS (a batch whose every record failed raises)."""
        record = {"messageId": f"m-{receive}-{len(body)}", "receiptHandle": "h", "body": body, "messageAttributes": {},
                  "attributes": {"ApproximateReceiveCount": str(receive)}, "eventSource": "aws:sqs",
                  "eventSourceARN": arn, "awsRegion": REGION}

        def failing(_: Any) -> None:
            raise XeroServerError("the write failed", status=500)

        try:
            return bool(consume({"Records": [record]}, context, failing, last_delivery=last)["batchItemFailures"])
        except BatchProcessingError:
            return True

    # When a message fails before its last delivery, it goes back to SQS as usual
    assert goes_back(json.dumps({"id": "e1"}), receive=4)
    # When it fails on its last delivery, it leaves the queue parked, its count in its body, for the wait asked
    assert not goes_back(json.dumps({"id": "e1"}), receive=5)
    assert store.due(time.time() + 600) == []
    [parked] = store.due(time.time() + 901)
    assert json.loads(parked["body"]) == {"id": "e1", "parks": 1} and parked["queue_url"] == url
    # And once back and failing on its last delivery again, it is parked a second time
    assert not goes_back(parked["body"], receive=5)
    assert {json.loads(p["body"])["parks"] for p in store.due(time.time() + 901)} == {1, 2}
    # Then after its parks, or when its body has nowhere to carry a count, the failure takes it to the DLQ
    assert goes_back(json.dumps({"id": "e1", "parks": 2}), receive=5)
    assert goes_back("[1, 2]", receive=5)
    assert len(store.due(time.time() + 901)) == 2
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0"
