"""Bank Feeds requests the Xero emulator's tests of several modules send: a feed connection's item, and the
request that connects feeds."""

from __future__ import annotations

from typing import Any

import requests

from emulators.xero.harness import XeroHarness


def feed(token: str = "acc-001", **overrides: Any) -> dict[str, Any]:
    item = {
        "accountToken": token,
        "accountNumber": f"999-{token}",
        "accountName": "Aspire HKD",
        "accountType": "BANK",
        "currency": "HKD",
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def connect_feeds(xero: XeroHarness, *items: dict[str, Any]) -> requests.Response:
    return xero.bankfeeds("POST", "FeedConnections", json={"items": list(items)})
