"""Seeded chances that do not depend on the order in which concurrent requests arrive.

A fault with a probability decides for each request from a hash of its seed, the request's identity (method,
path, tenant, Idempotency-Key or body) and how many times that identity was seen before: the same seed gives
the same request the same fate, whichever thread or invocation gets there first. ``random.Random`` would hand
out its draws in arrival order, which concurrency shuffles.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Hashable


def chance(seed: int, *identity: object) -> float:
    """A number in [0, 1), fixed by the seed and the identity."""
    digest = hashlib.sha256(repr((seed, identity)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Occurrences:
    """How many times each identity was seen (thread-safe): the n-th repeat of a request gets its own draw."""

    def __init__(self) -> None:
        self._seen: Counter[Hashable] = Counter()
        self._lock = threading.Lock()

    def next(self, identity: Hashable) -> int:
        with self._lock:
            count = self._seen[identity]
            self._seen[identity] = count + 1
            return count

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def draw(seed: int, occurrences: Occurrences, *identity: object) -> float:
    """The chance of this occurrence of ``identity``."""
    return chance(seed, *identity, occurrences.next(identity))
