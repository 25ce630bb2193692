"""The local SQS event source mapping behaves as Lambda's, on moto's SQS, for the template's queues."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3

from emulators.time_control import ManualClock
from local.event_sources import SqsEventSourceMapping
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from local.template import SqsSource
from tests.support.sqs_clock import SqsClock
from xerosync.clock import SystemClock, process_clock

# maxReceiveCount of the expense-sync queue in template.yaml; the local visibility timeout is 1 s.
EXPENSE_QUEUE_MAX_RECEIVES = 10


def _mapping(aws: Provisioned, runtime: LambdaRuntime, function: str) -> SqsEventSourceMapping:
    source = next(s for s in aws.template.sqs_sources() if s.function == function)
    return SqsEventSourceMapping(source, aws.template, runtime, boto3.client("sqs"), aws.queue_url(source.queue))


def _send_fifo(aws: Provisioned, queue: str, group: str, bodies: list[str]) -> None:
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(
            QueueUrl=aws.queue_url(queue),
            MessageBody=body,
            MessageGroupId=group,
            MessageDeduplicationId=f"{group}-{body}",
        )


def _wait_visible(sqs_clock: SqsClock, seconds: float = 1.1) -> None:
    """Past the queue's local visibility timeout (1 s), on SQS's clock (tests/support/sqs_clock.py)."""
    sqs_clock.advance(seconds)


class Recorder:
    """A consumer that records each batch and fails the messages named in ``fail``."""

    def __init__(self, fail: set[str] | None = None, raise_error: bool = False) -> None:
        self.fail = fail or set()
        self.raise_error = raise_error
        self.batches: list[list[str]] = []
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        bodies = [r["body"] for r in event["Records"]]
        self.batches.append(bodies)
        if self.raise_error:
            raise RuntimeError("handler crashed")
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.fail
            ]
        }


def test_records_carry_lambdas_sqs_event_shape(aws: Provisioned, runtime: LambdaRuntime) -> None:
    recorder = Recorder()
    runtime.override("SyncExpensesWorkerFunction", recorder)
    _send_fifo(aws, "ExpenseSyncQueue", "tenant-a", ["m1"])
    _mapping(aws, runtime, "SyncExpensesWorkerFunction").poll_once()
    record = recorder.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":xero-sync-local-ExpenseSyncQueue.fifo")
    assert record["attributes"]["MessageGroupId"] == "tenant-a"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "awsRegion"} <= set(record)


def test_partial_failure_redelivers_only_the_failed_message_until_it_reaches_the_dlq(
    aws: Provisioned, runtime: LambdaRuntime, sqs_clock: SqsClock
) -> None:
    # Given a consumer on the dead-letter-backed ledger-events queue that always fails message "bad"
    recorder = Recorder(fail={"bad"})
    runtime.override("LedgerEventsFunction", recorder)
    sqs = boto3.client("sqs")
    for body in ("ok-1", "bad", "ok-2"):
        sqs.send_message(QueueUrl=aws.queue_url("LedgerEventsQueue"), MessageBody=body)
    mapping = _mapping(aws, runtime, "LedgerEventsFunction")
    # When the mapping polls
    first = mapping.poll_once()
    assert first is not None and first.received == 3 and first.deleted == 2 and first.failed == 1
    # Then only the failed message comes back, after the visibility timeout, until maxReceiveCount (5)
    seen_again = []
    for _ in range(10):
        _wait_visible(sqs_clock)
        outcome = mapping.poll_once()
        if outcome is None:
            break
        seen_again.append(recorder.batches[-1])
    assert seen_again == [["bad"]] * 4
    dlq = sqs.receive_message(
        QueueUrl=aws.queue_url("LedgerEventsDeadLetterQueue"),
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert [m["Body"] for m in dlq] == ["bad"]
    assert dlq[0]["Attributes"]["ApproximateReceiveCount"] == "6"  # received 5 times, the 6th receive moved it
    assert mapping.poll_once() is None


def test_a_handler_that_raises_fails_the_whole_batch(aws: Provisioned, runtime: LambdaRuntime,
                                                    sqs_clock: SqsClock) -> None:
    recorder = Recorder(raise_error=True)
    runtime.override("SyncExpensesWorkerFunction", recorder)
    _send_fifo(aws, "ExpenseSyncQueue", "tenant-a", ["a1"])
    mapping = _mapping(aws, runtime, "SyncExpensesWorkerFunction")
    outcome = mapping.poll_once()
    assert outcome is not None and outcome.deleted == 0 and outcome.error is not None
    _wait_visible(sqs_clock)
    recorder.raise_error = False
    assert mapping.poll_once() is not None
    assert recorder.batches == [["a1"], ["a1"]]
    assert recorder.events[1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_an_unknown_item_identifier_fails_the_whole_batch(aws: Provisioned, runtime: LambdaRuntime) -> None:
    runtime.override("LedgerEventsFunction", lambda event, ctx: {"batchItemFailures": [{"itemIdentifier": "nope"}]})
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.queue_url("LedgerEventsQueue"), MessageBody="x")
    outcome = _mapping(aws, runtime, "LedgerEventsFunction").poll_once()
    assert outcome is not None and outcome.deleted == 0 and outcome.failed == 1


def test_fifo_order_holds_within_a_group_while_another_group_progresses(
    aws: Provisioned, runtime: LambdaRuntime, sqs_clock: SqsClock
) -> None:
    # Given two tenants' messages on the feed-sync queue (batch size 1) and a consumer that fails A's
    # first message twice
    seen: list[str] = []
    failures = {"A1": 2}

    def consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        body = event["Records"][0]["body"]
        seen.append(body)
        if failures.get(body, 0) > 0:
            failures[body] -= 1
            return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        return {"batchItemFailures": []}

    runtime.override("AutoSyncWorkerFunction", consumer)
    _send_fifo(aws, "FeedSyncQueue", "tenant-A", ["A1", "A2", "A3"])
    _send_fifo(aws, "FeedSyncQueue", "tenant-B", ["B1", "B2", "B3"])
    mapping = _mapping(aws, runtime, "AutoSyncWorkerFunction")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len([s for s in seen if s.startswith("A")]) < 5:
        if mapping.poll_once() is None:
            sqs_clock.advance(0.1)  # A1 comes back after the queue's visibility timeout, on SQS's clock
    # Then B finished while A was blocked, and each group was delivered in order, A1 retried first
    a_order = [s for s in seen if s.startswith("A")]
    b_order = [s for s in seen if s.startswith("B")]
    assert b_order == ["B1", "B2", "B3"]
    assert a_order == ["A1", "A1", "A1", "A2", "A3"]
    assert seen.index("B3") < seen.index("A2"), "tenant B waited for tenant A"


def test_fifo_group_whose_batch_times_out_comes_back_oldest_first(aws: Provisioned, runtime: LambdaRuntime,
                                                                 sqs_clock: SqsClock) -> None:
    # moto alone redelivers a timed-out group newest-first; local.moto_patches restores SQS's order.
    sqs = boto3.client("sqs")
    url = aws.queue_url("ExpenseSyncQueue")
    _send_fifo(aws, "ExpenseSyncQueue", "g", ["1", "2", "3"])
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["1", "2", "3"]
    _wait_visible(sqs_clock)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert [m["Body"] for m in again] == ["1"]


def test_batch_size_from_the_template_is_honoured(aws: Provisioned, runtime: LambdaRuntime) -> None:
    recorder = Recorder()
    runtime.override("LedgerEventsFunction", recorder)
    sqs = boto3.client("sqs")
    for index in range(13):
        sqs.send_message(QueueUrl=aws.queue_url("LedgerEventsQueue"), MessageBody=json.dumps({"n": index}))
    mapping = _mapping(aws, runtime, "LedgerEventsFunction")
    while mapping.poll_once() is not None:
        pass
    assert [len(batch) for batch in recorder.batches] == [10, 3]
    assert isinstance(mapping.source, SqsSource) and mapping.source.batch_size == 10


class Gate:
    """A consumer that holds each invocation until released, recording which message groups are in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: list[str] = []
        self.most_groups_at_once = 0
        self.same_group_overlaps = 0
        self.seen: list[str] = []
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        [record] = event["Records"]
        group = record["attributes"]["MessageGroupId"]
        with self.lock:
            self.same_group_overlaps += group in self.in_flight
            self.in_flight.append(group)
            self.seen.append(record["body"])
            self.most_groups_at_once = max(self.most_groups_at_once, len(set(self.in_flight)))
        self.entered.release()
        self.release.wait(timeout=10)
        with self.lock:
            self.in_flight.remove(group)
        return {"batchItemFailures": []}


def test_several_groups_are_in_flight_at_once_and_never_two_batches_of_one_group(
    aws: Provisioned, runtime: LambdaRuntime
) -> None:
    # Given three tenants' messages on the feed-sync queue (batch size 1), tenant A with three in a row
    gate = Gate()
    runtime.override("AutoSyncWorkerFunction", gate)
    _send_fifo(aws, "FeedSyncQueue", "tenant-A", ["A1", "A2", "A3"])
    _send_fifo(aws, "FeedSyncQueue", "tenant-B", ["B1"])
    _send_fifo(aws, "FeedSyncQueue", "tenant-C", ["C1"])
    mapping = _mapping(aws, runtime, "AutoSyncWorkerFunction")
    # When the mapping polls in the background with room for four invocations at once
    mapping.start(concurrency=4)
    try:
        # Then one invocation per tenant runs at once (three of the same function), A's later messages wait
        for _ in range(3):
            assert gate.entered.acquire(timeout=10), "an invocation did not start"
        time.sleep(0.5)  # room for a wrong fourth one to start
        with gate.lock:
            assert sorted(gate.in_flight) == ["tenant-A", "tenant-B", "tenant-C"]
        gate.release.set()
        for _ in range(2):
            assert gate.entered.acquire(timeout=10)
    finally:
        mapping.stop()
    assert gate.most_groups_at_once == 3 and gate.same_group_overlaps == 0 and mapping.overlaps == 0
    assert [body for body in gate.seen if body.startswith("A")] == ["A1", "A2", "A3"]
    assert sorted(gate.seen) == ["A1", "A2", "A3", "B1", "C1"]


def test_a_batch_that_outlasts_the_local_visibility_timeout_is_not_delivered_again_while_it_runs(
    aws: Provisioned, runtime: LambdaRuntime, sqs_clock: SqsClock
) -> None:
    # Given a consumer whose first invocation takes longer than the queue's local visibility timeout (1 s): SQS's
    # clock passes it while the invocation runs, and the pollers get the time to take the message again
    calls: list[str] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event["Records"][0]["body"])
        if len(calls) == 1:
            sqs_clock.advance(2.5)
            time.sleep(0.5)
        return {"batchItemFailures": []}

    runtime.override("SyncExpensesWorkerFunction", slow)
    _send_fifo(aws, "ExpenseSyncQueue", "tenant-a", ["first", "second"])
    mapping = _mapping(aws, runtime, "SyncExpensesWorkerFunction")
    mapping.start(concurrency=4)
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        mapping.stop()
    # Then it ran once, and the group's next message only after it
    assert calls == ["first", "second"]


def test_the_runtime_hands_its_clock_to_the_functions_and_gives_real_time_back(aws: Provisioned) -> None:
    clock = ManualClock(start=1_772_409_600.0)
    runtime = LambdaRuntime(aws.template, clock=clock)
    try:
        assert process_clock() is clock
    finally:
        runtime.close()
    assert isinstance(process_clock(), SystemClock)
