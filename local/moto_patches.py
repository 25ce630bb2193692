"""Corrections to moto where it departs from SQS in ways the product's guarantees depend on.

FIFO redelivery order: when a batch of one message group times out, moto clears the group's stale
"in flight" marks one message at a time while it walks the queue, so the group still looks busy until
its *last* message is reached, which it then delivers first: the group comes back in reverse order.
SQS redelivers the group from its oldest message. Clearing every timed-out mark before the walk gives
SQS's order. ``tests/integration/local_runner`` proves the order with the patch applied.

Concurrent consumers: moto's SQS keeps a queue's messages and in-flight groups in plain lists and sets, so
two receives at once could both hand out one FIFO group. The local runner polls a queue with several
invocations in flight, as Lambda does: the SQS backend's operations run one at a time.

Whose visibility: a consumer's ``ChangeMessageVisibility`` (the product's "come back after Retry-After") is
remembered by receipt handle, so that the local runner, which shortens the visibility of a failed message
(seconds instead of the queue's minutes), leaves a visibility the consumer chose alone.

SQS on another clock: ``use_clock`` makes SQS's visibility timeouts, delays and deduplication windows run on
the clock handed in (the soak's virtual clock, shared with the product and the emulators).

Which backend serves a request: moto server's dispatcher answers it for every request, under one lock that all
requests share, by listing moto's package folders on disk and then matching the host against every service's
URL patterns. The answer for a host never changes, so it is remembered: the lock is then held for a dictionary
look-up (it was most of the local runner's time under load, docs/soak.md).

Atomic conditional writes: moto evaluates a write's condition and then applies it with no lock, so two
threads can both pass ``attribute_not_exists`` or ``version = :v``. DynamoDB applies each conditional
write atomically, and the product's leases and optimistic versions rely on it; the writes are serialised.
UpdateItem's handler also deep-copies the stored item before the write (for ReturnValues) with no lock, so
a concurrent write to the same item could break that copy ("dictionary changed size during iteration"):
the handler runs under the same lock.

Query's candidates: moto's Query lists every item of the table, sorted by key (``Table.all_items``), and then
keeps those of the partition asked for (or, on an index, sorts the ones that match again by the index's key).
Each Query cost the whole table's sort, so a long run's calls grew slower as its tables grew. A Query on the
table's key now starts from its partition's items, and one on an index from the table's items unsorted (its own
sort orders them fully, by the index's key and then the table's): the same items, in the same order
(``tests/integration/local_runner/test_moto_query.py``).

Which actions a service's response class has: moto lists its methods (``inspect.getmembers``) on every request
to check that the action asked for is one of them; the list of a class never changes, so it is remembered.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from typing import Any, Protocol

import moto.core.responses as moto_responses
import moto.sqs.models as sqs_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import SQSBackend

_applied = False
_dynamodb_writes = threading.RLock()
_sqs = threading.RLock()
_visibility_set: set[str] = set()  # receipt handles whose visibility a consumer changed
SQS_LISTENERS: list[Any] = []  # called after each message sent (a simulation's driver watches the world)
_SQS_TIME = (sqs_models.unix_time, sqs_models.unix_time_millis)
# What the running Query needs of Table.all_items: ("partition", hash key), ("any order",) or None (all, sorted).
NARROW_QUERIES = True  # (a test compares the answers with moto's own candidates)
_query_candidates: contextvars.ContextVar[tuple[Any, ...] | None] = contextvars.ContextVar(
    "moto_query_candidates", default=None)


class _Clock(Protocol):
    def time(self) -> float: ...


def use_clock(clock: _Clock | None) -> None:
    """Run moto's SQS on ``clock`` (None: real time again)."""
    if clock is None:
        sqs_models.unix_time, sqs_models.unix_time_millis = _SQS_TIME
        return
    sqs_models.unix_time = lambda dt=None: clock.time()
    sqs_models.unix_time_millis = lambda dt=None: clock.time() * 1000.0


def visibility_set_by_consumer(receipt_handle: str) -> bool:
    """Whether a consumer changed this received message's visibility (and forget it)."""
    with _sqs:
        if receipt_handle in _visibility_set:
            _visibility_set.discard(receipt_handle)
            return True
        return False


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
    change_visibility = SQSBackend.change_message_visibility

    def change_message_visibility(self: SQSBackend, queue_name: str, receipt_handle: str,
                                  visibility_timeout: int) -> None:
        change_visibility(self, queue_name, receipt_handle, visibility_timeout)
        _visibility_set.add(receipt_handle)

    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]
    send = SQSBackend.send_message

    def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        sent = send(self, *args, **kwargs)
        for listener in SQS_LISTENERS:
            listener()
        return sent

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    backend_for_host = DomainDispatcherApplication.get_backend_for_host

    def remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        known = self.__dict__.setdefault("_backend_for_host", {})  # (called under the dispatcher's lock)
        if host not in known:
            known[host] = backend_for_host(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = remembered_backend_for_host  # type: ignore[method-assign]
    for name in ("receive_message", "send_message", "send_message_batch", "delete_message",
                 "delete_message_batch", "change_message_visibility", "change_message_visibility_batch",
                 "purge_queue", "get_queue_attributes"):
        if hasattr(SQSBackend, name):
            setattr(SQSBackend, name, _serialised(getattr(SQSBackend, name), _sqs))

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name), _dynamodb_writes))
    DynamoHandler.update_item = _serialised(DynamoHandler.update_item, _dynamodb_writes)  # type: ignore[method-assign]
    _narrow_query_candidates()
    moto_responses.method_names_from_class = functools.cache(moto_responses.method_names_from_class)
    _applied = True


def _narrow_query_candidates() -> None:
    all_items, query = Table.all_items, Table.query

    def candidates(self: Table) -> list[Any]:
        wanted = _query_candidates.get()
        if wanted is None:
            return all_items(self)
        partitions = list(self.items.values())  # (a copy: writes to other partitions go on meanwhile)
        if wanted[0] == "partition":
            found = self.items.get(wanted[1])  # (a defaultdict: get adds nothing)
            partitions = [found] if found is not None else []
        if not self.range_key_attr:
            return partitions
        return [item for partition in partitions for item in list(partition.values())]

    def narrowed_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        narrowed = (("any order",) if index_name else ("partition", hash_key)) if NARROW_QUERIES else None
        token = _query_candidates.set(narrowed)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _query_candidates.reset(token)

    Table.all_items = candidates  # type: ignore[method-assign]
    Table.query = narrowed_query  # type: ignore[method-assign]


def _serialised(operation: Any, lock: threading.RLock) -> Any:
    @functools.wraps(operation)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return operation(*args, **kwargs)

    return atomic


def sqs_outlook(queue_names: list[str], account: str, region: str) -> tuple[bool, float | None, int]:
    """For a simulation's driver, in one look at moto's SQS (in this process): whether any of these queues has
    a message a receive would hand out now, the earliest moment (epoch seconds, on SQS's clock) a hidden or
    delayed one becomes receivable, and how many messages they hold in all."""
    backend = sqs_models.sqs_backends[account][region]
    deliverable, earliest, held = False, None, 0
    with _sqs:
        for name in queue_names:
            queue = backend.queues.get(name)
            if queue is None:
                continue
            busy_groups = {m.group_id for m in queue.pending_messages if m.group_id is not None and not m.visible}
            for message in queue._messages:
                held += 1
                if message.delayed:
                    moment = message.delayed_until / 1000.0
                elif not message.visible:
                    moment = message.visible_at / 1000.0
                elif queue.fifo_queue and message.group_id in busy_groups:
                    continue  # waits for its group, which a running invocation holds
                else:
                    deliverable = True
                    continue
                earliest = moment if earliest is None else min(earliest, moment)
    return deliverable, earliest, held
