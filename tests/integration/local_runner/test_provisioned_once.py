"""Tests provision the template in moto once per process: each later use of ``aws_on_moto`` starts from a copy of
what provisioning gave (tests/support/moto_state.py). A use sees the provisioned resources, ids and keys, and
nothing an earlier use wrote, sent, received or changed; its functions' environment is its own template's."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from local.iam import CallRecorder
from local.provision import Provisioned
from tests.support import moto_state
from tests.support.integration_stack import aws_on_moto, local_template


def _queue_counts(sqs: Any, url: str) -> tuple[str, str]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]


def _use_everything(aws: Provisioned) -> dict[str, Any]:
    """Write, send, receive and change what a test may: an item, messages (one left in flight, one deduplicated
    by id), the client secret; returns what a later use checks."""
    table = boto3.resource("dynamodb").Table(aws.refs["MainTable"])
    table.put_item(Item={"pk": "BIZ#left-behind", "sk": "CONNECTION", "gsi1pk": "G", "gsi1sk": "S"})
    sqs = boto3.client("sqs")
    fifo, standard = aws.queue_url("ExpenseSyncQueue"), aws.queue_url("LedgerEventsQueue")
    sqs.send_message(QueueUrl=fifo, MessageBody="first", MessageGroupId="biz", MessageDeduplicationId="once")
    sqs.send_message(QueueUrl=standard, MessageBody="in flight")
    assert sqs.receive_message(QueueUrl=standard, WaitTimeSeconds=0)["Messages"]
    secret_arn = aws.template.parameters["XeroClientSecretArn"]
    secrets = boto3.client("secretsmanager")
    original = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    secrets.put_secret_value(SecretId=secret_arn, SecretString="changed by a test")
    sealed = boto3.client("kms").encrypt(KeyId=aws.refs["TokensKey"], Plaintext=b"sealed in one use")
    return {"secret": original, "sealed": sealed["CiphertextBlob"], "table": table.table_name}


def test_each_use_starts_from_what_provisioning_gave_and_nothing_an_earlier_use_left(
        monkeypatch: pytest.MonkeyPatch, aws_calls: CallRecorder) -> None:
    monkeypatch.setattr(moto_state, "_provisioned", {})  # this process's first provisioning, then copies of it
    with pytest.MonkeyPatch.context() as patch, aws_on_moto(local_template(), patch) as first:
        description = boto3.client("dynamodb").describe_table(TableName=first.refs["MainTable"])["Table"]
        left = _use_everything(first)
    for _ in range(2):  # a copy each time: what a use changes never reaches the kept state
        with pytest.MonkeyPatch.context() as patch, aws_on_moto(local_template(), patch) as later:
            assert (later.refs, later.secret_keys, later.queue_keys) == (first.refs, first.secret_keys,
                                                                          first.queue_keys)
            assert aws_calls.environment is later  # the IAM check follows this use's functions
            dynamodb = boto3.client("dynamodb")
            assert dynamodb.describe_table(TableName=left["table"])["Table"] == description
            assert dynamodb.scan(TableName=left["table"])["Items"] == []
            sqs = boto3.client("sqs")
            for queue in ("ExpenseSyncQueue", "LedgerEventsQueue"):
                assert _queue_counts(sqs, later.queue_url(queue)) == ("0", "0"), queue
            secret = boto3.client("secretsmanager").get_secret_value(
                SecretId=later.template.parameters["XeroClientSecretArn"])
            assert secret["SecretString"] == left["secret"]
            # The same keys: what one use sealed, another opens
            opened = boto3.client("kms").decrypt(CiphertextBlob=left["sealed"])
            assert opened["Plaintext"] == b"sealed in one use"
            # A deduplication id the earlier use sent is new again; the queue delivers in order as provisioned
            sqs.send_message(QueueUrl=later.queue_url("ExpenseSyncQueue"), MessageBody="again",
                             MessageGroupId="biz", MessageDeduplicationId="once")
            received = sqs.receive_message(QueueUrl=later.queue_url("ExpenseSyncQueue"), WaitTimeSeconds=0)
            assert [m["Body"] for m in received["Messages"]] == ["again"]
            _use_everything(later)


def test_the_functions_environment_is_each_uses_own_template() -> None:
    with pytest.MonkeyPatch.context() as patch, aws_on_moto(local_template(xero_url="http://127.0.0.1:1001"),
                                                            patch) as first:
        pass
    with pytest.MonkeyPatch.context() as patch, aws_on_moto(local_template(xero_url="http://127.0.0.1:1002"),
                                                            patch) as later:
        assert later.environment["XERO_API_URL"] == "http://127.0.0.1:1002"
        assert later.refs == first.refs
        urls = {"XERO_LOGIN_URL", "XERO_IDENTITY_URL", "XERO_API_URL"}
        assert {k: v for k, v in later.environment.items() if k not in urls} == {
            k: v for k, v in first.environment.items() if k not in urls}
