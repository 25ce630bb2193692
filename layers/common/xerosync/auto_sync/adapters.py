"""The AWS pieces auto-sync is handed: its two queues, the sync-now limiter, the fast lane's view of the rate
governor, and the sender that returns parked work to its queue. Clients come in built
(``xerosync.aws``), so tests pass moto-backed ones and this module imports no SDK itself."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from xerosync.observability import logger
from xerosync.store.conditions import delete_if, update_if
from xerosync.store.keys import app_minute_key, governor_key, sync_now_key

if TYPE_CHECKING:
    from xerosync.auto_sync.messages import DispatchContinuation, FeedSyncRequest
    from xerosync.xero.governor import TenantState

SQS_BATCH = 10  # SendMessageBatch's maximum
_SEND_ATTEMPTS = 3


class QueueSendFailed(RuntimeError):
    """SQS refused some messages after retries; the caller fails and its trigger retries it."""


class SqsFeedSyncQueue:
    """FeedSyncQueue (FIFO): group = Xero tenant, deduplication id = the request's own."""

    def __init__(self, sqs: Any, queue_url: str, *, concurrency: int = 8) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.concurrency = concurrency

    def send(self, requests: Sequence[FeedSyncRequest]) -> int:
        batches = [list(requests[i:i + SQS_BATCH]) for i in range(0, len(requests), SQS_BATCH)]
        if len(batches) <= 1 or self.concurrency <= 1:
            return sum(self._send_batch(batch) for batch in batches)
        # boto3 clients are thread-safe; a fan-out of 100,000 feeds is thousands of calls.
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return sum(pool.map(self._send_batch, batches))

    def _send_batch(self, batch: list[FeedSyncRequest]) -> int:
        entries = {str(i): {"Id": str(i), "MessageBody": request.model_dump_json(),
                            "MessageGroupId": request.group_id,
                            "MessageDeduplicationId": request.deduplication_id}
                   for i, request in enumerate(batch)}
        for calls in range(1, _SEND_ATTEMPTS + 1):
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=list(entries.values()))
            failed = response.get("Failed") or []
            if not failed:
                return calls
            logger.warning("feed-sync messages refused, retrying", extra={
                "failed": len(failed), "codes": sorted({f.get("Code", "") for f in failed})})
            entries = {f["Id"]: entries[f["Id"]] for f in failed}
        raise QueueSendFailed(f"{len(entries)} feed-sync messages could not be queued")


class SqsDispatchQueue:
    """DispatchQueue (standard): the dispatcher's continuations."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def continue_from(self, continuation: DispatchContinuation) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=continuation.model_dump_json())


class SqsMessageSender:
    """Sends one message to the queue it names (parked work going back to where it came from); a FIFO queue's
    message carries its group and deduplication id."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def send(self, queue_url: str, body: str, *, group_id: str | None = None,
             deduplication_id: str | None = None) -> None:
        message: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
        if group_id is not None:
            message["MessageGroupId"] = group_id
        if deduplication_id is not None:
            message["MessageDeduplicationId"] = deduplication_id
        self.sqs.send_message(**message)


class SyncNowLimiter:
    """At most one sync now per business per interval: one conditional write on the business's item."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def claim(self, business_id: str, now: float, interval_seconds: int) -> float:
        """Take the business's turn; returns 0 when taken, else the seconds until the next turn."""
        if update_if(self.table,
                     Key=sync_now_key(business_id),
                     UpdateExpression="SET requested_at = :now, #ttl = :expires",
                     ConditionExpression="attribute_not_exists(requested_at) OR requested_at <= :earliest",
                     ExpressionAttributeNames={"#ttl": "ttl"},
                     ExpressionAttributeValues={":now": _whole(now), ":earliest": _whole(now - interval_seconds),
                                                ":expires": _whole(now) + interval_seconds + 86400}):
            return 0.0
        item = self.table.get_item(Key=sync_now_key(business_id), ConsistentRead=True).get("Item") or {}
        last = float(item.get("requested_at", now))
        return max(1.0, last + interval_seconds - now)

    def release(self, business_id: str, now: float) -> None:
        """Give the turn back (the sync could not be queued), if it is still the one taken at ``now``."""
        delete_if(self.table, Key=sync_now_key(business_id), ConditionExpression="requested_at = :now",
                  ExpressionAttributeValues={":now": _whole(now)})


def _whole(seconds: float) -> int:
    return math.floor(seconds)


class GovernorBudget:
    """What the fast lane reads of the rate governor's items: the organisation's calls of the last 24 h and the
    app's calls this minute (eventually consistent reads: a second's lag only shifts a window)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def tenant_state(self, tenant_id: str) -> TenantState:
        from xerosync.xero.governor import TenantState  # the fast lane has it loaded; parked work never does

        return TenantState.from_item(self.table.get_item(Key=governor_key(tenant_id)).get("Item"))

    def app_calls(self, minute: int) -> int:
        item = self.table.get_item(Key=app_minute_key(minute)).get("Item") or {}
        return int(item.get("calls", 0))
