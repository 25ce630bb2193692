"""Per expense, what happened to each receipt on its way to its Spend Money (main table, version-checked)."""

from typing import Any

from pydantic import Field

from xerosync.attachments.plan import UploadRecord
from xerosync.model import Model
from xerosync.store.conditions import put_if
from xerosync.store.keys import receipt_uploads_key


class ReceiptUploads(Model):
    business_id: str
    transaction_id: str
    bank_transaction_id: str
    records: dict[str, UploadRecord] = Field(default_factory=dict)  # by ledger attachment id
    updated_at: str | None = None
    version: int = 0


class StaleUploads(Exception):
    """Another worker wrote the same expense's receipts first."""


class ReceiptUploadStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, business_id: str, transaction_id: str) -> ReceiptUploads | None:
        key = receipt_uploads_key(business_id, transaction_id)
        item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        if not item:
            return None
        return ReceiptUploads.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk")})

    def save(self, uploads: ReceiptUploads) -> ReceiptUploads:
        stored = uploads.model_copy(update={"version": uploads.version + 1})
        item = {**receipt_uploads_key(uploads.business_id, uploads.transaction_id),
                **stored.model_dump(mode="json", exclude_none=True)}
        condition = "attribute_not_exists(pk)" if uploads.version == 0 else "version = :v"
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
        if uploads.version:
            kwargs["ExpressionAttributeValues"] = {":v": uploads.version}
        if not put_if(self.table, **kwargs):
            raise StaleUploads(uploads.transaction_id)
        return stored
