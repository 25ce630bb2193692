"""Scheduled every 3 hours (and its own continuations): fans out due bank feeds to the feed-sync queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.errors import NotAvailableYet
from xerosync.observability import instrument


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raise NotAvailableYet("Auto-sync is not available yet.")
