"""AWS calls to the local moto server handed to it in this process, without a socket (the soak's choice).

Every AWS call the product makes locally is an HTTP request to moto server, which runs in this same process.
Werkzeug's server closes the connection after each answer and starts a thread for each new one, so every
DynamoDB read paid for a TCP connection and a thread; under a soak's load that was most of a call's cost
(docs/soak.md, "Where the time goes"). With this installed, botocore's request for the moto server's address
goes to the same WSGI application moto server runs, built from the same method, path, headers and body, and
its answer comes back as botocore would have read it: the same routing, the same backends, the same
answers. What stays on the wire: the HTTP API (Xero and the ledger are handed over in process likewise by
``local/http_in_process.py``, their drops and timeouts kept).

The hand-over replaces the wire itself (botocore's ``Endpoint._send``), not a ``before-send`` handler:
botocore runs every ``before-send`` handler and keeps the first answer, so a handler would apply a write
even when an earlier one (the soak's fault injection) answered for that attempt, and the SDK's retry would
then find its own write (a conditional put failing on a key nobody else knew). ``uninstall`` puts the wire
back for the next stack.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.endpoint import Endpoint
from botocore.exceptions import ClientError
from moto import backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.core.exceptions import HTTPException
from moto.core.request import Request
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import EnvironBuilder, run_wsgi_app

_targets: dict[str, DomainDispatcherApplication] = {}  # moto server's base URL -> the application it runs
_on_the_wire = Endpoint._send
# (service, region, X-Amz-Target's API, path) -> the handler moto server's routing picks for it (or None)
_handlers: dict[tuple[str, str, str, str], Callable[..., Any] | None] = {}
_handlers_lock = threading.Lock()
_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/([^/,]+)/aws4_request")


class _ServerRequest(Request):
    """moto's request as its server builds it (``from_wsgi_server``: the answer carries no Date of moto's own)."""

    from_wsgi_server = True


def install(base_url: str) -> None:
    """Hand botocore's requests to ``base_url`` (moto server in this process) straight to moto's application."""
    _targets[base_url.rstrip("/")] = DomainDispatcherApplication(create_backend_app)
    Endpoint._send = _send


def uninstall(base_url: str) -> None:
    _targets.pop(base_url.rstrip("/"), None)


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _target(url: str) -> DomainDispatcherApplication | None:
    return next((a for base, a in _targets.items() if url.startswith(base + "/") or url == base), None)


def handles(url: str) -> bool:
    """Whether a request to ``url`` is handed to moto in this process (never goes on the wire)."""
    return Endpoint._send is _send and _target(url) is not None


def _send(endpoint: Endpoint, request: Any) -> Any:
    """What botocore sends when no ``before-send`` handler answered: moto's answer, or the wire's."""
    url = str(request.url)
    app = _target(url)
    if app is None:
        return _on_the_wire(endpoint, request)
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    elif isinstance(body, str):
        body = body.encode()
    direct = _dispatch(app, request, url, body or b"")
    if direct is not None:
        return direct
    parts = urlsplit(url)
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
    environ = EnvironBuilder(path=parts.path or "/", query_string=parts.query, method=request.method, headers=headers,
                             input_stream=io.BytesIO(body or b""), content_length=len(body or b""),
                             base_url=f"{parts.scheme}://{parts.netloc}").get_environ()
    chunks, status, answer_headers = run_wsgi_app(app, environ, buffered=True)
    content = drain(chunks)
    return AWSResponse(url, int(status.split(" ", 1)[0]), dict(answer_headers.items()), _Body(content))


def _dispatch(app: DomainDispatcherApplication, request: Any, url: str, body: bytes) -> AWSResponse | None:
    """The request handed to the handler moto server's routing picks for it, as moto's server does after Flask
    has matched the path: the same backend (chosen by the dispatcher from the signing scope and the target),
    the same handler, the same request (moto's own, built from the method, URL, headers and body), the same
    answer. None when the handler is not known this way (the WSGI application answers it then)."""
    handler = _handler(app, request, urlsplit(url).path or "/")
    if handler is None:
        return None
    normalized = _ServerRequest.from_primitives(request.method, url, request.headers, body)
    try:
        recorder._record_request(normalized)
        result = handler(normalized, normalized.raw_url, dict(normalized.headers))
    except HTTPException as error:  # what Flask makes of it in moto server
        result = error.code, dict(error.get_headers()), error.get_body()
    except ClientError as error:  # what moto server's view makes of it
        result = 400, {}, error.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    if isinstance(content, str):
        content = content.encode()
    return AWSResponse(url, int(status), {str(k): str(v) for k, v in dict(headers).items()}, _Body(content or b""))


def _handler(app: DomainDispatcherApplication, request: Any, path: str) -> Callable[..., Any] | None:
    authorization = _text(request.headers.get("Authorization"))
    scope = _SCOPE.search(authorization)
    if scope is None:
        return None
    target = _text(request.headers.get("X-Amz-Target"))
    key = (scope.group(2), scope.group(1), target.split(".", 1)[0], path)
    with _handlers_lock:
        if key not in _handlers:
            _handlers[key] = _find_handler(app, authorization, target, path)
        return _handlers[key]


def _find_handler(app: DomainDispatcherApplication, authorization: str, target: str,
                  path: str) -> Callable[..., Any] | None:
    environ = {"HTTP_AUTHORIZATION": authorization, "PATH_INFO": path, "HTTP_HOST": "localhost"}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    try:
        with app.lock:
            name = app.get_backend_for_host(app.infer_service_region_host(environ, path))
    except Exception:  # a request the dispatcher itself would answer otherwise: leave it to the application
        return None
    if not name:
        return None
    found = backends.get_backend(name)
    if isinstance(found, BackendDict):
        regions = found[DEFAULT_ACCOUNT_ID]
        backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
    else:
        backend = found["global"]
    matches = [handler for pattern, handler in backend.url_paths.items() if re.fullmatch(pattern, path)]
    return matches[0] if len(matches) == 1 else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def drain(chunks: Iterable[bytes]) -> bytes:
    """A WSGI answer's body, read whole; the iterable is closed as the WSGI spec asks, whatever happens."""
    try:
        return b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
