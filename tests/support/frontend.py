"""The bank's frontend as the end-to-end tests drive it: HTTP calls with a user's token, over loopback."""

from __future__ import annotations

import time
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.stack import DevStack


class Frontend:
    def __init__(self, stack: DevStack, token: str) -> None:
        self.stack = stack
        self.token = token

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.stack.api(method, path, token=self.token, json_body=body, timeout=60)
        assert response.status_code == status, (method, path, response.status_code, response.text[:500])
        return response.json()

    def tab(self, tab: str, **filters: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            query = "&".join([f"tab={tab}", "limit=200", *(f"{k}={v}" for k, v in filters.items()),
                              *([f"cursor={cursor}"] if cursor else [])])
            page = self.call("GET", f"/v1/expenses?{query}")
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def sync(self, ids: list[str], *, timeout: float = 120.0) -> dict[str, Any]:
        job = self.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": ids}, status=202)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            progress = self.call("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
            if progress["status"] == "COMPLETED":
                return dict(progress)
            time.sleep(0.5)
        raise AssertionError(f"the sync did not finish: {progress}")


def connect(stack: DevStack, token: str, tenant_id: str) -> Any:
    """Start connecting, consent in Xero to ``tenant_id`` (headless) and complete: the completion's response."""
    started = stack.api("POST", "/v1/xero/connect", token=token).json()
    redirect = stack.xero.consent(started["authorize_url"], tenant_ids=[tenant_id])
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
    return stack.api("POST", "/v1/xero/connect/complete", token=token,
                     json_body={"code": query["code"], "state": query["state"]})


def connect_and_link(stack: DevStack, user: Frontend, tenant: str, account_id: str,
                     backfill_from: date | None = None) -> None:
    """Connect to ``tenant`` and link the HKD ``account_id`` to its HKD bank account (history from ``backfill_from``,
    else from today)."""
    completed = connect(stack, user.token, tenant)
    assert completed.status_code == 200, completed.text[:500]
    bank = next(a for a in user.call("GET", "/v1/xero/bank-accounts")["accounts"] if a["currency_code"] == "HKD")
    user.call("PUT", f"/v1/bank-accounts/{account_id}/feed", {
        "xero_account_id": bank["account_id"], "backfill_from": backfill_from.isoformat() if backfill_from else None})


def ready_to_sync_expenses(stack: DevStack, business_name: str, organisation: str, **mappings: str
                           ) -> tuple[str, str, Frontend, dict[str, str]]:
    """A Singapore business connected to a new organisation, its HKD account linked, its categories mapped to
    Xero accounts by code (``travel="493"``), as Fiona sets it up: the HKD account, the tenant, Fiona, and the
    Xero accounts offered for expenses by code."""
    business = stack.ledger.create_business("SG", business_name).business_id
    hkd = stack.ledger.create_account(business, "HKD").account_id
    tenant = stack.xero.seed_organisation(organisation, base_currency="HKD")
    user = Frontend(stack, stack.token(business_id=business, user_id="u_fiona", role="Finance"))
    connect_and_link(stack, user, tenant, hkd)
    accounts = {a["code"]: a["account_id"] for a in user.call("GET", "/v1/expenses/reference-data")["accounts"]}
    user.call("PUT", "/v1/expenses/mappings", {"mappings": [
        {"category": category, "xero_account_id": accounts[code]} for category, code in mappings.items()]})
    return hkd, tenant, user, accounts
