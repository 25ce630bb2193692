"""The Xero client of this execution environment, built once from the settings (docs/architecture.md).

    client = get_xero_client()
    session = client.session(business_id)     # ReconnectRequired unless the connection is ACTIVE
    session = client.session(business_id, generation)   # and GenerationChanged unless still that connection
    session.accounts(where='Type=="BANK"')

Tests build ``XeroClient`` with their own clock, limits or store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import requests

from xerosync import aws
from xerosync.clock import Clock, iso, process_clock, utc_now
from xerosync.lifecycle import per_cold_start
from xerosync.observability import logger, metrics
from xerosync.settings import Settings, get_settings
from xerosync.store.connections import ConnectionStatus, ConnectionStore
from xerosync.store.rate_limits import DynamoGovernorStore
from xerosync.xero.errors import RECONNECT_ACTION, GenerationChanged, ReconnectRequired
from xerosync.xero.governor import GENERAL, Limits, TenantRateGovernor
from xerosync.xero.identity import XeroIdentity
from xerosync.xero.session import XeroSession
from xerosync.xero.tokens import AccessTokens, TokenVault
from xerosync.xero.transport import RetryPolicy, XeroTransport

__all__ = ["RECONNECT_ACTION", "XeroClient", "build_xero_client", "get_xero_client"]


@dataclass
class XeroClient:
    settings: Settings
    transport: XeroTransport
    identity: XeroIdentity
    vault: TokenVault
    tokens: AccessTokens
    governor: TenantRateGovernor
    connections: ConnectionStore
    clock: Clock

    def session(self, business_id: str, generation: str | None = None, *, purpose: str = GENERAL) -> XeroSession:
        """The business's connection as it is now; with ``generation``, only if it is still that one (work made
        for an earlier connection raises ``GenerationChanged`` and is dropped by its caller)."""
        record = self.connections.get(business_id)
        if record is None or record.status == ConnectionStatus.DISCONNECTED:
            reason = "This business is not connected to Xero."
            raise ReconnectRequired(reason, reason=reason)
        if generation is not None and record.generation != generation:
            metrics.add_metric(name="StaleGenerationDropped", unit="Count", value=1)
            logger.warning("work made for an earlier Xero connection dropped",
                           extra={"business_id": business_id, "generation": generation,
                                  "current_generation": record.generation})
            raise GenerationChanged("The Xero connection this work was made for has ended.", generation=generation)
        if record.status == ConnectionStatus.NEEDS_RECONNECT:
            reason = record.status_reason or "The connection to Xero needs to be renewed."
            raise ReconnectRequired(reason, reason=reason)
        return self.session_for_generation(business_id, record.tenant_id, record.generation, purpose=purpose)

    def session_for_generation(self, business_id: str, tenant_id: str, generation: str, *,
                               retired_ok: bool = False, purpose: str = GENERAL) -> XeroSession:
        """A session on one generation's tokens regardless of the stored status (the connect flow, before the
        connection is stored; the periodic check; ``retired_ok``: a cleanup of an ended generation)."""
        return XeroSession(business_id=business_id, tenant_id=tenant_id, generation=generation,
                           transport=self.transport, tokens=self.tokens, identity=self.identity,
                           api_url=str(self.settings.xero_api_url), clock=self.clock, retired_ok=retired_ok,
                           purpose=purpose)

    def mark_needs_reconnect(self, business_id: str, generation: str, reason: str) -> None:
        mark_needs_reconnect(self.connections, self.clock, business_id, generation, reason)

    def connection_lost(self, business_id: str, generation: str, reason: str) -> None:
        """Xero no longer has this generation's connection: its tokens are disabled and the user told."""
        self.tokens.connection_lost(business_id, generation, reason)


def mark_needs_reconnect(connections: ConnectionStore, clock: Clock, business_id: str, generation: str,
                         reason: str) -> None:
    """Only an ACTIVE connection of that very generation moves to NEEDS_RECONNECT: a disconnect in progress
    stays DISCONNECTED, and an ended generation's failure never touches the connection that replaced it."""
    connections.set_status(business_id, ConnectionStatus.NEEDS_RECONNECT, reason, iso(utc_now(clock)),
                           only_if=ConnectionStatus.ACTIVE, generation=generation)


def build_xero_client(settings: Settings, *, clock: Clock | None = None, limits: Limits | None = None,
                      http: requests.Session | None = None, retry: RetryPolicy | None = None,
                      client_secret: str | None = None) -> XeroClient:
    clock = clock or process_clock()
    main_table = aws.table(settings.main_table_name)
    governor = TenantRateGovernor(DynamoGovernorStore(main_table), limits, clock)
    transport = XeroTransport(http or requests.Session(), limiter=governor, retry=retry, sleep=clock.sleep,
                              timeout=(3.05, settings.xero_read_timeout_seconds))

    def secret() -> str:
        if client_secret is not None:
            return client_secret
        return str(_secrets().get(settings.xero_client_secret_arn, max_age=300))

    identity = XeroIdentity(transport, login_url=str(settings.xero_login_url),
                            identity_url=str(settings.xero_identity_url), api_url=str(settings.xero_api_url),
                            client_id=settings.xero_client_id, client_secret=secret,
                            redirect_uri=str(settings.xero_redirect_uri), scopes=settings.xero_scopes, clock=clock)
    vault = TokenVault(aws.table(settings.tokens_table_name), aws.client("kms"), settings.tokens_kms_key_id)
    connections = ConnectionStore(main_table)
    tokens = AccessTokens(vault, identity, lambda business, generation, reason: mark_needs_reconnect(
        connections, clock, business, generation, reason), clock)
    return XeroClient(settings=settings, transport=transport, identity=identity, vault=vault, tokens=tokens,
                      governor=governor, connections=connections, clock=clock)


@per_cold_start
def _secrets() -> Any:
    """The client secret's provider (Powertools' cache over Secrets Manager), built on the first token exchange or
    refresh: a cold start whose tokens are fresh never needs it, nor its client."""
    from aws_lambda_powertools.utilities import parameters

    return parameters.SecretsProvider(boto3_client=aws.client("secretsmanager"))


_lock = threading.Lock()


@per_cold_start
def get_xero_client() -> XeroClient:
    with _lock:
        return build_xero_client(get_settings())
