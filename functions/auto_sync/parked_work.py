"""Scheduled every minute: sends parked work (waiting out Xero's limits) back to its queue when its wait is over,
so a message comes back within a minute of Xero's Retry-After, whatever its length; and settles Spend Money
batches killed on their last delivery, so their expenses say so instead of waiting without a word
(``xerosync.expenses.sweeper``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import aws
from xerosync.clock import process_clock
from xerosync.expenses.wiring import get_abandoned_batch_sweeper
from xerosync.observability import instrument, logger, metrics
from xerosync.settings import get_settings
from xerosync.store.parked import ParkedWorkStore


def resume_due_work(store: ParkedWorkStore, sqs: Any, now: float) -> int:
    resumed = 0
    while True:
        due = store.due(now)
        if not due:
            return resumed
        for item in due:
            message: dict[str, Any] = {"QueueUrl": item["queue_url"], "MessageBody": item["body"]}
            if item.get("group_id"):
                # Same deduplication id if a crash makes us send it twice within SQS's 5-minute window.
                message.update(MessageGroupId=item["group_id"],
                               MessageDeduplicationId=f"resume-{item['message_id']}-{item['resume_at_ms']}")
            sqs.send_message(**message)
            store.remove(item)
            resumed += 1


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = ParkedWorkStore(aws.table(get_settings().main_table_name))
    now = process_clock().time()
    resumed = resume_due_work(store, aws.client("sqs"), now)
    metrics.add_metric(name="WorkResumed", unit="Count", value=resumed)
    settled = get_abandoned_batch_sweeper().sweep(now, lambda: context.get_remaining_time_in_millis() / 1000)
    logger.info("parked work resumed", extra={"resumed": resumed, "batches_settled": settled})
    return {"resumed": resumed, "batches_settled": settled}
