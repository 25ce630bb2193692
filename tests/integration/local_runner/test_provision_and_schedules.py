"""The runner creates exactly what template.yaml declares, and fires its schedules."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from typing import Any

import boto3

from local.event_sources import Scheduler
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from local.stack import LEDGER_BUS


def test_tables_queues_key_secret_and_alarms_exist_as_declared(aws: Provisioned) -> None:
    template = aws.template
    dynamodb = boto3.client("dynamodb")
    main = dynamodb.describe_table(TableName=aws.refs["MainTable"])["Table"]
    assert main["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    ttl = dynamodb.describe_time_to_live(TableName=aws.refs["MainTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    assert set(dynamodb.list_tables()["TableNames"]) == {
        template.physical_name(t) for t in template.of_type("AWS::DynamoDB::Table")
    }
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=aws.queue_url("ExpenseSyncQueue"), AttributeNames=["All"])
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith("ExpenseSyncDeadLetterQueue.fifo")
    assert redrive["maxReceiveCount"] == 10
    assert attributes["Attributes"]["FifoQueue"] == "true"
    assert len(sqs.list_queues()["QueueUrls"]) == len(template.of_type("AWS::SQS::Queue"))
    kms = boto3.client("kms")
    assert kms.describe_key(KeyId=aws.refs["TokensKey"])["KeyMetadata"]["Enabled"]
    key_policy = json.loads(kms.get_key_policy(KeyId=aws.refs["TokensKey"], PolicyName="default")["Policy"])
    assert {s["Sid"] for s in key_policy["Statement"]} == {"Administer", "SealAndOpenTokens"}
    # The Xero client secret lives outside the stack: the runner creates it, under a key of its own
    secrets = boto3.client("secretsmanager")
    arn = aws.environment["XERO_CLIENT_SECRET_ARN"]
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "local-dev-secret"
    assert secrets.describe_secret(SecretId=arn)["KmsKeyId"] == aws.secret_keys[arn]
    alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert len(alarms) == len(template.of_type("AWS::CloudWatch::Alarm"))


def test_functions_get_the_environment_the_template_resolves(aws: Provisioned) -> None:
    env = aws.environment
    assert env["MAIN_TABLE_NAME"] == aws.refs["MainTable"]
    assert env["EXPENSE_SYNC_QUEUE_URL"] == aws.queue_url("ExpenseSyncQueue")
    assert env["TOKENS_KMS_KEY_ID"] == aws.refs["TokensKey"]
    assert env["XERO_CLIENT_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert env["POWERTOOLS_SERVICE_NAME"] == "xero-sync"


def test_ledger_events_reach_the_ledger_events_queue_through_the_rule(aws: Provisioned) -> None:
    events = boto3.client("events")
    events.put_events(
        Entries=[
            {
                "Source": "bank.ledger",
                "DetailType": "TransactionPosted",
                "EventBusName": LEDGER_BUS,
                "Detail": json.dumps({"transaction_id": "txn_1"}),
            },
            {"Source": "someone.else", "DetailType": "TransactionPosted", "EventBusName": LEDGER_BUS, "Detail": "{}"},
        ]
    )
    messages = boto3.client("sqs").receive_message(QueueUrl=aws.queue_url("LedgerEventsQueue"), MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert event["detail-type"] == "TransactionPosted" and event["detail"] == {"transaction_id": "txn_1"}


def test_a_fired_schedule_invokes_its_function_with_a_scheduled_event(aws: Provisioned, runtime: LambdaRuntime) -> None:
    received: list[dict[str, Any]] = []
    runtime.override("AutoSyncDispatcherFunction", lambda event, ctx: received.append(event) or {"ok": True})
    scheduler = Scheduler(aws.template, runtime)
    assert scheduler.fire("EveryThreeHours") == {"ok": True}
    event = received[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"][0].startswith("arn:aws:events:")
    assert scheduler.schedules["EveryThreeHours"].rate_seconds == 3 * 3600


def test_a_schedule_fired_as_its_next_firing_gets_a_window_of_its_own(aws: Provisioned, runtime: LambdaRuntime) -> None:
    received: list[dict[str, Any]] = []
    runtime.override("AutoSyncDispatcherFunction", lambda event, ctx: received.append(event) or {"ok": True})
    scheduler = Scheduler(aws.template, runtime)
    # Fired twice at once: the same moment, as EventBridge's repeat of one firing would be
    scheduler.fire("EveryThreeHours")
    scheduler.fire("EveryThreeHours")
    # Fired as the next firing: stamped a period (3 hours) after the last, and again after that one
    scheduler.fire("EveryThreeHours", as_next=True)
    scheduler.fire("EveryThreeHours", as_next=True)
    stamps = [datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ") for e in received]
    assert abs((stamps[1] - stamps[0]).total_seconds()) <= 1
    assert [round((later - earlier).total_seconds() / 3600) for earlier, later in pairwise(stamps[1:])] == [3, 3]
