"""A relink over a statement whose answer was never recorded: Xero is asked whether it has it.

Found by the soak (docs/soak.md, "Findings"): the worker records a statement before posting it; when Xero's
answer was lost and the user disconnected before the next run, linking the account again to the same Xero
bank account sent the statement again, to the new feed connection, where Xero had not seen its lines: they
were in the bank account twice and the balances broke.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from tests.support.connect_api import Api
from tests.support.connect_steps import linked_account, unlink_and_link_again
from xerosync.store.feeds import SentStatement
from xerosync.xero.bank_feeds import Balance, Statement, StatementLine
from xerosync.xero.client import get_xero_client


def _unanswered(first: int, last: int, start: Decimal, end: Decimal, day: datetime) -> SentStatement:
    return SentStatement(statement_id=None, first_sequence=first, last_sequence=last, start_balance=start,
                         end_balance=end, start_date=day.date(), end_date=day.date(),
                         sent_at=day.strftime("%Y-%m-%dT%H:%M:%SZ"), line_count=last - first + 1)


@pytest.mark.parametrize("xero_has_it", [True, False])
def test_a_relink_sends_again_only_what_xero_does_not_have(api: Api, xero: XeroEmulator, ledger: LedgerEmulator,
                                                           xero_has_it: bool) -> None:
    linked = linked_account(api, xero, ledger)
    fiona, path, bank, feeds, feed = linked.fiona, linked.path, linked.bank, linked.feeds, linked.feed
    # Given lines 6-10 were sent in a statement whose answer was never recorded
    day = datetime.now(UTC) - timedelta(days=2)
    entry = _unanswered(6, 10, Decimal("500.00"), Decimal("450.00"), day)
    if xero_has_it:  # Xero took it (the answer was dropped after it committed) and has delivered it
        lines = [StatementLine(posted_date=day.date(), amount=Decimal("10.00"), credit_debit_indicator="DEBIT",
                               transaction_id=f"txn_{n}", description="Card") for n in range(6, 11)]
        session = get_xero_client().session(feed.business_id)
        session.post_statements([Statement(
            feed_connection_id=feed.feed_connection_id, start_date=day.date(), end_date=day.date(),
            start_balance=Balance(amount=Decimal("500.00"), credit_debit_indicator="CREDIT"),
            end_balance=Balance(amount=Decimal("450.00"), credit_debit_indicator="CREDIT"),
            statement_lines=lines)], key="lost-answer")
        xero.advance_clock(60)
        xero.settle_pending()
    # (the worker's state after a lost answer: the cursor stays before the entry written ahead)
    feeds.save(feed.model_copy(update={"cursor": 5, "cursor_balance": Decimal("500.00"),
                                       "unconfirmed_statements": [entry]}))
    # When the account is unlinked before the next run, and linked again to the same Xero account
    unlink_and_link_again(fiona, xero, path, bank)
    # Then the new feed starts after what Xero has: lines 6-10 go again only if Xero never got them
    relinked = feeds.get(feed.business_id, feed.account_id)
    assert relinked is not None and relinked.unconfirmed_statements == []
    expected = (10, Decimal("450.00")) if xero_has_it else (5, Decimal("500.00"))
    assert (relinked.cursor, relinked.cursor_balance) == expected


def test_a_relink_waits_when_xero_cannot_say_whether_it_has_a_statement(api: Api, xero: XeroEmulator,
                                                                        ledger: LedgerEmulator) -> None:
    linked = linked_account(api, xero, ledger)
    fiona, path, bank, feeds, feed = linked.fiona, linked.path, linked.bank, linked.feeds, linked.feed
    # Given lines 6-10 went in a statement Xero accepted (its id recorded), not yet seen delivered
    day = datetime.now(UTC) - timedelta(days=2)
    entry = _unanswered(6, 10, Decimal("500.00"), Decimal("450.00"), day).model_copy(
        update={"statement_id": "6f1c1b7e-0000-4000-8000-00000000000a"})
    feeds.save(feed.model_copy(update={"cursor": 10, "cursor_balance": Decimal("450.00"),
                                       "unconfirmed_statements": [entry]}))
    assert fiona.call("DELETE", path).status == 200
    xero.advance_clock(7 * 60)
    xero.settle_pending()
    # When Xero fails every time the relink asks about that statement
    xero.add_fault("error", path="*/Statements/*", method="GET", status=500, times=20)
    refused = fiona.call("PUT", path, {"xero_account_id": bank})
    # Then the link is refused for now, rather than send lines 6-10 again, and the old link is left as it was
    assert refused.status == 503, refused.body
    assert refused.json()["error"]["action"] == "Link the account again in a few minutes."
    unlinked = feeds.get(feed.business_id, feed.account_id)
    assert unlinked is not None and unlinked.status == "UNLINKED" and unlinked.unconfirmed_statements == [entry]
