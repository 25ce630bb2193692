"""Mapping categories to Xero accounts, the two tabs (paged, filtered) and editing a pending expense."""

from __future__ import annotations

from typing import Any

from emulators.ledger import Counterparty, generated_spec
from tests.integration.expense_world import World


def _tracking(world: World, tenant_id: str) -> dict[str, Any]:
    return {c["Name"]: {o["Name"]: o["TrackingOptionID"] for o in c["Options"]} | {"id": c["TrackingCategoryID"]}
            for c in world.xero.tracking_categories(tenant_id)}


def test_a_mapping_is_validated_and_fills_the_account_of_every_expense_without_its_own(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    tenant = business.tenant_id
    taxi, flight, chairs = (world.pay(business, category=c, payee=p, pump=False) for c, p in
                            (("travel", "Harbour Taxi"), ("travel", "Cathay"), ("office_supplies", "IKEA")))
    world.pump_events()
    # Invalid choices are refused with the reason and the way out, and nothing is saved
    for account_id, code in ((world.account_id(tenant, "461"), "account_payments_disabled"),
                             (world.account_id(tenant, "419"), "account_archived"),
                             ("4f7c3a0e-0000-0000-0000-000000000000", "account_not_found"),
                             (world.xero_bank(tenant, "HKD"), "account_not_found")):
        response = user.call("PUT", "/v1/expenses/mappings",
                             {"mappings": [{"category": "travel", "xero_account_id": account_id}]})
        assert response.status == 400, response.body
        error = response.json()["error"]
        assert error["code"] == "invalid_mapping" and error["details"][0]["code"] == code
        assert error["message"].startswith("The mapping for Travel cannot be saved")
    response = user.call("PUT", "/v1/expenses/mappings",
                         {"mappings": [{"category": "yachts", "xero_account_id": None}]})
    assert response.status == 400 and response.json()["error"]["details"][0]["code"] == "unknown_category"
    assert 'tick "Enable payments to this account"' in user.call(
        "PUT", "/v1/expenses/mappings", {"mappings": [{"category": "travel", "xero_account_id": world.account_id(
            tenant, "461")}]}).json()["error"]["action"]
    assert all(m["xero_account"] is None for m in user.ok("GET", "/v1/expenses/mappings")["mappings"])

    # When travel is mapped to 493 and one travel expense has its own account
    travel = world.account_id(tenant, "493")
    saved = user.ok("PUT", "/v1/expenses/mappings", {"mappings": [{"category": "travel", "xero_account_id": travel}]})
    assert next(m for m in saved["mappings"] if m["category"] == "travel")["xero_account"]["code"] == "493"
    user.ok("PATCH", f"/v1/expenses/{flight}", {"xero_account_id": world.account_id(tenant, "494")})
    # Then the other travel expense takes the mapped account, the override wins, the unmapped one has none
    pending = {e["transaction_id"]: e for e in user.pending()}
    assert pending[taxi]["xero_account"] == {"account_id": travel, "code": "493", "name": "Travel - National",
                                             "source": "mapping"}
    assert pending[taxi]["tax_rate"] == {"tax_type": "INPUT", "name": "Tax on Purchases", "source": "account"}
    assert pending[flight]["xero_account"]["code"] == "494" and pending[flight]["xero_account"]["source"] == "expense"
    assert pending[chairs]["xero_account"] is None and pending[chairs]["problems"][0]["code"] == "no_account"
    # And changing the mapping later changes every expense that follows it
    advertising = world.account_id(tenant, "400")
    user.ok("PUT", "/v1/expenses/mappings", {"mappings": [{"category": "travel", "xero_account_id": advertising}]})
    assert user.ok("GET", f"/v1/expenses/{taxi}")["xero_account"]["code"] == "400"
    assert user.ok("GET", f"/v1/expenses/{flight}")["xero_account"]["code"] == "494"


def test_the_tabs_are_paged_and_filtered_by_dates_account_status_updated_and_error(world: World) -> None:
    business = world.business(currencies=("HKD", "USD"))
    user = world.user(business.business_id)
    hkd = business.accounts["HKD"]
    day = 86_400
    start = int(world.ledger.state.now()) - 10 * day
    ids = []
    for n in range(5):
        ids.append(world.ledger.post_transaction(hkd, f"{10 + n}.00", "DEBIT", spend_category="travel",
                                                 posted_at=start + n * day, description=f"Trip {n}",
                                                 counterparty=Counterparty("Harbour Taxi", "1"),
                                                 attachments=[generated_spec("pdf", 3000, seed=n)] * (n % 2))
                   .transaction_id)
    usd = world.pay(business, currency="USD", category=None, pump=False)
    world.pump_events()
    world.ledger.set_description(hkd, ids[4], "Trip four")
    world.pump_events()
    # Pages of two, newest first, until the end
    first = user.ok("GET", "/v1/expenses", query="limit=2")
    assert [e["transaction_id"] for e in first["items"]] == [usd, ids[4]] and first["next_cursor"]
    second = user.ok("GET", "/v1/expenses", query=f"limit=2&cursor={first['next_cursor']}")
    assert [e["transaction_id"] for e in second["items"]] == [ids[3], ids[2]]
    assert [e["transaction_id"] for e in user.pending()] == [usd, *reversed(ids)]
    # Filters
    days = {e["transaction_id"]: e["date"] for e in user.pending()}  # the bank's booking days
    from_day, to_day = days[ids[1]], days[ids[3]]
    assert [e["transaction_id"] for e in user.pending(posted_from=from_day, posted_to=to_day)] == [ids[3], ids[2],
                                                                                                  ids[1]]
    assert [e["transaction_id"] for e in user.pending(account_id=business.accounts["USD"])] == [usd]
    assert [e["transaction_id"] for e in user.pending(updated="true")] == [ids[4]]
    # A sync makes one fail (no account) and the others move to the Synced tab
    user.ok("PUT", "/v1/expenses/mappings", {"mappings": [{"category": "travel", "xero_account_id": world.account_id(
        business.tenant_id, "493")}]})
    user.sync([usd, *ids])
    world.pump_worker()
    [failed] = user.pending(status="SYNC_ERROR")
    assert failed["transaction_id"] == usd and user.pending(has_error="true") == [failed]
    assert failed["error"]["code"] == "no_account" and failed["error"]["action"]
    synced = user.tab("synced")
    assert [e["transaction_id"] for e in synced] == list(reversed(ids))
    assert [e["attachment_count"] for e in synced] == [0, 1, 0, 1, 0]
    assert all(e["spend_money"]["url"].startswith("https://go.xero.com/") for e in synced)
    assert user.tab("synced", has_error="true") == [] and user.pending(status="PENDING") == []
    assert user.call("GET", "/v1/expenses", query="cursor=bm90LWEtY3Vyc29y").status == 400
    assert user.call("GET", "/v1/expenses", query="posted_from=2026-02-02&posted_to=2026-01-01").status == 400


def test_a_pending_expense_is_edited_within_what_xero_accepts(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    tenant = business.tenant_id
    tracking = _tracking(world, tenant)
    paid = world.pay(business, category=None, payee="  Harbour   Taxi ", reference="R-1", description="Taxi")
    path = f"/v1/expenses/{paid}"
    # Choices Xero would refuse are refused now: a tax rate not for expenses, an archived option, two of a kind
    for body, code in (({"tax_type": "OUTPUT"}, "tax_rate_not_for_expenses"),
                       ({"tax_type": "TAX001"}, "tax_rate_archived"),
                       ({"xero_account_id": world.account_id(tenant, "419")}, "account_archived"),
                       ({"tracking": [{"tracking_category_id": tracking["Region"]["id"],
                                       "tracking_option_id": "0d2c0c1e-0000-0000-0000-000000000000"}]},
                        "tracking_option_not_found"),
                       ({"tracking": [{"tracking_category_id": tracking["Region"]["id"],
                                       "tracking_option_id": tracking["Region"]["North"]}] * 2},
                        "tracking_category_repeated")):
        response = user.call("PATCH", path, body)
        assert response.status == 400 and response.json()["error"]["code"] == code, (body, response.body)
    assert user.call("PATCH", path, {}).status == 400
    assert user.call("PATCH", path, {"colour": "red"}).status == 400
    assert user.call("PATCH", "/v1/expenses/txn_unknown", {"description": "x"}).status == 404
    # Every field the issue names can be set
    edited = user.ok("PATCH", path, {
        "xero_account_id": world.account_id(tenant, "429"), "tax_type": "NONE", "description": "Taxi to client",
        "reference": "PO-7", "contact_name": "Harbour Taxi Ltd",
        "tracking": [{"tracking_category_id": tracking["Region"]["id"],
                      "tracking_option_id": tracking["Region"]["North"]},
                     {"tracking_category_id": tracking["Department"]["id"],
                      "tracking_option_id": tracking["Department"]["Sales"]}]})
    assert edited["xero_account"]["code"] == "429" and edited["tax_rate"] == {"tax_type": "NONE", "name": "Tax Exempt",
                                                                               "source": "expense"}
    assert [(t["category_name"], t["option_name"]) for t in edited["tracking"]] == [("Region", "North"),
                                                                                    ("Department", "Sales")]
    assert (edited["description"], edited["reference"], edited["contact_name"]) == ("Taxi to client", "PO-7",
                                                                                   "Harbour Taxi Ltd")
    assert edited["ready_to_sync"] and edited["updated"] is False
    # null puts a field back to its default
    cleared = user.ok("PATCH", path, {"contact_name": None, "tax_type": None})
    assert cleared["contact_name"] == "Harbour Taxi" and cleared["tax_rate"]["source"] == "account"
    # A queued or synced (unchanged) expense cannot be edited
    job = user.sync([paid])
    assert user.call("PATCH", path, {"description": "late"}).json()["error"]["code"] == "expense_being_synced"
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["status"] == "COMPLETED"
    response = user.call("PATCH", path, {"description": "late"})
    assert response.status == 409 and response.json()["error"]["code"] == "expense_already_synced"
    [spend] = world.spend_money(tenant)
    line = spend["LineItems"][0]
    assert (line["AccountCode"], line["TaxType"], line["Description"]) == ("429", "INPUT", "Taxi to client")
    assert {(t["Name"], t["Option"]) for t in line["Tracking"]} == {("Region", "North"), ("Department", "Sales")}
    assert spend["Reference"] == "PO-7" and spend["Contact"]["Name"] == "Harbour Taxi"
