"""Faults at every boundary of the product, at one rate (the share of calls at each boundary that meet one).

- Xero (the Xero emulator's fault plan): 500 (remembered under the Idempotency-Key), 503, timeouts before and
  after the write, answers dropped after Xero committed, 429 minute / concurrent / day with ``Retry-After``, access
  tokens expired (a forced refresh). Refresh tokens refused (``invalid_grant``), organisations disconnected, bank
  accounts deleted and outages are the world's events.
- Ledger (the ledger emulator): 503, slow pages; events lost, duplicated and delayed (out of order); an outage is
  a world event.
- DynamoDB, KMS (botocore, before each attempt): throttling and transient errors on the first 1..5 attempts of a
  call (the SDK retries; some reach the product).
- SQS (the runner's event source mappings): a processed message delivered again; an invocation that starts late.
- Lambda (the runner's runtime): an invocation killed right after Xero answered a write, before it records
  anything; or at its timeout, at any call of its work.

Not a fault, but Lambda's rule: an invocation whose world time passes its function's timeout is ended at its next
call (AWS, Xero, the ledger), as Lambda ends it there (``InvocationTimedOut``); the HTTP API then answers 500, as
API Gateway does for a function that failed.

Every decision is drawn from the seed and what it falls on (``emulators.chance``), never from the order in which
concurrent work arrives. Faults fire only on the product's own calls: the world's set-up, the users' browsers
and the auditor are never faulted.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import json
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.handlers
import requests
import requests.adapters
import urllib3.util.retry as urllib3_retry
from botocore import endpoint as botocore_endpoint
from botocore.awsrequest import AWSResponse

from emulators.chance import Occurrences, chance, draw
from emulators.ledger import http_api as ledger_http
from local.lambda_runtime import Invocation, LambdaRuntime, acting_function, running_context
from local.soak.simclock import SimClock

# Shares of the rate at the Xero boundary: (kind, options, share).
XERO_FAULTS: tuple[tuple[str, dict[str, Any], float], ...] = (
    ("error", {"status": 500}, 0.20),
    ("error", {"status": 503}, 0.15),
    ("timeout", {"commit": False}, 0.07),
    ("timeout", {"commit": True}, 0.08),
    ("drop", {}, 0.15),
    ("rate_limit", {"problem": "minute", "retry_after": 30}, 0.10),
    ("rate_limit", {"problem": "concurrent", "retry_after": 1}, 0.04),
    ("rate_limit", {"problem": "day", "retry_after": 2 * 3600}, 0.03),
    ("token_expired", {}, 0.18),
)
XERO_API_PATHS = r"re:^/(api\.xro|bankfeeds\.xro)/"
XERO_READ_TIMEOUT_SECONDS = 1.5  # the product's, in the soak (XERO_READ_TIMEOUT_SECONDS)
# A timeout fault holds Xero's answer past the product's read timeout. The soak does not hold it in real time: the
# emulator tells the chaos which request it holds, and the product's call then ends as a read timeout does
# (``requests.ReadTimeout``), the read timeout's time passed on the world's clock (``Chaos.http_boundary``).
TIMEOUT_HOLD_SECONDS = 1.8
CALL_HEADER = "X-Soak-Call"  # numbers each request to Xero, so that the emulator can say which one it held
LEDGER_SLOW_SECONDS = 0.1  # a slow ledger page, late by this much world time (``install``)
# How many attempts of an AWS call a fault spoils: the SDK retries four times, so only the last share reaches
# the product (a throttle DynamoDB keeps up long enough to outlast the SDK's retries).
SPOILED_ATTEMPTS = ((1, 0.6), (2, 0.2), (3, 0.1), (5, 0.1))
SDK_ATTEMPTS = 4  # xerosync.aws's botocore Config: max_attempts
AWS_ERRORS = {
    "dynamodb": ((400, "ProvisionedThroughputExceededException",
                  "The level of configured provisioned throughput for the table was exceeded."),
                 (500, "InternalServerError", "Internal server error")),
    "kms": ((500, "KMSInternalException", "The request was rejected because an internal exception occurred."),
            (503, "ServiceUnavailable", "Service is unavailable")),
}


class InvocationKilled(BaseException):
    """The execution environment died (a timeout, a crash): raised at a call of the invocation's work, so that
    nothing after it runs; a BaseException, so the product's own handlers cannot catch it."""


class InvocationTimedOut(InvocationKilled):
    """Its world time passed the function's timeout: Lambda would have ended it ("Task timed out")."""


def _past_its_timeout() -> None:
    """End the running invocation if its world time is up (its context counts on the world's clock)."""
    context = running_context()
    if context is not None and context.get_remaining_time_in_millis() <= 0:
        raise InvocationTimedOut(f"Task timed out after {context.timeout_seconds} seconds (world time)")


class LambdaDied(Exception):
    """What the runner sees of an invocation that was killed: it failed (SQS hands its batch back later; the
    HTTP API answers 500)."""


@dataclass
class _Plan:
    kind: str  # "after_xero_write" or "timeout"
    die_at: int  # for "timeout": the n-th call of the invocation's work
    calls: int = 0

    def boundary(self) -> None:
        self.calls += 1
        if self.kind == "timeout" and self.calls >= self.die_at:
            raise InvocationKilled(f"killed at its timeout, at call {self.calls}")


_plan: contextvars.ContextVar[_Plan | None] = contextvars.ContextVar("soak_invocation_plan", default=None)


class Chaos:
    def __init__(self, *, seed: int, rate: float, clock: SimClock) -> None:
        self.seed = seed
        self.rate = rate
        self.clock = clock
        self.armed = False
        self.counts: dict[str, Counter[str]] = {b: Counter() for b in ("xero", "ledger", "aws", "sqs", "lambda")}
        self.surfaced = Counter[str]()  # AWS faults that outlasted the SDK's retries
        self.last_fault_at: float | None = None
        self.aws_calls = Counter[str]()  # the product's DynamoDB reads and writes, by kind
        self.last_deliveries_marked: list[float] = []  # when a Spend Money batch began its last delivery
        # Invocations that reached their function's timeout in world time (ended at their next call, as Lambda
        # ends them), by function; and the longest world time an invocation of each function took.
        self.overran = Counter[str]()
        self.longest = Counter[str]()
        self._occurrences = Occurrences()
        self._lock = threading.Lock()
        self._xero: Any = None
        self._ledger: Any = None
        self._xero_url = ""
        self._calls = itertools.count(1)
        self.failure_reasons: dict[str, str] | None = None  # message id -> why it last failed (the driver's log)
        self.max_receives: dict[str, int] = {}  # queue (logical id) -> its redrive policy's maxReceiveCount
        self._held: set[str] = set()  # the requests to Xero whose answer a timeout fault holds

    # ------------------------------------------------------------------ bookkeeping
    def _fired(self, boundary: str, kind: str) -> None:
        with self._lock:
            self.counts[boundary][kind] += 1
            self.last_fault_at = self.clock.time()

    def _roll(self, *identity: object) -> float:
        return draw(self.seed, self._occurrences, *identity)

    # ------------------------------------------------------------------ the emulators
    def attach(self, *, xero: Any, ledger: Any, xero_url: str, runtime: LambdaRuntime, mappings: list[Any]) -> None:
        self._xero, self._ledger, self._xero_url = xero, ledger, xero_url.rstrip("/")
        xero.hold = self._hold
        _wrap_runtime(runtime, self)
        for mapping in mappings:
            mapping.hooks = _Delivery(self)

    def arm(self) -> None:
        """Faults on, at every boundary."""
        self.armed = True
        for n, (kind, options, share) in enumerate(XERO_FAULTS):
            hold = {"hold_s": TIMEOUT_HOLD_SECONDS} if kind == "timeout" else {}
            self._xero.add_fault(kind, path=XERO_API_PATHS, probability=self.rate * share, seed=self.seed + n,
                                 times=None, **options, **hold)
        self._xero.add_fault("error", path="/connect/token", status=503, probability=self.rate * 0.2,
                             seed=self.seed + 99, times=None)
        self._ledger.faults.add(503, None, "/v1/", probability=self.rate * 0.6, seed=self.seed)
        self._ledger.faults.add(503, None, "/transactions", probability=self.rate * 0.4, seed=self.seed + 1,
                                slow_s=LEDGER_SLOW_SECONDS)
        third = self.rate / 3
        self._ledger.event_faults.configure(lose=third, duplicate=third, delay=third, seed=self.seed)

    def disarm(self) -> None:
        """Faults off everywhere (the world's last fault has happened); what the emulators hold back is let go.
        What fired in the emulators is counted from their own reports."""
        self.armed = False
        for fired in self._xero.fired_faults():
            kind = fired["kind"]
            label = {"error": f"{fired['status']}", "rate_limit": f"429 {fired['problem']}",
                     "timeout": "timeout after the write" if fired["commit"] else "timeout before the write",
                     "drop": "answer dropped after the write"}.get(kind, kind)
            self.counts["xero"][label] += 1
            at = fired.get("at")
            if at is not None:
                self.last_fault_at = max(self.last_fault_at or at, at)
        self.counts["ledger"]["503 or slow page"] += self._ledger.faults.fired_total
        for kind, count in self._ledger.event_faults.counts.items():
            self.counts["ledger"][f"event {kind}"] += count
        self._xero.clear_faults()
        self._ledger.faults.clear()
        self._ledger.event_faults.configure()
        self._ledger.release_held_events()

    # ------------------------------------------------------------------ AWS (botocore)
    def on_call(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """Before each API call the product makes: count it; decide whether a fault spoils its first attempts."""
        function = acting_function()
        if function is None:
            return
        service = model.service_model.endpoint_prefix
        if service == "dynamodb":
            self.aws_calls["read" if model.name.startswith(("Get", "BatchGet", "Query", "Scan", "TransactGet"))
                           else "write"] += 1
            if model.name == "UpdateItem" and b"last_delivery_batch" in _bytes(params.get("body", b"")):
                self.last_deliveries_marked.append(self.clock.time())  # the minute's sweeper has work soon
        if not self.armed or service not in AWS_ERRORS:
            return
        identity = (service, model.name, hashlib.sha256(_bytes(params.get("body", b""))).hexdigest()[:24])
        if self._roll(*identity) >= self.rate:
            return
        pick = chance(self.seed, "attempts", *identity)
        spoiled = next(n for n, cumulative in _cumulative(SPOILED_ATTEMPTS) if pick < cumulative)
        status, code, message = AWS_ERRORS[service][int(chance(self.seed, "error", *identity) * 2)]
        context["soak_fault"] = {"left": spoiled, "status": status, "code": code, "message": message,
                                 "service": service, "surfaces": spoiled >= SDK_ATTEMPTS}

    def on_send(self, request: Any, **_: Any) -> AWSResponse | None:
        """Before each attempt: a spoiled attempt gets the service's error instead of its answer."""
        plan = _plan.get()
        if plan is not None and acting_function() is not None:
            plan.boundary()
        _past_its_timeout()
        fault = (request.context or {}).get("soak_fault")
        if not fault or fault["left"] <= 0:
            return None
        fault["left"] -= 1
        self._fired("aws", f"{fault['service']} {fault['code']}")
        if fault["left"] == 0 and fault["surfaces"]:
            self.surfaced[fault["service"]] += 1
        body = json.dumps({"__type": fault["code"], "message": fault["message"]}).encode()
        return AWSResponse(request.url, fault["status"], {"content-type": "application/x-amz-json-1.0"},
                           _Raw(body))

    # ------------------------------------------------------------------ Lambda
    def plan_for(self, function: str, event: dict[str, Any]) -> _Plan | None:
        if not self.armed:
            return None
        identity = (function, _event_identity(event))
        roll = self._roll("lambda", *identity)
        share = self.rate / 8 if "requestContext" in event else self.rate / 4
        if roll < share:
            return _Plan("after_xero_write", 0)
        if roll < 2 * share:
            return _Plan("timeout", 1 + int(chance(self.seed, "at", *identity) * 40))
        return None

    def _hold(self, request: Any, seconds: float) -> None:
        """The Xero emulator holds this request's answer past the caller's read timeout: noted, not waited for."""
        call = request.headers.get(CALL_HEADER)
        if call:
            with self._lock:
                self._held.add(call)

    def _timed_out(self, call: str) -> bool:
        with self._lock:
            if call not in self._held:
                return False
            self._held.discard(call)
        return True

    def http_boundary(self, request: Any, send: Any) -> Any:
        plan = _plan.get()
        if plan is not None:
            plan.boundary()
        _past_its_timeout()
        call = ""
        if self._xero_url and request.url.startswith(self._xero_url):
            call = str(next(self._calls))
            request.headers[CALL_HEADER] = call
        try:
            response = send()
        except requests.ConnectionError:
            if call and self._timed_out(call):
                raise self._read_timeout(request) from None
            raise
        if call and self._timed_out(call):
            raise self._read_timeout(request)  # (a committing timeout: Xero wrote, its answer came too late)
        if (plan is not None and plan.kind == "after_xero_write" and request.method in ("PUT", "POST")
                and request.url.startswith(self._xero_url) and "/connect/" not in request.url
                and response.status_code < 300):
            raise InvocationKilled("killed right after Xero answered a write, before recording it")
        return response


    def _read_timeout(self, request: Any) -> requests.ReadTimeout:
        """What the caller meets when Xero holds its answer: its read timeout, after that much world time."""
        self.clock.sleep(XERO_READ_TIMEOUT_SECONDS)
        return requests.ReadTimeout(f"Read timed out. (read timeout={XERO_READ_TIMEOUT_SECONDS})", request=request)


def _bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else str(body).encode()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _cumulative(shares: tuple[tuple[int, float], ...]) -> list[tuple[int, float]]:
    total, out = 0.0, []
    for value, share in shares:
        total += share
        out.append((value, total))
    out[-1] = (out[-1][0], 1.01)
    return out


def _event_identity(event: dict[str, Any]) -> str:
    if "Records" in event:
        parts = [f"{r.get('body', '')}#{r.get('attributes', {}).get('ApproximateReceiveCount', '')}"
                 for r in event["Records"]]
    elif "requestContext" in event:
        parts = [event.get("rawPath", ""), event.get("body") or "", event["requestContext"].get("http", {})
                 .get("method", "")]
    else:
        parts = [str(event.get("time", "")), json.dumps(event.get("resources", []))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


class _Delivery:
    """SQS's at-least-once and late delivery, on the runner's event source mappings."""

    def __init__(self, chaos: Chaos) -> None:
        self.chaos = chaos

    def before_invoke(self, mapping: Any, messages: list[dict[str, Any]]) -> None:
        if not self.chaos.armed:
            return
        identity = ("late", mapping.source.function, _message_identity(messages[0]))
        if self.chaos._roll(*identity) < self.chaos.rate / 2:
            self.chaos._fired("sqs", "invocation started late")
            self.chaos.clock.sleep(1 + chance(self.chaos.seed, *identity) * 90)

    def deliver_again(self, mapping: Any, message: dict[str, Any]) -> bool:
        if not self.chaos.armed:
            return False
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0") or 0)
        limit = self.chaos.max_receives.get(mapping.source.queue)
        if limit is not None and receives >= limit:
            # Left undeleted now, a message its consumer handled would be moved to the dead-letter queue at its
            # next receive: SQS's duplicate delivery never does that to a message that was deleted.
            return False
        if self.chaos._roll("again", mapping.source.function, _message_identity(message)) < self.chaos.rate / 2:
            self.chaos._fired("sqs", "message delivered again")
            return True
        return False


def _message_identity(message: dict[str, Any]) -> str:
    receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "")
    return hashlib.sha256(f"{message.get('Body', '')}#{receives}".encode()).hexdigest()[:24]


def _wrap_runtime(runtime: LambdaRuntime, chaos: Chaos) -> None:
    original = runtime.invoke

    def invoke(function: str, event: dict[str, Any]) -> Any:
        plan = chaos.plan_for(function, event)
        token = _plan.set(plan)
        try:
            return original(function, event)
        except InvocationKilled as killed:
            if not isinstance(killed, InvocationTimedOut):  # Lambda's own rule is no fault: ``timed`` counts it
                chaos._fired("lambda", "killed after Xero answered a write"
                             if plan and plan.kind == "after_xero_write" else "killed at its timeout")
            if chaos.failure_reasons is not None:
                # The product logs nothing of a killed invocation; Lambda's own log does ("Task timed out"):
                # that is why each of its messages last failed, until a later delivery says otherwise.
                for record in event.get("Records") or []:
                    chaos.failure_reasons[str(record.get("messageId"))] = f"LambdaDied: {killed}"
            raise LambdaDied(f"{function}: {killed}") from None
        finally:
            _plan.reset(token)

    def timed(invocation: Invocation) -> None:
        """Its world time from the moment its handler ran (not while the runner held it behind the function's
        previous HTTP request, which in Lambda would have had an environment of its own)."""
        with chaos._lock:
            chaos.longest[invocation.function] = max(chaos.longest[invocation.function], int(invocation.seconds))
            if invocation.seconds >= runtime.functions[invocation.function].timeout:
                chaos.overran[invocation.function] += 1

    runtime.invoke = invoke  # type: ignore[method-assign]
    runtime.listeners.append(timed)


_installed: list[Chaos] = []


def install(chaos: Chaos, clock: SimClock) -> None:
    """Hook botocore (every client created from now on) and requests (every session) for ``chaos``; once per
    process, before the product's first AWS client exists. The SDK's retry backoff runs on the world's clock."""
    if _installed:
        _installed[0] = chaos
        return
    _installed.append(chaos)
    botocore.handlers.BUILTIN_HANDLERS.append(("before-call", lambda **kw: _installed[0].on_call(**kw)))
    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", lambda **kw: _installed[0].on_send(**kw)))
    send = requests.adapters.HTTPAdapter.send

    def hooked(self: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        return _installed[0].http_boundary(request, lambda: send(self, request, *args, **kwargs))

    requests.adapters.HTTPAdapter.send = hooked  # type: ignore[method-assign]
    # botocore sleeps between retries with time.sleep, and so does urllib3 between the ledger client's retries
    # of a read: in the world, a Lambda's wait is world time (in real time it held the whole world still).
    shim = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    shim.sleep = lambda seconds: clock.sleep(seconds) if acting_function() is not None else time.sleep(seconds)
    botocore_endpoint.time = shim
    urllib3_retry.time = shim  # type: ignore[assignment]
    # The ledger emulator's slow page waits world time too: it is a late answer, well inside the caller's read
    # timeout, and a real-time wait held the whole world still while it lasted.
    ledger_http.time = types.SimpleNamespace(**{**vars(shim), "sleep": clock.sleep})  # type: ignore[assignment]


@contextmanager
def quiet() -> Iterator[None]:
    """Calls made inside are never faulted (the world's own set-up and the auditor's reads)."""
    token = _plan.set(None)
    try:
        yield
    finally:
        _plan.reset(token)
