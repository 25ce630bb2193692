"""The soak's virtual time: one clock for the product's functions, the emulators and SQS.

It moves when the driver moves it, and by a short wait. A thread that waits longer than ``short`` seconds (a
user waiting before trying again, a late SQS delivery, Xero's Retry-After) blocks until the driver has moved
time past its deadline; the driver moves time only when every piece of work in the world is asleep or done,
to the earliest moment anything is due. A short wait (an SDK's backoff, the rate governor waiting for a slot,
a token refresh another Lambda holds) moves time on by itself, at once, for everyone: waiting for the whole
world to be asleep would make every backoff a barrier, and a few seconds more or less of world time between
two calls changes nothing a soak looks at (it is as if those calls took that much longer). A wait costs no
real time either way.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable


class SimClock:
    def __init__(self, start: float, short: float = 2.0) -> None:
        self._now = start
        self.short = short
        self._cond = threading.Condition()
        self._deadlines: list[float] = []  # of the threads asleep now (a heap)
        self._closed = False
        self.on_sleep: list[Callable[[], None]] = []  # told when a thread falls asleep (the driver looks again)

    def time(self) -> float:
        return self._now

    @property
    def sleeping(self) -> int:
        """Threads asleep now (those the last move woke are no longer counted, even before they run)."""
        with self._cond:
            return len(self._deadlines)

    def next_wake(self) -> float | None:
        with self._cond:
            return self._deadlines[0] if self._deadlines else None

    def sleep(self, seconds: float) -> None:
        if seconds <= 0 or self._closed:
            return
        if seconds <= self.short:
            self.advance(seconds)
            return
        with self._cond:
            deadline = self._now + seconds
            heapq.heappush(self._deadlines, deadline)
            for listener in self.on_sleep:
                listener()
            while self._now < deadline and not self._closed:
                self._cond.wait(timeout=1.0)

    def advance_to(self, moment: float) -> None:
        """Move time on to ``moment`` (never back) and wake every thread whose deadline it reached."""
        with self._cond:
            self._advance_locked(moment)

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._advance_locked(self._now + seconds)

    def _advance_locked(self, moment: float) -> None:
        self._now = max(self._now, moment)
        while self._deadlines and self._deadlines[0] <= self._now:
            heapq.heappop(self._deadlines)
        self._cond.notify_all()

    def set(self, epoch_seconds: float) -> None:
        self.advance_to(epoch_seconds)

    def close(self) -> None:
        """Wake every sleeper for good (the run is over)."""
        with self._cond:
            self._closed = True
            self._deadlines.clear()
            self._cond.notify_all()
