"""Queue consumer of LedgerEventsQueue (standard queue, fed by the LedgerEventsRule on the ledger's bus):
outbound payments of linked accounts become expense records; later changes set their Updated flag.

Events come at least once and out of order; ``xerosync.sync_expenses.event_intake`` compares versions and reads
the transaction for its current values, so each record is handled on its own and a failure returns only
that record to the queue (partial batch response). An event that fails on its last delivery (a DynamoDB or
ledger error on every one) is parked for later instead of going to the dead-letter queue, up to
``LAST_DELIVERY_PARKS`` times: nothing else would bring back a change to a synced payment (a receipt added
in the bank's app) whose event was lost (docs/sync-expenses.md, "Ledger events that fail").
"""

from __future__ import annotations

import json
from typing import Any

# Before anything loads pydantic: Powertools' batch utility builds its parser's event models (two dozen pydantic
# models this function never uses) when it finds pydantic loaded (docs/architecture.md, "Cold start").
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# Every event reads its transaction from the ledger: the client loads with the handler (docs/architecture.md,
# "Cold start").
from xerosync.ledger import client  # noqa: F401
from xerosync.observability import instrument, logger
from xerosync.queue import ParkOnLastDelivery, consume
from xerosync.settings import get_settings
from xerosync.sync_expenses.event_intake import (
    DETAIL_TYPES,
    LAST_DELIVERY_PARK_SECONDS,
    LAST_DELIVERY_PARKS,
    LEDGER_SOURCE,
    PARKS_KEY,
    TransactionEvent,
)
from xerosync.sync_expenses.wiring import get_ledger_event_consumer


def _event(body: str) -> TransactionEvent | None:
    envelope = json.loads(body)
    if envelope.get("source") != LEDGER_SOURCE or envelope.get("detail-type") not in DETAIL_TYPES:
        return None
    return TransactionEvent.model_validate(envelope["detail"])


def _process(record: SQSRecord) -> None:
    event = _event(record.body)
    if event is None:
        # The rule only routes ledger transaction events; anything else is not ours to keep retrying.
        logger.warning("ignoring a message that is not a ledger transaction event",
                       extra={"message_id": record.message_id})
        return
    outcome = get_ledger_event_consumer().handle(event)
    logger.debug("ledger event handled", extra={"transaction_id": event.transaction_id, "version": event.version,
                                                "outcome": outcome.value})


def _prefetch(event: dict[str, Any]) -> None:
    """One read for the whole batch's expenses; a record that cannot be parsed fails on its own later. Only a
    shortcut: when the read fails (a DynamoDB error past the SDK's retries), each event reads its own expense, so
    one failed read does not fail the whole batch, before any record, with no record saying why."""
    parsed = []
    for record in event.get("Records") or []:
        try:
            found = _event(record.get("body", ""))
        except (ValueError, KeyError, TypeError):
            continue
        if found is not None:
            parsed.append(found)
    consumer = get_ledger_event_consumer()
    try:
        consumer.prefetch(parsed)
    except Exception as error:
        logger.warning("reading the batch's expenses at once failed; each event reads its own",
                       extra={"error": type(error).__name__, "events": len(parsed)})
        consumer.prefetch([])  # nothing prefetched: none of what a failed read left half-done is used


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _prefetch(event)
    return consume(event, context, _process, last_delivery=ParkOnLastDelivery(
        max_receives=get_settings().ledger_event_max_receives, times=LAST_DELIVERY_PARKS,
        seconds=LAST_DELIVERY_PARK_SECONDS, count_key=PARKS_KEY, reason="a ledger event failed on its last delivery"))
