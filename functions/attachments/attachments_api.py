"""HTTP entry point of attachments: the receipts of an expense, file by file, on their way to Xero; and a
retry of those that did not go.

Admin and Finance users only, as the rest of Sync expenses; the business comes from the token's claims.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import http
from xerosync.attachments.status import AttachmentStatusView
from xerosync.attachments.wiring import get_status_service
from xerosync.observability import instrument

app = http.Resolver(enable_validation=True)
http.install(app)

TransactionId = Annotated[str, Path(min_length=1, max_length=64, description="The bank transaction's id.")]
TAGS = ["expenses"]
WITH_NOT_FOUND = http.with_not_found("No such expense for this business.")


@app.get("/v1/expenses/<transaction_id>/attachments", summary="An expense's receipts and their state in Xero",
         tags=TAGS, responses=WITH_NOT_FOUND)
def attachment_status(transaction_id: TransactionId) -> AttachmentStatusView:
    return get_status_service().status(http.current_caller(app), transaction_id)


@app.post("/v1/expenses/<transaction_id>/attachments/retry", summary="Send the receipts that are not in Xero again",
          tags=TAGS, responses=http.responses(success=202, success_model=AttachmentStatusView,
                                              success_text="Queued; read the state at the status route.",
                                              not_found="No such expense for this business."))
def retry_attachments(transaction_id: TransactionId) -> Response[AttachmentStatusView]:
    view = get_status_service().retry(http.current_caller(app), transaction_id)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=view)


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
