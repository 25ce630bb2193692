"""The connect use cases over in-memory ports: disconnect, cleanup bound to its generation, live status."""

from __future__ import annotations

from typing import Any

from tests.unit.auto_sync.fakes import FixedClock, feed
from tests.unit.connect.fakes import (
    Claims,
    ConnectionTable,
    FeedTable,
    Jobs,
    SavedMeanwhile,
    Vault,
    XeroSide,
    connection,
)
from xerosync.auth import Caller
from xerosync.connect.cleanup import CleanupJob, XeroCleanup
from xerosync.connect.disconnect import Disconnect
from xerosync.connect.status import ConnectionStatusService
from xerosync.store.connections import ConnectionStatus
from xerosync.store.feeds import FeedStatus

FIONA = Caller(business_id="biz_1", user_id="u_fiona", role="Finance", can_manage_accounting=True)


class World:
    def __init__(self, *, queued: bool = False, feeds: FeedTable | None = None) -> None:
        self.clock = FixedClock()
        self.connections = ConnectionTable(connection())
        self.feeds = feeds or FeedTable()
        self.feeds.add(feed("acc_live", generation="gen-1"))
        self.feeds.add(feed("acc_unlinked", status=FeedStatus.UNLINKED, generation="gen-1"))
        self.feeds.add(feed("acc_old", status=FeedStatus.DISCONNECTED, generation="gen-0"))
        self.vault = Vault()
        self.vault.add("biz_1", "gen-1")
        self.claims = Claims()
        self.claims.hold("xc-1", "biz_1#gen-1", 0)
        self.jobs = Jobs(queue=queued)
        self.xero = XeroSide(self.vault)
        self.disconnect = Disconnect(connections=self.connections, feeds=self.feeds, tokens=self.vault,
                                     claims=self.claims, cleaner=self.jobs, clock=self.clock)
        self.cleanup = XeroCleanup(self.xero, self.claims, self.feeds, self.clock)


def test_a_disconnect_ends_its_generation_first_and_hands_over_a_job_bound_to_it() -> None:
    world = World(queued=True)
    view = world.disconnect.disconnect(FIONA)
    assert view.status == "DISCONNECTED" and view.cleanup_pending is True
    # The generation's tokens are retired (work refuses them) and its hold on the Xero connection released
    assert world.vault.items[("biz_1", "gen-1")]["retired"] is True
    assert world.claims.holders["xc-1"] == set()
    # Its live link is DISCONNECTED; the job names the generation, its feed connections and the Xero connection
    assert world.feeds.get("biz_1", "acc_live").status == FeedStatus.DISCONNECTED  # type: ignore[union-attr]
    [job] = world.jobs.jobs
    assert job == CleanupJob(business_id="biz_1", tenant_id="tenant-1", generation="gen-1",
                             feed_connection_ids=["fc-acc_live", "fc-acc_unlinked"], xero_connection_ids=["xc-1"],
                             end_grant=True)
    # And disconnecting again changes nothing
    assert world.disconnect.disconnect(FIONA).status == "DISCONNECTED" and len(world.jobs.jobs) == 1


def test_a_disconnect_ends_a_link_made_again_while_it_ran_and_removes_that_links_feed_in_xero() -> None:
    # Given the account unlinked and linked again between the disconnect's read of the links and its write
    world = World(feeds=SavedMeanwhile({"feed_connection_id": "fc-new"}))
    world.disconnect.disconnect(FIONA)
    # Then the link it ends is the new one, and the cleanup removes the new feed connection in Xero too
    assert world.feeds.get("biz_1", "acc_live").status == FeedStatus.DISCONNECTED  # type: ignore[union-attr]
    [job] = world.jobs.jobs
    assert "fc-new" in job.feed_connection_ids


def test_a_disconnect_racing_a_reconnection_ends_the_connection_that_is_current_when_it_lands() -> None:
    world = World()
    world.vault.add("biz_1", "gen-2")
    # A reconnection lands between the disconnect's read and its conditional write
    world.connections.before_write.append(lambda: world.connections.items.update(
        biz_1=connection(generation="gen-2", version=2)))
    world.disconnect.disconnect(FIONA)
    assert world.connections.get("biz_1").status == ConnectionStatus.DISCONNECTED  # type: ignore[union-attr]
    assert world.vault.items[("biz_1", "gen-2")]["retired"] is True
    assert [j.generation for j in world.jobs.jobs] == ["gen-2"]


def _run(world: World, **job: Any) -> None:
    world.cleanup.run(CleanupJob(**{"business_id": "biz_1", "tenant_id": "tenant-1", "generation": "gen-1",
                                    **job}))


def test_a_cleanup_never_removes_a_connection_someone_holds_nor_revokes_a_grant_that_still_reaches_one() -> None:
    world = World()
    world.vault.retire("biz_1", "gen-1", now=0, keep_until=1)
    # The business connected again with the same Xero user: the new generation holds the same connection
    world.claims.holders["xc-1"] = {"biz_1#gen-2"}
    world.xero.connections_left = ["tenant-1"]
    _run(world, feed_connection_ids=["fc-old"], xero_connection_ids=["xc-1"], end_grant=True)
    assert world.xero.deleted_feeds == [["fc-old"]]
    assert world.xero.deleted_connections == [] and world.xero.revoked == []
    # It used its own (retired) generation's tokens, and wiped only them
    assert world.xero.tokens_used == [("gen-1", True)]
    assert ("biz_1", "gen-1") not in world.vault.items


def test_a_cleanup_removes_what_nobody_holds_and_revokes_a_grant_that_reaches_nothing_more() -> None:
    world = World()
    world.claims.holders["xc-1"] = set()
    world.vault.add("biz_1", "gen-2")  # a newer generation of the business: never touched
    _run(world, xero_connection_ids=["xc-1"], end_grant=True)
    assert world.xero.deleted_connections == ["xc-1"] and world.xero.revoked == ["rt-gen-1"]
    assert ("biz_1", "gen-2") in world.vault.items and ("biz_1", "gen-1") not in world.vault.items


def test_a_cleanup_leaves_a_feed_connection_a_live_link_uses() -> None:
    world = World()
    _run(world, feed_connection_ids=["fc-acc_live", "fc-gone"])
    assert world.xero.deleted_feeds == [["fc-gone"]]
    assert ("biz_1", "gen-1") in world.vault.items  # no end_grant: an unlink's job keeps the tokens


def _status(world: World) -> ConnectionStatusService:
    class Ledger:
        def accounts(self, business_id: str) -> list[Any]:
            return []

    return ConnectionStatusService(connections=world.connections, feeds=world.feeds, ledger=Ledger(),
                                   sessions=world.xero, identity=world.xero, clock=world.clock,
                                   confirm_every_seconds=300)


def test_the_live_status_confirms_with_xero_once_per_interval_and_notices_a_disconnect_made_there() -> None:
    world = World()
    status = _status(world)
    world.xero.connections_left = ["tenant-1"]
    for _ in range(3):
        assert status.status(FIONA).connection.status == "ACTIVE"  # type: ignore[union-attr]
    assert world.connections.confirmations == 1
    world.clock.sleep(301)
    world.xero.connections_left = []  # removed in Xero
    status.status(FIONA)
    assert world.connections.confirmations == 2
    assert world.xero.lost == [("biz_1", "gen-1", "The connection was removed in Xero (Settings > Connected apps).")]


def test_a_confirmation_xero_cannot_answer_leaves_what_is_stored() -> None:
    world = World()
    world.xero.fail_listing = True
    assert _status(world).status(FIONA).connection.status == "ACTIVE"  # type: ignore[union-attr]
    assert world.xero.lost == []


def test_a_pending_feed_linked_again_while_the_status_settles_it_keeps_the_new_links_state() -> None:
    # Given a pending link whose feed connection Xero has since removed, unlinked and linked again meanwhile
    world = World(feeds=SavedMeanwhile({"feed_connection_id": "fc-new"}))
    world.feeds.add(feed("acc_pending", status=FeedStatus.PENDING, generation="gen-1"))
    world.xero.feed_states["fc-acc_pending"] = "REJECTED"
    world.xero.connections_left = ["tenant-1"]
    # When the status settles the pending feed from what it read
    view = _status(world).status(FIONA)
    assert view.connection is not None
    # Then the new link is left pending: Xero's answer was about the old feed connection
    stored = world.feeds.get("biz_1", "acc_pending")
    assert stored is not None and stored.status == FeedStatus.PENDING and stored.feed_connection_id == "fc-new"
