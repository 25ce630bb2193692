"""Queue consumer of ExpenseSyncQueue (FIFO, one group per business on its organisation): a message is either a
started job's plan (its decisions made durable and its batches sent, xerosync.sync_expenses.planner) or one batch of
up to 50 expenses, sent to Xero as Spend Money in one call, each expense's result recorded
(xerosync.sync_expenses.worker).

A 429 or the governor's wait returns the message for later (``xerosync.queue.consume``); other failures let
SQS redeliver it until the DLQ, whose alarm tells a person; the last delivery first marks the batch's expenses
Sync error, so that users see it and may sync them again. Nothing here sleeps.
"""

from __future__ import annotations

from typing import Any

# Before anything loads pydantic: Powertools' batch utility builds its parser's event models (two dozen pydantic
# models this function never uses) when it finds pydantic loaded (docs/architecture.md, "Cold start").
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.observability import instrument, logger
from xerosync.queue import body_json, consume, receives
from xerosync.settings import get_settings

# Every message runs the planner or the worker: both load with the handler (docs/architecture.md, "Cold start").
from xerosync.sync_expenses import planner, worker  # noqa: F401
from xerosync.sync_expenses.models import SpendMoneyBatch, SpendMoneyPlan
from xerosync.sync_expenses.wiring import get_spend_money_planner, get_spend_money_worker


def _process(record: SQSRecord) -> None:
    body = body_json(record)
    if body.get("kind") == "spend_money_plan":
        plan = SpendMoneyPlan.model_validate(body)
        logger.append_keys(job_id=plan.job_id, tenant_id=plan.tenant_id)
        try:
            get_spend_money_planner().plan(plan)
        finally:
            logger.remove_keys(["job_id", "tenant_id"])
        return
    batch = SpendMoneyBatch.model_validate(body)
    logger.append_keys(job_id=batch.job_id, batch=batch.batch, tenant_id=batch.tenant_id)
    try:
        last_delivery = receives(record) >= get_settings().expense_batch_max_receives
        get_spend_money_worker().process(batch, last_delivery=last_delivery)
    finally:
        logger.remove_keys(["job_id", "batch", "tenant_id"])


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, _process)
