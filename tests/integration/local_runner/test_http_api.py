"""The local HTTP API: the template's routes behind the JWT authorizer, events in payload format 2.0."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from emulators.time_control import ManualClock
from local.api_gateway import HttpApi
from local.authorizer import LOCAL_AUDIENCE, LOCAL_ISSUER, DevTokenAuthority
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_finance_token_reaches_the_handler_with_its_claims(gateway: HttpApi, authority: DevTokenAuthority) -> None:
    # Given a Finance user's token
    token = authority.mint(business_id="biz_42", user_id="u_fiona", role="Finance")
    # When the health route is called through the gateway
    response = gateway.handle("GET", "/v1/health", headers=_bearer(token))
    # Then the handler saw the business, user and role from the token, and read DynamoDB
    assert response.status == 200
    body = response.json()
    assert body["business_id"] == "biz_42" and body["user_id"] == "u_fiona" and body["role"] == "Finance"
    assert body["can_manage_accounting"] is True
    assert body["xero_connection"] == "NOT_CONNECTED"


def test_claims_arrive_as_api_gateway_passes_them(
    gateway: HttpApi, runtime: LambdaRuntime, authority: DevTokenAuthority
) -> None:
    seen: list[dict[str, Any]] = []
    runtime.override("ConnectApiFunction", lambda event, ctx: seen.append(event) or {"statusCode": 204})
    token = authority.mint(business_id="biz_1", user_id="u_1", role="Admin", extra={"groups": ["a", "b"]})
    headers = {**_bearer(token), "Content-Type": "application/json"}
    response = gateway.handle("PUT", "/v1/bank-accounts/acc_9/feed", headers=headers, body='{"x":1}', query="a=1&a=2")
    assert response.status == 204
    event = seen[0]
    assert event["version"] == "2.0" and event["routeKey"] == "PUT /v1/bank-accounts/{account_id}/feed"
    assert event["pathParameters"] == {"account_id": "acc_9"}
    assert event["queryStringParameters"] == {"a": "1,2"}
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["business_id"] == "biz_1" and claims["groups"] == "[a b]"
    assert isinstance(claims["exp"], str)
    assert event["body"] == '{"x":1}' and event["isBase64Encoded"] is False


def test_a_binary_body_arrives_base64_encoded(
    gateway: HttpApi, runtime: LambdaRuntime, authority: DevTokenAuthority
) -> None:
    seen: list[dict[str, Any]] = []
    runtime.override("ConnectApiFunction", lambda event, ctx: seen.append(event) or {"statusCode": 204})
    headers = {**_bearer(authority.mint(business_id="b", user_id="u", role="Admin")), "Content-Type": "application/pdf"}
    gateway.handle("PUT", "/v1/bank-accounts/acc_9/feed", headers=headers, body=b"%PDF-1.7")
    assert seen[0]["isBase64Encoded"] is True and seen[0]["body"] == "JVBERi0xLjc="


@pytest.mark.parametrize(
    "case", ["missing", "not bearer", "expired", "bad signature", "wrong audience", "wrong issuer", "garbage"]
)
def test_requests_without_a_valid_token_get_401_and_never_reach_a_function(
    case: str, gateway: HttpApi, runtime: LambdaRuntime, authority: DevTokenAuthority
) -> None:
    reached: list[Any] = []
    runtime.override("ConnectApiFunction", lambda event, ctx: reached.append(event))
    stranger = DevTokenAuthority(key_path=None)  # a different signing key
    now = time.time()
    headers = {
        "missing": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "expired": _bearer(authority.mint(business_id="b", user_id="u", role="Admin", ttl_seconds=60, now=now - 120)),
        "bad signature": _bearer(stranger.mint(business_id="b", user_id="u", role="Admin")),
        "wrong audience": _bearer(
            DevTokenAuthority(audience="other-app", key_path=None).mint(business_id="b", user_id="u", role="Admin")
        ),
        "wrong issuer": _bearer(
            DevTokenAuthority(issuer="https://evil.example/", key_path=None).mint(
                business_id="b", user_id="u", role="Admin"
            )
        ),
        "garbage": _bearer("not.a.jwt"),
    }[case]
    response = gateway.handle("GET", "/v1/health", headers=headers)
    assert response.status == 401
    assert response.json() == {"message": "Unauthorized"}
    assert reached == []


def test_tampered_claims_are_refused(gateway: HttpApi, authority: DevTokenAuthority) -> None:
    # A token whose business was changed after signing must not pass as another business.
    token = authority.mint(business_id="biz_a", user_id="u", role="Finance")
    header, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b"biz_a", b"biz_b")
    ).decode()
    response = gateway.handle("GET", "/v1/health", headers=_bearer(f"{header}.{forged_payload}.{signature}"))
    assert response.status == 401


def test_unknown_route_and_wrong_method_are_404_before_authorization(gateway: HttpApi) -> None:
    assert gateway.handle("GET", "/v1/nothing-here").status == 404
    assert gateway.handle("PATCH", "/v1/health").status == 404


def test_a_handler_crash_is_a_500_without_details(
    gateway: HttpApi, runtime: LambdaRuntime, authority: DevTokenAuthority
) -> None:
    def crash(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("secret internals")

    runtime.override("ConnectApiFunction", crash)
    response = gateway.handle(
        "GET", "/v1/health", headers=_bearer(authority.mint(business_id="b", user_id="u", role="Admin"))
    )
    assert response.status == 500 and b"secret internals" not in response.body


def test_the_product_maps_its_own_errors_to_json_with_a_correlation_id(
    gateway: HttpApi, authority: DevTokenAuthority
) -> None:
    token = authority.mint(business_id="b_never_connected", user_id="u", role="Finance")
    response = gateway.handle("GET", "/v1/xero/bank-accounts", headers=_bearer(token))
    body = response.json()
    assert response.status == 409 and body["error"]["code"] == "not_connected"
    assert body["error"]["message"] and body["error"]["action"] and body["correlation_id"]


def test_local_issuer_and_audience_come_from_the_template(gateway: HttpApi) -> None:
    assert gateway.authority.issuer == LOCAL_ISSUER and gateway.authority.audiences == [LOCAL_AUDIENCE]


def test_a_request_past_its_functions_timeout_is_answered_as_api_gateway_answers_a_function_lambda_ended(
    aws: Provisioned, authority: DevTokenAuthority
) -> None:
    # Given the functions on a clock of their own, and a handler whose work takes longer than its timeout (29 s)
    clock = ManualClock(start=1_772_409_600.0)
    runtime = LambdaRuntime(aws.template, clock=clock)
    api = HttpApi(aws.template, runtime, authority)
    left: list[int] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        left.append(context.get_remaining_time_in_millis())
        clock.advance(float(event["queryStringParameters"]["takes"]))
        left.append(context.get_remaining_time_in_millis())
        return {"statusCode": 200, "body": "done"}

    runtime.override("ConnectApiFunction", slow)
    headers = _bearer(authority.mint(business_id="b", user_id="u", role="Admin"))
    try:
        # When a request takes 28 s of the functions' time, and another 30 s
        in_time = api.handle("GET", "/v1/health", headers=headers, query="takes=28")
        too_long = api.handle("GET", "/v1/health", headers=headers, query="takes=30")
    finally:
        api.stop()
        runtime.close()
    # Then the first is answered; the second was ended by Lambda, and API Gateway answers its own 500
    assert in_time.status == 200 and in_time.body == b"done"
    assert too_long.status == 500 and too_long.json() == {"message": "Internal Server Error"}
    # And the context counted the time on the functions' clock
    assert left == [29_000, 1_000, 29_000, 0]
