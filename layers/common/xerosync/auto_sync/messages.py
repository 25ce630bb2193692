"""The messages of auto-sync, and how they are grouped and deduplicated on their queues. Pure.

FeedSyncQueue (FIFO): one message names up to ``MAX_FEEDS_PER_MESSAGE`` feeds of one Xero tenant. The
message group is the tenant, so one organisation's work is serial (Xero allows 5 calls in flight and 60 a
minute per organisation) while organisations proceed in parallel. The deduplication id is deterministic:
a schedule that fires twice for one window sends the same ids, and SQS drops the repeats (for 5 minutes;
after that the worker's cursors make a repeat harmless).

DispatchQueue (standard): where the dispatcher continues itself when one invocation cannot reach every feed.
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ConfigDict, Field

from xerosync.model import Model

# One message's Xero calls must fit Xero's 60 per minute per organisation: about one status read per feed
# plus the statements calls. 40 feeds leave room for those and for a retry.
MAX_FEEDS_PER_MESSAGE = 40
SCHEDULE_PERIOD_SECONDS = 3 * 3600  # the help centre's promise: every 3 hours
_MAX_ORIGIN = 100  # SQS allows 128 characters of deduplication id; continuations add a suffix


class FeedRef(Model):
    model_config = ConfigDict(frozen=True)

    business_id: str = Field(min_length=1, max_length=128)
    account_id: str = Field(min_length=1, max_length=128)
    # The connection generation the feed was live in when the message was made: a message for an ended
    # generation is dropped by the worker, never sent with a newer connection's grant.
    generation: str = Field(min_length=1, max_length=64)


class LaneCharge(Model):
    """The statement POSTs the fast lane set aside for one sync (docs/auto-sync.md, "Fast lane", Settling): the
    window it took (``at``, the window record's ``next_at`` then) and how many. The worker settles it against the
    POSTs the sync really made."""

    model_config = ConfigDict(frozen=True)

    at: float = Field(gt=0)
    posts: int = Field(ge=1)


class FeedSyncRequest(Model):
    """Bring these feeds of one Xero tenant up to date."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str = Field(min_length=1, max_length=128)
    feeds: list[FeedRef] = Field(min_length=1, max_length=MAX_FEEDS_PER_MESSAGE)
    reason: str = Field(min_length=1, max_length=32)  # schedule, sync-now, linked...
    origin: str = Field(min_length=1, max_length=_MAX_ORIGIN)  # deduplication id of the chain's first message
    hop: int = Field(0, ge=0)  # continuations of a run too long for one invocation
    # A fast-lane sync that fits one message: what the lane set aside for it, settled after the run.
    charge: LaneCharge | None = None

    @property
    def group_id(self) -> str:
        return self.tenant_id

    @property
    def deduplication_id(self) -> str:
        return self.origin if self.hop == 0 else f"{self.origin}~{self.hop}"

    def by_connection(self) -> list[tuple[str, str, list[str]]]:
        """``(business, generation, accounts)`` in message order: each business's connection has its own grant."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for feed in self.feeds:
            accounts = grouped.setdefault((feed.business_id, feed.generation), [])
            if feed.account_id not in accounts:
                accounts.append(feed.account_id)
        return [(business, generation, accounts) for (business, generation), accounts in grouped.items()]

    def continuation(self, feeds: Sequence[FeedRef]) -> "FeedSyncRequest":
        # A continuation settles nothing: the first run's POSTs are not known to it, so the sync keeps its charge.
        return self.model_copy(update={"feeds": list(feeds), "hop": self.hop + 1, "charge": None})


class DispatchContinuation(Model):
    """The dispatcher's own message: carry on with the live feeds after ``after`` for ``window``."""

    window: str = Field(min_length=1, max_length=32)
    after: str = Field(min_length=1, max_length=512)
    hop: int = Field(1, ge=1)


def schedule_window(moment: datetime, period_seconds: int = SCHEDULE_PERIOD_SECONDS) -> str:
    """The schedule window a firing belongs to, named by its start (UTC): ``20261120T09``.

    ``rate(3 hours)`` fires every 3 hours exactly, so each firing falls in a window of its own; a repeat of
    one firing (EventBridge delivers at least once) falls in the same one.
    """
    epoch = int(moment.astimezone(UTC).timestamp())
    start = datetime.fromtimestamp(epoch - epoch % period_seconds, tz=UTC)
    return start.strftime("%Y%m%dT%H")


def schedule_requests(window: str, tenant_id: str, feeds: Sequence[FeedRef]) -> list[FeedSyncRequest]:
    """One tenant's due feeds for one window, in messages of at most ``MAX_FEEDS_PER_MESSAGE``."""
    return [
        FeedSyncRequest(tenant_id=tenant_id, feeds=list(feeds[start:start + MAX_FEEDS_PER_MESSAGE]),
                        reason="schedule", origin=_origin(f"w{window}", tenant_id, str(part)))
        for part, start in enumerate(range(0, len(feeds), MAX_FEEDS_PER_MESSAGE))
    ]


def on_demand_requests(tenant_id: str, business_id: str, generation: str, account_ids: Sequence[str], reason: str,
                       requested_at: datetime) -> list[FeedSyncRequest]:
    """Messages for a sync asked for now (after a link, or sync now). Repeats of the same request within the
    same second collapse into one; anything later is a new request (a repeat only costs a read)."""
    unique = list(dict.fromkeys(account_ids))
    feeds = [FeedRef(business_id=business_id, account_id=a, generation=generation) for a in unique]
    second = str(int(requested_at.timestamp()))
    return [
        FeedSyncRequest(tenant_id=tenant_id, reason=reason[:32], feeds=feeds[start:start + MAX_FEEDS_PER_MESSAGE],
                        origin=_origin(reason[:16], tenant_id, business_id, generation, *unique, second, str(part)))
        for part, start in enumerate(range(0, len(feeds), MAX_FEEDS_PER_MESSAGE))
    ]


def _origin(prefix: str, *parts: str) -> str:
    """``prefix:`` and a digest of the parts: SQS's allowed characters and length whatever the ids hold."""
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]
    return f"{prefix}:{digest}"[:_MAX_ORIGIN]


def fast_lane_requests(tenant_id: str, feeds: Sequence[FeedRef], at: float, posts: int = 0
                       ) -> list[FeedSyncRequest]:
    """The fast lane's sync of one organisation's live feeds, for the window taken at ``at`` (epoch seconds).
    The window names the deduplication id, so a repeat of the same sync within SQS's 5 minutes adds nothing.
    ``posts``: the statement POSTs set aside for it, carried for settling when the sync is one message (a sync
    split over several messages keeps its charge: no one run sees all its POSTs)."""
    slot = str(int(at))
    charge = LaneCharge(at=at, posts=posts) if posts and len(feeds) <= MAX_FEEDS_PER_MESSAGE else None
    return [
        FeedSyncRequest(tenant_id=tenant_id, feeds=list(feeds[start:start + MAX_FEEDS_PER_MESSAGE]),
                        reason="posting", origin=_origin("fast", tenant_id, slot, str(part)), charge=charge)
        for part, start in enumerate(range(0, len(feeds), MAX_FEEDS_PER_MESSAGE))
    ]
