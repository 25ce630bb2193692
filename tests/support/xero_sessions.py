"""A business connected to a Xero organisation the way the connect flow leaves it (consent, code exchange, tokens
sealed, the connection recorded), for tests that start from there: the Xero client's, auto-sync's, the expenses'."""

from __future__ import annotations

from emulators.xero import XeroEmulator
from local.direct_connect import connect_directly
from xerosync.xero.client import XeroClient
from xerosync.xero.session import XeroSession


def connect(client: XeroClient, emulator: XeroEmulator, business_id: str, tenant_id: str) -> XeroSession:
    """Connect ``business_id`` to ``tenant_id`` and give its session."""
    connect_directly(client, emulator, business_id, tenant_id)
    return client.session(business_id)


def generation_of(client: XeroClient, business_id: str) -> str:
    """The business's connection generation (a reconnect starts a new one)."""
    record = client.connections.get(business_id)
    assert record is not None
    return record.generation
