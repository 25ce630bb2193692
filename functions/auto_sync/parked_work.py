"""Scheduled every minute: sends parked work (waiting out Xero's limits) back to its queue when its wait is over,
so a message comes back within a minute of Xero's Retry-After, whatever its length
(``xerosync.auto_sync.parked_resumer``); and settles Spend Money batches killed on their last delivery, so their
expenses say so instead of waiting without a word, and counts those whose expenses all ended while no delivery
counted them, so their jobs complete (``xerosync.sync_expenses.sweeper``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.auto_sync.parked_resumer import get_parked_work_resumer
from xerosync.clock import process_clock
from xerosync.observability import instrument, logger, metrics
from xerosync.sync_expenses.wiring import get_abandoned_batch_sweeper


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = process_clock().time()
    resumed = get_parked_work_resumer().resume(now)
    metrics.add_metric(name="WorkResumed", unit="Count", value=resumed)
    settled = get_abandoned_batch_sweeper().sweep(now, lambda: context.get_remaining_time_in_millis() / 1000)
    logger.info("parked work resumed", extra={"resumed": resumed, "batches_settled": settled})
    return {"resumed": resumed, "batches_settled": settled}
