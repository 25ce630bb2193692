"""Events delivered to a real EventBridge bus (moto server): a rule on the bus routes them to an SQS queue, as
the product's stack routes them to sync_expenses."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from emulators.ledger import EventBridgePublisher, EventPublishError, LedgerEmulator, generated_spec
from emulators.time_control import ManualClock
from tests.integration.emulators.ledger.ledger_http import T0

REGION = "ap-southeast-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class BusToQueue:
    bus_name: str
    events: Any
    sqs: Any
    queue_url: str

    def receive(self, expected: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Drain the queue until ``expected`` messages arrived (or time is up); bodies parsed."""
        bodies: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(bodies) < expected and time.monotonic() < deadline:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            for message in response.get("Messages", []):
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if len(bodies) < expected:
                time.sleep(0.05)
        return bodies


@pytest.fixture
def bus(moto_endpoint: str) -> BusToQueue:
    """A fresh bus with a rule matching the ledger's source that targets a fresh queue."""
    suffix = uuid.uuid4().hex[:8]
    events, sqs = _client("events", moto_endpoint), _client("sqs", moto_endpoint)
    bus_name = f"ledger-events-{suffix}"
    events.create_event_bus(Name=bus_name)
    queue_url = sqs.create_queue(QueueName=f"ledger-q-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=f"ledger-to-queue-{suffix}",
        EventBusName=bus_name,
        EventPattern=json.dumps({"source": ["bank.ledger"]}),
    )
    events.put_targets(
        Rule=f"ledger-to-queue-{suffix}", EventBusName=bus_name, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    return BusToQueue(bus_name, events, sqs, queue_url)


def test_given_a_bus_rule_to_a_queue_when_a_transaction_is_posted_and_updated_then_both_events_arrive(
    bus: BusToQueue,
) -> None:
    # Given a ledger publishing to the bus
    clock = ManualClock(start=T0)
    ledger = LedgerEmulator(clock=clock, event_publisher=EventBridgePublisher(bus.events, bus.bus_name))
    account = ledger.add_sample_account()
    ledger.post_transaction(account.account_id, "500.00", "CREDIT")
    [credit_message] = bus.receive(1)

    # When a debit is posted, then 45 minutes later its category and receipts change
    txn = ledger.post_transaction(account.account_id, "42.00", "DEBIT", spend_category="software")
    clock.advance(2700)
    ledger.update_transaction(
        account.account_id,
        txn.transaction_id,
        spend_category="advertising",
        add_attachments=[generated_spec("pdf", 3_000, seed=1)],
    )
    messages = bus.receive(2)

    # Then the queue holds both, with the contract's Source, DetailType and Detail
    assert credit_message["source"] == "bank.ledger"
    by_type = {m["detail-type"]: m for m in messages}
    assert set(by_type) == {"TransactionPosted", "TransactionUpdated"}
    assert all(m["source"] == "bank.ledger" for m in messages)
    base = {
        "business_id": account.business_id,
        "account_id": account.account_id,
        "transaction_id": txn.transaction_id,
        "sequence": 2,
        "direction": "DEBIT",
    }
    assert by_type["TransactionPosted"]["detail"] == {
        **base,
        "version": 1,
        "changed": [],
        "occurred_at": "2026-11-20T08:15:00Z",
    }
    assert by_type["TransactionUpdated"]["detail"] == {
        **base,
        "version": 2,
        "changed": ["spend_category", "attachments"],
        "occurred_at": "2026-11-20T09:00:00Z",
    }
    assert ledger.publish_errors == []


class _CountingClient:
    """Wraps the real events client to count put_events calls and their sizes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batch_sizes: list[int] = []

    def put_events(self, *, Entries: list[Any]) -> Any:  # boto3's parameter name
        self.batch_sizes.append(len(Entries))
        return self.inner.put_events(Entries=Entries)


def test_given_23_postings_at_once_when_published_then_put_events_is_called_in_chunks_of_10_and_all_arrive(
    bus: BusToQueue,
) -> None:
    client = _CountingClient(bus.events)
    ledger = LedgerEmulator(clock=ManualClock(start=T0), event_publisher=EventBridgePublisher(client, bus.bus_name))
    account = ledger.add_sample_account()

    posted = ledger.post_generated(account.account_id, 23, seed=2)

    assert client.batch_sizes == [10, 10, 3]
    messages = bus.receive(23)
    assert sorted(m["detail"]["sequence"] for m in messages) == [t.sequence for t in posted]
    assert {m["detail-type"] for m in messages} == {"TransactionPosted"}


def test_given_eventbridge_rejects_entries_when_publishing_then_the_error_is_raised_by_the_publisher() -> None:
    class Rejecting:
        def put_events(self, *, Entries: list[Any]) -> Any:  # boto3's parameter name
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "boom"}]}

    publisher = EventBridgePublisher(Rejecting(), "ledger-events")
    ledger = LedgerEmulator(clock=ManualClock(start=T0), event_publisher=publisher)
    account = ledger.add_sample_account()

    ledger.post_transaction(account.account_id, "1.00", "CREDIT")

    assert len(ledger.publish_errors) == 1
    assert isinstance(ledger.publish_errors[0], EventPublishError)
    assert "InternalFailure" in str(ledger.publish_errors[0])
