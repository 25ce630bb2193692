"""What the soak skips (local/soak/shortcuts.py) leaves moto's answers as they were: calls handed to moto in this
process carry the credential scope moto reads (the account's key, the region) without a computed signature, other
requests are signed as before, and a poller's receive is made only when its queue has a message to hand out."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
from botocore.awsrequest import AWSRequest

from local import aws_in_process
from local.soak.shortcuts import receive_only_when_ready, sign_cheaply_in_process

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
