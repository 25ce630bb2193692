"""A relink over a statement whose answer the worker never recorded, through the real path: the HTTP API's link
and unlink, the feed-sync worker on its queue, the Xero emulator.

Found by the soak (docs/soak.md, "Findings"): the worker records a statement before it posts it (write-ahead,
docs/auto-sync.md); when it dies after Xero accepted it, the entry keeps no statement id and the cursor stays
before it. The user then unlinks the account and links it again to the same Xero bank account: the new feed
connection must start after what the old one delivered, and must not start before a statement Xero has not
finished processing (docs/auto-sync.md, "Relinking over statements Xero has not confirmed").
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.xero import XeroEmulator
from tests.integration.auto_sync_world import AutoSync, signed_balance
from xerosync.auto_sync.worker import FeedSyncWorker
from xerosync.store.feeds import FeedRecord

BUSINESS = "biz_relink"


def _put(auto_sync: AutoSync, method: str, path: str, body: Any = None) -> Any:
    token = auto_sync.authority.mint(business_id=BUSINESS, user_id="u_fiona", role="Finance")
    return auto_sync.gateway.handle(method, path, headers={"Authorization": f"Bearer {token}",
                                                           "Content-Type": "application/json"},
                                    body=json.dumps(body) if body is not None else b"")


def _linked(auto_sync: AutoSync, xero: XeroEmulator, body: dict[str, str]) -> tuple[str, str, str, str]:
    """A new organisation, the business connected to it, a new HKD account linked (over HTTP, with ``body``
    besides the Xero bank account) to the organisation's HKD bank account, the link active; its tenant, ledger
    account id, Xero bank account id and link path."""
    tenant = xero.seed_organisation("Harbour Trading Ltd", base_currency="HKD")
    auto_sync.connect(BUSINESS, tenant)
    account_id = auto_sync.account(BUSINESS).account_id
    bank = next(a["AccountID"] for a in xero.accounts(tenant)
                if a["Type"] == "BANK" and a.get("CurrencyCode", "HKD") == "HKD")
    path = f"/v1/bank-accounts/{account_id}/feed"
    linked = _put(auto_sync, "PUT", path, {"xero_account_id": bank, **body})
    assert linked.status == 200, linked.body
    xero.advance_clock(5)
    xero.settle_pending()
    return tenant, account_id, bank, path


def _sync(auto_sync: AutoSync, xero: XeroEmulator) -> None:
    """The 3-hour run, then Xero processes what it was sent, then a run that reads the statuses back."""
    auto_sync.fire()
    auto_sync.pump()
    xero.advance_clock(60)
    xero.settle_pending()
    auto_sync.fire(datetime.now(UTC) + timedelta(hours=3))
    auto_sync.pump()


def _crash_after_xero_accepts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    original = FeedSyncWorker._post
    crashes = {"left": 1}

    def post_then_crash(self: FeedSyncWorker, *args: Any, **kwargs: Any) -> Any:
        answer = original(self, *args, **kwargs)
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("the worker died after Xero accepted")
        return answer

    monkeypatch.setattr(FeedSyncWorker, "_post", post_then_crash)
    return crashes


@pytest.mark.parametrize("xero_processed", ["before the unlink", "after the feed was removed", "after the relink"])
def test_a_relink_after_a_lost_answer_puts_every_line_in_xero_once(
        auto_sync: AutoSync, xero: XeroEmulator, monkeypatch: pytest.MonkeyPatch, xero_processed: str) -> None:
    # Given an HKD account linked to the organisation's HKD bank account, its first lines delivered
    since = (datetime.now(UTC) - timedelta(days=3)).date()
    tenant, account_id, bank, path = _linked(auto_sync, xero, {"backfill_from": since.isoformat()})
    for _ in range(3):
        auto_sync.post_days_ago(account_id, 2)
    _sync(auto_sync, xero)
    old = auto_sync.feeds.get(BUSINESS, account_id)
    assert old is not None and old.cursor == 3 and old.unconfirmed_statements == []
    # And two more lines, whose statement Xero accepted but the worker died before recording its answer
    for _ in range(2):
        auto_sync.post_days_ago(account_id, 1)
    if xero_processed == "after the relink":
        monkeypatch.setattr(xero.config, "statement_delay_s", 3600.0)  # Xero is slow today
    crashes = _crash_after_xero_accepts(monkeypatch)
    auto_sync.fire(datetime.now(UTC) + timedelta(hours=6))
    assert auto_sync.worker.poll_once() is not None
    assert crashes["left"] == 0
    left = auto_sync.feeds.get(BUSINESS, account_id)
    assert left is not None and left.cursor == 3
    assert [(e.statement_id, e.first_sequence, e.last_sequence) for e in left.unconfirmed_statements] == [(None, 4, 5)]
    if xero_processed == "before the unlink":  # Xero delivered it on the old feed connection
        xero.advance_clock(60)
        xero.settle_pending()
    # When the user unlinks the account before the next run, and links it again to the same Xero bank account
    assert _put(auto_sync, "DELETE", path).status == 200
    xero.advance_clock(7 * 60)  # Xero has removed the old feed connection (and, but when slow, the statement)
    if xero_processed == "after the relink":
        # Then while Xero has not processed the statement, the link waits rather than send its lines again
        waiting = _put(auto_sync, "PUT", path, {"xero_account_id": bank})
        assert waiting.status == 503, waiting.body
        assert waiting.json()["error"]["code"] == "statement_still_processing"
        assert waiting.json()["error"]["action"] == "Link the account again in a few minutes."
        xero.advance_clock(3600)
    xero.settle_pending()
    relinked = _put(auto_sync, "PUT", path, {"xero_account_id": bank})
    assert relinked.status == 200, relinked.body
    xero.advance_clock(5)
    xero.settle_pending()
    # And the next runs sync the account (the message the crash returned comes back too)
    _sync(auto_sync, xero)
    # Then every line is in the Xero bank account exactly once, across the old and the new feed connection,
    # and the statements continue one another
    ledger = auto_sync.ledger_lines(left, since)
    statements = [s for s in xero.statements(tenant) if s["status"] == "DELIVERED"]
    in_xero = [line["transactionId"] for s in statements for line in s["statementLines"]]
    assert sorted(in_xero) == sorted(t.transaction_id for t in ledger)
    assert signed_balance(statements[0]["startBalance"]) == ledger[0].balance_before
    for before, after in itertools.pairwise(statements):
        assert signed_balance(after["startBalance"]) == signed_balance(before["endBalance"])
    assert signed_balance(statements[-1]["endBalance"]) == ledger[-1].running_balance
    feed = auto_sync.feeds.get(BUSINESS, account_id)
    assert isinstance(feed, FeedRecord) and feed.cursor == 5 and feed.unconfirmed_statements == []


def test_a_relink_after_the_first_statements_answer_was_lost_sends_nothing_twice(
        auto_sync: AutoSync, xero: XeroEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an account linked today (history from today), whose first statement Xero accepted and delivered
    # while the worker died before recording the answer: the cursor is still 0
    tenant, account_id, bank, path = _linked(auto_sync, xero, {})
    for _ in range(2):
        auto_sync.post_days_ago(account_id, 0)
    crashes = _crash_after_xero_accepts(monkeypatch)
    auto_sync.fire()
    assert auto_sync.worker.poll_once() is not None and crashes["left"] == 0
    first = auto_sync.feeds.get(BUSINESS, account_id)
    assert first is not None and first.cursor == 0 and len(first.unconfirmed_statements) == 1
    xero.advance_clock(60)
    xero.settle_pending()
    # When the user unlinks and links the account again to the same Xero bank account, and the feed syncs
    assert _put(auto_sync, "DELETE", path).status == 200
    xero.advance_clock(7 * 60)
    xero.settle_pending()
    assert _put(auto_sync, "PUT", path, {"xero_account_id": bank}).status == 200
    xero.advance_clock(5)
    xero.settle_pending()
    auto_sync.post_days_ago(account_id, 0)
    _sync(auto_sync, xero)
    # Then each line is in the Xero bank account once, the statements continuing one another
    ledger = auto_sync.ledger_lines(first)
    statements = [s for s in xero.statements(tenant) if s["status"] == "DELIVERED"]
    assert [line["transactionId"] for s in statements for line in s["statementLines"]] == \
        [t.transaction_id for t in ledger]
    for before, after in itertools.pairwise(statements):
        assert signed_balance(after["startBalance"]) == signed_balance(before["endBalance"])
