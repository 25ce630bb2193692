"""Contract fixtures: Xero's OpenAPI files loaded once per session, a strict emulator, and an app whose
every request and response is checked against the files as it happens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness
from emulators.xero.spec import XeroSpecs, find_spec_dir, in_ci, missing_spec_message
from tests.integration.contract.traffic import CheckedTraffic

T0 = 1_772_409_600.0  # 2026-03-02 00:00 UTC

pytestmark = pytest.mark.contract


@pytest.fixture(scope="session")
def xero_specs() -> XeroSpecs:
    spec_dir = find_spec_dir()
    if spec_dir is None:
        if in_ci():
            pytest.fail(missing_spec_message(), pytrace=False)
        pytest.skip(missing_spec_message())
    return XeroSpecs.shared(spec_dir)


@pytest.fixture(scope="session")
def contract_clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture(scope="session")
def _contract_emulator(xero_specs: XeroSpecs, contract_clock: ManualClock) -> Iterator[XeroEmulator]:
    emulator = XeroEmulator(clock=contract_clock, strict=True)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def traffic(xero_specs: XeroSpecs) -> CheckedTraffic:
    return CheckedTraffic(xero_specs)


@pytest.fixture
def emu(_contract_emulator: XeroEmulator) -> XeroEmulator:
    _contract_emulator.reset()
    return _contract_emulator


@pytest.fixture
def tenant(emu: XeroEmulator) -> str:
    return emu.seed_organisation("Contract Trading Ltd")


@pytest.fixture
def xero(emu: XeroEmulator, tenant: str, traffic: CheckedTraffic) -> Iterator[XeroHarness]:
    assert emu.base_url is not None
    harness = XeroHarness(emu.base_url)
    harness.session.hooks["response"].append(traffic.hook)
    harness.connect([tenant])
    yield harness
    harness.session.close()
