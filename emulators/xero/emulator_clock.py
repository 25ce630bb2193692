"""The emulator's view of time: any clock with ``time()`` plus the ability to move it from tests."""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def time(self) -> float: ...


@runtime_checkable
class _Advanceable(Protocol):
    def advance(self, seconds: float) -> None: ...


@runtime_checkable
class _Settable(Protocol):
    def set(self, epoch_seconds: float) -> None: ...


class EmulatorClock:
    """Wraps the clock handed in. Moving time moves that clock when it can be moved (``ManualClock``,
    ``ScaledClock``), so a test and the product that share it agree; otherwise an offset is kept here."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            offset = self._offset
        return self.base.time() + offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        if isinstance(self.base, _Advanceable):
            self.base.advance(seconds)
            return
        with self._lock:
            self._offset += seconds

    def set(self, epoch_seconds: float) -> None:
        if isinstance(self.base, _Settable):
            self.base.set(epoch_seconds)
            return
        with self._lock:
            self._offset = epoch_seconds - self.base.time()

    def reset(self) -> None:
        """No offset of its own any more (a clock handed in is the caller's: it is not moved back)."""
        with self._lock:
            self._offset = 0.0
