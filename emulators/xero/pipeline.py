"""The path of one request through the emulator, in the order Xero's edge would apply each step:

1. settle asynchronous work that is due (feed connections, statements) on the emulator clock;
2. faults planned for the edge (503, 429 bursts, timeouts, invalid_grant, disconnects);
3. strict mode: the request is checked against Xero's OpenAPI file and any violation recorded;
4. bearer token (401), scopes (403), ``xero-tenant-id`` and its connection (403);
5. rate limits (429) - the call is now counted and in flight;
6. a malformed body found by strict mode (400), a body over the size limit (413);
7. ``Idempotency-Key``: replay, conflict (400), or run the handler and remember the answer;
8. faults after the handler (drop the connection, hold the answer).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from .bankfeeds import invalid_request
from .faults import Fault
from .http import (
    ApiRequest,
    ApiResponse,
    Route,
    forbidden,
    internal_error,
    json_response,
    not_found,
    oauth_error,
    payload_too_large,
    post_data_invalid,
    problem,
    service_unavailable,
    too_many_requests,
    validation_exception,
)
from .idempotency import StoredResponse, request_fingerprint
from .models import App
from .spec import SpecViolation

if TYPE_CHECKING:
    from .emulator import XeroEmulator

logger = logging.getLogger(__name__)

_SPEC_CHECKED_APIS = frozenset({"accounting", "bankfeeds", "connections"})
_WRITE_METHODS = frozenset({"PUT", "POST", "PATCH"})


class RequestPipeline:
    def __init__(self, emulator: XeroEmulator) -> None:
        self.emulator = emulator
        # The emulator's parts live as long as it does (reset clears them in place).
        self.state = emulator.state
        self.clock = emulator.clock
        self.config = emulator.config
        self.router = emulator.router
        self.faults = emulator.fault_plan
        self.limits = emulator.rate_limiter
        self.idempotency = emulator.idempotency
        self.identity = emulator.identity

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one request and log it; control requests are answered but not logged."""
        if request.path.lower().startswith("/_emulator"):
            response = self.emulator.control.handle(request)
            response.headers["Xero-Correlation-Id"] = request.correlation_id
            return response
        arrived = self.clock.time()
        generation = self.emulator.generation
        self.emulator.bankfeeds.settle(arrived)
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.query.to_dict(flat=True),
            "tenant": request.headers.get("xero-tenant-id"),
            "idempotency_key": request.idempotency_key,
            "timestamp": arrived,
            "correlation_id": request.correlation_id,
            "status": None,
            "client_id": None,
            "grant_id": None,  # the token family (one per consent) whose access token the request carried
            "auth_event_id": None,
            "fault": None,
            "replayed": False,
            "dropped": False,
        }
        try:
            response = self._dispatch(request, entry)
        except Exception:
            logger.exception("emulator failure on %s %s", request.method, request.path)
            response = internal_error()
        entry["status"] = None if response.drop else response.status
        entry["dropped"] = response.drop
        entry["client_id"] = request.client_id
        response.headers["Xero-Correlation-Id"] = request.correlation_id
        with self.state.lock:
            if generation == self.emulator.generation:  # (not a request of before a reset)
                self.state.request_log.append(entry)
        return response

    def _dispatch(self, request: ApiRequest, entry: dict[str, Any]) -> ApiResponse:
        route, variables, path_known = self.router.resolve(request.method, request.path)
        if route is None:
            return json_response(405, {"Message": "Method not allowed"}) if path_known else not_found()
        request.path_vars = variables

        identity = _identity(request)
        edge = self.faults.take(request.method, request.path, request.headers.get("xero-tenant-id"), "edge",
                                identity, self.clock.time())
        if edge is not None:
            entry["fault"] = edge.kind
            early = self._edge_fault(edge, request, route)
            if early is not None:
                return early

        violation = self._check_spec(request, route)

        if route.api in {"login", "identity"}:
            return route.handler(request)  # the identity service authenticates clients itself

        token = self.identity.authenticate(request)
        if isinstance(token, ApiResponse):
            return token
        request.client_id, request.user_id, request.scopes = token.client_id, token.user_id, token.scopes
        grant = self.state.grants.get(token.grant_id)
        entry["grant_id"], entry["auth_event_id"] = token.grant_id, grant.auth_event_id if grant else None
        app = self.state.apps.get(token.client_id)
        request.app_name = app.name if app else "Emulated App"

        if route.api == "connections":
            decision = self.limits.acquire_app(token.client_id, self.clock.time())
            if not decision.allowed:
                response = too_many_requests(decision.problem or "appminute", decision.retry_after or 1)
            else:
                response = route.handler(request)
            response.headers.update(decision.headers)
            return response

        refused = self._authorise_tenant(request, route, app)
        if refused is not None:
            return refused
        tenant_id = request.tenant_id or ""
        decision = self.limits.acquire_tenant(token.client_id, tenant_id, self.clock.time())
        if not decision.allowed:
            response = too_many_requests(decision.problem or "minute", decision.retry_after or 1)
        else:
            try:
                response = self._refuse_body(request, route, violation) or self._answer_once(request, route, entry)
                self._after_handler(request, entry, response)
            finally:
                self.limits.release(token.client_id, tenant_id)
        response.headers.update(decision.headers)
        return response

    # ----------------------------------------------------------------------------------------- steps
    def _hold(self, fault: Fault, request: ApiRequest) -> None:
        """Wait REAL seconds (a client's timeout is real), or until the emulator stops (``XeroEmulator.hold``)."""
        self.emulator.hold(request, fault.hold_s if fault.hold_s is not None else self.config.default_timeout_hold_s)

    def _edge_fault(self, fault: Fault, request: ApiRequest, route: Route) -> ApiResponse | None:
        if fault.kind == "disconnect":
            self.emulator.disconnect((fault.tenant or request.headers.get("xero-tenant-id") or "").lower())
            return None  # the request carries on, and meets the missing connection
        if fault.kind == "invalid_grant":
            return oauth_error("invalid_grant")
        if fault.kind == "token_expired":
            self.identity.expire_access_token(request)
            return None  # the request carries on, and meets its expired token
        if fault.kind == "rate_limit":
            return too_many_requests(fault.problem, fault.retry_after)
        if fault.kind == "timeout":
            self._hold(fault, request)
            return ApiResponse(504, drop=True)
        if fault.body is not None:
            return json_response(fault.status, fault.body)
        if route.api == "bankfeeds" and fault.status == 500:
            return _bankfeeds_internal_error()
        return service_unavailable(fault.status)

    def _check_spec(self, request: ApiRequest, route: Route) -> SpecViolation | None:
        if not self.emulator.strict or route.api not in _SPEC_CHECKED_APIS:
            return None
        violation = self.emulator.specs().validate_request(
            request.method,
            request.path,
            list(request.query.items(multi=True)),
            request.headers,
            request.body or None,
            request.content_type,
        )
        if violation is not None:
            with self.state.lock:
                self.state.spec_violations.append(violation)
        return violation

    def _authorise_tenant(self, request: ApiRequest, route: Route, app: App | None) -> ApiResponse | None:
        granted = set(request.scopes)
        if route.api == "bankfeeds":
            if app is None or not app.bank_feeds_enabled or not granted & route.scopes:
                return problem(
                    403,
                    "invalid-application",
                    "Invalid Application",
                    "The application has not been configured to use these API endpoints.",
                )
        elif route.scopes and not granted & route.scopes:
            return forbidden()
        tenant = (request.headers.get("xero-tenant-id") or "").strip().lower()
        if not tenant:
            return forbidden()
        with self.state.lock:
            connected = self.state.is_connected(request.client_id or "", request.user_id or "", tenant)
        if tenant not in self.state.organisations or not connected:
            return forbidden()
        request.tenant_id = tenant
        return None

    def _refuse_body(self, request: ApiRequest, route: Route, violation: SpecViolation | None) -> ApiResponse | None:
        """A malformed body (strict mode), an oversized one, or an over-long Idempotency-Key."""
        if violation is not None and violation.malformed:
            message = "; ".join(violation.messages)
            if route.api == "bankfeeds":
                return invalid_request(message)
            return post_data_invalid(request, f"JSON for post data was invalid, {message}")
        is_attachment = "/attachments/" in request.path.lower()
        if (
            route.api == "accounting"
            and not is_attachment
            and len(request.body) > self.config.accounting_max_body_bytes
        ):
            return payload_too_large()
        key = request.idempotency_key
        if request.method in _WRITE_METHODS and key is not None and len(key) > self.config.idempotency_key_max_length:
            detail = f"The Idempotency-Key must be {self.config.idempotency_key_max_length} characters or fewer."
            return invalid_request(detail) if route.api == "bankfeeds" else validation_exception(request, [], detail)
        return None

    def _answer_once(self, request: ApiRequest, route: Route, entry: dict[str, Any]) -> ApiResponse:
        """Run the handler, or replay the answer remembered under the request's Idempotency-Key.

        Checking the key, running the handler and remembering its answer happen under the state lock, so two
        retries racing with one key cannot both write.
        """
        key = request.idempotency_key if request.method in _WRITE_METHODS else None
        with self.state.lock:
            scope = (request.client_id or "", request.tenant_id or "")
            query = list(request.query.items(multi=True))
            fingerprint = request_fingerprint(request.method, request.path, query, request.body)
            now = self.clock.time()
            if key is not None:
                outcome = self.idempotency.check(scope, key, fingerprint, now, self.config.idempotency_window_s)
                if outcome.conflict:
                    detail = f"Idempotency Key: {key} is used with a different request."
                    return (
                        invalid_request(detail)
                        if route.api == "bankfeeds"
                        else validation_exception(request, [], detail)
                    )
                if outcome.replay is not None:
                    entry["replayed"] = True
                    stored = outcome.replay
                    return ApiResponse(stored.status, stored.body, stored.content_type, dict(stored.headers))
            internal = self.faults.take(request.method, request.path, request.tenant_id, "handler",
                                        _identity(request), now)
            if internal is not None:
                entry["fault"] = internal.kind
                if internal.body is not None:
                    response = json_response(500, internal.body)
                else:
                    response = _bankfeeds_internal_error() if route.api == "bankfeeds" else internal_error()
            else:
                response = route.handler(request)
            if key is not None and (response.status < 400 or self.config.idempotency_caches_errors):
                stored = StoredResponse(
                    response.status, response.body, response.content_type, tuple(response.headers.items())
                )
                self.idempotency.remember(scope, key, fingerprint, now, stored)
        return response

    def _after_handler(self, request: ApiRequest, entry: dict[str, Any], response: ApiResponse) -> None:
        fault = self.faults.take(request.method, request.path, request.tenant_id, "after", _identity(request),
                                 self.clock.time())
        if fault is None:
            return
        entry["fault"] = fault.kind
        if fault.kind == "drop":
            response.drop = True
        else:
            self._hold(fault, request)  # a committing timeout: the answer leaves after the client gave up


def _identity(request: ApiRequest) -> str:
    """What tells one request from another for a fault's probability: its Idempotency-Key, else its query and
    body (so a repeat of the same read is told apart only by how many times it was seen)."""
    if request.idempotency_key:
        return request.idempotency_key
    digest = hashlib.sha256(repr(sorted(request.query.items(multi=True))).encode() + (request.body or b""))
    return digest.hexdigest()[:32]


def _bankfeeds_internal_error() -> ApiResponse:
    return problem(
        500,
        "internal-error",
        "Intermittent Internal Xero Error",
        "The request should be retried. If the error persists, a Xero support issue should be raised.",
    )
