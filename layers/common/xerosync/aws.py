"""AWS clients, created on first use and kept for the life of the execution environment.

No client is created at import time, so a test can point the environment at moto before the first
call. boto3 reads ``AWS_ENDPOINT_URL`` itself, which is how the local stack reaches moto server.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Lambda's own budget is seconds; a stuck AWS call must fail fast and let SQS redeliver.
_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 4})
_lock = threading.Lock()


@cache
def client(service: str) -> Any:
    # boto3's default session is not thread-safe while it creates clients.
    with _lock:
        return boto3.session.Session().client(service, config=_CONFIG)


@cache
def table(name: str) -> Any:
    with _lock:
        return boto3.session.Session().resource("dynamodb", config=_CONFIG).Table(name)


def reset() -> None:
    """Forget every client (tests that switch between moto back ends call this)."""
    client.cache_clear()
    table.cache_clear()
