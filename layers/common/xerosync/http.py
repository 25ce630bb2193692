"""What every HTTP function shares: the caller from the JWT claims and one mapping of errors to responses.

Each handler module builds its own ``Resolver(enable_validation=True)`` (so the OpenAPI
document can be generated from it) and calls ``install(app)``.
"""

import base64
import json
import math
from re import Match
from typing import Any, NamedTuple
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from xerosync import deadline
from xerosync.auth import Caller, caller_from_claims
from xerosync.errors import InvalidRequest, ProductError, TemporarilyUnavailable, UnsupportedMediaType
from xerosync.model import Model
from xerosync.observability import logger
from xerosync.settings import get_settings
from xerosync.xero.errors import RECONNECT_ACTION, ReconnectRequired, XeroError, XeroOutOfTime, XeroRateLimited


class Resolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver, with path parameters decoded as API Gateway decodes them: routes match
    the percent-encoded ``rawPath``, so an id such as ``txn_%00`` would otherwise reach the route (and its
    length check) still escaped (docs/http-api.md "Paths")."""

    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        return {name: unquote(value) for name, value in match.groupdict().items()}


class ErrorDetail(Model):
    code: str
    message: str
    action: str | None = None
    details: Any = None


class ErrorBody(Model):
    error: ErrorDetail
    correlation_id: str | None = None


class GatewayMessage(Model):
    """API Gateway's own answer, given before the function runs or instead of its answer."""

    message: str


# Documented once for every route, so that the OpenAPI document shows the error shape. The 200 entry has no
# content on purpose: Powertools fills it from the route's return annotation, and leaves it out entirely
# when a route lists responses without it.
#
# API Gateway answers some statuses itself, with {"message": ...} (docs/http-api.md "Who answers"): a missing,
# expired or forged token (401), a body over 10 MB (413), its throttling (429), a function that crashed,
# answered malformed or ran past 30 seconds (500, 502, 503, 504). Those statuses document both shapes.
GATEWAY_STATUSES = frozenset({401, 413, 429, 500, 502, 503, 504})


def _error(status: int, text: str) -> OpenAPIResponse:
    model: Any = ErrorBody | GatewayMessage if status in GATEWAY_STATUSES else ErrorBody
    return {"description": text, "content": {"application/json": {"model": model}}}


_ERRORS: dict[int, str] = {
    400: "The request is invalid; the message says which field and why.",
    401: "No valid sign-in: API Gateway's {\"message\": \"Unauthorized\"} when the token is missing, expired or "
         "not the bank's; the product's body when the token names no business or user.",
    403: "The caller's role or business may not do this.",
    409: "The request conflicts with the current state (for example, Xero needs reconnecting).",
    413: "The body is over API Gateway's 10 MB (API Gateway's own answer).",
    415: "The body is not JSON.",
    429: "Xero's limits for the organisation are reached (or the route's own); Retry-After says when to try again. "
         "API Gateway's throttling answers {\"message\": \"Too Many Requests\"}.",
    500: "Something failed on our side; the correlation id helps support.",
    502: "Xero could not complete the request; try again in a few minutes.",
    503: "temporarily_unavailable: Xero, the bank's ledger or one of our services could not answer in time, or an "
         "AWS service failed for a moment; Retry-After says when to try again. upstream_unavailable: Xero or the "
         "bank's ledger could not be reached. Either way the request may be sent again as it is.",
    504: "The function did not answer within API Gateway's 30 seconds (API Gateway's own answer); the request "
         "may be sent again as it is.",
}


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link from a route's success to another operation, each parameter taken from the answer
    (``transaction_id="$response.body#/items/0/transaction_id"``): what a client (or the fuzzer's stateful
    phase) can call next with what it was given."""
    return {"operationId": operation_id, "parameters": parameters}


def responses(*, success: int = 200, success_text: str = "Success.", success_model: Any = None,
              not_found: str | None = None, unprocessable: str | None = None,
              links: dict[str, dict[str, Any]] | None = None, **overrides: str) -> dict[int, OpenAPIResponse]:
    """A route's documented responses: its success and every error it may answer with. Powertools documents
    only the responses listed once any are, so the success is listed too (its schema from the return annotation
    unless ``success_model`` names it). ``overrides`` (``e429="..."``) reword a status for the route."""
    documented: dict[int, OpenAPIResponse] = {success: {"description": success_text}}
    if success_model is not None:
        documented[success] = {"description": success_text, "content": {"application/json": {"model": success_model}}}
    if links:
        documented[success]["links"] = links
    errors = dict(_ERRORS)
    if not_found:
        errors[404] = not_found
    if unprocessable:
        errors[422] = unprocessable
    errors.update({int(key.removeprefix("e")): text for key, text in overrides.items()})
    documented.update({status: _error(status, text) for status, text in sorted(errors.items())})
    return documented


ERROR_RESPONSES = responses()


def with_not_found(description: str, links: dict[str, dict[str, Any]] | None = None
                   ) -> dict[int, OpenAPIResponse]:
    """The responses of a route that names one object by id, with its 404."""
    return responses(not_found=description, links=links)


def current_caller(app: APIGatewayHttpResolver) -> Caller:
    settings = get_settings()
    claims = app.current_event.request_context.authorizer.jwt_claim
    return caller_from_claims(
        claims,
        business_claim=settings.claim_business_id,
        user_claim=settings.claim_user_id,
        role_claim=settings.claim_role,
        accounting_roles=settings.accounting_roles,
    )


def _correlation_id(app: APIGatewayHttpResolver) -> str | None:
    try:
        return app.current_event.request_context.request_id
    except (AttributeError, KeyError, TypeError):
        return None


def _json(app: APIGatewayHttpResolver, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> Response:
    body = {**body, "correlation_id": _correlation_id(app)}
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, default=str), headers=headers)


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    fields = []
    for error in errors:
        if error.get("type") == "json_invalid":
            fields.append({"field": "body", "problem": "is not valid JSON"})
            continue
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
        fields.append({"field": ".".join(loc) or "body", "problem": error.get("msg", "is invalid")})
    summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
    return f"The request is invalid: {summary}.", fields


NOT_JSON = UnsupportedMediaType("The request body must be JSON.",
                                action="Send it with Content-Type: application/json.")


NOT_UTF8 = InvalidRequest("The request body is not valid UTF-8 text, so it cannot be JSON.",
                          action="Send the body as JSON encoded in UTF-8.", code="invalid_encoding")


_FORM_TYPES = ("multipart/", "application/x-www-form-urlencoded")


def _unreadable_body(app: APIGatewayHttpResolver) -> ProductError | None:
    """Why the body cannot be this API's JSON, if it cannot: another media type (a form is refused even empty,
    as it would be parsed as one), or bytes that are not UTF-8 (API Gateway hands those over base64-encoded)."""
    event = app.current_event
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != content_types.APPLICATION_JSON and (
            event.body or content_type.startswith(_FORM_TYPES)):
        return NOT_JSON
    if event.body and event.is_base64_encoded:
        try:
            base64.b64decode(event.body).decode()
        except (ValueError, UnicodeDecodeError):
            return NOT_UTF8
    return None


def _remaining_seconds(context: Any) -> float | None:
    """The invocation's time left by Lambda's context (None without one: a test's resolve, a unit test's dict)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    try:
        return float(remaining()) / 1000
    except (TypeError, ValueError):
        return None


def _within_the_time(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """The request works against its budget: the invocation's time left or API Gateway's wait, whichever ends
    first, less the time to answer (xerosync.deadline)."""
    with deadline.answer_within(_remaining_seconds(app.lambda_context)):
        return next_middleware(app)


# AWS errors that pass: what the SDK retries itself (throttling, a service's internal error, a timeout), surfacing
# once its retries are spent. Any other AWS error (a missing table, access denied, a validation error) is a bug.
def _aws_failed_for_a_moment(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is an AWS error that passes, after the SDK's own retries: one
    that botocore's standard retry mode itself retries (its throttling and transient checkers: throttling codes,
    RequestTimeout, 500/502/503/504, a connection that failed), or any other 5xx."""
    from botocore.exceptions import ClientError
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

    checkers = (ThrottledRetryableChecker(), TransientRetryableChecker())
    seen: BaseException | None = exc
    for _ in range(5):  # a wrapper raises from the AWS error (Powertools' idempotency does)
        if seen is None:
            return False
        status = 0
        if isinstance(seen, ClientError):
            status = int(seen.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            context = RetryContext(1, parsed_response=seen.response, http_response=_Status(status))
        else:
            context = RetryContext(1, caught_exception=seen)
        if status >= 500 or any(checker.is_retryable(context) for checker in checkers):
            return True
        if isinstance(seen, ClientError):
            return False
        seen = seen.__cause__
    return False


class _Status(NamedTuple):
    """What botocore's checkers read of an HTTP response."""

    status_code: int


XERO_TOO_SLOW = "Xero did not answer in time, so the request could not be completed."
AWS_BUSY = "One of the services this request relies on was briefly unavailable, so the request could not be completed."


def _json_bodies_only(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """A route that takes no body refuses one that is not JSON too (routes with a body are checked while
    Powertools validates the request, which runs before any middleware: see ``_unexpected``)."""
    refusal = _unreadable_body(app)
    if refusal is not None:
        raise refusal
    return next_middleware(app)


def install(app: APIGatewayHttpResolver) -> None:
    """Register the product's error mapping on a resolver."""

    app.use(middlewares=[_within_the_time, _json_bodies_only])

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(exc: RequestUnsupportedContentType) -> Response:
        return _json(app, NOT_JSON.status, NOT_JSON.body())

    @app.exception_handler(ProductError)
    def _product_error(exc: ProductError) -> Response:
        logger.info("request refused", extra={"error_code": exc.code, "status": exc.status})
        retry_after = getattr(exc, "retry_after", None)  # TooManyRequests, TemporarilyUnavailable
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return _json(app, exc.status, exc.body(), headers)

    @app.exception_handler(ReconnectRequired)
    def _reconnect(exc: ReconnectRequired) -> Response:
        body = {"error": {"code": "reconnect_required", "message": exc.reason or exc.message,
                          "action": RECONNECT_ACTION}}
        return _json(app, 409, body)

    @app.exception_handler(XeroRateLimited)
    def _xero_busy(exc: XeroRateLimited) -> Response:
        wait = max(1, math.ceil(exc.retry_after))
        body = {"error": {"code": "xero_rate_limited",
                          "message": "Xero is busy for your organisation right now.",
                          "action": f"Try again in {wait} seconds."}}
        return _json(app, 429, body, {"Retry-After": str(wait)})

    @app.exception_handler(XeroOutOfTime)
    def _xero_too_slow(exc: XeroOutOfTime) -> Response:
        # Xero was not asked, or not asked again: the request's time was spent (xerosync.deadline).
        logger.warning("Xero not waited for: the request's time is spent", extra={"error": str(exc)})
        return _product_error(TemporarilyUnavailable(XERO_TOO_SLOW))

    @app.exception_handler(XeroError)
    def _xero_failed(exc: XeroError) -> Response:
        logger.warning("Xero call failed", extra={"error": type(exc).__name__, "status": exc.status,
                                                  "xero_correlation_id": exc.correlation_id})
        body = {"error": {"code": "xero_unavailable", "message": "Xero could not complete the request.",
                          "action": "Try again in a few minutes. If it keeps failing, contact support with the "
                                    "correlation id.",
                          "details": {"xero_correlation_id": exc.correlation_id}}}
        return _json(app, 502, body)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if errors and all(next(iter(error.get("loc") or ("",))) == "response" for error in errors):
            # Powertools reports an answer that fails its own response model with the request's error class:
            # that is the product's fault, never the caller's.
            return _unexpected(exc)
        message, fields = _describe_validation(errors)
        body = {"error": {"code": "invalid_request", "message": message,
                          "action": "Correct the fields named and send the request again.", "details": fields}}
        return _json(app, 400, body)

    @app.exception_handler(NotFoundError)
    def _no_route(exc: NotFoundError) -> Response:
        return _json(app, 404, {"error": {"code": "route_not_found", "message": "There is no such operation."}})

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        refusal = _unreadable_body(app)  # Powertools' request validation failed reading a body it cannot read
        if refusal is not None:
            return _product_error(refusal)
        if _aws_failed_for_a_moment(exc):
            logger.warning("an AWS error outlasted the SDK's retries", exc_info=exc)
            return _product_error(TemporarilyUnavailable(AWS_BUSY))
        logger.exception("unexpected error")
        body = {"error": {"code": "internal_error",
                          "message": "Something went wrong on our side and the request could not be completed.",
                          "action": "Try again in a minute. If it keeps failing, contact support with the "
                                    "correlation id."}}
        return _json(app, 500, body)
