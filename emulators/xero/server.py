"""The emulator's HTTP side: one loopback server for all of Xero's hosts, and the WSGI app it serves.

``WsgiApp`` turns each HTTP request into an ``ApiRequest`` for the emulator (``XeroEmulator.handle``) and its
``ApiResponse`` back into HTTP, closing the connection without an answer when a planned fault drops it;
``BackgroundServer`` serves an app from daemon threads until stopped. The emulator itself, its services and its
control surface are ``emulator.py``'s.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .http import ApiRequest, ApiResponse

logger = logging.getLogger(__name__)


class ResponseDropped(ConnectionAbortedError):
    """Raised after closing the socket: werkzeug treats a ConnectionError as a dropped connection."""


class WsgiApp:
    """Xero's hosts as one WSGI app over ``handle`` (the emulator's request pipeline)."""

    def __init__(self, handle: Callable[[ApiRequest], ApiResponse]) -> None:
        self.handle = handle

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        incoming = Request(environ)
        request = ApiRequest(
            method=incoming.method.upper(),
            path=incoming.path,
            query=incoming.args,
            headers=Headers(incoming.headers),
            body=incoming.get_data(cache=False),
            content_type=incoming.headers.get("Content-Type", ""),
            correlation_id=str(uuid.uuid4()),
        )
        response = self.handle(request)
        if response.drop:
            sock = environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise ResponseDropped("response dropped by a planned fault")
        outgoing = Response(response.body, status=response.status)
        if response.content_type:
            outgoing.headers["Content-Type"] = response.content_type
        else:
            del outgoing.headers["Content-Type"]
        for name, value in response.headers.items():
            outgoing.headers[name] = value
        return outgoing(environ, start_response)


class _QuietHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections alive between a client's calls, as Xero's servers do.
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            logger.debug(message, *args)


class BackgroundServer:
    """``start`` serves ``app`` from a daemon thread (one thread per request) until ``stop``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], name: str) -> None:
        self._app = app
        self._name = name
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, host: str, port: int) -> str:
        """Bind (port 0 picks a free one), serve in the background and return the base URL."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = make_server(host, port, self._app, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://{host}:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self._name, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
