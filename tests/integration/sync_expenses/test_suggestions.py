"""Suggestions learned from a payee's synced expenses, per-payee rules, and their precedence, driven as users and
the platform reach them: HTTP through the gateway, ledger events through their queue, batches through the
Spend Money worker."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.integration.expense_world import ApiUser, Business, World
from xerosync.clock import iso, utc_now
from xerosync.ledger.models import LedgerTransaction
from xerosync.sync_expenses.models import ExpenseRecord
from xerosync.sync_expenses.payees import normalise_payee
from xerosync.sync_expenses.state_machine import apply_ledger
from xerosync.sync_expenses.store import ExpenseStore
from xerosync.sync_expenses.suggestion_store import PayeeStore, Suggestions


def _sync_all(world: World, user: ApiUser, ids: list[str]) -> None:
    user.sync(ids)
    world.pump_worker()
    assert all(user.ok("GET", f"/v1/expenses/{i}")["status"] == "SYNCED" for i in ids)


def _source(expense: dict[str, Any], field: str) -> tuple[str, str] | None:
    found = next((s for s in expense["sources"] if s["field"] == field), None)
    return (found["source"], found["explanation"]) if found else None


def _synced_with(world: World, business: Business, user: ApiUser, code: str, count: int, payee: str) -> list[str]:
    """``count`` payments to ``payee``, each coded to account ``code`` by hand and synced."""
    ids = [world.pay(business, payee=payee, pump=False) for _ in range(count)]
    world.pump_events()
    for i in ids:
        user.ok("PATCH", f"/v1/expenses/{i}", {"xero_account_id": world.account_id(business.tenant_id, code)})
    _sync_all(world, user, ids)
    return ids


def test_a_payees_synced_expenses_fill_in_its_next_ones_and_what_is_synced_uses_them(world: World) -> None:
    business, user = world.mapped_business()  # travel -> 493
    waiting = world.pay(business, payee="Grab")  # pending while the history is made
    assert _source(user.ok("GET", f"/v1/expenses/{waiting}"), "xero_account") == ("mapping", "from the mapping")
    _synced_with(world, business, user, "494", 3, "GRAB* Grab")

    # The payee's expense waiting already, and a new one under another spelling, now show the learned account
    arrived = world.pay(business, payee="GRAB PTE. LTD.")
    pending = {e["transaction_id"]: e for e in user.pending()}
    for transaction_id in (waiting, arrived):
        expense = pending[transaction_id]
        assert expense["xero_account"]["code"] == "494" and expense["xero_account"]["source"] == "history"
        assert _source(expense, "xero_account") == ("history", "from your last 3 expenses at GRAB* Grab")
        assert expense["tax_rate"]["tax_type"] == "NONE" and expense["tax_rate"]["source"] == "history"
        assert expense["has_suggestions"] and expense["ready_to_sync"]
    # Another payee is untouched
    other = world.pay(business, payee="Harbour Taxi")
    assert user.ok("GET", f"/v1/expenses/{other}")["xero_account"]["source"] == "mapping"

    # What goes to Xero is what was shown
    _sync_all(world, user, [arrived])
    sent = next(t for t in world.spend_money(business.tenant_id) if t["Url"].endswith(arrived))
    assert sent["LineItems"][0]["AccountCode"] == "494" and sent["LineItems"][0]["TaxType"] == "NONE"


def test_an_edit_after_a_sync_teaches_the_next_suggestion(world: World) -> None:
    business, user = world.mapped_business()
    tenant = business.tenant_id
    ids = _synced_with(world, business, user, "494", 3, "Grab")
    assert user.ok("GET", f"/v1/expenses/{world.pay(business, payee='Grab')}")["xero_account"]["code"] == "494"

    # The receipts change in the bank, so the synced expenses are Updated; Fiona recodes them and syncs again
    for transaction_id in ids:
        world.ledger.set_description(business.accounts["HKD"], transaction_id, "Ride to the airport")
    world.pump_events()
    for transaction_id in ids:
        user.ok("PATCH", f"/v1/expenses/{transaction_id}", {"xero_account_id": world.account_id(tenant, "493"),
                                                           "tax_type": "INPUT"})
    _sync_all(world, user, ids)

    # The history now says 493: the next Grab expense (and the one waiting) follow it
    latest = world.pay(business, payee="Grab")
    for expense in [e for e in user.pending() if e["payee"] == "Grab"]:
        assert expense["xero_account"]["code"] == "493" and expense["xero_account"]["source"] == "history", latest


def test_a_history_split_between_accounts_suggests_nothing(world: World) -> None:
    business, user = world.mapped_business()
    _synced_with(world, business, user, "494", 2, "Grab")
    _synced_with(world, business, user, "420", 2, "Grab")
    arrived = world.pay(business, payee="Grab")
    expense = user.ok("GET", f"/v1/expenses/{arrived}")
    assert expense["xero_account"]["source"] == "mapping" and not expense["has_suggestions"]


def test_an_account_archived_in_xero_is_not_suggested(world: World) -> None:
    business, user = world.mapped_business()
    _synced_with(world, business, user, "494", 3, "Grab")
    world.xero.update_account(business.tenant_id, world.account_id(business.tenant_id, "494"), {"Status": "ARCHIVED"})
    world.age_reference_data(business.tenant_id, 120)  # a forced refresh reads Xero at most once a minute
    user.ok("GET", "/v1/expenses/reference-data", query="refresh=true")
    arrived = world.pay(business, payee="Grab")
    expense = user.ok("GET", f"/v1/expenses/{arrived}")
    assert expense["xero_account"]["code"] == "493" and expense["xero_account"]["source"] == "mapping"
    assert expense["ready_to_sync"]


def test_accepting_suggestions_makes_them_the_expenses_own(world: World) -> None:
    business, user = world.mapped_business()
    _synced_with(world, business, user, "494", 3, "Grab")
    arrived = world.pay(business, payee="Grab")
    accepted = user.ok("POST", f"/v1/expenses/{arrived}/accept-suggestions")
    assert accepted["xero_account"]["source"] == "expense" and accepted["tax_rate"]["source"] == "expense"
    assert not accepted["has_suggestions"]
    again = user.call("POST", f"/v1/expenses/{arrived}/accept-suggestions")
    assert again.status == 409 and again.json()["error"]["code"] == "no_suggestions"
    assert user.call("POST", "/v1/expenses/txn_unknown/accept-suggestions").status == 404


def test_per_payee_rules_are_validated_win_over_history_and_never_over_the_expense(world: World) -> None:
    business, user = world.mapped_business()
    tenant = business.tenant_id
    _synced_with(world, business, user, "494", 3, "Grab")
    mine, plain = world.pay(business, payee="Grab", pump=False), world.pay(business, payee="GRAB*", pump=False)
    world.pump_events()
    user.ok("PATCH", f"/v1/expenses/{mine}", {"xero_account_id": world.account_id(tenant, "400")})

    # Refused with the reason and the way out: an archived account, one without payments, none at all
    for body, code in (({"xero_account_id": world.account_id(tenant, "419")}, "account_archived"),
                       ({"xero_account_id": world.account_id(tenant, "461")}, "account_payments_disabled"),
                       ({"tax_type": "OUTPUT"}, "tax_rate_not_for_expenses"),
                       ({}, "empty_rule")):
        response = user.call("POST", "/v1/expenses/payee-rules", {"payee": "Grab", **body})
        assert response.status == 400 and response.json()["error"]["code"] == code, response.body
        assert response.json()["error"]["action"]
    assert user.ok("GET", "/v1/expenses/payee-rules") == {"rules": []}

    # Saved: it applies at once to the payee's pending expenses, under the expense's own choice
    created = user.ok("POST", "/v1/expenses/payee-rules",
                      {"payee": "Grab Pte Ltd", "xero_account_id": world.account_id(tenant, "420")}, status=201)
    assert created["payee_key"] == "grab" and created["xero_account"]["code"] == "420" and not created["problems"]
    pending = {e["transaction_id"]: e for e in user.pending()}
    assert pending[plain]["xero_account"]["code"] == "420"
    assert _source(pending[plain], "xero_account") == ("rule", "from your rule for Grab")  # the payee as first synced
    assert pending[mine]["xero_account"]["code"] == "400" and pending[mine]["xero_account"]["source"] == "expense"
    duplicate = user.call("POST", "/v1/expenses/payee-rules", {"payee": "GRAB", "tax_type": "NONE"})
    assert duplicate.status == 409 and duplicate.json()["error"]["code"] == "payee_rule_exists"
    assert created["rule_id"] in duplicate.json()["error"]["action"]

    # Changed and listed; another business neither sees nor changes it; only Admin and Finance manage rules
    path = f"/v1/expenses/payee-rules/{created['rule_id']}"
    changed = user.ok("PUT", path, {"xero_account_id": world.account_id(tenant, "429"), "tax_type": "INPUT"})
    assert changed["xero_account"]["code"] == "429" and changed["tax_type"] == "INPUT"
    assert [r["rule_id"] for r in user.ok("GET", "/v1/expenses/payee-rules")["rules"]] == [created["rule_id"]]
    assert user.ok("GET", f"/v1/expenses/{plain}")["xero_account"]["code"] == "429"
    stranger, _ = world.mapped_business()
    other = world.user(stranger.business_id)
    assert other.ok("GET", "/v1/expenses/payee-rules") == {"rules": []}
    assert other.call("DELETE", path).status == 404 and other.call("PUT", path, {"tax_type": "NONE"}).status == 404
    employee = world.user(business.business_id, role="Employee", user_id="u_eric")
    assert employee.call("GET", "/v1/expenses/payee-rules").status == 403

    # Deleted: the history's suggestion comes back
    assert user.ok("DELETE", path) == {"rules": []}
    assert user.ok("GET", f"/v1/expenses/{plain}")["xero_account"]["source"] == "history"
    assert user.call("DELETE", path).status == 404
    assert user.call("DELETE", "/v1/expenses/payee-rules/pr_not-hex").status == 404


def test_two_workers_ending_syncs_of_one_payee_at_once_both_teach(world: World) -> None:
    """Both read the summary before either writes: one write loses, re-reads and merges, and the pending expense
    ends with the suggestion of the summary that holds both."""
    business, user = world.mapped_business()
    tenant = business.tenant_id
    first = _synced_with(world, business, user, "494", 2, "Grab")
    second = _synced_with(world, business, user, "494", 2, "Grab")
    waiting = world.pay(business, payee="Ride Co")  # a payee without history yet
    expenses = ExpenseStore(world.table)
    store = PayeeStore(world.table)
    key = normalise_payee("Ride Co")
    assert store.get(business.business_id, key) is None
    # Two workers each learn two synced expenses of that payee, at once
    records = {i: r.model_copy(update={"payment": r.payment.model_copy(update={"payee": "RIDE CO PTE LTD"})})
               for i, r in expenses.get_many(business.business_id, first + second).items()}
    both_read = threading.Barrier(2, timeout=10)
    original_get_many = PayeeStore.get_many
    reads: list[int] = []

    def read_together(self: PayeeStore, business_id: str, payee_keys: Any) -> Any:
        found = original_get_many(self, business_id, payee_keys)
        reads.append(found[key].version if key in found else 0)
        both_read.wait()  # each worker reads its batch's payees once, both before either writes
        return found

    def learn(ids: list[str]) -> None:
        Suggestions(ExpenseStore(world.table), PayeeStore(world.table)).learn(
            business.business_id, [records[i] for i in ids])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PayeeStore, "get_many", read_together)
        workers = [threading.Thread(target=learn, args=(ids,)) for ids in (first, second)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    summary = store.get(business.business_id, key)
    assert summary is not None and sorted(e.transaction_id for e in summary.history) == sorted(first + second)
    assert reads == [0, 0] and summary.version == 2  # both read none; the loser read again and merged
    expense: ExpenseRecord | None = expenses.get(business.business_id, waiting)
    assert expense is not None and expense.suggestion is not None
    assert expense.suggestion.summary_version == 2 and expense.suggestion.agreeing == 4
    assert user.ok("GET", f"/v1/expenses/{waiting}")["xero_account"]["account_id"] == world.account_id(tenant, "494")


def test_a_payment_whose_ledger_copy_names_another_payee_is_synced_with_that_payees_suggestion(world: World) -> None:
    # The expense was written from the payment as the bank first reported it (to Harbour Taxi), and carries
    # Harbour Taxi's rule. The ledger's copy now names Grab, with a change whose event is lost. The worker reads
    # the payment before sending: the suggestion follows the payee, so Grab's rule is what goes to Xero and what
    # the expense shows, not the other payee's.
    business, user = world.mapped_business()
    tenant, account = business.tenant_id, business.accounts["HKD"]
    for payee, code in (("Harbour Taxi", "429"), ("Grab", "420")):
        user.ok("POST", "/v1/expenses/payee-rules", {"payee": payee, "xero_account_id": world.account_id(tenant, code)},
                status=201)
    world.ledger_events.muted = True
    try:
        paid = world.pay(business, payee="Grab", pump=False)
        first = LedgerTransaction.model_validate(world.ledger.get_transaction(account, paid).to_json())
        reported = first.model_copy(update={"counterparty": first.counterparty.model_copy(
            update={"name": "Harbour Taxi"})})
        record = apply_ledger(None, reported, iso(utc_now(world.client.clock)))
        record = Suggestions(ExpenseStore(world.table)).attach(business.business_id, "Harbour Taxi")(record)
        assert record is not None and ExpenseStore(world.table).save_many([record])
        world.ledger.set_description(account, paid, "Ride to the airport")
    finally:
        world.ledger_events.muted = False
    shown = user.ok("GET", f"/v1/expenses/{paid}")
    assert shown["xero_account"]["code"] == "429" and _source(shown, "xero_account") == (
        "rule", "from your rule for Harbour Taxi")

    _sync_all(world, user, [paid])
    [sent] = world.spend_money(tenant)
    assert sent["Contact"]["Name"] == "Grab" and sent["LineItems"][0]["AccountCode"] == "420"
    synced = user.ok("GET", f"/v1/expenses/{paid}")
    assert synced["xero_account"]["code"] == "420" and synced["updated"] is False
