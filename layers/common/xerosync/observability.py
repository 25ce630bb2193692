"""One logger, tracer and metrics for every function, with correlation ids and secret redaction.

Service name, namespace and log level come from the ``POWERTOOLS_*`` variables in the template's Globals.
The tracer exists only where tracing is on (in Lambda, unless ``POWERTOOLS_TRACE_DISABLED``): elsewhere the
X-Ray SDK, whose import costs more than a third of the bare stack's (``benchmarks/cold_start.py``), is never
loaded.
"""

from __future__ import annotations

import gc
import os
import re
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

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

_TRUE = {"1", "y", "yes", "t", "true", "on"}  # Powertools' spelling of a true environment variable


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Powertools' own rule: tracing runs in Lambda (``LAMBDA_TASK_ROOT``), not under ``sam local`` or Chalice's
    local mode, and not when ``POWERTOOLS_TRACE_DISABLED`` says so."""
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUE
    local = environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE")
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not local and not disabled


def _tracer() -> Tracer | None:
    if not tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer()


logger = Logger(logger_formatter=RedactingFormatter())
tracer = _tracer()
metrics = Metrics()

Handler = TypeVar("Handler", bound=Callable[..., Any])


def instrument(correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Wrap a Lambda entry point with context logging (correlation id), tracing and metrics flushing."""

    def wrap(handler: Handler) -> Handler:
        # Applied as the handler module finishes importing: what the import built lives as long as the
        # execution environment, so the garbage collector stops walking it (docs/architecture.md, "Cold start").
        gc.freeze()
        traced = handler if tracer is None else tracer.capture_lambda_handler(handler, capture_response=False)
        with_metrics = metrics.log_metrics(traced)
        return logger.inject_lambda_context(
            with_metrics, correlation_id_path=correlation_id_path, clear_state=True
        )  # type: ignore[return-value]

    return wrap
