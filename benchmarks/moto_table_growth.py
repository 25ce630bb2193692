"""moto's Query and TransactWriteItems as a table grows: moto's own (it sorts every item for a Query and deep-copies
the table for a transaction) against local/moto_patches.py's (the partition's items; a backup of the items a
transaction names). A soak's table grows all run long, so what one call costs here is what each day of a long
soak costs more than the day before (docs/soak.md, "A fourth pass").

Both sides in one process, alternated, medians of the rounds; the items are put straight into moto's table.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from support import median_of  # (importing support also sets the paths and the AWS environment)

from local import aws_in_process, moto_patches

NOWHERE = "http://127.0.0.1:9"  # answered in this process (local/aws_in_process.py)
SIZES = (1_000, 5_000, 20_000)
ROUNDS = 3
PARTITIONS = 500


def _client() -> Any:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return session.client("dynamodb", endpoint_url=NOWHERE)


def _fill(table: Any, start: int, end: int) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    for n in range(start, end):
        attrs = {"pk": {"S": f"P{n % PARTITIONS}"}, "sk": {"S": f"S{n:06d}"}, "v": {"S": "x" * 200}}
        hash_key, range_key = DynamoType(attrs["pk"]), DynamoType(attrs["sk"])
        table.items[hash_key][range_key] = Item(hash_key, range_key, attrs)


def _timed(dynamodb: Any, name: str, size: int, patched: bool, n: int) -> tuple[float, float]:
    moto_patches.NARROW_QUERIES = moto_patches.LIGHT_TRANSACTION_BACKUP = patched
    started = time.perf_counter()
    dynamodb.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "P7"}})
    query = time.perf_counter() - started
    started = time.perf_counter()
    dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": {
        "pk": {"S": "T"}, "sk": {"S": f"{size}-{patched}-{n}"}}}}])
    return query, time.perf_counter() - started


def main() -> None:
    from moto.dynamodb.models import dynamodb_backends

    moto_patches.apply()
    aws_in_process.install(NOWHERE)
    try:
        dynamodb = _client()
        name = "growth"
        dynamodb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])
        table = dynamodb_backends["123456789012"]["us-east-1"].tables[name]
        print(f"{'items':>7} | {'Query: moto':>11} | {'patched':>8} | {'ratio':>6} | {'transaction: moto':>17} | "
              f"{'patched':>8} | {'ratio':>6}")
        filled = 0
        for size in SIZES:
            _fill(table, filled, size)
            filled = size
            times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for n in range(ROUNDS):
                for patched in (False, True):
                    times[patched].append(_timed(dynamodb, name, size, patched, n))
            q = {side: median_of([t[0] for t in times[side]]) for side in times}
            t = {side: median_of([t[1] for t in times[side]]) for side in times}
            print(f"{size:>7,} | {q[False] * 1000:>8.1f} ms | {q[True] * 1000:>5.1f} ms | {q[True] / q[False]:>6.3f} | "
                  f"{t[False] * 1000:>14.1f} ms | {t[True] * 1000:>5.1f} ms | {t[True] / t[False]:>6.3f}")
    finally:
        moto_patches.NARROW_QUERIES = moto_patches.LIGHT_TRANSACTION_BACKUP = True
        aws_in_process.uninstall(NOWHERE)


if __name__ == "__main__":
    main()
