"""Queue consumer of AttachmentsQueue (FIFO, group = Xero tenant): one message is one synced expense whose
receipts are to be in its Spend Money; each missing file is one Xero call (xerosync.attachments).

A 429 or the governor's wait returns the message for later (``xerosync.queue.consume``); other failures let
SQS redeliver it until the DLQ, whose alarm tells a person. The last delivery first marks the receipts not in
Xero failed, with the reason and the way out, so that none is left "on the way". What is already in Xero is
never sent again.
"""

from __future__ import annotations

from typing import Any

# Before anything loads pydantic: Powertools' batch utility builds its parser's event models (two dozen pydantic
# models this function never uses) when it finds pydantic loaded (docs/architecture.md, "Cold start").
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# Every message runs the receipts worker: it loads with the handler (docs/architecture.md, "Cold start").
from xerosync.attachments import service  # noqa: F401
from xerosync.attachments.wiring import get_receipts_worker
from xerosync.observability import instrument, logger
from xerosync.queue import consume, receives
from xerosync.settings import get_settings
from xerosync.sync_expenses.models import AttachmentUploadRequest


def _process(record: SQSRecord) -> None:
    request = AttachmentUploadRequest.model_validate_json(record.body)
    logger.append_keys(transaction_id=request.transaction_id, tenant_id=request.tenant_id)
    try:
        last_delivery = receives(record) >= get_settings().receipt_upload_max_receives
        get_receipts_worker().process(request, last_delivery=last_delivery)
    finally:
        logger.remove_keys(["transaction_id", "tenant_id"])


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, _process)
