"""In-memory fakes of the connect use cases' ports (``xerosync.connect.ports``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.unit.auto_sync.fakes import FakeFeeds
from xerosync.connect.cleanup import CleanupJob
from xerosync.store.connections import ConnectionStatus, StaleConnection, XeroConnectionRecord
from xerosync.store.feeds import FeedRecord, FeedStore
from xerosync.xero.bank_feeds import FeedConnection
from xerosync.xero.errors import XeroError
from xerosync.xero.models import TokenSet, XeroConnection
from xerosync.xero.tokens import StoredTokens


def connection(business_id: str = "biz_1", generation: str = "gen-1", **changes: Any) -> XeroConnectionRecord:
    return XeroConnectionRecord(**{
        "business_id": business_id, "tenant_id": "tenant-1", "generation": generation, "auth_event_id": "ev-1",
        "xero_connection_id": "xc-1", "organisation_name": "Harbour Books", "base_currency": "HKD",
        "connected_by": "u_fiona", "connected_at": "2026-11-20T00:00:00Z", "version": 1, **changes})


class ConnectionTable:
    def __init__(self, *records: XeroConnectionRecord) -> None:
        self.items = {r.business_id: r for r in records}
        self.before_write: list[Any] = []  # callables run just before the next conditional write (a racer)
        self.confirmations = 0

    def _race(self) -> None:
        while self.before_write:
            self.before_write.pop(0)()

    def get(self, business_id: str) -> XeroConnectionRecord | None:
        record = self.items.get(business_id)
        return record.model_copy(deep=True) if record else None

    def put(self, record: XeroConnectionRecord) -> XeroConnectionRecord:
        self._race()
        current = self.items.get(record.business_id)
        if (current.version if current else 0) != record.version:
            raise StaleConnection("changed")
        stored = record.model_copy(update={"version": record.version + 1})
        self.items[record.business_id] = stored
        return stored

    def set_status(self, business_id: str, status: ConnectionStatus, reason: str | None, at: str,
                   only_if: ConnectionStatus | None = None, generation: str | None = None) -> bool:
        self._race()
        current = self.items.get(business_id)
        if current is None or (only_if and current.status != only_if) or (generation and current.generation
                                                                           != generation):
            return False
        self.items[business_id] = current.model_copy(update={"status": status, "status_reason": reason,
                                                             "version": current.version + 1})
        return True

    def mark_generation_ended(self, business_id: str, generation: str) -> bool:
        current = self.items.get(business_id)
        if current is None or current.generation != generation or current.status != ConnectionStatus.DISCONNECTED:
            return False
        self.items[business_id] = current.model_copy(update={"generation_ended": True,
                                                             "version": current.version + 1})
        return True

    def claim_turn(self, business_id: str, generation: str, turn: str, now: float, interval_seconds: float) -> bool:
        current = self.items[business_id]
        last = getattr(current, turn)
        if current.generation != generation or current.status != ConnectionStatus.ACTIVE or (
                last is not None and last > now - interval_seconds):
            return False
        self.items[business_id] = current.model_copy(update={turn: int(now)})
        self.confirmations += turn == "confirmed_at"
        return True


class FeedTable(FakeFeeds):
    def for_business(self, business_id: str) -> list[FeedRecord]:
        return [r.model_copy(deep=True) for (b, _), r in sorted(self.items.items()) if b == business_id]

    def live_for_tenant(self, tenant_id: str) -> list[FeedRecord]:
        return [r.model_copy(deep=True) for r in self.items.values() if r.is_live and r.tenant_id == tenant_id]

    change = FeedStore.change  # the store's own read-change-save loop, over this fake's get and save
    _reapplied = FeedStore._reapplied


class SavedMeanwhile(FeedTable):
    """A feed table where another writer saves the feed between a use case's read and its save, once: an
    auto-sync moving its cursor, or an unlink and link again giving the account another feed connection."""

    def __init__(self, meanwhile: dict[str, object]) -> None:
        super().__init__()
        self.meanwhile: dict[str, object] | None = meanwhile

    def save(self, record: FeedRecord) -> FeedRecord:
        if self.meanwhile is not None:
            changes, self.meanwhile = self.meanwhile, None
            current = self.items[(record.business_id, record.account_id)]
            self.items[(record.business_id, record.account_id)] = current.model_copy(
                update={**changes, "version": current.version + 1})
        return super().save(record)


@dataclass
class Vault:
    """The token vault's items: (business, generation) -> state."""

    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def add(self, business_id: str, generation: str, refresh_token: str = "rt") -> None:
        tokens = TokenSet(access_token=f"at-{generation}", refresh_token=f"{refresh_token}-{generation}",
                          expires_at=2e9)
        self.items[(business_id, generation)] = {"tokens": tokens, "retired": False}

    def create(self, business_id: str, generation: str, tokens: TokenSet, *, expires_at: float | None) -> None:
        self.items[(business_id, generation)] = {"tokens": tokens, "retired": False, "ttl": expires_at}

    def keep(self, business_id: str, generation: str) -> bool:
        self.items[(business_id, generation)].pop("ttl", None)
        return True

    def retire(self, business_id: str, generation: str, *, now: float, keep_until: float) -> bool:
        item = self.items.get((business_id, generation))
        if item is None:
            return False
        item.update(retired=True, ttl=keep_until)
        return True

    def load(self, business_id: str, generation: str) -> StoredTokens | None:
        item = self.items.get((business_id, generation))
        if item is None:
            return None
        return StoredTokens(tokens=item["tokens"], version=1, lease_owner=None, lease_until=0, disabled_reason=None,
                            retired=item["retired"])

    def wipe(self, business_id: str, generation: str) -> None:
        self.items.pop((business_id, generation), None)


class Claims:
    def __init__(self) -> None:
        self.holders: dict[str, set[str]] = {}
        self.removing: set[str] = set()

    def hold(self, connection_id: str, who: str, now: float) -> None:
        self.holders.setdefault(connection_id, set()).add(who)

    def release(self, connection_id: str, who: str) -> None:
        self.holders.get(connection_id, set()).discard(who)

    def begin_removal(self, connection_id: str, now: float) -> str | None:
        if self.holders.get(connection_id) or connection_id in self.removing:
            return None
        self.removing.add(connection_id)
        return f"lease-{connection_id}"

    def end_removal(self, connection_id: str, lease: str, *, removed: bool) -> None:
        self.removing.discard(connection_id)
        if removed:
            self.holders.pop(connection_id, None)


class Jobs:
    """The cleaner: records the jobs it is handed, as done now (or queued, when ``queue`` is set)."""

    def __init__(self, queue: bool = False) -> None:
        self.jobs: list[CleanupJob] = []
        self.queue = queue

    def clean_or_queue(self, job: CleanupJob) -> bool:
        self.jobs.append(job)
        return not self.queue


class XeroSide:
    """Xero as a cleanup and the live status meet it: one Xero user's connections, feeds, revocations."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.identity = self
        self.connections_left: list[str] = []  # (tenant ids) what GET /connections lists
        self.deleted_connections: list[str] = []
        self.deleted_feeds: list[list[str]] = []
        self.revoked: list[str] = []
        self.lost: list[tuple[str, str, str]] = []
        self.fail_listing = False
        self.tokens_used: list[tuple[str, bool]] = []  # (generation, retired_ok) of each session made
        self.feed_states: dict[str, str] = {}  # feed connection id -> its status in Xero

    # identity
    def connections(self, access_token: str, auth_event_id: str | None = None) -> list[XeroConnection]:
        if self.fail_listing:
            raise XeroError("Xero failed", status=503)
        return [XeroConnection(id=f"xc-{t}", tenant_id=t, tenant_type="ORGANISATION") for t in self.connections_left]

    def delete_connection(self, access_token: str, connection_id: str) -> bool:
        self.deleted_connections.append(connection_id)
        return True

    def revoke(self, refresh_token: str) -> None:
        self.revoked.append(refresh_token)

    # sessions
    def session_for_generation(self, business_id: str, tenant_id: str, generation: str, *,
                               retired_ok: bool = False) -> XeroSide:
        self.tokens_used.append((generation, retired_ok))
        self._generation = generation
        return self

    def session(self, business_id: str, generation: str | None = None, *, purpose: str = "") -> XeroSide:
        self._generation = generation or ""
        return self

    def feed_connection(self, feed_connection_id: str) -> FeedConnection:
        return FeedConnection(id=feed_connection_id, status=self.feed_states.get(feed_connection_id, "ACTIVE"))

    def access_token(self, *, stale: str | None = None) -> str:
        return f"at-{self._generation}"

    def delete_feed_connections(self, feed_connection_ids: list[str]) -> list[FeedConnection]:
        self.deleted_feeds.append(list(feed_connection_ids))
        return [FeedConnection(id=i, status="PENDING") for i in feed_connection_ids]

    def connection_lost(self, business_id: str, generation: str, reason: str) -> None:
        self.lost.append((business_id, generation, reason))
