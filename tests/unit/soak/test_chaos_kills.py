"""A message whose invocation the soak killed is explained by the kill (as Lambda's own log would explain it: the
product can log nothing then), until a later delivery's WARNING says otherwise."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from local.soak.chaos import Chaos, InvocationKilled, LambdaDied, _wrap_runtime
from local.soak.simclock import SimClock


class _Runtime:
    def __init__(self) -> None:
        self.functions = {"Worker": SimpleNamespace(timeout=60)}
        self.kill = True

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        if self.kill:
            raise InvocationKilled("killed at its timeout, at call 3")
        return {"batchItemFailures": []}


def test_the_messages_of_a_killed_invocation_last_failed_by_the_kill() -> None:
    chaos = Chaos(seed=1, rate=0.2, clock=SimClock(1_770_000_000.0))
    reasons = {"m-2": "ValueError: an earlier delivery's reason"}
    chaos.failure_reasons = reasons
    runtime = _Runtime()
    _wrap_runtime(runtime, chaos)  # type: ignore[arg-type]
    event = {"Records": [{"messageId": "m-1", "body": "{}"}, {"messageId": "m-2", "body": "{}"}]}
    with pytest.raises(LambdaDied):
        runtime.invoke("Worker", event)
    assert reasons == {"m-1": "LambdaDied: killed at its timeout, at call 3",
                       "m-2": "LambdaDied: killed at its timeout, at call 3"}
    runtime.kill = False
    runtime.invoke("Worker", event)  # a delivery that ends well leaves the record as it was
    assert reasons["m-1"].startswith("LambdaDied")
