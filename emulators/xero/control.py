"""The control API over HTTP (``/_emulator/...``, JSON), mirroring ``XeroEmulator``'s Python methods so
the demo and tests in other processes can drive the emulator. See the README for the endpoint list."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .formats import dump_json
from .http import JSON, ApiRequest, ApiResponse
from .identity import AuthorizeError

if TYPE_CHECKING:
    from .emulator import XeroEmulator

_Handler = Callable[[ApiRequest, dict[str, str], Any], Any]


def _ok(document: Any, status: int = 200) -> ApiResponse:
    return ApiResponse(status, dump_json(document), JSON)


class ControlApi:
    def __init__(self, emulator: XeroEmulator) -> None:
        self.emulator = emulator
        self.routes: list[tuple[str, re.Pattern[str], _Handler]] = []
        e = emulator
        org = "/_emulator/organisations/(?P<tenant>[^/]+)"
        self._add("POST", "/_emulator/reset", self._reset)
        self._add("GET", "/_emulator/apps", lambda r, v, b: [a.as_dict() for a in e.state.apps.values()])
        self._add("POST", "/_emulator/apps", lambda r, v, b: e.register_app(**b))
        self._add("GET", "/_emulator/organisations", lambda r, v, b: e.organisations())
        self._add("POST", "/_emulator/organisations", self._seed)
        self._add("GET", org, lambda r, v, b: e.organisation(v["tenant"]))
        self._add("PATCH", org, lambda r, v, b: e.update_organisation(v["tenant"], **b))
        self._add("GET", org + "/accounts", lambda r, v, b: e.accounts(v["tenant"]))
        self._add("POST", org + "/accounts", lambda r, v, b: e.add_account(v["tenant"], b))
        self._add("PATCH", org + "/accounts/(?P<id>[^/]+)", lambda r, v, b: e.update_account(v["tenant"], v["id"], b))
        self._add(
            "DELETE",
            org + "/accounts/(?P<id>[^/]+)",
            lambda r, v, b: {"removed_feed_connections": e.delete_bank_account(v["tenant"], v["id"])},
        )
        self._add("GET", org + "/tracking-categories", lambda r, v, b: e.tracking_categories(v["tenant"]))
        self._add("PATCH", org + "/tracking/(?P<id>[^/]+)", self._tracking_status)
        self._add("GET", org + "/contacts", lambda r, v, b: e.contacts(v["tenant"]))
        self._add("GET", org + "/bank-transactions", lambda r, v, b: e.bank_transactions(v["tenant"]))
        self._add(
            "GET", org + "/bank-transactions/(?P<id>[^/]+)", lambda r, v, b: e.bank_transaction(v["tenant"], v["id"])
        )
        self._add("PATCH", org + "/bank-transactions/(?P<id>[^/]+)", self._reconcile)
        self._add(
            "GET",
            org + "/bank-transactions/(?P<id>[^/]+)/attachments",
            lambda r, v, b: e.attachments(v["tenant"], v["id"]),
        )
        self._add("GET", org + "/bank-transactions/(?P<id>[^/]+)/attachments/(?P<name>[^/]+)", self._attachment)
        self._add("GET", org + "/feed-connections", lambda r, v, b: e.feed_connections(v["tenant"]))
        self._add(
            "POST",
            org + "/feed-connections/reject-pending",
            lambda r, v, b: {"rejected": e.reject_next_feed_connections(v["tenant"], b.get("error"))},
        )
        self._add(
            "POST",
            org + "/feed-connections/(?P<id>[^/]+)/settle",
            lambda r, v, b: e.settle_feed_connection(v["tenant"], v["id"], b.get("status", "ACTIVE"), b.get("error")),
        )
        self._add(
            "GET",
            org + "/feed-connections/(?P<id>[^/]+)/lines",
            lambda r, v, b: e.statement_lines(v["tenant"], v["id"]),
        )
        self._add("GET", org + "/statements", lambda r, v, b: e.statements(v["tenant"]))
        self._add(
            "POST", org + "/disconnect", lambda r, v, b: {"removed": e.disconnect(v["tenant"], b.get("client_id"))}
        )
        self._add("POST", "/_emulator/settle", self._settle)
        self._add("GET", "/_emulator/connections", lambda r, v, b: e.connections())
        self._add("GET", "/_emulator/disconnections", lambda r, v, b: e.disconnections())
        self._add("GET", "/_emulator/tokens", lambda r, v, b: e.token_stats())
        self._add("POST", "/_emulator/consent", self._consent)
        self._add("GET", "/_emulator/requests", lambda r, v, b: e.request_log)
        self._add("DELETE", "/_emulator/requests", self._clear_requests)
        self._add("GET", "/_emulator/spec-violations", lambda r, v, b: e.spec_violations)
        self._add("DELETE", "/_emulator/spec-violations", self._clear_violations)
        self._add("GET", "/_emulator/faults", lambda r, v, b: e.faults())
        self._add("GET", "/_emulator/faults/fired", lambda r, v, b: e.fired_faults())
        self._add("POST", "/_emulator/tokens/expire",
                  lambda r, v, b: {"expired": e.expire_access_tokens(b.get("tenant_id"))})
        self._add("POST", "/_emulator/faults", lambda r, v, b: e.add_fault(**b))
        self._add("DELETE", "/_emulator/faults", self._clear_faults)
        self._add("DELETE", "/_emulator/faults/(?P<id>[^/]+)", lambda r, v, b: {"removed": e.remove_fault(v["id"])})
        self._add("GET", "/_emulator/clock", lambda r, v, b: {"now": e.now()})
        self._add("POST", "/_emulator/clock", self._clock)
        self._add("GET", "/_emulator/config", lambda r, v, b: e.config.as_dict())
        self._add("PATCH", "/_emulator/config", lambda r, v, b: e.configure(**b))

    def _add(self, method: str, pattern: str, handler: _Handler) -> None:
        self.routes.append((method, re.compile("^" + pattern + "/?$"), handler))

    def _reset(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        self.emulator.reset()
        return {"reset": True}

    def _tracking_status(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        self.emulator.set_tracking_status(variables["tenant"], variables["id"], body["Status"])
        return {"id": variables["id"], "Status": body["Status"]}

    def _reconcile(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        self.emulator.set_reconciled(variables["tenant"], variables["id"], bool(body["IsReconciled"]))
        return self.emulator.bank_transaction(variables["tenant"], variables["id"])

    def _settle(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        self.emulator.settle_pending()
        return {"settled": True}

    def _clear_requests(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        self.emulator.clear_request_log()
        return {"cleared": True}

    def _clear_violations(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        self.emulator.clear_spec_violations()
        return {"cleared": True}

    def _clear_faults(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        self.emulator.clear_faults()
        return {"cleared": True}

    def _seed(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        tenant_id = self.emulator.seed_organisation(**body)
        return {"tenantId": tenant_id, "organisation": self.emulator.organisation(tenant_id)}

    def _consent(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        redirect = self.emulator.consent(
            body["authorize_url"], body.get("tenant_ids"), body.get("user"), bool(body.get("deny", False))
        )
        return {"redirect_url": redirect}

    def _attachment(self, request: ApiRequest, variables: dict[str, str], body: Any) -> ApiResponse:
        """The bytes Xero holds for a transaction's file (the file name, as Xero names it)."""
        content = self.emulator.attachment_bytes(variables["tenant"], variables["id"], variables["name"])
        return ApiResponse(200, content, "application/octet-stream")

    def _clock(self, request: ApiRequest, variables: dict[str, str], body: Any) -> Any:
        if "advance" in body:
            return {"now": self.emulator.advance_clock(float(body["advance"]))}
        if "set" in body:
            return {"now": self.emulator.set_clock(float(body["set"]))}
        raise ValueError("give 'advance' (seconds) or 'set' (epoch seconds)")

    def handle(self, request: ApiRequest) -> ApiResponse:
        for method, pattern, handler in self.routes:
            found = pattern.match(request.path)
            if found is None or method != request.method:
                continue
            try:
                body = json.loads(request.body) if request.body else {}
                result = handler(request, found.groupdict(), body)
            except (KeyError, ValueError, TypeError, AuthorizeError) as error:
                return _ok({"error": type(error).__name__, "message": str(error)}, 400)
            if isinstance(result, ApiResponse):
                return result
            return _ok(result, 201 if method == "POST" and "organisations" in request.path else 200)
        return _ok({"error": "NotFound", "message": f"no control endpoint {request.method} {request.path}"}, 404)
