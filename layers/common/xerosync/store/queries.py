"""DynamoDB's paged query, read to the end: one loop for every store that needs all of a query's items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def query_items(table: Any, **query: Any) -> Iterator[dict[str, Any]]:
    """The items of ``table.query(**query)``, page after page until DynamoDB names no further key."""
    while True:
        page = table.query(**query)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}
