"""The tenant rate governor: Xero's limits, shared by every function and every business on an organisation,
in fair shares between the businesses (docs/architecture.md, "Talking to Xero").

Xero's limits per organisation (tenant) and app [FAQ-Limits]: 5 calls in flight, 60 calls per minute,
5,000 per day; 10,000 calls per minute per app across all organisations. One item per tenant in the main
table holds what every Lambda needs to agree on:

- ``calls`` (with ``tags``, the business and purpose of each): the calls of the last 60 s (an exact sliding
  window: never 61 in any minute);
- ``hours``/``general``: calls per hour over the last 24 h, all and those not for bank feeds, so that part
  of the day's budget stays reserved for statements (auto-sync must not starve behind a bulk expense sync);
  ``business_general``/``business_interactive``: the same per business;
- ``leases`` (with ``lease_owners``): calls in flight, each expiring on its own so that a crashed Lambda
  cannot hold a slot;
- ``waiting``: the businesses refused a slot in the last moments, so that the others leave them their share;
- ``blocked_until``: set when Xero answers 429, so every Lambda honours ``Retry-After``.

Fair shares: several businesses may feed one organisation (a parent company's entities). While more than one
is active (called this minute, or is waiting), each has a fair share of the minute and of the calls in flight,
and, among those active in the last hour, of the day's general budget. A business may go beyond its share only
while what is left still covers the others' unused shares (so a business alone uses the whole budget, and a
sibling arriving finds its share free). Calls made for a user's request (``INTERACTIVE``) are capped per
business besides, so that a user reloading a page cannot spend the organisation's budget.

Updates are optimistic (a version number, conditional writes). The app-wide limit is an atomic counter
per minute. Xero's ``X-MinLimit-Remaining`` and ``X-DayLimit-Remaining`` headers are folded in after each
call: when Xero has counted more than the governor did, the governor adopts Xero's count.

A wait shorter than ``max_wait_seconds`` is slept; a longer one raises ``XeroRateLimited`` with the wait,
so a queue consumer returns its message for that long, and an HTTP route answers 429 with ``Retry-After``. An
HTTP request waits no longer than its own time allows (``xerosync.deadline``).
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from xerosync.clock import Clock, process_clock
from xerosync.deadline import XERO_CALL_SECONDS
from xerosync.deadline import left as time_left
from xerosync.xero.errors import XeroRateLimited
from xerosync.xero.purposes import FEEDS, GENERAL, INTERACTIVE

__all__ = ["FEEDS", "GENERAL", "INTERACTIVE", "Limits", "MemoryGovernorStore", "TenantRateGovernor", "TenantState"]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


class Limits(NamedTuple):  # not a frozen dataclass: its class builds 7x faster (docs/architecture.md)
    in_flight: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10_000
    feeds_reserved_per_day: int = 1000
    # One business's calls for its users' requests (caches make a page cost Xero nothing most of the time).
    interactive_per_minute: int = 30  # half the organisation's minute: a page with a refresh and a few links
    interactive_per_day: int = 1000
    waiting_grace_seconds: float = 10.0  # a refused business counts as waiting this long after its wait
    lease_seconds: float = 60.0
    max_wait_seconds: float = 2.0
    poll_seconds: float = 0.05

    @property
    def general_per_day(self) -> int:
        return self.per_day - self.feeds_reserved_per_day


def _tag(business_id: str | None, purpose: str) -> str:
    return f"{business_id or ''}|{purpose}"


def _owner(tag: str) -> str:
    return tag.split("|", 1)[0]


def _hour(now_ms: int) -> str:
    return str(now_ms // HOUR_MS * HOUR_MS)


class TenantState:
    # A plain class: a dataclass compiles its methods when the module is imported, at every cold start
    # (docs/architecture.md, "Cold start").
    def __init__(self, *, calls: list[int] | None = None, tags: list[str] | None = None,
                 hours: dict[str, int] | None = None, general: dict[str, int] | None = None,
                 business_general: dict[str, dict[str, int]] | None = None,
                 business_interactive: dict[str, dict[str, int]] | None = None, leases: dict[str, int] | None = None,
                 lease_owners: dict[str, str] | None = None, waiting: dict[str, int] | None = None,
                 blocked_until: int = 0, blocked_problem: str = "") -> None:
        self.calls: list[int] = [] if calls is None else calls
        self.tags: list[str] = [] if tags is None else tags  # "business|purpose" of each call, in step with ``calls``
        self.hours: dict[str, int] = {} if hours is None else hours
        self.general: dict[str, int] = {} if general is None else general
        self.business_general: dict[str, dict[str, int]] = {} if business_general is None else business_general
        self.business_interactive: dict[str, dict[str, int]] = (
            {} if business_interactive is None else business_interactive)
        self.leases: dict[str, int] = {} if leases is None else leases
        self.lease_owners: dict[str, str] = {} if lease_owners is None else lease_owners
        self.waiting: dict[str, int] = {} if waiting is None else waiting
        self.blocked_until = blocked_until
        self.blocked_problem = blocked_problem

    def prune(self, now_ms: int) -> None:
        kept = [(t, tag) for t, tag in zip(self.calls, self.tags, strict=True) if t > now_ms - MINUTE_MS]
        self.calls, self.tags = [t for t, _ in kept], [tag for _, tag in kept]
        oldest_hour = (now_ms - DAY_MS) // HOUR_MS * HOUR_MS  # keep the partly expired hour: conservative
        self.hours = {h: n for h, n in self.hours.items() if int(h) >= oldest_hour}
        self.general = {h: n for h, n in self.general.items() if int(h) >= oldest_hour}
        for per_business in (self.business_general, self.business_interactive):
            for business in list(per_business):
                kept_hours = {h: n for h, n in per_business[business].items() if int(h) >= oldest_hour}
                if kept_hours:
                    per_business[business] = kept_hours
                else:
                    del per_business[business]
        self.leases = {lease: until for lease, until in self.leases.items() if until > now_ms}
        self.lease_owners = {lease: b for lease, b in self.lease_owners.items() if lease in self.leases}
        self.waiting = {b: until for b, until in self.waiting.items() if until > now_ms}

    def day_total(self, general_only: bool = False) -> int:
        return sum((self.general if general_only else self.hours).values())

    def feeds_day(self) -> int:
        """Calls for bank feeds in the last 24 h (what the fast lane weighs against ``feeds_reserved_per_day``)."""
        return self.day_total() - self.day_total(True)

    def add_call(self, now_ms: int, purpose: str, count: int = 1, business_id: str | None = None) -> None:
        hour = _hour(now_ms)
        self.calls.extend([now_ms] * count)
        self.tags.extend([_tag(business_id, purpose)] * count)
        self.hours[hour] = self.hours.get(hour, 0) + count
        if purpose != FEEDS:
            self.general[hour] = self.general.get(hour, 0) + count
            if business_id:
                mine = self.business_general.setdefault(business_id, {})
                mine[hour] = mine.get(hour, 0) + count
        if purpose == INTERACTIVE and business_id:
            mine = self.business_interactive.setdefault(business_id, {})
            mine[hour] = mine.get(hour, 0) + count

    # ------------------------------------------------------------------ per business
    def minute_by_business(self) -> Counter[str]:
        return Counter(owner for owner in map(_owner, self.tags) if owner)

    def interactive_this_minute(self, business_id: str) -> list[int]:
        return [t for t, tag in zip(self.calls, self.tags, strict=True) if tag == _tag(business_id, INTERACTIVE)]

    def general_day(self, business_id: str) -> int:
        return sum(self.business_general.get(business_id, {}).values())

    def active_lately(self, now_ms: int) -> set[str]:
        """Businesses with general calls in the last hour or so (the hour buckets make it up to two)."""
        since = now_ms - 2 * HOUR_MS
        return {b for b, hours in self.business_general.items() if any(int(h) >= since for h in hours)}

    def to_item(self) -> dict[str, Any]:
        return {"calls": self.calls, "tags": self.tags, "hours": self.hours, "general": self.general,
                "business_general": self.business_general, "business_interactive": self.business_interactive,
                "leases": self.leases, "lease_owners": self.lease_owners, "waiting": self.waiting,
                "blocked_until": self.blocked_until, "blocked_problem": self.blocked_problem}

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> TenantState:
        if not item:
            return cls()
        nested = lambda raw: {str(b): {str(h): int(n) for h, n in hours.items()}  # noqa: E731
                              for b, hours in (raw or {}).items()}
        calls = [int(t) for t in item.get("calls", [])]
        tags = [str(t) for t in item.get("tags", [])]
        return cls(
            calls=calls,
            tags=tags if len(tags) == len(calls) else [""] * len(calls),
            hours={str(h): int(n) for h, n in item.get("hours", {}).items()},
            general={str(h): int(n) for h, n in item.get("general", {}).items()},
            business_general=nested(item.get("business_general")),
            business_interactive=nested(item.get("business_interactive")),
            leases={str(k): int(v) for k, v in item.get("leases", {}).items()},
            lease_owners={str(k): str(v) for k, v in item.get("lease_owners", {}).items()},
            waiting={str(k): int(v) for k, v in item.get("waiting", {}).items()},
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
        self.clock = clock or process_clock()

    def _now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    # ------------------------------------------------------------------ before a call
    def acquire(self, tenant_id: str, purpose: str = GENERAL, business_id: str | None = None) -> str:
        """Wait for (or refuse) a slot for one call to ``tenant_id`` on behalf of ``business_id``; returns the
        lease to release."""
        limits = self.limits
        max_wait = limits.max_wait_seconds
        request_left = time_left()
        if request_left is not None:  # an HTTP request's call waits only while the request can still use it
            max_wait = min(max_wait, request_left - XERO_CALL_SECONDS)
        deadline = self._now_ms() + int(max_wait * 1000)
        app_counted_minute: int | None = None
        while True:
            state, version = self.store.load(tenant_id)
            now = self._now_ms()
            state.prune(now)
            wait_ms, problem = self._wait(state, now, purpose, business_id)
            if wait_ms == 0 and app_counted_minute != now // MINUTE_MS:
                if not self.store.count_app_call(now // MINUTE_MS, limits.app_per_minute):
                    wait_ms, problem = MINUTE_MS - now % MINUTE_MS, "appminute"
                else:
                    app_counted_minute = now // MINUTE_MS
            if wait_ms == 0:
                lease = uuid.uuid4().hex[:12]
                state.add_call(now, purpose, business_id=business_id)
                state.leases[lease] = now + int(limits.lease_seconds * 1000)
                if business_id:
                    state.lease_owners[lease] = business_id
                    state.waiting.pop(business_id, None)
                if self.store.save(tenant_id, state, version):
                    return lease
                self.clock.sleep(random.uniform(0.005, 0.03))  # another Lambda won the write: read again
                continue
            if business_id and problem not in ("business-minute", "business-day"):
                # Known as waiting, the business keeps its share: the others leave it room meanwhile.
                until = now + min(wait_ms, MINUTE_MS) + int(limits.waiting_grace_seconds * 1000)
                if state.waiting.get(business_id, 0) < until - 1000:
                    state.waiting[business_id] = until
                    self.store.save(tenant_id, state, version)  # lost to another writer: the next turn retries
            if now + wait_ms > deadline:
                raise XeroRateLimited(
                    f"The organisation's Xero {problem} limit is used up for now",
                    status=429, retry_after=max(1.0, wait_ms / 1000), problem=problem)
            self.clock.sleep(min(wait_ms, deadline - now) / 1000)

    def _wait(self, state: TenantState, now: int, purpose: str, business_id: str | None) -> tuple[int, str]:
        limits = self.limits
        if state.blocked_until > now:
            return state.blocked_until - now, state.blocked_problem or "minute"
        day_limit = limits.per_day if purpose == FEEDS else limits.general_per_day
        if state.day_total() >= limits.per_day or (purpose != FEEDS and state.day_total(True) >= day_limit):
            buckets = state.hours if purpose == FEEDS else state.general
            oldest = min(int(h) for h in buckets) if buckets else now
            return max(1, oldest + DAY_MS + HOUR_MS - now), "day"
        if purpose == INTERACTIVE and business_id:
            mine = state.interactive_this_minute(business_id)
            if len(mine) >= limits.interactive_per_minute:
                return max(1, mine[-limits.interactive_per_minute] + MINUTE_MS - now), "business-minute"
            hours = state.business_interactive.get(business_id, {})
            if sum(hours.values()) >= limits.interactive_per_day:
                return max(1, min(int(h) for h in hours) + DAY_MS + HOUR_MS - now), "business-day"
        if len(state.calls) >= limits.per_minute:
            return max(1, state.calls[-limits.per_minute] + MINUTE_MS - now), "minute"
        if business_id:
            shared = self._share_wait(state, now, purpose, business_id)
            if shared is not None:
                return shared
        if len(state.leases) >= limits.in_flight:
            return max(1, int(limits.poll_seconds * 1000)), "concurrent"
        return 0, ""

    def _share_wait(self, state: TenantState, now: int, purpose: str, business_id: str) -> tuple[int, str] | None:
        """A business beyond its fair share waits while the budget left would not cover the others' shares."""
        limits = self.limits
        minute = state.minute_by_business()
        active = (set(minute) | set(state.waiting)) - {business_id}
        if not active:
            return None  # alone: the whole budget is the business's
        share = math.ceil(limits.per_minute / (len(active) + 1))
        if minute[business_id] >= share:
            owed = sum(max(0, share - minute[other]) for other in active)
            if len(state.calls) + 1 + owed > limits.per_minute:
                mine = [t for t, tag in zip(state.calls, state.tags, strict=True) if _owner(tag) == business_id]
                return max(1, mine[0] + MINUTE_MS - now), "minute-share"
        if purpose != FEEDS:
            lately = (state.active_lately(now) | set(state.waiting)) - {business_id}
            if lately:
                day_share = limits.general_per_day // (len(lately) + 1)
                if state.general_day(business_id) >= day_share:
                    owed = sum(max(0, day_share - state.general_day(other)) for other in lately)
                    if state.day_total(True) + 1 + owed > limits.general_per_day:
                        hours = state.business_general.get(business_id, {})
                        return max(1, min(int(h) for h in hours) + DAY_MS + HOUR_MS - now), "day-share"
        flight = Counter(state.lease_owners.values())
        flight_share = max(1, limits.in_flight // (len(active) + 1))
        if flight[business_id] >= flight_share:
            owed = sum(max(0, flight_share - flight[other]) for other in state.waiting if other != business_id)
            if len(state.leases) + 1 + owed > limits.in_flight:
                return max(1, int(limits.poll_seconds * 1000)), "concurrent"
        return None

    # ------------------------------------------------------------------ after a call
    def release(self, tenant_id: str, lease: str, headers: Mapping[str, str] | None) -> None:
        # Losing this race 20 times only delays others: the lease expires by itself after lease_seconds.
        for _ in range(20):
            state, version = self.store.load(tenant_id)
            now = self._now_ms()
            state.prune(now)
            state.leases.pop(lease, None)
            state.lease_owners.pop(lease, None)
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
                state.tags.extend([""] * missing)
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
