"""An HTTP request answers within its time (xerosync.deadline, docs/http-api.md "Time"): API Gateway gives up after
30 seconds and Lambda ends the function at its timeout (29 s), so a request that waits on Xero or retries AWS
past that leaves the user with API Gateway's 500 and nothing of the product's own. The functions run on a manual
clock here: Xero's read timeouts and the SDK's backoffs pass on it, as they would pass in Lambda, and the runner
reports an invocation that ran past its function's timeout as Lambda does (failed: the HTTP API answers 500)."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.endpoint
import pytest
import requests
import requests.adapters
from botocore.awsrequest import AWSResponse

from emulators.ledger import LedgerEmulator
from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from local.lambda_runtime import LambdaRuntime, acting_as
from local.provision import Provisioned
from tests.support.connect_api import Api
from tests.support.connect_steps import business_with_accounts, connected_to_xero, linked_business
from xerosync import aws as product_aws
from xerosync.settings import get_settings

API_TIMEOUT_SECONDS = 29  # template.yaml, Globals: the HTTP functions' timeout


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def runtime(aws: Provisioned, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaRuntime]:
    """The functions on ``clock``; the SDK's backoff between retries passes on it too."""
    shim = types.SimpleNamespace(**{name: getattr(botocore.endpoint.time, name)
                                    for name in dir(botocore.endpoint.time) if not name.startswith("_")})
    shim.sleep = clock.sleep
    monkeypatch.setattr(botocore.endpoint, "time", shim)
    runtime = LambdaRuntime(aws.template, clock=clock)
    yield runtime
    runtime.close()


@contextmanager
def xero_holds_its_answers(xero: XeroEmulator, clock: ManualClock) -> Iterator[list[float]]:
    """Xero takes every request and never answers: each of the product's calls ends at its read timeout, that long
    later on the functions' clock. Yields the read timeouts waited out, one per request sent."""
    send = requests.adapters.HTTPAdapter.send
    waited: list[float] = []

    def holding(adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, *args: Any,
                **kwargs: Any) -> requests.Response:
        if not str(request.url).startswith(str(xero.base_url)):
            return send(adapter, request, *args, **kwargs)
        timeout = kwargs.get("timeout")
        read = float(timeout[1] if isinstance(timeout, tuple) else timeout or 0)
        waited.append(read)
        clock.advance(read)
        raise requests.ReadTimeout(f"Read timed out. (read timeout={read})", request=request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.adapters.HTTPAdapter, "send", holding)
        yield waited


def _took(runtime: LambdaRuntime) -> float:
    """The last invocation's time on the functions' clock."""
    return runtime.invocations[-1].seconds


def test_the_xero_page_answers_in_time_while_xero_holds_its_answers(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, clock: ManualClock, runtime: LambdaRuntime) -> None:
    # Given a linked business whose connection is due to be confirmed with Xero when someone looks
    fiona, _, account, _ = linked_business(api, xero, ledger)
    xero.settle_pending()
    assert fiona.call("GET", "/v1/xero/connection").status == 200
    clock.advance(301)
    # When Fiona opens the Xero page while Xero takes requests and never answers
    with xero_holds_its_answers(xero, clock) as waited:
        page = fiona.call("GET", "/v1/xero/connection")
    # Then the page answers before Lambda's timeout, as stored (a confirmation Xero cannot give leaves it), having
    # waited for Xero only as long as the request could: once, not once per retry (4 x 25 s)
    assert page.status == 200, page.body
    assert page.json()["connection"]["status"] == "ACTIVE"
    assert [a["account_id"] for a in page.json()["accounts"] if a["link"]] == [account]
    assert _took(runtime) <= API_TIMEOUT_SECONDS
    assert len(waited) == 1 and waited[0] <= API_TIMEOUT_SECONDS


def test_a_link_while_xero_holds_its_answers_is_answered_in_time_with_when_to_try_again(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, clock: ManualClock, runtime: LambdaRuntime) -> None:
    # Given a connected business with an account not linked yet
    business_id, accounts = business_with_accounts(ledger, "HKD")
    fiona, _ = connected_to_xero(api, xero, business_id)
    # When Fiona links it to a new Xero bank account while Xero takes requests and never answers
    with xero_holds_its_answers(xero, clock):
        answer = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed",
                            {"new_account": {"name": "HKD Operating", "number": "42"}})
    # Then the product answers before Lambda's timeout, saying Xero did not answer and when to try again
    assert answer.status == 503, answer.body
    assert _took(runtime) <= API_TIMEOUT_SECONDS
    assert answer.headers["retry-after"] == "60"
    assert answer.json()["error"] == {"code": "temporarily_unavailable", "action": "Try again in a minute.",
                                      "message": "Xero did not answer in time, so the request could not be completed."}
    # And once Xero answers again, the same request links the account
    again = fiona.call("PUT", f"/v1/bank-accounts/{accounts['HKD']}/feed",
                       {"new_account": {"name": "HKD Operating", "number": "42"}})
    assert again.status == 200, again.body


def _aws_fails(code: str, status: int) -> Any:
    def fail(request: Any, **_: Any) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}).encode()
        return AWSResponse(request.url, status, {"content-type": "application/x-amz-json-1.0"}, _Raw(body))
    return fail


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.mark.parametrize(("code", "status"), [("InternalServerError", 500),
                                              ("ProvisionedThroughputExceededException", 400)])
def test_a_dynamodb_error_that_outlasts_the_sdks_retries_is_answered_503_with_when_to_try_again(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, clock: ManualClock, runtime: LambdaRuntime,
        code: str, status: int) -> None:
    # Given a connected business
    business_id, _ = business_with_accounts(ledger, "HKD")
    fiona, _ = connected_to_xero(api, xero, business_id)
    # When DynamoDB answers every read of the connect API with a passing error, through all the SDK's attempts
    with acting_as("ConnectApiFunction"):  # the API's own client, as it runs
        events = product_aws.table(get_settings().main_table_name).meta.client.meta.events
    events.register_first("before-send.dynamodb.GetItem", _aws_fails(code, status), unique_id="test-fails")
    try:
        answer = fiona.call("GET", "/v1/xero/connection")
    finally:
        events.unregister("before-send.dynamodb.GetItem", unique_id="test-fails")
    # Then Fiona is told to try again in a minute, not that something is broken; and it works when she does
    assert answer.status == 503, answer.body
    assert answer.headers["retry-after"] == "60"
    assert answer.json()["error"]["code"] == "temporarily_unavailable"
    assert answer.json()["error"]["action"] == "Try again in a minute."
    assert fiona.call("GET", "/v1/xero/connection").status == 200
