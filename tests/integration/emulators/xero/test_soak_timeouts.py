"""The soak's Xero timeouts cost no real time: the emulator tells the chaos which request's answer a "timeout" fault
holds, and the caller's call ends as a read timeout does (``requests.ReadTimeout``), with or without the write
done, the read timeout passed on the world's clock (local/soak/chaos.py, docs/soak.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness, spend_money
from local import http_in_process
from local.soak.chaos import XERO_READ_TIMEOUT_SECONDS, Chaos
from local.soak.simclock import SimClock

HOLD_S = 600.0  # what a held answer would cost in real time, were it waited for


class _ThroughTheChaos(requests.adapters.HTTPAdapter):
    def __init__(self, chaos: Chaos) -> None:
        super().__init__()
        self.chaos = chaos

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.chaos.http_boundary(request, lambda: super(_ThroughTheChaos, self).send(request, *args, **kwargs))


@pytest.fixture(params=["over the wire", "in process"])
def world_clock(emu: XeroEmulator, xero: XeroHarness, monkeypatch: pytest.MonkeyPatch,
                request: pytest.FixtureRequest) -> Iterator[SimClock]:
    """The chaos between the caller and the emulator, reached over loopback (the tests) or handed over in this
    process (the soak: local/http_in_process.py)."""
    clock = SimClock(1_770_000_000.0)
    chaos = Chaos(seed=1, rate=0.2, clock=clock)
    chaos._xero_url = xero.base_url.rstrip("/")
    monkeypatch.setattr(emu, "hold", chaos._hold)  # as Chaos.attach does (the emulator is the session's)
    xero.session.mount("http://", _ThroughTheChaos(chaos))
    if request.param == "in process":
        http_in_process.install(xero.base_url, emu.app)
        assert http_in_process.handles(xero.base_url.rstrip("/") + "/api.xro/2.0/BankTransactions")
    try:
        yield clock
    finally:
        http_in_process.uninstall(xero.base_url)


def _spend(bank_account_id: str) -> dict[str, Any]:
    return {"BankTransactions": [spend_money(bank_account_id)]}


@pytest.mark.parametrize("commit", [False, True])
def test_a_held_answer_is_a_read_timeout_in_world_time(emu: XeroEmulator, xero: XeroHarness, world_clock: SimClock,
                                                       tenant: str, bank_account_id: str, commit: bool) -> None:
    emu.add_fault("timeout", path="*/BankTransactions", method="PUT", hold_s=HOLD_S, commit=commit, times=1)
    before = world_clock.time()
    with pytest.raises(requests.ReadTimeout):
        xero.accounting("PUT", "BankTransactions", json=_spend(bank_account_id))
    assert world_clock.time() == before + XERO_READ_TIMEOUT_SECONDS
    assert len(emu.bank_transactions(tenant)) == (1 if commit else 0)
    # The next call meets no fault and gets its answer, in no world time
    assert xero.accounting("PUT", "BankTransactions", json=_spend(bank_account_id)).status_code == 200
    assert world_clock.time() == before + XERO_READ_TIMEOUT_SECONDS


def test_a_dropped_answer_stays_a_connection_error(emu: XeroEmulator, xero: XeroHarness, world_clock: SimClock,
                                                   tenant: str, bank_account_id: str) -> None:
    emu.add_fault("drop", path="*/BankTransactions", method="PUT", times=1)
    with pytest.raises(requests.ConnectionError):
        xero.accounting("PUT", "BankTransactions", json=_spend(bank_account_id))
    assert len(emu.bank_transactions(tenant)) == 1
