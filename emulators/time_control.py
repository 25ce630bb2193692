"""The clocks a test, a benchmark or the local runner controls time with, handing one to the product and the
emulators alike, so that time can stand still, jump, or run faster than real time.

Each clock offers ``time()`` (epoch seconds, float) and ``sleep(seconds)``, the same shape as the product's
``xerosync.clock.Clock`` protocol, so one clock object can drive both sides of a test.
"""

from __future__ import annotations

import threading
import time as _time


class SystemClock:
    """Real time."""

    def time(self) -> float:
        return _time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)


class ManualClock:
    """Virtual time that moves only when told to; ``sleep`` advances it instead of blocking."""

    def __init__(self, start: float | None = None) -> None:
        self._now = _time.time() if start is None else start
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, epoch_seconds: float) -> None:
        with self._lock:
            self._now = epoch_seconds


class ScaledClock:
    """Real time multiplied by ``factor`` from the moment of creation (``factor=60``: a minute per second).

    ``advance`` jumps ahead without waiting, for tests that need to cross a day boundary.
    """

    def __init__(self, factor: float, start: float | None = None) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self._origin_real = _time.monotonic()
        self._origin = _time.time() if start is None else start
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._origin + self._offset + (_time.monotonic() - self._origin_real) * self.factor

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds / self.factor)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


class OffsetClock:
    """Another clock, ``seconds`` ahead: what a later request sees (its ``sleep`` is the other clock's)."""

    def __init__(self, clock: object, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def time(self) -> float:
        return float(self.clock.time()) + self.seconds  # type: ignore[attr-defined]

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)  # type: ignore[attr-defined]
