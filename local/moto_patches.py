"""Corrections to moto where it departs from SQS in ways the product's guarantees depend on.

FIFO redelivery order: when a batch of one message group times out, moto clears the group's stale
"in flight" marks one message at a time while it walks the queue, so the group still looks busy until
its *last* message is reached, which it then delivers first: the group comes back in reverse order.
SQS redelivers the group from its oldest message. Clearing every timed-out mark before the walk gives
SQS's order. ``tests/integration/local_runner`` proves the order with the patch applied.

Atomic conditional writes: moto evaluates a write's condition and then applies it with no lock, so two
threads can both pass ``attribute_not_exists`` or ``version = :v``. DynamoDB applies each conditional
write atomically, and the product's leases and optimistic versions rely on it; the writes are serialised.
UpdateItem's handler also deep-copies the stored item before the write (for ReturnValues) with no lock, so
a concurrent write to the same item could break that copy ("dictionary changed size during iteration"):
the handler runs under the same lock.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import SQSBackend

_applied = False
_dynamodb_writes = threading.RLock()


def apply() -> None:
    global _applied
    if _applied:
        return
    original = SQSBackend.receive_message

    def receive_message(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        for message in list(queue.pending_messages):
            if message.visible:
                queue.pending_messages.discard(message)
        return original(self, queue_name, *args, **kwargs)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
    DynamoHandler.update_item = _serialised(DynamoHandler.update_item)  # type: ignore[method-assign]
    _applied = True


def _serialised(write: Any) -> Any:
    @functools.wraps(write)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with _dynamodb_writes:
            return write(*args, **kwargs)

    return atomic
