"""What the connect use cases need from the outside world, as small Protocols (docs/architecture.md, Connect).

The use cases (``oauth``, ``status``, ``linking``, ``disconnect``, ``cleanup``, ``sweeper``, ``check``) depend on
these ports only; ``wiring`` hands in the DynamoDB stores (``xerosync.store``), the KMS token vault and the Xero
client, and tests may hand in their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from xerosync.connect.cleanup import CleanupJob
from xerosync.ledger.models import LedgerAccount
from xerosync.store.connections import ConnectionStatus, Turn, XeroConnectionRecord
from xerosync.store.consents import Consent
from xerosync.store.feeds import FeedRecord, FeedStatus
from xerosync.xero.bank_feeds import FeedConnection, Statement
from xerosync.xero.governor import GENERAL
from xerosync.xero.models import Account, Organisation, TokenSet, XeroConnection


class Connections(Protocol):
    def get(self, business_id: str) -> XeroConnectionRecord | None: ...

    def put(self, record: XeroConnectionRecord) -> XeroConnectionRecord: ...

    def set_status(self, business_id: str, status: ConnectionStatus, reason: str | None, at: str,
                   only_if: ConnectionStatus | None = None, generation: str | None = None) -> bool: ...

    def mark_generation_ended(self, business_id: str, generation: str) -> bool: ...

    def mark_replacement_finished(self, business_id: str, generation: str) -> bool: ...

    def claim_turn(self, business_id: str, generation: str, turn: Turn, now: float, interval_seconds: float
                   ) -> bool: ...


class Feeds(Protocol):
    def get(self, business_id: str, account_id: str) -> FeedRecord | None: ...

    def for_business(self, business_id: str) -> list[FeedRecord]: ...

    def live_for_tenant(self, tenant_id: str) -> list[FeedRecord]: ...

    def save(self, record: FeedRecord) -> FeedRecord: ...

    def change(self, feed: FeedRecord, *, only_if: frozenset[FeedStatus] | None = None,
               **changes: Any) -> FeedRecord: ...

    def change_for_connection(self, feed: FeedRecord, connection_generation: str, *,
                              only_if: frozenset[FeedStatus], **changes: Any) -> FeedRecord | None: ...


class ConnectionWalk(Protocol):
    """Every business's connection in one order, resumable after a position (the hourly check)."""

    def all(self, after: str | None = None) -> Iterator[XeroConnectionRecord]: ...

    def position(self, record: XeroConnectionRecord) -> str: ...


class CheckPosition(Protocol):
    """Where the hourly check stopped, so that its next run continues from there."""

    def load(self) -> str | None: ...

    def save(self, after: str | None) -> None: ...

    def clear(self) -> None: ...


class LedgerAccounts(Protocol):
    def accounts(self, business_id: str) -> list[LedgerAccount]: ...


class OAuthStates(Protocol):
    def issue(self, business_id: str, user_id: str, now: float, code_verifier: str) -> tuple[str, float]: ...

    def consume(self, state: str, business_id: str, user_id: str, now: float) -> str:
        """The state's PKCE verifier, once; ``StateRefused`` (``xerosync.store.oauth_states``) with the problem."""
        ...


class Consents(Protocol):
    def open(self, consent: Consent) -> None: ...

    def waiting_choice(self, business_id: str, user_id: str, now: float) -> Consent | None: ...

    def waiting_choices(self, business_id: str, user_id: str) -> list[Consent]: ...

    def take_choice(self, consent: Consent, user_id: str, now: float) -> bool: ...

    def abandon(self, consent: Consent, now: float) -> bool: ...

    def due(self, now: float, limit: int = 50) -> list[Consent]: ...

    def claim_for_ending(self, consent: Consent, now: float) -> bool: ...

    def close(self, business_id: str, generation: str) -> None: ...


class ConnectionClaims(Protocol):
    def hold(self, connection_id: str, who: str, now: float) -> None: ...

    def release(self, connection_id: str, who: str) -> None: ...


class TokenStore(Protocol):
    """The generation-keyed token vault (``xerosync.xero.tokens.TokenVault``)."""

    def create(self, business_id: str, generation: str, tokens: TokenSet, *, expires_at: float | None) -> None: ...

    def keep(self, business_id: str, generation: str) -> bool: ...

    def retire(self, business_id: str, generation: str, *, now: float, keep_until: float) -> bool: ...


class AccessTokens(Protocol):
    """A generation's access token, refreshed when due (``xerosync.xero.tokens.AccessTokens``); ``ReconnectRequired``
    when Xero refuses its grant (the connection is then marked NEEDS_RECONNECT)."""

    def access_token(self, business_id: str, generation: str) -> str: ...


class GrantConnections(Protocol):
    """The organisations a grant reaches (Xero's ``GET /connections``)."""

    def connections(self, access_token: str, auth_event_id: str | None = None) -> list[XeroConnection]: ...


class XeroSignIn(Protocol):
    """Xero's identity service, as the OAuth use case and the live status use it."""

    def authorize_url(self, state: str, code_challenge: str) -> str: ...

    def exchange_code(self, code: str, code_verifier: str) -> TokenSet: ...

    def connections(self, access_token: str, auth_event_id: str | None = None) -> list[XeroConnection]: ...


class ConnectSession(Protocol):
    """One business's Xero organisation through one generation's tokens (``xerosync.xero.session``)."""

    tenant_id: str

    def access_token(self, *, stale: str | None = None) -> str: ...

    def organisation(self) -> Organisation: ...

    def organisation_actions(self) -> dict[str, str]: ...

    def accounts(self, where: str | None = None) -> list[Account]: ...

    def account(self, account_id: str) -> Account: ...

    def create_feed_connections(self, connections: Sequence[FeedConnection], *, key: str) -> list[FeedConnection]: ...

    def feed_connection(self, feed_connection_id: str) -> FeedConnection: ...

    def feed_connections(self) -> list[FeedConnection]: ...

    def delete_feed_connections(self, feed_connection_ids: Sequence[str]) -> list[FeedConnection]: ...

    def statement(self, statement_id: str) -> Statement: ...

    def statements(self) -> Iterator[Statement]: ...


class ConnectSessions(Protocol):
    """Sessions opened for a user's request are ``INTERACTIVE`` (capped per business by the governor)."""

    def session(self, business_id: str, generation: str | None = None, *,
                purpose: str = GENERAL) -> ConnectSession: ...

    def session_for_generation(self, business_id: str, tenant_id: str, generation: str, *,
                               retired_ok: bool = False, purpose: str = GENERAL) -> ConnectSession: ...

    def connection_lost(self, business_id: str, generation: str, reason: str) -> None: ...


class Cleaner(Protocol):
    def clean_or_queue(self, job: CleanupJob) -> bool:
        """Do the job in Xero now; on any failure hand it to the cleanup queue. True when done now."""
        ...


class FeedSyncRequester(Protocol):
    def __call__(self, tenant_id: str, business_id: str, generation: str, account_ids: list[str],
                 reason: str) -> None: ...
