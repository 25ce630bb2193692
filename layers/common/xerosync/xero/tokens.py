"""Xero tokens per business: encrypted at rest, refreshed once at a time, never lost to a crash.

Storage (``TokenVault``): the tokens table, one item per business. The token set is sealed with AES-256-GCM
under a fresh data key from KMS (``GenerateDataKey``, encryption context = the business id, so a ciphertext
copied to another business's item cannot be opened); the item holds the sealed bytes, the wrapped data key
and the nonce, never a token in clear. Tokens appear in no log, error body or the main table.

Refresh (``AccessTokens``): an access token lives 30 minutes and is refreshed 5 minutes ahead. Exactly one
Lambda refreshes a connection at a time: it takes a short lease on the item with a conditional write; the
others wait for the item's version to move and use what was stored. Xero rotates the refresh token on
every use, so a crash after Xero answered but before the new pair was stored would leave the stored token
"used"; Xero accepts a used refresh token again for 30 minutes as a retry of a lost answer, so the lease
simply expires (30 s) and the next caller repeats the refresh with the stored token. ``invalid_grant``
means the connection is gone: the business is marked NEEDS_RECONNECT, its tokens are disabled, and every
later call fails at once with ``ReconnectRequired`` until the user connects again.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from xerosync.clock import Clock, SystemClock
from xerosync.observability import logger
from xerosync.store.keys import tokens_key
from xerosync.xero.errors import ReconnectRequired, XeroInvalidGrant, XeroRateLimited
from xerosync.xero.models import TokenSet

REFRESH_AHEAD_SECONDS = 300
LEASE_SECONDS = 30
WAIT_FOR_OTHERS_SECONDS = 15


@dataclass
class StoredTokens:
    tokens: TokenSet
    version: int
    lease_owner: str | None
    lease_until: float
    disabled_reason: str | None


class TokenVault:
    def __init__(self, table: Any, kms: Any, key_id: str) -> None:
        self.table = table
        self.kms = kms
        self.key_id = key_id
        self._plain: dict[tuple[str, int], TokenSet] = {}  # per execution environment: saves a KMS call
        self._lock = threading.Lock()

    def _context(self, business_id: str) -> dict[str, str]:
        return {"business_id": business_id}

    def seal(self, business_id: str, tokens: TokenSet) -> dict[str, Any]:
        data_key = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256",
                                              EncryptionContext=self._context(business_id))
        nonce = os.urandom(12)
        plaintext = tokens.model_dump_json().encode()
        sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext, business_id.encode())
        return {"sealed": sealed, "wrapped_key": data_key["CiphertextBlob"], "nonce": nonce}

    def _open(self, business_id: str, item: dict[str, Any]) -> TokenSet:
        version = int(item["version"])
        with self._lock:
            cached = self._plain.get((business_id, version))
        if cached is not None:
            return cached
        key = self.kms.decrypt(CiphertextBlob=bytes(item["wrapped_key"]),
                               EncryptionContext=self._context(business_id), KeyId=self.key_id)["Plaintext"]
        plaintext = AESGCM(key).decrypt(bytes(item["nonce"]), bytes(item["sealed"]), business_id.encode())
        tokens = TokenSet.model_validate(json.loads(plaintext))
        with self._lock:
            self._plain = {k: v for k, v in self._plain.items() if k[0] != business_id}
            self._plain[(business_id, version)] = tokens
        return tokens

    def load(self, business_id: str) -> StoredTokens | None:
        item = self.table.get_item(Key=tokens_key(business_id), ConsistentRead=True).get("Item")
        if not item or "sealed" not in item:
            return None
        return StoredTokens(
            tokens=self._open(business_id, item), version=int(item["version"]),
            lease_owner=item.get("lease_owner"), lease_until=int(item.get("lease_until", 0)) / 1000,
            disabled_reason=item.get("disabled_reason") or None,
        )

    def save(self, business_id: str, tokens: TokenSet, *, expected_version: int | None, lease_owner: str | None = None
             ) -> int:
        """Store a new token set. ``expected_version`` None: a fresh connection (replaces anything).

        With a version, the write succeeds only if the item is still at that version and, when
        ``lease_owner`` is given, still leased by it: a refresher whose lease was taken over must not
        overwrite the newer tokens.
        """
        version = (expected_version or 0) + 1
        item = {**tokens_key(business_id), **self.seal(business_id, tokens), "version": version,
                "expires_at": int(tokens.expires_at)}
        kwargs: dict[str, Any] = {"Item": item}
        if expected_version is not None:
            condition = "version = :v"
            values: dict[str, Any] = {":v": expected_version}
            if lease_owner:
                condition += " AND lease_owner = :owner"
                values[":owner"] = lease_owner
            kwargs.update(ConditionExpression=condition, ExpressionAttributeValues=values)
        self.table.put_item(**kwargs)
        return version

    def try_lease(self, business_id: str, version: int, owner: str, now: float, seconds: float) -> bool:
        try:
            self.table.update_item(
                Key=tokens_key(business_id),
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression="version = :v AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                ExpressionAttributeValues={":owner": owner, ":until": int((now + seconds) * 1000),
                                           ":v": version, ":now": int(now * 1000)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lease(self, business_id: str, owner: str) -> None:
        try:
            self.table.update_item(Key=tokens_key(business_id), UpdateExpression="REMOVE lease_owner, lease_until",
                                   ConditionExpression="lease_owner = :owner",
                                   ExpressionAttributeValues={":owner": owner})
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def disable(self, business_id: str, reason: str) -> None:
        """Stop every call for this business until it reconnects (the tokens are dropped too)."""
        self.table.update_item(
            Key=tokens_key(business_id),
            UpdateExpression="SET disabled_reason = :r ADD version :one REMOVE sealed, wrapped_key, nonce",
            ExpressionAttributeValues={":r": reason, ":one": 1},
        )

    def disabled_reason(self, business_id: str) -> str | None:
        item = self.table.get_item(Key=tokens_key(business_id), ConsistentRead=True).get("Item")
        return (item or {}).get("disabled_reason") or None

    def wipe(self, business_id: str) -> None:
        self.table.delete_item(Key=tokens_key(business_id))
        with self._lock:
            self._plain = {k: v for k, v in self._plain.items() if k[0] != business_id}


class Refresher(Protocol):
    def refresh(self, refresh_token: str) -> TokenSet: ...


class AccessTokens:
    """Hands out a valid access token for a business, refreshing it at most once at a time."""

    def __init__(self, vault: TokenVault, refresher: Refresher,
                 on_reconnect_required: Callable[[str, str], None], clock: Clock | None = None) -> None:
        self.vault = vault
        self.refresher = refresher
        self.on_reconnect_required = on_reconnect_required
        self.clock = clock or SystemClock()
        self.refreshes = 0  # refreshes this process performed (tests and benchmarks read it)

    def access_token(self, business_id: str, *, stale: str | None = None) -> str:
        """A token valid for at least the refresh margin; ``stale``: one Xero refused, refresh past it."""
        deadline = self.clock.time() + WAIT_FOR_OTHERS_SECONDS
        seen_version: int | None = None
        while True:
            stored = self.vault.load(business_id)
            if stored is None:
                reason = self.vault.disabled_reason(business_id) or "There is no Xero connection for this business."
                raise ReconnectRequired(reason, reason=reason)
            if stored.disabled_reason:
                raise ReconnectRequired(stored.disabled_reason, reason=stored.disabled_reason)
            now = self.clock.time()
            fresh = stored.tokens.expires_at - now > REFRESH_AHEAD_SECONDS
            if fresh and stored.tokens.access_token != stale:
                return stored.tokens.access_token
            if seen_version is not None and stored.version != seen_version and stored.tokens.access_token != stale:
                return stored.tokens.access_token  # another Lambda refreshed while we waited
            seen_version = stored.version
            owner = uuid.uuid4().hex
            if self.vault.try_lease(business_id, stored.version, owner, now, LEASE_SECONDS):
                return self._refresh(business_id, stored, owner)
            if self.clock.time() > deadline:
                # The holder is slow or gone; its lease expires in LEASE_SECONDS and a retry will take over.
                raise XeroRateLimited("Another process is refreshing this connection's Xero token",
                                      retry_after=LEASE_SECONDS, problem="token-refresh")
            self.clock.sleep(0.1)

    def _refresh(self, business_id: str, stored: StoredTokens, owner: str) -> str:
        try:
            tokens = self.refresher.refresh(stored.tokens.refresh_token)
        except XeroInvalidGrant as error:
            reason = ("Xero no longer accepts this connection (it was revoked, disconnected in Xero, or unused "
                      "for 60 days).")
            logger.warning("refresh refused by Xero: connection needs reconnecting",
                           extra={"business_id": business_id, "xero_correlation_id": error.correlation_id})
            self.vault.disable(business_id, reason)
            self.on_reconnect_required(business_id, reason)
            raise ReconnectRequired(reason, reason=reason, status=error.status,
                                    correlation_id=error.correlation_id) from None
        except Exception:
            self.vault.release_lease(business_id, owner)
            raise
        self.refreshes += 1
        self.vault.save(business_id, tokens, expected_version=stored.version, lease_owner=owner)
        return tokens.access_token
