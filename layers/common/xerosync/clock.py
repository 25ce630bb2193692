"""Time as a dependency, so that rate windows, token expiry and leases can be tested without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


_process_clock: Clock = SystemClock()


def process_clock() -> Clock:
    """The clock this execution environment runs on: real time in Lambda. The local runner may hand in another
    (the soak's virtual clock, which the emulators share) with ``use_process_clock`` before it invokes anything;
    everything that is not handed a clock of its own reads this one."""
    return _process_clock


def use_process_clock(clock: Clock | None) -> None:
    """Run this process on ``clock`` (None: real time again)."""
    global _process_clock
    _process_clock = clock if clock is not None else SystemClock()


def utc_now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), tz=UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the form every API of the product uses."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def from_iso(text: str) -> datetime:
    """The moment an ``iso`` string names (also accepts an explicit offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
