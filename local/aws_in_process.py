"""AWS calls to the local moto server handed to it in this process, without a socket (the soak's choice).

Every AWS call the product makes locally is an HTTP request to moto server, which runs in this same process.
Werkzeug's server closes the connection after each answer and starts a thread for each new one, so every
DynamoDB read paid for a TCP connection and a thread; under a soak's load that was most of a call's cost
(docs/soak.md, "Where the time goes"). With this installed, botocore's request for the moto server's address
goes to the same WSGI application moto server runs, built from the same method, path, headers and body, and
its answer comes back as botocore would have read it: the same routing, the same backends, the same
answers. What stays on the wire: the HTTP API, Xero and the ledger, whose timeouts and faults are the point.

The hand-over replaces the wire itself (botocore's ``Endpoint._send``), not a ``before-send`` handler:
botocore runs every ``before-send`` handler and keeps the first answer, so a handler would apply a write
even when an earlier one (the soak's fault injection) answered for that attempt, and the SDK's retry would
then find its own write (a conditional put failing on a key nobody else knew). ``uninstall`` puts the wire
back for the next stack.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.endpoint import Endpoint
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import EnvironBuilder, run_wsgi_app

_targets: dict[str, DomainDispatcherApplication] = {}  # moto server's base URL -> the application it runs
_on_the_wire = Endpoint._send


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
    parts = urlsplit(url)
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
    environ = EnvironBuilder(path=parts.path or "/", query_string=parts.query, method=request.method, headers=headers,
                             input_stream=io.BytesIO(body or b""), content_length=len(body or b""),
                             base_url=f"{parts.scheme}://{parts.netloc}").get_environ()
    chunks, status, answer_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return AWSResponse(url, int(status.split(" ", 1)[0]), dict(answer_headers.items()), _Body(content))
