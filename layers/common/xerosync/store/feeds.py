"""Bank feeds: one item per ledger account of a business that is (or was) linked to a Xero bank account.

The item keeps the link (Xero feed connection and bank account), its state, and what auto-sync needs to
continue without gaps or duplicates: the cursor (last ledger sequence Xero accepted) and the balance at
that point. Unlinking or disconnecting keeps the item, so history and the previous choice survive.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import Field

from xerosync.model import Model
from xerosync.store.conditions import failed_conditions, put_if, update_if
from xerosync.store.connections import ConnectionStatus
from xerosync.store.keys import (
    LIVE_FEEDS_GSI_PK,
    business_pk,
    connection_key,
    feed_key,
    live_feed_gsi,
    tenant_pk,
)
from xerosync.store.queries import query_items

if TYPE_CHECKING:  # the auto-sync worker's, which imports it anyway: the store's other users never build it
    from xerosync.auto_sync.messages import LaneCharge


class FeedStatus(StrEnum):
    PENDING = "PENDING"  # Xero accepted the feed connection and has not activated it yet
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"  # Xero refused it; status_reason says why
    UNLINKED = "UNLINKED"  # the user unlinked the account; the item stays for history
    DISCONNECTED = "DISCONNECTED"  # the business disconnected from Xero; relinking restores it


LIVE_STATUSES = frozenset({FeedStatus.PENDING, FeedStatus.ACTIVE})


class SentStatement(Model):
    """A statement auto-sync sent to Xero whose delivery it has not confirmed yet (docs/auto-sync.md).

    ``statement_id`` stays None from just before the request until its answer is recorded: after a crash in
    between, the next run sends exactly this range again (Xero answers it as a duplicate if it has it)
    instead of a longer statement that would overlap the one Xero may already hold.
    """

    statement_id: str | None = None
    first_sequence: int
    last_sequence: int
    start_balance: Decimal
    end_balance: Decimal
    start_date: date
    end_date: date
    line_count: int
    sent_at: str


class FeedRecord(Model):
    business_id: str
    account_id: str
    currency: str
    account_number: str
    account_name: str
    tenant_id: str
    generation: str  # the connection generation the link was made (or adopted) in
    feed_connection_id: str | None = None
    xero_account_id: str | None = None
    xero_account_name: str | None = None
    status: FeedStatus
    status_reason: str | None = None
    linked_by: str | None = None
    linked_at: str | None = None
    status_changed_at: str | None = None
    # Auto-sync's position: the last ledger sequence Xero accepted, and the balance right after it.
    cursor: int = 0
    cursor_balance: Decimal | None = None
    backfill_from: date | None = None
    # The latest line date Xero was sent on this feed: a posting booked earlier that arrives later is dated
    # this day, never before (docs/auto-sync.md, "Out-of-order postings").
    dated_through: date | None = None
    last_sync_at: str | None = None
    last_sync_error: str | None = None
    # Statements sent but not yet seen delivered, oldest first; a later rejection rewinds the cursor to one.
    unconfirmed_statements: list[SentStatement] = []
    version: int = 0

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class StaleFeed(Exception):
    """Another writer changed the feed first (optimistic version check)."""


CHANGE_ATTEMPTS = 5


class FeedStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, business_id: str, account_id: str) -> FeedRecord | None:
        item = self.table.get_item(Key=feed_key(business_id, account_id), ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def for_business(self, business_id: str) -> list[FeedRecord]:
        return [_record(i) for i in query_items(
            self.table, KeyConditionExpression=Key("pk").eq(business_pk(business_id)) & Key("sk").begins_with("FEED#"),
            ConsistentRead=True)]

    def live_for_tenant(self, tenant_id: str) -> list[FeedRecord]:
        """Every live feed into one organisation, whichever business it belongs to."""
        return [_record(i) for i in query_items(
            self.table, IndexName="gsi1",
            KeyConditionExpression=Key("gsi1pk").eq(LIVE_FEEDS_GSI_PK) & Key("gsi1sk").begins_with(f"{tenant_id}#"))]

    def live_positions(self, after: str | None = None) -> Iterator[tuple[str, str]]:
        """``(tenant#business#account, generation)`` of every live feed in index order, after ``after`` (the
        dispatcher's walk: two attributes only, so that 100,000 feeds cost a few pages and no parsing)."""
        condition = Key("gsi1pk").eq(LIVE_FEEDS_GSI_PK)
        if after:
            condition = condition & Key("gsi1sk").gt(after)
        for item in query_items(self.table, IndexName="gsi1", KeyConditionExpression=condition,
                                ProjectionExpression="gsi1sk, generation"):
            yield str(item["gsi1sk"]), str(item.get("generation", ""))

    def save(self, record: FeedRecord) -> FeedRecord:
        """Write the feed if nobody changed it since ``record.version`` was read; returns the stored copy."""
        stored, put = _versioned_put(record)
        if not put_if(self.table, **put):
            raise StaleFeed(f"feed {record.account_id} changed meanwhile")
        return stored

    def change(self, feed: FeedRecord, *, only_if: frozenset[FeedStatus] | None = None,
               same_link: bool = False, **changes: Any) -> FeedRecord:
        """Apply ``changes`` to the feed, re-reading and re-applying them when another writer (auto-sync moves
        the cursor on the same item) saved first. With ``only_if``, a feed that has left those statuses
        meanwhile is returned as it is, unchanged; with ``same_link``, so is a feed that another feed connection
        feeds by then (the account linked again meanwhile)."""
        changed = self._reapplied(feed, self.save, only_if, same_link, changes)
        assert changed is not None  # save never answers None
        return changed

    def change_for_connection(self, feed: FeedRecord, connection_generation: str, *,
                              only_if: frozenset[FeedStatus], same_link: bool = False,
                              **changes: Any) -> FeedRecord | None:
        """``change``, each save by ``save_for_connection``: a reconnection's finisher that another connection
        overtook moves nothing. None when the connection has changed."""
        return self._reapplied(feed, lambda record: self.save_for_connection(record, connection_generation),
                               only_if, same_link, changes)

    def _reapplied(self, feed: FeedRecord, save: Callable[[FeedRecord], FeedRecord | None],
                   only_if: frozenset[FeedStatus] | None, same_link: bool, changes: dict[str, Any]
                   ) -> FeedRecord | None:
        link = feed.feed_connection_id
        for _ in range(CHANGE_ATTEMPTS):
            if (only_if is not None and feed.status not in only_if) or (same_link and feed.feed_connection_id != link):
                return feed
            try:
                return save(feed.model_copy(update=changes))
            except StaleFeed:
                fresh = self.get(feed.business_id, feed.account_id)
                if fresh is None:
                    raise
                feed = fresh
        raise StaleFeed(f"feed {feed.account_id} kept changing")

    def save_for_connection(self, record: FeedRecord, connection_generation: str) -> FeedRecord | None:
        """``save``, in one transaction with a check that the business's connection is still of
        ``connection_generation`` and not disconnected. None when the connection has changed (nothing written);
        ``StaleFeed`` when the feed has."""
        stored, put = _versioned_put(record)
        try:
            self.table.meta.client.transact_write_items(TransactItems=[
                {"ConditionCheck": {
                    "TableName": self.table.name, "Key": connection_key(record.business_id),
                    "ConditionExpression": "generation = :generation AND #status <> :disconnected",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":generation": connection_generation,
                                                  ":disconnected": ConnectionStatus.DISCONNECTED.value}}},
                {"Put": {"TableName": self.table.name, **put}},
            ])
        except ClientError as error:
            failed = failed_conditions(error)
            if failed and failed[0]:
                return None  # the connection's check
            if failed is None or len(failed) < 2 or not failed[1]:
                raise
            raise StaleFeed(f"feed {record.account_id} changed meanwhile") from None
        return stored


def _versioned_put(record: FeedRecord) -> tuple[FeedRecord, dict[str, Any]]:
    """The copy stored for ``record`` (its version one up), and the put that writes it only over the version read
    (or where nothing is yet, for a new link)."""
    stored = record.model_copy(update={"version": record.version + 1})
    put: dict[str, Any] = {"Item": _item(stored),
                           "ConditionExpression": "attribute_not_exists(pk)" if record.version == 0 else "version = :v"}
    if record.version:
        put["ExpressionAttributeValues"] = {":v": record.version}
    return stored, put


def _item(stored: FeedRecord) -> dict[str, Any]:
    item = {**feed_key(stored.business_id, stored.account_id), **stored.model_dump(mode="json", exclude_none=True)}
    if stored.cursor_balance is not None:
        item["cursor_balance"] = str(stored.cursor_balance)
    if stored.is_live:
        item.update(live_feed_gsi(stored.tenant_id, stored.business_id, stored.account_id))
    return item


def _record(item: dict[str, Any]) -> FeedRecord:
    return FeedRecord.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk")})


def fast_lane_key(tenant_id: str) -> dict[str, str]:
    """The fast lane's window record of one Xero organisation (docs/auto-sync.md, "Fast lane")."""
    return {"pk": tenant_pk(tenant_id), "sk": "FASTLANE"}


class Held(Model):
    """One sync's reservation: the POSTs set aside, and the run that claimed it for settling (empty until one did)."""

    posts: int
    run: str = ""


DAY_SECONDS = 86_400


class BankDay:
    """The bank's day and hour of a moment read from a clock (``STATEMENT_UTC_OFFSET_MINUTES``, UTC+8 by default): the
    day the fast lane counts an organisation's statement POSTs by (docs/auto-sync.md, "Fast lane", Statement POSTs)."""

    def __init__(self, utc_offset_minutes: int = 480) -> None:
        self.offset_seconds = utc_offset_minutes * 60

    def day(self, moment: float) -> str:
        """The bank's date of ``moment``, as the window record names it: ``2026-11-20``."""
        return datetime.fromtimestamp(moment + self.offset_seconds, tz=UTC).date().isoformat()

    def seconds_into(self, moment: float) -> float:
        """Seconds since the bank's midnight."""
        return (moment + self.offset_seconds) % DAY_SECONDS

    def hour(self, moment: float) -> int:
        return int(self.seconds_into(moment) // 3600)


def day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


class LaneRecord(Model):
    """An organisation's window record as read: its latest fast sync (0 when none), the statement POSTs the lane
    took on one of the bank's days (``posts_day``, ``2026-11-20``), in all and by the bank's hour of each sync
    (``hours``; ``prev_hours`` the day before's, for the last 24 hours' count), and the day's reservations not yet
    settled (``held``: the POSTs set aside for each sync, by its reservation; None when the record has no such map).
    """

    next_at: float = 0.0
    posts_day: str = ""
    posts: int = 0
    held: dict[str, Held] | None = None
    settled: int = 0  # the day's syncs settled, and the POSTs they made
    settled_posts: int = 0
    hours: dict[int, int] | None = None  # None: a record that counts no day by the hour
    prev_hours: dict[int, int] = Field(default_factory=dict)

    def posts_on(self, day: str) -> int:
        return self.posts if self.posts_day == day else 0

    def counts_hours_of(self, day: str) -> bool:
        """Whether the record counts ``day`` by the hour: a take on it goes on with the day's count."""
        return self.posts_day == day and self.hours is not None

    def carried(self, day: str, hour: int) -> int:
        """The day before's POSTs still inside the last 24 hours at ``hour`` of ``day``: those of its hours from
        ``hour`` on (the hour itself whole, so the count errs high)."""
        if self.counts_hours_of(day):
            before = self.prev_hours
        elif self.posts_day == day_before(day):
            before = self.day_hours()
        else:
            return 0
        return sum(posts for at, posts in before.items() if at >= hour)

    def day_hours(self) -> dict[int, int]:
        """The counted day's POSTs by hour; a record without them counts them all in the day's last hour."""
        return self.hours if self.hours is not None else ({23: self.posts} if self.posts else {})

    def room(self, day: str, hour: int, cap: int) -> int:
        """The POSTs a sync at ``hour`` of ``day`` may still set aside: within ``cap`` on the bank's day, and within
        it over the last 24 hours (the day's count and the day before's from ``hour`` on)."""
        return cap - self.posts_on(day) - self.carried(day, hour)

    def posts_per_sync(self, day: str, cost: int) -> float:
        """What a sync of the organisation is expected to post: the mean of the day's settled syncs, with one more
        at ``cost`` (what is set aside) so that a day's first syncs do not make the pace bold."""
        if self.posts_day != day:
            return float(cost)
        return (self.settled_posts + cost) / (self.settled + 1)


def reservation(at: float) -> str:
    """The name of the reservation made by the take of the window at ``at``: its milliseconds, as ``next_at`` keeps
    them. ``next_at`` only moves forward, so no two takes of one organisation share it."""
    return str(int(_ms(at) * 1000))


class FastLaneWindows:
    """When the fast lane last sent (or has scheduled) a feed sync of each organisation, and the statement POSTs
    its syncs may make on the bank's day (docs/auto-sync.md, "Fast lane").

    ``next_at`` only moves forward by a conditional write that names the value read, so two consumers (or a
    repeated event) cannot both take one window: the loser reads again and finds the window taken. The same write
    adds the sync's POSTs to the day's count and to its hour's, on condition that they fit under the cap on the day
    and over the last 24 hours, so no interleaving spends past it, and records them as a reservation (``held``) that
    the sync's run settles once: ``open`` before it posts, ``settle`` after, each one conditional write. A sync is
    counted on the bank's day and hour it runs in (``at``); ``next_at`` only moves forward, so the record's day does
    too.
    """

    def __init__(self, table: Any, bank: BankDay | None = None) -> None:
        self.table = table
        self.bank = bank or BankDay()

    def read(self, tenant_id: str) -> LaneRecord:
        item = self.table.get_item(Key=fast_lane_key(tenant_id), ConsistentRead=True).get("Item") or {}
        held, hours = item.get("held"), item.get("hours")
        return LaneRecord(next_at=float(item.get("next_at", 0)), posts_day=str(item.get("posts_day", "")),
                          posts=int(item.get("posts", 0)), settled=int(item.get("settled", 0)),
                          settled_posts=int(item.get("settled_posts", 0)),
                          held=None if held is None else {
                              name: Held(posts=int(entry["posts"]), run=str(entry.get("run", "")))
                              for name, entry in held.items()},
                          hours=None if hours is None else _hours(hours), prev_hours=_hours(item.get("prev_hours")))

    def last(self, tenant_id: str) -> float:
        """The time of the organisation's latest fast sync, sent or scheduled (0 when none)."""
        return self.read(tenant_id).next_at

    def take(self, tenant_id: str, seen: LaneRecord, at: float, *, cost: int, cap: int, keep_seconds: int) -> bool:
        """Record a sync at ``at`` costing ``cost`` POSTs if the record still says ``seen`` and the POSTs stay within
        ``cap`` on the sync's bank day and over the 24 hours up to it; False when another writer moved it first or
        the POSTs would not fit."""
        day, hour = self.bank.day(at), self.bank.hour(at)
        carried = seen.carried(day, hour)
        if cost + carried > cap:
            return False
        names = {"#ttl": "ttl", "#h": str(hour)}
        values: dict[str, Any] = {":at": _ms(at), ":ttl": int(at) + keep_seconds, ":cost": cost}
        if seen.next_at:
            conditions, values[":seen"] = ["next_at = :seen"], _ms(seen.next_at)
        else:
            conditions = ["attribute_not_exists(next_at)"]
        if seen.counts_hours_of(day):
            # The day's count goes on: the write itself keeps it under the cap (the day before's hours, fixed since
            # the day began, are in the room), and adds this sync's reservation to the day's map (a record that
            # counts a day always has one: the day's first take wrote it) and its POSTs to the hour's.
            conditions.append("posts_day = :day AND posts <= :room AND attribute_exists(held) "
                              "AND attribute_exists(hours)")
            names["#r"] = reservation(at)
            values.update({":day": day, ":room": cap - cost - carried, ":held": {"posts": cost}, ":zero": 0})
            update = ("SET next_at = :at, #ttl = :ttl, held.#r = :held, hours.#h = if_not_exists(hours.#h, :zero) "
                      "+ :cost ADD posts :cost")
        else:
            # A new day starts the count afresh (a record read before it counted hours goes on with its day's
            # count); the last day's unsettled reservations keep their charge, and its hours become the day
            # before's. The record must still be as read: a settle between the read and this write would change it.
            start = cost + seen.posts_on(day)
            if start + carried > cap:
                return False
            if seen.posts_day:
                conditions.append("posts_day = :seen_day AND posts = :seen_posts")
                values.update({":seen_day": seen.posts_day, ":seen_posts": seen.posts})
            else:
                conditions.append("attribute_not_exists(posts_day)")
            before = seen.day_hours() if seen.posts_day == day_before(day) else {}
            del values[":cost"], names["#h"]
            values.update({":day": day, ":start": start, ":first": {reservation(at): {"posts": cost}},
                           ":hours": {str(hour): start}, ":before": _hours_item(before)})
            update = ("SET next_at = :at, #ttl = :ttl, posts_day = :day, posts = :start, held = :first, "
                      "hours = :hours, prev_hours = :before REMOVE settled, settled_posts")
        return update_if(self.table, Key=fast_lane_key(tenant_id), UpdateExpression=update,
                         ConditionExpression=" AND ".join(conditions), ExpressionAttributeNames=names,
                         ExpressionAttributeValues=values)

    def give_back(self, tenant_id: str, taken: float, seen: LaneRecord, *, cost: int) -> None:
        """Undo ``take`` of the window at ``taken`` costing ``cost`` (its sync could not be queued), unless another
        writer moved the window since. On a day that already counted, the window goes back and the sync's POSTs
        and reservation come off (another sync settled meanwhile stays settled); otherwise the record is put back as
        it was read."""
        if seen.counts_hours_of(self.bank.day(taken)) and seen.held is not None:
            update_if(self.table, Key=fast_lane_key(tenant_id),
                      UpdateExpression="SET next_at = :seen, hours.#h = hours.#h - :cost ADD posts :minus "
                                       "REMOVE held.#r",
                      ConditionExpression="next_at = :taken AND attribute_exists(held.#r)",
                      ExpressionAttributeNames={"#r": reservation(taken), "#h": str(self.bank.hour(taken))},
                      ExpressionAttributeValues={":taken": _ms(taken), ":seen": _ms(seen.next_at), ":minus": -cost,
                                                 ":cost": cost})
            return
        values: dict[str, Any] = {":taken": _ms(taken)}
        sets, removes = [], []
        for name, value in (("next_at", _ms(seen.next_at) if seen.next_at else None),
                            ("posts_day", seen.posts_day or None), ("posts", seen.posts if seen.posts_day else None),
                            ("held", _held_item(seen.held)), ("settled", seen.settled or None),
                            ("settled_posts", seen.settled_posts or None),
                            ("hours", None if seen.hours is None else _hours_item(seen.hours)),
                            ("prev_hours", _hours_item(seen.prev_hours) if seen.posts_day else None)):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        update = " ".join(part for part in (f"SET {', '.join(sets)}" if sets else "",
                                            f"REMOVE {', '.join(removes)}" if removes else "") if part)
        update_if(self.table, Key=fast_lane_key(tenant_id), UpdateExpression=update,
                  ConditionExpression="next_at = :taken", ExpressionAttributeValues=values)

    def open(self, tenant_id: str, charge: "LaneCharge", run: str) -> bool:
        """Claim the sync's reservation for this run, before it posts anything: True for the one run that may settle
        it. False when another run claimed it first (a redelivered or repeated message: what an earlier run posted
        is unknown, so the sync keeps its charge), or it is no longer held (given back, or a new day began)."""
        return update_if(self.table, Key=fast_lane_key(tenant_id), UpdateExpression="SET held.#r.run = :run",
                         ConditionExpression="held.#r.posts = :posts AND attribute_not_exists(held.#r.run)",
                         ExpressionAttributeNames={"#r": reservation(charge.at)},
                         ExpressionAttributeValues={":run": run, ":posts": charge.posts})

    def settle(self, tenant_id: str, charge: "LaneCharge", run: str, posted: int) -> bool:
        """Charge the day (and the sync's hour) what the sync really posted instead of what was set aside, once:
        only the run that opened the reservation settles it, and the same write ends it. False (nothing changed)
        otherwise. A reservation lives only as long as its day's count, so its hour is that day's."""
        delta = settled_delta(charge.posts, posted)
        return update_if(self.table, Key=fast_lane_key(tenant_id),
                         UpdateExpression="SET hours.#h = if_not_exists(hours.#h, :zero) + :delta "
                                          "ADD posts :delta, settled :one, settled_posts :posted REMOVE held.#r",
                         ConditionExpression="held.#r.run = :run AND held.#r.posts = :posts "
                                             "AND attribute_exists(hours)",
                         ExpressionAttributeNames={"#r": reservation(charge.at), "#h": str(self.bank.hour(charge.at))},
                         ExpressionAttributeValues={":run": run, ":posts": charge.posts, ":one": 1, ":zero": 0,
                                                    ":posted": max(0, posted), ":delta": delta})


def settled_delta(held: int, posted: int) -> int:
    """What settling adds to the day's count: the POSTs made less those set aside (negative: given back; positive: a
    sync that posted more than set aside, a retried or split request, is charged the rest)."""
    return max(0, posted) - held


def _hours(item: Any) -> dict[int, int]:
    """The POSTs by hour as the item stores them (keys are the hours' numbers as text), as the record reads them."""
    return {int(hour): int(posts) for hour, posts in (item or {}).items()}


def _hours_item(hours: dict[int, int]) -> dict[str, int]:
    return {str(hour): posts for hour, posts in hours.items()}


def _held_item(held: dict[str, Held] | None) -> dict[str, Any] | None:
    """The reservations as the item stores them."""
    return None if held is None else {name: entry.model_dump(exclude_defaults=True) for name, entry in held.items()}


def _ms(seconds: float) -> Decimal:
    """Milliseconds' precision, as DynamoDB numbers (exact, so a value read back compares equal)."""
    return Decimal(int(seconds * 1000)) / 1000
