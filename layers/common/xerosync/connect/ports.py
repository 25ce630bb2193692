"""What the connect use cases need from the outside world, as small Protocols (docs/architecture.md, Connect).

Every port of the feature is here: the use cases (``oauth``, ``status``, ``linking``, ``disconnect``, ``cleanup``,
``check``) depend on these only; ``wiring`` hands in the DynamoDB stores (``xerosync.store``), the KMS token vault,
the Xero client and the queues' adapters (``adapters``), and tests may hand in their own.

The types the ports name are imported for the type checker only: a use case that imports its ports loads nothing
more with them (``cleanup`` is the cleanup function's whole use case; docs/architecture.md, "Cold start").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from xerosync.xero.purposes import GENERAL

if TYPE_CHECKING:
    from xerosync.connect.cleanup import CleanupJob
    from xerosync.ledger.models import LedgerAccount
    from xerosync.store.connections import ConnectionStatus, Turn, XeroConnectionRecord
    from xerosync.store.consents import Consent
    from xerosync.store.feeds import FeedRecord, FeedStatus
    from xerosync.store.shared_cache import Cached
    from xerosync.xero.bank_feeds import FeedConnection, Statement
    from xerosync.xero.models import Account, Organisation, TokenSet, XeroConnection
    from xerosync.xero.tokens import StoredTokens


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
               same_link: bool = False, **changes: Any) -> FeedRecord: ...

    def save_for_connection(self, record: FeedRecord, connection_generation: str) -> FeedRecord | None: ...

    def change_for_connection(self, feed: FeedRecord, connection_generation: str, *,
                              only_if: frozenset[FeedStatus], same_link: bool = False,
                              **changes: Any) -> FeedRecord | None: ...


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



class OrganisationCache(Protocol):
    """An organisation's Xero bank accounts, cached for every Lambda and refreshed by one at a time
    (``store.shared_cache.TenantCache``)."""

    def get(self, tenant_id: str) -> Cached | None: ...

    def refreshed(self, tenant_id: str, fetch: Callable[[], str], *, unless_since: float) -> Cached | None: ...

    def forget(self, tenant_id: str) -> None: ...

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



class EndedGeneration(Protocol):
    generation: str
    tenant_id: str
    xero_connection_id: str

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


# The cleanup (``cleanup.XeroCleanup``): what it needs of Xero, the connections' claims, the feeds and its queue.
class CleanupSession(Protocol):
    def access_token(self, *, stale: str | None = None) -> str: ...

    def delete_feed_connections(self, feed_connection_ids: Sequence[str]) -> list[FeedConnection]: ...


class CleanupIdentity(Protocol):
    def connections(self, access_token: str, auth_event_id: str | None = None) -> list[XeroConnection]: ...

    def delete_connection(self, access_token: str, connection_id: str) -> bool: ...

    def revoke(self, refresh_token: str) -> None: ...


class CleanupVault(Protocol):
    def load(self, business_id: str, generation: str) -> StoredTokens | None: ...

    def wipe(self, business_id: str, generation: str) -> None: ...


class CleanupXero(Protocol):
    @property
    def identity(self) -> CleanupIdentity: ...

    @property
    def vault(self) -> CleanupVault: ...

    def session_for_generation(self, business_id: str, tenant_id: str, generation: str, *,
                               retired_ok: bool = False) -> CleanupSession: ...


class RemovalClaims(Protocol):
    def begin_removal(self, connection_id: str, now: float) -> str | None: ...

    def end_removal(self, connection_id: str, lease: str, *, removed: bool) -> None: ...


class BusinessFeeds(Protocol):
    def for_business(self, business_id: str) -> list[FeedRecord]: ...


class JobSender(Protocol):
    """The cleanup queue (``xerosync.connect.adapters.SqsCleanupQueue``)."""

    def send(self, job: CleanupJob) -> None: ...
