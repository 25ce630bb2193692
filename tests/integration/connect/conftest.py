"""Connect, through the HTTP API behind the authorizer, on moto, against the Xero and ledger emulators."""

from __future__ import annotations

import pytest

from emulators.xero import XeroEmulator
from local.api_gateway import HttpApi
from local.authorizer import DevTokenAuthority
from tests.integration.emulated import (  # noqa: F401 (the fixtures of tests against the emulators)
    _every_request_matches_xeros_specification,
    template,
)
from tests.support.connect_api import Api


@pytest.fixture
def api(gateway: HttpApi, authority: DevTokenAuthority, xero: XeroEmulator) -> Api:
    return Api(gateway, authority, xero)
