"""DynamoDB's answer to a conditional write that lost: the one way the stores recognise it, and conditional writes
that say whether they won."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


def condition_failed(error: ClientError) -> bool:
    """True when DynamoDB refused a write because its condition did not hold (another writer won)."""
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def failed_conditions(error: ClientError) -> list[bool] | None:
    """For a transaction DynamoDB cancelled, whether each of its actions' condition failed, in the order the actions
    were given; None when ``error`` is not a cancelled transaction."""
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return None
    return [reason.get("Code") == "ConditionalCheckFailed" for reason in error.response.get("CancellationReasons", [])]


def written_if(write: Callable[..., Any], **request: Any) -> bool:
    """``write(**request)`` (a table's ``put_item``, ``update_item`` or ``delete_item``), whose
    ``ConditionExpression`` decides: True if it was written, False if the condition did not hold. Other errors
    propagate."""
    return _response_if(write, **request) is not None


def _response_if(write: Callable[..., Any], **request: Any) -> dict[str, Any] | None:
    """``write(**request)``'s response if it was written, None if its ``ConditionExpression`` did not hold."""
    try:
        return dict(write(**request) or {})
    except ClientError as error:
        if condition_failed(error):
            return None
        raise


def update_if(table: Any, **update: Any) -> bool:
    """``table.update_item(**update)``, whose ``ConditionExpression`` decides: True if it was written, False if the
    condition did not hold (another writer won, or there was nothing to change). Other errors propagate."""
    return written_if(table.update_item, **update)


def update_if_returning(table: Any, **update: Any) -> dict[str, Any] | None:
    """``table.update_item(**update)``'s response (with the ``Attributes`` its ``ReturnValues`` asked for) if it was
    written, None if its ``ConditionExpression`` did not hold. Other errors propagate."""
    return _response_if(table.update_item, **update)


def put_if(table: Any, **put: Any) -> bool:
    """``table.put_item(**put)``, whose ``ConditionExpression`` decides, as ``update_if``."""
    return written_if(table.put_item, **put)


def delete_if(table: Any, **delete: Any) -> bool:
    """``table.delete_item(**delete)``, whose ``ConditionExpression`` decides, as ``update_if``."""
    return written_if(table.delete_item, **delete)
