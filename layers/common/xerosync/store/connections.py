"""The business's Xero connection in the main table.

One item per business (``BIZ#<id>`` / ``CONNECTION``), indexed by tenant on ``gsi1`` so that everything
connected to one organisation can be found (several businesses may feed one Xero organisation).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from xerosync.store.keys import business_pk, connection_key, tenant_pk


class ConnectionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    NEEDS_RECONNECT = "NEEDS_RECONNECT"
    DISCONNECTED = "DISCONNECTED"


class XeroConnectionRecord(BaseModel):
    business_id: str
    tenant_id: str
    xero_connection_id: str
    organisation_name: str
    organisation_id: str | None = None
    base_currency: str
    country_code: str | None = None
    edition: str | None = None
    short_code: str | None = None
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    status_reason: str | None = None
    connected_by: str
    connected_at: str
    status_changed_at: str | None = None
    last_sync_at: str | None = None
    version: int = 0


class ConnectionStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, business_id: str) -> XeroConnectionRecord | None:
        item = self.table.get_item(Key=connection_key(business_id), ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def put(self, record: XeroConnectionRecord) -> XeroConnectionRecord:
        """Create or replace the business's connection (a reconnect replaces the previous one)."""
        stored = record.model_copy(update={"version": record.version + 1})
        item = {**connection_key(record.business_id), **stored.model_dump(mode="json", exclude_none=True),
                "gsi1pk": tenant_pk(record.tenant_id), "gsi1sk": business_pk(record.business_id)}
        self.table.put_item(Item=item)
        return stored

    def set_status(self, business_id: str, status: ConnectionStatus, reason: str | None, at: str,
                   only_if: ConnectionStatus | None = None) -> bool:
        """Change the status; with ``only_if`` the change happens only from that status. False if nothing."""
        condition = "attribute_exists(pk)" + (" AND #status = :only_if" if only_if else "")
        values: dict[str, Any] = {":status": status.value, ":reason": reason or "", ":at": at, ":one": 1}
        if only_if:
            values[":only_if"] = only_if.value
        try:
            self.table.update_item(
                Key=connection_key(business_id),
                UpdateExpression="SET #status = :status, status_reason = :reason, status_changed_at = :at "
                                 "ADD version :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def by_tenant(self, tenant_id: str) -> list[XeroConnectionRecord]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :t",
                                  "ExpressionAttributeValues": {":t": tenant_pk(tenant_id)}}
        while True:
            page = self.table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return [_record(i) for i in items if i.get("sk") == "CONNECTION"]
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _record(item: dict[str, Any]) -> XeroConnectionRecord:
    return XeroConnectionRecord.model_validate({k: v for k, v in item.items()
                                                if k not in ("pk", "sk", "gsi1pk", "gsi1sk")})
