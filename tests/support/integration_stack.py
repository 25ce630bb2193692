"""The integration tier's stack: the template as the local stack deploys it, its resources on moto
(``mock_aws``), and an emulator served on loopback. The tier's fixtures (tests/integration/conftest.py) and the
test modules that build a stack of their own use them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import boto3
import pytest
from moto import mock_aws

from emulators.xero import XeroEmulator
from local import moto_patches
from local.authorizer import LOCAL_AUDIENCE, LOCAL_ISSUER
from local.provision import Provisioned, create_locally
from local.stack import LEDGER_BUS, LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, LOCAL_REDIRECT_URI
from local.template import Template, load_template
from tests.support.moto_state import provision_once

_TEMPLATE_BODY = load_template()


def local_template(xero_url: str = "http://127.0.0.1:9", ledger_url: str = "http://127.0.0.1:9",
                   **parameters: str) -> Template:
    """The template as the local stack deploys it; ``parameters`` override its parameters' values."""
    return Template(
        _TEMPLATE_BODY,
        {
            "Stage": "test",
            "JwtIssuer": LOCAL_ISSUER,
            "JwtAudience": LOCAL_AUDIENCE,
            "XeroClientId": LOCAL_CLIENT_ID,
            "XeroClientSecretArn": create_locally(LOCAL_CLIENT_SECRET),
            "XeroRedirectUri": LOCAL_REDIRECT_URI,
            "XeroLoginUrl": xero_url,
            "XeroIdentityUrl": xero_url,
            "XeroApiUrl": xero_url,
            "LedgerApiUrl": ledger_url,
            "LedgerEventBusName": LEDGER_BUS,
            "LogLevel": "WARNING",
            **parameters,
        },
    )


def _forget_cached_adapters() -> None:
    from xerosync.lifecycle import new_cold_start

    new_cold_start()


@contextmanager
def aws_on_moto(template: Template, patch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    """The template's tables, queues, key, secret and rules in moto, and the functions' environment set.

    Provisioned once per process and template; each use after the first starts from a copy of what provisioning
    left (tests/support/moto_state.py)."""
    moto_patches.apply()
    # mock_aws intercepts AWS's own endpoints only: a local stack's endpoint must not leak in, neither
    # through the environment nor through boto3's default session, which remembers what it resolved.
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    patch.setattr(boto3, "DEFAULT_SESSION", None)
    with mock_aws():
        provisioned = provision_once(template, visibility_timeout_override=1)
        for name, value in provisioned.environment.items():
            patch.setenv(name, value)
        patch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        patch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        _forget_cached_adapters()
        yield provisioned
    _forget_cached_adapters()


class _Server(Protocol):
    def start(self) -> object: ...

    def stop(self) -> object: ...


S = TypeVar("S", bound=_Server)


@contextmanager
def serving(emulator: S) -> Iterator[S]:
    """An emulator listening on loopback for the duration of the block.

    It stops in the background: stopping waits for the server's loop to see the request (up to its 50 ms poll
    interval, for each emulator of each test), and nothing waits for that. The next test's emulators listen on
    ports of their own; a response a timeout fault holds is released as the stop begins."""
    emulator.start()
    try:
        yield emulator
    finally:
        threading.Thread(target=emulator.stop, name="emulator-stop", daemon=True).start()


def xeros_specification_allowed_every_request(xero: XeroEmulator) -> None:
    assert xero.spec_violations == [], "the product sent a request Xero's OpenAPI files do not allow"
