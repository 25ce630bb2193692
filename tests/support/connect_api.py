"""A frontend of the connect tests: a user of a business calling the HTTP API behind the authorizer, and what
the tokens table holds for a business."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3

from emulators.xero import XeroEmulator
from local.api_gateway import GatewayResponse, HttpApi
from local.authorizer import DevTokenAuthority
from local.provision import Provisioned


class Api:
    """A frontend: calls the HTTP API as a given user of a given business."""

    def __init__(self, gateway: HttpApi, authority: DevTokenAuthority, xero: XeroEmulator) -> None:
        self.gateway = gateway
        self.authority = authority
        self.xero = xero

    def as_user(self, business_id: str, user_id: str = "u_fiona", role: str = "Finance") -> User:
        return User(self, self.authority.mint(business_id=business_id, user_id=user_id, role=role))


class User:
    def __init__(self, api: Api, token: str) -> None:
        self.api = api
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> GatewayResponse:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        payload = json.dumps(body) if body is not None else b""
        return self.api.gateway.handle(method, path, headers=headers, body=payload)

    def consent(self, tenant_ids: list[str], xero_user: str | None = None) -> dict[str, str]:
        """Start connecting and consent in Xero (headless, as ``xero_user`` or Xero's default user); returns the
        code and state Xero redirects with."""
        started = self.call("POST", "/v1/xero/connect")
        assert started.status == 200, started.body
        redirect = self.api.xero.consent(started.json()["authorize_url"], tenant_ids=tenant_ids, user=xero_user)
        query = parse_qs(urlsplit(redirect).query)
        return {"code": query["code"][0], "state": query["state"][0]}

    def connect(self, tenant_id: str, xero_user: str | None = None) -> GatewayResponse:
        return self.call("POST", "/v1/xero/connect/complete", self.consent([tenant_id], xero_user))


def token_items(aws: Provisioned, business_id: str) -> list[dict[str, Any]]:
    """Every item of the tokens table that belongs to the business (one per connection generation)."""
    items = boto3.resource("dynamodb").Table(aws.refs["TokensTable"]).scan()["Items"]
    return [i for i in items if str(i["pk"]).startswith(f"BIZ#{business_id}#GEN#")]
