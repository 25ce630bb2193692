"""``Idempotency-Key`` on PUT/POST/PATCH, as Xero's idempotency guide describes it
(quoted in XeroAPI/xero-prompt-library ``python/SKILL.md``):

* the first response to a key is kept for the retention window (6 minutes) and returned again for a
  repeat of the same request, without a second write;
* the same key with a different request (method, URL or body) is refused with 400
  "... is used with a different request";
* error responses are kept too, so a keyed request that failed keeps failing until a new key is used;
* keys are not case-sensitive (``ABC`` and ``abc`` are one key).

Keys are scoped per app and tenant (Xero does not say; a key is the client's, and tenants are separate
books). Replays still count against the rate limits ([2ndary]).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]


@dataclass
class _Entry:
    fingerprint: str
    created_at: float
    response: StoredResponse


@dataclass(frozen=True)
class IdempotencyOutcome:
    replay: StoredResponse | None = None
    conflict: bool = False


def request_fingerprint(method: str, path: str, query: list[tuple[str, str]], body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\0" + path.lower().encode())
    for name, value in sorted((n.lower(), v) for n, v in query):
        digest.update(b"\0" + name.encode() + b"=" + value.encode())
    digest.update(b"\0" + body)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], _Entry] = {}

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def check(
        self, scope: tuple[str, str], key: str, fingerprint: str, now: float, window: float
    ) -> IdempotencyOutcome:
        key = key.casefold()
        with self._lock:
            entry = self._entries.get((*scope, key))
            if entry is None or now - entry.created_at >= window:
                self._entries.pop((*scope, key), None)
                return IdempotencyOutcome()
            if entry.fingerprint != fingerprint:
                return IdempotencyOutcome(conflict=True)
            return IdempotencyOutcome(replay=entry.response)

    def remember(
        self, scope: tuple[str, str], key: str, fingerprint: str, now: float, response: StoredResponse
    ) -> None:
        with self._lock:
            self._entries[(*scope, key.casefold())] = _Entry(fingerprint, now, response)
