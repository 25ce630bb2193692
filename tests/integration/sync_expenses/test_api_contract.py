"""The expense routes answer as docs/openapi.json says, for what a fuzzer (or a careless client) sends: bodies
that are not UTF-8 or not JSON, ids no ledger would issue, text Xero cannot show; and receipts Xero will not
take are said before the sync, by the upload's own rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulators.ledger import generated_spec
from tests.integration.expense_world import World


def _error(response: Any) -> dict[str, Any]:
    body = json.loads(response.body)
    assert set(body) == {"error", "correlation_id"}, body
    assert body["error"]["message"] and body["error"]["action"], body
    return dict(body["error"])


@pytest.mark.parametrize(("method", "path"), [("PATCH", "/v1/expenses/{paid}"), ("PUT", "/v1/expenses/mappings")])
def test_a_body_that_is_not_utf8_gets_the_products_400_and_changes_nothing(world: World, method: str,
                                                                         path: str) -> None:
    business = world.business()
    user = world.user(business.business_id)
    paid = world.pay(business)
    before = user.ok("GET", f"/v1/expenses/{paid}")
    response = user.gateway.handle(method, path.format(paid=paid), body=b'{"description": "caf\xe9 \xff"}',
                                   headers={"Authorization": f"Bearer {user.token}",
                                            "Content-Type": "application/json"})
    assert response.status == 400 and response.headers["content-type"] == "application/json"
    assert _error(response)["code"] == "invalid_encoding"
    assert user.ok("GET", f"/v1/expenses/{paid}") == before


def test_an_empty_form_is_refused_as_not_json(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    paid = world.pay(business)
    response = user.gateway.handle("PATCH", f"/v1/expenses/{paid}", body=b"", headers={
        "Authorization": f"Bearer {user.token}", "Content-Type": "multipart/form-data"})
    assert response.status == 415 and _error(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("transaction_id", ["\N{GRINNING FACE}", "txn_%00", "txn_\x00", "a b", "%F0%9F%98%80"])
def test_an_id_no_ledger_issues_is_the_expenses_404_not_a_missing_route(world: World, transaction_id: str) -> None:
    business = world.business()
    user = world.user(business.business_id)
    response = user.call("GET", f"/v1/expenses/{transaction_id}")
    assert response.status == 404
    error = _error(response)
    assert error["code"] != "route_not_found" and "expense" in error["message"].lower()


@pytest.mark.parametrize(("field", "text"), [("description", "Taxi\x00 fare"), ("contact_name", "Ctl\x07Name"),
                                             ("contact_name", "Grab\u202etxt.exe"), ("reference", "INV\n7")])
def test_text_for_xero_with_control_or_direction_characters_is_refused_naming_the_field(
        world: World, field: str, text: str) -> None:
    business = world.business()
    user = world.user(business.business_id)
    paid = world.pay(business)
    before = user.ok("GET", f"/v1/expenses/{paid}")
    response = user.call("PATCH", f"/v1/expenses/{paid}", {field: text})
    assert response.status == 400
    error = _error(response)
    assert error["details"][0]["field"] == field and "characters Xero cannot show" in error["message"]
    assert user.ok("GET", f"/v1/expenses/{paid}") == before


def test_ledger_text_is_cleaned_before_it_goes_to_xero(world: World) -> None:
    business, user = world.mapped_business()
    paid = world.pay(business, payee="Ctl\x00Name\u202e", description="Taxi\x07 to\tclient", reference="INV\x1b7")
    shown = user.ok("GET", f"/v1/expenses/{paid}")
    assert (shown["contact_name"], shown["description"], shown["reference"]) == ("Ctl Name", "Taxi to client",
                                                                                 "INV 7")
    user.sync([paid])
    world.pump_worker()
    [spend] = world.spend_money(business.tenant_id)
    assert spend["Contact"]["Name"] == "Ctl Name" and spend["Reference"] == "INV 7"
    assert spend["LineItems"][0]["Description"] == "Taxi to client"


def test_receipts_xero_will_not_take_are_said_before_the_sync(world: World) -> None:
    business, user = world.mapped_business()
    receipts = (*(generated_spec("pdf", 2_000 + n, seed=200 + n) for n in range(9)),
                generated_spec("pdf", 3_100_000, seed=220), generated_spec("heic", 20_000, seed=221),
                generated_spec("pdf", 2_500, seed=222))
    paid = world.pay(business, receipts=receipts)
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    refused = {r["file_name"]: r for r in expense["attachments"] if not r["will_sync"]}
    assert len(refused) == 3 and expense["ready_to_sync"]  # the expense syncs; these files will not go with it
    too_big, heic, eleventh = (expense["attachments"][i] for i in (9, 10, 11))
    assert too_big["reason"] == "The file is 3.1 MB; Xero accepts attachments under 3.0 MB."
    assert heic["reason"] == "Xero does not accept this file: it is a HEIC file." and "PDF" in heic["action"]
    assert eleventh["reason"] == "Xero allows at most 10 attachments on a transaction."
    view = user.ok("GET", f"/v1/expenses/{paid}/attachments")
    assert view["summary"] == ("9 receipt(s) will go to Xero when the expense is synced; 3 will not "
                               "(see each file's reason).")
    states = {f["attachment_id"]: (f["state"], f["reason"]) for f in view["files"]}
    assert [states[r["attachment_id"]] for r in expense["attachments"]] == [
        *[("WAITING", None)] * 9, *[("NOT_ACCEPTED", r["reason"]) for r in (too_big, heic, eleventh)]]
