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

Atomic items: moto evaluates a write's condition and then applies it with no lock, so two threads can both
pass ``attribute_not_exists`` or ``version = :v``; and it changes a stored item in place while a read of it
is answered from the very same dictionaries, so a read made during a write could fail ("dictionary changed
size during iteration") or return half of the write. DynamoDB applies each write atomically and reads an
item whole, and the product's leases, optimistic versions and progress reads rely on it: each DynamoDB
request, its answer's serialisation included, runs under one lock (moto's work is Python under the GIL,
so requests at once gained no speed by overlapping).

Query's candidates: moto's Query lists every item of the table, sorted by key (``Table.all_items``), and then
keeps those of the partition asked for (or, on an index, sorts the ones that match again by the index's key).
Each Query cost the whole table's sort, so a long run's calls grew slower as its tables grew. A Query on the
table's key now starts from its partition's items, and one on an index from the table's items unsorted (its own
sort orders them fully, by the index's key and then the table's): the same items, in the same order
(``tests/integration/local_runner/test_moto_tables.py``).

A transaction's backup: moto deep-copied every table a TransactWriteItems names (once per item naming it) before
applying it, to put the copy back if the transaction is cancelled: each transaction cost a copy of the whole
table. Only the items a transaction names can change, so only they are kept (a copy of each, or that it was
absent) and put back on a cancellation; the table is the same object throughout
(``tests/integration/local_runner/test_moto_tables.py`` compares the outcomes with moto's own).

Which actions a service's response class has: moto lists its methods (``inspect.getmembers``) on every request
to check that the action asked for is one of them; the list of a class never changes, so it is remembered.

An EventBridge input transformer's paths: for every event a rule with an ``InputTransformer`` delivers, moto
parses each input path with ``jsonpath_ng.ext.parse``, which builds a new parser (its tables read again) per
call: 6% of a soak's CPU for the ledger's events. A parsed path never changes (``find`` only reads it), so each
is parsed once.

A queue's counts at one moment: moto decides whether each message is visible, delayed or receivable by reading
its clock once per message (``Message.visible``, ``Message.delayed``), and every look at a queue's attributes
counts all three over the whole queue; SendMessage looks at them (for ``ContentBasedDeduplication``) on every
send, and GetQueueAttributes twice per attribute asked for. A queue that holds a thousand messages (a paused
consumer, a backlog) made each send and each depth check cost thousands of clock reads. The counts and the list
of receivable messages are now taken at one reading of SQS's clock (the same clock: ``use_clock`` and the
tests' SQS clock replace it), and the clock itself is ``time.time()``, the value moto's computes through
datetimes (``tests/integration/local_runner/test_moto_tables.py`` compares the counts with moto's own).

DynamoDB's items in answers: moto serialises every answer through botocore's shapes, and for each member of
each ``AttributeValue`` (ten members, in every attribute of every item) it builds a lookup context and tries six
alias providers' names, two spellings each, before it finds ``S`` or ``N`` in the item's dictionary: about a
quarter of the thousand-expense test's CPU. An ``AttributeValue`` that is a dictionary of the shape's own member
names, with no response transformer in play, has its members taken from the dictionary directly, then serialised
as before (``tests/integration/local_runner/test_moto_tables.py`` compares the answers with moto's own).
"""

from __future__ import annotations

import contextvars
import copy
import functools
import threading
import time
import types
from typing import Any, Protocol

import jsonpath_ng.ext as jsonpath_ext
import moto.core.responses as moto_responses
import moto.dynamodb.models as dynamodb_models
import moto.sqs.models as sqs_models
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import unix_time as _moto_unix_time
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Queue, SQSBackend

_applied = False
_dynamodb = threading.RLock()
_sqs = threading.RLock()
_visibility_set: set[str] = set()  # receipt handles whose visibility a consumer changed
SQS_LISTENERS: list[Any] = []  # called after each message sent (a simulation's driver watches the world)


def _unix_time(dt: Any = None) -> float:
    """moto's ``unix_time``: seconds since the epoch, now or of a naive UTC datetime."""
    return time.time() if dt is None else _moto_unix_time(dt)


def _unix_time_millis(dt: Any = None) -> float:
    return _unix_time(dt) * 1000.0


_SQS_TIME = (_unix_time, _unix_time_millis)
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

    _count_messages_at_one_moment()
    _attribute_values_read_directly()
    _back_up_only_the_items_a_transaction_names()
    DynamoHandler.call_action = _serialised(DynamoHandler.call_action, _dynamodb)  # type: ignore[method-assign]
    _narrow_query_candidates()
    moto_responses.method_names_from_class = functools.cache(moto_responses.method_names_from_class)
    jsonpath_ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ext.parse)  # moto's events import it per call
    _applied = True


ONE_MOMENT_COUNTS = True  # (a test compares the counts with moto's own)
_MOTO_QUEUE_COUNTS = {name: getattr(Queue, name) for name in (
    "messages", "approximate_number_of_messages", "approximate_number_of_messages_not_visible",
    "approximate_number_of_messages_delayed")}


def _count_messages_at_one_moment() -> None:
    sqs_models.unix_time, sqs_models.unix_time_millis = _SQS_TIME
    moto_counts = {name: prop.fget for name, prop in _MOTO_QUEUE_COUNTS.items()}

    def at_one_moment(name: str, count: Any) -> property:
        def counted(self: Queue) -> Any:
            if not ONE_MOMENT_COUNTS:
                return moto_counts[name](self)
            return count(list(self._messages), sqs_models.unix_time_millis())  # read when called: use_clock

        return property(counted)

    def receivable(messages: list[Any], now: float) -> list[Any]:  # visible and not delayed
        return [m for m in messages if now > m.visible_at and not now < m.delayed_until]

    Queue.messages = at_one_moment("messages", receivable)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages = at_one_moment(  # type: ignore[assignment,method-assign]
        "approximate_number_of_messages", lambda messages, now: len(receivable(messages, now)))
    Queue.approximate_number_of_messages_not_visible = at_one_moment(  # type: ignore[assignment,method-assign]
        "approximate_number_of_messages_not_visible",
        lambda messages, now: sum(1 for m in messages if not now > m.visible_at))
    Queue.approximate_number_of_messages_delayed = at_one_moment(  # type: ignore[assignment,method-assign]
        "approximate_number_of_messages_delayed",
        lambda messages, now: sum(1 for m in messages if now < m.delayed_until))
    sqs_models.camelcase_to_underscores = functools.cache(sqs_models.camelcase_to_underscores)


DIRECT_ATTRIBUTE_VALUES = True  # (a test compares the answers with moto's own serialisation)


def _attribute_values_read_directly() -> None:
    generic = BaseJSONSerializer._serialize_type_structure

    def structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (not DIRECT_ATTRIBUTE_VALUES or shape.name != "AttributeValue" or type(value) is not dict
                or not value.keys() <= shape.members.keys()
                or getattr(self._value_picker, "response_transformers", None)):
            return generic(self, serialized, value, shape, key)
        # What moto's own does, with the member's value taken from the dictionary: its picker would find it under
        # the member's own name first, since the dictionary holds no other name it tries.
        wrapper = self.MAP_TYPE() if key else serialized
        for member_key, member_shape in shape.members.items():
            member_shape.parent = shape
            member_value = value.get(member_key)
            if member_value is not None:
                self._serialize(wrapper, member_value, member_shape, member_key)
        if key:
            self._default_serialize(serialized, wrapper, shape, key)
        return None

    BaseJSONSerializer._serialize_type_structure = structure  # type: ignore[method-assign]


LIGHT_TRANSACTION_BACKUP = True  # (a test compares the outcomes with moto's own backup)
_in_light_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar("moto_light_transaction", default=False)


def _back_up_only_the_items_a_transaction_names() -> None:
    transact = DynamoDBBackend.transact_write_items

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if _in_light_transaction.get() and isinstance(value, Table):
            return value  # the transaction's own backup keeps the items it names (below)
        return copy.deepcopy(value, memo)

    # moto's DynamoDB backend copies through this module (its ``import copy``): tables pass through as themselves
    # while a transaction runs here; everything else is copied as before.
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[assignment]

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = _named_items(self, transact_items) if LIGHT_TRANSACTION_BACKUP else None
        if saved is None:
            return transact(self, transact_items)
        token = _in_light_transaction.set(True)
        try:
            return transact(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item, had_partition in reversed(saved):
                _put_back(table, hash_key, range_key, item, had_partition)
            raise
        finally:
            _in_light_transaction.reset(token)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _named_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """A copy of each item the transaction names, as it is now (None where it is absent), or None when a name
    cannot be read here (moto's own backup is taken then)."""
    saved: list[tuple[Any, ...]] = []
    try:
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") if "Item" not in op else {
                name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name}
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            current = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, copy.deepcopy(current) if current is not None else None,
                          hash_key in table.items))
    except Exception:
        return None
    return saved


def _put_back(table: Table, hash_key: Any, range_key: Any, item: Any, had_partition: bool) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        partition = table.items.get(hash_key)
        if partition is not None:
            partition.pop(range_key, None)
            if not partition and not had_partition:
                del table.items[hash_key]
    else:
        table.items[hash_key][range_key] = item


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


def queue_contents(queue_name: str, account: str, region: str) -> list[tuple[str, str]]:
    """Every message one of moto's SQS queues (in this process) holds, as (message id, body), in the order they
    arrived, whatever their age. A receive is no way to read a dead-letter queue at the end of a long simulation:
    moto hands out no message older than the queue's retention period, counted from the message's first send
    (SQS resets it when a FIFO queue's message moves to its dead-letter queue), and its receive stops at the first
    such message it meets, so one dead letter older than 14 days hides every later one."""
    backend = sqs_models.sqs_backends[account][region]
    with _sqs:
        queue = backend.queues.get(queue_name)
        return [(str(message.id), str(message.body)) for message in queue._messages] if queue is not None else []
