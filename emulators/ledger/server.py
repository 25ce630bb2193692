"""A threaded loopback HTTP server for a WSGI app, started and stopped in-process."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger(__name__)


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log line per request: a seeded sync makes thousands and would bury the test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s", self.requestline, code)


class BackgroundServer:
    """``start`` serves ``app`` from a daemon thread (one thread per request) until ``stop``."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The server is not running; call start() first.")
        # werkzeug records the bound port here after binding, so port 0 reads as the real one.
        return f"http://{self._server.host}:{self._server.port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind (port 0 picks a free one), serve in the background and return the base URL."""
        if self._server is not None:
            raise RuntimeError(f"Already serving at {self.base_url}.")
        server = make_server(host, port, self._app, threaded=True, request_handler=_QuietRequestHandler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ledger-emulator", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
