"""Scheduled (hourly): gives up Xero consents nobody finished (their connections removed, their tokens wiped),
finishes disconnects and reconnections that died half-way, then notices organisations disconnected on Xero's
side (and grants Xero no longer accepts), and bank feeds whose Xero bank account was deleted there."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

# Every run sweeps consents and checks the connections: both load with the handler (docs/architecture.md, "Cold
# start").
from xerosync.connect import check, oauth  # noqa: F401
from xerosync.connect.wiring import get_connect
from xerosync.observability import instrument, logger, metrics


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    given_up = get_connect().oauth.sweep_consents(lambda: context.get_remaining_time_in_millis() / 1000)
    report = get_connect().check.run(context.get_remaining_time_in_millis)
    metrics.add_metric(name="ConnectionsChecked", unit="Count", value=report.checked)
    metrics.add_metric(name="ConnectionsLostInXero", unit="Count", value=len(report.needs_reconnect))
    metrics.add_metric(name="FeedsDeletedInXero", unit="Count", value=len(report.feeds_gone))
    logger.info("connection check", extra={
        "checked": report.checked, "needs_reconnect": len(report.needs_reconnect), "feeds_gone": len(report.feeds_gone),
        "finished_pass": report.finished_pass, "left_to_next_pass": report.left_to_next_pass,
        "consents_given_up": given_up})
    return {**asdict(report), "consents_given_up": given_up}
