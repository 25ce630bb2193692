"""Steps and checks the sync-expenses tests of several modules share: a mapped business with expenses, every
expense exactly once in Xero, and the creates Xero was sent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.integration.expense_world import Business, World


def mapped_with_expenses(world: World, count: int) -> tuple[Business, list[str]]:
    business, _ = world.mapped_business()
    return business, world.seed_expenses(business, count)


def assert_exactly_once(world: World, business: Business, ids: list[str]) -> None:
    urls = Counter(t["Url"].rsplit("/", 1)[1] for t in world.spend_money(business.tenant_id))
    assert set(urls) == set(ids) and max(urls.values()) == 1, "every expense exactly once in Xero"
    synced = {e["transaction_id"]: e for e in world.user(business.business_id).tab("synced")}
    by_url = {t["Url"].rsplit("/", 1)[1]: t["BankTransactionID"] for t in world.spend_money(business.tenant_id)}
    assert {t: e["spend_money"]["bank_transaction_id"] for t, e in synced.items()} == by_url


def spend_money_creates(world: World) -> list[dict[str, Any]]:
    return [r for r in world.xero.request_log if r["method"] == "PUT" and r["path"].endswith("/BankTransactions")]
