"""The soak reads its dead-letter queues whole once the world is quiet, a month of world time after the first
fault: every dead letter is failed work the audit must explain (docs/soak.md). A receive cannot be that reader:
moto hands out no message older than the queue's retention period (14 days for the dead-letter queues), and its
receive stops at the first such message it meets, so one early dead letter hid every later one of its queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import moto_patches
from local.soak.driver import _drain
from local.template import REGION
from tests.support.sqs_clock import SqsClock

DAY = 86_400


@pytest.fixture
def sqs() -> Iterator[Any]:
    moto_patches.apply()
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _receipts_queue_and_its_dead_letters(sqs: Any) -> tuple[str, str]:
    """A FIFO queue whose message goes to its dead-letter queue (14 days' retention) after one receive."""
    dead = sqs.create_queue(QueueName="Attachments-DLQ.fifo", Attributes={
        "FifoQueue": "true", "MessageRetentionPeriod": str(14 * DAY)})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(QueueName="Attachments.fifo", Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "1"})})["QueueUrl"]
    return source, dead


def _dead_lettered(sqs: Any, sqs_clock: SqsClock, source: str, transaction_id: str) -> None:
    """A receipts message whose one delivery failed: the next receive moves it to the dead-letter queue."""
    sqs.send_message(QueueUrl=source, MessageBody=json.dumps({"transaction_id": transaction_id}),
                     MessageGroupId=transaction_id, MessageDeduplicationId=transaction_id)
    assert sqs.receive_message(QueueUrl=source).get("Messages")
    sqs_clock.advance(61)
    assert not sqs.receive_message(QueueUrl=source).get("Messages")


def test_the_soak_reads_every_dead_letter_of_a_month_including_those_past_the_queues_retention(
        sqs: Any, sqs_clock: SqsClock) -> None:
    # Given a receipts message dead-lettered on the world's 16th day, and another on its 31st
    source, dead = _receipts_queue_and_its_dead_letters(sqs)
    _dead_lettered(sqs, sqs_clock, source, "txn_march_16")
    sqs_clock.advance(15 * DAY)
    _dead_lettered(sqs, sqs_clock, source, "txn_march_31")
    # When the soak reads the dead-letter queue once the world is quiet
    stack = SimpleNamespace(provisioned=SimpleNamespace(queue_url=lambda logical_id: dead), sqs=lambda: sqs)
    found = _drain(stack, "AttachmentsDeadLetterQueue")  # type: ignore[arg-type]
    # Then both are there to be explained, the first though it is older than the queue keeps messages
    assert [body["transaction_id"] for _, body in found] == ["txn_march_16", "txn_march_31"]
    assert all(message_id for message_id, _ in found)
    # (where a receive finds neither: the first is past its retention, and the receive stops there)
    assert not sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10).get("Messages")
