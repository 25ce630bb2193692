"""template.yaml is code: the rules that keep every message accounted for and every function observable."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from local.lambda_runtime import LambdaRuntime
from local.template import Template, load_template

BODY = load_template()
TEMPLATE = Template(BODY, {name: "x" for name, spec in BODY["Parameters"].items() if "Default" not in spec})
FUNCTIONS = TEMPLATE.functions()
RESOURCES: dict[str, dict[str, Any]] = BODY["Resources"]


def _props(logical_id: str) -> dict[str, Any]:
    return RESOURCES[logical_id].get("Properties", {})


def test_python_311_everywhere() -> None:
    assert BODY["Globals"]["Function"]["Runtime"] == "python3.11"
    layer = RESOURCES["CommonLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    assert _props("CommonLayer")["CompatibleRuntimes"] == ["python3.11"]
    assert all("Runtime" not in _props(lid) for lid in FUNCTIONS)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_handler_is_importable_as_lambda_imports_it(function: str) -> None:
    LambdaRuntime(TEMPLATE)  # puts the layer and every CodeUri on sys.path, as Lambda does
    spec = FUNCTIONS[function]
    module = importlib.import_module(spec.module)
    assert callable(getattr(module, spec.attribute))
    assert (spec.code_uri / f"{spec.module}.py").exists()


def test_handler_module_names_never_collide() -> None:
    modules = [spec.module for spec in FUNCTIONS.values()]
    assert len(modules) == len(set(modules)), "two functions' handler modules share a name"
    assert not {"handler", "app", "main", "index", "xerosync"} & set(modules)


def test_every_template_route_is_served_by_its_handler_and_no_handler_route_is_missing() -> None:
    LambdaRuntime(TEMPLATE)
    declared = {(r.function, r.method, r.path) for r in TEMPLATE.http_routes()}
    assert declared == _resolver_routes({function for function, _, _ in declared})


def _resolver_routes(functions: set[str]) -> set[tuple[str, str, str]]:
    found = set()
    for function in functions:
        app = importlib.import_module(FUNCTIONS[function].module).app
        for route in app._static_routes + app._dynamic_routes:
            for method in route.method.split(","):
                found.add((function, method.upper(), re.sub(r"<(\w+)>", r"{\1}", route.path)))
    return found


def test_every_route_sits_behind_the_jwt_authorizer() -> None:
    api = _props("HttpApi")
    assert api["Auth"]["DefaultAuthorizer"] == "BankJwt"
    jwt = api["Auth"]["Authorizers"]["BankJwt"]["JwtConfiguration"]
    assert jwt["issuer"] == {"Ref": "JwtIssuer"} and jwt["audience"] == [{"Ref": "JwtAudience"}]
    for lid in FUNCTIONS:
        for event in _props(lid).get("Events", {}).values():
            if event["Type"] == "HttpApi":
                assert "Auth" not in event["Properties"], f"{lid} overrides the authorizer"


def test_every_sqs_consumer_reports_partial_failures() -> None:
    sources = TEMPLATE.sqs_sources()
    assert sources
    assert all(source.report_failures for source in sources)


def test_every_consumed_queue_has_a_dead_letter_queue_with_an_alarm() -> None:
    alarmed = set()
    for alarm in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values():
        for dimension in alarm["Properties"]["Dimensions"]:
            alarmed.add(dimension["Value"]["Fn::GetAtt"][0])
    for source in TEMPLATE.sqs_sources():
        redrive = _props(source.queue).get("RedrivePolicy")
        assert redrive, f"{source.queue} has no dead-letter queue"
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq in alarmed, f"{dlq} has no alarm"
        assert _props(dlq).get("FifoQueue", False) == _props(source.queue).get("FifoQueue", False)
        assert int(_props(dlq)["MessageRetentionPeriod"]) == 14 * 24 * 3600


def test_visibility_timeout_is_at_least_six_times_the_consumers_timeout() -> None:
    for source in TEMPLATE.sqs_sources():
        visibility = int(_props(source.queue)["VisibilityTimeout"])
        timeout = FUNCTIONS[source.function].timeout
        assert visibility >= 6 * timeout, f"{source.queue}: {visibility}s < 6 x {timeout}s"


def test_work_queues_are_fifo_grouped_by_tenant_except_where_eventbridge_forbids_it() -> None:
    for name in ("FeedSyncQueue", "ExpenseSyncQueue", "AttachmentsQueue", "XeroCleanupQueue"):
        assert _props(name)["FifoQueue"] is True
    # EventBridge gives a FIFO target one fixed group; the ledger's events carry versions instead.
    assert "FifoQueue" not in _props("LedgerEventsQueue")


def test_every_function_logs_to_its_own_group_with_retention() -> None:
    groups = set()
    for lid in FUNCTIONS:
        logging_config = _props(lid)["LoggingConfig"]
        group = logging_config["LogGroup"]["Ref"]
        assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
        assert _props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.add(group)
    assert len(groups) == len(FUNCTIONS)


def test_powertools_settings_are_global_and_responses_are_never_traced() -> None:
    env = BODY["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] and env["POWERTOOLS_METRICS_NAMESPACE"]
    # Responses can carry tokens (the OAuth exchange) and receipts; X-Ray must not record them.
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def test_every_sqs_consumer_may_hand_its_message_back_for_later() -> None:
    # xerosync.queue.consume sets a waiting message's visibility on the queue it came from; moto does not
    # enforce IAM, so only this test stands between a missing grant and an AccessDenied after deploy.
    for source in TEMPLATE.sqs_sources():
        statements = [statement for policy in _props(source.function).get("Policies", [])
                      if isinstance(policy, dict) for statement in policy.get("Statement", [])]
        assert any("sqs:ChangeMessageVisibility" in statement["Action"]
                   and statement["Resource"] == {"Fn::GetAtt": [source.queue, "Arn"]} for statement in statements), \
            f"{source.function} may not change visibility on {source.queue}"


def test_tokens_are_readable_only_by_functions_that_call_xero() -> None:
    xero_callers = {"ConnectApiFunction", "XeroCleanupFunction", "ConnectionCheckFunction", "AutoSyncWorkerFunction",
                    "SyncExpensesApiFunction", "SyncExpensesWorkerFunction", "AttachmentsWorkerFunction"}
    for lid in FUNCTIONS:
        policies = str(_props(lid).get("Policies", []))
        touches_tokens = "TokensTable" in policies or "TokensKey" in policies
        assert touches_tokens == (lid in xero_callers), lid


def test_sealed_tokens_are_reached_by_key_only_and_deleted_only_by_connect() -> None:
    # Connect's functions: the API (a refused or given-up consent), the cleanup, and the hourly consent sweeper.
    for lid in FUNCTIONS:
        policies = _props(lid).get("Policies", [])
        assert "TokensTable" not in str([p for p in policies if not (isinstance(p, dict) and "Statement" in p)]), \
            f"{lid}: a SAM policy template on the tokens table would allow Scan"
        actions = {action for policy in policies if isinstance(policy, dict)
                   for statement in policy.get("Statement", [])
                   if statement["Resource"] == {"Fn::GetAtt": ["TokensTable", "Arn"]} for action in statement["Action"]}
        assert not actions & {"dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem"}, lid
        assert ("dynamodb:DeleteItem" in actions) == (
            lid in {"ConnectApiFunction", "XeroCleanupFunction", "ConnectionCheckFunction"}), lid


def test_the_client_secret_lives_in_secrets_manager_not_in_the_environment() -> None:
    env = BODY["Globals"]["Function"]["Environment"]["Variables"]
    assert env["XERO_CLIENT_SECRET_ARN"] == {"Ref": "XeroClientSecretSecret"}
    assert not any(str(v.get("Ref")) == "XeroClientSecret" for v in env.values() if isinstance(v, dict))
    assert BODY["Parameters"]["XeroClientSecret"]["NoEcho"] is True


def test_auto_sync_fires_every_three_hours() -> None:
    schedules = {(s.function, s.expression) for s in TEMPLATE.schedules()}
    assert ("AutoSyncDispatcherFunction", "rate(3 hours)") in schedules


def test_ledger_events_are_routed_to_their_queue() -> None:
    rule = _props("LedgerEventsRule")
    assert rule["EventPattern"] == {"source": ["bank.ledger"],
                                    "detail-type": ["TransactionPosted", "TransactionUpdated"]}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["LedgerEventsQueue", "Arn"]}


def test_main_table_has_gsi_and_ttl_and_idempotency_table_uses_powertools_defaults() -> None:
    main = _props("MainTable")
    assert main["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert main["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    idem = _props("IdempotencyTable")
    assert idem["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idem["TimeToLiveSpecification"]["AttributeName"] == "expiration"
