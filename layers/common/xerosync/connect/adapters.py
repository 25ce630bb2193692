"""The connect feature's AWS adapter that is not a DynamoDB store (those are ``xerosync.store``'s): the cleanup
queue. Clients come in built (``xerosync.aws``), so tests pass moto-backed ones."""

from __future__ import annotations

from typing import Any

from xerosync.connect.cleanup import CleanupJob


class SqsCleanupQueue:
    """Sends cleanup jobs to the FIFO cleanup queue, one message group per Xero tenant (``ports.JobSender``)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, job: CleanupJob) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=job.model_dump_json(),
                              MessageGroupId=job.tenant_id, MessageDeduplicationId=job.deduplication_id())
