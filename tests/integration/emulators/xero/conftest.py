"""Fixtures: one Xero emulator served over real HTTP for the whole session, reset before every test.

The emulator runs on a ManualClock, so tests move time (token expiry, rate-limit windows, asynchronous
statements) without sleeping. ``xero`` is an app already connected to one fresh organisation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness

# 2026-03-02 00:00 UTC: a fixed start keeps dates in assertions readable.
T0 = 1_772_409_600.0

@pytest.fixture(scope="session")
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture(scope="session")
def _served(clock: ManualClock) -> Iterator[XeroEmulator]:
    emulator = XeroEmulator(clock=clock)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emu(_served: XeroEmulator) -> XeroEmulator:
    _served.reset()
    return _served


@pytest.fixture
def base_url(emu: XeroEmulator) -> str:
    assert emu.base_url is not None
    return emu.base_url


@pytest.fixture
def tenant(emu: XeroEmulator) -> str:
    return emu.seed_organisation("Harbour Trading Ltd")


@pytest.fixture
def xero(emu: XeroEmulator, base_url: str, tenant: str) -> Iterator[XeroHarness]:
    harness = XeroHarness(base_url)
    harness.connect([tenant])
    yield harness
    harness.session.close()


@pytest.fixture
def bank_account_id(emu: XeroEmulator, tenant: str) -> str:
    return next(a["AccountID"] for a in emu.accounts(tenant) if a.get("Code") == "090")
