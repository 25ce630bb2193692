"""AWS clients, created on first use and kept for the life of the execution environment.

No client is created at import time, so a test can point the environment at moto before the first
call. boto3 reads ``AWS_ENDPOINT_URL`` itself, which is how the local stack reaches moto server.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from xerosync import deadline
from xerosync.errors import TemporarilyUnavailable
from xerosync.lifecycle import new_cold_start, per_cold_start, per_process

# Lambda's own budget is seconds; a stuck AWS call must fail fast and let SQS redeliver.
# Pool as wide as the widest fan-out in one function (the dispatcher's and the workers' threads).
_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 4},
                 max_pool_connections=32)
_lock = threading.Lock()
_MAX_BACKOFF_SECONDS = 20  # the standard retry mode's cap
_ONE_CALL_SECONDS = 1.0  # what one more attempt of an AWS call is given, within an HTTP request's time


@per_process
def session() -> boto3.session.Session:
    """One session per cold start: it loads each service's model once (a client then costs ~5 ms, not ~80)."""
    return boto3.session.Session()


@per_cold_start
def client(service: str) -> Any:
    # A boto3 session is not thread-safe while it creates clients.
    with _lock:
        return _within_the_request(session().client(service, config=_CONFIG))


@per_cold_start
def _dynamodb() -> Any:
    with _lock:
        resource = session().resource("dynamodb", config=_CONFIG)
        _within_the_request(resource.meta.client)
        return resource


def _within_the_request(aws_client: Any) -> Any:
    """An HTTP request's AWS calls keep to its time (xerosync.deadline): the SDK does not retry a call when its
    backoff would outlast the request, and no call starts once the request's time is spent. Outside a request
    (queue and schedule functions) nothing changes."""
    events = aws_client.meta.events
    # On the SDK's own retry handler's event name, first: handlers of a more specific name are asked first.
    events.register_first(f"needs-retry.{aws_client.meta.service_model.service_id.hyphenize()}", _retry_in_time)
    events.register_first("before-call", _start_in_time)
    return aws_client


def _longest_backoff(attempts: int) -> float:
    """The longest the standard retry mode sleeps after ``attempts`` attempts: full jitter up to 2^(n-1) s after a
    throttling error (its non-throttling base is far shorter), capped."""
    return float(min(2 ** (attempts - 1), _MAX_BACKOFF_SECONDS))


def _retry_in_time(attempts: int, **_: Any) -> bool | None:
    """False (no retry) when the retry's backoff and one more attempt would outlast the request; None leaves the
    decision to the SDK's handler."""
    if deadline.allows(_longest_backoff(attempts) + _ONE_CALL_SECONDS):
        return None
    return False


def _start_in_time(**_: Any) -> None:
    if not deadline.allows(0.0):
        raise TemporarilyUnavailable("The request could not be completed in time.")


@per_cold_start
def table(name: str) -> Any:
    return _dynamodb().Table(name)


def reset() -> None:
    """Forget every client and everything built on them (tests that switch moto back ends call this)."""
    new_cold_start()
