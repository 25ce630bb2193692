"""Dead letters the soak would make itself: a message whose invocation the chaos killed is explained by the kill
(as Lambda's own log would explain it: the product can log nothing then), until a later delivery's WARNING says
otherwise; and a duplicate delivery (SQS's at-least-once) never leaves a handled message to be dead-lettered."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from local.soak.chaos import Chaos, InvocationKilled, LambdaDied, _Delivery, _wrap_runtime
from local.soak.simclock import SimClock


class _Runtime:
    def __init__(self) -> None:
        self.functions = {"Worker": SimpleNamespace(timeout=60)}
        self.kill = True
        self.listeners: list[Any] = []

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


def test_a_duplicate_delivery_never_drives_a_handled_message_into_the_dead_letter_queue() -> None:
    chaos = Chaos(seed=1, rate=0.2, clock=SimClock(1_770_000_000.0))
    chaos.armed = True
    chaos.max_receives = {"LedgerEventsQueue": 5}
    chaos._roll = lambda *identity: 0.0  # type: ignore[method-assign]  # every delivery meets the fault
    mapping = SimpleNamespace(source=SimpleNamespace(queue="LedgerEventsQueue", function="LedgerEvents"))

    def again(receives: int) -> bool:
        return _Delivery(chaos).deliver_again(mapping, {"Body": "{}", "Attributes": {
            "ApproximateReceiveCount": str(receives)}})

    assert [again(n) for n in range(1, 7)] == [True, True, True, True, False, False]
