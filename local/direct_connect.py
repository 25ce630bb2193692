"""Connect a business to an emulated organisation without the HTTP flow, for tests and benchmarks of the
parts that come after connecting: the same consent (with PKCE), code exchange, sealed tokens of a new
generation, claim on the Xero connection and connection record as the product's connect flow leaves them."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from xerosync.clock import iso, utc_now
from xerosync.store.claims import XeroConnectionClaims, holder
from xerosync.store.connections import XeroConnectionRecord
from xerosync.xero.client import XeroClient
from xerosync.xero.identity import pkce_pair


def connect_directly(client: XeroClient, emulator: Any, business_id: str, tenant_id: str, *,
                     user_id: str = "u_test", base_currency: str = "HKD", user: str | None = None) -> str:
    """Returns the new connection's generation."""
    verifier, challenge = pkce_pair()
    redirect = emulator.consent(client.identity.authorize_url("direct", challenge), tenant_ids=[tenant_id], user=user)
    tokens = client.identity.exchange_code(parse_qs(urlsplit(redirect).query)["code"][0], verifier)
    generation = uuid.uuid4().hex
    client.vault.create(business_id, generation, tokens, expires_at=None)
    connection = next(c for c in client.identity.connections(tokens.access_token) if c.tenant_id == tenant_id)
    XeroConnectionClaims(client.connections.table).hold(connection.id, holder(business_id, generation),
                                                       client.clock.time())
    existing = client.connections.get(business_id)
    client.connections.put(XeroConnectionRecord(
        business_id=business_id, tenant_id=tenant_id, generation=generation, xero_connection_id=connection.id,
        organisation_name=connection.tenant_name or "", base_currency=base_currency, connected_by=user_id,
        connected_at=iso(utc_now(client.clock)), version=existing.version if existing else 0))
    return generation
