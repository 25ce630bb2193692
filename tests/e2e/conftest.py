"""e2e tests drive the whole local stack over loopback, as the frontends and schedules do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.stack import DevStack, DevStackConfig


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    with DevStack(DevStackConfig(log_level="ERROR", visibility_timeout=2)) as running:
        yield running
