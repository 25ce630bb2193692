"""One typed error per way a Xero call can fail. Each carries the HTTP status, Xero's problem type or
messages, and Xero's correlation id, so a log line or a support ticket can be traced on Xero's side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# A subclass that adds no field inherits the dataclass's methods; only those with fields of their own are dataclasses
# (each @dataclass generates its methods when the module is imported: every function imports this one).
@dataclass
class XeroError(Exception):
    message: str
    status: int | None = None
    problem_type: str | None = None
    correlation_id: str | None = None
    messages: list[str] = field(default_factory=list)
    body: Any = None

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.problem_type:
            parts.append(f"type={self.problem_type}")
        if self.correlation_id:
            parts.append(f"xero-correlation-id={self.correlation_id}")
        return " ".join(parts)


@dataclass
class XeroValidationError(XeroError):
    """400: Xero refused what was sent. ``elements`` holds per-element messages where Xero gave them."""

    elements: list[list[str]] = field(default_factory=list)


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


@dataclass
class XeroRateLimited(XeroError):
    """429 from Xero, or the product's own governor refusing to send: wait ``retry_after`` seconds.

    ``problem`` is which limit: ``minute``, ``day``, ``concurrent`` or ``appminute``.
    """

    retry_after: float = 60.0
    problem: str = "minute"


class XeroServerError(XeroError):
    """5xx: Xero failed; the same request may be sent again."""


class XeroUnavailable(XeroError):
    """Xero could not be reached (connection refused, DNS, TLS) before anything was sent."""


class XeroUncertainOutcome(XeroError):
    """A write whose answer never arrived (timeout, dropped connection): it may or may not have happened.

    Never send it again blindly; look the object up by its marker first.
    """


class XeroInvalidGrant(XeroError):
    """The token endpoint said invalid_grant: the refresh token is revoked, expired or already used."""


# What a user does about any of them (the help centre: disconnect and reconnect fixes a stuck sync).
RECONNECT_ACTION = "Connect to Xero again from Accounting > Xero > Manage connection."


@dataclass
class ReconnectRequired(XeroError):
    """The connection to Xero is gone (revoked, removed in Xero, grant expired); only the user can restore
    it by connecting again. Nothing retries this."""

    reason: str = ""


@dataclass
class GenerationChanged(XeroError):
    """The work was made for a Xero connection that has since ended (the business disconnected, or connected
    again, which starts a new generation). It is dropped: never sent to Xero with another connection's grant."""

    generation: str | None = None
