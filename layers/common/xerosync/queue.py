"""Queue consumers: Powertools partial batch responses, and "come back later" without sleeping.

A record handler that must wait (Xero answered 429, a lease is held elsewhere) raises ``RetryLater`` or
lets Xero's ``XeroRateLimited`` through; the message's visibility is set to that delay and the record is
reported as failed, so SQS hands it back after the delay instead of the function sleeping through its
budget (docs/architecture.md). SQS holds a message back for at most 12 hours; a longer wait (Xero's daily limit)
parks the message in the main table, and the parked-work schedule sends it back to its queue when due.

Every return counts as a receive towards the queue's ``maxReceiveCount``; waiting is not failing, so a
message that keeps meeting Xero's limits is parked once it has been received ``PARK_FROM_RECEIVE`` times
(below the smallest ``maxReceiveCount`` of the template) and comes back as a fresh message: a long run of
429s delays work but never sends it to a dead-letter queue.

A consumer whose failures must not end in the dead-letter queue at once (nothing else would bring their work
back) passes ``ParkOnLastDelivery``: a message failing on its last delivery is parked and comes back as a fresh
message, a few times, with the count in its body; only then does the failure take it to the dead-letter queue.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Each consumer's handler imports this utility before pydantic (docs/architecture.md, "Cold start").
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import aws
from xerosync.clock import process_clock
from xerosync.observability import logger, metrics
from xerosync.settings import get_settings
from xerosync.store.parked import ParkedWorkStore
from xerosync.xero.errors import XeroRateLimited

# SQS accepts at most 12 hours of visibility from the time a message was received; keep a margin.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60 - 120
PARK_FROM_RECEIVE = 3


class RetryLater(Exception):
    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(f"retry in {seconds}s: {reason}")
        self.seconds = max(0, math.ceil(seconds))
        self.reason = reason


@dataclass(frozen=True)
class ParkOnLastDelivery:
    """A failure on a message's last delivery (receive ``max_receives``, the queue's ``maxReceiveCount``) parks it
    for ``seconds``, to come back as a fresh message, up to ``times`` times; the count rides in the message's body
    (a JSON object) under ``count_key``. A message that cannot be parked goes to the dead-letter queue."""

    max_receives: int
    times: int
    seconds: float
    count_key: str
    reason: str


def queue_url_from_arn(arn: str) -> str:
    """SQS event records carry the queue ARN; the visibility call needs its URL, which the ARN determines
    (no GetQueueUrl call, so no permission beyond what the event source mapping already has)."""
    _, partition, _, region, account, name = arn.split(":", 5)
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


def _with_retry_later(record_handler: Callable[[SQSRecord], Any],
                      last_delivery: ParkOnLastDelivery | None) -> Callable[[SQSRecord], Any]:
    def handle(record: SQSRecord) -> Any:
        try:
            return record_handler(record)
        except XeroRateLimited as limited:
            wait = RetryLater(limited.retry_after, f"Xero {limited.problem} limit")
        except RetryLater as retry:
            wait = retry
        except Exception as error:
            if last_delivery is not None and receives(record) >= last_delivery.max_receives:
                _park_after_its_last_delivery(record, error, last_delivery)
                return None  # parked: SQS may delete it
            # Why, for whoever reads the log when the message comes back or reaches its dead-letter queue.
            logger.warning("message failed; SQS hands it back, or moves it to its dead-letter queue", extra={
                "message_id": record.message_id, "message_group_id": record.attributes.message_group_id,
                "receive_count": receives(record), **failure(error)})
            raise
        queue_url = queue_url_from_arn(record.event_source_arn)
        if wait.seconds > MAX_VISIBILITY_SECONDS or receives(record) >= PARK_FROM_RECEIVE:
            _park(record, queue_url, wait)
            return None  # the message is safe in the main table; SQS may delete it
        logger.info("returning message for later", extra={"delay_seconds": wait.seconds, "reason": wait.reason,
                                                           "message_id": record.message_id})
        aws.client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record.receipt_handle,
                                                    VisibilityTimeout=wait.seconds)
        raise wait

    return handle


def failure(error: BaseException) -> dict[str, Any]:
    """What a log line says about an error: its kind, its message, and Xero's status and correlation id when it
    came from Xero (what Xero's support asks for)."""
    found: dict[str, Any] = {"error": type(error).__name__, "reason": str(error)[:500] or type(error).__name__}
    for name, key in (("status", "status"), ("correlation_id", "xero_correlation_id")):
        value = getattr(error, name, None)
        if value is not None:
            found[key] = value
    return found


def receives(record: SQSRecord) -> int:
    """How many times SQS has handed this message out, this time included."""
    try:
        return int(record.attributes.approximate_receive_count or 1)
    except ValueError:
        return 1


def _park_after_its_last_delivery(record: SQSRecord, error: Exception, last: ParkOnLastDelivery) -> None:
    """Park a message that failed on its last delivery, or raise ``error`` (taking it to the dead-letter queue) when
    it has been parked ``last.times`` already or cannot be parked now."""
    try:
        body = json.loads(record.body)
        parks = int(body.get(last.count_key) or 0) if isinstance(body, dict) else last.times
    except (ValueError, TypeError):
        parks = last.times  # not a JSON object with a count: nothing to carry one in
    if parks >= last.times:
        logger.warning("message failed on its last delivery; it goes to its dead-letter queue", extra={
            "message_id": record.message_id, "receive_count": receives(record), "parks": parks, **failure(error)})
        raise error
    logger.warning("message failed on its last delivery; parked to come back later", extra={
        "message_id": record.message_id, "receive_count": receives(record), "parks": parks + 1, **failure(error)})
    try:
        _park(record, queue_url_from_arn(record.event_source_arn), RetryLater(last.seconds, last.reason),
              body=json.dumps({**body, last.count_key: parks + 1}))
    except Exception:
        logger.exception("a message could not be parked; it goes to its dead-letter queue",
                         extra={"message_id": record.message_id})
        raise error from None


def _park(record: SQSRecord, queue_url: str, wait: RetryLater, *, body: str | None = None) -> None:
    resume_at = process_clock().time() + wait.seconds
    ParkedWorkStore(aws.table(get_settings().main_table_name)).park(
        queue_url=queue_url, body=record.body if body is None else body,
        group_id=record.attributes.message_group_id,
        message_id=record.message_id, resume_at=resume_at, reason=wait.reason)
    metrics.add_metric(name="WorkParked", unit="Count", value=1)
    logger.warning("parked message until its wait is over", extra={
        "delay_seconds": wait.seconds, "reason": wait.reason, "message_id": record.message_id})


def consume(event: dict[str, Any], context: LambdaContext, record_handler: Callable[[SQSRecord], Any], *,
            last_delivery: ParkOnLastDelivery | None = None) -> dict[str, Any]:
    """Process an SQS batch and report only the failed records (ReportBatchItemFailures).

    On a FIFO queue a failure holds back the rest of its message group only, so order within a tenant
    is kept while other tenants' messages in the same batch go through. ``last_delivery``: park a message that
    fails on its last delivery instead of letting it reach the dead-letter queue (module docstring).
    """
    records = event.get("Records") or []
    fifo = bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")
    processor: BatchProcessor = (
        SqsFifoPartialProcessor(skip_group_on_error=True) if fifo else BatchProcessor(event_type=EventType.SQS)
    )
    handle = _with_retry_later(record_handler, last_delivery)
    tried: set[str] = set()

    def tracked(record: SQSRecord) -> Any:
        tried.add(record.message_id)
        return handle(record)

    try:
        response = process_partial_response(event=event, record_handler=tracked, processor=processor,
                                             context=context)
    except BatchProcessingError:  # every record failed: the whole batch goes back
        _log_untried(records, {str(raw.get("messageId")) for raw in records} - tried)
        raise
    _log_untried(records, {str(failure["itemIdentifier"]) for failure in response.get("batchItemFailures", [])} - tried)
    return dict(response)


def _log_untried(records: list[dict[str, Any]], held: set[str]) -> None:
    """A FIFO batch's messages held back untried behind a failed one of their group: the log says so, as it says why
    a tried message failed (a return counts as a receive, and the last one moves the message to its DLQ)."""
    for raw in records:
        if raw.get("messageId") in held:
            record = SQSRecord(raw)
            logger.warning("message failed untried: an earlier message of its group failed in this batch", extra={
                "message_id": record.message_id, "message_group_id": record.attributes.message_group_id,
                "receive_count": receives(record), "error": "HeldBehindItsGroup",
                "reason": "an earlier message of its group failed in this batch"})


def body_json(record: SQSRecord) -> dict[str, Any]:
    body = json.loads(record.body)
    if not isinstance(body, dict):
        raise ValueError("message body is not a JSON object")
    return body
