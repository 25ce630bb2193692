"""Unit tests are pure and offline: pytest-socket refuses every network socket they try to open (a local Unix
socket, such as the one an event loop opens to wake itself, stays allowed)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_network(socket_disabled: None) -> None:
    """Uses pytest-socket's fixture: the network is off for the test, and on again after it."""
