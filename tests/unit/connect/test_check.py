"""The hourly connection check over in-memory ports: where a run stops and the next resumes, organisations and
bank feeds removed on Xero's side, and an AWS error that leaves one connection to the next pass."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.unit.auto_sync.fakes import FixedClock, feed
from tests.unit.connect.fakes import FeedTable, SavedMeanwhile, connection
from xerosync.connect.check import FEED_DELETED_IN_XERO, SAFETY_MARGIN_MS, ConnectionCheck
from xerosync.store.connections import ConnectionStatus, ConnectionStore, XeroConnectionRecord
from xerosync.store.feeds import FeedStatus
from xerosync.xero.bank_feeds import FeedConnection
from xerosync.xero.errors import ReconnectRequired, XeroNotFound
from xerosync.xero.models import XeroConnection
from xerosync.xero.session import DISCONNECTED_IN_XERO


class Walk:
    """Every connection in the index's order (tenant, then business), as ``ConnectionStore`` walks them."""

    def __init__(self, *records: XeroConnectionRecord) -> None:
        self.records = sorted(records, key=ConnectionStore.position)

    def all(self, after: str | None = None) -> Iterator[XeroConnectionRecord]:
        return iter([r for r in self.records if after is None or self.position(r) > after])

    def position(self, record: XeroConnectionRecord) -> str:
        return ConnectionStore.position(record)


class Position:
    def __init__(self) -> None:
        self.after: str | None = None
        self.saved = False

    def load(self) -> str | None:
        return self.after

    def save(self, after: str | None) -> None:
        self.after, self.saved = after, True

    def clear(self) -> None:
        self.after, self.saved = None, False


class Xero:
    """Xero as the check meets it: the tenants each business's grant reaches, and each organisation's feeds."""

    def __init__(self) -> None:
        self.tenants: dict[str, set[str]] = {}  # business -> tenants GET /connections lists
        self.feed_ids: dict[str, set[str]] = {}  # tenant -> feed connections Xero has
        self.listed_feed_ids: dict[str, set[str]] = {}  # tenant -> what GET /FeedConnections lists (may lag)
        self.refused: set[str] = set()  # businesses whose grant Xero refuses
        self.failing_aws: set[str] = set()  # businesses whose token read fails in AWS
        self.asked: list[str] = []  # businesses whose grant was asked about, in order
        self.lost: list[tuple[str, str, str]] = []
        self._tenant = ""

    # tokens
    def access_token(self, business_id: str, generation: str) -> str:
        if business_id in self.failing_aws:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                              "GetItem")
        if business_id in self.refused:
            raise ReconnectRequired("renew", reason="renew")
        self.asked.append(business_id)
        return f"at-{business_id}"

    # identity
    def connections(self, access_token: str, auth_event_id: str | None = None) -> list[XeroConnection]:
        business_id = access_token.removeprefix("at-")
        return [XeroConnection(id=f"xc-{t}", tenant_id=t, tenant_type="ORGANISATION")
                for t in sorted(self.tenants.get(business_id, set()))]

    # sessions
    def session(self, business_id: str, generation: str | None = None, *, purpose: str = "") -> Xero:
        raise AssertionError("the check opens sessions on the record's own generation only")

    def session_for_generation(self, business_id: str, tenant_id: str, generation: str, *,
                               retired_ok: bool = False, purpose: str = "") -> Xero:
        self._tenant = tenant_id
        return self

    def connection_lost(self, business_id: str, generation: str, reason: str) -> None:
        self.lost.append((business_id, generation, reason))

    def feed_connections(self) -> list[FeedConnection]:
        return [FeedConnection(id=i) for i in sorted(self.listed_feed_ids.get(self._tenant, set()))]

    def feed_connection(self, feed_connection_id: str) -> FeedConnection:
        if feed_connection_id not in self.feed_ids.get(self._tenant, set()):
            raise XeroNotFound("gone", status=404)
        return FeedConnection(id=feed_connection_id)


class World:
    def __init__(self, *records: XeroConnectionRecord, feeds: FeedTable | None = None) -> None:
        self.clock = FixedClock()
        self.walk = Walk(*records)
        self.position = Position()
        self.feeds = feeds or FeedTable()
        self.xero = Xero()
        for record in records:
            self.xero.tenants[record.business_id] = {record.tenant_id}
        self.check = ConnectionCheck(connections=self.walk, position=self.position, feeds=self.feeds,
                                     tokens=self.xero, identity=self.xero, sessions=self.xero, clock=self.clock)


def _business(n: int) -> XeroConnectionRecord:
    return connection(f"biz_{n}", tenant_id=f"tenant-{n}")


def _time_for(connections: int) -> list[int]:
    """A run's remaining time as it goes: enough for ``connections`` connections, then short."""
    return [SAFETY_MARGIN_MS + 1] * connections + [SAFETY_MARGIN_MS - 1] * 100


def test_a_run_short_of_time_stops_where_it_is_and_the_next_run_continues_from_there() -> None:
    world = World(*(_business(n) for n in range(5)))
    # Given a run with time for two connections
    times = _time_for(2)
    first = world.check.run(lambda: times.pop(0))
    # Then it looked at two and kept its place
    assert world.xero.asked == ["biz_0", "biz_1"]
    assert first.checked == 2 and not first.finished_pass and world.position.saved
    # When the next run has time for the rest
    second = world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    # Then it looked at the other three only, finished the pass and forgot the place
    assert world.xero.asked == ["biz_0", "biz_1", "biz_2", "biz_3", "biz_4"]
    assert second.checked == 3 and second.still_connected == 3 and second.finished_pass
    assert world.position.load() is None
    # And the pass after starts from the first connection again
    world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    assert world.xero.asked[5:] == ["biz_0", "biz_1", "biz_2", "biz_3", "biz_4"]


def test_a_run_with_no_time_at_all_keeps_the_place_it_was_given() -> None:
    world = World(_business(0), _business(1))
    world.position.save(ConnectionStore.position(_business(0)))
    report = world.check.run(lambda: SAFETY_MARGIN_MS - 1)
    assert report.checked == 0 and world.position.load() == ConnectionStore.position(_business(0))


def test_an_organisation_disconnected_in_xero_is_lost_and_its_business_told_to_reconnect() -> None:
    world = World(_business(0), _business(1), _business(2))
    world.xero.tenants["biz_1"] = set()  # removed on Xero's side
    world.xero.refused.add("biz_2")  # its grant refused: the token refresh marks it itself
    report = world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    assert report.needs_reconnect == ["biz_1", "biz_2"] and report.still_connected == 1
    assert world.xero.lost == [("biz_1", "gen-1", DISCONNECTED_IN_XERO)]


def test_a_connection_that_is_not_active_is_not_asked_about() -> None:
    world = World(_business(0), connection("biz_1", tenant_id="tenant-1", status=ConnectionStatus.NEEDS_RECONNECT))
    report = world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    assert report.checked == 1 and world.xero.asked == ["biz_0"]


def test_a_feed_deleted_in_xero_is_rejected_with_the_way_back_and_a_lagging_list_rejects_nothing() -> None:
    world = World(_business(0))
    world.feeds.add(feed("acc_gone", business_id="biz_0", tenant_id="tenant-0"))
    world.feeds.add(feed("acc_lagging", business_id="biz_0", tenant_id="tenant-0"))
    world.feeds.add(feed("acc_listed", business_id="biz_0", tenant_id="tenant-0"))
    world.xero.listed_feed_ids["tenant-0"] = {"fc-acc_listed"}
    world.xero.feed_ids["tenant-0"] = {"fc-acc_listed", "fc-acc_lagging"}  # not listed yet, but Xero has it
    report = world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    assert report.feeds_gone == ["acc_gone"]
    gone = world.feeds.get("biz_0", "acc_gone")
    assert gone is not None and gone.status == FeedStatus.REJECTED and gone.status_reason == FEED_DELETED_IN_XERO
    for kept in ("acc_lagging", "acc_listed"):
        record = world.feeds.get("biz_0", kept)
        assert record is not None and record.status == FeedStatus.ACTIVE, kept


def test_a_feed_deleted_in_xero_while_a_sync_saves_it_is_still_rejected_and_keeps_the_syncs_progress() -> None:
    world = World(_business(0), feeds=SavedMeanwhile({"last_sync_at": "2026-12-05T04:57:53+00:00"}))
    world.feeds.add(feed("acc_gone", business_id="biz_0", tenant_id="tenant-0"))
    report = world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    # Then the sync's save does not put the news off to the next pass, an hour later
    assert report.feeds_gone == ["acc_gone"]
    gone = world.feeds.get("biz_0", "acc_gone")
    assert gone is not None and gone.status == FeedStatus.REJECTED and gone.status_reason == FEED_DELETED_IN_XERO
    assert gone.last_sync_at == "2026-12-05T04:57:53+00:00"


@pytest.mark.parametrize("meanwhile", [
    {"feed_connection_id": "fc-new", "status": FeedStatus.PENDING},  # unlinked and linked again
    {"feed_connection_id": "fc-new"},  # fed by another feed connection, still active
], ids=["relinked", "moved"])
def test_a_feed_linked_again_while_the_check_looks_is_left_as_the_new_link_made_it(
        meanwhile: dict[str, object]) -> None:
    world = World(_business(0), feeds=SavedMeanwhile(meanwhile))
    world.feeds.add(feed("acc_relinked", business_id="biz_0", tenant_id="tenant-0"))
    report = world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    assert report.feeds_gone == []
    record = world.feeds.get("biz_0", "acc_relinked")
    assert record is not None and record.feed_connection_id == "fc-new"
    assert record.status == meanwhile.get("status", FeedStatus.ACTIVE)


def test_an_aws_error_on_one_connection_leaves_it_to_the_next_pass_and_the_run_goes_on() -> None:
    world = World(_business(0), _business(1), _business(2))
    world.xero.failing_aws.add("biz_1")
    report = world.check.run(lambda: SAFETY_MARGIN_MS + 1)
    assert report.left_to_next_pass == 1 and report.still_connected == 2 and report.finished_pass
    assert world.xero.asked == ["biz_0", "biz_2"]
