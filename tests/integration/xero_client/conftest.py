"""The product's Xero client against the Xero emulator, on moto with the template's tables and key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from local.clock import SystemClock
from local.provision import Provisioned
from local.template import Template
from local.xero_emulator import XeroEmulator
from tests.integration.conftest import local_template, serving, xeros_specification_allowed_every_request
from xerosync.clock import iso, utc_now
from xerosync.settings import get_settings
from xerosync.store.connections import XeroConnectionRecord
from xerosync.xero.client import XeroClient, build_xero_client
from xerosync.xero.governor import Limits
from xerosync.xero.session import XeroSession
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


def connect(client: XeroClient, emulator: XeroEmulator, business_id: str, tenant_id: str) -> XeroSession:
    """Connect a business the way the connect flow does: consent, code exchange, tokens sealed, record stored."""
    redirect = emulator.consent(client.identity.authorize_url("state-1"), tenant_ids=[tenant_id])
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    tokens = client.identity.exchange_code(code)
    client.vault.save(business_id, tokens, expected_version=None)
    connection = next(c for c in client.identity.connections(tokens.access_token) if c.tenant_id == tenant_id)
    client.connections.put(XeroConnectionRecord(
        business_id=business_id, tenant_id=tenant_id, xero_connection_id=connection.id,
        organisation_name=connection.tenant_name or "", base_currency="HKD", connected_by="u_test",
        connected_at=iso(utc_now(client.clock))))
    return client.session(business_id)
