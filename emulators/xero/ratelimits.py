"""Xero's API limits [FAQ-Limits], on the emulator clock.

Per tenant and app: calls in flight, a rolling minute and a rolling day. Per app across tenants: a rolling
minute. Every tenant response reports what is left; over a limit the call is refused with 429, a
``Retry-After`` in whole seconds and ``X-Rate-Limit-Problem`` naming the limit.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field

from .config import EmulatorConfig


@dataclass
class RateDecision:
    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    retry_after: int | None = None


def _count_since(calls: deque[float], since: float) -> int:
    return len(calls) - bisect_right(calls, since)


def _wait_until_one_expires(calls: deque[float], since: float, window: float, now: float) -> int:
    """Seconds until the oldest call still in the window leaves it."""
    index = bisect_right(calls, since)
    oldest = calls[index] if index < len(calls) else now
    return max(1, math.ceil(oldest + window - now))


class RateLimiter:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._tenant_calls: dict[tuple[str, str], deque[float]] = {}
        self._app_calls: dict[str, deque[float]] = {}
        self._in_flight: dict[tuple[str, str], int] = {}

    def reset(self) -> None:
        with self._lock:
            self._tenant_calls.clear()
            self._app_calls.clear()
            self._in_flight.clear()

    def _prune(self, calls: deque[float], now: float, window: float) -> None:
        while calls and calls[0] <= now - window:
            calls.popleft()

    def _app_remaining(self, client_id: str, now: float) -> int:
        calls = self._app_calls.get(client_id, deque())
        return max(0, self.config.app_minute_limit - _count_since(calls, now - 60))

    def acquire_app(self, client_id: str, now: float) -> RateDecision:
        """A tenantless call (``/connections``): only the app-wide minute counts and is reported."""
        with self._lock:
            calls = self._app_calls.setdefault(client_id, deque())
            self._prune(calls, now, 60)
            if _count_since(calls, now - 60) >= self.config.app_minute_limit:
                return RateDecision(
                    False,
                    {"X-AppMinLimit-Remaining": "0"},
                    "appminute",
                    _wait_until_one_expires(calls, now - 60, 60, now),
                )
            calls.append(now)
            return RateDecision(True, {"X-AppMinLimit-Remaining": str(self._app_remaining(client_id, now))})

    def acquire_tenant(self, client_id: str, tenant_id: str, now: float) -> RateDecision:
        """Count one tenant call, or refuse it. An allowed call must be ``release``d when answered."""
        key = (client_id, tenant_id)
        config = self.config
        with self._lock:
            tenant_calls = self._tenant_calls.setdefault(key, deque())
            app_calls = self._app_calls.setdefault(client_id, deque())
            self._prune(tenant_calls, now, config.day_window_s)
            self._prune(app_calls, now, 60)
            day_used = _count_since(tenant_calls, now - config.day_window_s)
            minute_used = _count_since(tenant_calls, now - 60)
            app_used = _count_since(app_calls, now - 60)
            in_flight = self._in_flight.get(key, 0)

            def headers(day: int, minute: int, app: int) -> dict[str, str]:
                return {
                    "X-DayLimit-Remaining": str(max(0, day)),
                    "X-MinLimit-Remaining": str(max(0, minute)),
                    "X-AppMinLimit-Remaining": str(max(0, app)),
                }

            day_left = config.tenant_day_limit - day_used
            minute_left = config.tenant_minute_limit - minute_used
            app_left = config.app_minute_limit - app_used
            if day_left <= 0:
                wait = _wait_until_one_expires(tenant_calls, now - config.day_window_s, config.day_window_s, now)
                return RateDecision(False, headers(0, minute_left, app_left), "day", wait)
            if app_left <= 0:
                wait = _wait_until_one_expires(app_calls, now - 60, 60, now)
                return RateDecision(False, headers(day_left, minute_left, 0), "appminute", wait)
            if minute_left <= 0:
                wait = _wait_until_one_expires(tenant_calls, now - 60, 60, now)
                return RateDecision(False, headers(day_left, 0, app_left), "minute", wait)
            if in_flight >= config.tenant_concurrent_limit:
                # Xero does not say how long to wait for a slot; one second is the shortest honest answer.
                return RateDecision(False, headers(day_left, minute_left, app_left), "concurrent", 1)
            tenant_calls.append(now)
            app_calls.append(now)
            self._in_flight[key] = in_flight + 1
            return RateDecision(True, headers(day_left - 1, minute_left - 1, app_left - 1))

    def release(self, client_id: str, tenant_id: str) -> None:
        key = (client_id, tenant_id)
        with self._lock:
            remaining = self._in_flight.get(key, 0) - 1
            if remaining > 0:
                self._in_flight[key] = remaining
            else:
                self._in_flight.pop(key, None)

    def in_flight(self, client_id: str, tenant_id: str) -> int:
        with self._lock:
            return self._in_flight.get((client_id, tenant_id), 0)
