"""The minute's sweeper of Spend Money batches killed on their last delivery (docs/sync-expenses.md).

A batch's last delivery marks itself before it works (``SyncJobStore.mark_last_delivery``): if the Lambda is
killed at its timeout, SQS moves the message to the dead-letter queue and nothing in the worker runs again for
it. Once such a delivery began longer ago than any delivery can last (``ABANDONED_AFTER_SECONDS``) and the batch
was never counted, the sweeper settles it as the worker would have on a failure: its expenses still QUEUED end
Sync error with the reason and the way out, and the job's progress counts them, so nothing waits without a word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xerosync.expenses.decisions import ABANDONED_AFTER_SECONDS
from xerosync.expenses.store import SyncJobStore
from xerosync.expenses.worker import SpendMoneyWorker
from xerosync.observability import metrics

TIME_MARGIN_SECONDS = 10.0


@dataclass
class AbandonedBatchSweeper:
    jobs: SyncJobStore
    worker: SpendMoneyWorker

    def sweep(self, now: float, time_left: Callable[[], float]) -> int:
        """Settle what is due; returns how many batches it settled (a batch counted meanwhile only leaves the
        index). Stops with time to spare; the next minute's run goes on."""
        settled = 0
        while time_left() > TIME_MARGIN_SECONDS:
            due = self.jobs.last_deliveries(began_before=now - ABANDONED_AFTER_SECONDS)
            if not due:
                break
            for batch in due:
                if not self.jobs.counted(batch.business_id, batch.job_id, batch.batch):
                    self.worker.settle_abandoned(batch)
                    settled += 1
                self.jobs.forget_last_delivery(batch)
        metrics.add_metric(name="AbandonedBatchesSettled", unit="Count", value=settled)
        return settled
