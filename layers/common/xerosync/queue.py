"""Queue consumers: Powertools partial batch responses, and "come back later" without sleeping.

A record handler that must wait (Xero answered 429, a lease is held elsewhere) raises ``RetryLater``;
the message's visibility is set to that delay and the record is reported as failed, so SQS hands it back
after the delay instead of the function sleeping through its budget (DESIGN §8).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import aws
from xerosync.observability import logger

# SQS accepts at most 12 hours of visibility from the time a message was received.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60


class RetryLater(Exception):
    def __init__(self, seconds: int, reason: str) -> None:
        super().__init__(f"retry in {seconds}s: {reason}")
        self.seconds = max(0, min(int(seconds), MAX_VISIBILITY_SECONDS))
        self.reason = reason


def queue_url_from_arn(arn: str) -> str:
    """SQS event records carry the queue ARN; the visibility call needs its URL."""
    _, _, _, _region, account, name = arn.split(":", 5)
    return aws.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _with_retry_later(record_handler: Callable[[SQSRecord], Any]) -> Callable[[SQSRecord], Any]:
    def handle(record: SQSRecord) -> Any:
        try:
            return record_handler(record)
        except RetryLater as wait:
            logger.info("returning message for later", extra={"delay_seconds": wait.seconds, "reason": wait.reason,
                                                               "message_id": record.message_id})
            aws.client("sqs").change_message_visibility(
                QueueUrl=queue_url_from_arn(record.event_source_arn),
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=wait.seconds,
            )
            raise

    return handle


def consume(event: dict[str, Any], context: LambdaContext, record_handler: Callable[[SQSRecord], Any]
            ) -> dict[str, Any]:
    """Process an SQS batch and report only the failed records (ReportBatchItemFailures).

    On a FIFO queue a failure holds back the rest of its message group only, so order within a tenant
    is kept while other tenants' messages in the same batch go through.
    """
    records = event.get("Records") or []
    fifo = bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")
    processor: BatchProcessor = (
        SqsFifoPartialProcessor(skip_group_on_error=True) if fifo else BatchProcessor(event_type=EventType.SQS)
    )
    response = process_partial_response(
        event=event, record_handler=_with_retry_later(record_handler), processor=processor, context=context
    )
    return dict(response)


def body_json(record: SQSRecord) -> dict[str, Any]:
    body = json.loads(record.body)
    if not isinstance(body, dict):
        raise ValueError("message body is not a JSON object")
    return body
