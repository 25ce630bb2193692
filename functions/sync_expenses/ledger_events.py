"""Queue consumer (ledger_events)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.errors import NotAvailableYet
from xerosync.observability import instrument
from xerosync.queue import consume


def _process(record: SQSRecord) -> None:
    raise NotAvailableYet("This queue's consumer is not available yet.")


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, _process)
