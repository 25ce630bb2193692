"""e2e tests drive the whole local stack over loopback, as the frontends and schedules do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.stack import DevStack, DevStackConfig
from tests.support.fast_retries import retries_in_milliseconds  # noqa: F401 (autouse: faults stay fast)


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    # One stack per module: a stack's pollers must never outlive its tests, because mock_aws (used by the
    # integration tests) patches botocore for the whole process and the pollers would reach into it.
    with DevStack(DevStackConfig(log_level="ERROR", visibility_timeout=2)) as running:
        yield running
