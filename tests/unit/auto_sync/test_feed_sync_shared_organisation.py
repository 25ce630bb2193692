"""Several businesses feeding one Xero organisation: their statements go in one request stream under one of their
grants (the carrier), and a business whose own grant fails is never carried (docs/auto-sync.md, "The worker")."""

from __future__ import annotations

import pytest

from tests.unit.auto_sync.fakes import GENERATION, FakeConnections, FakeFeeds, FakeLedger, FakeXero, FixedClock, feed
from xerosync.auto_sync.messages import FeedRef, FeedSyncRequest
from xerosync.auto_sync.worker import FeedSyncWorker, SyncReport
from xerosync.xero.bank_feeds import Problem

BUSINESSES = ("biz_a", "biz_b", "biz_c")


class Organisation:
    """Three businesses on tenant-1, an account each (``acc_<business>``, feed connection ``fc-acc_<business>``)."""

    def __init__(self, businesses: tuple[str, ...] = BUSINESSES) -> None:
        self.businesses = businesses
        self.ledger = FakeLedger()
        self.feeds = FakeFeeds()
        self.connections = FakeConnections()
        self.xero = FakeXero()
        for business in businesses:
            self.feeds.add(feed(_account(business), business_id=business))
        self.worker = FeedSyncWorker(feeds=self.feeds, connections=self.connections, ledger=self.ledger,
                                     xero=self.xero, clock=FixedClock())

    def post(self, business: str, count: int = 2) -> None:
        for n in range(count):
            self.ledger.post(_account(business), f"{n + 1}.25", "DEBIT" if n % 2 else "CREDIT")

    def request(self) -> FeedSyncRequest:
        # The message names the businesses in another order than theirs: the carrier does not depend on it
        return FeedSyncRequest(tenant_id="tenant-1", reason="posting", origin="fast:t",
                               feeds=[FeedRef(business_id=b, account_id=_account(b), generation=GENERATION)
                                      for b in reversed(self.businesses)])

    def run(self) -> SyncReport:
        return self.worker.sync(self.request(), time_left=lambda: 100.0)

    def record(self, business: str):  # type: ignore[no-untyped-def]
        found = self.feeds.get(business, _account(business))
        assert found is not None
        return found

    def delivered(self, business: str) -> list[str]:
        return self.xero.lines.get(f"fc-{_account(business)}", [])

    def ledger_ids(self, business: str) -> list[str]:
        return [t.transaction_id for t in self.ledger.accounts.get(_account(business), [])]

    def feeds_in(self, post: int) -> list[str]:
        return [s.feed_connection_id for s in self.xero.posts[post]]

    def posts_by(self) -> list[str]:
        """The business whose grant made each statements POST (the failed ones too)."""
        return [business for business, what in self.xero.calls if what == "post"]

    def calls_of(self, business: str) -> list[str]:
        return [what for who, what in self.xero.calls if who == business]


def _account(business: str) -> str:
    return f"acc_{business}"


def test_three_businesses_new_lines_go_in_one_statements_post_and_every_cursor_moves() -> None:
    # Given three businesses feeding one organisation, each with new lines
    org = Organisation()
    for business in BUSINESSES:
        org.post(business)
    # When the organisation's feeds are synced
    report = org.run()
    # Then one statements POST carried the three businesses' statements, under the first business's grant
    assert len(org.xero.posts) == 1 and report.statement_posts == 1
    assert org.feeds_in(0) == ["fc-acc_biz_a", "fc-acc_biz_b", "fc-acc_biz_c"]
    assert org.posts_by() == ["biz_a"]
    # And the two businesses carried each proved their own grant first, with one feed-connection read, no POST
    assert org.calls_of("biz_b") == org.calls_of("biz_c") == ["feed_connection"]
    # And each feed's cursor moved over its lines, each business shows its sync
    for business in BUSINESSES:
        assert org.record(business).cursor == 2 and org.record(business).last_sync_error is None
    assert set(org.connections.synced) == set(BUSINESSES)
    org.xero.deliver()
    assert all(org.delivered(b) == org.ledger_ids(b) for b in BUSINESSES)


def _every_business_synced_once() -> Organisation:
    """Each business posted a line and one sync delivered them all; the calls made so far are forgotten."""
    org = Organisation()
    for business in BUSINESSES:
        org.post(business)
    org.run()
    org.xero.deliver()
    org.xero.calls.clear()
    return org


def test_a_business_whose_reads_answered_needs_no_extra_call_and_one_with_nothing_new_makes_none() -> None:
    org = _every_business_synced_once()
    # When a and c post again; b has nothing new
    org.post("biz_a", 1)
    org.post("biz_c", 1)
    org.run()
    # Then each business read back its statement under its own grant (which proves it), and one POST carried a and c
    assert org.calls_of("biz_a") == ["statement", "post"]
    assert org.calls_of("biz_b") == ["statement"]
    assert org.calls_of("biz_c") == ["statement"]
    assert org.feeds_in(1) == ["fc-acc_biz_a", "fc-acc_biz_c"]
    # And with nothing new and nothing to read back, no Xero call at all
    org.xero.deliver()
    org.run()  # reads the last statements back
    org.xero.calls.clear()
    org.run()
    assert org.xero.calls == []


def test_a_carrier_whose_grant_is_revoked_at_the_post_is_blocked_and_the_others_go_under_the_next_grant() -> None:
    # Given three businesses with new lines, the first one's connection removed in Xero as its POST goes
    org = Organisation()
    for business in BUSINESSES:
        org.post(business)
    org.xero.revoked_on_post.add("biz_a")
    org.run()
    # Then a's feed shows the reconnect error, its lines unsent and its cursor where it was
    record = org.record("biz_a")
    assert record.cursor == 0 and record.last_sync_error is not None
    assert "removed in Xero" in record.last_sync_error and "Connect to Xero again" in record.last_sync_error
    assert [e.statement_id for e in record.unconfirmed_statements] == [None]  # write-ahead, sent after reconnecting
    # And b's and c's statements went in one POST under b's grant
    assert org.posts_by() == ["biz_a", "biz_b"]
    assert [org.feeds_in(p) for p in range(len(org.xero.posts))] == [["fc-acc_biz_b", "fc-acc_biz_c"]]
    assert org.record("biz_b").cursor == org.record("biz_c").cursor == 2
    assert set(org.connections.synced) == {"biz_b", "biz_c"}
    # When the message is delivered again (a's grant still refused), then once a reconnects
    org.run()
    assert len(org.xero.posts) == 1
    org.xero.revoked.discard("biz_a")
    org.post("biz_b", 1)
    org.run()
    org.xero.deliver()
    # Then every line of the three is in Xero exactly once, in order
    assert all(org.delivered(b) == org.ledger_ids(b) for b in BUSINESSES)
    assert org.record("biz_a").cursor == 2 and org.record("biz_a").last_sync_error is None


@pytest.mark.parametrize("how", ["revoked in Xero", "disconnected", "connected again"])
def test_a_business_whose_own_grant_is_dead_is_never_carried(how: str) -> None:
    # Given three businesses with new lines, b's own grant dead: its connection removed in Xero (the product does
    # not know yet: its statements are planned and written ahead), ended in the product, or replaced by a new one
    org = Organisation()
    for business in BUSINESSES:
        org.post(business)
    before = org.record("biz_b")
    if how == "revoked in Xero":
        org.xero.revoked.add("biz_b")
    elif how == "disconnected":
        org.xero.disconnected.add("biz_b")
    else:
        org.xero.generations["biz_b"] = "gen-2"
    report = org.run()
    # Then nothing of b reached Xero, under any grant: a and c went in one POST
    assert [org.feeds_in(p) for p in range(len(org.xero.posts))] == [["fc-acc_biz_a", "fc-acc_biz_c"]]
    assert org.record("biz_b").cursor == 0 and org.delivered("biz_b") == []
    if how == "connected again":
        # the message was made for the ended connection: dropped, the feed left to the new connection's syncs
        assert report.stale == 1 and org.record("biz_b") == before
    else:
        error = org.record("biz_b").last_sync_error
        assert error is not None and "Connect to Xero again" in error
    assert "biz_b" not in org.connections.synced
    # And a and c are synced
    assert org.record("biz_a").cursor == org.record("biz_c").cursor == 2


def _crashed_after_xero_accepted() -> Organisation:
    """Each business posted a line; the run died after Xero accepted the combined request, before recording."""
    org = Organisation()
    for business in BUSINESSES:
        org.post(business)
    org.xero.crash_after_accepting = 1
    with pytest.raises(RuntimeError):
        org.run()
    return org


def test_a_crash_after_xero_accepted_the_combined_request_sends_it_again_exactly_and_no_line_twice() -> None:
    # Given a run that dies after Xero accepted the three businesses' statements, before the answers were recorded
    org = _crashed_after_xero_accepted()
    assert all(org.record(b).cursor == 0 for b in BUSINESSES)
    # When the message comes back
    org.run()
    # Then the same request went again, under the same key (Xero replays, or calls every statement a duplicate)
    assert org.xero.posts[1] == org.xero.posts[0] and org.xero.keys[1] == org.xero.keys[0]
    assert all(org.record(b).cursor == 2 and org.record(b).unconfirmed_statements == [] for b in BUSINESSES)
    # And every line is in Xero once
    org.post("biz_c", 1)
    org.run()
    org.xero.deliver()
    assert all(org.delivered(b) == org.ledger_ids(b) for b in BUSINESSES)


def test_a_feed_xero_says_is_gone_is_looked_up_under_its_own_businesss_grant() -> None:
    org = _every_business_synced_once()
    # When c's bank account is closed in Xero and c's next statement is refused for it
    org.post("biz_c", 1)
    org.xero.reject_on_arrival["fc-acc_biz_c"] = Problem(type="invalid-feed-connection", status=403,
                                                         detail="The feed connection is not valid.")
    org.xero.feed_status["fc-acc_biz_c"] = "REJECTED"
    org.post("biz_b", 1)
    org.run()
    # Then c's feed connection was read with c's grant, not the carrier's, and the feed shows Xero's reason
    assert org.calls_of("biz_b") == ["statement", "post"]
    assert org.calls_of("biz_c") == ["statement", "feed_connection"]
    assert org.record("biz_c").status_reason == "The bank account is closed."


def test_a_crash_after_the_combined_post_then_the_carrier_revoked_sends_no_line_twice() -> None:
    # Given a run that dies after Xero accepted the three businesses' statements, before the answers were recorded
    org = _crashed_after_xero_accepted()
    # When the message comes back after the carrier's connection was removed in Xero
    org.xero.revoked.add("biz_a")
    org.run()
    # Then b's and c's recorded statements went again under b's grant (another request: Xero calls them duplicates,
    # which counts as delivered), and a's wait
    assert org.posts_by() == ["biz_a", "biz_a", "biz_b"]
    assert org.feeds_in(1) == ["fc-acc_biz_b", "fc-acc_biz_c"]
    assert org.record("biz_b").cursor == org.record("biz_c").cursor == 2
    assert org.record("biz_a").cursor == 0
    # And once a reconnects its recorded statement goes exactly as before; every line is in Xero once
    org.xero.revoked.discard("biz_a")
    org.run()
    org.xero.deliver()
    assert org.record("biz_a").cursor == 2 and org.record("biz_a").unconfirmed_statements == []
    assert all(org.delivered(b) == org.ledger_ids(b) for b in BUSINESSES)
    statements = [s for post in org.xero.posts for s in post]
    assert len(statements) == 6  # three first, then b and c again, then a again (Xero keeps each line once)
