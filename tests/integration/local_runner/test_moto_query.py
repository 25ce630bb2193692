"""moto's Query starting from the partition asked for (or, on an index, from the items unsorted) answers as
moto's own Query, which sorts the whole table first (local/moto_patches.py, "Query's candidates")."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from local import aws_in_process, moto_patches

NOWHERE = "http://127.0.0.1:9"  # nothing listens here: an answer can only have come from this process


def _table(dynamodb: Any) -> str:
    table = f"t-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g", "gs")],
        GlobalSecondaryIndexes=[
            {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                {"AttributeName": "gs", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "by-g-only", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}}])
    for p in range(6):
        for n in range(9):
            item = {"pk": {"S": f"P{p}"}, "sk": {"S": f"S{(n * 7) % 9}"}, "n": {"N": str(n)}}
            if n % 3:
                # Index keys shared by items of several partitions (ties the index's own order must break).
                item |= {"g": {"S": f"G{(p + n) % 2}"}, "gs": {"S": f"{n % 4}"}}
            dynamodb.put_item(TableName=table, Item=item)
    return table


def _pages(dynamodb: Any, **query: Any) -> list[Any]:
    pages, start = [], None
    while True:
        page = dynamodb.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        page.pop("ResponseMetadata", None)
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def _queries(table: str) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for forward in (True, False):
        for limit in ({}, {"Limit": 4}):
            common = {"TableName": table, "ScanIndexForward": forward, **limit}
            queries += [
                {**common, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P2"}}},
                {**common, "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                 "ExpressionAttributeValues": {":p": {"S": "P3"}, ":a": {"S": "S2"}, ":b": {"S": "S6"}}},
                {**common, "KeyConditionExpression": "pk = :p", "FilterExpression": "n > :n",
                 "ExpressionAttributeValues": {":p": {"S": "P1"}, ":n": {"N": "3"}}},
                {**common, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
                {**common, "IndexName": "by-g", "KeyConditionExpression": "g = :g",
                 "ExpressionAttributeValues": {":g": {"S": "G1"}}},
                {**common, "IndexName": "by-g", "KeyConditionExpression": "g = :g AND gs >= :s",
                 "ExpressionAttributeValues": {":g": {"S": "G0"}, ":s": {"S": "2"}}},
                {**common, "IndexName": "by-g-only", "KeyConditionExpression": "g = :g",
                 "ExpressionAttributeValues": {":g": {"S": "G0"}}},
            ]
    return queries


@pytest.fixture
def dynamodb() -> Any:
    moto_patches.apply()
    aws_in_process.install(NOWHERE)
    try:
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        yield session.client("dynamodb", endpoint_url=NOWHERE)
    finally:
        moto_patches.NARROW_QUERIES = True
        aws_in_process.uninstall(NOWHERE)


def test_queries_answer_as_moto_own_query(dynamodb: Any) -> None:
    table = _table(dynamodb)
    answers = {}
    for narrowed in (False, True):
        moto_patches.NARROW_QUERIES = narrowed
        answers[narrowed] = [_pages(dynamodb, **query) for query in _queries(table)]
    assert len(answers[True]) == 28
    assert sum(len(page["Items"]) for pages in answers[True] for page in pages) > 150  # (answers, not all empty)
    assert answers[True] == answers[False]
