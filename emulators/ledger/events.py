"""The ledger's EventBridge events (contract, "Events") and the publishers that deliver them.

A publisher is any callable taking a list of ``PutEvents`` entries, so a test can pass a plain function, the
in-memory ``RecordingPublisher``, or ``EventBridgePublisher`` for a real (moto) bus.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from emulators.ledger.models import Transaction, format_time

EVENT_SOURCE = "bank.ledger"
TRANSACTION_POSTED = "TransactionPosted"
TRANSACTION_UPDATED = "TransactionUpdated"
# The contract's order of the fields whose change bumps ``version``; ``changed`` lists them in this order.
TRACKED_FIELDS: tuple[str, ...] = ("spend_category", "description", "attachments")
# EventBridge accepts at most 10 entries per PutEvents call.
PUT_EVENTS_MAX_ENTRIES = 10


class PutEventsEntry(TypedDict):
    Source: str
    DetailType: str
    Detail: str
    EventBusName: str


EventPublisher = Callable[[list[PutEventsEntry]], None]


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One event as the ledger recorded it; ``index`` is its position in the emulator's event log."""

    index: int
    detail_type: str
    detail: dict[str, Any]

    def to_entry(self, event_bus_name: str) -> PutEventsEntry:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, separators=(",", ":")),
            "EventBusName": event_bus_name,
        }

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "source": EVENT_SOURCE, "detail_type": self.detail_type, "detail": self.detail}


def event_detail(txn: Transaction, changed: Sequence[str], occurred_at: int) -> dict[str, Any]:
    """The contract's ``Detail``; a consumer reads the transaction itself for the current values."""
    return {
        "business_id": txn.business_id,
        "account_id": txn.account_id,
        "transaction_id": txn.transaction_id,
        "sequence": txn.sequence,
        "direction": txn.direction,
        "version": txn.version,
        "changed": list(changed),
        "occurred_at": format_time(occurred_at),
    }


class RecordingPublisher:
    """Keeps every entry it is given; thread-safe, for tests that assert what was published."""

    def __init__(self) -> None:
        self._entries: list[PutEventsEntry] = []
        self._lock = threading.Lock()

    def __call__(self, entries: list[PutEventsEntry]) -> None:
        with self._lock:
            self._entries.extend(e.copy() for e in entries)

    @property
    def entries(self) -> list[PutEventsEntry]:
        with self._lock:
            return list(self._entries)

    def details(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """The parsed ``Detail`` of each entry, optionally of one ``DetailType``."""
        return [json.loads(e["Detail"]) for e in self.entries if detail_type in (None, e["DetailType"])]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class EventBridgeClient(Protocol):
    """The one boto3 ``events`` client method the publisher uses."""

    def put_events(self, *, Entries: list[Any]) -> Any: ...  # boto3's parameter name


class EventPublishError(RuntimeError):
    """EventBridge refused some entries (``FailedEntryCount`` > 0)."""


class EventBridgePublisher:
    """Sends entries to ``bus_name`` with ``put_events``, ten at a time (the API's limit).

    The bus given here wins over the entries' ``EventBusName``: the publisher is the one wired to a bus.
    """

    def __init__(self, events_client: EventBridgeClient, bus_name: str) -> None:
        self.events_client = events_client
        self.bus_name = bus_name

    def __call__(self, entries: list[PutEventsEntry]) -> None:
        for start in range(0, len(entries), PUT_EVENTS_MAX_ENTRIES):
            chunk = [{**e, "EventBusName": self.bus_name} for e in entries[start : start + PUT_EVENTS_MAX_ENTRIES]]
            response = self.events_client.put_events(Entries=chunk)
            failed = response.get("FailedEntryCount", 0)
            if failed:
                errors = [r for r in response.get("Entries", []) if "ErrorCode" in r]
                raise EventPublishError(f"EventBridge rejected {failed} of {len(chunk)} entries: {errors}")
