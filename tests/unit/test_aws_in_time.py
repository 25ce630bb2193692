"""An HTTP request's AWS calls keep to its time (xerosync.aws, xerosync.deadline): the SDK does not retry a call
whose backoff would outlast the request, no call starts once the request's time is spent, and outside a request the
SDK's own policy (a first attempt and 4 retries) is untouched."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from emulators.time_control import ManualClock
from xerosync import aws, deadline
from xerosync.errors import TemporarilyUnavailable


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The SDK's backoff passes on a manual clock."""
    clock = ManualClock(start=1_800_000_000)
    shim = types.SimpleNamespace(**{name: getattr(botocore.endpoint.time, name)
                                    for name in dir(botocore.endpoint.time) if not name.startswith("_")})
    shim.sleep = clock.sleep
    monkeypatch.setattr(botocore.endpoint, "time", shim)
    return clock


@pytest.fixture
def attempts() -> list[str]:
    return []


@pytest.fixture
def dynamodb(attempts: list[str]) -> Any:
    """A DynamoDB client as the product builds it, whose every attempt DynamoDB answers with an internal error."""
    session = boto3.session.Session(region_name="ap-southeast-1", aws_access_key_id="test",
                                    aws_secret_access_key="test")  # no AWS is reached
    client = aws._within_the_request(session.client("dynamodb", config=aws._CONFIG))

    def internal_error(request: Any, **_: Any) -> AWSResponse:
        attempts.append(request.url)
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                           "message": "Internal server error"}).encode()
        return AWSResponse(request.url, 500, {"content-type": "application/x-amz-json-1.0"}, _Raw(body))

    client.meta.events.register("before-send.dynamodb.GetItem", internal_error)
    return client


def _get(client: Any) -> None:
    client.get_item(TableName="main", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})


def test_outside_a_request_the_sdk_retries_four_times(dynamodb: Any, attempts: list[str], clock: ManualClock
                                                     ) -> None:
    with pytest.raises(ClientError):
        _get(dynamodb)
    assert len(attempts) == 5


def test_a_request_retries_only_while_the_backoff_and_one_more_attempt_fit_in_its_time(
        dynamodb: Any, attempts: list[str], clock: ManualClock) -> None:
    # 2.5 s left: a retry after the first attempt fits (backoff up to 1 s, then 1 s for the call), one after the
    # second does not (up to 2 s more)
    with deadline.answer_within(2.5 + deadline.ANSWER_SECONDS, clock), pytest.raises(ClientError):
        _get(dynamodb)
    assert len(attempts) == 2
    assert clock.time() - 1_800_000_000 <= 1


def test_no_call_starts_once_the_requests_time_is_spent(dynamodb: Any, attempts: list[str], clock: ManualClock
                                                        ) -> None:
    with deadline.answer_within(deadline.ANSWER_SECONDS, clock) as budget:
        clock.advance(0.01)
        assert budget.left() < 0
        with pytest.raises(TemporarilyUnavailable):
            _get(dynamodb)
    assert attempts == []
