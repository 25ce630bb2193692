"""Locally every function runs in one process, sharing the layer's one Powertools logger: each log line must
still name the function that wrote it, as CloudWatch's would, even while other functions run."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local.lambda_runtime import LambdaRuntime
from local.template import Template, load_template

BODY = load_template()
TEMPLATE = Template(BODY, {name: "x" for name, spec in BODY["Parameters"].items() if "Default" not in spec})
FIRST, SECOND = "ConnectApiFunction", "AutoSyncWorkerFunction"


class _Lines(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.formatter_used = formatter
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.formatter_used.format(record)))


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    LambdaRuntime(TEMPLATE)  # the layer on sys.path
    from xerosync.observability import logger

    logger.info("formatter registered")  # Powertools registers its formatter on first use
    captured = _Lines(logger.registered_formatter)
    logger._logger.addHandler(captured)
    try:
        yield captured.lines
    finally:
        logger._logger.removeHandler(captured)


def test_two_functions_logging_at_once_each_get_their_own_name(lines: list[dict[str, Any]]) -> None:
    from xerosync.observability import instrument, logger

    runtime = LambdaRuntime(TEMPLATE)
    both_started = threading.Barrier(2, timeout=10)

    @instrument()
    def handler(event: dict[str, Any], context: Any) -> None:
        both_started.wait()  # both invocations have set up their logging before either logs
        logger.info("working", extra={"wrote": event["who"]})

    runtime.override(FIRST, handler)
    runtime.override(SECOND, handler)
    threads = [threading.Thread(target=runtime.invoke, args=(name, {"who": name})) for name in (FIRST, SECOND)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    written = {line["wrote"]: line for line in lines if line.get("message") == "working"}
    assert set(written) == {FIRST, SECOND}
    for function, line in written.items():
        assert line["function_name"] == TEMPLATE.physical_name(function), line
        assert line["function_arn"] == TEMPLATE.arn(function)


def test_each_function_has_its_own_cold_start_and_the_templates_service_name(lines: list[dict[str, Any]]) -> None:
    from xerosync.observability import instrument, logger

    runtime = LambdaRuntime(TEMPLATE)

    @instrument()
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.info("working", extra={"wrote": event["who"]})

    runtime.override(FIRST, handler)
    runtime.override(SECOND, handler)
    for name in (FIRST, FIRST, SECOND):
        runtime.invoke(name, {"who": name})
    written = [(line["wrote"], line["cold_start"], line["service"])
               for line in lines if line.get("message") == "working"]
    service = BODY["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert written == [(FIRST, True, service), (FIRST, False, service), (SECOND, True, service)]


def test_http_requests_to_one_function_run_one_at_a_time_while_queue_batches_overlap() -> None:
    """Powertools' resolver keeps the request it resolves on itself: locally, where every invocation of a function
    shares one handler module, two requests at once would validate each other's answers (a Lambda execution
    environment serves one invocation at a time)."""
    runtime = LambdaRuntime(TEMPLATE)
    running: list[int] = [0]
    most: dict[str, int] = {"http": 0, "sqs": 0}
    guard = threading.Lock()
    all_batches_in = threading.Barrier(4, timeout=10)

    def handler(event: dict[str, Any], context: Any) -> None:
        with guard:
            running[0] += 1
            most[event["kind"]] = max(most[event["kind"]], running[0])
        if event["kind"] == "sqs":
            all_batches_in.wait()  # the four batches run at once, or this times out
        else:
            threading.Event().wait(0.05)  # time for a second request to overlap, were it let in
        with guard:
            running[0] -= 1

    runtime.override(FIRST, handler)
    http = {"kind": "http", "requestContext": {"http": {"method": "GET", "path": "/v1/connection"}}}
    for event in (http, {"kind": "sqs", "Records": []}):
        threads = [threading.Thread(target=runtime.invoke, args=(FIRST, event)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert most == {"http": 1, "sqs": 4}


def test_a_queue_invocation_beside_an_http_request_does_not_log_the_requests_correlation_id(
        lines: list[dict[str, Any]]) -> None:
    """Powertools keeps the correlation id on the one formatter that every function shares locally."""
    from aws_lambda_powertools.logging import correlation_paths

    from xerosync.observability import instrument, logger

    runtime = LambdaRuntime(TEMPLATE)
    both_started = threading.Barrier(2, timeout=10)

    def work(event: dict[str, Any], context: Any) -> None:
        both_started.wait()  # the request has set its correlation id, and the batch has cleared the keys
        logger.info("working", extra={"wrote": event["who"]})

    runtime.override(FIRST, instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)(work))
    runtime.override(SECOND, instrument()(work))
    request = {"who": FIRST, "requestContext": {"requestId": "request-1", "http": {"method": "GET"}}}
    threads = [threading.Thread(target=runtime.invoke, args=args)
               for args in ((FIRST, request), (SECOND, {"who": SECOND, "Records": []}))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    written = {line["wrote"]: line.get("correlation_id") for line in lines if line.get("message") == "working"}
    assert written == {FIRST: "request-1", SECOND: None}
