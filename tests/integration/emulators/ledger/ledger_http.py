"""A thin HTTP client over the emulator's base URL, and the tests' reference time.

Shared by conftest and the test modules (imported by absolute name: pytest runs with --import-mode=importlib).
"""

from __future__ import annotations

from typing import Any

import requests

# 2026-11-20T08:15:00Z, the contract's example time.
T0 = 1_795_162_500


class LedgerHttp:
    """A thin client over the emulator's base URL (the product's own client is not ours to use here)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=10, **kwargs)

    def head(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.head(self.base_url + path, timeout=10, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base_url + path, json=json, timeout=30, **kwargs)

    def patch(self, path: str, json: Any = None) -> requests.Response:
        return self.session.patch(self.base_url + path, json=json, timeout=10)

    def put(self, path: str, json: Any = None) -> requests.Response:
        return self.session.put(self.base_url + path, json=json, timeout=10)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base_url + path, timeout=10)

    def all_transactions(self, account_id: str, limit: int = 500) -> list[dict[str, Any]]:
        """Page through an account the way the contract says a caller should."""
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            response = self.get(
                f"/v1/accounts/{account_id}/transactions", params={"after_sequence": after, "limit": limit}
            )
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["transactions"])
            if not page["has_more"]:
                return found
            after = page["next_after_sequence"]
