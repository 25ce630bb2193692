"""Work the soak skips because its answer is known without doing it; none of it changes what the product does or
what moto answers (docs/soak.md, "Where the time goes").

- An idle SQS poller's receive: the local runner's pollers receive every half second when idle, and at every
  wake, as Lambda polls; each receive is a full AWS call (built, signed, parsed by moto, answered). The driver
  knows from moto's queue (in this process) whether a receive would hand anything out; when it would not, the
  receive is not made: it would have answered no messages and changed nothing (a FIFO group stays held, a
  hidden message stays hidden).
- SigV4 signatures on calls handed to moto in this process (``local/aws_in_process.py``): moto never checks a
  signature; it reads the access key and region from the Authorization header's credential scope, which is kept
  (the signature itself is not computed). Requests to anything else, and presigned URLs, are signed as before.
- moto's generic response serialiser on DynamoDB's item reads and writes (a fifth of a soak's time): it walks
  the operation's output shape for every attribute of every item. The answer moto built is already in
  DynamoDB's wire form (attribute values as ``{"S": ...}``), so it is written as JSON directly: what botocore
  reads back is the same (``tests/integration/local_runner/test_soak_shortcuts.py`` compares the two on every
  such operation); every other operation, and every error, is serialised by moto as before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.signers import RequestSigner
from moto.dynamodb.responses import DynamoResult

from local import aws_in_process

_signed = RequestSigner.sign
_serialised_by_moto = DynamoResult.execute_result
# The item operations whose answer moto builds in DynamoDB's wire form (a DynamoResult of plain dicts).
ITEM_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                             "TransactGetItems"})


def receive_only_when_ready(mapping: Any, ready: Callable[[], bool]) -> None:
    """Make ``mapping``'s receive a no-op (no messages) while ``ready()`` says its queue has none to hand out."""
    receive = mapping._receive

    def _receive() -> list[dict[str, Any]]:
        return receive() if ready() else []

    mapping._receive = _receive


def sign_cheaply_in_process(on: bool = True) -> None:
    """Skip computing SigV4 signatures of requests that go to moto in this process (``on=False``: sign again)."""
    RequestSigner.sign = _unsigned_in_process if on else _signed


def _unsigned_in_process(self: RequestSigner, operation_name: str, request: Any, region_name: str | None = None,
                         signing_type: str = "standard", expires_in: int | None = None,
                         signing_name: str | None = None) -> None:
    if signing_type != "standard" or not aws_in_process.handles(str(request.url)):
        return _signed(self, operation_name, request, region_name=region_name, signing_type=signing_type,
                       expires_in=expires_in, signing_name=signing_name)
    credentials = self._credentials.get_frozen_credentials() if self._credentials is not None else None
    key = credentials.access_key if credentials is not None else "anonymous"
    moment = datetime.now(UTC)
    scope = f"{moment:%Y%m%d}/{region_name or self._region_name}/{signing_name or self._signing_name}/aws4_request"
    for name in ("Authorization", "X-Amz-Date"):
        if name in request.headers:
            del request.headers[name]
    request.headers["X-Amz-Date"] = f"{moment:%Y%m%dT%H%M%SZ}"
    request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{scope}, "
                                        "SignedHeaders=host;x-amz-date, Signature=not-computed-in-process")
    return None


def answer_items_directly(on: bool = True) -> None:
    """Write moto's answers to DynamoDB's item operations as JSON directly (``on=False``: moto's serialiser)."""
    DynamoResult.execute_result = _item_answer if on else _serialised_by_moto  # type: ignore[method-assign,assignment]


def _item_answer(self: DynamoResult, context: Any) -> Any:
    operation = context.operation_model
    if operation.name not in ITEM_OPERATIONS or not isinstance(self.result, dict):
        return _serialised_by_moto(self, context)
    version = operation.service_model.metadata.get("jsonVersion", "1.0")
    return 200, {"Content-Type": f"application/x-amz-json-{version}"}, json.dumps(_wire(self.result))


def _wire(value: Any) -> Any:
    """JSON's form of a DynamoDB answer as the serialiser writes it: no nulls, blobs in base64."""
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_wire(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    return value
