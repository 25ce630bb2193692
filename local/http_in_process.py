"""Requests to the Xero and ledger emulators handed to their WSGI applications in this process, without a socket
(the soak's choice, as ``aws_in_process`` is for moto).

Each emulator answers on loopback through werkzeug's threaded server: every request the product makes paid for
a connection's thread, the request's parsing and the answer's writing and reading, most of what a soak's
hundreds of thousands of Xero and ledger calls cost (docs/soak.md, "Where the time goes"). With this installed,
only the last step changes: ``requests`` still prepares the request, its ``HTTPAdapter.send`` still runs
(with whatever wraps it), urllib3's connection pool still runs ``urlopen`` with the session's ``Retry`` (the
ledger client's retries of a read on a 5xx or a dropped connection), and requests still builds the response and
turns urllib3's errors into its own. Only where urllib3 would write the request on a socket and read the answer
(``HTTPConnectionPool._make_request``), the request is given to the emulator's WSGI application, built from the
same method, path, query, headers and body, and the answer comes back as the same status, headers and body.

What the wire did that is kept:

- an answer the emulator drops (``ResponseDropped``: the Xero emulator closes the connection without an
  answer) is met as urllib3 meets a server that closed the connection (``http.client.RemoteDisconnected``),
  so the product sees ``requests.ConnectionError`` as before;
- an answer that took longer than the read timeout to come (a held answer, in real time) ends as
  ``urllib3.exceptions.ReadTimeoutError``, so ``requests.ReadTimeout`` (after the application returned: the
  caller waits out the hold, where on the wire it would have given up at its timeout; the soak holds nothing
  in real time, ``local/soak/chaos.py``);
- an application that raises answers 500, as werkzeug's server does;
- concurrency: the emulators limit it themselves (Xero's concurrent-call limit is the emulator's), and each
  calling thread runs its own request, as each connection had a server thread.

``uninstall`` puts the wire back for the next stack; requests to any other address never notice.
"""

from __future__ import annotations

import http.client
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPResponse
from urllib3._collections import HTTPHeaderDict
from urllib3.exceptions import ReadTimeoutError
from werkzeug.exceptions import InternalServerError
from werkzeug.test import EnvironBuilder, run_wsgi_app

from local.aws_in_process import drain

logger = logging.getLogger(__name__)

_targets: dict[str, _InProcessPool] = {}  # an emulator's base URL -> the pool that answers for it
_lock = threading.Lock()
_on_the_wire = HTTPAdapter.get_connection_with_tls_context


class _InProcessPool(HTTPConnectionPool):
    """urllib3's pool for one emulator, whose requests its WSGI application answers in the calling thread."""

    def __init__(self, app: Callable[..., Iterable[bytes]], base_url: str) -> None:
        parts = urlsplit(base_url)
        super().__init__(parts.hostname or "127.0.0.1", parts.port, maxsize=64)
        self.app = app
        self.base_url = base_url

    def _make_request(self, conn: Any, method: str, url: str, body: Any = None,
                      headers: Any = None, retries: Any = None, timeout: Any = None, chunked: bool = False,
                      response_conn: Any = None, preload_content: bool = True, decode_content: bool = True,
                      enforce_content_length: bool = True) -> HTTPResponse:
        self.num_requests += 1
        read_timeout = self._get_timeout(timeout).read_timeout
        content = _body_bytes(body)
        parts = urlsplit(url)
        sent = [(k, v.decode("latin-1") if isinstance(v, bytes) else str(v)) for k, v in (headers or {}).items()]
        environ = EnvironBuilder(path=parts.path or "/", query_string=parts.query, method=method, headers=sent,
                                 input_stream=io.BytesIO(content), content_length=len(content),
                                 base_url=self.base_url).get_environ()
        started = time.monotonic()

        def too_late() -> bool:  # the caller would have stopped reading before the answer came
            return isinstance(read_timeout, (int, float)) and time.monotonic() - started > read_timeout

        try:
            chunks, status, answer_headers = run_wsgi_app(self.app, environ, buffered=True)
        except ConnectionError as exc:  # the emulator dropped the connection without an answer
            if too_late():
                raise ReadTimeoutError(self, url, f"Read timed out. (read timeout={read_timeout})") from exc
            raise http.client.RemoteDisconnected("Remote end closed connection without response") from exc
        except Exception:
            logger.exception("the emulator at %s failed on %s %s", self.base_url, method, url)
            chunks, status, answer_headers = run_wsgi_app(InternalServerError(), environ, buffered=True)
        answer = drain(chunks)
        if too_late():
            raise ReadTimeoutError(self, url, f"Read timed out. (read timeout={read_timeout})")
        code, _, reason = status.partition(" ")
        received = HTTPHeaderDict(list(answer_headers.items()))
        if "Content-Length" not in received and "Transfer-Encoding" not in received:
            received["Content-Length"] = str(len(answer))
        return HTTPResponse(body=io.BytesIO(answer), headers=received, status=int(code), version=11,
                            version_string="HTTP/1.1", reason=reason, preload_content=preload_content,
                            decode_content=decode_content, pool=self, connection=response_conn, retries=retries,
                            enforce_content_length=enforce_content_length, request_method=method,
                            request_url=url)


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        data = body.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    return b"".join(part.encode() if isinstance(part, str) else bytes(part) for part in body)


def _target(url: str) -> _InProcessPool | None:
    return next((pool for base, pool in _targets.items() if url == base or url.startswith(base + "/")), None)


def _get_connection(adapter: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
    pool = _target(str(request.url))
    if pool is None:
        return _on_the_wire(adapter, request, *args, **kwargs)
    return pool


def install(base_url: str, app: Callable[..., Iterable[bytes]]) -> None:
    """Hand requests (every session, every adapter) to ``base_url`` to ``app`` in this process."""
    base = base_url.rstrip("/")
    with _lock:
        _targets[base] = _InProcessPool(app, base)
        HTTPAdapter.get_connection_with_tls_context = _get_connection  # type: ignore[method-assign,assignment]


def uninstall(base_url: str) -> None:
    with _lock:
        pool = _targets.pop(base_url.rstrip("/"), None)
        if not _targets:
            HTTPAdapter.get_connection_with_tls_context = _on_the_wire  # type: ignore[method-assign]
    if pool is not None:
        pool.close()


def handles(url: str) -> bool:
    """Whether a request to ``url`` is answered in this process (never goes on the wire)."""
    return _target(url) is not None
