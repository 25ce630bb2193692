"""Fixtures of the test packages whose handlers meet the running Xero and ledger emulators (connect,
auto-sync): their conftest imports them, so that the template points at the emulators and every request
sent to Xero is held to its OpenAPI files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from local.template import Template
from tests.support.integration_stack import local_template, xeros_specification_allowed_every_request


@pytest.fixture
def template(xero: XeroEmulator, ledger: LedgerEmulator) -> Template:
    return local_template(xero_url=xero.base_url, ledger_url=ledger.base_url)


@pytest.fixture(autouse=True)
def _every_request_matches_xeros_specification(xero: XeroEmulator) -> Iterator[None]:
    yield
    xeros_specification_allowed_every_request(xero)
