"""The tenant rate governor keeps every Lambda within Xero's limits, measured on Xero's (the emulator's) clock."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from emulators.time_control import ManualClock, ScaledClock
from emulators.xero import XeroEmulator
from tests.support.xero_sessions import connect
from xerosync.xero.client import XeroClient, build_xero_client
from xerosync.xero.errors import XeroRateLimited
from xerosync.xero.governor import Limits

# A minute of Xero's time passes in two real seconds.
FAST = ScaledClock(factor=30)
PATIENT = Limits(max_wait_seconds=300)  # sleep through waits instead of handing them back


def _tenant_calls(emulator: XeroEmulator, tenant: str) -> list[dict[str, Any]]:
    return [e for e in emulator.request_log if e.get("tenant") == tenant]


def _max_in_any_minute(timestamps: list[float]) -> int:
    timestamps = sorted(timestamps)
    best, start = 0, 0
    for end, moment in enumerate(timestamps):
        while moment - timestamps[start] >= 60:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(("clock", "limits"), [(FAST, PATIENT)])
def test_eight_workers_never_exceed_sixty_a_minute_or_five_in_flight(client: XeroClient,
                                                                    emulator: XeroEmulator) -> None:
    # Given one organisation and 8 concurrent workers (other Lambdas) with 150 calls to make between them
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_busy", tenant)
    emulator.clear_request_log()
    errors: list[BaseException] = []

    def worker(calls: int) -> None:
        try:
            for _ in range(calls):
                session.organisation()
        except BaseException as error:  # asserted below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(150 // 8 + (1 if i < 150 % 8 else 0),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every call went through, never more than 60 in any 60 s of Xero's clock, and Xero never said 429
    log = _tenant_calls(emulator, tenant)
    assert errors == []
    assert len(log) == 150
    assert _max_in_any_minute([e["timestamp"] for e in log]) <= 60
    assert [e for e in log if e["status"] == 429] == []  # 429 "concurrent" would mean more than 5 in flight
    span = max(e["timestamp"] for e in log) - min(e["timestamp"] for e in log)
    assert span >= 120, "150 calls at 60 a minute need more than two minutes"


@pytest.mark.parametrize(("clock", "limits"), [(FAST, PATIENT)])
def test_a_429_burst_holds_every_caller_for_retry_after(client: XeroClient, emulator: XeroEmulator) -> None:
    # Given Xero answering one call with 429 and Retry-After: 30
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_burst", tenant)
    emulator.clear_request_log()
    emulator.add_fault("rate_limit", path="*/Organisation", times=1, retry_after=30, problem="minute")
    # When the call is made, the caller gets a typed error carrying Retry-After
    with pytest.raises(XeroRateLimited) as limited:
        session.organisation()
    assert limited.value.retry_after == 30 and limited.value.problem == "minute"
    # And the next call, from any Lambda sharing the governor, waits until then before Xero sees it
    other_lambda = build_xero_client(client.settings, clock=FAST, limits=PATIENT).session("biz_burst")
    other_lambda.organisation()
    refused, allowed = _tenant_calls(emulator, tenant)
    assert refused["status"] == 429
    assert allowed["timestamp"] - refused["timestamp"] >= 30


@pytest.mark.parametrize("clock", [ManualClock()])
def test_a_long_wait_is_handed_back_instead_of_slept(client: XeroClient, emulator: XeroEmulator,
                                                      clock: ManualClock) -> None:
    # A queue consumer must return its message for the wait, not sleep through its own timeout.
    # Xero's clock moves only when told to, so the wait handed back is exact however loaded the machine is.
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_handback", tenant)
    emulator.add_fault("rate_limit", path="*/Accounts", times=1, retry_after=600, problem="minute")
    with pytest.raises(XeroRateLimited):
        session.accounts()
    calls_before = len(emulator.request_log)
    with pytest.raises(XeroRateLimited) as held:
        session.tax_rates()
    assert held.value.retry_after == 600
    # And a minute later, the wait handed back is what is left of it
    clock.advance(60)
    with pytest.raises(XeroRateLimited) as later:
        session.tax_rates()
    assert later.value.retry_after == 540
    assert len(emulator.request_log) == calls_before, "nothing may reach Xero while it asked us to wait"
