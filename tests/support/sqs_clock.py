"""SQS's own clock in moto, moved on by the test instead of waited out.

A message that failed comes back after its visibility timeout, a 429's message after the Retry-After the
worker set: moto times both with the clock of its SQS model. A test that needs the message back moves that
clock forward (``sqs_clock.advance(seconds)``) where it would otherwise sleep: the queue's semantics are the
same, the wall-clock wait is gone. Only SQS's clock moves: the functions' own clocks and Xero's are the real ones
(or the test's clock helpers).
"""

from __future__ import annotations

import datetime

import moto.sqs.models as sqs_models
import pytest
from moto.core.utils import unix_time as _real_unix_time


class SqsClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        """As if ``seconds`` passed for every message's visibility and delay (never backwards)."""
        assert seconds >= 0, "SQS's clock only moves forward"
        self.offset += seconds

    def unix_time(self, dt: datetime.datetime | None = None) -> float:
        return _real_unix_time(dt) if dt is not None else _real_unix_time() + self.offset

    def unix_time_millis(self, dt: datetime.datetime | None = None) -> float:
        return self.unix_time(dt) * 1000.0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> SqsClock:
        monkeypatch.setattr(sqs_models, "unix_time", self.unix_time)
        monkeypatch.setattr(sqs_models, "unix_time_millis", self.unix_time_millis)
        return self
