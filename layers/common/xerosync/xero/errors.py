"""One typed error per way a Xero call can fail. Each carries the HTTP status, Xero's problem type or
messages, and Xero's correlation id, so a log line or a support ticket can be traced on Xero's side."""

from __future__ import annotations

from typing import Any


# Plain classes, not dataclasses: a dataclass generates and compiles its methods when its module is imported, and
# every function imports this one (docs/architecture.md, "Cold start"). A subclass adds its own fields by keyword.
class XeroError(Exception):
    def __init__(self, message: str, status: int | None = None, problem_type: str | None = None,
                 correlation_id: str | None = None, messages: list[str] | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.problem_type = problem_type
        self.correlation_id = correlation_id
        self.messages: list[str] = [] if messages is None else messages
        self.body = body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.problem_type:
            parts.append(f"type={self.problem_type}")
        if self.correlation_id:
            parts.append(f"xero-correlation-id={self.correlation_id}")
        return " ".join(parts)


class XeroValidationError(XeroError):
    """400: Xero refused what was sent. ``elements`` holds per-element messages where Xero gave them."""

    def __init__(self, message: str, *args: Any, elements: list[list[str]] | None = None, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        self.elements: list[list[str]] = [] if elements is None else elements


class XeroUnauthorised(XeroError):
    """401: the access token was not accepted."""


class XeroForbidden(XeroError):
    """403: not permitted (missing scope, or the organisation is not connected to this token)."""


class XeroNotFound(XeroError):
    """404."""


class XeroConflict(XeroError):
    """409, e.g. a bank-feed statement Xero has already received."""


class XeroTooLarge(XeroError):
    """413: a request body or an attachment above Xero's size limit."""


class XeroUnprocessable(XeroError):
    """422: a bank-feed statement that does not add up or whose dates are wrong."""


class XeroRateLimited(XeroError):
    """429 from Xero, or the product's own governor refusing to send: wait ``retry_after`` seconds.

    ``problem`` is which limit: ``minute``, ``day``, ``concurrent`` or ``appminute``.
    """

    def __init__(self, message: str, *args: Any, retry_after: float = 60.0, problem: str = "minute",
                 **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        self.retry_after = retry_after
        self.problem = problem


class XeroServerError(XeroError):
    """5xx: Xero failed; the same request may be sent again."""


class XeroUnavailable(XeroError):
    """Xero could not be reached (connection refused, DNS, TLS) before anything was sent."""


class XeroOutOfTime(XeroUnavailable):
    """Not sent (or not sent again): the HTTP request on whose behalf it would go has too little time left to wait
    for Xero's answer (xerosync.deadline). Those that read Xero for a page leave what is stored, as for any Xero
    failure; reaching the user, it is answered 503 with Retry-After."""


class XeroUncertainOutcome(XeroError):
    """A write whose answer never arrived (timeout, dropped connection): it may or may not have happened.

    Never send it again blindly; look the object up by its marker first.
    """


class XeroInvalidGrant(XeroError):
    """The token endpoint said invalid_grant: the refresh token is revoked, expired or already used."""


# What a user does about any of them (the help centre: disconnect and reconnect fixes a stuck sync).
RECONNECT_ACTION = "Connect to Xero again from Accounting > Xero > Manage connection."


class ReconnectRequired(XeroError):
    """The connection to Xero is gone (revoked, removed in Xero, grant expired); only the user can restore
    it by connecting again. Nothing retries this."""

    def __init__(self, message: str, *args: Any, reason: str = "", **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        self.reason = reason


class GenerationChanged(XeroError):
    """The work was made for a Xero connection that has since ended (the business disconnected, or connected
    again, which starts a new generation). It is dropped: never sent to Xero with another connection's grant."""

    def __init__(self, message: str, *args: Any, generation: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        self.generation = generation
