"""Queue consumer: finishes in Xero what a disconnect or an unlink could not do at once.

Every step is safe to repeat. While Xero is unreachable the message comes back (or, after maxReceiveCount,
reaches the dead-letter queue, which raises an alarm); Xero's rate limits hand it back for Retry-After.
"""

from __future__ import annotations

from typing import Any

# Before anything loads pydantic: Powertools' batch utility builds its parser's event models (two dozen pydantic
# models this function never uses) when it finds pydantic loaded (docs/architecture.md, "Cold start").
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.connect.cleanup import job_from_body
from xerosync.connect.wiring import get_connect
from xerosync.observability import instrument, logger
from xerosync.queue import consume


def _clean(record: SQSRecord) -> None:
    job = job_from_body(record.body)
    logger.append_keys(business_id=job.business_id, tenant_id=job.tenant_id, generation=job.generation)
    get_connect().cleanup.run(job)
    logger.info("Xero cleanup done", extra={"feed_connections": len(job.feed_connection_ids),
                                            "xero_connections": len(job.xero_connection_ids)})


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, _clean)
