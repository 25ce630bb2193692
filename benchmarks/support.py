"""What the benchmarks share: the template's resources in moto and a Xero emulator, as the tests use them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "layers" / "common", *sorted((ROOT / "functions").iterdir())):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                   "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
                   "POWERTOOLS_LOG_LEVEL": "ERROR"})
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws  # noqa: E402

from local import moto_patches  # noqa: E402
from local.provision import Provisioned, create_locally, provision  # noqa: E402
from local.stack import LEDGER_BUS, LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, LOCAL_REDIRECT_URI  # noqa: E402
from local.template import Template, load_template  # noqa: E402


@contextmanager
def local_aws(xero_url: str = "http://127.0.0.1:9", ledger_url: str = "http://127.0.0.1:9") -> Iterator[Provisioned]:
    moto_patches.apply()
    template = Template(load_template(), {
        "Stage": "bench", "JwtIssuer": "https://auth.bank.local/", "JwtAudience": "xero-sync-local",
        "XeroClientId": LOCAL_CLIENT_ID, "XeroClientSecretArn": create_locally(LOCAL_CLIENT_SECRET),
        "XeroRedirectUri": LOCAL_REDIRECT_URI,
        "XeroLoginUrl": xero_url, "XeroIdentityUrl": xero_url, "XeroApiUrl": xero_url, "LedgerApiUrl": ledger_url,
        "LedgerEventBusName": LEDGER_BUS, "LogLevel": "ERROR"})
    with mock_aws():
        provisioned = provision(template)
        os.environ.update(provisioned.environment)
        from xerosync.lifecycle import new_cold_start

        new_cold_start()
        yield provisioned


def connect_business(client: Any, emulator: Any, business_id: str, tenant_id: str) -> str:
    """Connect without the HTTP flow; returns the connection's generation."""
    from local.direct_connect import connect_directly

    return connect_directly(client, emulator, business_id, tenant_id, user_id="bench")


def median_of(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
