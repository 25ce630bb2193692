"""The HTTP API (API Gateway v2) played locally: the template's routes, its JWT authorizer, payload 2.0.

``HttpApi.handle`` is the whole gateway without a socket (tests call it directly); ``HttpApi.serve``
puts it on a loopback port for the demo and for manual calls.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.authorizer import DevTokenAuthority, Unauthorized, claims_as_api_gateway_passes_them
from local.lambda_runtime import LambdaRuntime
from local.openapi import openapi_document, swagger_asset, swagger_page
from local.template import ACCOUNT_ID, REGION, HttpRoute, Template

# HTTP API's own limits: 30 s integration timeout, 10 MB request payload.
INTEGRATION_TIMEOUT_SECONDS = 30
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
log = logging.getLogger("local.http")
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded",
               "application/problem+json")


@dataclass
class GatewayResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str]
    specificity: tuple[int, int]

    @property
    def route_key(self) -> str:
        return f"{self.route.method} {self.route.path}"


def _compile(route: HttpRoute) -> _CompiledRoute:
    parts = []
    static = 0
    for segment in route.path.strip("/").split("/"):
        greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
        param = re.fullmatch(r"\{(\w+)\}", segment)
        if greedy:
            parts.append(f"(?P<{greedy.group(1)}>.+)")
        elif param:
            parts.append(f"(?P<{param.group(1)}>[^/]+)")
        else:
            parts.append(re.escape(segment))
            static += 1
    # API Gateway prefers the route with the most literal segments, then the longest.
    return _CompiledRoute(route, re.compile("^/" + "/".join(parts) + "$"), (static, len(parts)))


class HttpApi:
    def __init__(self, template: Template, runtime: LambdaRuntime, authority: DevTokenAuthority) -> None:
        self.template = template
        self.runtime = runtime
        self.authority = authority
        self.routes = sorted((_compile(r) for r in template.http_routes()), key=lambda r: r.specificity, reverse=True)
        self.api_id = "localapi"
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="lambda-http")
        # Local-only operations (fire a schedule...), outside the template's API and its authorizer.
        self.control_routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {}
        # Local-only sites (the web console) asked first: each answers a request or returns None.
        self.local_sites: list[Callable[[Request], Response | None]] = []

    # ------------------------------------------------------------------ the gateway
    def handle(self, method: str, path: str | bytes, *, headers: dict[str, str] | None = None, body: bytes | str = b"",
               query: str = "", source_ip: str = "127.0.0.1") -> GatewayResponse:
        method = method.upper()
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        raw = body.encode() if isinstance(body, str) else body
        path = raw_path(path)
        if len(raw) > MAX_PAYLOAD_BYTES:
            return _message(413, "Request Entity Too Large")
        matched = self._match(method, path)
        if matched is None:
            return _message(404, "Not Found")
        compiled, path_params = matched
        try:
            claims = self.authority.verify(headers.get("authorization"))
        except Unauthorized as why:
            response = _message(401, "Unauthorized")
            response.headers["www-authenticate"] = f'Bearer error="invalid_token" error_description="{why}"'
            return response
        event = self._event(compiled, method, path, headers, raw, query, path_params, claims, source_ip)
        future = self._pool.submit(self.runtime.invoke, compiled.route.function, event)
        try:
            result = future.result(timeout=INTEGRATION_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            return _message(503, "Service Unavailable")
        except Exception:
            return _message(500, "Internal Server Error")
        return _from_lambda(result)

    def _match(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.match(path)
            if found:
                return compiled, {name: unquote(value) for name, value in found.groupdict().items()}
        return None

    def _event(self, compiled: _CompiledRoute, method: str, path: str, headers: dict[str, str], body: bytes,
               query: str, path_params: dict[str, str], claims: dict[str, Any], source_ip: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        content_type = headers.get("content-type", "")
        text: str | None = None
        if body and any(content_type.startswith(t) for t in _TEXT_TYPES):
            # As API Gateway does: bytes that are not UTF-8 reach the function base64-encoded.
            with contextlib.suppress(UnicodeDecodeError):
                text = body.decode()
        query_params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            # Payload 2.0 joins repeated query parameters with commas.
            query_params[key] = f"{query_params[key]},{value}" if key in query_params else value
        scopes = str(claims.get("scope", "")).split()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": compiled.route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": self.api_id,
                "authorizer": {"jwt": {"claims": claims_as_api_gateway_passes_them(claims), "scopes": scopes}},
                "domainName": f"{self.api_id}.execute-api.{REGION}.amazonaws.com",
                "domainPrefix": self.api_id,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                         "userAgent": headers.get("user-agent", "")},
                "requestId": str(uuid.uuid4()),
                "routeKey": compiled.route_key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": bool(body) and text is None,
        }
        if query_params:
            event["queryStringParameters"] = query_params
        if path_params:
            event["pathParameters"] = path_params
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
        if body:
            event["body"] = text if text is not None else base64.b64encode(body).decode()
        return event

    # ------------------------------------------------------------------ on a socket
    def serve(self, host: str = "127.0.0.1", port: int = 0, listener: socket.socket | None = None) -> str:
        """Answer on ``host:port``, or on ``listener``, a socket already bound (its port known in advance)."""
        self._server = make_server(host, port, Request.application(self._wsgi), threaded=True,
                                   request_handler=_RequestLog, fd=listener.fileno() if listener else None)
        if listener is not None:
            listener.close()  # the server holds its own duplicate of the socket
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="http-api", daemon=True)
        self._thread.start()
        return f"http://{host}:{self._server.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _wsgi(self, request: Request) -> Response:
        # The generated API description and its browsable page: local conveniences, no token needed.
        if request.method == "GET" and request.path == "/openapi.json":
            return Response(json.dumps(openapi_document(self.template)), content_type="application/json")
        if request.method == "GET" and request.path in ("/docs", "/docs/"):
            return Response(swagger_page("/openapi.json", "/docs"), content_type="text/html")
        if request.method == "GET" and request.path.startswith("/docs/"):
            asset = swagger_asset(request.path.rsplit("/", 1)[-1])
            if asset is not None:
                return Response(asset[0], content_type=asset[1])
        for site in self.local_sites:
            answer = site(request)
            if answer is not None:
                return answer
        control = self.control_routes.get((request.method, request.path))
        if control is not None:
            try:
                payload = control(request.get_json(silent=True) or {})
            except KeyError as exc:
                return Response(json.dumps({"message": str(exc)}), status=404, content_type="application/json")
            return Response(json.dumps(payload, default=str), content_type="application/json")
        started = time.perf_counter()
        sent = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "").split("?")[0]
        path = sent.encode("latin-1") if sent.startswith("/") else request.path  # WSGI hands bytes as latin-1
        result = self.handle(request.method, path, headers=dict(request.headers),
                             body=request.get_data(), query=request.query_string.decode(),
                             source_ip=request.remote_addr or "127.0.0.1")
        response = Response(result.body, status=result.status, headers=result.headers)
        for cookie in result.cookies:
            response.headers.add("set-cookie", cookie)
        response.headers["apigw-requestid"] = str(uuid.uuid4())
        response.headers["x-local-latency-ms"] = f"{(time.perf_counter() - started) * 1000:.1f}"
        return response


class _RequestLog(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s -> %s", self.command, self.path, code)


# Characters a path keeps as they are; anything else (spaces, controls, non-ASCII) is percent-encoded, and an
# escape already there stays one.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def raw_path(path: str | bytes) -> str:
    """The path as API Gateway passes it to the function (``rawPath``): percent-encoded, as a client sends it.
    The function's routes match on it; ``pathParameters`` carry the decoded values."""
    return quote(path, safe=_PATH_SAFE)


def _message(status: int, message: str) -> GatewayResponse:
    return GatewayResponse(status=status, headers={"content-type": "application/json"},
                           body=json.dumps({"message": message}).encode())


def _from_lambda(result: Any) -> GatewayResponse:
    """Payload 2.0 response rules: a dict with statusCode is taken as is; anything else is JSON, 200."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key.lower()] = ",".join(str(v) for v in values)
        return GatewayResponse(status=int(result["statusCode"]), headers=headers, body=raw,
                               cookies=list(result.get("cookies") or []))
    return GatewayResponse(status=200, headers={"content-type": "application/json"}, body=json.dumps(result).encode())
