"""The minute's sweeper of Spend Money batches nobody will count (docs/sync-expenses.md).

A batch's last delivery marks itself before it works (``SyncJobStore.mark_last_delivery``): if the Lambda is
killed at its timeout, SQS moves the message to the dead-letter queue and nothing in the worker runs again for
it. Once such a delivery began longer ago than any delivery can last (``ABANDONED_AFTER_SECONDS``) and the batch
was never counted, the sweeper settles it as the worker would have on a failure: its expenses still QUEUED end
Sync error with the reason and the way out, and the job's progress counts them, so nothing waits without a word.

The mark is one write, and a batch can end its expenses and still go uncounted without it: a delivery ends them
and dies before counting, and every later delivery (which finds nothing left to send, so marks nothing) fails
to count until the message is dead-lettered. So the sweeper also checks each running job (indexed from its
dispatch until it completes, every ``ABANDONED_AFTER_SECONDS``): a batch no delivery counted whose expenses
are no longer QUEUED by the job is counted as what they became, their receipts handed over and their payees'
histories taught what was synced, as a delivery's count would; one whose expenses are still QUEUED is left to
SQS, until the job is older than any delivery, retry or parked wait lasts (``STUCK_JOB_SECONDS``), when they end
Sync error as above. Counting is once per batch, whoever counts first; teaching is the worker's, at most once
in effect: a batch a delivery and the sweeper both end teaches the same entries twice, and the second changes
nothing (``Suggestions.learn``: an expense's entry is replaced, not added, and an unchanged summary is not
written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from xerosync.clock import from_iso, iso
from xerosync.observability import logger, metrics
from xerosync.sync_expenses.decisions import ABANDONED_AFTER_SECONDS, STUCK_JOB_SECONDS
from xerosync.sync_expenses.models import SpendMoneyBatch
from xerosync.sync_expenses.store import SyncJobStore
from xerosync.sync_expenses.worker import SpendMoneyWorker

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
        settled += self._check_running_jobs(now, time_left)
        metrics.add_metric(name="AbandonedBatchesSettled", unit="Count", value=settled)
        return settled

    def _check_running_jobs(self, now: float, time_left: Callable[[], float]) -> int:
        settled = 0
        while time_left() > TIME_MARGIN_SECONDS:
            due = self.jobs.running_jobs(check_before=now)
            if not due:
                break
            for business_id, job_id in due:
                if time_left() <= TIME_MARGIN_SECONDS:
                    return settled
                try:
                    settled += self._check(business_id, job_id, now)
                except Exception:
                    # One job's trouble does not hold the others up: it is checked again at its next turn.
                    logger.exception("checking a running sync job failed", extra={"job_id": job_id})
                # Every job read leaves the due part of the index: completed (removed) or checked again later.
                self.jobs.check_later(business_id, job_id, now + ABANDONED_AFTER_SECONDS)
        return settled

    def _check(self, business_id: str, job_id: str, now: float) -> int:
        found = self.jobs.get_with_counted(business_id, job_id)
        if found is None or found[0].completed_at is not None:
            self.jobs.forget_running(business_id, job_id)
            return 0
        job, counted = found
        # Past every delivery, retry and parked wait: what is still QUEUED by the job, nobody will send.
        beyond_every_delivery = now - from_iso(job.created_at).timestamp() > STUCK_JOB_SECONDS
        settled = 0
        for number, planned in enumerate(job.batches):
            if number in counted:
                continue
            batch = SpendMoneyBatch(business_id=business_id, tenant_id=job.tenant_id, generation=job.generation or "",
                                    job_id=job_id, batch=number, operation=planned.operation,
                                    transaction_ids=planned.transaction_ids)
            if self.worker.settle_abandoned(batch, only_if_ended=not beyond_every_delivery) is not None:
                settled += 1
        # A job with nothing left to count (its planner died between dispatching and completing it) completes.
        self.jobs.complete_if_done(business_id, job_id, iso(datetime.fromtimestamp(now, tz=UTC)))
        return settled
