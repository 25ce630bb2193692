"""Lambda's SQS event source mapping and EventBridge schedules, played locally against moto.

What the mapping does, as Lambda does it:
- receives up to ``BatchSize`` messages (with every system attribute) and invokes the function once;
- a handler that raises fails the whole batch: nothing is deleted, every message comes back after its
  visibility timeout;
- with ``ReportBatchItemFailures`` only the messages named in ``batchItemFailures`` stay; an identifier
  that is empty or not in the batch fails the whole batch; the rest are deleted;
- redrive to the dead-letter queue after ``maxReceiveCount`` and FIFO group ordering are SQS's own
  behaviour, which moto provides (with ``local.moto_patches``).
A local difference: the batching window is not waited for (the batch is whatever is available now).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.lambda_runtime import LambdaRuntime, acting_as
from local.template import ACCOUNT_ID, REGION, ScheduleSource, SqsSource, Template

log = logging.getLogger("local.event_sources")


@dataclass
class BatchOutcome:
    received: int
    deleted: int
    failed: int
    error: BaseException | None = None


class SqsEventSourceMapping:
    def __init__(self, source: SqsSource, template: Template, runtime: LambdaRuntime, sqs: Any, queue_url: str
                 ) -> None:
        self.source = source
        self.runtime = runtime
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = template.arn(source.queue)
        self.outcomes: list[BatchOutcome] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def name(self) -> str:
        return f"{self.source.queue}->{self.source.function}"

    def poll_once(self) -> BatchOutcome | None:
        """One receive and, if anything arrived, one invocation. None when the queue had nothing visible."""
        wanted = self.source.batch_size
        messages: list[dict[str, Any]] = []
        while len(messages) < wanted:
            with acting_as(self.source.function):  # Lambda polls with the function's execution role
                received = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, wanted - len(messages)),
                    MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=0,
                ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        if not messages:
            return None
        outcome = self._invoke(messages)
        self.outcomes.append(outcome)
        return outcome

    def _invoke(self, messages: list[dict[str, Any]]) -> BatchOutcome:
        event = {"Records": [self._record(m) for m in messages]}
        by_id = {m["MessageId"]: m for m in messages}
        try:
            result = self.runtime.invoke(self.source.function, event)
        except Exception as exc:
            log.warning("%s: handler raised, whole batch of %d returns to the queue: %r", self.name, len(messages), exc)
            return BatchOutcome(received=len(messages), deleted=0, failed=len(messages), error=exc)
        failed_ids: set[str] = set()
        if self.source.report_failures and isinstance(result, dict) and result.get("batchItemFailures"):
            for failure in result["batchItemFailures"]:
                identifier = (failure or {}).get("itemIdentifier")
                if not identifier or identifier not in by_id:
                    log.warning("%s: invalid batchItemFailures entry %r, whole batch fails", self.name, failure)
                    return BatchOutcome(received=len(messages), deleted=0, failed=len(messages))
                failed_ids.add(identifier)
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        if done:
            with acting_as(self.source.function):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
        return BatchOutcome(received=len(messages), deleted=len(done), failed=len(failed_ids))

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {key: attributes[key] for key in (
                "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                "MessageGroupId", "MessageDeduplicationId", "SequenceNumber",
            ) if key in attributes},
            "messageAttributes": {
                name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                       "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    # ------------------------------------------------------------------ background polling
    def start(self, pollers: int = 2, idle_sleep: float = 0.05) -> None:
        """Poll in the background with ``pollers`` concurrent pollers (Lambda scales pollers the same way)."""
        self._stop.clear()
        for index in range(pollers):
            thread = threading.Thread(target=self._loop, args=(idle_sleep,), daemon=True,
                                      name=f"esm-{self.source.function}-{index}")
            thread.start()
            self._threads.append(thread)

    def _loop(self, idle_sleep: float) -> None:
        while not self._stop.is_set():
            try:
                outcome = self.poll_once()
            except Exception:
                log.exception("%s: polling failed", self.name)
                outcome = None
            if outcome is None:
                self._stop.wait(idle_sleep)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()


def scheduled_event(rule_arn: str, when: datetime | None = None) -> dict[str, Any]:
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT_ID, "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
        "resources": [rule_arn], "detail": {},
    }


class Scheduler:
    """Fires the template's ``Schedule`` events on their rate (optionally faster) and on demand."""

    def __init__(self, template: Template, runtime: LambdaRuntime, speed: float = 1.0) -> None:
        self.schedules = {s.name: s for s in template.schedules()}
        self.template = template
        self.runtime = runtime
        self.speed = speed
        self.fired: list[tuple[str, float]] = []
        self._last_due: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def rule_arn(self, schedule: ScheduleSource) -> str:
        rule = f"{self.template.stack_name}-{schedule.function}-{schedule.name}"
        return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"

    def fire(self, name: str, *, as_next: bool = False) -> Any:
        """Fire a schedule now. Its event is stamped now: fired twice within one period, the second is what
        EventBridge's at-least-once delivery looks like (the same window), and the product drops it. With
        ``as_next`` the firing is the schedule's next one, stamped a period after the last (a window of its
        own), as if that much time had passed: what "run the 3-hour sync now" means to someone watching."""
        if name not in self.schedules:
            raise KeyError(f"no schedule named {name}; known: {sorted(self.schedules)}")
        schedule = self.schedules[name]
        now = time.time()
        due = now
        last = self._last_due.get(name)
        if as_next and last is not None and schedule.rate_seconds:
            due = max(now, last + schedule.rate_seconds)
        self._last_due[name] = due
        self.fired.append((name, now))
        return self.runtime.invoke(schedule.function,
                                   scheduled_event(self.rule_arn(schedule), datetime.fromtimestamp(due, tz=UTC)))

    def start(self, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self._stop.clear()
        for schedule in self.schedules.values():
            period = schedule.rate_seconds
            if not schedule.enabled or period is None:
                continue
            thread = threading.Thread(target=self._loop, args=(schedule.name, period / self.speed, on_error),
                                      daemon=True, name=f"schedule-{schedule.name}")
            thread.start()
            self._threads.append(thread)

    def _loop(self, name: str, period: float, on_error: Callable[[str, BaseException], None] | None) -> None:
        while not self._stop.wait(period):
            try:
                self.fire(name)
            except Exception as exc:  # a failed run is logged and the schedule keeps its rhythm, as in AWS
                log.warning("schedule %s failed: %r", name, exc)
                if on_error:
                    on_error(name, exc)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
