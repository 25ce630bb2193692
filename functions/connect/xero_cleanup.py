"""Queue consumer: finishes in Xero what a disconnect could not do at once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.errors import NotAvailableYet
from xerosync.observability import instrument
from xerosync.queue import consume


def _cleanup(record: SQSRecord) -> None:
    raise NotAvailableYet("Cleanup in Xero is not available yet.")


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, _cleanup)
