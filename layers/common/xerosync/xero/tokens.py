"""Xero tokens per connection generation: encrypted at rest, refreshed once at a time, never lost to a crash,
and never used for another generation (docs/architecture.md, "Connection generations").

Generations: every Xero consent a business completes starts a *generation* (a random id), and its tokens live
in an item of their own, ``tokens_key(business, generation)``. Work is bound to the generation it was made for,
so a warm Lambda of an ended connection, a late cleanup or a queued message can only ever reach that
generation's item: after a disconnect the item is *retired* (work refuses it; only its cleanup may use it), and
a new connection never reuses it. An item's ``version`` starts at 1 and only ever increases, by conditional
writes; each seal has its own ``seal_id``, which is what the in-memory cache is keyed by.

Storage (``TokenVault``): the token set is sealed with AES-256-GCM under a fresh data key from KMS
(``GenerateDataKey``, encryption context = business id and generation, so a ciphertext copied to another
item cannot be opened); the item holds the sealed bytes, the wrapped data key and the nonce, never a token in
clear. Tokens appear in no log, error body or the main table. Items that may be abandoned (the tokens of a
consent not finished yet, or of a retired generation waiting for its cleanup) carry a ``ttl``.

Refresh (``AccessTokens``): an access token lives 30 minutes and is refreshed 5 minutes ahead. Exactly one
Lambda refreshes a generation at a time: it takes a short lease on the item with a conditional write; the
others wait for the item's version to move and use what was stored. Xero rotates the refresh token on
every use, so a crash after Xero answered but before the new pair was stored would leave the stored token
"used"; Xero accepts a used refresh token again for 30 minutes as a retry of a lost answer, so the lease
simply expires (30 s) and the next caller repeats the refresh with the stored token. ``invalid_grant``
means the connection is gone: the generation's tokens are disabled, the business is marked NEEDS_RECONNECT
(if that generation is still its connection), and every later call fails at once with ``ReconnectRequired``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from xerosync.clock import Clock, process_clock
from xerosync.deadline import XERO_CALL_SECONDS
from xerosync.deadline import left as time_left
from xerosync.observability import logger, metrics
from xerosync.store.conditions import update_if
from xerosync.store.keys import tokens_key
from xerosync.xero.errors import GenerationChanged, ReconnectRequired, XeroInvalidGrant, XeroRateLimited
from xerosync.xero.models import TokenSet

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

REFRESH_AHEAD_SECONDS = 300
LEASE_SECONDS = 30
WAIT_FOR_OTHERS_SECONDS = 15
NOT_CONNECTED = "There is no Xero connection for this business."
GRANT_REFUSED = ("Xero no longer accepts this connection (it was revoked, disconnected in Xero, or unused for "
                 "60 days).")


class StoredTokens(NamedTuple):  # not a dataclass: its class builds 5x faster (docs/architecture.md)
    tokens: TokenSet | None  # None once disabled
    version: int
    lease_owner: str | None
    lease_until: float
    disabled_reason: str | None
    retired: bool



def _cipher(key: bytes) -> AESGCM:
    """AES-256-GCM under one data key. Its library (a native extension of some 6 MiB) loads with the first seal or
    opening, not with this module: the cold starts of requests that never touch tokens skip it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


class TokenVault:
    def __init__(self, table: Any, kms: Any, key_id: str) -> None:
        self.table = table
        self.kms = kms
        self.key_id = key_id
        # Per execution environment, one opened seal per generation: saves a KMS call. Keyed by the seal's own
        # id, so it can only ever serve the very tokens that were sealed under it.
        self._plain: dict[tuple[str, str], tuple[str, TokenSet]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _context(business_id: str, generation: str) -> dict[str, str]:
        return {"business_id": business_id, "generation": generation}

    def _seal(self, business_id: str, generation: str, tokens: TokenSet) -> dict[str, Any]:
        data_key = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256",
                                              EncryptionContext=self._context(business_id, generation))
        nonce = os.urandom(12)
        aad = f"{business_id}#{generation}".encode()
        sealed = _cipher(data_key["Plaintext"]).encrypt(nonce, tokens.model_dump_json().encode(), aad)
        return {"sealed": sealed, "wrapped_key": data_key["CiphertextBlob"], "nonce": nonce,
                "seal_id": uuid.uuid4().hex, "expires_at": int(tokens.expires_at)}

    def _open(self, business_id: str, generation: str, item: dict[str, Any]) -> TokenSet:
        seal_id = str(item["seal_id"])
        with self._lock:
            cached = self._plain.get((business_id, generation))
        if cached is not None and cached[0] == seal_id:
            return cached[1]
        key = self.kms.decrypt(CiphertextBlob=bytes(item["wrapped_key"]),
                               EncryptionContext=self._context(business_id, generation),
                               KeyId=self.key_id)["Plaintext"]
        plaintext = _cipher(key).decrypt(bytes(item["nonce"]), bytes(item["sealed"]),
                                        f"{business_id}#{generation}".encode())
        tokens = TokenSet.model_validate(json.loads(plaintext))
        with self._lock:
            self._plain[(business_id, generation)] = (seal_id, tokens)
        return tokens

    def _forget(self, business_id: str, generation: str) -> None:
        with self._lock:
            self._plain.pop((business_id, generation), None)

    def load(self, business_id: str, generation: str) -> StoredTokens | None:
        item = self.table.get_item(Key=tokens_key(business_id, generation), ConsistentRead=True).get("Item")
        if not item:
            return None
        return StoredTokens(
            tokens=self._open(business_id, generation, item) if "sealed" in item else None,
            version=int(item["version"]), lease_owner=item.get("lease_owner"),
            lease_until=int(item.get("lease_until", 0)) / 1000, disabled_reason=item.get("disabled_reason") or None,
            retired="retired_at" in item,
        )

    def create(self, business_id: str, generation: str, tokens: TokenSet, *, expires_at: float | None) -> None:
        """The first tokens of a generation (a consent's). ``expires_at``: the item is removed by the table's TTL
        after then unless ``keep`` is called (a consent that is never finished leaves nothing behind)."""
        item = {**tokens_key(business_id, generation), **self._seal(business_id, generation, tokens),
                "business_id": business_id, "generation": generation, "version": 1}
        if expires_at is not None:
            item["ttl"] = int(expires_at)
        self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")

    def save(self, business_id: str, generation: str, tokens: TokenSet, *, expected_version: int,
             lease_owner: str | None = None) -> int:
        """Store refreshed tokens if the item is still at ``expected_version`` and, with ``lease_owner``, still
        leased by it: a refresher whose lease was taken over must not overwrite the newer tokens. Everything
        else on the item (retired, ttl) stays as it is."""
        version = expected_version + 1
        sealed = self._seal(business_id, generation, tokens)
        condition = "version = :v"
        values: dict[str, Any] = {":v": expected_version, ":next": version,
                                  **{f":{name}": value for name, value in sealed.items()}}
        if lease_owner:
            condition += " AND lease_owner = :owner"
            values[":owner"] = lease_owner
        self.table.update_item(
            Key=tokens_key(business_id, generation),
            UpdateExpression="SET sealed = :sealed, wrapped_key = :wrapped_key, nonce = :nonce, seal_id = :seal_id, "
                             "expires_at = :expires_at, version = :next REMOVE lease_owner, lease_until",
            ConditionExpression=condition, ExpressionAttributeValues=values)
        return version

    def _update_existing(self, business_id: str, generation: str, expression: str,
                         values: dict[str, Any] | None = None, condition: str = "") -> bool:
        """One update of an item that must exist (never creates one); False when the condition failed."""
        kwargs: dict[str, Any] = {
            "Key": tokens_key(business_id, generation), "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)" + (f" AND {condition}" if condition else "")}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if "#ttl" in expression:
            kwargs["ExpressionAttributeNames"] = {"#ttl": "ttl"}
        return update_if(self.table, **kwargs)

    def try_lease(self, business_id: str, generation: str, version: int, owner: str, now: float,
                  seconds: float) -> bool:
        return self._update_existing(
            business_id, generation, "SET lease_owner = :owner, lease_until = :until",
            {":owner": owner, ":until": int((now + seconds) * 1000), ":v": version, ":now": int(now * 1000)},
            "version = :v AND (attribute_not_exists(lease_until) OR lease_until < :now)")

    def release_lease(self, business_id: str, generation: str, owner: str) -> None:
        self._update_existing(business_id, generation, "REMOVE lease_owner, lease_until", {":owner": owner},
                              "lease_owner = :owner")

    def disable(self, business_id: str, generation: str, reason: str) -> None:
        """Stop every call with this generation (the tokens are dropped too); nothing if it is gone already."""
        self._update_existing(business_id, generation,
                              "SET disabled_reason = :r ADD version :one REMOVE sealed, wrapped_key, nonce, seal_id",
                              {":r": reason, ":one": 1})
        self._forget(business_id, generation)

    def retire(self, business_id: str, generation: str, *, now: float, keep_until: float) -> bool:
        """The generation's connection ended: work may no longer use its tokens, only its cleanup, and the item
        goes by itself at ``keep_until`` even if the cleanup never finishes."""
        retired = self._update_existing(business_id, generation, "SET retired_at = :now, #ttl = :until",
                                        {":now": int(now), ":until": int(keep_until)})
        self._forget(business_id, generation)
        return retired

    def keep(self, business_id: str, generation: str) -> bool:
        """The consent became the business's connection: its tokens stay until it ends."""
        return self._update_existing(business_id, generation, "REMOVE #ttl")

    def wipe(self, business_id: str, generation: str) -> None:
        self.table.delete_item(Key=tokens_key(business_id, generation))
        self._forget(business_id, generation)


class Refresher(Protocol):
    def refresh(self, refresh_token: str) -> TokenSet: ...


class AccessTokens:
    """Hands out a valid access token of one generation, refreshing it at most once at a time."""

    def __init__(self, vault: TokenVault, refresher: Refresher,
                 on_reconnect_required: Callable[[str, str, str], None], clock: Clock | None = None) -> None:
        self.vault = vault
        self.refresher = refresher
        self.on_reconnect_required = on_reconnect_required  # (business, generation, reason)
        self.clock = clock or process_clock()
        self.refreshes = 0  # refreshes this process performed (tests and benchmarks read it)

    def access_token(self, business_id: str, generation: str, *, stale: str | None = None,
                     retired_ok: bool = False) -> str:
        """A token valid for at least the refresh margin; ``stale``: one Xero refused, refresh past it.
        ``retired_ok``: the caller is the generation's own cleanup, which may use it after the connection ended."""
        # An HTTP request waits for another Lambda's refresh only while it can still use the token for its call.
        waits = float(WAIT_FOR_OTHERS_SECONDS)
        request_left = time_left()
        if request_left is not None:
            waits = min(waits, request_left - XERO_CALL_SECONDS)
        deadline = self.clock.time() + waits
        seen_version: int | None = None
        while True:
            stored = self.vault.load(business_id, generation)
            if stored is None:
                raise ReconnectRequired(NOT_CONNECTED, reason=NOT_CONNECTED)
            if stored.retired and not retired_ok:
                metrics.add_metric(name="StaleGenerationRefused", unit="Count", value=1)
                raise GenerationChanged("The Xero connection this work was made for has ended.",
                                        generation=generation)
            if stored.tokens is None:
                reason = stored.disabled_reason or NOT_CONNECTED
                if stored.disabled_reason:
                    # Disabled by ``connection_lost``, whose invocation may have died before it marked the
                    # connection: mark it again (only an ACTIVE connection of this generation changes), or the
                    # page would show nothing to do while no call can succeed (docs/soak.md, "Findings").
                    self.on_reconnect_required(business_id, generation, reason)
                raise ReconnectRequired(reason, reason=reason)
            now = self.clock.time()
            fresh = stored.tokens.expires_at - now > REFRESH_AHEAD_SECONDS
            if fresh and stored.tokens.access_token != stale:
                return stored.tokens.access_token
            if seen_version is not None and stored.version != seen_version and stored.tokens.access_token != stale:
                return stored.tokens.access_token  # another Lambda refreshed while we waited
            seen_version = stored.version
            owner = uuid.uuid4().hex
            if self.vault.try_lease(business_id, generation, stored.version, owner, now, LEASE_SECONDS):
                return self._refresh(business_id, generation, stored.tokens, stored.version, owner)
            if self.clock.time() > deadline:
                # The holder is slow or gone; its lease expires in LEASE_SECONDS and a retry will take over.
                raise XeroRateLimited("Another process is refreshing this connection's Xero token",
                                      retry_after=LEASE_SECONDS, problem="token-refresh")
            self.clock.sleep(0.1)

    def connection_lost(self, business_id: str, generation: str, reason: str) -> None:
        """Xero no longer accepts this generation: no call uses it again, and the user is told to reconnect."""
        self.vault.disable(business_id, generation, reason)
        self.on_reconnect_required(business_id, generation, reason)

    def _refresh(self, business_id: str, generation: str, tokens: TokenSet, version: int, owner: str) -> str:
        try:
            fresh = self.refresher.refresh(tokens.refresh_token)
        except XeroInvalidGrant as error:
            logger.warning("refresh refused by Xero: connection needs reconnecting",
                           extra={"business_id": business_id, "generation": generation,
                                  "xero_correlation_id": error.correlation_id})
            self.connection_lost(business_id, generation, GRANT_REFUSED)
            raise ReconnectRequired(GRANT_REFUSED, reason=GRANT_REFUSED, status=error.status,
                                    correlation_id=error.correlation_id) from None
        except Exception:
            self.vault.release_lease(business_id, generation, owner)
            raise
        self.refreshes += 1
        self.vault.save(business_id, generation, fresh, expected_version=version, lease_owner=owner)
        return fresh.access_token
