"""Sync expenses end to end on the local stack, as the frontend drives it: 1000 pending expenses, three invalid
in different ways; sync all; fix the three; change a synced one's category in the bank and sync it again."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from emulators.ledger import Counterparty, LedgerEmulator
from local.stack import DevStack, DevStackConfig
from tests.support.frontend import ready_to_sync_expenses
from xerosync import aws
from xerosync.settings import get_settings
from xerosync.sync_expenses.store import ReferenceDataStore

pytestmark = pytest.mark.e2e

EXPENSES = 1000
# Postings arrive in bursts that the consumer keeps up with: moto's SQS reads its whole queue on every receive,
# so a queue a thousand deep would make the local stack, not the product, the slow part.
BURST = 100


FEATURE_FUNCTIONS = ("LedgerEventsFunction", "SyncExpensesWorkerFunction")


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    """The local stack as the soak runs it: the functions' AWS calls handed to moto, and their calls to Xero and the
    ledger handed to the emulators, in this process without a socket (local/aws_in_process.py,
    local/http_in_process.py: the same SDK and HTTP client code, the same answers). What goes over loopback is
    what the user does: every request of the test's frontend reaches the HTTP API as on the other stacks. A thousand
    expenses take thousands of AWS calls: on the wire, each opened a connection and a server thread."""
    with DevStack(DevStackConfig(log_level="ERROR", visibility_timeout=2, aws_in_process=True,
                                 emulators_in_process=True)) as running:
        yield running


@pytest.fixture
def expense_pollers_only(stack: DevStack) -> Iterator[DevStack]:
    """The stack with one unhurried poller for each of this feature's queues, and none for the others'. The
    local stack runs every poller in this process, each polling moto server even when idle: with a thousand
    expenses to move, pollers with nothing to do (or a second one on a queue, which adds no parallelism in one
    interpreter) would take most of its time. Everything is restarted afterwards, on emptied queues: the paused
    pollers' queues gathered this test's leftovers meanwhile (the ledger's rule sends each posting to the feed
    events' queue too), a thousand messages that no test reads and that restarted pollers would work through."""
    mappings = list(stack.mappings.items())
    for _, mapping in mappings:
        mapping.stop()
    for function in FEATURE_FUNCTIONS:
        stack.mappings[function].start(concurrency=1, idle_sleep=0.25)
    try:
        yield stack
    finally:
        for function in FEATURE_FUNCTIONS:
            stack.mappings[function].stop()
        sqs = stack.sqs()
        for _, mapping in mappings:
            sqs.purge_queue(QueueUrl=mapping.queue_url)
            mapping.start(concurrency=stack.config.concurrency)


@contextmanager
def published_together(ledger: LedgerEmulator) -> Iterator[None]:
    """The ledger's events of a burst of postings go to EventBridge together (ten per PutEvents, the API's
    limit) instead of one call per posting: the same events, fewer local round trips."""
    publisher = ledger.event_publisher
    assert publisher is not None
    held: list[Any] = []
    ledger.event_publisher = held.extend
    try:
        yield
    finally:
        ledger.event_publisher = publisher
        publisher(held)


def _drain(stack: DevStack, timeout: float = 120.0) -> None:
    """Wait until this feature's queues are empty (the other pollers are paused, so stack.drain would wait)."""
    deadline = time.monotonic() + timeout
    while any(stack.queue_depth(q) for q in ("LedgerEventsQueue", "ExpenseSyncQueue")):
        assert time.monotonic() < deadline, "the expense queues did not drain"
        time.sleep(0.25)


@pytest.mark.long
@pytest.mark.timeout(900)  # a thousand expenses through the stack: about 2 minutes alone, longer on a busy machine
def test_a_thousand_expenses_three_invalid_synced_fixed_and_an_updated_one_synced_again(
        expense_pollers_only: DevStack) -> None:
    stack = expense_pollers_only
    ledger, xero = stack.ledger, stack.xero
    # Given a Singapore business connected to Xero, its HKD account linked (the connect issue's API), and its
    # travel and software payments mapped
    hkd, tenant, user, accounts = ready_to_sync_expenses(stack, "Expense Sync Trading Pte. Ltd.",
                                                        "Expense Sync Books", travel="493", software="429")

    # And 1000 payments out of the account, as the day's postings arrive: one uncategorised, the others travel
    # or software
    paid: list[str] = []
    for burst in range(0, EXPENSES, BURST):
        with published_together(ledger):
            paid.extend(ledger.post_transaction(hkd, f"{10 + n % 90}.{n % 100:02d}", "DEBIT",
                                                spend_category=None if n == 0 else ("travel", "software")[n % 2],
                                                counterparty=Counterparty(f"Supplier {n % 40}", "1"),
                                                reference=f"INV-{n}", description=f"Expense {n}").transaction_id
                        for n in range(burst, burst + BURST))
        _drain(stack)
    pending = user.tab("pending")
    assert len(pending) == EXPENSES and {e["status"] for e in pending} == {"PENDING"}
    uncategorised, archived_account, archived_option = paid[0], paid[1], paid[2]
    # Two are given choices that Xero then takes away: an account archived, a tracking option archived
    region = next(c for c in user.call("GET", "/v1/expenses/reference-data")["tracking_categories"]
                  if c["name"] == "Region")
    north, south = (next(o["tracking_option_id"] for o in region["options"] if o["name"] == name)
                    for name in ("North", "South"))
    user.call("PATCH", f"/v1/expenses/{archived_account}", {"xero_account_id": accounts["420"]})
    user.call("PATCH", f"/v1/expenses/{archived_option}", {"tracking": [
        {"tracking_category_id": region["tracking_category_id"], "tracking_option_id": north}]})
    xero.update_account(tenant, accounts["420"], {"Status": "ARCHIVED"})
    xero.set_tracking_status(tenant, north, "ARCHIVED")
    _age_reference_data(tenant)  # time passes: the cached reference data is due for a refresh

    # When Fiona selects all 1000 on the Pending Sync tab and syncs them
    # The worker reads the payments from the ledger before sending them (docs/sync-expenses.md, "As the ledger
    # has it"), a page of postings per batch: about 70 to 100 s on a busy machine, waited for twice that
    done = user.sync([e["transaction_id"] for e in pending], timeout=240)

    # Then 997 are SYNCED and 3 are in SYNC_ERROR, each with a message a person understands
    assert (done["synced"], done["failed"], done["summary"]) == (
        997, 3, "Done: 997 of 1000 synced, 3 failed (each failed expense shows why).")
    failed = {e["transaction_id"]: e["error"] for e in user.tab("pending", status="SYNC_ERROR")}
    assert set(failed) == {uncategorised, archived_account, archived_option}
    assert failed[uncategorised]["message"] == "This expense has no category and no Xero account."
    assert failed[uncategorised]["action"] == "Choose a Xero account for this expense."
    assert failed[archived_account]["message"] == "The Xero account 420 Entertainment is archived in Xero."
    assert failed[archived_option]["message"] == "The tracking option 'North' of 'Region' is archived in Xero."
    assert len(_spend_money(stack, tenant)) == 997
    puts = [r for r in xero.request_log if r["method"] == "PUT" and r["path"].endswith("/BankTransactions")
            and r["tenant"] == tenant]
    assert len(puts) == 20, "997 expenses in batches of up to 50"

    # When she fixes the three and syncs them again
    user.call("PATCH", f"/v1/expenses/{uncategorised}", {"xero_account_id": accounts["429"]})
    user.call("PATCH", f"/v1/expenses/{archived_account}", {"xero_account_id": accounts["493"]})
    user.call("PATCH", f"/v1/expenses/{archived_option}", {"tracking": [
        {"tracking_category_id": region["tracking_category_id"], "tracking_option_id": south}]})
    assert user.sync([uncategorised, archived_account, archived_option])["synced"] == 3
    assert user.tab("pending") == [] and len(_spend_money(stack, tenant)) == EXPENSES

    # When the category of a synced expense changes in the bank, it shows Updated on the Synced tab
    changed = paid[10]  # travel, mapped to 493
    ledger.set_spend_category(hkd, changed, "software")
    _drain(stack)
    [updated] = user.tab("synced", updated="true")
    assert updated["transaction_id"] == changed and updated["xero_account"]["code"] == "429"
    # And syncing it again updates its one Spend Money in Xero, rather than adding a second
    assert user.sync([changed])["synced"] == 1
    spend = _spend_money(stack, tenant)
    mine = [t for t in spend if t["Url"].endswith(f"/{changed}")]
    assert len(mine) == 1 and mine[0]["LineItems"][0]["AccountCode"] == "429"
    assert len(spend) == EXPENSES and max(Counter(t["Url"] for t in spend).values()) == 1
    assert user.call("GET", f"/v1/expenses/{changed}")["updated"] is False


def _spend_money(stack: DevStack, tenant: str) -> list[dict[str, Any]]:
    return [t for t in stack.xero.bank_transactions(tenant) if t.get("Status") != "DELETED"]


def _age_reference_data(tenant: str) -> None:
    store = ReferenceDataStore(aws.table(get_settings().main_table_name))
    snapshot = store.get(tenant)
    assert snapshot is not None
    store.put(snapshot.model_copy(update={"refreshed_at": snapshot.refreshed_at - 3600}))
