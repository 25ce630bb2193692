"""DynamoDB's answer to a conditional write that lost: the one way the stores recognise it, and a conditional
update that says whether it won."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def condition_failed(error: ClientError) -> bool:
    """True when DynamoDB refused a write because its condition did not hold (another writer won)."""
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def update_if(table: Any, **update: Any) -> bool:
    """``table.update_item(**update)``, whose ``ConditionExpression`` decides: True if it was written, False if the
    condition did not hold (another writer won, or there was nothing to change). Other errors propagate."""
    try:
        table.update_item(**update)
    except ClientError as error:
        if condition_failed(error):
            return False
        raise
    return True
