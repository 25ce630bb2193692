"""DynamoDB's answer to a conditional write that lost: the one way the stores recognise it."""

from __future__ import annotations

from botocore.exceptions import ClientError


def condition_failed(error: ClientError) -> bool:
    """True when DynamoDB refused a write because its condition did not hold (another writer won)."""
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"
