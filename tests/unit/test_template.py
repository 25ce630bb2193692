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



def test_every_fifo_consumer_takes_one_message_a_batch() -> None:
    # In a batch, the messages behind a failed one of its group go back untried (FIFO order), and each such return
    # counts as a receive: a message could reach its dead-letter queue without ever being tried. One at a time, SQS
    # hands out no message of a group while one of it is in flight, and nothing is spent waiting.
    for source in TEMPLATE.sqs_sources():
        if _props(source.queue).get("FifoQueue", False):
            assert source.batch_size == 1, f"{source.function} takes {source.batch_size} of {source.queue}'s messages"


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


def test_a_receipts_upload_lease_outlasts_the_run_that_took_it() -> None:
    # A receipt recorded UPLOADING is left to the run that wrote it until its lease runs out: that run must have
    # ended by then, whatever happened to it (docs/attachments.md, Flow step 5).
    from xerosync.attachments.uploader import UPLOAD_LEASE_SECONDS

    assert FUNCTIONS["AttachmentsWorkerFunction"].timeout < UPLOAD_LEASE_SECONDS


def test_a_spend_money_batchs_send_lease_outlasts_the_delivery_that_took_it() -> None:
    # A batch whose lease is held is left to the delivery that took it until the lease runs out: that delivery must
    # have ended by then, whatever happened to it (docs/sync-expenses.md, "Exactly once").
    from xerosync.sync_expenses.worker import SEND_LEASE_SECONDS

    assert FUNCTIONS["SyncExpensesWorkerFunction"].timeout < SEND_LEASE_SECONDS


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


XERO_CALLERS = {"ConnectApiFunction", "XeroCleanupFunction", "ConnectionCheckFunction", "AutoSyncWorkerFunction",
                "SyncExpensesApiFunction", "SyncExpensesWorkerFunction", "AttachmentsWorkerFunction"}


def _role(function: str) -> str:
    role = _props(function)["Role"]
    assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", f"{function} must use its own role"
    return str(role["Fn::GetAtt"][0])


def _statements(function: str) -> list[dict[str, Any]]:
    return [statement for policy in _props(_role(function))["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]]


def _grants(function: str, resource: Any) -> set[str]:
    found = set()
    for statement in _statements(function):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if resource in resources:
            found.update(statement["Action"])
    return found


def test_every_function_has_a_role_of_its_own_with_no_managed_policy() -> None:
    # Managed policies (Lambda's basic and SQS execution roles) grant logs and SQS on every resource.
    roles = [_role(lid) for lid in FUNCTIONS]
    assert len(set(roles)) == len(roles)
    for role in roles:
        assert RESOURCES[role]["Type"] == "AWS::IAM::Role" and "ManagedPolicyArns" not in _props(role)


def test_no_role_scans_batch_writes_or_grants_by_wildcard() -> None:
    for lid in FUNCTIONS:
        for statement in _statements(lid):
            assert not {"dynamodb:Scan", "dynamodb:BatchWriteItem"} & set(statement["Action"]), lid
            assert not any("*" in action for action in statement["Action"]), (lid, statement["Sid"])
            if statement["Resource"] == "*":  # X-Ray has no resource-level permissions
                assert set(statement["Action"]) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, lid
            if "index" in str(statement["Resource"]):
                assert statement["Action"] == ["dynamodb:Query"], lid


def test_every_sqs_consumer_polls_its_own_queue_and_xeros_callers_may_hand_messages_back() -> None:
    # Lambda's poller receives and deletes with the function's role; xerosync.queue.consume sets a message's
    # visibility when Xero says wait, so only consumers that call Xero need it. tests/iam proves the rest.
    for source in TEMPLATE.sqs_sources():
        granted = _grants(source.function, {"Fn::GetAtt": [source.queue, "Arn"]})
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= granted, source.function
        assert ("sqs:ChangeMessageVisibility" in granted) == (source.function in XERO_CALLERS), source.function


def test_tokens_are_readable_and_the_key_usable_only_by_functions_that_call_xero() -> None:
    tokens = {"Fn::GetAtt": ["TokensTable", "Arn"]}
    for lid in FUNCTIONS:
        actions = _grants(lid, tokens)
        assert bool(actions) == (lid in XERO_CALLERS), lid
        assert not actions & {"dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem"}, lid
        # Connect's functions delete sealed tokens: the API (a refused or given-up consent), the cleanup, and the
        # hourly check's consent sweeper.
        assert ("dynamodb:DeleteItem" in actions) == (
            lid in {"ConnectApiFunction", "XeroCleanupFunction", "ConnectionCheckFunction"}), lid
    [use] = [s for s in _props("TokensKey")["KeyPolicy"]["Statement"] if s["Sid"] == "SealAndOpenTokens"]
    assert {p["Fn::GetAtt"][0] for p in use["Principal"]["AWS"]} == {_role(lid) for lid in XERO_CALLERS}
    assert sorted(use["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use["Condition"] == {"Null": {"kms:EncryptionContext:business_id": "false"}}


def test_key_administrators_can_never_encrypt_or_decrypt() -> None:
    crypto = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo",
              "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext"}
    for lid in TEMPLATE.of_type("AWS::KMS::Key"):
        [admin] = [s for s in _props(lid)["KeyPolicy"]["Statement"] if s["Sid"] == "Administer"]
        assert not crypto & set(admin["Action"]) and not any("*" in a for a in admin["Action"]), lid
        for statement in _props(lid)["KeyPolicy"]["Statement"]:
            assert statement["Principal"] != {"AWS": "*"} or statement.get("Condition"), (lid, statement["Sid"])


def test_the_client_secret_is_created_outside_the_stack_and_never_a_parameter_value() -> None:
    env = BODY["Globals"]["Function"]["Environment"]["Variables"]
    assert env["XERO_CLIENT_SECRET_ARN"] == {"Ref": "XeroClientSecretArn"}
    assert not TEMPLATE.of_type("AWS::SecretsManager::Secret")
    assert not any(spec.get("NoEcho") for spec in BODY["Parameters"].values()), "no secret value is typed at deploy"
    for lid in FUNCTIONS:
        statements = [s for s in _statements(lid) if "kms:Decrypt" in s["Action"] and s["Sid"] == "XeroClientSecretKey"]
        for statement in statements:  # the secret's key only through Secrets Manager, for this secret only
            assert statement["Condition"]["StringEquals"]["kms:EncryptionContext:SecretARN"] == \
                {"Ref": "XeroClientSecretArn"}


def test_audit_grade_logs_tables_that_survive_and_xero_callers_within_xeros_limits() -> None:
    assert int(BODY["Parameters"]["LogRetentionDays"]["Default"]) >= 365
    for lid, group in TEMPLATE.of_type("AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StorageKey", "Arn"]}, lid
        assert group.get("DeletionPolicy") == "Retain", lid
    log_format = _props("HttpApi")["AccessLogSettings"]["Format"]["Fn::Sub"]
    for field in ("$context.requestId", "$context.authorizer.claims.${AuthClaimUserId}",
                  "$context.authorizer.claims.${AuthClaimBusinessId}", "$context.identity.sourceIp",
                  "$context.identity.userAgent", "$context.routeKey", "$context.status", "$context.responseLatency"):
        assert field in log_format, field
    for lid, table in TEMPLATE.of_type("AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain", lid
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, lid
        assert props["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": ["StorageKey", "Arn"]}, lid
    reserved = {lid: _props(lid).get("ReservedConcurrentExecutions") for lid in FUNCTIONS}
    assert {lid for lid, value in reserved.items() if value} == XERO_CALLERS
    assert sum(v for v in reserved.values() if v) <= 60  # ~50 instances reach Xero's 10,000 calls a minute


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


def test_parked_work_comes_back_within_a_minute_of_its_wait() -> None:
    # A message parked behind Xero's Retry-After (any length, up to the daily reset) is sent back by the first
    # run of the parked-work schedule after its wait: the schedule runs every minute.
    events = _props("ParkedWorkFunction")["Events"]
    assert [e["Properties"]["Schedule"] for e in events.values() if e["Type"] == "Schedule"] == ["rate(1 minute)"]
