"""The product's Xero client against the Xero emulator, on moto with the template's tables and key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulators.time_control import SystemClock
from emulators.xero import XeroEmulator
from local.provision import Provisioned
from local.template import Template
from tests.support.integration_stack import local_template, serving, xeros_specification_allowed_every_request
from xerosync.settings import get_settings
from xerosync.xero.client import XeroClient, build_xero_client
from xerosync.xero.governor import Limits
from xerosync.xero.transport import RetryPolicy


@pytest.fixture
def clock() -> Any:
    return SystemClock()


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def emulator(clock: Any) -> Iterator[XeroEmulator]:
    with serving(XeroEmulator(clock=clock)) as emu:
        yield emu


@pytest.fixture
def template(emulator: XeroEmulator) -> Template:
    return local_template(xero_url=emulator.base_url)


@pytest.fixture
def client(aws: Provisioned, clock: Any, limits: Limits) -> XeroClient:
    # Backoff is real but short, so retries are exercised without slowing the suite.
    return build_xero_client(get_settings(), clock=clock, limits=limits,
                             retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))


@pytest.fixture(autouse=True)
def _every_request_matches_xeros_specification(emulator: XeroEmulator) -> Iterator[None]:
    yield
    xeros_specification_allowed_every_request(emulator)
