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
