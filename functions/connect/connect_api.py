"""HTTP entry point of the connect function: health, OAuth connect, status, bank feeds, disconnect.

Admin and Finance users change things; any user of the business may read the status. The business always
comes from the token's claims (``http.current_caller``), never from the path or the body.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import http
from xerosync.connect.models import (
    ChooseOrganisation,
    CompleteConnect,
    ConnectionStatusView,
    ConnectionView,
    ConnectOutcome,
    ConnectStarted,
    LinkAccount,
    LinkedAccount,
    XeroBankAccounts,
)
from xerosync.connect.wiring import get_connect
from xerosync.health import HealthReport, get_health_check
from xerosync.observability import instrument

app = http.Resolver(enable_validation=True)
http.install(app)

AccountId = Annotated[str, Path(min_length=1, max_length=64, description="The bank's account id.")]
REFUSABLE = http.responses(unprocessable="The organisation may not connect (Partner Edition, inactive...); the "
                                         "message says why and the connection just made is removed.")
ACCOUNT_ROUTE = http.with_not_found("No such bank account for this business, or the business is not connected.")


@app.get("/v1/health", summary="Proves the path end to end", tags=["health"], responses=http.ERROR_RESPONSES)
def health() -> HealthReport:
    return get_health_check().check(http.current_caller(app))


@app.post("/v1/xero/connect", summary="Start connecting to Xero", tags=["connect"], responses=http.ERROR_RESPONSES)
def start_connect() -> ConnectStarted:
    return get_connect().oauth.start(http.current_caller(app))


@app.post("/v1/xero/connect/complete", summary="Finish connecting with Xero's code and state", tags=["connect"],
          responses=REFUSABLE)
def complete_connect(body: Annotated[CompleteConnect, Body()]) -> ConnectOutcome:
    return get_connect().oauth.complete(http.current_caller(app), body)


@app.post("/v1/xero/connect/organisation", summary="Choose the organisation when Xero's consent covered several",
          tags=["connect"], responses=REFUSABLE)
def choose_organisation(body: Annotated[ChooseOrganisation, Body()]) -> ConnectOutcome:
    return get_connect().oauth.choose_organisation(http.current_caller(app), body)


@app.get("/v1/xero/connection", summary="Connection, bank accounts with their links, last sync", tags=["connect"],
         responses=http.responses(links={"LinkAccount": http.link(
             "link_account_v1_bank_accounts__account_id__feed_put",
             account_id="$response.body#/accounts/0/account_id")}))
def connection_status() -> ConnectionStatusView:
    return get_connect().status.status(http.current_caller(app))


@app.delete("/v1/xero/connection", summary="Disconnect Xero (idempotent)", tags=["connect"],
            responses=http.with_not_found("The business was never connected to Xero."))
def disconnect() -> ConnectionView:
    return get_connect().disconnect.disconnect(http.current_caller(app))


@app.get("/v1/xero/bank-accounts", summary="Xero bank accounts to link to", tags=["connect"],
         responses=http.ERROR_RESPONSES)
def xero_bank_accounts() -> XeroBankAccounts:
    return get_connect().linking.xero_bank_accounts(http.current_caller(app))


@app.put("/v1/bank-accounts/<account_id>/feed", summary="Link a bank account to a Xero bank account",
         tags=["connect"], responses=ACCOUNT_ROUTE)
def link_account(account_id: AccountId, body: Annotated[LinkAccount, Body()]) -> LinkedAccount:
    return get_connect().linking.link(http.current_caller(app), account_id, body)


@app.delete("/v1/bank-accounts/<account_id>/feed", summary="Unlink a bank account from Xero", tags=["connect"],
            responses=ACCOUNT_ROUTE)
def unlink_account(account_id: AccountId) -> LinkedAccount:
    return get_connect().linking.unlink(http.current_caller(app), account_id)


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
