"""Retries that back off in milliseconds, for the tiers that run the functions against the emulators.

The product's Xero client waits up to 0.5, 1 and 2 s between its tries, the ledger client 0.2-0.8 s: real
seconds that a test meeting an injected fault would sit out. These tiers keep every try and every decision to
retry (the unit tests hold the production waits' figures); only the waits shrink. Not for the soak, whose world
clock moves with each wait.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xerosync.ledger import client as ledger_client
from xerosync.xero import transport

XERO_RETRY = transport.RetryPolicy(attempts=transport.DEFAULT_RETRY.attempts, base_delay=0.01, max_delay=0.05)
LEDGER_RETRIES = ledger_client.READ_RETRIES.new(backoff_factor=0.01)


@pytest.fixture(scope="session", autouse=True)
def retries_in_milliseconds() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transport, "DEFAULT_RETRY", XERO_RETRY)
        patch.setattr(ledger_client, "READ_RETRIES", LEDGER_RETRIES)
        yield
