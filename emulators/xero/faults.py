"""Faults a test can plan: which requests fail, how, and how often.

Kinds:

``error``         answer with ``status`` (default 500) and Xero's body for it. A 500 is an internal error
                  of the endpoint: it happens after the idempotency check and is remembered under the
                  request's Idempotency-Key like any other answer. Other statuses (502, 503...) come from
                  the edge, before anything else runs.
``rate_limit``    429 with ``Retry-After: retry_after`` and ``X-Rate-Limit-Problem: problem``.
``timeout``       hold the answer for ``hold_s`` REAL seconds then drop the connection. With
                  ``commit=True`` the request is processed first (the write happens) and the real answer
                  is sent after the hold, long after a client with a shorter timeout gave up.
``drop``          process the request (the write is committed), then close the connection without an
                  answer: the client sees a connection error.
``invalid_grant`` the token endpoint answers 400 ``{"error":"invalid_grant"}``.
``disconnect``    the tenant's connections are removed (as if the user disconnected the app in Xero) just
                  before the request is authorised, so it and every later tenant call get 403.
``token_expired`` the request's access token expires now (before the request is authorised), so it gets
                  Xero's 401 for an expired token and the client must refresh: a forced token refresh.

Matching: ``path`` is a glob (``*`` crosses ``/``) or ``re:<regex>``, compared case-insensitively;
``method`` is a verb or ``*``; ``tenant`` a tenant id or None for any. A fault fires on every
``every``-th matching request, or, with ``probability``, on each matching request with that chance, drawn
from ``seed`` and the request's identity (``emulators.chance``: the same seed gives the same request the same
fate whatever order concurrent requests arrive in); at most ``times`` times (None: no limit). Every firing is
counted (``fired``) and logged (``FaultPlan.fired_log``).
"""

from __future__ import annotations

import fnmatch
import re
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from emulators.chance import Occurrences, draw

FAULT_KINDS = frozenset({"error", "rate_limit", "timeout", "drop", "invalid_grant", "disconnect", "token_expired"})
RATE_LIMIT_PROBLEMS = frozenset({"minute", "day", "concurrent", "appminute"})


@dataclass
class Fault:
    kind: str
    path: str = "*"
    method: str = "*"
    tenant: str | None = None
    times: int | None = 1
    every: int = 1
    status: int = 500
    retry_after: int = 60
    problem: str = "minute"
    hold_s: float | None = None
    commit: bool = False
    body: Any = None
    probability: float | None = None
    seed: int = 0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.kind == "rate_limit" and self.problem not in RATE_LIMIT_PROBLEMS:
            raise ValueError(f"problem must be one of {sorted(RATE_LIMIT_PROBLEMS)}")
        if self.every < 1:
            raise ValueError("every must be at least 1")
        if self.probability is not None and not 0 < self.probability <= 1:
            raise ValueError("probability must be above 0 and at most 1")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be positive or None")
        if self.path.startswith("re:"):
            re.compile(self.path[3:])

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    @property
    def stage(self) -> str:
        """When the fault acts: at the ``edge`` (before authentication, limits and idempotency), in place
        of the ``handler`` (an internal error, remembered by idempotency), or ``after`` the handler ran."""
        if self.kind in {"drop"} or (self.kind == "timeout" and self.commit):
            return "after"
        if self.kind == "error" and self.status == 500:
            return "handler"
        return "edge"

    def matches(self, method: str, path: str, tenant: str | None) -> bool:
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        if self.tenant is not None and (tenant or "").lower() != self.tenant.lower():
            return False
        if self.path.startswith("re:"):
            return re.search(self.path[3:], path, re.IGNORECASE) is not None
        return fnmatch.fnmatchcase(path.lower(), self.path.lower())

    def as_dict(self) -> dict[str, Any]:
        rendered = asdict(self)
        rendered["exhausted"] = self.exhausted
        return rendered


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._occurrences = Occurrences()
        #: Every firing: the fault, its kind and the request it fell on (emulator time, for the caller's report).
        self.fired_log: list[dict[str, Any]] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.fired_log.clear()
        self._occurrences.clear()

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, tenant: str | None, stage: str, identity: str = "",
             at: float | None = None) -> Fault | None:
        """The fault to apply to this request at this stage, counting the match; None when none fires.
        ``identity`` tells requests apart for probabilities (the Idempotency-Key, or a digest of the body)."""
        with self._lock:
            for fault in self._faults:
                if fault.stage != stage or fault.exhausted or not fault.matches(method, path, tenant):
                    continue
                fault.matched += 1
                if fault.probability is not None:
                    fires = draw(fault.seed, self._occurrences, fault.kind, fault.status, fault.problem,
                                 method.upper(), path.lower(), (tenant or "").lower(), identity) < fault.probability
                else:
                    fires = fault.matched % fault.every == 0
                if fires:
                    fault.fired += 1
                    self.fired_log.append({"fault_id": fault.id, "kind": fault.kind, "status": fault.status,
                                           "problem": fault.problem, "commit": fault.commit, "method": method,
                                           "path": path, "tenant": tenant, "at": at})
                    return fault
        return None

    def fired(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.fired_log)
