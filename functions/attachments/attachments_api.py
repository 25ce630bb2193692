"""HTTP entry point of attachments: the attachment status of an expense."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import http
from xerosync.errors import NotAvailableYet
from xerosync.observability import instrument

app = APIGatewayHttpResolver(enable_validation=True)
http.install(app)


@app.get("/v1/expenses/<transaction_id>/attachments", tags=["attachments"])
def attachment_status(transaction_id: str) -> dict[str, Any]:
    raise NotAvailableYet("Attachment status is not available yet.")


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
