"""moto's costs that grew with its tables, taken out (local/moto_patches.py), leave its answers as they were:

- a Query starting from the partition asked for (or, on an index, from the items unsorted) answers as moto's own
  Query, which sorts the whole table first;
- a TransactWriteItems backed up by copies of the items it names ends as moto's own, which copies the whole
  table: applied in full, or cancelled with the table as it was, whatever the items were (new, changed,
  deleted) and whatever cancelled it;
- a queue's counts and receivable messages taken at one reading of SQS's clock are moto's own, taken with a
  reading per message, whatever each message's visibility and delay;
- DynamoDB's answers, their items' attribute values read from the items directly, are moto's own, whatever the
  attributes' types.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import botocore.exceptions
import pytest

from emulators.time_control import ManualClock
from local import aws_in_process, moto_patches

NOWHERE = "http://127.0.0.1:9"  # nothing listens here: an answer can only have come from this process


@pytest.fixture
def dynamodb() -> Any:
    moto_patches.apply()
    aws_in_process.install(NOWHERE)
    try:
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        yield session.client("dynamodb", endpoint_url=NOWHERE)
    finally:
        moto_patches.NARROW_QUERIES = moto_patches.LIGHT_TRANSACTION_BACKUP = True
        moto_patches.DIRECT_ATTRIBUTE_VALUES = True
        aws_in_process.uninstall(NOWHERE)


@pytest.fixture
def sqs() -> Any:
    moto_patches.apply()
    aws_in_process.install(NOWHERE)
    try:
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        yield session.client("sqs", endpoint_url=NOWHERE)
    finally:
        moto_patches.ONE_MOMENT_COUNTS = True
        moto_patches.use_clock(None)
        aws_in_process.uninstall(NOWHERE)


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



def test_queries_answer_as_moto_own_query(dynamodb: Any) -> None:
    table = _table(dynamodb)
    answers = {}
    for narrowed in (False, True):
        moto_patches.NARROW_QUERIES = narrowed
        answers[narrowed] = [_pages(dynamodb, **query) for query in _queries(table)]
    assert len(answers[True]) == 28
    assert sum(len(page["Items"]) for pages in answers[True] for page in pages) > 150  # (answers, not all empty)
    assert answers[True] == answers[False]


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _transactions(table: str) -> list[list[dict[str, Any]]]:
    fresh = {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)"}
    return [
        # Applied: a new item in a new partition, one changed, one deleted.
        [{"Put": {**fresh, "Item": {**_key("new", "1"), "v": {"N": "1"}}}},
         {"Update": {"TableName": table, "Key": _key("a", "1"), "UpdateExpression": "SET v = v + :one",
                     "ExpressionAttributeValues": {":one": {"N": "1"}}}},
         {"Delete": {"TableName": table, "Key": _key("a", "2")}}],
        # Cancelled by a failed condition after writes that must be undone (a new partition among them).
        [{"Put": {**fresh, "Item": {**_key("undone", "1"), "v": {"N": "9"}}}},
         {"Put": {"TableName": table, "Item": {**_key("a", "3"), "v": {"S": "replaced"}}}},
         {"Update": {"TableName": table, "Key": _key("a", "1"), "UpdateExpression": "SET w = :w",
                     "ExpressionAttributeValues": {":w": {"S": "undone"}}}},
         {"Delete": {"TableName": table, "Key": _key("b", "1")}},
         {"ConditionCheck": {"TableName": table, "Key": _key("b", "2"), "ConditionExpression": "v = :no",
                             "ExpressionAttributeValues": {":no": {"N": "-1"}}}}],
        # Cancelled by a put on an existing key of a partition that has others.
        [{"Put": {**fresh, "Item": {**_key("a", "4"), "v": {"N": "4"}}}},
         {"Put": {**fresh, "Item": {**_key("a", "3")}}}],
        # Refused: one item named twice.
        [{"Put": {"TableName": table, "Item": {**_key("c", "1")}}},
         {"Delete": {"TableName": table, "Key": _key("c", "1")}}],
        # Applied: a condition that holds.
        [{"ConditionCheck": {"TableName": table, "Key": _key("b", "2"), "ConditionExpression": "attribute_exists(v)"}},
         {"Put": {"TableName": table, "Item": {**_key("b", "9"), "m": {"M": {"x": {"L": [{"S": "y"}]}}}}}}],
    ]


def _outcomes(dynamodb: Any, table: str) -> list[Any]:
    dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    for pk, sk in (("a", "1"), ("a", "2"), ("a", "3"), ("b", "1"), ("b", "2")):
        dynamodb.put_item(TableName=table, Item={**_key(pk, sk), "v": {"N": "0"}})
    outcomes: list[Any] = []
    for transaction in _transactions(table):
        try:
            dynamodb.transact_write_items(TransactItems=transaction)
            outcomes.append("applied")
        except botocore.exceptions.ClientError as error:
            outcomes.append((error.response["Error"]["Code"], error.response.get("CancellationReasons")))
        items = dynamodb.scan(TableName=table)["Items"]
        outcomes.append(sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])))
    dynamodb.delete_table(TableName=table)
    return outcomes



def test_transactions_end_as_with_moto_own_backup(dynamodb: Any) -> None:
    table = f"t-{uuid.uuid4().hex[:8]}"
    outcomes = {}
    for light in (False, True):
        moto_patches.LIGHT_TRANSACTION_BACKUP = light
        outcomes[light] = _outcomes(dynamodb, table)
    codes = [o if o == "applied" else o[0] for o in outcomes[True][::2]]
    assert codes == ["applied", "TransactionCanceledException", "TransactionCanceledException",
                     "ValidationException", "applied"]
    assert outcomes[True] == outcomes[False]


COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]


def _queue_story(sqs: Any, fifo: bool) -> list[Any]:
    """Messages sent, delayed, received, hidden and shown again on SQS's clock; what the queue says at each step."""
    clock = ManualClock(1_700_000_000.0)
    moto_patches.use_clock(clock)
    name = f"q-{uuid.uuid4().hex[:8]}" + (".fifo" if fifo else "")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "20", **(
        {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {})})["QueueUrl"]
    group = {"MessageGroupId": "g"} if fifo else {}
    seen: list[Any] = []

    def look() -> None:
        every = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        asked = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]
        seen.append(([every[c] for c in COUNTS], asked))

    def receive(count: int, **visibility: Any) -> list[Any]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, **visibility).get("Messages", [])
        seen.append(sorted(m["Body"] for m in got))
        return got

    for n in range(6):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", **group,
                         **({} if fifo or n % 3 else {"DelaySeconds": 30}))
    look()
    first = receive(2)
    clock.advance(10)
    look()
    if first:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    clock.advance(0.001)
    look()
    receive(10, VisibilityTimeout=5)
    look()
    clock.advance(25)
    look()
    for message in receive(10):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    clock.advance(31)
    look()
    sqs.delete_queue(QueueUrl=url)
    return seen


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_queue_counts_at_one_moment_are_moto_own(sqs: Any, fifo: bool) -> None:
    stories = {}
    for one_moment in (False, True):
        moto_patches.ONE_MOMENT_COUNTS = one_moment
        stories[one_moment] = _queue_story(sqs, fifo)
    assert any(isinstance(step, tuple) and len(set(step[0])) == 3 for step in stories[True]), \
        "a look at the queue with visible, hidden and delayed messages at once"
    assert stories[True] == stories[False]


def _every_type(n: int) -> dict[str, Any]:
    return {"pk": {"S": "every"}, "sk": {"S": f"S{n}"}, "n": {"N": str(n * 1.5)}, "b": {"B": bytes([n, 0, 255])},
            "ss": {"SS": ["x", f"y{n}"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x00", b"\x01\x02"]},
            "nul": {"NULL": True}, "yes": {"BOOL": n % 2 == 0}, "empty": {"S": ""},
            "m": {"M": {"inner": {"L": [{"S": "a"}, {"N": "3"}, {"M": {"deep": {"BOOL": False}}}, {"NULL": True}]},
                        "none": {"M": {}}, "bytes": {"B": b"\xff"}}},
            "l": {"L": [{"SS": ["p"]}, {"L": []}, {"BS": [b"q"]}]}}


def _answers(dynamodb: Any, table: str) -> list[Any]:
    key = {"pk": {"S": "every"}, "sk": {"S": "S1"}}
    calls = [
        lambda: dynamodb.get_item(TableName=table, Key=key),
        lambda: dynamodb.query(TableName=table, KeyConditionExpression="pk = :p",
                               ExpressionAttributeValues={":p": {"S": "every"}}),
        lambda: dynamodb.scan(TableName=table, Limit=2),
        lambda: dynamodb.batch_get_item(RequestItems={table: {"Keys": [key]}}),
        lambda: dynamodb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}]),
        lambda: dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET ss = ss", ReturnValues="ALL_NEW"),
        lambda: dynamodb.put_item(TableName=table, Item=_every_type(1), ReturnValues="ALL_OLD"),
    ]
    answers = []
    for call in calls:
        answer = call()
        answer.pop("ResponseMetadata", None)
        answers.append(answer)
    return answers


def test_items_in_answers_are_moto_own_whatever_their_types(dynamodb: Any) -> None:
    table = _table(dynamodb)
    for n in range(3):
        dynamodb.put_item(TableName=table, Item=_every_type(n))
    answers = {}
    for direct in (False, True):
        moto_patches.DIRECT_ATTRIBUTE_VALUES = direct
        answers[direct] = _answers(dynamodb, table)
    assert answers[True][0]["Item"] == _every_type(1)
    assert answers[True] == answers[False]
