"""SQS adapters: Spend Money batches to the worker, receipts to the attachments worker.

Both queues are FIFO with one message group per business on its organisation (``tenant:business``): one
business's work is serial (a batch never races another for the same expense), while the businesses that share
an organisation proceed side by side, in the fair shares of the organisation's Xero budget that the rate
governor gives them (docs/architecture.md). Deduplication ids are deterministic, so a request or a batch that
is retried within SQS's five-minute window does not queue the same work twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from xerosync.sync_expenses.models import AttachmentUploadRequest, SpendMoneyBatch, SpendMoneyPlan

_SEND_BATCH = 10  # SQS SendMessageBatch limit


class QueueSendError(RuntimeError):
    pass


def _dedup_id(*parts: object) -> str:
    # SQS allows 128 characters from a restricted set; a digest keeps any id shape within both.
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


class FifoSender:
    """``sqs`` gives the SQS client, asked for on the first send: a function that may never send (an API request
    that starts no sync, a batch without receipts) does not build it (docs/architecture.md, "Cold start")."""

    def __init__(self, sqs: Callable[[], Any], queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def send(self, messages: Sequence[tuple[BaseModel, str, str]]) -> None:
        """Send (body, group id, deduplication id) triples, ten per call; any refusal raises."""
        for start in range(0, len(messages), _SEND_BATCH):
            entries = [{"Id": str(n), "MessageBody": body.model_dump_json(), "MessageGroupId": group,
                        "MessageDeduplicationId": dedup}
                       for n, (body, group, dedup) in enumerate(messages[start:start + _SEND_BATCH])]
            response = self._sqs().send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                raise QueueSendError(f"SQS refused {len(response['Failed'])} messages: {response['Failed'][0]}")


def business_group(tenant_id: str, business_id: str) -> str:
    """The message group of one business's work on one organisation."""
    return f"{tenant_id}:{business_id}"[:128]


class SpendMoneyQueue:
    def __init__(self, sender: FifoSender) -> None:
        self.sender = sender

    def send(self, batches: Sequence[SpendMoneyBatch]) -> None:
        self.sender.send([(b, business_group(b.tenant_id, b.business_id), _dedup_id(b.job_id, b.batch))
                          for b in batches])

    def plan(self, message: SpendMoneyPlan) -> None:
        """A started job's plan, in a group of its own per business: planning never waits behind the business's
        earlier batches (each waiting on Xero), and the batches it sends go behind them."""
        self.sender.send([(message, f"{business_group(message.tenant_id, message.business_id)}:plan"[:128],
                           _dedup_id("plan", message.job_id))])


class AttachmentUploads:
    def __init__(self, sender: FifoSender) -> None:
        self.sender = sender

    def send(self, requests: Sequence[AttachmentUploadRequest]) -> None:
        self.sender.send([(r, business_group(r.tenant_id, r.business_id), _dedup_id(
            r.business_id, r.transaction_id, r.bank_transaction_id, r.expense_version)) for r in requests])

    def send_again(self, request: AttachmentUploadRequest, attempt: str) -> None:
        """The user's retry: its own deduplication (one message per ``attempt``, e.g. the expense's version)."""
        self.sender.send([(request, business_group(request.tenant_id, request.business_id), _dedup_id(
            request.business_id, request.transaction_id, request.bank_transaction_id, "again", attempt))])
