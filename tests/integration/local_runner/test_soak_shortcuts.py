"""What the soak skips (local/soak/shortcuts.py) leaves moto's answers as they were: calls handed to moto in this
process carry the credential scope moto reads (the account's key, the region) without a computed signature, other
requests are signed as before, a poller's receive is made only when its queue has a message to hand out, and
DynamoDB's item answers written directly read back as moto's serialiser writes them."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
from botocore.awsrequest import AWSRequest

from local import aws_in_process
from local.soak.shortcuts import answer_items_directly, receive_only_when_ready, sign_cheaply_in_process

NOWHERE = "http://127.0.0.1:9"  # nothing listens here: an answer can only have come from this process


def _seen_headers(client: Any) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []

    def look(request: Any, **_: Any) -> None:
        seen.append(dict(request.headers))

    client.meta.events.register("before-send", look)
    return seen


def test_in_process_calls_keep_the_credential_scope_and_moto_answers_them() -> None:
    aws_in_process.install(NOWHERE)
    sign_cheaply_in_process()
    try:
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        dynamodb = session.client("dynamodb", endpoint_url=NOWHERE)
        seen = _seen_headers(dynamodb)
        table = f"t-{uuid.uuid4().hex[:8]}"
        dynamodb.create_table(
            TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "1"}
        value: Any = seen[-1]["Authorization"]
        authorization = value.decode() if isinstance(value, bytes) else str(value)
        assert authorization.startswith("AWS4-HMAC-SHA256 Credential=local/")
        assert "/us-east-1/dynamodb/aws4_request" in authorization
        assert "Signature=not-computed-in-process" in authorization

        # A request that does not go to moto in this process is signed as botocore signs it.
        elsewhere = session.client("dynamodb", endpoint_url="http://127.0.0.1:8")
        request = AWSRequest(method="POST", url="http://127.0.0.1:8/", data=b"{}", headers={})
        elsewhere._request_signer.sign("GetItem", request)
        assert "Signature=not-computed" not in request.headers["Authorization"]
        assert "Signature=" in request.headers["Authorization"]
    finally:
        sign_cheaply_in_process(False)
        aws_in_process.uninstall(NOWHERE)


class _Mapping:
    def __init__(self) -> None:
        self.receives = 0

    def _receive(self) -> list[dict[str, Any]]:
        self.receives += 1
        return [{"Body": "{}"}]


def test_a_poller_receives_only_when_its_queue_has_a_message_to_hand_out() -> None:
    mapping, ready = _Mapping(), [False]
    receive_only_when_ready(mapping, lambda: ready[0])
    assert mapping._receive() == [] and mapping.receives == 0
    ready[0] = True
    assert mapping._receive() == [{"Body": "{}"}] and mapping.receives == 1


def _item_calls(dynamodb: Any, table: str) -> list[Any]:
    """Every item operation the product makes, with answers of each shape: items of every attribute type, none,
    a page with its LastEvaluatedKey, returned values, a refused condition."""
    item = {"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "12.50"}, "b": {"B": b"\x00\xff"}, "t": {"BOOL": True},
            "z": {"NULL": True}, "l": {"L": [{"S": "x"}, {"N": "2"}, {"M": {"k": {"SS": ["p", "q"]}}}]},
            "m": {"M": {"deep": {"BS": [b"1", b"2"]}, "ns": {"NS": ["1", "2.5"]}}}, "e": {"S": ""}}
    key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
    answers: list[Any] = [dynamodb.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD"),
                          dynamodb.put_item(TableName=table, Item={**item, "n": {"N": "3"}}, ReturnValues="ALL_OLD")]
    for n in range(2, 6):
        answers.append(dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": str(n)}}))
    answers += [
        dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True),
        dynamodb.get_item(TableName=table, Key={"pk": {"S": "none"}, "sk": {"S": "1"}}),
        dynamodb.get_item(TableName=table, Key=key, ProjectionExpression="#n, m.deep",
                          ExpressionAttributeNames={"#n": "n"}),
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET n = n + :one, added = :s REMOVE z",
                             ExpressionAttributeValues={":one": {"N": "1"}, ":s": {"S": "new"}},
                             ReturnValues="ALL_NEW"),
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET added = :s",
                             ExpressionAttributeValues={":s": {"S": "again"}}, ReturnValues="UPDATED_OLD"),
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET added = :s",
                             ExpressionAttributeValues={":s": {"S": "quiet"}}),
        dynamodb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}},
                       Limit=2),
        dynamodb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}},
                       ScanIndexForward=False, Select="COUNT"),
        dynamodb.query(TableName=table, KeyConditionExpression="pk = :p",
                       ExpressionAttributeValues={":p": {"S": "nobody"}}),
        dynamodb.scan(TableName=table, Limit=3),
        dynamodb.scan(TableName=table, FilterExpression="attribute_exists(b)"),
        dynamodb.batch_get_item(RequestItems={table: {"Keys": [key, {"pk": {"S": "a"}, "sk": {"S": "9"}}]}}),
        dynamodb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}},
                                                   {"Get": {"TableName": table, "Key": {"pk": {"S": "no"},
                                                                                         "sk": {"S": "1"}}}}]),
        dynamodb.delete_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "5"}}, ReturnValues="ALL_OLD"),
        dynamodb.delete_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "5"}}),
    ]
    try:
        dynamodb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)",
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except dynamodb.exceptions.ConditionalCheckFailedException as refused:
        answers.append(refused.response)
    for answer in answers:
        answer.pop("ResponseMetadata", None)
    return answers


def test_item_answers_written_directly_read_back_as_moto_serialises_them() -> None:
    aws_in_process.install(NOWHERE)
    try:
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        dynamodb = session.client("dynamodb", endpoint_url=NOWHERE)
        answers = []
        table = f"t-{uuid.uuid4().hex[:8]}"  # the same table, made anew for each side
        for direct in (False, True):
            answer_items_directly(direct)
            dynamodb.create_table(
                TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                            {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
            answers.append(_item_calls(dynamodb, table))
            dynamodb.delete_table(TableName=table)
        by_moto, direct_answers = answers
        assert len(by_moto) == len(direct_answers) == 22
        for moto_answer, direct_answer in zip(by_moto, direct_answers, strict=True):
            assert direct_answer == moto_answer
    finally:
        answer_items_directly(False)
        aws_in_process.uninstall(NOWHERE)
