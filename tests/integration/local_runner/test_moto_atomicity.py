"""moto applies a conditional write atomically once local.moto_patches is applied, as DynamoDB does."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.provision import Provisioned


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    # Switch threads every microsecond so that a check-then-write gap, if any, is actually hit.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def _race_for_lease(table: Any, version: int, contenders: int) -> tuple[int, list[str]]:
    """``contenders`` threads try the token vault's lease update at once; returns winners and odd errors."""
    table.put_item(Item={"pk": "BIZ#lease", "version": version})
    winners: list[int] = []
    unexpected: list[str] = []
    barrier = threading.Barrier(contenders)

    def claim(index: int) -> None:
        barrier.wait()
        try:
            table.update_item(Key={"pk": "BIZ#lease"}, UpdateExpression="SET lease_owner = :me",
                              ConditionExpression="version = :v AND attribute_not_exists(lease_owner)",
                              ExpressionAttributeValues={":me": index, ":v": version})
            winners.append(index)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                unexpected.append(str(error))
        except Exception as error:  # a writer that dies any other way is a failure, not a lost contender
            unexpected.append(repr(error))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(winners), unexpected


@pytest.mark.usefixtures("frequent_thread_switches")
def test_only_one_of_many_concurrent_conditional_updates_takes_the_lease(aws: Provisioned) -> None:
    table = boto3.resource("dynamodb").Table(aws.refs["TokensTable"])
    for version in range(20):
        winners, unexpected = _race_for_lease(table, version, contenders=24)
        assert unexpected == []
        assert winners == 1, f"round {version}: {winners} writers passed the same condition"


@pytest.mark.usefixtures("frequent_thread_switches")
def test_a_read_sees_an_item_as_one_write_left_it(aws: Provisioned) -> None:
    # DynamoDB reads an item whole: a strongly consistent read made while an update runs returns the item before
    # or after it, never part of it. moto reads the stored item while a writer changes it in place, so without
    # the local runner's lock a read could fail ("dictionary changed size during iteration") or see half a write.
    table = boto3.resource("dynamodb").Table(aws.refs["TokensTable"])
    key = {"pk": "BIZ#read-while-written"}
    table.put_item(Item=key)
    writes, done = 150, threading.Event()
    unexpected: list[str] = []
    torn: list[str] = []

    def write() -> None:
        try:
            for n in range(writes):  # each write adds two attributes and one member of a set
                table.update_item(Key=key, UpdateExpression=f"SET a{n} = :v, b{n} = :v ADD counted :n",
                                  ExpressionAttributeValues={":v": "x" * 50, ":n": {n}})
        finally:
            done.set()

    def read() -> None:
        while not done.is_set():
            try:
                item = table.get_item(Key=key, ConsistentRead=True)["Item"]
            except Exception as error:  # a read that fails any way at all is what the test looks for
                unexpected.append(repr(error))
                continue
            written = {name for name in item if name[0] == "a" and name[1:].isdigit()}
            if {f"b{name[1:]}" for name in written} - set(item) or len(written) != len(item.get("counted", ())):
                torn.append(f"{len(written)} writes seen, {len(item.get('counted', ()))} counted")

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    write()
    for reader in readers:
        reader.join()
    assert unexpected == []
    assert torn == []
