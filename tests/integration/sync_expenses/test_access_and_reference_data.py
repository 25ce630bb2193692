"""Who may use Sync expenses, and the Xero reference data it offers (cached per organisation)."""

from __future__ import annotations

from tests.integration.expense_world import World

ROUTES = [("GET", "/v1/expenses/reference-data", None), ("GET", "/v1/expenses/mappings", None),
          ("PUT", "/v1/expenses/mappings", {"mappings": []}), ("GET", "/v1/expenses", None),
          ("GET", "/v1/expenses/txn_1", None), ("PATCH", "/v1/expenses/txn_1", {"description": "x"}),
          ("POST", "/v1/expenses/sync-jobs", {"transaction_ids": ["txn_1"]}),
          ("GET", "/v1/expenses/sync-jobs/job_1", None)]


def test_only_admin_and_finance_users_may_use_any_route(world: World) -> None:
    # Given a Singapore business with a linked account
    business = world.business()
    # When an Employee or a Viewer calls any route, then 403 with the reason; Admin and Finance get in.
    # Roles match as the identity provider spells them: "admin" or "FINANCE" is not a configured role.
    for role in ("Employee", "Viewer", "admin", "FINANCE", " Admin"):
        user = world.user(business.business_id, role=role)
        for method, path, body in ROUTES:
            response = user.call(method, path, body)
            assert response.status == 403, (role, method, path, response.body)
            assert response.json()["error"]["code"] == "role_not_allowed"
    for role in ("Admin", "Finance"):
        assert world.user(business.business_id, role=role).call("GET", "/v1/expenses").status == 200


def test_a_business_incorporated_in_hong_kong_gets_the_products_403(world: World) -> None:
    # Given a Hong Kong business, connected and linked like any other
    business = world.business(country="HK")
    user = world.user(business.business_id, role="Admin")
    # Then every route refuses it with the help centre's sentence
    for method, path, body in ROUTES:
        response = user.call(method, path, body)
        assert response.status == 403, (method, path)
        error = response.json()["error"]
        assert error["code"] == "not_available_in_hong_kong"
        assert error["message"] == "Xero Sync Expense feature is not available for Hong Kong-incorporated businesses."
        assert "bank-statement lines every 3 hours" in error["action"]  # like every error: a way out


def test_without_a_linked_account_the_feature_answers_409_and_says_how_to_enable_it(world: World) -> None:
    # Given a business connected to Xero whose accounts are not linked yet
    business = world.business(link=False)
    response = world.user(business.business_id).call("GET", "/v1/expenses")
    assert response.status == 409
    error = response.json()["error"]
    assert error["code"] == "no_linked_account"
    assert "at least one of your bank accounts is connected to Xero" in error["message"]
    assert "Connect Now" in error["action"]
    # And a business that never connected gets the same answer
    never = world.ledger.create_business("SG").business_id
    assert world.user(never).call("GET", "/v1/expenses/mappings").json()["error"]["code"] == "no_linked_account"


def test_reference_data_offers_only_what_expenses_may_use_and_is_cached_per_organisation(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    world.xero.clear_request_log()
    # When the user opens the account picker
    data = user.ok("GET", "/v1/expenses/reference-data")
    # Then only ACTIVE accounts with payments enabled are offered (not 461 without payments, not archived 419,
    # not bank or system accounts), tax rates that apply to expenses, active tracking with active options
    codes = {a["code"] for a in data["accounts"]}
    assert codes == {"400", "404", "420", "429", "493", "494"}
    assert {t["tax_type"] for t in data["tax_rates"]} == {"NONE", "INPUT"}
    regions = {c["name"]: [o["name"] for o in c["options"]] for c in data["tracking_categories"]}
    assert regions == {"Region": ["North", "South"], "Department": ["Sales", "Operations"]}
    assert data["notices"] == [] and data["base_currency"] == "HKD" and "SGD" in data["currencies"]
    first_read = len(world.xero.request_log)
    assert first_read == 5  # Organisation, Accounts, TaxRates, TrackingCategories, Currencies
    # And reading it again, listing and mapping spend no Xero call
    user.ok("GET", "/v1/expenses/reference-data")
    user.ok("GET", "/v1/expenses/mappings")
    user.ok("GET", "/v1/expenses")
    assert len(world.xero.request_log) == first_read
    # When the user ticks "Enable payments" on 461 in Xero and asks for a refresh at once, Xero is not asked
    # again within the minute; a minute later it is, and 461 is offered
    world.xero.update_account(business.tenant_id, world.account_id(business.tenant_id, "461"),
                              {"EnablePaymentsToAccount": True})
    user.ok("GET", "/v1/expenses/reference-data", query="refresh=true")
    assert len(world.xero.request_log) == first_read
    world.age_reference_data(business.tenant_id, seconds=61)
    refreshed = user.ok("GET", "/v1/expenses/reference-data", query="refresh=true")
    assert "461" in {a["code"] for a in refreshed["accounts"]}
    assert len(world.xero.request_log) == first_read + 5


def test_when_no_account_accepts_payments_the_list_is_empty_and_says_what_to_tick_in_xero(world: World) -> None:
    business = world.business(default_chart=False, accounts=[
        {"Code": "090", "Name": "Bank", "Type": "BANK", "CurrencyCode": "HKD"},
        {"Code": "461", "Name": "Printing", "Type": "OVERHEADS", "EnablePaymentsToAccount": False}])
    data = world.user(business.business_id).ok("GET", "/v1/expenses/reference-data")
    assert data["accounts"] == []
    [notice] = data["notices"]
    assert notice["code"] == "no_payment_accounts"
    assert 'tick "Enable payments to this account"' in notice["action"]
