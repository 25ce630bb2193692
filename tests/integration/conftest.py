"""Integration tests: handlers on moto (``mock_aws``) with the template's resources, and the emulators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from local.api_gateway import HttpApi
from local.authorizer import DevTokenAuthority
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from local.template import Template
from tests.support.fast_retries import retries_in_milliseconds  # noqa: F401 (autouse: faults stay fast)
from tests.support.integration_stack import aws_on_moto, local_template, serving


@pytest.fixture
def template() -> Template:
    return local_template()


@pytest.fixture
def aws(template: Template, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    with aws_on_moto(template, monkeypatch) as provisioned:
        yield provisioned


# One Xero and one ledger emulator per process (each pytest-xdist worker), reset before each test that uses them:
# a test meets an emulator as new (reset clears whatever a test can set: data, fault plans, settings, rate-limit
# counters, idempotency keys, the clock's offset, held answers; tests/integration/test_shared_emulators.py), and
# the emulators are built and started once, not for each of some five hundred tests.
@pytest.fixture(scope="session")
def _worker_xero() -> Iterator[XeroEmulator]:
    with serving(XeroEmulator()) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _worker_ledger() -> Iterator[LedgerEmulator]:
    with serving(LedgerEmulator()) as emulator:
        yield emulator


@pytest.fixture
def xero(_worker_xero: XeroEmulator) -> XeroEmulator:
    _worker_xero.reset()
    return _worker_xero


@pytest.fixture
def ledger(_worker_ledger: LedgerEmulator) -> LedgerEmulator:
    _worker_ledger.reset()
    return _worker_ledger


@pytest.fixture
def runtime(aws: Provisioned) -> LambdaRuntime:
    return LambdaRuntime(aws.template)


@pytest.fixture(scope="session")
def authority() -> DevTokenAuthority:
    """The bank's token issuer: one signing key per process (making a 2048-bit RSA key costs about 0.1 s; the
    authority keeps nothing else). A test that needs a stranger's key makes its own."""
    return DevTokenAuthority(key_path=None)


@pytest.fixture
def gateway(aws: Provisioned, runtime: LambdaRuntime, authority: DevTokenAuthority) -> Iterator[HttpApi]:
    api = HttpApi(aws.template, runtime, authority)
    yield api
    api.stop()
