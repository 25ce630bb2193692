"""The rate governor's state in the main table: one item per tenant, one counter per app minute."""

from __future__ import annotations

from typing import Any

from xerosync.store.conditions import put_if, update_if
from xerosync.store.keys import app_minute_key, governor_key
from xerosync.xero.governor import TenantState

_TTL_SECONDS = 2 * 24 * 3600


class DynamoGovernorStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def load(self, tenant_id: str) -> tuple[TenantState, int]:
        item = self.table.get_item(Key=governor_key(tenant_id), ConsistentRead=True).get("Item")
        if not item:
            return TenantState(), 0
        return TenantState.from_item(item), int(item.get("version", 0))

    def save(self, tenant_id: str, state: TenantState, expected_version: int) -> bool:
        item = {**governor_key(tenant_id), **state.to_item(), "version": expected_version + 1}
        condition = "attribute_not_exists(pk) OR version = :v" if expected_version == 0 else "version = :v"
        return put_if(self.table, Item=item, ConditionExpression=condition,
                      ExpressionAttributeValues={":v": expected_version})

    def count_app_call(self, minute: int, limit: int) -> bool:
        return update_if(
            self.table,
            Key=app_minute_key(minute),
            UpdateExpression="ADD calls :one SET #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression="attribute_not_exists(calls) OR calls < :limit",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":one": 1, ":limit": limit, ":ttl": minute * 60 + _TTL_SECONDS},
        )
