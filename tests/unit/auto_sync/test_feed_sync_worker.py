"""The feed-sync worker against in-memory ports: cursors, statements sent before, rejections, crashes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.unit.auto_sync.fakes import (
    GENERATION,
    NOW,
    FakeConnections,
    FakeFeeds,
    FakeLedger,
    FakeXero,
    FixedClock,
    feed,
)
from xerosync.auto_sync.messages import FeedRef, FeedSyncRequest
from xerosync.auto_sync.worker import FeedSyncWorker, SyncReport, XeroAnswerMismatch
from xerosync.store.feeds import FeedStatus
from xerosync.xero.bank_feeds import Problem
from xerosync.xero.errors import XeroRateLimited, XeroServerError, XeroTooLarge


class World:
    def __init__(self, accounts: tuple[str, ...] = ("acc_1",), **feed_changes: object) -> None:
        self.ledger = FakeLedger()
        self.feeds = FakeFeeds()
        self.connections = FakeConnections()
        self.xero = FakeXero()
        self.clock = FixedClock()
        self.accounts = accounts
        for account in accounts:
            self.feeds.add(feed(account, **feed_changes))  # type: ignore[arg-type]
        self.worker = FeedSyncWorker(feeds=self.feeds, connections=self.connections, ledger=self.ledger,
                                     xero=self.xero, clock=self.clock)

    def post(self, count: int, account: str = "acc_1") -> None:
        for n in range(count):
            self.ledger.post(account, f"{n + 1}.50", "DEBIT" if n % 2 else "CREDIT")

    def run(self, time_left: float = 100.0) -> SyncReport:
        request = FeedSyncRequest(tenant_id="tenant-1", reason="schedule", origin="w1:t",
                                  feeds=[FeedRef(business_id="biz_1", account_id=a, generation=GENERATION)
                                         for a in self.accounts])
        return self.worker.sync(request, time_left=lambda: time_left)

    def record(self, account: str = "acc_1"):  # type: ignore[no-untyped-def]
        found = self.feeds.get("biz_1", account)
        assert found is not None
        return found

    def delivered(self, account: str = "acc_1") -> list[str]:
        return self.xero.lines.get(f"fc-{account}", [])

    def ledger_ids(self, account: str = "acc_1") -> list[str]:
        return [t.transaction_id for t in self.ledger.accounts.get(account, [])]


def test_new_transactions_of_every_feed_go_in_one_call_and_the_cursor_follows_what_xero_accepted() -> None:
    # Given two linked accounts with new transactions
    world = World(accounts=("acc_1", "acc_2"))
    world.post(3, "acc_1")
    world.post(2, "acc_2")
    # When the tenant's feeds are synced
    report = world.run()
    # Then one statements call carried both feeds, and each cursor sits on its last accepted line
    [call] = world.xero.posts
    assert {s.feed_connection_id for s in call} == {"fc-acc_1", "fc-acc_2"}
    assert world.record("acc_1").cursor == 3 and world.record("acc_2").cursor == 2
    assert world.record("acc_1").cursor_balance == world.ledger.accounts["acc_1"][-1].running_balance
    assert report.lines_accepted == 5 and report.feeds_synced == 2
    # And the last sync shows on each account and on the connection
    assert world.record("acc_1").last_sync_at == "2026-11-20T04:00:00Z"
    assert world.connections.synced == {"biz_1": "2026-11-20T04:00:00Z"}
    # And the statements wait to be confirmed
    assert [e.statement_id for e in world.record("acc_1").unconfirmed_statements] == ["s1"]


def test_a_delivered_statement_is_forgotten_and_the_next_continues_from_its_end_balance() -> None:
    world = World()
    world.post(3)
    world.run()
    world.xero.deliver()
    world.post(2)
    world.run()
    world.xero.deliver()
    first, second = world.xero.posts[0][0], world.xero.posts[1][0]
    assert second.start_balance == first.end_balance
    assert world.delivered() == world.ledger_ids()
    world.run()  # reads the second statement's status
    assert world.record().unconfirmed_statements == []


def test_nothing_new_makes_no_xero_call_but_still_counts_as_a_sync() -> None:
    world = World()
    report = world.run()
    assert world.xero.posts == [] and report.feeds_synced == 1 and world.record().last_sync_at


def test_a_crash_after_xero_accepted_sends_the_same_statement_again_and_nothing_twice() -> None:
    # Given a run that dies after Xero accepted its statement, before the answer was recorded
    world = World()
    world.post(3)
    world.xero.crash_after_accepting = 1
    with pytest.raises(RuntimeError):
        world.run()
    assert world.record().cursor == 0 and world.record().unconfirmed_statements[0].statement_id is None
    # When the message comes back, after more transactions were posted
    world.post(2)
    world.run()
    world.xero.deliver()
    # Then the first statement was sent again exactly (Xero calls it a duplicate), the new lines in a
    # statement of their own that starts where it ended, and every transaction is in Xero once, in order
    first, again, new = world.xero.posts[0][0], world.xero.posts[1][0], world.xero.posts[2][0]
    assert again == first
    assert new.start_balance == first.end_balance and len(new.statement_lines) == 2
    assert world.delivered() == world.ledger_ids()
    assert world.record().cursor == 5


def test_a_statement_rejected_after_acceptance_rewinds_the_cursor_and_its_lines_go_again() -> None:
    # Given a statement Xero accepted and later rejected
    world = World()
    world.post(3)
    world.run()
    world.xero.deliver(reject={"s1": Problem(type="internal-error", detail="Xero could not process it.")})
    world.post(1)
    # When the next run reads its status
    report = world.run()
    # Then its lines and the new one are sent again from where it started, and the feed says what happened
    resent = world.xero.posts[1][0]
    assert [line.transaction_id for line in resent.statement_lines] == world.ledger_ids()
    assert report.statements_rejected == 1
    world.xero.deliver()
    assert world.delivered() == world.ledger_ids()
    assert world.record().last_sync_error is None  # sent again successfully: the feed is healthy


def test_a_statement_refused_on_arrival_keeps_the_cursor_and_shows_xeros_reason() -> None:
    world = World()
    world.post(2)
    world.xero.reject_on_arrival["fc-acc_1"] = Problem(type="invalid-end-date", status=422,
                                                       detail="The end date cannot be in the future.")
    world.run()
    record = world.record()
    assert record.cursor == 0 and record.unconfirmed_statements == [] and record.last_sync_at is None
    assert record.last_sync_error is not None and "The end date cannot be in the future." in record.last_sync_error
    # And the next run sends the same lines again
    world.run()
    world.xero.deliver()
    assert world.delivered() == world.ledger_ids() and world.record().last_sync_error is None


def test_a_duplicate_statement_counts_as_delivered() -> None:
    world = World()
    world.post(2)
    world.xero.submitted["fc-acc_1"] = set(world.ledger_ids())  # Xero already has every line
    report = world.run()
    assert world.record().cursor == 2 and world.record().unconfirmed_statements == []
    assert report.lines_accepted == 2


def test_reconnect_required_is_recorded_on_the_feeds_and_the_message_finishes() -> None:
    world = World()
    world.post(1)
    world.xero.reconnect = True
    report = world.run()  # no exception: nothing would succeed until the user reconnects
    error = world.record().last_sync_error
    assert error is not None and "removed in Xero" in error and "Connect to Xero again" in error
    assert report.unfinished == [] and world.connections.synced == {}


def test_a_429_propagates_and_the_recorded_statement_is_sent_again_exactly() -> None:
    world = World()
    world.post(2)
    world.xero.raise_on_post.append(XeroRateLimited("busy", status=429, retry_after=30))
    with pytest.raises(XeroRateLimited):
        world.run()
    assert world.record().unconfirmed_statements[0].statement_id is None
    world.post(1)
    world.run()
    assert [len(p[0].statement_lines) for p in world.xero.posts] == [2, 1]


def test_statuses_read_before_a_429_are_kept_so_the_next_delivery_reads_on() -> None:
    # Given three statements Xero has since delivered, and a minute that allows two more calls
    world = World()
    for _ in range(3):
        world.post(1)
        world.run()
    assert len(world.record().unconfirmed_statements) == 3
    world.xero.deliver()
    world.xero.statement_reads_allowed = 2
    # When the run meets the 429 on the third status read
    with pytest.raises(XeroRateLimited):
        world.run()
    # Then the two statuses read are kept: the next delivery starts from the third, not from the first again
    assert [e.statement_id for e in world.record().unconfirmed_statements] == ["s3"]


def test_answers_that_do_not_line_up_with_the_feeds_sent_move_no_cursor() -> None:
    world = World(accounts=("acc_1", "acc_2"))
    world.post(3, "acc_1")
    world.post(2, "acc_2")
    world.xero.answer_out_of_order = True
    with pytest.raises(XeroAnswerMismatch):
        world.run()
    assert world.record("acc_1").cursor == 0 and world.record("acc_2").cursor == 0
    # And the next delivery, answered in order, sends exactly what was recorded, each line once
    world.xero.answer_out_of_order = False
    world.run()
    world.xero.deliver()
    assert world.delivered("acc_1") == world.ledger_ids("acc_1")
    assert world.delivered("acc_2") == world.ledger_ids("acc_2")


def test_a_failed_statements_call_is_sent_again_under_a_new_key() -> None:
    world = World()
    world.post(2)
    world.xero.raise_on_post.extend([XeroServerError("boom", status=500), XeroServerError("boom", status=500)])
    world.run()
    # Xero replays a remembered error for a key it has seen, so each attempt carries its own key
    assert world.record().cursor == 2 and len(set(world.xero.keys)) == len(world.xero.keys) == 3
    assert all(key.startswith("statements-") and len(key) <= 128 for key in world.xero.keys)
    # And the keys are deterministic: the same statements give the same keys in a later run
    keys, world.xero.keys = world.xero.keys, []
    world.feeds.add(feed("acc_1"))
    world.xero.raise_on_post.extend([XeroServerError("boom", status=500), XeroServerError("boom", status=500)])
    world.run()
    assert world.xero.keys == keys


def test_a_request_xero_finds_too_large_is_halved() -> None:
    world = World(accounts=("acc_1", "acc_2"))
    world.post(1, "acc_1")
    world.post(1, "acc_2")
    world.xero.raise_on_post.append(XeroTooLarge("too large", status=413, problem_type="invalid-request"))
    world.run()
    assert [len(p) for p in world.xero.posts] == [1, 1]
    assert world.record("acc_1").cursor == 1 and world.record("acc_2").cursor == 1


def test_a_long_backfill_goes_in_rounds_of_statements_of_at_most_1000_lines() -> None:
    # Given 12,000 transactions to send from the chosen start
    world = World(backfill_from=date(2026, 11, 1))
    for n in range(12_000):
        world.ledger.post("acc_1", "1.00", "CREDIT" if n % 2 else "DEBIT",
                          at=NOW - timedelta(days=10) + timedelta(seconds=n))
    # When one run syncs the feed
    world.run()
    world.xero.deliver()
    # Then every line is in Xero once, in order, in statements of at most 1000 lines, in a few calls
    statements = [s for post in world.xero.posts for s in post]
    assert max(len(s.statement_lines) for s in statements) == 1000 and len(statements) == 12
    assert len(world.xero.posts) == 3  # one per round of 5000 lines (the byte budget allows it)
    assert world.delivered() == world.ledger_ids() and world.record().cursor == 12_000


def test_a_run_out_of_time_leaves_its_place_and_reports_the_feed_unfinished() -> None:
    world = World()
    world.post(3)
    report = world.run(time_left=5.0)
    assert world.xero.posts == [] and report.unfinished == [
        FeedRef(business_id="biz_1", account_id="acc_1", generation=GENERATION)]
    assert world.record().last_sync_at is None


def test_a_pending_feed_connection_is_checked_first_and_becomes_active() -> None:
    world = World(status=FeedStatus.PENDING)
    world.post(1)
    world.xero.feed_status["fc-acc_1"] = None  # Xero shows a live feed connection without a status
    world.run()
    assert world.record().status == FeedStatus.ACTIVE and world.record().cursor == 1


def test_a_feed_connection_xero_activates_while_the_statements_go_shows_active_when_the_run_ends() -> None:
    # Given a feed connection Xero still has PENDING when the run starts, and activates while the statements go
    world = World(status=FeedStatus.PENDING)
    world.post(2)
    world.xero.feed_status["fc-acc_1"] = "PENDING"
    post = world.xero.post_statements

    def activated_meanwhile(statements, *, key):  # type: ignore[no-untyped-def]
        world.xero.feed_status["fc-acc_1"] = None  # live: Xero shows it without a status
        return post(statements, key=key)

    world.xero.post_statements = activated_meanwhile  # type: ignore[method-assign]
    world.run()
    # Then the run looks once more after sending, and the feed shows ACTIVE, synced
    assert [what for _, what in world.xero.calls] == ["feed_connection", "post", "feed_connection"]
    record = world.record()
    assert record.status == FeedStatus.ACTIVE and record.cursor == 2 and record.last_sync_at is not None


def test_a_pending_feed_with_nothing_sent_is_looked_up_once_and_a_failed_second_look_changes_nothing() -> None:
    # Nothing new: one look (a second at once would tell nothing more)
    world = World(status=FeedStatus.PENDING)
    world.xero.feed_status["fc-acc_1"] = "PENDING"
    world.run()
    assert [what for _, what in world.xero.calls] == ["feed_connection"]
    # Statements sent, then Xero's minute is used up: the run still ends synced, the feed PENDING for later
    world.post(1)
    world.xero.calls.clear()
    look = world.xero.feed_connection
    looks = iter([look, None])

    def second_look_limited(feed_connection_id: str):  # type: ignore[no-untyped-def]
        first = next(looks)
        if first is None:
            raise XeroRateLimited("minute used up", status=429, retry_after=30, problem="minute")
        return first(feed_connection_id)

    world.xero.feed_connection = second_look_limited  # type: ignore[method-assign]
    report = world.run()
    assert [what for _, what in world.xero.calls] == ["feed_connection", "post", "feed_connection"]
    record = world.record()
    assert record.status == FeedStatus.PENDING and record.cursor == 1 and report.feeds_synced == 1


def test_a_feed_connection_xero_rejected_is_marked_rejected_with_its_reason_and_nothing_is_sent() -> None:
    world = World(status=FeedStatus.PENDING)
    world.post(1)
    world.xero.feed_status["fc-acc_1"] = "REJECTED"
    world.run()
    record = world.record()
    assert record.status == FeedStatus.REJECTED and record.status_reason == "The bank account is closed."
    assert world.xero.posts == [] and record.last_sync_error == "The bank account is closed."


def test_lines_outside_xeros_window_move_the_cursor_without_being_sent() -> None:
    world = World()
    world.ledger.post("acc_1", "5.00", at=NOW - timedelta(days=500))
    world.ledger.post("acc_1", "7.00", at=NOW - timedelta(days=1))
    world.run()
    [statement] = world.xero.posts[0]
    assert [line.transaction_id for line in statement.statement_lines] == ["txn_acc_1_2"]
    assert statement.start_balance is not None and statement.start_balance.amount == Decimal("5.00")
    assert world.record().cursor == 2


def test_a_message_made_for_an_ended_connection_is_dropped_without_a_xero_call() -> None:
    # Given a feed with new transactions, and a message made while the business had its previous connection
    world = World()
    world.post(3)
    world.xero.generation = "gen-2"  # the business disconnected and connected again since
    before = world.record()
    # When the message is processed
    report = world.run()
    # Then nothing reaches Xero and the feed is left as it was, for the new connection's own sync
    assert world.xero.posts == [] and world.xero.keys == []
    assert report.stale == 1 and report.feeds_synced == 0
    assert world.record() == before


def test_a_posting_booked_before_lines_already_sent_goes_dated_as_the_newest_and_balances_add_up() -> None:
    # Given today's lines already in Xero
    world = World()
    today = NOW
    for n in range(3):
        world.ledger.post("acc_1", f"{n + 1}.00", at=today - timedelta(minutes=30 - n))
    world.run()
    world.xero.deliver()
    sent_day = world.xero.posts[0][0].end_date
    # When a payment booked with yesterday's date is posted after them (a later sequence, an earlier day)
    late = world.ledger.post("acc_1", "7.00", "DEBIT", at=today - timedelta(days=1))
    world.run()
    world.xero.deliver()
    # Then it is not lost: it goes in the next statement, dated the newest day Xero holds, never before it
    statement = world.xero.posts[1][0]
    [line] = statement.statement_lines
    assert line.transaction_id == late.transaction_id
    assert line.posted_date == sent_day and statement.start_date == sent_day
    # And the balances continue: the statement starts where the last ended and ends at the ledger's balance
    assert statement.start_balance == world.xero.posts[0][0].end_balance
    assert world.record().cursor_balance == late.running_balance
    assert world.delivered() == world.ledger_ids()


def test_a_statement_resent_after_a_crash_keeps_the_dates_it_was_recorded_with() -> None:
    # Given today's line sent, then a late posting recorded and sent, but the run dies before the answer
    world = World()
    world.ledger.post("acc_1", "5.00", at=NOW - timedelta(minutes=5))
    world.run()
    world.ledger.post("acc_1", "2.00", "DEBIT", at=NOW - timedelta(days=2))
    world.xero.crash_after_accepting = 1
    with pytest.raises(RuntimeError):
        world.run()
    # When the message comes back
    world.run()
    # Then the same statement goes again, byte for byte (same dates), so Xero replays or calls it a duplicate
    assert world.xero.posts[2] == world.xero.posts[1]
    assert world.xero.posts[1][0].start_date == world.xero.posts[0][0].end_date
    world.xero.deliver()
    assert world.delivered() == world.ledger_ids()
