"""AWS calls handed to moto in this process (the soak's choice, local/aws_in_process.py) get moto server's
answers, errors included, and never touch the wire."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse

from local import aws_in_process

NOWHERE = "http://127.0.0.1:9"  # nothing listens here: an answer can only have come from this process


def _clients() -> tuple[Any, Any]:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return (session.client("dynamodb", endpoint_url=NOWHERE), session.client("sqs", endpoint_url=NOWHERE))


def _table(dynamodb: Any) -> str:
    table = f"t-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    return table


def test_calls_are_answered_in_process_as_moto_server_answers_them() -> None:
    aws_in_process.install(NOWHERE)
    try:
        dynamodb, sqs = _clients()
        table = _table(dynamodb)
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}},
                              ConditionExpression="attribute_not_exists(pk)")
        assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "1"}

        queue = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}.fifo",
                                 Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody='{"n": 1}', MessageGroupId="g1")
        received = sqs.receive_message(QueueUrl=queue, MessageSystemAttributeNames=["All"],
                                       MaxNumberOfMessages=10)["Messages"]
        assert [(m["Body"], m["Attributes"]["MessageGroupId"]) for m in received] == [('{"n": 1}', "g1")]
    finally:
        aws_in_process.uninstall(NOWHERE)


def test_an_attempt_answered_before_sending_never_reaches_moto() -> None:
    """The soak answers some attempts with a fault before they are sent (a before-send handler); botocore still
    runs every other before-send handler, so the hand-over must not be one: the spoiled attempt would be
    applied and the SDK's retry would find its own write."""
    spoiled: list[int] = []

    def spoil_first_attempt(request: Any, **_: Any) -> AWSResponse | None:
        spoiled.append(1)
        if len(spoiled) % 2:
            return AWSResponse(request.url, 500, {"content-type": "application/x-amz-json-1.0"},
                               _Raw(json.dumps({"__type": "InternalServerError", "message": "spoiled"}).encode()))
        return None

    aws_in_process.install(NOWHERE)
    try:
        dynamodb, _ = _clients()
        table = _table(dynamodb)
        dynamodb.meta.events.register("before-send", spoil_first_attempt)
        for n in range(3):
            answer = dynamodb.put_item(TableName=table, Item={"pk": {"S": f"fresh-{n}"}},
                                       ConditionExpression="attribute_not_exists(pk)")
            assert answer["ResponseMetadata"]["RetryAttempts"] == 1  # the spoiled attempt, then the real one
        assert len(spoiled) == 6
    finally:
        aws_in_process.uninstall(NOWHERE)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_uninstalled_calls_go_on_the_wire_again() -> None:
    aws_in_process.install(NOWHERE)
    aws_in_process.uninstall(NOWHERE)
    dynamodb, _ = _clients()
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        dynamodb.list_tables()
