"""Scheduled: notices connections removed from Xero's side."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.errors import NotAvailableYet
from xerosync.observability import instrument


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raise NotAvailableYet("The connection check is not available yet.")
