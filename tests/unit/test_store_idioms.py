"""The two DynamoDB idioms every store shares, written once in ``xerosync.store``: reading a paged query, and telling
a conditional write that lost from any other failure."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from xerosync.store.conditions import (
    condition_failed,
    delete_if,
    failed_conditions,
    put_if,
    update_if,
    update_if_returning,
)
from xerosync.store.queries import query_items, query_pages


class PagedTable:
    """Answers ``query`` as DynamoDB does: at most ``page_size`` items, with a ``LastEvaluatedKey`` while more
    remain, resuming after ``ExclusiveStartKey``."""

    def __init__(self, count: int, page_size: int) -> None:
        self.items = [{"pk": "P", "sk": f"{n:03d}"} for n in range(count)]
        self.page_size = page_size
        self.calls: list[dict[str, Any]] = []

    def query(self, **query: Any) -> dict[str, Any]:
        self.calls.append(query)
        start = query.get("ExclusiveStartKey")
        after = next(i + 1 for i, item in enumerate(self.items) if item == start) if start else 0
        page = self.items[after:after + self.page_size]
        answer: dict[str, Any] = {"Items": page, "Count": len(page)}
        if after + self.page_size < len(self.items):
            answer["LastEvaluatedKey"] = page[-1]
        return answer


def test_query_items_reads_every_page_resuming_where_the_last_stopped() -> None:
    table = PagedTable(count=7, page_size=3)
    query = {"KeyConditionExpression": "pk = :p", "ConsistentRead": True}
    assert [item["sk"] for item in query_items(table, **query)] == [f"{n:03d}" for n in range(7)]
    assert [call.get("ExclusiveStartKey") for call in table.calls] == [None, {"pk": "P", "sk": "002"},
                                                                        {"pk": "P", "sk": "005"}]
    assert all(call["ConsistentRead"] for call in table.calls)
    assert query == {"KeyConditionExpression": "pk = :p", "ConsistentRead": True}  # the caller's query untouched


def test_query_pages_asks_for_a_page_only_when_the_caller_takes_it() -> None:
    table = PagedTable(count=10, page_size=2)
    pages = query_pages(table, ExclusiveStartKey={"pk": "P", "sk": "003"})
    first = next(pages)
    assert [item["sk"] for item in first["Items"]] == ["004", "005"] and "LastEvaluatedKey" in first
    assert len(table.calls) == 1
    pages.close()
    assert len(table.calls) == 1


def test_a_single_page_query_is_one_call() -> None:
    table = PagedTable(count=2, page_size=5)
    assert len(list(query_items(table))) == 2
    assert len(table.calls) == 1


def _error(code: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, **extra}, "Operation")


class Writes:
    def __init__(self, error: ClientError | None) -> None:
        self.error = error
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def _write(self, kind: str, request: dict[str, Any]) -> None:
        self.requests.append((kind, request))
        if self.error:
            raise self.error

    def put_item(self, **request: Any) -> None:
        self._write("put", request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        self._write("update", request)
        return {"Attributes": {"pk": "a", "seen": 1}}

    def delete_item(self, **request: Any) -> None:
        self._write("delete", request)


@pytest.mark.parametrize("write", [put_if, update_if, delete_if])
def test_a_conditional_write_says_whether_it_won(write: Any) -> None:
    won = Writes(None)
    assert write(won, Key={"pk": "a"}, ConditionExpression="attribute_exists(pk)") is True
    assert won.requests[0][1] == {"Key": {"pk": "a"}, "ConditionExpression": "attribute_exists(pk)"}
    assert write(Writes(_error("ConditionalCheckFailedException")), Key={"pk": "a"}) is False


def test_a_conditional_update_that_won_keeps_the_response_for_its_return_values() -> None:
    won = Writes(None)
    assert update_if_returning(won, Key={"pk": "a"}, ReturnValues="ALL_OLD") == {"Attributes": {"pk": "a", "seen": 1}}
    assert won.requests == [("update", {"Key": {"pk": "a"}, "ReturnValues": "ALL_OLD"})]
    assert update_if_returning(Writes(_error("ConditionalCheckFailedException")), Key={"pk": "a"}) is None
    with pytest.raises(ClientError):
        update_if_returning(Writes(_error("ProvisionedThroughputExceededException")), Key={"pk": "a"})


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ValidationException",
                                  "TransactionCanceledException"])
def test_any_other_failure_of_a_conditional_write_propagates(code: str) -> None:
    with pytest.raises(ClientError) as raised:
        update_if(Writes(_error(code)), Key={"pk": "a"})
    assert raised.value.response["Error"]["Code"] == code
    assert not condition_failed(raised.value)


def test_a_cancelled_transaction_names_the_actions_whose_condition_failed() -> None:
    cancelled = _error("TransactionCanceledException", CancellationReasons=[
        {"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}])
    assert failed_conditions(cancelled) == [False, True]
    assert failed_conditions(_error("ConditionalCheckFailedException")) is None
    assert condition_failed(_error("ConditionalCheckFailedException"))
