"""Parked work going back to its queue, over in-memory ports: every due item sent once, then forgotten."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from xerosync.auto_sync.parked_resumer import ParkedWorkResumer


class Parked:
    """Parked items as the store keeps them, answered a page at a time, oldest first."""

    def __init__(self, *items: dict[str, Any], page: int = 2) -> None:
        self.items = sorted(items, key=lambda i: i["resume_at_ms"])
        self.page = page
        self.reads = 0

    def due(self, now: float) -> list[dict[str, Any]]:
        self.reads += 1
        return [i for i in self.items if i["resume_at_ms"] <= now * 1000][:self.page]

    def remove(self, item: dict[str, Any]) -> None:
        self.items.remove(item)


class Sender:
    def __init__(self, failing: str | None = None) -> None:
        self.sent: list[tuple[str, str, str | None, str | None]] = []
        self.failing = failing

    def send(self, queue_url: str, body: str, *, group_id: str | None = None,
             deduplication_id: str | None = None) -> None:
        if body == self.failing:
            raise RuntimeError("SQS refused it")
        self.sent.append((queue_url, body, group_id, deduplication_id))


def _item(n: int, *, group_id: str | None = "tenant-1", resume_at_ms: int = 1_000_000) -> dict[str, Any]:
    item = {"pk": "PARKED", "sk": f"{resume_at_ms:015d}#m{n}", "queue_url": f"https://sqs/q{n % 2}",
            "body": f"body-{n}", "message_id": f"m{n}", "resume_at_ms": Decimal(resume_at_ms + n)}
    if group_id:
        item["group_id"] = group_id
    return item


def test_every_due_item_goes_back_to_its_queue_once_page_after_page_and_is_forgotten() -> None:
    parked = Parked(*(_item(n) for n in range(5)), _item(9, resume_at_ms=5_000_000))
    sender = Sender()
    assert ParkedWorkResumer(parked, sender).resume(now=2_000) == 5
    # A FIFO queue's message keeps its group, with a deduplication id of its own parking (a crash resends the same)
    assert sender.sent[0] == ("https://sqs/q0", "body-0", "tenant-1", "resume-m0-1000000")
    assert [body for _, body, _, _ in sender.sent] == [f"body-{n}" for n in range(5)]
    # Only what is due went; the rest waits
    assert [i["message_id"] for i in parked.items] == ["m9"]
    assert parked.reads == 4  # three pages, then an empty one


def test_a_standard_queues_message_goes_without_a_group_or_deduplication_id() -> None:
    sender = Sender()
    ParkedWorkResumer(Parked(_item(1, group_id=None)), sender).resume(now=2_000)
    assert sender.sent == [("https://sqs/q1", "body-1", None, None)]


def test_an_item_whose_send_fails_stays_parked_for_the_next_run() -> None:
    parked = Parked(_item(0), _item(1))
    with pytest.raises(RuntimeError):
        ParkedWorkResumer(parked, Sender(failing="body-1")).resume(now=2_000)
    assert [i["message_id"] for i in parked.items] == ["m1"]
