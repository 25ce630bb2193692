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


def utc_now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), tz=UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the form every API of the product uses."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def from_iso(text: str) -> datetime:
    """The moment an ``iso`` string names (also accepts an explicit offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
