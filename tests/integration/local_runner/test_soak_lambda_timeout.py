"""The soak plays Lambda's timeout in world time: an invocation whose world time passes its function's timeout is
ended at its next call (nothing after it runs, as Lambda ends it), and an HTTP one is answered as API Gateway answers
a function Lambda ended. The soak counts it in its table; it is Lambda's rule, not one of the soak's faults."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from local.api_gateway import HttpApi
from local.authorizer import DevTokenAuthority
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from local.soak.chaos import Chaos, _wrap_runtime
from local.soak.simclock import SimClock


def test_an_invocation_past_its_timeout_in_world_time_is_ended_at_its_next_call(
        aws: Provisioned, authority: DevTokenAuthority) -> None:
    # Given the functions on the world's clock, with the soak's hold on their invocations
    clock = SimClock(1_772_409_600.0)
    runtime = LambdaRuntime(aws.template, clock=clock)
    chaos = Chaos(seed=1, rate=0.2, clock=clock)
    _wrap_runtime(runtime, chaos)
    api = HttpApi(aws.template, runtime, authority)
    sent: list[str] = []

    def working(event: dict[str, Any], context: Any) -> dict[str, Any]:
        clock.advance(float(event["queryStringParameters"]["world_moves"]))  # the world moved on while it worked
        call = SimpleNamespace(url="http://ledger.local/v1/accounts", method="GET", headers={})
        chaos.http_boundary(call, lambda: sent.append(event["rawQueryString"]))  # its next call
        return {"statusCode": 200, "body": "done"}

    runtime.override("ConnectApiFunction", working)
    headers = {"Authorization": f"Bearer {authority.mint(business_id='b', user_id='u', role='Admin')}"}
    try:
        # When one request's world time stays within the connect API's 29 s, and another's passes them
        in_time = api.handle("GET", "/v1/health", headers=headers, query="world_moves=20")
        too_long = api.handle("GET", "/v1/health", headers=headers, query="world_moves=30")
    finally:
        api.stop()
        runtime.close()
    # Then the first is answered; the second is ended at its next call, which never leaves, and API Gateway answers
    assert in_time.status == 200
    assert too_long.status == 500 and too_long.json() == {"message": "Internal Server Error"}
    assert sent == ["world_moves=20"]
    # And the soak counts it at its timeout, not among its faults
    assert chaos.overran == Counter({"ConnectApiFunction": 1})
    assert chaos.longest["ConnectApiFunction"] == 30
    assert sum(chaos.counts["lambda"].values()) == 0
