"""The business's Xero connection in the main table.

One item per business (``BIZ#<id>`` / ``CONNECTION``), indexed on ``gsi1`` in one partition sorted by
tenant, so that every connection can be walked (the periodic check) and everything connected to one
organisation found by prefix (several businesses may feed one Xero organisation).
"""

from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Literal

from boto3.dynamodb.conditions import Key

from xerosync.model import Model
from xerosync.store.conditions import put_if, update_if
from xerosync.store.keys import CONNECTIONS_GSI_PK, connection_check_key, connection_gsi, connection_key
from xerosync.store.queries import query_items


class ConnectionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    NEEDS_RECONNECT = "NEEDS_RECONNECT"
    DISCONNECTED = "DISCONNECTED"


class ReplacedGeneration(Model):
    """A generation a connection replaced without its end being finished: its live links move to the new
    generation (same organisation) or end (another organisation, or a disconnect that had not finished), its
    tokens are retired and its hold released (docs/architecture.md, "Connection generations")."""

    generation: str
    tenant_id: str
    xero_connection_id: str
    organisation_name: str
    disconnected: bool = False  # the user had disconnected it: its links end whatever the organisation


class XeroConnectionRecord(Model):
    business_id: str
    tenant_id: str
    # The consent this connection came from (docs/architecture.md, "Connection generations"): its tokens, feed
    # links and queued work carry it, and anything made for another generation is dropped.
    generation: str
    auth_event_id: str | None = None
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
    confirmed_at: int | None = None  # epoch seconds: when Xero last confirmed the connection for a user looking at it
    feeds_checked_at: int | None = None  # epoch seconds: when a user's look last asked Xero about pending feeds
    # A disconnect ends its generation after marking the connection DISCONNECTED (links, tokens, what it left in
    # Xero); this says it got that far. Until then a disconnect is finished again (a click, the hourly check).
    generation_ended: bool = False
    # The generations this connection replaced whose links, tokens and holds are not all moved or ended yet:
    # written with the connection, emptied once that is done. A completion that dies in between is finished by
    # the next sign-in or by the hourly check, so no link is left live on an ended generation.
    replaced: list[ReplacedGeneration] = []
    version: int = 0


Turn = Literal["confirmed_at", "feeds_checked_at"]


class StaleConnection(Exception):
    """Another writer replaced the business's connection first (optimistic version check)."""


class ConnectionStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, business_id: str) -> XeroConnectionRecord | None:
        item = self.table.get_item(Key=connection_key(business_id), ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def status_of(self, business_id: str) -> str | None:
        """The stored status of the business's connection ("" if its item has none), None when it has none; one
        eventually consistent read (the health check)."""
        item = self.table.get_item(Key=connection_key(business_id)).get("Item")
        return str(item.get("status", "")) if item else None

    def put(self, record: XeroConnectionRecord) -> XeroConnectionRecord:
        """Create or replace the business's connection if nobody changed it since ``record.version`` was read
        (0: there was none); ``StaleConnection`` otherwise (two consents finishing at once: one wins)."""
        stored = record.model_copy(update={"version": record.version + 1})
        item = {**connection_key(record.business_id), **stored.model_dump(mode="json", exclude_none=True,
                                                                           exclude={"replaced"} if not
                                                                           record.replaced else None),
                **connection_gsi(record.tenant_id, record.business_id)}
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        if record.version:
            kwargs.update(ConditionExpression="version = :v", ExpressionAttributeValues={":v": record.version})
        if not put_if(self.table, **kwargs):
            raise StaleConnection(f"the connection of {record.business_id} changed meanwhile")
        return stored

    def set_status(self, business_id: str, status: ConnectionStatus, reason: str | None, at: str,
                   only_if: ConnectionStatus | None = None, generation: str | None = None) -> bool:
        """Change the status; with ``only_if`` the change happens only from that status, with ``generation``
        only while that generation is the business's connection. False if nothing changed."""
        condition = "attribute_exists(pk)" + (" AND #status = :only_if" if only_if else "")
        values: dict[str, Any] = {":status": status.value, ":reason": reason or "", ":at": at, ":one": 1}
        if only_if:
            values[":only_if"] = only_if.value
        if generation:
            condition += " AND generation = :generation"
            values[":generation"] = generation
        return update_if(
            self.table, Key=connection_key(business_id),
            UpdateExpression="SET #status = :status, status_reason = :reason, status_changed_at = :at "
                             "ADD version :one",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values)

    def mark_generation_ended(self, business_id: str, generation: str) -> bool:
        """The disconnected connection's generation has been ended (its cleanup done or queued)."""
        return update_if(
            self.table, Key=connection_key(business_id),
            UpdateExpression="SET generation_ended = :yes ADD version :one",
            ConditionExpression="generation = :generation AND #status = :disconnected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":yes": True, ":one": 1, ":generation": generation,
                                       ":disconnected": ConnectionStatus.DISCONNECTED.value})

    def mark_replacement_finished(self, business_id: str, generation: str) -> bool:
        """The generations ``generation``'s connection replaced are all ended (their links moved or ended)."""
        return update_if(
            self.table, Key=connection_key(business_id), UpdateExpression="REMOVE replaced ADD version :one",
            ConditionExpression="generation = :generation AND attribute_exists(replaced)",
            ExpressionAttributeValues={":one": 1, ":generation": generation})

    def record_sync(self, business_id: str, at: str) -> bool:
        """Move the connection's last sync time (ISO UTC) forward, never back; False if nothing changed."""
        return update_if(
            self.table, Key=connection_key(business_id),
            UpdateExpression="SET last_sync_at = :at",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_sync_at) "
                                "OR last_sync_at < :at)",
            ExpressionAttributeValues={":at": at})

    def claim_turn(self, business_id: str, generation: str, turn: Turn, now: float, interval_seconds: float) -> bool:
        """Take the turn to ask Xero something about an ACTIVE connection for a user looking at it (``confirmed_at``:
        is it still connected; ``feeds_checked_at``: are its pending feeds settled): True at most once per
        interval, whoever asks, so many users opening the page cost one Xero call."""
        return update_if(
            self.table, Key=connection_key(business_id), UpdateExpression="SET #turn = :now",
            ConditionExpression="generation = :g AND #status = :active AND "
                                "(attribute_not_exists(#turn) OR #turn <= :due)",
            ExpressionAttributeNames={"#status": "status", "#turn": turn},
            ExpressionAttributeValues={":now": int(now), ":g": generation,
                                       ":active": ConnectionStatus.ACTIVE.value,
                                       ":due": int(now - interval_seconds)})

    def statuses_after(self, after: str | None = None) -> Iterator[tuple[str, ConnectionStatus, str]]:
        """``(tenant#business, status, generation)`` of every connection in index order, after ``after`` (the
        auto-sync dispatcher joins it with the live feeds, which the same index sorts the same way)."""
        condition = Key("gsi1pk").eq(CONNECTIONS_GSI_PK)
        if after:
            condition = condition & Key("gsi1sk").gt(after)
        for item in query_items(self.table, IndexName="gsi1", KeyConditionExpression=condition,
                                ProjectionExpression="gsi1sk, #status, generation",
                                ExpressionAttributeNames={"#status": "status"}):
            yield (str(item["gsi1sk"]), ConnectionStatus(item.get("status", ConnectionStatus.ACTIVE)),
                   str(item.get("generation", "")))

    def by_tenant(self, tenant_id: str) -> list[XeroConnectionRecord]:
        return list(self._walk(Key("gsi1sk").begins_with(f"{tenant_id}#")))

    def all(self, after: str | None = None) -> Iterator[XeroConnectionRecord]:
        """Every connection, page by page, optionally after a position (the periodic check resumes there)."""
        return self._walk(Key("gsi1sk").gt(after) if after else None)

    @staticmethod
    def position(record: XeroConnectionRecord) -> str:
        return str(connection_gsi(record.tenant_id, record.business_id)["gsi1sk"])

    def _walk(self, sort_condition: Any) -> Iterator[XeroConnectionRecord]:
        condition = Key("gsi1pk").eq(CONNECTIONS_GSI_PK)
        if sort_condition is not None:
            condition = condition & sort_condition
        for item in query_items(self.table, IndexName="gsi1", KeyConditionExpression=condition):
            yield _record(item)


class ConnectionCheckPosition:
    """Where the hourly check stopped walking the connections (``ConnectionStore.position`` of the last one it
    looked at), so that its next run continues from there; one item in the main table."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def load(self) -> str | None:
        after = self.table.get_item(Key=connection_check_key(), ConsistentRead=True).get("Item", {}).get("after")
        return None if after is None else str(after)

    def save(self, after: str | None) -> None:
        self.table.put_item(Item={**connection_check_key(), "after": after})

    def clear(self) -> None:
        self.table.delete_item(Key=connection_check_key())


def _record(item: dict[str, Any]) -> XeroConnectionRecord:
    return XeroConnectionRecord.model_validate({k: v for k, v in item.items()
                                                if k not in ("pk", "sk", "gsi1pk", "gsi1sk")})
