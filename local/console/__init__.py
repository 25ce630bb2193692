"""The web console: the bank's Xero page, served by the local stack only (never deployed).

The page (``static/``, plain HTML, CSS and JavaScript, no build step) is a frontend like the bank's: it calls
the HTTP API with a user's token, exactly as docs/openapi.json describes it. What a real frontend gets from
the bank's sign-in and from its own back office, the console gets from three local helpers on the same
origin, outside the template's API:

    POST /_local/token           a user token for the business and role picked in the page (the dev key)
    /_local/xero/<path>          the Xero emulator's control routes (/_emulator/<path>): faults, disconnect...
    /_local/ledger/<path>        the ledger emulator's control routes (/_ledger/<path>): businesses, postings

and ``POST /_local/schedules`` (the stack's own) fires a schedule. Xero's consent page redirects the browser
to ``/xero/callback`` (the stack's redirect URI), which is the console's page too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests
from werkzeug.exceptions import NotFound
from werkzeug.utils import redirect, send_from_directory
from werkzeug.wrappers import Request, Response

from local.authorizer import DevTokenAuthority

CONSOLE_PATH = "/console/"
STATIC_DIR = Path(__file__).parent / "static"
ROLES = ("Admin", "Finance", "Employee")
TOKEN_TTL_SECONDS = 8 * 3600
# The emulators' control routes, reached through the console's origin so the page needs no CORS.
_FORWARDED = {"/_local/xero/": ("xero", "/_emulator/"), "/_local/ledger/": ("ledger", "/_ledger/")}
_PAGE_PATHS = frozenset({CONSOLE_PATH, "/xero/callback"})


class ConsoleSite:
    """Answers the console's requests on the local HTTP API's port; anything else is left to the API."""

    def __init__(self, authority: DevTokenAuthority, *, xero_url: str | None, ledger_url: str | None) -> None:
        self.authority = authority
        self.upstreams = {"xero": xero_url, "ledger": ledger_url}

    def __call__(self, request: Request) -> Response | None:
        path = request.path
        if path == CONSOLE_PATH.rstrip("/"):
            return redirect(CONSOLE_PATH)
        if request.method == "GET" and path in _PAGE_PATHS:
            return self._asset(request, "index.html")
        if request.method == "GET" and path.startswith(CONSOLE_PATH):
            return self._asset(request, path.removeprefix(CONSOLE_PATH))
        if path == "/_local/token" and request.method == "POST":
            return self._token(request)
        for prefix, (upstream, target) in _FORWARDED.items():
            if path.startswith(prefix):
                return self._forward(request, upstream, target + path.removeprefix(prefix))
        return None

    @staticmethod
    def _asset(request: Request, name: str) -> Response:
        try:
            response = send_from_directory(STATIC_DIR, name, request.environ, max_age=0)
        except NotFound:
            return _json(404, {"message": f"The console has no file {name!r}."})
        response.headers["Cache-Control"] = "no-store"  # the page changes with the code; never a stale copy
        return response

    def _token(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        business_id, user_id, role = (str(body.get(k) or "").strip() for k in ("business_id", "user_id", "role"))
        if not business_id or not user_id or role not in ROLES:
            return _json(400, {"message": f"Give business_id, user_id and a role among {', '.join(ROLES)}."})
        token = self.authority.mint(business_id=business_id, user_id=user_id, role=role,
                                    ttl_seconds=TOKEN_TTL_SECONDS)
        return _json(200, {"token": token, "expires_in": TOKEN_TTL_SECONDS})

    def _forward(self, request: Request, upstream: str, path: str) -> Response:
        base = self.upstreams[upstream]
        if base is None:
            return _json(503, {"message": f"The {upstream} emulator is not running in this stack."})
        headers = {"Content-Type": request.content_type} if request.content_type else {}
        try:
            answer = requests.request(request.method, base + path, params=list(request.args.items(multi=True)),
                                      data=request.get_data(), headers=headers, timeout=30)
        except requests.RequestException as error:
            return _json(502, {"message": f"The {upstream} emulator did not answer: {error}"})
        return Response(answer.content, status=answer.status_code,
                        content_type=answer.headers.get("Content-Type", "application/json"))


def _json(status: int, document: Any) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")
