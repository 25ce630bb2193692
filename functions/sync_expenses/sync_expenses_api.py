"""HTTP entry point of sync expenses: reference data, mappings, lists, edits, sync jobs."""

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

_PENDING = "Syncing expenses is not available yet."


@app.get("/v1/expenses/reference-data", tags=["expenses"])
def reference_data() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.get("/v1/expenses/mappings", tags=["expenses"])
def get_mappings() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.put("/v1/expenses/mappings", tags=["expenses"])
def put_mappings() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.get("/v1/expenses", tags=["expenses"])
def list_expenses() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.get("/v1/expenses/<transaction_id>", tags=["expenses"])
def get_expense(transaction_id: str) -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.patch("/v1/expenses/<transaction_id>", tags=["expenses"])
def edit_expense(transaction_id: str) -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.post("/v1/expenses/sync-jobs", tags=["expenses"])
def start_sync_job() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.get("/v1/expenses/sync-jobs/<job_id>", tags=["expenses"])
def get_sync_job(job_id: str) -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
