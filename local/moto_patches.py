"""Corrections to moto where it departs from SQS in ways the product's guarantees depend on.

FIFO redelivery order: when a batch of one message group times out, moto clears the group's stale
"in flight" marks one message at a time while it walks the queue, so the group still looks busy until
its *last* message is reached, which it then delivers first: the group comes back in reverse order.
SQS redelivers the group from its oldest message. Clearing every timed-out mark before the walk gives
SQS's order. ``tests/integration/local_runner`` proves the order with the patch applied.
"""

from __future__ import annotations

from typing import Any

from moto.sqs.models import SQSBackend

_applied = False


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
    _applied = True
