"""Errors a caller can act on. Each carries a stable code, a sentence for a person and the way out.

HTTP handlers map them to responses in one place (``xerosync.http``); queue consumers map them to
per-item states. Nothing here names a transport.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProductError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, action: str | None = None, code: str | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.details = details
        if code is not None:
            self.code = code  # type: ignore[misc]

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.action:
            error["action"] = self.action
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class InvalidRequest(ProductError):
    status = 400
    code = "invalid_request"


class Unauthenticated(ProductError):
    status = 401
    code = "unauthenticated"


class Forbidden(ProductError):
    status = 403
    code = "forbidden"


class NotFound(ProductError):
    status = 404
    code = "not_found"


class Conflict(ProductError):
    status = 409
    code = "conflict"


class Unprocessable(ProductError):
    """Understood, and refused because of what it refers to (e.g. an organisation that may not connect)."""

    status = 422
    code = "unprocessable"


class Gone(ProductError):
    status = 410
    code = "gone"


class PayloadTooLarge(ProductError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ProductError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(ProductError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, action: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, action=action, code=code)
        self.retry_after = retry_after


class TemporarilyUnavailable(ProductError):
    """The request could not be completed now for a reason that passes: a service the product relies on failed
    for a moment (DynamoDB throttling, a KMS error, after the SDK's own retries), or what it waited for did not
    answer within the request's time (xerosync.deadline). Nothing is wrong with the request: the same request may
    be sent again after ``retry_after`` seconds."""

    status = 503
    code = "temporarily_unavailable"

    def __init__(self, message: str, *, retry_after: int = 60, action: str | None = "Try again in a minute.",
                 code: str | None = None) -> None:
        super().__init__(message, action=action, code=code)
        self.retry_after = retry_after


class UpstreamUnavailable(ProductError):
    """Xero or the ledger could not be reached; the request may be retried as it is."""

    status = 503
    code = "upstream_unavailable"


class NotAvailableYet(ProductError):
    status = 501
    code = "not_available_yet"
