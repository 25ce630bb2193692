"""No token, secret or credential reaches a log line; tracing runs where Powertools would trace."""

from __future__ import annotations

import io
import json
import logging

from aws_lambda_powertools import Logger

from xerosync.observability import REDACTED, RedactingFormatter, redact, tracing_enabled


def test_credentials_are_redacted_by_key_and_by_form() -> None:
    record = {
        "access_token": "eyJhbGciOi.secret.part",
        "nested": {"refresh_token": "r-123", "Authorization": "Bearer abc", "tenant": "t-1"},
        "message": "call failed with header Authorization: Bearer eyJabc.def.ghi",
        "list": [{"client_secret": "s"}, "Basic dXNlcjpwYXNz"],
    }
    clean = redact(record)
    assert clean["access_token"] == REDACTED
    assert clean["nested"] == {"refresh_token": REDACTED, "Authorization": REDACTED, "tenant": "t-1"}
    assert "eyJabc" not in clean["message"] and "Bearer ***" in clean["message"]
    assert clean["list"] == [{"client_secret": REDACTED}, "Basic ***"]


def test_logger_output_is_redacted() -> None:
    # Given a Powertools logger with the product's formatter writing to a buffer
    stream = io.StringIO()
    logger = Logger(service="t", level="INFO", logger_formatter=RedactingFormatter(),
                    logger_handler=logging.StreamHandler(stream))
    # When a line carries a token in its extra keys and in its message
    logger.info("refreshed with Bearer abc.def", extra={"refresh_token": "rt-secret", "tenant_id": "t-1"})
    line = json.loads(stream.getvalue())
    # Then neither value is written, and ordinary keys are
    assert "rt-secret" not in stream.getvalue() and "abc.def" not in stream.getvalue()
    assert line["refresh_token"] == REDACTED and line["tenant_id"] == "t-1"


def test_tracing_is_on_in_lambda_only_and_as_powertools_decides() -> None:
    # The X-Ray SDK is imported only where this says so (docs/architecture.md, "Cold start")
    assert tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task"})
    assert not tracing_enabled({})  # a test, the local runner, a benchmark
    assert not tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"})
    assert not tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"})
    assert tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"})
    assert not tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"})
