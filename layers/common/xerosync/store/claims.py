"""Who holds each Xero connection, so that removing one never cuts a connection someone still uses.

Xero gives one connection per Xero user and organisation: when the same person connects two businesses of
the bank to one organisation, or connects again after a disconnect, the consent reuses the connection. So a
connection is *held* by every ``business#generation`` that uses it (a connected business, or a consent waiting
for its user), and it is removed in Xero only by whoever finds it held by nobody, under a short removal
lease that a new holder waits out:

- ``hold`` (a consent, a connection) succeeds unless a removal is under way right now;
- ``begin_removal`` succeeds only while nobody holds it and no other removal runs; the remover then deletes
  the connection in Xero and ``end_removal`` forgets it (or, if Xero failed, gives the lease back).

One item per connection in the main table (``XEROCONN#<id>``); ``holders`` is a string set, which DynamoDB
drops when its last member goes, so "held by nobody" is "no holders attribute". The connect feature uses it
through its ``ConnectionClaims`` and ``RemovalClaims`` ports (docs/architecture.md, Connect).
"""

from __future__ import annotations

import uuid
from typing import Any

from xerosync.store.conditions import delete_if, update_if
from xerosync.store.keys import xero_connection_claim_key

# A removal is one DELETE /connections call (the transport's timeout is well below this).
REMOVAL_LEASE_SECONDS = 60


class ConnectionBeingRemoved(Exception):
    """A cleanup is removing this Xero connection right now."""


def holder(business_id: str, generation: str) -> str:
    return f"{business_id}#{generation}"


class XeroConnectionClaims:
    def __init__(self, table: Any) -> None:
        self.table = table

    def hold(self, connection_id: str, who: str, now: float) -> None:
        if not update_if(self.table, Key=xero_connection_claim_key(connection_id), UpdateExpression="ADD holders :who",
                         ConditionExpression="attribute_not_exists(removing_until) OR removing_until < :now",
                         ExpressionAttributeValues={":who": {who}, ":now": int(now * 1000)}):
            raise ConnectionBeingRemoved(connection_id)

    def release(self, connection_id: str, who: str) -> None:
        update_if(self.table, Key=xero_connection_claim_key(connection_id), UpdateExpression="DELETE holders :who",
                  ConditionExpression="attribute_exists(pk)", ExpressionAttributeValues={":who": {who}})

    def holders(self, connection_id: str) -> set[str]:
        item = self.table.get_item(Key=xero_connection_claim_key(connection_id), ConsistentRead=True).get("Item")
        return set((item or {}).get("holders") or set())

    def begin_removal(self, connection_id: str, now: float) -> str | None:
        """The right to remove the connection in Xero now, or None when someone holds it (or removes it)."""
        lease = uuid.uuid4().hex
        taken = update_if(
            self.table, Key=xero_connection_claim_key(connection_id),
            UpdateExpression="SET removing_until = :until, removal = :lease",
            ConditionExpression="attribute_not_exists(holders) AND "
                                "(attribute_not_exists(removing_until) OR removing_until < :now)",
            ExpressionAttributeValues={":until": int((now + REMOVAL_LEASE_SECONDS) * 1000), ":lease": lease,
                                       ":now": int(now * 1000)})
        return lease if taken else None

    def end_removal(self, connection_id: str, lease: str, *, removed: bool) -> None:
        key = xero_connection_claim_key(connection_id)
        if removed:
            delete_if(self.table, Key=key, ConditionExpression="removal = :lease",
                      ExpressionAttributeValues={":lease": lease})
        else:
            update_if(self.table, Key=key, UpdateExpression="REMOVE removing_until, removal",
                      ConditionExpression="removal = :lease", ExpressionAttributeValues={":lease": lease})
