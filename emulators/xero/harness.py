"""A small ``requests`` client for a running emulator: connect like the product does (authorize, headless
consent, code exchange) and call Xero's APIs with the headers Xero expects. For tests and the demo; the
product has its own client."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from .state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI

#: The product's minimal scopes (docs/xero-facts.md#oauth-and-connections).
PRODUCT_SCOPES = (
    "openid profile email offline_access accounting.banktransactions accounting.settings.read "
    "accounting.contacts accounting.attachments bankfeeds"
)


def spend_money(bank_account_id: str, line: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid Spend Money element for the default chart; an override (or line field) of None drops it."""
    line_item: dict[str, Any] = {
        "Description": "Taxi to client",
        "Quantity": 1,
        "UnitAmount": 100,
        "AccountCode": "493",
        "TaxType": "INPUT",
        **(line or {}),
    }
    element: dict[str, Any] = {
        "Type": "SPEND",
        "Contact": {"Name": "Acme Supplies Ltd"},
        "BankAccount": {"AccountID": bank_account_id},
        "Date": "2026-02-20",
        "Reference": "PAY-1",
        "Url": "https://bank.example/payments/1",
        "LineItems": [{k: v for k, v in line_item.items() if v is not None}],
        **overrides,
    }
    return {k: v for k, v in element.items() if v is not None}


def basic_auth(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def authorize_url(
    base_url: str,
    scopes: str = PRODUCT_SCOPES,
    state: str = "state-123",
    client_id: str = DEFAULT_CLIENT_ID,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    **extra: str,
) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scopes,
        "state": state,
        **extra,
    }
    return f"{base_url}/identity/connect/authorize?{urlencode(query)}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class XeroHarness:
    """One app's view of the emulator: tokens, the tenant in use, and calls with Xero's headers."""

    base_url: str
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    redirect_uri: str = DEFAULT_REDIRECT_URI
    tenant_id: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    session: requests.Session = field(default_factory=requests.Session)
    timeout: float = 10.0

    # ------------------------------------------------------------------------------------------- OAuth
    def consent(
        self, tenant_ids: list[str] | None = None, scopes: str = PRODUCT_SCOPES, user: str | None = None
    ) -> str:
        """Authorize through the consent header; returns the authorization code."""
        url = authorize_url(self.base_url, scopes, client_id=self.client_id, redirect_uri=self.redirect_uri)
        options = ["allow"]
        if tenant_ids:
            options.append("tenants=" + ",".join(tenant_ids))
        if user:
            options.append(f"user={user}")
        answer = self.session.get(
            url, headers={"X-Emulator-Consent": "; ".join(options)}, allow_redirects=False, timeout=self.timeout
        )
        if answer.status_code != 302:
            raise RuntimeError(f"consent failed: {answer.status_code} {answer.text}")
        return query_of(answer.headers["Location"])["code"]

    def token_request(self, form: dict[str, str]) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/connect/token",
            data=form,
            headers={"Authorization": basic_auth(self.client_id, self.client_secret)},
            timeout=self.timeout,
        )

    def exchange(self, code: str) -> dict[str, Any]:
        answer = self.token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        )
        answer.raise_for_status()
        tokens: dict[str, Any] = answer.json()
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens.get("refresh_token")
        return tokens

    def connect(
        self, tenant_ids: list[str] | None = None, scopes: str = PRODUCT_SCOPES, user: str | None = None
    ) -> dict[str, Any]:
        """Consent and exchange the code; the first tenant becomes the one used by ``call``."""
        tokens = self.exchange(self.consent(tenant_ids, scopes, user))
        if tenant_ids:
            self.tenant_id = tenant_ids[0]
        return tokens

    def refresh(self) -> requests.Response:
        answer = self.token_request({"grant_type": "refresh_token", "refresh_token": self.refresh_token or ""})
        if answer.status_code == 200:
            self.access_token = answer.json()["access_token"]
            self.refresh_token = answer.json().get("refresh_token")
        return answer

    # --------------------------------------------------------------------------------------------- APIs
    def headers(self, tenant: bool = True, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        if tenant and self.tenant_id:
            headers["xero-tenant-id"] = self.tenant_id
        headers.update(extra)
        return headers

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        tenant: bool = True,
    ) -> requests.Response:
        merged = self.headers(tenant)
        merged.update(headers or {})
        return self.session.request(
            method, self.base_url + path, json=json, data=data, params=params, headers=merged, timeout=self.timeout
        )

    def accounting(self, method: str, resource: str, **options: Any) -> requests.Response:
        return self.call(method, "/api.xro/2.0/" + resource.lstrip("/"), **options)

    def bankfeeds(self, method: str, resource: str, **options: Any) -> requests.Response:
        return self.call(method, "/bankfeeds.xro/1.0/" + resource.lstrip("/"), **options)

    def control(self, method: str, path: str, json: Any = None) -> requests.Response:
        url = f"{self.base_url}/_emulator/{path.lstrip('/')}"
        return self.session.request(method, url, json=json, timeout=self.timeout)
