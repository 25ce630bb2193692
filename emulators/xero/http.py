"""The request and response shapes every handler shares, Xero's error bodies, and routing.

Error bodies, by where they come from:

* Xero's API gateway (401/403/404/429/500/503 on any API): ``{"Type":null,"Title":...,"Status":...,
  "Detail":...,"Instance":<uuid>,"Extensions":{}}`` (xero-node#432, NangoHQ/nango#203; 401
  ``TokenExpired: token expired at ...`` per pyxero's tests "verified from the live API").
* Accounting validation: ``{"ErrorNumber":10,"Type":"ValidationException",...}`` [OAS Error].
* Bank Feeds: ``application/problem+json`` ``{type,title,status,detail}`` [OAS].
* Identity: OAuth 2 ``{"error": ...}``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers, MultiDict

from .formats import dump_json, dump_xml

JSON = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json; charset=utf-8"
XML = "text/xml; charset=utf-8"


class BadRequestBody(ValueError):
    """The body is not the JSON document the endpoint expects."""


@dataclass
class ApiRequest:
    method: str
    path: str
    query: MultiDict[str, str]
    headers: Headers
    body: bytes
    content_type: str
    correlation_id: str
    path_vars: dict[str, str] = field(default_factory=dict)
    #: Set once the bearer token and tenant header are accepted.
    client_id: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    scopes: list[str] = field(default_factory=list)
    app_name: str = "Emulated App"

    def query_value(self, name: str) -> str | None:
        """Xero reads query parameter names case-insensitively (``summarizeErrors`` = ``SummarizeErrors``)."""
        wanted = name.lower()
        for key, value in self.query.items(multi=True):
            if key.lower() == wanted:
                return value
        return None

    def query_flag(self, name: str, default: bool) -> bool:
        value = self.query_value(name)
        if value is None or value == "":
            return default
        return value.strip().lower() == "true"

    def json(self) -> Any:
        if not self.body:
            raise BadRequestBody("The request body is empty")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequestBody(f"JSON for post data was invalid, {error}") from error

    @property
    def wants_json(self) -> bool:
        """The Accounting API answers XML unless the client asks for JSON (``Accept: application/json``)."""
        accept = self.headers.get("Accept", "")
        return any(part.split(";")[0].strip().lower() == "application/json" for part in accept.split(","))

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    #: Set by the pipeline: the connection is closed instead of answered (a fault).
    drop: bool = False


def json_response(status: int, document: Any, headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(status, dump_json(document), JSON, dict(headers or {}))


def accounting_response(request: ApiRequest, status: int, document: dict[str, Any], xml_root: str) -> ApiResponse:
    """JSON or XML, following the request's Accept header as the Accounting API does."""
    if request.wants_json:
        return json_response(status, document)
    return ApiResponse(status, dump_xml(document, xml_root), XML)


def gateway_error(status: int, title: str, detail: str) -> dict[str, Any]:
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def unauthorized(detail: str = "AuthenticationUnsuccessful") -> ApiResponse:
    response = json_response(401, gateway_error(401, "Unauthorized", detail))
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def forbidden() -> ApiResponse:
    return json_response(403, gateway_error(403, "Forbidden", "AuthenticationUnsuccessful"))


def not_found() -> ApiResponse:
    # Detail as pyxero reports Xero's 404 ("The resource you're looking for cannot be found").
    return json_response(404, gateway_error(404, "Not Found", "The resource you're looking for cannot be found"))


def internal_error() -> ApiResponse:
    # Body seen from Xero's Accounting API (xero-node#510).
    return json_response(
        500,
        gateway_error(
            500,
            "An error occurred",
            "An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current "
            "service status.",
        ),
    )


def service_unavailable(status: int = 503) -> ApiResponse:
    return json_response(
        status, gateway_error(status, "Service Unavailable", "The Xero API is temporarily unavailable.")
    )


def too_many_requests(problem: str, retry_after: int) -> ApiResponse:
    response = json_response(429, gateway_error(429, "Too Many Requests", "You have exceeded the rate limit"))
    response.headers["Retry-After"] = str(retry_after)
    response.headers["X-Rate-Limit-Problem"] = problem
    return response


def payload_too_large() -> ApiResponse:
    # Xero-Java#349: {"Title":"RequestEntityTooLarge","Status":413,"Detail":"PayloadTooLarge",...}
    return json_response(413, gateway_error(413, "RequestEntityTooLarge", "PayloadTooLarge"))


def validation_exception(
    request: ApiRequest, elements: list[dict[str, Any]], message: str | None = None
) -> ApiResponse:
    document = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": message or "A validation exception occurred",
        "Elements": elements,
    }
    return accounting_response(request, 400, document, "ApiException")


def post_data_invalid(request: ApiRequest, message: str) -> ApiResponse:
    document = {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}
    return accounting_response(request, 400, document, "ApiException")


def query_parse_error(request: ApiRequest, message: str) -> ApiResponse:
    document = {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message}
    return accounting_response(request, 400, document, "ApiException")


def problem(status: int, problem_type: str, title: str, detail: str) -> ApiResponse:
    return ApiResponse(
        status,
        dump_json({"type": problem_type, "title": title, "status": status, "detail": detail}),
        PROBLEM_JSON,
    )


def problem_dict(status: int, problem_type: str, title: str, detail: str) -> dict[str, Any]:
    return {"type": problem_type, "title": title, "status": status, "detail": detail}


def oauth_error(error: str, status: int = 400, description: str | None = None) -> ApiResponse:
    document: dict[str, Any] = {"error": error}
    if description:
        document["error_description"] = description
    return json_response(status, document, {"Cache-Control": "no-store"})


Handler = Callable[[ApiRequest], ApiResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    #: "accounting" | "bankfeeds" | "identity" | "connections" | "login"
    api: str
    #: Scopes of which the token needs one ("" = none needed).
    scopes: frozenset[str] = frozenset()
    tenant: bool = True


def route_pattern(template: str) -> re.Pattern[str]:
    """``/BankTransactions/{id}`` -> a case-insensitive regex with named groups (Xero's paths ignore case)."""
    parts = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "/?$", re.IGNORECASE)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        api: str,
        scopes: frozenset[str] = frozenset(),
        tenant: bool = True,
    ) -> None:
        self.routes.append(Route(method.upper(), route_pattern(template), handler, api, scopes, tenant))

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route, its path variables, and whether the path exists for some other method."""
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            path_known = True
            if route.method == method.upper():
                return route, dict(found.groupdict()), True
        return None, {}, path_known
