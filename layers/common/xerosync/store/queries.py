"""DynamoDB's paged query, written once: every store that reads more than one page of a query goes through here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def query_pages(table: Any, **query: Any) -> Iterator[dict[str, Any]]:
    """The responses of ``table.query(**query)``, one page after another, each asked for only when the caller takes
    it, until DynamoDB names no further key (a caller that stops early reads no more pages)."""
    while True:
        page = table.query(**query)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def query_items(table: Any, **query: Any) -> Iterator[dict[str, Any]]:
    """The items of ``table.query(**query)``, page after page until DynamoDB names no further key."""
    for page in query_pages(table, **query):
        yield from page.get("Items", [])
