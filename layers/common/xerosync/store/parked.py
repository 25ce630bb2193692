"""Work that must wait longer than SQS can hold a message (Xero's daily limit): kept in the main table
until it may resume, then sent back to its queue by the parked-work schedule."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from xerosync.store.keys import PARKED_PK, parked_key

# Kept well past any wait Xero's rolling day can impose, so nothing parked expires before it resumes.
_KEEP_SECONDS = 14 * 24 * 3600


class ParkedWorkStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def park(self, *, queue_url: str, body: str, group_id: str | None, message_id: str, resume_at: float,
             reason: str) -> None:
        resume_ms = int(resume_at * 1000)
        item = {**parked_key(resume_ms, message_id), "queue_url": queue_url, "body": body, "message_id": message_id,
                "reason": reason, "resume_at_ms": resume_ms, "ttl": int(resume_at) + _KEEP_SECONDS}
        if group_id:
            item["group_id"] = group_id
        self.table.put_item(Item=item)

    def due(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        response = self.table.query(
            KeyConditionExpression=Key("pk").eq(PARKED_PK) & Key("sk").lte(f"{int(now * 1000):015d}#~"),
            Limit=limit, ConsistentRead=True)
        return list(response.get("Items", []))

    def remove(self, item: dict[str, Any]) -> None:
        self.table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
