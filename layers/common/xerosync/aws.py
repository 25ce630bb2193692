"""AWS clients, created on first use and kept for the life of the execution environment.

No client is created at import time, so a test can point the environment at moto before the first
call. boto3 reads ``AWS_ENDPOINT_URL`` itself, which is how the local stack reaches moto server.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from xerosync.lifecycle import new_cold_start, per_cold_start, per_process

# Lambda's own budget is seconds; a stuck AWS call must fail fast and let SQS redeliver.
# Pool as wide as the widest fan-out in one function (the dispatcher's and the workers' threads).
_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 4},
                 max_pool_connections=32)
_lock = threading.Lock()


@per_process
def session() -> boto3.session.Session:
    """One session per cold start: it loads each service's model once (a client then costs ~5 ms, not ~80)."""
    return boto3.session.Session()


@per_cold_start
def client(service: str) -> Any:
    # A boto3 session is not thread-safe while it creates clients.
    with _lock:
        return session().client(service, config=_CONFIG)


@per_cold_start
def _dynamodb() -> Any:
    with _lock:
        return session().resource("dynamodb", config=_CONFIG)


@per_cold_start
def table(name: str) -> Any:
    return _dynamodb().Table(name)


def reset() -> None:
    """Forget every client and everything built on them (tests that switch moto back ends call this)."""
    new_cold_start()
