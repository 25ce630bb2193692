"""Fixtures: one ledger emulator served over real HTTP for the whole session, reset before every test.

The emulator runs on a ManualClock so that ``posted_at`` and ``updated_at`` are exact and a test can move
time on; a RecordingPublisher captures what would go to EventBridge.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.ledger import LedgerEmulator, RecordingPublisher, SeedSummary
from emulators.time_control import ManualClock
from tests.integration.emulators.ledger.ledger_http import T0, LedgerHttp


@pytest.fixture(scope="session")
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture(scope="session")
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture(scope="session")
def _served_ledger(clock: ManualClock, publisher: RecordingPublisher) -> Iterator[LedgerEmulator]:
    emulator = LedgerEmulator(clock=clock, event_publisher=publisher, event_bus_name="ledger-events")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def ledger(_served_ledger: LedgerEmulator, clock: ManualClock, publisher: RecordingPublisher) -> LedgerEmulator:
    """The session's emulator, empty, at T0, with nothing published yet."""
    _served_ledger.reset()
    clock.set(T0)
    publisher.clear()
    return _served_ledger


@pytest.fixture
def http(ledger: LedgerEmulator) -> LedgerHttp:
    return LedgerHttp(ledger.base_url)


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[LedgerEmulator, SeedSummary, LedgerHttp]]:
    """A separate emulator holding a seeded ledger (thousands of postings), shared by a module's tests."""
    emulator = LedgerEmulator(clock=ManualClock(start=T0))
    emulator.start()
    summary = emulator.seed_demo(seed=11, businesses=2, transactions_per_account=1500, end_at=T0)
    yield emulator, summary, LedgerHttp(emulator.base_url)
    emulator.stop()
