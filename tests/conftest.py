"""Shared by every test folder: the local parameters the template is read with."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# No test may reach a real AWS account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})


@pytest.fixture(autouse=True)
def _no_metrics_carried_between_tests() -> Iterator[None]:
    """Metrics added outside a handler invocation (tests that call logic directly) are never flushed, and
    Powertools publishes a metric's values itself at the 100th: clear them after each test, as a handler does."""
    yield
    from xerosync.observability import metrics

    metrics.clear_metrics()
