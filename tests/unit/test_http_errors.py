"""The product's error mapping (xerosync.http.install): an answer the product built wrong is its own fault."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from botocore.exceptions import ClientError, EndpointConnectionError

from xerosync import http
from xerosync.model import Model


class Wanted(Model):
    items: list[str]


def _event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": f"GET {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "GET", "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
    }


def test_an_answer_that_fails_its_response_model_is_a_500_not_the_callers_400() -> None:
    app = http.Resolver(enable_validation=True)
    http.install(app)

    @app.get("/broken")
    def broken() -> Wanted:
        return {"mappings": []}  # type: ignore[return-value]  # the shape of another route's answer

    @app.get("/invalid")
    def invalid(limit: int) -> Wanted:
        return Wanted(items=[str(limit)])

    answer = app.resolve(_event("/broken"), {})
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["error"]["code"] == "internal_error"
    refused = app.resolve(_event("/invalid"), {})  # the caller's fault stays a 400 naming the field
    assert refused["statusCode"] == 400
    assert json.loads(refused["body"])["error"]["code"] == "invalid_request"


def _aws_error(code: str, status: int, operation: str = "Decrypt") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


def _raising(error: BaseException) -> dict[str, Any]:
    app = http.Resolver(enable_validation=True)
    http.install(app)

    @app.get("/failing")
    def failing() -> Wanted:
        raise error

    return app.resolve(_event("/failing"), {})


@pytest.mark.parametrize("error", [
    _aws_error("KMSInternalException", 500), _aws_error("ServiceUnavailable", 503),
    _aws_error("ProvisionedThroughputExceededException", 400, "GetItem"),
    _aws_error("ThrottlingException", 400, "SendMessage"), _aws_error("InternalServerError", 500, "PutItem"),
    _aws_error("RequestTimeout", 408), _aws_error("TooManyRequestsException", 429, "Invoke"),
    EndpointConnectionError(endpoint_url="https://dynamodb.ap-southeast-1.amazonaws.com"),
], ids=lambda error: type(error).__name__ + ":" + str(getattr(error, "response", {}).get("Error", {}).get("Code")))
def test_an_aws_error_that_passes_is_answered_503_with_when_to_try_again(error: Exception) -> None:
    answer = _raising(error)
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "60"
    body = json.loads(answer["body"])["error"]
    assert body["code"] == "temporarily_unavailable" and body["action"] == "Try again in a minute."


def test_an_aws_error_that_passes_behind_a_wrapper_is_found_and_any_other_stays_a_500() -> None:
    wrapped = IdempotencyPersistenceLayerError("Failed to save in progress record to idempotency store")
    wrapped.__cause__ = _aws_error("ProvisionedThroughputExceededException", 400, "PutItem")
    assert _raising(wrapped)["statusCode"] == 503
    for error in (_aws_error("AccessDeniedException", 400), _aws_error("ValidationException", 400, "UpdateItem"),
                  _aws_error("QueueDoesNotExist", 400, "SendMessage")):
        answer = _raising(error)
        assert answer["statusCode"] == 500 and json.loads(answer["body"])["error"]["code"] == "internal_error"
