"""Lambda's SQS event source mapping and EventBridge schedules, played locally against moto.

What the mapping does, as Lambda does it:
- receives up to ``BatchSize`` messages (with every system attribute) and invokes the function once;
- keeps several invocations in flight at once (``ScalingConfig.MaximumConcurrency``, capped locally), each on
  its own batch: on a FIFO queue that means several message groups in flight at once, never two batches of
  one group (SQS hands out no message of a group while one of its messages is in flight, and a message is
  received with its queue's visibility timeout, which outlasts the function's timeout as the template
  requires, so it cannot come back while its invocation runs);
- a handler that raises fails the whole batch: nothing is deleted, every message comes back after its
  visibility timeout;
- with ``ReportBatchItemFailures`` only the messages named in ``batchItemFailures`` stay; an identifier
  that is empty or not in the batch fails the whole batch; the rest are deleted;
- redrive to the dead-letter queue after ``maxReceiveCount`` and FIFO group ordering are SQS's own
  behaviour, which moto provides (with ``local.moto_patches``).
Local differences: the batching window is not waited for (the batch is whatever is available now); a failed
message comes back after the queue's *local* visibility timeout (seconds, so that retries are observable in
tests) unless the consumer set its visibility itself (the product's "come back after Retry-After"); an idle
mapping polls less and less often (up to ``MAX_IDLE_SLEEP``), so an idle stack costs little CPU.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from local import moto_patches
from local.lambda_runtime import LambdaRuntime, acting_as
from local.template import ACCOUNT_ID, REGION, ScheduleSource, SqsSource, Template

log = logging.getLogger("local.event_sources")

KEEP_OUTCOMES = 1000  # the last outcomes, for tests to read
MAX_IDLE_SLEEP = 0.5  # seconds between receives of an idle mapping


@dataclass
class BatchOutcome:
    received: int
    deleted: int
    failed: int
    error: BaseException | None = None


class DeliveryHooks(Protocol):
    """What a test or the soak may do around deliveries (SQS's own at-least-once and late delivery)."""

    def before_invoke(self, mapping: SqsEventSourceMapping, messages: list[dict[str, Any]]) -> None:
        """Called after the receive, before the invocation (a late start: sleep here)."""

    def deliver_again(self, mapping: SqsEventSourceMapping, message: dict[str, Any]) -> bool:
        """True to leave a processed message undeleted: SQS delivers it again after its visibility timeout."""


class SqsEventSourceMapping:
    def __init__(self, source: SqsSource, template: Template, runtime: LambdaRuntime, sqs: Any, queue_url: str
                 ) -> None:
        self.source = source
        self.runtime = runtime
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = template.arn(source.queue)
        queue = template.resolve(template.body["Resources"][source.queue]["Properties"])
        self.fifo = bool(queue.get("FifoQueue", False))
        # As deployed: a message in flight stays invisible this long, longer than its invocation can run.
        self.in_flight_visibility = int(queue.get("VisibilityTimeout", 30))
        self._local_visibility: int | None = None  # the provisioned queue's (shortened locally); read on use
        self.outcomes: collections.deque[BatchOutcome] = collections.deque(maxlen=KEEP_OUTCOMES)
        self.hooks: DeliveryHooks | None = None
        self.in_flight = 0  # batches received and not finished (a receive in progress counts)
        self.slots = 0  # invocations at once, once started
        self.on_change: Callable[[], None] | None = None  # told whenever ``in_flight`` changes
        self.overlaps = 0  # batches of a group received while another of its batches was in flight (never, in SQS)
        self._groups: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._receiver: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def name(self) -> str:
        return f"{self.source.queue}->{self.source.function}"

    def poll_once(self) -> BatchOutcome | None:
        """One receive and, if anything arrived, one invocation. None when the queue had nothing visible."""
        self._busy(+1)
        try:
            messages = self._receive()
            return self._deliver(messages) if messages else None
        finally:
            self._busy(-1)

    def _busy(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
        if self.on_change is not None:
            self.on_change()

    def _receive(self) -> list[dict[str, Any]]:
        wanted = self.source.batch_size
        messages: list[dict[str, Any]] = []
        while len(messages) < wanted:
            with acting_as(self.source.function):  # Lambda polls with the function's execution role
                received = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, wanted - len(messages)),
                    VisibilityTimeout=self.in_flight_visibility,
                    MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=0,
                ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def _deliver(self, messages: list[dict[str, Any]]) -> BatchOutcome:
        groups = {m.get("Attributes", {}).get("MessageGroupId") for m in messages} - {None}
        with self._lock:
            overlapping = [g for g in groups if self._groups[g]]
            self.overlaps += len(overlapping)
            self._groups.update(groups)
        if overlapping:
            log.error("%s: group(s) %s received while a batch of theirs is in flight", self.name, overlapping)
        try:
            if self.hooks is not None:
                self.hooks.before_invoke(self, messages)
            outcome = self._invoke(messages)
        finally:
            with self._lock:
                self._groups.subtract(groups)
                self._groups += collections.Counter()  # drop the groups no longer in flight
        self.outcomes.append(outcome)
        return outcome

    def _invoke(self, messages: list[dict[str, Any]]) -> BatchOutcome:
        event = {"Records": [self._record(m) for m in messages]}
        by_id = {m["MessageId"]: m for m in messages}
        try:
            result = self.runtime.invoke(self.source.function, event)
        except Exception as exc:
            log.warning("%s: handler raised, whole batch of %d returns to the queue: %r", self.name, len(messages), exc)
            self._return_failed(messages)
            return BatchOutcome(received=len(messages), deleted=0, failed=len(messages), error=exc)
        except BaseException:
            self._return_failed(messages)  # the execution environment died: SQS has the messages back later
            raise
        failed_ids: set[str] = set()
        if self.source.report_failures and isinstance(result, dict) and result.get("batchItemFailures"):
            for failure in result["batchItemFailures"]:
                identifier = (failure or {}).get("itemIdentifier")
                if not identifier or identifier not in by_id:
                    log.warning("%s: invalid batchItemFailures entry %r, whole batch fails", self.name, failure)
                    self._return_failed(messages)
                    return BatchOutcome(received=len(messages), deleted=0, failed=len(messages))
                failed_ids.add(identifier)
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        again = [m for m in done if self.hooks is not None and self.hooks.deliver_again(self, m)]
        delete = [m for m in done if m not in again]
        if delete:
            with acting_as(self.source.function):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(delete)],
                )
        self._return_failed([m for m in messages if m["MessageId"] in failed_ids] + again)
        return BatchOutcome(received=len(messages), deleted=len(delete), failed=len(failed_ids))

    def _return_failed(self, messages: list[dict[str, Any]]) -> None:
        """Messages not deleted come back after the queue's local visibility timeout (seconds, not the deployed
        minutes), unless the consumer set their visibility itself. Not the function's call: SQS's own timing."""
        for message in messages:
            handle = message["ReceiptHandle"]
            if moto_patches.visibility_set_by_consumer(handle):
                continue
            try:
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle,
                                                   VisibilityTimeout=self.local_visibility)
            except Exception as error:  # deleted or received again meanwhile: SQS decides
                log.debug("%s: visibility of a failed message left as it was: %r", self.name, error)
            moto_patches.visibility_set_by_consumer(handle)  # (this call is the runner's, not the consumer's)

    @property
    def local_visibility(self) -> int:
        if self._local_visibility is None:
            attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
            self._local_visibility = int(attributes["Attributes"]["VisibilityTimeout"])
        return self._local_visibility

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
    def concurrency(self, cap: int) -> int:
        """Invocations this mapping keeps in flight: the template's MaximumConcurrency, at most ``cap``."""
        return max(1, min(cap, self.source.maximum_concurrency or cap))

    def start(self, concurrency: int = 4, idle_sleep: float = 0.05) -> None:
        """Poll in the background with up to ``concurrency`` invocations in flight (capped by the template's
        ``MaximumConcurrency``): one receiver hands each batch to an invocation of its own."""
        self._stop.clear()
        slots = self.slots = self.concurrency(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"lambda-{self.source.function}")
        self._receiver = threading.Thread(target=self._loop, args=(slots, idle_sleep), daemon=True,
                                          name=f"esm-{self.source.function}")
        self._receiver.start()

    def wake(self) -> None:
        """Poll now (something was sent): an idle mapping otherwise polls every ``MAX_IDLE_SLEEP`` at most."""
        self._wake.set()

    def _loop(self, slots: int, idle_sleep: float) -> None:
        free = threading.BoundedSemaphore(slots)
        idle = idle_sleep
        while not self._stop.is_set():
            if not free.acquire(timeout=0.2):
                continue
            self._busy(+1)
            try:
                messages = self._receive()
            except Exception:
                log.exception("%s: polling failed", self.name)
                messages = []
            if not messages:
                self._busy(-1)
                free.release()
                self._wake.wait(idle)
                self._wake.clear()
                idle = min(idle * 2, MAX_IDLE_SLEEP)
                continue
            idle = idle_sleep
            assert self._pool is not None
            self._pool.submit(self._run, messages, free)

    def _run(self, messages: list[dict[str, Any]], free: threading.BoundedSemaphore) -> None:
        try:
            self._deliver(messages)
        except BaseException:
            log.exception("%s: invocation failed outside the handler", self.name)
        finally:
            self._busy(-1)
            free.release()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._receiver is not None:
            self._receiver.join(timeout=5)
            self._receiver = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def scheduled_event(rule_arn: str, when: datetime | None = None) -> dict[str, Any]:
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT_ID, "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
        "resources": [rule_arn], "detail": {},
    }


class Scheduler:
    """Fires the template's ``Schedule`` events on their rate (optionally faster) and on demand."""

    def __init__(self, template: Template, runtime: LambdaRuntime, speed: float = 1.0, clock: Any = None) -> None:
        self.schedules = {s.name: s for s in template.schedules()}
        self.template = template
        self.runtime = runtime
        self.speed = speed
        self.clock = clock  # what "now" is for a firing's stamp (None: real time)
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
        now = self.clock.time() if self.clock is not None else time.time()
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
