"""Sends one logical Xero call: rate governor, retries, error typing, never a blind re-send of a write.

Retry policy (docs/architecture.md): connection errors, timeouts and 5xx are retried with capped exponential backoff
and full jitter, within an HTTP request's time (``xerosync.deadline``: no call, nor retry, without the time to wait
for its answer, and the read timeout cut to what is left); 4xx never are (a validation error stays one). Requests
that are safe to repeat (reads, token refreshes, revocations, deletions) are retried here. A write that creates
something is retried here only when it provably never left (connection refused); when its answer was lost (read
timeout, reset after sending) the transport raises ``XeroUncertainOutcome``, and when Xero answered 5xx it raises
``XeroServerError``: either way the operation looks the object up by its marker before sending it again (Xero
replays a cached error for the same Idempotency-Key, so a blind retry would not help either).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

import requests

from xerosync import deadline
from xerosync.observability import logger
from xerosync.xero.errors import (
    XeroConflict,
    XeroError,
    XeroForbidden,
    XeroNotFound,
    XeroOutOfTime,
    XeroRateLimited,
    XeroServerError,
    XeroTooLarge,
    XeroUnauthorised,
    XeroUnavailable,
    XeroUncertainOutcome,
    XeroUnprocessable,
    XeroValidationError,
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CORRELATION_HEADER = "Xero-Correlation-Id"


class RetryPolicy(NamedTuple):  # not a frozen dataclass: its class builds 7x faster (docs/architecture.md)
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: a random wait up to the capped exponential step (attempt counts from 1)."""
        return rng() * min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))


# Four tries, with full-jitter waits of up to 0.5, 1 and 2 s between them (docs/architecture.md, the Xero client).
DEFAULT_RETRY = RetryPolicy()


class Limiter(Protocol):
    """What the transport needs from the tenant rate governor."""

    def acquire(self, tenant_id: str, purpose: str, business_id: str | None = None) -> str: ...

    def release(self, tenant_id: str, lease: str, headers: Mapping[str, str] | None) -> None: ...

    def throttled(self, tenant_id: str, retry_after: float, problem: str) -> None: ...


class XeroResponse(NamedTuple):  # not a dataclass: its class builds 5x faster (docs/architecture.md)
    status: int
    headers: Mapping[str, str]
    body: Any
    content: bytes
    correlation_id: str | None


@dataclass
class XeroRequest:
    method: str
    url: str
    tenant_id: str | None = None
    access_token: str | None = None
    params: Mapping[str, Any] | None = None
    json_body: Any = None
    data: bytes | None = None
    content_type: str | None = None
    idempotency_key: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    purpose: str = "general"  # "feeds" draws on the daily budget reserved for bank-feed statements
    business_id: str | None = None  # on whose behalf: the organisation's budget is shared fairly between them
    safe_to_repeat: bool | None = None  # None: reads are, writes are not
    tenant_header: str = "xero-tenant-id"


class XeroTransport:
    def __init__(self, session: requests.Session | None = None, *, limiter: Limiter | None = None,
                 retry: RetryPolicy | None = None, timeout: tuple[float, float] = (3.05, 25.0),
                 sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random) -> None:
        self.session = session or requests.Session()
        self.limiter = limiter
        self.retry = retry or DEFAULT_RETRY
        self.timeout = timeout
        self._sleep = sleep
        self._rng = rng
        self.calls = 0  # HTTP requests actually sent (benchmarks read it)

    def send(self, request: XeroRequest) -> XeroResponse:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(request)
            except XeroOutOfTime:
                raise
            except (XeroServerError, XeroUnavailable, XeroUncertainOutcome) as error:
                repeatable = request.safe_to_repeat
                if repeatable is None:
                    repeatable = request.method not in WRITE_METHODS
                if attempt >= self.retry.attempts or not (repeatable or isinstance(error, XeroUnavailable)):
                    raise
                wait = self.retry.delay(attempt, self._rng)
                if not deadline.allows(wait + deadline.XERO_CALL_SECONDS):
                    # An HTTP request with no time left to try again: this failure is its answer (one Xero did
                    # not give in time is told as such).
                    if isinstance(error, XeroUnavailable):
                        raise XeroOutOfTime("Xero did not answer within the request's time") from error
                    raise
                logger.warning("xero call failed, retrying", extra={
                    "attempt": attempt, "wait_seconds": round(wait, 3), "status": error.status,
                    "xero_correlation_id": error.correlation_id, "path": _path_of(request.url)})
                self._sleep(wait)
                if request.idempotency_key and isinstance(error, XeroServerError):
                    # Xero remembers an error under its key and replays it: a retry needs a key of its own
                    # (still deterministic, so a redelivered message repeats the same sequence of keys).
                    base = request.idempotency_key.split("~retry", 1)[0]
                    request = replace(request, idempotency_key=f"{base}~retry{attempt}")

    def _send_once(self, request: XeroRequest) -> XeroResponse:
        if not deadline.allows(deadline.XERO_CALL_SECONDS):
            raise XeroOutOfTime("No time left in the request to wait for Xero's answer")
        lease = None
        if self.limiter and request.tenant_id:
            lease = self.limiter.acquire(request.tenant_id, request.purpose, request.business_id)
        response: requests.Response | None = None
        try:
            response = self._http(request)
        finally:
            if self.limiter and request.tenant_id and lease is not None:
                self.limiter.release(request.tenant_id, lease, response.headers if response is not None else None)
        return self._interpret(request, response)

    def _http(self, request: XeroRequest) -> requests.Response:
        headers = {"Accept": "application/json", **request.extra_headers}
        if request.access_token:
            headers["Authorization"] = f"Bearer {request.access_token}"
        if request.tenant_id:
            headers[request.tenant_header] = request.tenant_id
        if request.idempotency_key:
            headers["Idempotency-Key"] = request.idempotency_key
        body: bytes | None = request.data
        if request.json_body is not None:
            body = json.dumps(request.json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        elif request.content_type:
            headers["Content-Type"] = request.content_type
        self.calls += 1
        timeout = self.timeout
        left = deadline.left()
        if left is not None:  # an HTTP request's: Xero's answer is waited for only while the request can use it
            timeout = (min(timeout[0], left), min(timeout[1], left))
        try:
            return self.session.request(request.method, request.url, params=request.params, data=body,
                                        headers=headers, timeout=timeout)
        except requests.ConnectTimeout as exc:
            raise XeroUnavailable("Xero could not be reached (connect timeout)") from exc
        except requests.ConnectionError as exc:
            # Refused before sending is safe to retry; reset after sending is not, for a write.
            if _refused(exc) or request.method not in WRITE_METHODS:
                raise XeroUnavailable(f"Xero could not be reached: {type(exc).__name__}") from exc
            raise XeroUncertainOutcome("The connection to Xero broke before its answer arrived") from exc
        except requests.Timeout as exc:
            if request.method in WRITE_METHODS:
                raise XeroUncertainOutcome("Xero did not answer in time; the write may have happened") from exc
            raise XeroUnavailable("Xero did not answer in time") from exc

    def _interpret(self, request: XeroRequest, response: requests.Response) -> XeroResponse:
        correlation = response.headers.get(CORRELATION_HEADER)
        body = _decode(response)
        status = response.status_code
        if status < 400:
            return XeroResponse(status, response.headers, body, response.content, correlation)
        common: dict[str, Any] = {"status": status, "correlation_id": correlation, "body": body,
                                  "problem_type": _problem_type(body), "messages": _messages(body)}
        summary = _summary(body) or f"Xero answered {status}"
        if status == 429:
            retry_after = _float(response.headers.get("Retry-After"), 60.0)
            problem = (response.headers.get("X-Rate-Limit-Problem") or "day").lower()
            if self.limiter and request.tenant_id:
                self.limiter.throttled(request.tenant_id, retry_after, problem)
            raise XeroRateLimited(f"Xero's {problem} limit was reached", retry_after=retry_after,
                                  problem=problem, **common)
        if status >= 500:
            raise XeroServerError(summary, **common)
        error_type: type[XeroError] = {
            400: XeroValidationError, 401: XeroUnauthorised, 403: XeroForbidden, 404: XeroNotFound,
            409: XeroConflict, 413: XeroTooLarge, 422: XeroUnprocessable,
        }.get(status, XeroError)
        if error_type is XeroValidationError:
            raise XeroValidationError(summary, elements=_element_messages(body), **common)
        raise error_type(summary, **common)


def _refused(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "NameResolution" in text


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            return response.text
    return response.content


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def _problem_type(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("type", "Type", "error", "Title", "title"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None


def _summary(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("detail", "Detail", "Message", "message", "error_description", "title", "Title"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return None


def _element_messages(body: Any) -> list[list[str]]:
    if not isinstance(body, dict):
        return []
    elements = body.get("Elements") or body.get("items") or []
    found = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        messages = [str(e.get("Message")) for e in element.get("ValidationErrors") or [] if isinstance(e, dict)]
        error = element.get("error")
        if isinstance(error, dict) and error.get("detail"):
            messages.append(str(error["detail"]))
        found.append(messages)
    return found


def _messages(body: Any) -> list[str]:
    flat = [message for element in _element_messages(body) for message in element]
    summary = _summary(body)
    return flat or ([summary] if summary else [])


def _path_of(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
