"""HTTP entry point of sync expenses: reference data, mappings, the Pending Sync and Synced lists, edits,
sync jobs and their progress.

Admin and Finance users only; not for businesses incorporated in Hong Kong; available once a bank account
is linked to Xero. The business always comes from the token's claims (``http.current_caller``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import http
from xerosync.ledger import client  # noqa: F401  # the gate asks the ledger: loads with the handler
from xerosync.observability import instrument
from xerosync.sync_expenses.models import ExpenseStatus, ExpenseTab
from xerosync.sync_expenses.views import (
    ExpenseEdit,
    ExpensePage,
    ExpenseView,
    ListQuery,
    MappingsUpdate,
    MappingsView,
    PayeeRuleIn,
    PayeeRulesView,
    PayeeRuleValues,
    PayeeRuleView,
    ReferenceDataView,
    StartSync,
    SyncJobView,
)
from xerosync.sync_expenses.wiring import get_expense_service

app = http.Resolver(enable_validation=True)
http.install(app)

TransactionId = Annotated[str, Path(min_length=1, max_length=64, description="The bank transaction's id.")]
JobId = Annotated[str, Path(min_length=1, max_length=64, description="The sync job's id.")]
RuleId = Annotated[str, Path(min_length=1, max_length=64, description="The payee rule's id.")]
TAGS = ["expenses"]
WITH_NOT_FOUND = http.with_not_found("No such expense or sync job for this business.")
# What a client can do next with an expense it was given (OpenAPI links; the fuzzer's stateful phase follows them).
FIRST_LISTED = "$response.body#/items/0/transaction_id"
EXPENSE_LINKS = {
    "GetExpense": http.link("get_expense_v1_expenses__transaction_id__get", transaction_id=FIRST_LISTED),
    "EditExpense": http.link("edit_expense_v1_expenses__transaction_id__patch", transaction_id=FIRST_LISTED),
    "GetAttachments": http.link("attachment_status_v1_expenses__transaction_id__attachments_get",
                                transaction_id=FIRST_LISTED),
    "RetryAttachments": http.link("retry_attachments_v1_expenses__transaction_id__attachments_retry_post",
                                  transaction_id=FIRST_LISTED),
}
THIS_EXPENSE = "$response.body#/transaction_id"
EDITED_LINKS = {
    "GetExpense": http.link("get_expense_v1_expenses__transaction_id__get", transaction_id=THIS_EXPENSE),
    "GetAttachments": http.link("attachment_status_v1_expenses__transaction_id__attachments_get",
                                transaction_id=THIS_EXPENSE),
}


@app.get("/v1/expenses/reference-data", summary="Xero accounts, tax rates and tracking offered for expenses",
         tags=TAGS, responses=http.ERROR_RESPONSES)
def reference_data(
    refresh: Annotated[bool, Query(description="Read Xero again now (at most once a minute).")] = False,
) -> ReferenceDataView:
    return get_expense_service().reference_data(http.current_caller(app), refresh=refresh)


@app.get("/v1/expenses/mappings", summary="Bank spend category to Xero account", tags=TAGS,
         responses=http.ERROR_RESPONSES)
def get_mappings() -> MappingsView:
    return get_expense_service().get_mappings(http.current_caller(app))


@app.put("/v1/expenses/mappings", summary="Replace the category mapping (validated against Xero)", tags=TAGS,
         responses=http.ERROR_RESPONSES)
def put_mappings(body: Annotated[MappingsUpdate, Body()]) -> MappingsView:
    return get_expense_service().set_mappings(http.current_caller(app), body)


@app.get("/v1/expenses", summary="The Pending Sync or Synced tab, paged and filtered", tags=TAGS,
         responses=http.responses(links=EXPENSE_LINKS))
def list_expenses(
    tab: Annotated[ExpenseTab, Query(description="pending (Pending Sync) or synced.")] = ExpenseTab.PENDING_SYNC,
    posted_from: Annotated[date | None, Query(description="First booking day, inclusive.")] = None,
    posted_to: Annotated[date | None, Query(description="Last booking day, inclusive.")] = None,
    account_id: Annotated[str | None, Query(max_length=64, description="Only this bank account.")] = None,
    status: Annotated[ExpenseStatus | None, Query(description="Only this status.")] = None,
    updated: Annotated[bool | None, Query(description="Only Updated ones (true) or the others (false).")] = None,
    has_error: Annotated[bool | None, Query(description="Only those with an error (true) or without.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=1024, description="next_cursor of the previous page.")] = None,
) -> ExpensePage:
    query = ListQuery(tab=tab, posted_from=posted_from, posted_to=posted_to, account_id=account_id, status=status,
                      updated=updated, has_error=has_error, limit=limit, cursor=cursor)
    return get_expense_service().list_expenses(http.current_caller(app), query)


@app.get("/v1/expenses/<transaction_id>", summary="One expense, with its error details", tags=TAGS,
         responses=WITH_NOT_FOUND)
def get_expense(transaction_id: TransactionId) -> ExpenseView:
    return get_expense_service().get_expense(http.current_caller(app), transaction_id)


@app.patch("/v1/expenses/<transaction_id>", summary="Edit an expense waiting to be synced", tags=TAGS,
           responses=http.with_not_found("No such expense for this business.", links=EDITED_LINKS))
def edit_expense(transaction_id: TransactionId, body: Annotated[ExpenseEdit, Body()]) -> ExpenseView:
    return get_expense_service().edit_expense(http.current_caller(app), transaction_id, body)


@app.post("/v1/expenses/<transaction_id>/accept-suggestions", tags=TAGS,
          summary="Make the values the payee's rule or history suggests the expense's own",
          responses=http.with_not_found("No such expense for this business.", links=EDITED_LINKS))
def accept_suggestions(transaction_id: TransactionId) -> ExpenseView:
    return get_expense_service().accept_suggestions(http.current_caller(app), transaction_id)


@app.get("/v1/expenses/payee-rules", summary="The per-payee rules", tags=TAGS, responses=http.ERROR_RESPONSES)
def list_payee_rules() -> PayeeRulesView:
    return get_expense_service().payee_rules(http.current_caller(app))


@app.post("/v1/expenses/payee-rules", summary="Save a rule for a payee (validated against Xero)", tags=TAGS,
          responses=http.responses(success=201, success_model=PayeeRuleView, success_text="The rule saved."))
def create_payee_rule(body: Annotated[PayeeRuleIn, Body()]) -> Response[PayeeRuleView]:
    view = get_expense_service().create_payee_rule(http.current_caller(app), body)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=view)


@app.put("/v1/expenses/payee-rules/<rule_id>", summary="Change a payee's rule (validated against Xero)",
         tags=TAGS, responses=http.with_not_found("No such rule for this business."))
def change_payee_rule(rule_id: RuleId, body: Annotated[PayeeRuleValues, Body()]) -> PayeeRuleView:
    return get_expense_service().change_payee_rule(http.current_caller(app), rule_id, body)


@app.delete("/v1/expenses/payee-rules/<rule_id>", summary="Delete a payee's rule; answers the rules left",
            tags=TAGS, responses=http.with_not_found("No such rule for this business."))
def delete_payee_rule(rule_id: RuleId) -> PayeeRulesView:
    return get_expense_service().delete_payee_rule(http.current_caller(app), rule_id)


@app.post("/v1/expenses/sync-jobs", summary="Sync 1 to 1000 expenses to Xero as Spend Money", tags=TAGS,
          responses=http.responses(success=202, success_model=SyncJobView,
                                   success_text="The sync job; read its progress at /v1/expenses/sync-jobs/{job_id}.",
                                   links={"GetSyncJob": http.link("get_sync_job_v1_expenses_sync_jobs__job_id__get",
                                                                  job_id="$response.body#/job_id")}))
def start_sync_job(
    body: Annotated[StartSync, Body()],
    idempotency_key: Annotated[str | None, Header(max_length=128, description=(
        "Optional: one value per click; the same value again returns the same job."))] = None,
) -> Response[SyncJobView]:
    view = get_expense_service().start_sync(http.current_caller(app), body, client_key=idempotency_key)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=view)


@app.get("/v1/expenses/sync-jobs/<job_id>", summary="A sync job's progress", tags=TAGS,
         responses=WITH_NOT_FOUND)
def get_sync_job(job_id: JobId) -> SyncJobView:
    return get_expense_service().get_job(http.current_caller(app), job_id)


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
