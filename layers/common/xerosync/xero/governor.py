"""The tenant rate governor: Xero's limits, shared by every function and every business on an organisation.

Xero's limits per organisation (tenant) and app [FAQ-Limits]: 5 calls in flight, 60 calls per minute,
5,000 per day; 10,000 calls per minute per app across all organisations. One item per tenant in the main
table holds what every Lambda needs to agree on:

- ``calls``: the times of the calls of the last 60 s (an exact sliding window: never 61 in any minute);
- ``hours``/``general``: calls per hour over the last 24 h, all and those not for bank feeds, so that part
  of the day's budget stays reserved for statements (auto-sync must not starve behind a bulk expense sync);
- ``leases``: calls in flight, each expiring on its own so that a crashed Lambda cannot hold a slot;
- ``blocked_until``: set when Xero answers 429, so every Lambda honours ``Retry-After``.

Updates are optimistic (a version number, conditional writes). The app-wide limit is an atomic counter
per minute. Xero's ``X-MinLimit-Remaining`` and ``X-DayLimit-Remaining`` headers are folded in after each
call: when Xero has counted more than the governor did, the governor adopts Xero's count.

A wait shorter than ``max_wait_seconds`` is slept; a longer one raises ``XeroRateLimited`` with the wait,
so a queue consumer returns its message for that long instead of sleeping through its budget.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from xerosync.clock import Clock, SystemClock
from xerosync.xero.errors import XeroRateLimited

FEEDS = "feeds"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Limits:
    in_flight: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10_000
    feeds_reserved_per_day: int = 1000
    lease_seconds: float = 60.0
    max_wait_seconds: float = 2.0
    poll_seconds: float = 0.05


@dataclass
class TenantState:
    calls: list[int] = field(default_factory=list)
    hours: dict[str, int] = field(default_factory=dict)
    general: dict[str, int] = field(default_factory=dict)
    leases: dict[str, int] = field(default_factory=dict)
    blocked_until: int = 0
    blocked_problem: str = ""

    def prune(self, now_ms: int) -> None:
        self.calls = [t for t in self.calls if t > now_ms - MINUTE_MS]
        oldest_hour = (now_ms - DAY_MS) // HOUR_MS * HOUR_MS  # keep the partly expired hour: conservative
        self.hours = {h: n for h, n in self.hours.items() if int(h) >= oldest_hour}
        self.general = {h: n for h, n in self.general.items() if int(h) >= oldest_hour}
        self.leases = {lease: until for lease, until in self.leases.items() if until > now_ms}

    def day_total(self, general_only: bool = False) -> int:
        return sum((self.general if general_only else self.hours).values())

    def add_call(self, now_ms: int, purpose: str, count: int = 1) -> None:
        hour = str(now_ms // HOUR_MS * HOUR_MS)
        self.calls.extend([now_ms] * count)
        self.hours[hour] = self.hours.get(hour, 0) + count
        if purpose != FEEDS:
            self.general[hour] = self.general.get(hour, 0) + count

    def to_item(self) -> dict[str, Any]:
        return {"calls": self.calls, "hours": self.hours, "general": self.general, "leases": self.leases,
                "blocked_until": self.blocked_until, "blocked_problem": self.blocked_problem}

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> TenantState:
        if not item:
            return cls()
        return cls(
            calls=[int(t) for t in item.get("calls", [])],
            hours={str(h): int(n) for h, n in item.get("hours", {}).items()},
            general={str(h): int(n) for h, n in item.get("general", {}).items()},
            leases={str(k): int(v) for k, v in item.get("leases", {}).items()},
            blocked_until=int(item.get("blocked_until", 0)),
            blocked_problem=str(item.get("blocked_problem", "")),
        )


class GovernorStore(Protocol):
    def load(self, tenant_id: str) -> tuple[TenantState, int]:
        """The tenant's state and its version (0 when there is none yet)."""
        ...

    def save(self, tenant_id: str, state: TenantState, expected_version: int) -> bool:
        """Write if the version is still ``expected_version``; False when another writer won."""
        ...

    def count_app_call(self, minute: int, limit: int) -> bool:
        """Count one call in the app's minute ``minute``; False when the minute is already full."""
        ...


class TenantRateGovernor:
    def __init__(self, store: GovernorStore, limits: Limits | None = None, clock: Clock | None = None) -> None:
        self.store = store
        self.limits = limits or Limits()
        self.clock = clock or SystemClock()

    def _now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    # ------------------------------------------------------------------ before a call
    def acquire(self, tenant_id: str, purpose: str = "general") -> str:
        """Wait for (or refuse) a slot for one call to ``tenant_id``; returns the lease to release."""
        limits = self.limits
        deadline = self._now_ms() + int(limits.max_wait_seconds * 1000)
        app_counted_minute: int | None = None
        while True:
            state, version = self.store.load(tenant_id)
            now = self._now_ms()
            state.prune(now)
            wait_ms, problem = self._wait(state, now, purpose)
            if wait_ms == 0 and app_counted_minute != now // MINUTE_MS:
                if not self.store.count_app_call(now // MINUTE_MS, limits.app_per_minute):
                    wait_ms, problem = MINUTE_MS - now % MINUTE_MS, "appminute"
                else:
                    app_counted_minute = now // MINUTE_MS
            if wait_ms == 0:
                lease = uuid.uuid4().hex[:12]
                state.add_call(now, purpose)
                state.leases[lease] = now + int(limits.lease_seconds * 1000)
                if self.store.save(tenant_id, state, version):
                    return lease
                self.clock.sleep(random.uniform(0.005, 0.03))  # another Lambda won the write: read again
                continue
            if now + wait_ms > deadline:
                raise XeroRateLimited(
                    f"The organisation's Xero {problem} limit is used up for now",
                    status=429, retry_after=max(1.0, wait_ms / 1000), problem=problem)
            self.clock.sleep(min(wait_ms, deadline - now) / 1000)

    def _wait(self, state: TenantState, now: int, purpose: str) -> tuple[int, str]:
        limits = self.limits
        if state.blocked_until > now:
            return state.blocked_until - now, state.blocked_problem or "minute"
        day_limit = limits.per_day if purpose == FEEDS else limits.per_day - limits.feeds_reserved_per_day
        if state.day_total() >= limits.per_day or (purpose != FEEDS and state.day_total(True) >= day_limit):
            buckets = state.hours if purpose == FEEDS else state.general
            oldest = min(int(h) for h in buckets) if buckets else now
            return max(1, oldest + DAY_MS + HOUR_MS - now), "day"
        if len(state.calls) >= limits.per_minute:
            return max(1, state.calls[-limits.per_minute] + MINUTE_MS - now), "minute"
        if len(state.leases) >= limits.in_flight:
            return max(1, int(limits.poll_seconds * 1000)), "concurrent"
        return 0, ""

    # ------------------------------------------------------------------ after a call
    def release(self, tenant_id: str, lease: str, headers: Mapping[str, str] | None) -> None:
        # Losing this race 20 times only delays others: the lease expires by itself after lease_seconds.
        for _ in range(20):
            state, version = self.store.load(tenant_id)
            now = self._now_ms()
            state.prune(now)
            state.leases.pop(lease, None)
            if headers is not None:
                self._adopt_xeros_count(state, now, headers)
            if self.store.save(tenant_id, state, version):
                return
            self.clock.sleep(random.uniform(0.005, 0.03))

    def _adopt_xeros_count(self, state: TenantState, now: int, headers: Mapping[str, str]) -> None:
        minute_left = _int(headers.get("X-MinLimit-Remaining"))
        if minute_left is not None:
            missing = (self.limits.per_minute - minute_left) - len(state.calls)
            if missing > 0:
                state.calls.extend([now] * missing)
        day_left = _int(headers.get("X-DayLimit-Remaining"))
        if day_left is not None:
            missing = (self.limits.per_day - day_left) - state.day_total()
            if missing > 0:
                hour = str(now // HOUR_MS * HOUR_MS)
                state.hours[hour] = state.hours.get(hour, 0) + missing

    def throttled(self, tenant_id: str, retry_after: float, problem: str) -> None:
        """Xero answered 429: every caller for this tenant waits ``retry_after`` seconds."""
        for _ in range(20):
            state, version = self.store.load(tenant_id)
            now = self._now_ms()
            until = now + int(retry_after * 1000)
            if state.blocked_until >= until:
                return
            state.prune(now)
            state.blocked_until, state.blocked_problem = until, problem
            if self.store.save(tenant_id, state, version):
                return
            self.clock.sleep(random.uniform(0.005, 0.03))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class MemoryGovernorStore:
    """The store in memory, for unit tests and single-process tools."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[dict[str, Any], int]] = {}
        self._app: dict[int, int] = {}
        self._lock = threading.Lock()

    def load(self, tenant_id: str) -> tuple[TenantState, int]:
        with self._lock:
            item, version = self._items.get(tenant_id, ({}, 0))
            return TenantState.from_item(item), version

    def save(self, tenant_id: str, state: TenantState, expected_version: int) -> bool:
        with self._lock:
            _, version = self._items.get(tenant_id, ({}, 0))
            if version != expected_version:
                return False
            self._items[tenant_id] = (state.to_item(), version + 1)
            return True

    def count_app_call(self, minute: int, limit: int) -> bool:
        with self._lock:
            if self._app.get(minute, 0) >= limit:
                return False
            self._app[minute] = self._app.get(minute, 0) + 1
            return True
