"""Auto-sync's 3-hour fan-out: dispatcher time and AWS calls to send 100,000 live feeds to the feed-sync queue.

The feeds (4 per organisation, one business each; 1 business in 100 must reconnect and is skipped) are
written straight into the main table on moto. The dispatcher runs as the handler does, with the
invocation's time budget (300 s): it continues itself through DispatchQueue if it cannot finish.
Lower bound of SQS calls: one SendMessageBatch per 10 messages, one message per organisation.

moto answers in-process, so the time is the dispatcher's own work plus moto's. moto's FIFO queue recounts
and rescans every queued message on each send (quadratic: hours for 25,000 messages), so while the
dispatcher runs this benchmark swaps that bookkeeping for an index with the same 5-minute deduplication;
every message still goes through moto's send_message_batch. AWS answers slower per call but in parallel.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from support import local_aws, median_of

FEEDS = 100_000
FEEDS_PER_TENANT = 4
RECONNECT_EVERY = 100  # one business in a hundred needs to reconnect
RUNS = 3
TIMEOUT_SECONDS = 300.0  # the dispatcher's Lambda timeout (template.yaml)


def _seed(table: Any) -> int:
    from xerosync.store.connections import ConnectionStatus
    from xerosync.store.keys import connection_gsi, connection_key, feed_key, live_feed_gsi

    tenants = FEEDS // FEEDS_PER_TENANT
    skipped = 0
    with table.batch_writer() as batch:
        for t in range(tenants):
            tenant, business = f"{t:08d}-0000-4000-8000-000000000000", f"biz_{t:08d}"
            status = ConnectionStatus.NEEDS_RECONNECT if t % RECONNECT_EVERY == 0 else ConnectionStatus.ACTIVE
            skipped += FEEDS_PER_TENANT if status != ConnectionStatus.ACTIVE else 0
            batch.put_item(Item={**connection_key(business), **connection_gsi(tenant, business),
                                 "business_id": business, "tenant_id": tenant, "status": status.value})
            for a in range(FEEDS_PER_TENANT):
                account = f"acc_{t:08d}_{a}"
                batch.put_item(Item={**feed_key(business, account), **live_feed_gsi(tenant, business, account),
                                     "business_id": business, "account_id": account, "tenant_id": tenant,
                                     "currency": "HKD", "status": "ACTIVE", "cursor": 0, "version": 1})
    return skipped


@contextmanager
def _moto_fifo_in_linear_time() -> Iterator[None]:
    from moto.sqs import models

    counts = ("approximate_number_of_messages", "approximate_number_of_messages_not_visible",
              "approximate_number_of_messages_delayed")
    saved = {name: getattr(models.Queue, name) for name in (*counts, "add_message", "attributes")}
    seen: dict[tuple[str, str], int] = {}

    def add_message(queue: Any, message: Any) -> None:
        key = (queue.name, message.deduplication_id or "")
        if queue.fifo_queue and key[1]:
            first = seen.get(key)
            if first is not None and (message.sent_timestamp - first) / 1000 < models.DEDUPLICATION_TIME_IN_SECONDS:
                return
            seen[key] = message.sent_timestamp
        with queue._messages_lock:
            queue._messages.append(message)

    for name in counts:
        setattr(models.Queue, name, property(lambda queue: 0))  # recounted by every send, used by none
    # A send reads only this attribute, but moto renders all of them three times per message.
    fast: dict[str, Any] = {
        "attributes": property(lambda queue: {
            "ContentBasedDeduplication": str(bool(queue.content_based_deduplication)).lower()}),
        "add_message": add_message,
    }
    for name, value in fast.items():
        setattr(models.Queue, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(models.Queue, name, value)


def main() -> None:
    import boto3

    from xerosync.auto_sync.adapters import SqsDispatchQueue, SqsFeedSyncQueue
    from xerosync.auto_sync.dispatch import dispatch_due_feeds
    from xerosync.store.connections import ConnectionStore
    from xerosync.store.feeds import FeedStore

    with local_aws() as aws:
        table = boto3.resource("dynamodb").Table(aws.refs["MainTable"])
        started = time.perf_counter()
        skipped = _seed(table)
        print(f"seeded {FEEDS:,} feeds of {FEEDS // FEEDS_PER_TENANT:,} organisations in "
              f"{time.perf_counter() - started:.1f} s ({skipped:,} behind a reconnect)")
        sqs = boto3.client("sqs")
        calls: Counter[str] = Counter()
        for client in (sqs, table.meta.client):
            client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
        queue_url = ""
        seconds, sqs_calls, queries, hops = [], [], [], []
        for run in range(RUNS):
            queue_url = sqs.create_queue(QueueName=f"bench-fanout-{run}.fifo", Attributes={
                "FifoQueue": "true", "DeduplicationScope": "messageGroup",
                "FifoThroughputLimit": "perMessageGroupId"})["QueueUrl"]
            calls.clear()
            began = time.perf_counter()
            after, hop, dispatched, messages = None, 0, 0, 0
            while True:  # the handler and its continuations, each with a fresh 300 s budget
                invoked = time.perf_counter()

                def time_left(invoked: float = invoked) -> float:
                    return TIMEOUT_SECONDS - (time.perf_counter() - invoked)

                with _moto_fifo_in_linear_time():
                    report = dispatch_due_feeds(
                        window=f"bench{run}", after=after, hop=hop, feeds=FeedStore(table),
                        connections=ConnectionStore(table), sender=SqsFeedSyncQueue(sqs, queue_url),
                        continuer=SqsDispatchQueue(sqs, aws.queue_url("DispatchQueue")),
                        time_left=time_left)
                dispatched += report.feeds_dispatched
                messages += report.messages
                if report.continued_after is None:
                    break
                after, hop = report.continued_after, hop + 1
            seconds.append(time.perf_counter() - began)
            sqs_calls.append(calls["SendMessageBatch"] + calls["SendMessage"])
            queries.append(calls["Query"])
            hops.append(hop)
            assert dispatched == FEEDS - skipped, (dispatched, skipped)
        depth = int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"]["ApproximateNumberOfMessages"])
        lower = math.ceil(messages / 10)
        print(f"fan-out of {FEEDS:,} feeds ({FEEDS - skipped:,} due, {messages:,} messages, {depth:,} queued): "
              f"median {median_of(seconds):.1f} s over {RUNS} runs (each {', '.join(f'{s:.1f}' for s in seconds)} s), "
              f"continuations {median_of([float(h) for h in hops]):.0f}")
        print(f"SQS calls: median {median_of([float(c) for c in sqs_calls]):.0f} (lower bound {lower:,}: one "
              f"SendMessageBatch per 10 messages); DynamoDB queries: median "
              f"{median_of([float(q) for q in queries]):.0f}")


if __name__ == "__main__":
    main()
