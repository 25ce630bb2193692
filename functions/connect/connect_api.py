"""HTTP entry point of the connect function: health, OAuth connect, status, bank feeds, disconnect."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import http
from xerosync.errors import NotAvailableYet
from xerosync.health import HealthReport, check_health
from xerosync.observability import instrument

app = APIGatewayHttpResolver(enable_validation=True)
http.install(app)


@app.get("/v1/health", summary="Proves the path end to end", tags=["health"], responses=http.ERROR_RESPONSES)
def health() -> HealthReport:
    return check_health(http.current_caller(app))


_PENDING = "Connecting to Xero is not available yet."


@app.post("/v1/xero/connect", tags=["connect"])
def start_connect() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.post("/v1/xero/connect/complete", tags=["connect"])
def complete_connect() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.post("/v1/xero/connect/organisation", tags=["connect"])
def select_organisation() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.get("/v1/xero/connection", tags=["connect"])
def connection_status() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.delete("/v1/xero/connection", tags=["connect"])
def disconnect() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.get("/v1/xero/bank-accounts", tags=["connect"])
def xero_bank_accounts() -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.put("/v1/bank-accounts/<account_id>/feed", tags=["connect"])
def link_account(account_id: str) -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@app.delete("/v1/bank-accounts/<account_id>/feed", tags=["connect"])
def unlink_account(account_id: str) -> dict[str, Any]:
    raise NotAvailableYet(_PENDING)


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
