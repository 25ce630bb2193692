"""The contract's HTTP API (``/v1/...``) as a Flask app, plus what every response shares: the error body,
``X-Request-Id`` echo and injected faults. The control surface (``/_ledger/...``) is mounted from ``control``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from emulators.ledger.control import control_blueprint
from emulators.ledger.models import LedgerError, invalid, parse_date_start
from emulators.ledger.state import DEFAULT_PAGE_LIMIT

if TYPE_CHECKING:
    from emulators.ledger.emulator import LedgerEmulator

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_DIGITS = re.compile(r"^\d{1,18}$")


class _LedgerJson(DefaultJSONProvider):
    # The contract says UTF-8 JSON; keep non-ASCII names readable and fields in the contract's order.
    ensure_ascii = False
    sort_keys = False


class _LedgerFlask(Flask):
    json_provider_class = _LedgerJson


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _int_param(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.match(raw):
        raise invalid(f"{name} must be a non-negative integer.")
    return int(raw)


def create_app(emulator: LedgerEmulator) -> Flask:
    app = _LedgerFlask("ledger_emulator")
    state = emulator.state

    @app.before_request
    def _correlate_and_inject_faults() -> Response | None:
        g.request_id = request.headers.get(REQUEST_ID_HEADER) or f"led-{uuid.uuid4().hex[:16]}"
        if request.path.startswith("/v1/"):
            fault = emulator.faults.take(request.path, request.query_string.decode())
            if fault is not None and fault.delay:
                time.sleep(fault.delay)  # a slow page (real time: the caller's timeout is real)
            elif fault is not None and fault.status is not None:
                code = "ledger_unavailable" if fault.status == 503 else "internal_error"
                return error_response(fault.status, code, "Fault injected through /_ledger/faults.")
        return None

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return response

    @app.errorhandler(LedgerError)
    def _ledger_error(error: LedgerError) -> Response:
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError) -> Response:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return error_response(400, "invalid_request", f"{where}: {first['msg']}.")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        code = re.sub(r"[^a-z]+", "_", (error.name or "error").lower()).strip("_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("ledger emulator failed on %s %s", request.method, request.path)
        return error_response(500, "internal_error", f"{type(error).__name__}: {error}")

    # ------------------------------------------------------------------------------------------ contract

    @app.get("/v1/businesses/<business_id>")
    def get_business(business_id: str) -> Response:
        return jsonify(state.get_business(business_id).to_json())

    @app.get("/v1/businesses/<business_id>/accounts")
    def list_accounts(business_id: str) -> Response:
        return jsonify({"accounts": [a.to_json() for a in state.list_accounts(business_id)]})

    @app.get("/v1/accounts/<account_id>")
    def get_account(account_id: str) -> Response:
        return jsonify(state.get_account(account_id).to_json())

    @app.get("/v1/accounts/<account_id>/transactions")
    def list_transactions(account_id: str) -> Response:
        posted_from = request.args.get("posted_from")
        page = state.list_transactions(
            account_id,
            after_sequence=_int_param("after_sequence", 0),
            limit=_int_param("limit", DEFAULT_PAGE_LIMIT),
            posted_from=parse_date_start(posted_from) if posted_from is not None else None,
        )
        return jsonify(page.to_json())

    @app.get("/v1/accounts/<account_id>/transactions/<transaction_id>")
    def get_transaction(account_id: str, transaction_id: str) -> Response:
        return jsonify(state.get_transaction(account_id, transaction_id).to_json())

    # Flask answers HEAD on every GET route; werkzeug then sends the headers and never iterates the body,
    # so a HEAD on a 6 MB receipt costs nothing.
    @app.get("/v1/accounts/<account_id>/transactions/<transaction_id>/attachments/<attachment_id>")
    def get_attachment(account_id: str, transaction_id: str, attachment_id: str) -> Response:
        attachment = state.get_attachment(account_id, transaction_id, attachment_id)
        source = attachment.source

        def body() -> Iterator[bytes]:
            yield from source.iter_chunks()

        response = Response(body(), direct_passthrough=True)
        # The customer's claimed type, verbatim: the contract says it is not to be trusted, and a product
        # test needs to see the lie (an executable served as application/pdf).
        response.headers["Content-Type"] = attachment.content_type
        response.headers["Content-Length"] = str(source.size_bytes)
        return response

    app.register_blueprint(control_blueprint(emulator))
    return app
