"""One logger, tracer and metrics for every function, with correlation ids and secret redaction.

Service name, namespace and log level come from the ``POWERTOOLS_*`` variables in the template's Globals.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_SECRET_KEY = re.compile(r"(token|secret|authorization|password|cookie|code_verifier)", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
REDACTED = "***"


def redact(value: Any) -> Any:
    """A copy of ``value`` with anything that looks like a credential replaced.

    Keys are matched by name (``access_token``, ``Authorization``...), strings by the Bearer/Basic form,
    so a token never reaches CloudWatch even when an exception message carries a header.
    """
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _BEARER.sub(r"\1 " + REDACTED, value)
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        return super().serialize(redact(dict(log)))


# A request that records no business metric is normal (a health check, a refused request).
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(logger_formatter=RedactingFormatter())
tracer = Tracer()
metrics = Metrics()

Handler = TypeVar("Handler", bound=Callable[..., Any])


def instrument(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Wrap a Lambda entry point with context logging (correlation id), tracing and metrics flushing."""

    def wrap(handler: Handler) -> Handler:
        traced = tracer.capture_lambda_handler(handler, capture_response=False)
        with_metrics = metrics.log_metrics(traced)
        return logger.inject_lambda_context(
            with_metrics, correlation_id_path=correlation_id_path, clear_state=True
        )  # type: ignore[return-value]

    return wrap
