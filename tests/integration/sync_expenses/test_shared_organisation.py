"""Several businesses on one Xero organisation: reads that cost Xero once, fair shares of its limits, bounded
lists, a sync that answers at once, and waits that say why."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from emulators.time_control import OffsetClock, SystemClock
from local.direct_connect import connect_directly
from tests.integration.expense_world import Business, World
from tests.support.sqs_clock import SqsClock
from xerosync.clock import process_clock
from xerosync.store.keys import xero_bank_accounts_key
from xerosync.store.shared_cache import SharedCache


def _sibling(world: World, of: Business, *, link: bool = True) -> Business:
    """Another business of the same group, connected to the same organisation, its HKD account linked."""
    business_id = world.ledger.create_business("SG").business_id
    connect_directly(world.client, world.xero, business_id, of.tenant_id)
    sibling = Business(business_id, of.tenant_id)
    sibling.accounts["HKD"] = world.ledger.create_account(business_id, "HKD", name="HKD Operating").account_id
    if link:
        world.link(sibling, "HKD", of.xero_banks["HKD"])
    return sibling


def _xero_calls(world: World, tenant: str, since: int, path: str | None = None) -> list[dict[str, Any]]:
    return [e for e in world.xero.request_log[since:] if e.get("tenant") == tenant
            and (path is None or e["path"].endswith(path))]


def test_concurrent_refreshes_of_the_reference_data_cost_xero_one_read(world: World) -> None:
    # Given an organisation whose reference data a minute old, and eight clicks on "refresh" at once
    business, user = world.mapped_business()
    world.age_reference_data(business.tenant_id, 120)
    since = len(world.xero.request_log)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: user.call("GET", "/v1/expenses/reference-data", query="refresh=true"),
                                range(8)))
    # Then every click is answered, and Xero was read once (its five calls: organisation, accounts, tax rates,
    # tracking, currencies)
    assert {a.status for a in answers} == {200}
    assert len(_xero_calls(world, business.tenant_id, since)) == 5


def test_the_xero_bank_accounts_are_read_from_xero_once_a_minute_whoever_asks(world: World) -> None:
    business, user = world.mapped_business()
    sibling = _sibling(world, business)
    since = len(world.xero.request_log)
    for asking in (user, world.user(sibling.business_id)) * 10:
        assert asking.call("GET", "/v1/xero/bank-accounts").status == 200
    assert len(_xero_calls(world, business.tenant_id, since, "/Accounts")) == 1


def test_a_business_over_its_share_hears_429_while_its_siblings_sync_goes_on(world: World) -> None:
    # Given two businesses on one organisation, the second syncing its expenses
    business, looping = world.mapped_business()
    sibling = _sibling(world, business)
    world.map_categories(sibling, travel="493")
    ids = [world.pay(sibling, pump=False) for _ in range(3)]
    world.pump_events()
    job = world.user(sibling.business_id).sync(ids)
    # When a user of the first keeps reloading a page that reaches Xero (the picker, its cache forgotten)
    cache = SharedCache(world.table, world.client.clock)
    refused = None
    for _ in range(40):
        cache.forget(xero_bank_accounts_key(business.tenant_id))
        answer = looping.call("GET", "/v1/xero/bank-accounts")
        if answer.status == 429:
            refused = answer
            break
        assert answer.status == 200
    # Then it is refused with Retry-After and the product's error, once its own allowance is spent
    assert refused is not None, "the per-business cap never applied"
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["code"] and error["message"] and error["action"]
    # And the sibling's sync is not held back by it
    world.pump_worker()
    progress = world.user(sibling.business_id).ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["status"], progress["synced"]) == ("COMPLETED", 3)


def test_a_list_request_reads_a_bounded_part_of_the_list_and_says_where_to_go_on(world: World) -> None:
    # Given a business with more expenses than one request reads
    business, user = world.mapped_business()
    world.seed_expenses(business, 2100)
    # When it lists with a filter that matches nothing
    query = "tab=pending&limit=50&has_error=true"
    first = user.ok("GET", "/v1/expenses", query=query)
    # Then the answer comes without walking the whole list: no item yet, and a cursor to go on from
    assert first["items"] == [] and first["next_cursor"]
    pages = 1
    cursor = first["next_cursor"]
    while cursor:
        page = user.ok("GET", "/v1/expenses", query=f"{query}&cursor={cursor}")
        assert page["items"] == []
        cursor, pages = page["next_cursor"], pages + 1
    assert pages == 2  # 2100 items at 2000 a request


def test_starting_a_sync_shows_the_expenses_being_synced_before_the_worker_has_planned_it(world: World) -> None:
    business, user = world.mapped_business()
    ids = world.seed_expenses(business, 120)
    job = user.sync(ids, plan=False)
    assert (job["status"], job["total"]) == ("RUNNING", 120)
    # The planner has not run: still, the Pending Sync tab shows every one of them being synced by the job
    pending = {e["transaction_id"]: e for e in user.pending()}
    assert all(pending[i]["status"] == "QUEUED" and pending[i]["job_id"] == job["job_id"] for i in ids)
    assert not any(pending[i]["ready_to_sync"] for i in ids)
    # And once the worker has planned and sent the batches, they are synced exactly once
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["synced"] == 120
    assert len(world.spend_money(business.tenant_id)) == 120


def test_a_sync_that_waits_for_xeros_limit_says_why_and_until_when_then_goes_on(
        world: World, sqs_clock: SqsClock, monkeypatch: pytest.MonkeyPatch) -> None:
    business, user = world.mapped_business()
    ids = [world.pay(business, pump=False) for _ in range(2)]
    world.pump_events()
    # Six seconds: the two reads below must fall inside the wait, even on a loaded machine
    world.xero.add_fault("rate_limit", path="*/BankTransactions", method="PUT", times=1, retry_after=6,
                         problem="minute")
    job = user.sync(ids)
    world.pump_worker()  # Xero answers 429: the batch goes back to the queue for its wait
    waiting = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert waiting["status"] == "RUNNING"
    assert waiting["waiting"]["reason"] == "Xero's per-minute limit for your organisation"
    assert "Waiting for Xero's per-minute limit" in waiting["summary"] and "continues at about" in waiting["summary"]
    assert {e["waiting"]["until"] for e in user.pending()} == {waiting["waiting"]["until"]}
    # When the wait is over (SQS's clock, which the Retry-After set the message's visibility on, and the product's,
    # which the rate governor holds the organisation's wait on, both moved past it), the message comes back and the
    # sync goes on
    sqs_clock.advance(6.5)
    product_clock = process_clock()
    monkeypatch.setattr(product_clock, "time", OffsetClock(SystemClock(), 6.5).time)
    world.pump_worker()
    done = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (done["status"], done["synced"], done["waiting"]) == ("COMPLETED", 2, None)
    assert all(user.ok("GET", f"/v1/expenses/{i}")["waiting"] is None for i in ids)


def test_a_bank_account_created_in_xero_after_the_organisation_was_cached_is_not_called_deleted(
        world: World) -> None:
    # Given a business whose organisation's reference data was cached before its sibling linked a new account
    business, _ = world.mapped_business()
    sibling = _sibling(world, business, link=False)
    created = world.xero.add_account(business.tenant_id, {
        "Name": "HKD Group Card", "Code": "091", "Type": "BANK", "CurrencyCode": "HKD",
        "BankAccountNumber": "998877665"})
    world.link(sibling, "HKD", str(created["AccountID"]))
    world.map_categories(sibling, travel="493")
    # When the sibling syncs an expense paid from it, within the cache's lifetime
    paid = world.pay(sibling)
    user = world.user(sibling.business_id)
    job = user.sync([paid])
    world.pump_worker()
    # Then the snapshot is refreshed once before anything is called archived or deleted, and the expense syncs
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNCED", json.dumps(expense.get("error"))
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["failed"] == 0

