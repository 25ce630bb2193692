"""What a disconnect or an unlink leaves to do in Xero: remove feed connections, remove the organisation's
connection, revoke the grant, wipe the tokens. Done at once when Xero answers, otherwise by the cleanup
queue's consumer, which retries (and ends in the dead-letter queue, with an alarm, if Xero never does).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from xerosync.observability import logger
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import ReconnectRequired, XeroForbidden, XeroInvalidGrant, XeroUnauthorised


class CleanupJob(BaseModel):
    business_id: str
    tenant_id: str
    feed_connection_ids: list[str] = Field(default_factory=list)
    xero_connection_id: str | None = None
    remove_connection: bool = False
    wipe_tokens: bool = False

    def deduplication_id(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class XeroCleanup:
    def __init__(self, xero: XeroClient) -> None:
        self.xero = xero

    def run(self, job: CleanupJob) -> None:
        """Each step is safe to repeat: an already removed feed or connection counts as removed."""
        try:
            token = self.xero.tokens.access_token(job.business_id)
        except ReconnectRequired:
            # The grant is already dead (revoked, or removed in Xero): nothing in Xero can be reached with it.
            logger.info("cleanup without a usable grant: only the local tokens are removed",
                        extra={"business_id": job.business_id})
            self._wipe(job)
            return
        try:
            self._in_xero(job, token)
        except ReconnectRequired:
            logger.info("Xero cut the connection during cleanup: nothing left to remove there",
                        extra={"business_id": job.business_id})
        self._wipe(job)

    def _in_xero(self, job: CleanupJob, token: str) -> None:
        session = self.xero.session_for_tenant(job.business_id, job.tenant_id)
        if job.feed_connection_ids:
            for result in session.delete_feed_connections(job.feed_connection_ids):
                if result.status == "REJECTED" and result.error and result.error.type not in (
                        "feed-not-found-or-already-deleted", None):
                    logger.warning("Xero kept a feed connection", extra={"problem": result.error.type})
        if job.remove_connection and job.xero_connection_id:
            self.xero.identity.delete_connection(token, job.xero_connection_id)
        if job.wipe_tokens and job.remove_connection:
            stored = self.xero.vault.load(job.business_id)
            if stored is not None and not self._user_keeps_other_connections(token, job):
                with contextlib.suppress(XeroInvalidGrant):  # already revoked
                    self.xero.identity.revoke(stored.tokens.refresh_token)

    def _user_keeps_other_connections(self, token: str, job: CleanupJob) -> bool:
        """Revoking removes every connection the Xero user gave the app, which may include another business's
        organisation (one person connecting several entities): then the tokens are only wiped here."""
        try:
            remaining = [c for c in self.xero.identity.connections(token) if c.id != job.xero_connection_id]
        except (XeroUnauthorised, XeroForbidden, ReconnectRequired, XeroInvalidGrant):
            return False  # the grant no longer reaches Xero: nothing else hangs on it
        if remaining:
            logger.info("tokens wiped without revoking: the Xero user keeps other connections to the app",
                        extra={"business_id": job.business_id, "other_connections": len(remaining)})
        return bool(remaining)

    def _wipe(self, job: CleanupJob) -> None:
        if job.wipe_tokens:
            self.xero.vault.wipe(job.business_id)


class CleanupQueue:
    """Sends cleanup jobs to the FIFO cleanup queue, one message group per Xero tenant."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, job: CleanupJob) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=job.model_dump_json(),
                              MessageGroupId=job.tenant_id, MessageDeduplicationId=job.deduplication_id())


def job_from_body(body: str) -> CleanupJob:
    return CleanupJob.model_validate(json.loads(body))
