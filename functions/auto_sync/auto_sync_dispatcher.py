"""Every 3 hours (and its own continuations): fans every due bank feed out to the feed-sync queue.

The schedule's event names the window (its ``time``); each tenant's messages carry a deduplication id of
that window, so a repeated firing adds nothing. When one invocation cannot reach every feed it continues
itself through DispatchQueue from where it stopped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Before anything loads pydantic: Powertools' batch utility builds its parser's event models (two dozen pydantic
# models this function never uses) when it finds pydantic loaded (docs/architecture.md, "Cold start").
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.auto_sync.dispatch import DispatchReport, dispatch_due_feeds
from xerosync.auto_sync.messages import DispatchContinuation, schedule_window
from xerosync.auto_sync.wiring import get_connection_store, get_dispatch_queue, get_feed_store, get_feed_sync_queue
from xerosync.clock import process_clock, utc_now
from xerosync.observability import instrument, logger, metrics
from xerosync.queue import body_json, consume


def _dispatch(context: LambdaContext, window: str, after: str | None = None, hop: int = 0) -> DispatchReport:
    report = dispatch_due_feeds(
        window=window, after=after, hop=hop, feeds=get_feed_store(), connections=get_connection_store(),
        sender=get_feed_sync_queue(), continuer=get_dispatch_queue(),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    metrics.add_metric(name="FeedsDispatched", unit="Count", value=report.feeds_dispatched)
    metrics.add_metric(name="FeedsSkippedReconnect", unit="Count", value=report.feeds_skipped)
    logger.info("feeds dispatched", extra={
        "window": window, "hop": hop, "tenants": report.tenants, "feeds": report.feeds_dispatched,
        "skipped": report.feeds_skipped, "messages": report.messages, "sqs_calls": report.sqs_calls,
        "continued_after": report.continued_after})
    return report


def _scheduled_window(event: dict[str, Any]) -> str:
    # EventBridge stamps a scheduled event with the time it was due; a redelivery carries the same time.
    raw = str(event.get("time") or "")
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else utc_now(process_clock())
    return schedule_window(moment)


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:  # a continuation from DispatchQueue

        def carry_on(record: SQSRecord) -> None:
            continuation = DispatchContinuation.model_validate(body_json(record))
            _dispatch(context, continuation.window, continuation.after, continuation.hop)

        return consume(event, context, carry_on)
    report = _dispatch(context, _scheduled_window(event))
    return {"window": report.window, "tenants": report.tenants, "feeds": report.feeds_dispatched,
            "skipped": report.feeds_skipped, "messages": report.messages, "continued": bool(report.continued_after)}
