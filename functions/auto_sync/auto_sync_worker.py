"""Queue consumer: brings one Xero tenant's bank feeds up to date (statements posted, statuses read back).

A 429 from Xero (or the tenant's rate governor) propagates: the queue helper returns the message for
``Retry-After``. Reconnect-required is recorded on the feeds and the message finishes. Any other failure
fails the message, which SQS delivers again (nothing already accepted is sent twice) and, after
``maxReceiveCount`` attempts, moves to the dead-letter queue, whose alarm pages someone.
"""

from __future__ import annotations

from typing import Any

# Before anything loads pydantic: Powertools' batch utility builds its parser's event models (two dozen pydantic
# models this function never uses) when it finds pydantic loaded (docs/architecture.md, "Cold start").
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# Every message runs the feed-sync worker: it loads with the handler (docs/architecture.md, "Cold start").
from xerosync.auto_sync import worker  # noqa: F401
from xerosync.auto_sync.messages import FeedSyncRequest
from xerosync.auto_sync.settling import sync_and_settle
from xerosync.auto_sync.wiring import get_fast_lane_windows, get_feed_sync_queue, get_feed_sync_worker
from xerosync.observability import instrument, logger, metrics
from xerosync.queue import body_json, consume


def _sync(record: SQSRecord, context: LambdaContext) -> None:
    request = FeedSyncRequest.model_validate(body_json(record))
    logger.append_keys(tenant_id=request.tenant_id, reason=request.reason)
    report = sync_and_settle(request, get_feed_sync_worker(), get_fast_lane_windows(), get_feed_sync_queue(),
                             time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="StatementLinesAccepted", unit="Count", value=report.lines_accepted)
    metrics.add_metric(name="StatementsRejected", unit="Count", value=report.statements_rejected)
    if report.stale:
        metrics.add_metric(name="StaleGenerationDropped", unit="Count", value=report.stale)
        logger.warning("feed-sync work made for an ended Xero connection dropped", extra={"feeds": report.stale})
    logger.info("feeds synced", extra={
        "feeds": report.feeds, "synced": report.feeds_synced, "statements": report.statements_accepted,
        "lines": report.lines_accepted, "rejected": report.statements_rejected, "posts": report.statement_posts,
        "status_reads": report.status_reads, "unfinished": len(report.unfinished), "hop": request.hop})


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, lambda record: _sync(record, context))
