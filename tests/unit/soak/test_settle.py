"""The driver moves the clock only when the world is still: every piece of work asleep on the clock or done, and
no queue holding a message a receive would hand out now. A message counts as deliverable only to a function with
an invocation free: when all of a function's invocations sleep on the clock (a delivery delay, a backoff), its
queue's next message cannot be taken before the clock moves, so waiting for it would hold the world still for good
(a full-size soak once stood so for twenty minutes of real time, four workers asleep and twelve messages queued)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from local.soak import driver as driver_module
from local.soak.driver import Driver, Pulse


def _driver(mappings: dict[str, Any], sleeping: int) -> Driver:
    driver = Driver.__new__(Driver)
    driver.pulse = Pulse()
    driver.activity = SimpleNamespace(active=0)  # type: ignore[assignment]
    driver.clock = SimpleNamespace(sleeping=sleeping)  # type: ignore[assignment]
    driver.stack = SimpleNamespace(mappings=mappings)  # type: ignore[assignment]
    driver.settle_seconds = 0.0
    driver.options = SimpleNamespace(progress=lambda line: None)  # type: ignore[assignment]
    driver._queue_name = lambda mapping: mapping.queue  # type: ignore[method-assign]
    return driver


def _mapping(queue: str, in_flight: int, slots: int) -> Any:
    return SimpleNamespace(queue=queue, in_flight=in_flight, slots=slots, wake=lambda: None)


def _settles(driver: Driver, queued: set[str]) -> bool:
    """Whether ``_settle`` returns within two seconds; if not, the world is then made still so that its thread ends."""
    done = threading.Event()

    def run() -> None:
        driver._settle()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    settled = done.wait(2.0)
    if not settled:
        queued.clear()
        driver.clock.sleeping = 99  # type: ignore[misc]
        driver.pulse.beat()
        assert done.wait(2.0)
    return settled


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Queues holding a visible message; the outlook says one is deliverable if any queue looked at is here."""
    holding: set[str] = set()
    monkeypatch.setattr(driver_module.moto_patches, "sqs_outlook",
                        lambda names, account, region: (bool(holding & set(names)), None, len(holding)))
    return holding


def test_a_message_waiting_for_a_function_whose_invocations_all_sleep_lets_the_clock_move(queued: set[str]) -> None:
    queued.add("worker-queue")
    driver = _driver({"Worker": _mapping("worker-queue", in_flight=4, slots=4)}, sleeping=4)
    assert _settles(driver, queued)


def test_a_message_a_free_invocation_can_take_holds_the_clock(queued: set[str]) -> None:
    queued.add("worker-queue")
    driver = _driver({"Worker": _mapping("worker-queue", in_flight=3, slots=4)}, sleeping=3)
    assert not _settles(driver, queued)


def test_work_awake_holds_the_clock(queued: set[str]) -> None:
    driver = _driver({"Worker": _mapping("worker-queue", in_flight=4, slots=4)}, sleeping=3)
    assert not _settles(driver, queued)
