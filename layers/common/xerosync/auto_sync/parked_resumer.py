"""Parked work going back to its queue (docs/architecture.md; ``xerosync.queue`` parks it): work that must wait
longer than SQS can hold a message is kept in the main table until it may resume, and the every-minute
``parked_work`` schedule sends each due item back to the queue it came from as a fresh message, then forgets it.

The loop runs over two ports, the parked items (``store/parked.py``) and a message sender
(``adapters.SqsMessageSender``). Its getter lives here rather than in ``wiring``, whose stores the every-minute
function never uses, so that its cold start loads only this (docs/architecture.md, "Cold start").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from xerosync import aws
from xerosync.auto_sync.adapters import SqsMessageSender
from xerosync.lifecycle import per_cold_start
from xerosync.settings import get_settings
from xerosync.store.parked import ParkedWorkStore


class ParkedWork(Protocol):
    """Parked items, as the store keeps them: ``queue_url``, ``body``, ``message_id``, ``resume_at_ms`` and, for a
    FIFO queue, ``group_id``."""

    def due(self, now: float) -> list[dict[str, Any]]:
        """The first page of items whose wait is over at ``now``, oldest first; [] when none is left."""
        ...

    def remove(self, item: dict[str, Any]) -> None: ...


class MessageSender(Protocol):
    def send(self, queue_url: str, body: str, *, group_id: str | None = None,
             deduplication_id: str | None = None) -> None: ...


@dataclass
class ParkedWorkResumer:
    parked: ParkedWork
    sender: MessageSender

    def resume(self, now: float) -> int:
        """Send every item due at ``now`` back to its queue, then remove it; returns how many were sent. An item
        is removed only after its send: a crash in between sends it again on the next run."""
        resumed = 0
        while True:
            due = self.parked.due(now)
            if not due:
                return resumed
            for item in due:
                group_id = item.get("group_id") or None
                # Same deduplication id if a crash makes us send it twice within SQS's 5-minute window.
                self.sender.send(item["queue_url"], item["body"], group_id=group_id,
                                 deduplication_id=f"resume-{item['message_id']}-{item['resume_at_ms']}"
                                 if group_id else None)
                self.parked.remove(item)
                resumed += 1


@per_cold_start
def get_parked_work_resumer() -> ParkedWorkResumer:
    return ParkedWorkResumer(ParkedWorkStore(aws.table(get_settings().main_table_name)),
                             SqsMessageSender(aws.client("sqs")))
