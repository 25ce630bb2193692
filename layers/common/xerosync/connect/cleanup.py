"""What an ended connection, an unlink or a given-up consent leaves to do in Xero, bound to what it cleans.

A ``CleanupJob`` names its business, the *generation* whose grant it uses, and exactly what it removes: feed
connections, Xero connections, and (``end_grant``) the grant itself. It acts only on those, and only where
nothing newer uses them, so a job that waited in the queue while the business connected again can never
touch the new connection (docs/architecture.md, "Connection generations"):

- a feed connection is deleted unless a live link of the business uses it;
- a Xero connection is removed only if nobody holds it (``claims``): a reconnection to the same organisation
  by the same Xero user reuses the connection and holds it, so the old generation's job leaves it alone;
- the grant is revoked only if it reaches no connection at all any more (revoking removes every connection of
  the Xero user), then the generation's tokens (its own item, never another's) are wiped.

Done at once when Xero answers; otherwise by the cleanup queue's consumer, which retries (and ends in the
dead-letter queue, with an alarm, if Xero never does). Every step is safe to repeat.
"""

import contextlib
import hashlib
import json

from pydantic import Field

from xerosync.clock import Clock
from xerosync.connect.ports import BusinessFeeds, CleanupSession, CleanupXero, JobSender, RemovalClaims
from xerosync.model import Model
from xerosync.observability import logger, metrics
from xerosync.xero.errors import ReconnectRequired, XeroForbidden, XeroInvalidGrant, XeroUnauthorised


class CleanupJob(Model):
    business_id: str
    tenant_id: str  # the organisation of the feed connections (and the message group)
    generation: str  # whose grant does the work
    feed_connection_ids: list[str] = Field(default_factory=list)
    xero_connection_ids: list[str] = Field(default_factory=list)
    end_grant: bool = False  # revoke the grant if it reaches nothing any more, and wipe its tokens

    def deduplication_id(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class XeroCleanup:
    def __init__(self, xero: CleanupXero, claims: RemovalClaims, feeds: BusinessFeeds, clock: Clock) -> None:
        self.xero = xero
        self.claims = claims
        self.feeds = feeds
        self.clock = clock

    def run(self, job: CleanupJob) -> None:
        session = self.xero.session_for_generation(job.business_id, job.tenant_id, job.generation, retired_ok=True)
        try:
            token = session.access_token()
        except ReconnectRequired:
            # The grant is dead or already wiped (revoked, removed in Xero, an earlier run finished): nothing in
            # Xero can be reached with it any more.
            logger.info("cleanup without a usable grant: only the generation's tokens are removed",
                        extra={"business_id": job.business_id, "generation": job.generation})
        else:
            try:
                self._in_xero(job, session, token)
            except ReconnectRequired:
                logger.info("Xero cut the connection during cleanup: nothing left to remove there",
                            extra={"business_id": job.business_id, "generation": job.generation})
        if job.end_grant:
            self.xero.vault.wipe(job.business_id, job.generation)

    def _in_xero(self, job: CleanupJob, session: CleanupSession, token: str) -> None:
        in_use = {f.feed_connection_id for f in self.feeds.for_business(job.business_id) if f.is_live}
        feed_ids = [i for i in job.feed_connection_ids if i not in in_use]
        if feed_ids:
            for result in session.delete_feed_connections(feed_ids):
                if result.status == "REJECTED" and result.error and result.error.type not in (
                        "feed-not-found-or-already-deleted", None):
                    logger.warning("Xero kept a feed connection", extra={"problem": result.error.type})
        for connection_id in job.xero_connection_ids:
            self._remove_unless_held(connection_id, token)
        if job.end_grant:
            self._revoke_unless_in_use(job, token)

    def _remove_unless_held(self, connection_id: str, token: str) -> None:
        lease = self.claims.begin_removal(connection_id, self.clock.time())
        if lease is None:
            logger.info("kept a Xero connection that is held", extra={"connection_id": connection_id})
            return
        removed = False
        try:
            self.xero.identity.delete_connection(token, connection_id)  # False: Xero no longer had it
            removed = True
            metrics.add_metric(name="XeroConnectionsRemoved", unit="Count", value=1)
        finally:
            self.claims.end_removal(connection_id, lease, removed=removed)

    def _revoke_unless_in_use(self, job: CleanupJob, token: str) -> None:
        """Revoking removes every connection the Xero user gave the app, which may be another business's (one
        person connecting several entities) or this business's new one: only a grant that reaches nothing any
        more is revoked; otherwise its tokens are just wiped here."""
        try:
            remaining = self.xero.identity.connections(token)
        except (XeroUnauthorised, XeroForbidden, ReconnectRequired, XeroInvalidGrant):
            remaining = []  # the grant no longer reaches Xero: nothing hangs on it
        if remaining:
            logger.info("tokens wiped without revoking: the Xero user keeps other connections to the app",
                        extra={"business_id": job.business_id, "other_connections": len(remaining)})
            return
        stored = self.xero.vault.load(job.business_id, job.generation)
        if stored is not None and stored.tokens is not None:
            with contextlib.suppress(XeroInvalidGrant):  # already revoked
                self.xero.identity.revoke(stored.tokens.refresh_token)


class CleanupRunner:
    """Cleans up in Xero now; on any failure hands the job to the cleanup queue (the user is never held)."""

    def __init__(self, cleanup: XeroCleanup, queue: JobSender) -> None:
        self.cleanup = cleanup
        self.queue = queue

    def clean_or_queue(self, job: CleanupJob) -> bool:
        try:
            self.cleanup.run(job)
            return True
        except Exception as error:  # Xero down, rate-limited, anything: the queue retries
            logger.warning("Xero cleanup deferred to the queue", extra={"error": type(error).__name__,
                                                                        "business_id": job.business_id})
            self.queue.send(job)
            return False


def job_from_body(body: str) -> CleanupJob:
    return CleanupJob.model_validate(json.loads(body))
