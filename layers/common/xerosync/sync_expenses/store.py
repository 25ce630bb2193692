"""DynamoDB adapters of sync expenses: expenses, category mappings, sync jobs and Xero reference data.

Key shapes live in ``xerosync.store.keys``. Every expense write is conditional on the record's version
(the ledger-event consumer, the API and the worker may touch the same expense at once); job progress is
counted with atomic counters, each batch once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from xerosync.clock import Clock, process_clock
from xerosync.errors import InvalidRequest, NotFound
from xerosync.store.conditions import put_if, update_if, update_if_returning, written_if
from xerosync.store.keys import (
    LAST_DELIVERIES_GSI_PK,
    RUNNING_JOBS_GSI_PK,
    expense_key,
    expense_list_gsi,
    expense_mappings_key,
    expense_reference_data_key,
    last_delivery_gsi,
    running_job_gsi,
    sync_activity_key,
    sync_batch_key,
    sync_job_key,
)
from xerosync.store.queries import query_items, query_pages
from xerosync.store.shared_cache import SharedCache
from xerosync.sync_expenses.models import ExpenseRecord, ExpenseStatus, ExpenseTab, SpendMoneyBatch, SyncJob
from xerosync.sync_expenses.payees import normalise_payee

if TYPE_CHECKING:  # loaded by the functions that read them (the expenses API and worker), not by every store user
    from xerosync.sync_expenses.mapping import CategoryMappings
    from xerosync.sync_expenses.reference_data import ReferenceData

_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")
# Top-level copies for the lists' filters, and the normalised payee (its pending expenses get its suggestions).
_DERIVED = ("account_id", "has_error", "payee_key")
_BATCH_GET = 100  # DynamoDB's BatchGetItem limit
_FILTERED_READ = 500  # items read per query when a filter drops some (well under DynamoDB's 1 MB a query)
# A list request reads at most this many pages of the index: a filter that matches little answers a short page
# (even an empty one) with a cursor to go on, instead of walking the whole partition in one request.
_MAX_READS_PER_PAGE = 4
_WRITERS = 8
_CHANGE_ATTEMPTS = 5  # lost races in a row before a writer gives up (the caller's retry decides again)
T = TypeVar("T")
R = TypeVar("R")


class StaleExpense(Exception):
    """Another writer changed the expense since it was read (optimistic version check)."""


def _strip(item: dict[str, Any], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _KEYS and k not in extra}


class ExpenseFilter(NamedTuple):  # not a frozen dataclass: its class builds 7x faster (docs/architecture.md)
    tab: ExpenseTab
    posted_from: date | None = None  # booking days, inclusive
    posted_to: date | None = None
    account_id: str | None = None
    status: ExpenseStatus | None = None
    updated: bool | None = None
    has_error: bool | None = None
    booking_offset_minutes: int = 480

    def bounds(self) -> tuple[str | None, str | None]:
        """The booking days as the index's UTC posting times (``<posted_at>#<transaction_id>``)."""
        offset = timedelta(minutes=self.booking_offset_minutes)

        def utc(day: date) -> str:
            return (datetime.combine(day, time.min, tzinfo=UTC) - offset).strftime("%Y-%m-%dT%H:%M:%SZ")

        low = utc(self.posted_from) if self.posted_from else None
        high = utc(self.posted_to + timedelta(days=1)) if self.posted_to else None
        return low, high

    def fingerprint(self) -> str:
        """Names the filters a cursor was made for: a page's cursor is only valid with the same filters."""
        filters = (self.tab.value, self.posted_from, self.posted_to, self.account_id, self.status, self.updated,
                   self.has_error, self.booking_offset_minutes)
        return hashlib.sha256(repr(filters).encode()).hexdigest()[:16]

    def condition(self) -> ConditionBase | None:
        parts: list[ConditionBase] = []
        if self.account_id:
            parts.append(Attr("account_id").eq(self.account_id))
        if self.status:
            parts.append(Attr("status").eq(self.status.value))
        if self.updated is not None:
            parts.append(Attr("updated").eq(self.updated))
        if self.has_error is not None:
            parts.append(Attr("has_error").eq(self.has_error))
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined


def must_exist(record: ExpenseRecord | None) -> ExpenseRecord:
    """The expense a route names, or the 404 that says which payments are expenses."""
    if record is None:
        raise NotFound("There is no expense with this id.",
                       action="Only outbound payments of bank accounts linked to Xero are expenses.",
                       code="expense_not_found")
    return record


def expense_or_not_found(expenses: ExpenseStore, business_id: str, transaction_id: str) -> ExpenseRecord:
    return must_exist(expenses.get(business_id, transaction_id))


class ExpenseStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    # ------------------------------------------------------------------ reads
    def get(self, business_id: str, transaction_id: str) -> ExpenseRecord | None:
        item = self.table.meta.client.get_item(TableName=self.table.name, Key=expense_key(business_id, transaction_id),
                                               ConsistentRead=True).get("Item")
        return _expense(item) if item else None

    def get_many(self, business_id: str, transaction_ids: Iterable[str]) -> dict[str, ExpenseRecord]:
        wanted = list(dict.fromkeys(transaction_ids))
        found: dict[str, ExpenseRecord] = {}
        client = self.table.meta.client
        for keys in chunks([expense_key(business_id, t) for t in wanted], _BATCH_GET):
            request: dict[str, Any] = {self.table.name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                # The resource's client converts values both ways, as the Table does.
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table.name, []):
                    record = _expense(item)
                    found[record.transaction_id] = record
                request = response.get("UnprocessedKeys") or {}
        return found

    def page(self, business_id: str, wanted: ExpenseFilter, *, limit: int, cursor: str | None
             ) -> tuple[list[ExpenseRecord], str | None]:
        """One page of a tab, newest payment first, filtered; the cursor is opaque to the caller. A page holds at
        most ``limit`` items and may hold fewer (even none) with a cursor, when a filter matches little."""
        partition = expense_list_gsi(business_id, wanted.tab.value, "", "")["gsi1pk"]
        key = Key("gsi1pk").eq(partition)
        low, high = wanted.bounds()  # high: the first instant after the last day
        if low and high:
            key = key & Key("gsi1sk").between(low, high)  # a posting at ``high`` sorts after it ("...Z#txn")
        elif low:
            key = key & Key("gsi1sk").gte(low)
        elif high:
            key = key & Key("gsi1sk").lt(high)
        kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": key, "ScanIndexForward": False,
                                  "Limit": limit}
        condition = wanted.condition()
        if condition is not None:
            # DynamoDB filters after reading: read generously, so that a rare match costs few round trips.
            kwargs["FilterExpression"] = condition
            kwargs["Limit"] = _FILTERED_READ
        if cursor:
            kwargs["ExclusiveStartKey"] = _decode_cursor(cursor, partition, wanted.fingerprint())
        records: list[ExpenseRecord] = []
        try:
            for reads, response in enumerate(query_pages(self.table, **kwargs), start=1):
                for item in response.get("Items", []):
                    records.append(_expense(item))
                    if len(records) == limit:
                        more = item is not response["Items"][-1] or "LastEvaluatedKey" in response
                        return records, _encode_cursor(item, wanted.fingerprint()) if more else None
                if reads == _MAX_READS_PER_PAGE and "LastEvaluatedKey" in response:
                    return records, _encode_cursor(response["LastEvaluatedKey"], wanted.fingerprint())
        except ClientError as error:
            # DynamoDB refuses a start key outside the query's key range: a cursor from other filters.
            if cursor and error.response["Error"]["Code"] == "ValidationException":
                raise INVALID_CURSOR from None
            raise
        return records, None

    # ------------------------------------------------------------------ writes
    def save(self, record: ExpenseRecord) -> ExpenseRecord:
        """Write the expense if nobody changed it since ``record.version`` was read; returns the stored copy."""
        stored = record.model_copy(update={"version": record.version + 1})
        if not self._put(stored, record.version):
            raise StaleExpense(record.transaction_id)
        return stored

    def change(self, business_id: str, transaction_id: str,
               transition: Callable[[ExpenseRecord | None], ExpenseRecord | None],
               current: ExpenseRecord | Literal["unread"] | None = "unread") -> ExpenseRecord | None:
        """Read, change and save one expense, deciding again from the latest copy whenever another writer (a
        ledger event, an edit, a worker) got there first.

        ``transition`` gets the latest copy (None when there is no expense) and returns the copy to save; it
        returns the same object to keep the expense as it is, or None to leave it alone (then None is
        returned), and may raise to refuse. ``current`` is a copy the caller has already read.
        """
        record = self.get(business_id, transaction_id) if isinstance(current, str) else current
        for _ in range(_CHANGE_ATTEMPTS):
            changed = transition(record)
            if changed is None or changed is record:
                return changed
            try:
                return self.save(changed)
            except StaleExpense:
                record = self.get(business_id, transaction_id)
        raise StaleExpense(transaction_id)

    def save_many(self, records: list[ExpenseRecord]) -> list[ExpenseRecord | None]:
        """Save each (as ``save``); None in the result where another writer got there first."""

        def one(record: ExpenseRecord) -> ExpenseRecord | None:
            try:
                return self.save(record)
            except StaleExpense:
                return None

        return in_parallel(one, records)

    def _put(self, stored: ExpenseRecord, expected_version: int) -> bool:
        """Write the expense if its stored version is still ``expected_version``; False when another writer won."""
        kwargs: dict[str, Any] = {
            "TableName": self.table.name, "Item": _item(stored),
            "ConditionExpression": "attribute_not_exists(pk)" if expected_version == 0 else "version = :v",
        }
        if expected_version:
            kwargs["ExpressionAttributeValues"] = {":v": expected_version}
        # Clients are thread-safe, resources are not (save_many writes from several threads); the resource's
        # client still converts Python values, as the Table does.
        return written_if(self.table.meta.client.put_item, **kwargs)


def _item(record: ExpenseRecord) -> dict[str, Any]:
    body = record.model_dump(mode="json", exclude_none=True)
    return {
        **expense_key(record.business_id, record.transaction_id),
        **expense_list_gsi(record.business_id, record.tab.value, record.payment.posted_at, record.transaction_id),
        **body,
        "account_id": record.payment.account_id,
        "has_error": record.error is not None or bool(record.attachment_errors),
        "payee_key": normalise_payee(record.payment.payee),
    }


def _expense(item: dict[str, Any]) -> ExpenseRecord:
    return ExpenseRecord.model_validate(_strip(item, _DERIVED))


def record_of(item: dict[str, Any]) -> ExpenseRecord:
    """An expense as read from the table or its index."""
    return _expense(item)


INVALID_CURSOR = InvalidRequest("The cursor does not belong to this list with these filters.",
                                action="Start from the first page again, with the same filters.", code="invalid_cursor")


def _encode_cursor(item: dict[str, Any], fingerprint: str) -> str:
    position = {**{k: str(item[k]) for k in _KEYS}, "f": fingerprint}
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, partition: str, fingerprint: str) -> dict[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
        valid = (isinstance(position, dict) and set(position) == {*_KEYS, "f"} and position["f"] == fingerprint
                 and position["gsi1pk"] == partition
                 and all(isinstance(position[k], str) and position[k] for k in _KEYS))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise INVALID_CURSOR
    return {k: str(position[k]) for k in _KEYS}


# ---------------------------------------------------------------------------------------------- activity
class SyncActivityStore:
    """The jobs of a business whose decisions the planner has not made durable yet: one small item, so the
    Pending Sync tab can show at once which expenses are being synced."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def planning(self, business_id: str) -> set[str]:
        item = self.table.get_item(Key=sync_activity_key(business_id), ConsistentRead=True).get("Item") or {}
        return set(item.get("planning") or set())

    def started(self, business_id: str, job_id: str) -> None:
        self.table.update_item(Key=sync_activity_key(business_id), UpdateExpression="ADD planning :job",
                               ExpressionAttributeValues={":job": {job_id}})

    def planned(self, business_id: str, job_id: str) -> None:
        self.table.update_item(Key=sync_activity_key(business_id), UpdateExpression="DELETE planning :job",
                               ExpressionAttributeValues={":job": {job_id}})


# ---------------------------------------------------------------------------------------------- mappings
class MappingStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, business_id: str) -> CategoryMappings:
        from xerosync.sync_expenses.mapping import CategoryMappings

        item = self.table.get_item(Key=expense_mappings_key(business_id), ConsistentRead=True).get("Item")
        return CategoryMappings.model_validate(_strip(item)) if item else CategoryMappings(business_id=business_id)

    def save(self, mappings: CategoryMappings) -> CategoryMappings:
        stored = mappings.model_copy(update={"version": mappings.version + 1})
        kwargs: dict[str, Any] = {
            "Item": {**expense_mappings_key(mappings.business_id), **stored.model_dump(mode="json", exclude_none=True)},
            "ConditionExpression": "attribute_not_exists(pk)" if mappings.version == 0 else "version = :v",
        }
        if mappings.version:
            kwargs["ExpressionAttributeValues"] = {":v": mappings.version}
        if not put_if(self.table, **kwargs):
            raise StaleExpense("mappings")
        return stored


# ---------------------------------------------------------------------------------------------- jobs
class SyncJobStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def create(self, job: SyncJob) -> None:
        item = {**sync_job_key(job.business_id, job.job_id),
                **job.model_dump(mode="json", exclude_none=True, exclude={"failed_ids"})}
        if job.failed_ids:
            item["failed_ids"] = set(job.failed_ids)  # a string set: the worker ADDs to it
        self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get(self, business_id: str, job_id: str) -> SyncJob | None:
        found = self.get_with_counted(business_id, job_id)
        return found[0] if found else None

    def get_with_counted(self, business_id: str, job_id: str) -> tuple[SyncJob, set[int]] | None:
        """The job and the numbers of the batches counted so far, from one consistent read."""
        item = self.table.get_item(Key=sync_job_key(business_id, job_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        counted = {int(b) for b in item.get("counted_batches") or set()}
        item = _strip(item, ("counted_batches",))
        item["failed_ids"] = sorted(item.get("failed_ids") or [])
        return SyncJob.model_validate(item), counted

    def mark_dispatched(self, business_id: str, job_id: str, at: str, check_at: float) -> None:
        """The job's batches are sent; from ``check_at`` on, the minute's sweeper checks it until it completes
        (``running_jobs``): in the same write, so that no dispatched job is left out of the check."""
        index = running_job_gsi(check_at, business_id, job_id)
        self.table.update_item(Key=sync_job_key(business_id, job_id),
                               UpdateExpression="SET dispatched_at = :at, gsi1pk = :pk, gsi1sk = :sk",
                               ExpressionAttributeValues={":at": at, ":pk": index["gsi1pk"], ":sk": index["gsi1sk"]})

    def record_plan(self, job: SyncJob, at: str) -> bool:
        """The planner's decisions (counts, skipped, batches), once: before any batch is sent, so no worker has
        counted anything yet. False when a plan was recorded already (a redelivered plan message)."""
        values: dict[str, Any] = {
            ":queued": job.queued, ":rejected": job.rejected, ":failed": job.failed,
            ":skipped": [s.model_dump(mode="json") for s in job.skipped], ":total": job.batches_total,
            ":batches": [b.model_dump(mode="json") for b in job.batches], ":at": at}
        expression = ("SET queued = :queued, rejected = :rejected, failed = :failed, skipped = :skipped, "
                      "batches_total = :total, batches = :batches, planned_at = :at REMOVE queued_ids")
        if job.failed_ids:
            expression = expression.replace(" REMOVE", ", failed_ids = :ids REMOVE")
            values[":ids"] = set(job.failed_ids)
        else:
            expression += ", failed_ids"
        return update_if(self.table, Key=sync_job_key(job.business_id, job.job_id), UpdateExpression=expression,
                         ConditionExpression="attribute_exists(pk) AND attribute_not_exists(planned_at)",
                         ExpressionAttributeValues=values)

    def note_wait(self, business_id: str, job_id: str, reason: str, until: str) -> None:
        """A batch of the job waits for Xero: why, and until when (shown until it goes on)."""
        self.table.update_item(Key=sync_job_key(business_id, job_id),
                               UpdateExpression="SET waiting_reason = :reason, waiting_until = :until",
                               ConditionExpression="attribute_exists(pk)",
                               ExpressionAttributeValues={":reason": reason, ":until": until})

    def many(self, business_id: str, job_ids: Iterable[str], fields: str) -> dict[str, dict[str, Any]]:
        """A few attributes of several jobs of the business at once (what a list page needs to show)."""
        wanted = list(dict.fromkeys(job_ids))
        found: dict[str, dict[str, Any]] = {}
        client = self.table.meta.client
        for keys in chunks([sync_job_key(business_id, j) for j in wanted], _BATCH_GET):
            request: dict[str, Any] = {self.table.name: {"Keys": keys, "ProjectionExpression": f"job_id, {fields}"}}
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table.name, []):
                    found[str(item["job_id"])] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def count_batch(self, business_id: str, job_id: str, batch: int, *, synced: int, failed_ids: list[str]) -> bool:
        """Add one batch's results to the job, once: a redelivered batch is not counted twice."""
        marker = str(batch)
        # Counting a batch also ends any wait the job showed: its work has gone on.
        expression = ("REMOVE waiting_reason, waiting_until "
                      "ADD batches_done :one, synced :synced, failed :failed, counted_batches :batch")
        values: dict[str, Any] = {":one": 1, ":synced": synced, ":failed": len(failed_ids), ":batch": {marker},
                                  ":marker": marker}
        if failed_ids:
            expression += ", failed_ids :ids"
            values[":ids"] = set(failed_ids)
        return update_if(self.table, Key=sync_job_key(business_id, job_id), UpdateExpression=expression,
                         ConditionExpression="attribute_exists(pk) AND NOT contains(counted_batches, :marker)",
                         ExpressionAttributeValues=values)

    def complete_if_done(self, business_id: str, job_id: str, at: str) -> bool:
        """Completes the job once every batch is counted; it leaves the sweeper's index of running jobs."""
        return update_if(self.table, Key=sync_job_key(business_id, job_id),
                         UpdateExpression="SET completed_at = :at REMOVE gsi1pk, gsi1sk",
                         ConditionExpression="batches_done >= batches_total AND attribute_not_exists(completed_at)",
                         ExpressionAttributeValues={":at": at})

    def running_jobs(self, check_before: float, limit: int = 25) -> list[tuple[str, str]]:
        """(business, job) of the dispatched, uncompleted jobs due for a check before then, the longest due first."""
        response = self.table.query(
            IndexName="gsi1", Limit=limit,
            KeyConditionExpression=Key("gsi1pk").eq(RUNNING_JOBS_GSI_PK)
            & Key("gsi1sk").lt(f"{int(check_before):012d}#"))
        return [(str(item["business_id"]), str(item["job_id"])) for item in response.get("Items", [])]

    def check_later(self, business_id: str, job_id: str, check_at: float) -> bool:
        """The job's next check (unless it completed meanwhile: then it stays out of the index)."""
        index = running_job_gsi(check_at, business_id, job_id)
        return update_if(self.table, Key=sync_job_key(business_id, job_id), UpdateExpression="SET gsi1sk = :sk",
                         ConditionExpression="attribute_exists(gsi1pk) AND attribute_not_exists(completed_at)",
                         ExpressionAttributeValues={":sk": index["gsi1sk"]})

    def forget_running(self, business_id: str, job_id: str) -> None:
        """A job found completed (or gone) leaves the index of running jobs."""
        update_if(self.table, Key=sync_job_key(business_id, job_id), UpdateExpression="REMOVE gsi1pk, gsi1sk",
                  ConditionExpression="attribute_exists(pk)")

    def send_attempts(self, business_id: str, job_id: str, batch: int) -> int:
        item = self.table.get_item(Key=sync_batch_key(business_id, job_id, batch), ConsistentRead=True).get("Item")
        return int(item.get("attempts", 0)) if item else 0

    def mark_last_delivery(self, batch: SpendMoneyBatch, at: float) -> None:
        """The batch's last delivery has begun: if it is killed (a timeout), nothing else will settle it but the
        sweeper, which finds it in the index by when it began (the first mark stands) and reads the batch here."""
        index = last_delivery_gsi(at, batch.business_id, batch.job_id, batch.batch)
        self.table.update_item(
            Key=sync_batch_key(batch.business_id, batch.job_id, batch.batch),
            UpdateExpression="SET last_delivery_at = if_not_exists(last_delivery_at, :at), "
                             "gsi1pk = if_not_exists(gsi1pk, :pk), gsi1sk = if_not_exists(gsi1sk, :sk), "
                             "last_delivery_batch = if_not_exists(last_delivery_batch, :batch)",
            ExpressionAttributeValues={":at": Decimal(str(at)), ":pk": index["gsi1pk"], ":sk": index["gsi1sk"],
                                       ":batch": batch.model_dump_json()})

    def last_deliveries(self, began_before: float, limit: int = 25) -> list[SpendMoneyBatch]:
        """Batches whose last delivery began before then and that the sweeper has not settled, oldest first."""
        response = self.table.query(
            IndexName="gsi1", Limit=limit,
            KeyConditionExpression=Key("gsi1pk").eq(LAST_DELIVERIES_GSI_PK)
            & Key("gsi1sk").lt(f"{int(began_before):012d}#"))
        return [SpendMoneyBatch.model_validate_json(str(item["last_delivery_batch"]))
                for item in response.get("Items", []) if item.get("last_delivery_batch")]

    def counted(self, business_id: str, job_id: str, batch: int) -> bool:
        item = self.table.get_item(Key=sync_job_key(business_id, job_id), ProjectionExpression="counted_batches",
                                   ConsistentRead=True).get("Item") or {}
        return str(batch) in (item.get("counted_batches") or set())

    def forget_last_delivery(self, batch: SpendMoneyBatch) -> None:
        """The batch is settled: it leaves the sweeper's index (its ``last_delivery_at`` stays for the record)."""
        self.table.update_item(Key=sync_batch_key(batch.business_id, batch.job_id, batch.batch),
                               UpdateExpression="REMOVE gsi1pk, gsi1sk")

    def abandoned(self, business_id: str, job_id: str, last_delivery_before: float) -> bool:
        """Whether a batch of the job began its last delivery before then and was never counted."""
        prefix = sync_batch_key(business_id, job_id, 0)["sk"].rsplit("#", 1)[0] + "#"
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(sync_job_key(business_id, job_id)["pk"])
                                  & Key("sk").begins_with(prefix), "ConsistentRead": True}
        started_long_ago = {str(int(str(item["sk"]).rsplit("#", 1)[1])) for item in query_items(self.table, **kwargs)
                            if float(item.get("last_delivery_at", last_delivery_before)) < last_delivery_before}
        if not started_long_ago:
            return False  # the common case: no job read
        job = self.table.get_item(Key=sync_job_key(business_id, job_id), ConsistentRead=True).get("Item") or {}
        return bool(started_long_ago - {str(b) for b in job.get("counted_batches", set())})

    def begin_send(self, business_id: str, job_id: str, batch: int, *, now: str, lease_until: str) -> int:
        """Count one attempt to send a batch to Xero and take the batch's lease until ``lease_until`` (ISO times);
        returns how many attempts there were, this one included. Raises ``SendLeaseHeld`` (nothing written) while
        another delivery's lease has not run out: that delivery may still be sending the batch."""
        key = sync_batch_key(business_id, job_id, batch)
        response = update_if_returning(
            self.table, Key=key, UpdateExpression="ADD attempts :one SET lease_until = :until",
            ConditionExpression="attribute_not_exists(lease_until) OR lease_until <= :now",
            ExpressionAttributeValues={":one": 1, ":until": lease_until, ":now": now}, ReturnValues="UPDATED_NEW")
        if response is None:
            item = self.table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            raise SendLeaseHeld(str(item.get("lease_until") or lease_until))
        return int(response["Attributes"]["attempts"])

    def end_send(self, business_id: str, job_id: str, batch: int, lease_until: str) -> bool:
        """Give the batch's lease up (the delivery's Xero calls are over); only the lease this delivery took."""
        return update_if(self.table, Key=sync_batch_key(business_id, job_id, batch),
                         UpdateExpression="REMOVE lease_until", ConditionExpression="lease_until = :mine",
                         ExpressionAttributeValues={":mine": lease_until})


class SendLeaseHeld(Exception):
    """Another delivery of the batch holds its lease: it may be sending the batch to Xero until ``until``."""

    def __init__(self, until: str) -> None:
        super().__init__(f"the batch is being sent by another delivery until {until}")
        self.until = until


# ---------------------------------------------------------------------------------------------- reference data
class ReferenceDataStore:
    """One item per organisation; the snapshot is one JSON document, read and written whole, and refreshed by
    one Lambda at a time (``store.shared_cache``)."""

    def __init__(self, table: Any, clock: Clock | None = None) -> None:
        self.cache = SharedCache(table, clock or process_clock())

    def get(self, tenant_id: str) -> ReferenceData | None:
        from xerosync.sync_expenses.reference_data import ReferenceData

        cached = self.cache.get(expense_reference_data_key(tenant_id))
        return ReferenceData.model_validate_json(cached.data) if cached else None

    def put(self, data: ReferenceData) -> None:
        self.cache.put(expense_reference_data_key(data.tenant_id), data.model_dump_json(), data.refreshed_at)

    def refreshed(self, tenant_id: str, fetch: Callable[[], ReferenceData], *, unless_since: float
                  ) -> ReferenceData | None:
        """The snapshot refreshed at or after ``unless_since`` (fetched here, or by another Lambda meanwhile);
        the one there is when another refresh is slow."""
        cached = self.cache.refreshed(expense_reference_data_key(tenant_id), lambda: fetch().model_dump_json(),
                                      unless_since=unless_since)
        from xerosync.sync_expenses.reference_data import ReferenceData

        return ReferenceData.model_validate_json(cached.data) if cached else None


def in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item, a few at a time, results in the items' order (exceptions propagate).

    Every expense write is one conditional request; one by one, a thousand take seconds of a Lambda's budget.
    The store's methods use the resource's client, which is thread-safe (resources are not).
    """
    if len(items) <= 1:
        return [work(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(_WRITERS, len(items))) as pool:
        return list(pool.map(work, items))


def chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
