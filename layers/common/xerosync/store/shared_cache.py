"""What the product reads from Xero for a whole organisation (its reference data, its bank accounts), cached in
the main table for every Lambda, and refreshed by one Lambda at a time: N concurrent refreshes are one Xero
read, the others wait a moment for its result (docs/architecture.md, "Talking to Xero").

One item per organisation and kind: ``data`` (a JSON document, read and written whole), ``refreshed_at`` (epoch
milliseconds), and while a refresh runs ``claim_until``/``claim_owner``. A refresh is claimed with a conditional
write that succeeds only if nobody is refreshing and the value is older than the caller needs; whoever loses
waits for the winner's value, and uses the stale one (or none) if the winner is slow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from xerosync.clock import Clock
from xerosync.deadline import left as time_left
from xerosync.store.conditions import update_if

CLAIM_SECONDS = 30.0  # longer than a refresh's Xero calls take; a crashed refresher's claim lapses after it
WAIT_SECONDS = 6.0  # how long a request waits for another Lambda's refresh before using what it has
POLL_SECONDS = 0.1
REST_OF_REQUEST_SECONDS = 3.0  # an HTTP request stops waiting with this much of its time left (xerosync.deadline)


class Cached(NamedTuple):  # not a frozen dataclass: its class builds 7x faster (docs/architecture.md)
    data: str
    refreshed_at: float  # epoch seconds


class SharedCache:
    def __init__(self, table: Any, clock: Clock, *, wait_seconds: float = WAIT_SECONDS) -> None:
        self.table = table
        self.clock = clock
        self.wait_seconds = wait_seconds

    def get(self, key: dict[str, str]) -> Cached | None:
        item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        if not item or "data" not in item:
            return None
        return Cached(data=str(item["data"]), refreshed_at=int(item.get("refreshed_at", 0)) / 1000)

    def put(self, key: dict[str, str], data: str, refreshed_at: float) -> None:
        self.table.put_item(Item={**key, "data": data, "refreshed_at": int(refreshed_at * 1000)})

    def forget(self, key: dict[str, str]) -> None:
        """The cached value is known to be out of date (something was created in Xero): the next read refreshes."""
        self.table.update_item(Key=key, UpdateExpression="SET refreshed_at = :zero",
                               ExpressionAttributeValues={":zero": 0})

    def refreshed(self, key: dict[str, str], fetch: Callable[[], str], *, unless_since: float) -> Cached | None:
        """The value refreshed at or after ``unless_since``: fetched here (once, whoever else asks meanwhile) or
        by another Lambda. When another refresh is slow, the value as it is (or None)."""
        now = self.clock.time()
        owner = uuid.uuid4().hex
        if self._claim(key, owner, now, unless_since):
            try:
                data = fetch()
            except BaseException:
                self._release(key, owner)
                raise
            self.put(key, data, now)  # replaces the item: the claim goes with it
            return Cached(data=data, refreshed_at=now)
        deadline = now + self.wait_seconds
        request_left = time_left()
        if request_left is not None:  # an HTTP request waits only while it has time for the rest of its work
            deadline = min(deadline, now + request_left - REST_OF_REQUEST_SECONDS)
        while True:
            current = self.get(key)
            if (current is not None and current.refreshed_at >= unless_since) or self.clock.time() >= deadline:
                return current
            self.clock.sleep(POLL_SECONDS)

    def _claim(self, key: dict[str, str], owner: str, now: float, unless_since: float) -> bool:
        return update_if(
            self.table, Key=key, UpdateExpression="SET claim_until = :until, claim_owner = :owner",
            ConditionExpression="(attribute_not_exists(claim_until) OR claim_until < :now) AND "
                                "(attribute_not_exists(refreshed_at) OR refreshed_at < :since)",
            ExpressionAttributeValues={":until": int((now + CLAIM_SECONDS) * 1000), ":owner": owner,
                                       ":now": int(now * 1000), ":since": int(unless_since * 1000)})

    def _release(self, key: dict[str, str], owner: str) -> None:
        # Not ours any more (it lapsed and another took it): nothing to release.
        update_if(self.table, Key=key, UpdateExpression="REMOVE claim_until, claim_owner",
                  ConditionExpression="claim_owner = :owner", ExpressionAttributeValues={":owner": owner})


class TenantCache:
    """One kind of value per organisation in the shared cache, keyed by tenant (``key``: the item's key of a
    tenant's value, from ``store/keys.py``), so that its users never handle a table key."""

    def __init__(self, cache: SharedCache, key: Callable[[str], dict[str, str]]) -> None:
        self.cache = cache
        self.key = key

    def get(self, tenant_id: str) -> Cached | None:
        return self.cache.get(self.key(tenant_id))

    def refreshed(self, tenant_id: str, fetch: Callable[[], str], *, unless_since: float) -> Cached | None:
        return self.cache.refreshed(self.key(tenant_id), fetch, unless_since=unless_since)

    def forget(self, tenant_id: str) -> None:
        self.cache.forget(self.key(tenant_id))
