"""Auto-sync on moto with the template's resources, against the Xero and ledger emulators.

The schedule is fired through the Lambda runtime, messages are pumped by the same event-source mapping the
local stack uses, the HTTP route is reached through the gateway with minted tokens. Businesses are
connected and accounts linked at store level (the connect flow's own tests cover its HTTP side).
"""

from __future__ import annotations

import pytest

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from local.api_gateway import HttpApi
from local.authorizer import DevTokenAuthority
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from tests.integration.auto_sync_world import AutoSync
from tests.integration.emulated import (  # noqa: F401 (the fixtures of tests against the emulators)
    _every_request_matches_xeros_specification,
    template,
)
from xerosync.auto_sync import wiring
from xerosync.settings import get_settings
from xerosync.xero.client import XeroClient, build_xero_client
from xerosync.xero.governor import Limits
from xerosync.xero.transport import RetryPolicy


@pytest.fixture
def client(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> XeroClient:
    """The Xero client the handlers use, with retries that back off in milliseconds, not seconds."""
    built = build_xero_client(get_settings(), limits=Limits(max_wait_seconds=2),
                              retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05))
    monkeypatch.setattr(wiring, "get_xero_client", lambda: built)
    return built


@pytest.fixture
def auto_sync(aws: Provisioned, runtime: LambdaRuntime, gateway: HttpApi, authority: DevTokenAuthority,
              client: XeroClient, xero: XeroEmulator, ledger: LedgerEmulator) -> AutoSync:
    return AutoSync(aws, runtime, gateway, authority, client, xero, ledger)
