"""Bad requests to the expense routes get a clear 4xx with a code, a message and the way out, and change
nothing: bodies that are not JSON, ids that are not Xero's, dates out of range, cursors from other filters."""

from __future__ import annotations

import json

import pytest

from tests.integration.expense_world import World


def _error(response: object) -> dict[str, object]:
    body = json.loads(response.body)  # type: ignore[attr-defined]
    assert body["error"]["message"] and body["error"]["action"], body
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream",
                                          "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_refused_with_415_and_starts_nothing(world: World, content_type: str) -> None:
    business = world.business()
    user = world.user(business.business_id)
    paid = world.pay(business)
    # (a form carrying the right field would pass validation: it is still refused)
    body = f"transaction_ids={paid}" if "form" in content_type else json.dumps({"transaction_ids": [paid]})
    response = user.gateway.handle("POST", "/v1/expenses/sync-jobs", body=body, headers={
        "Authorization": f"Bearer {user.token}", "Content-Type": content_type})
    assert response.status == 415
    error = _error(response)
    assert error["code"] == "unsupported_media_type"
    assert error["action"] == "Send it with Content-Type: application/json."
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "PENDING"
    assert world.queue_depth("ExpenseSyncQueue") == 0


def test_malformed_json_is_named_as_such(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    response = user.gateway.handle("PUT", "/v1/expenses/mappings", body="{bad json", headers={
        "Authorization": f"Bearer {user.token}", "Content-Type": "application/json"})
    assert response.status == 400
    error = _error(response)
    assert error["details"] == [{"field": "body", "problem": "is not valid JSON"}]


@pytest.mark.parametrize("account_id", ["", "   ", "../Organisation", "not-a-uuid", "?where=Type==\"BANK\""])
def test_a_mapping_to_something_that_is_not_a_xero_id_is_refused_and_the_mapping_kept(world: World,
                                                                                     account_id: str) -> None:
    business = world.business()
    user = world.user(business.business_id)
    travel = world.account_id(business.tenant_id, "493")
    user.ok("PUT", "/v1/expenses/mappings", {"mappings": [{"category": "travel", "xero_account_id": travel}]})
    calls = len(world.xero.request_log)
    response = user.call("PUT", "/v1/expenses/mappings",
                         {"mappings": [{"category": "travel", "xero_account_id": account_id}]})
    assert response.status == 400
    error = _error(response)
    assert error["code"] == "invalid_request" and "must be a Xero id" in str(error["message"])
    mapped = {m["category"]: m["xero_account"] for m in user.ok("GET", "/v1/expenses/mappings")["mappings"]}
    assert mapped["travel"]["account_id"] == travel
    assert len(world.xero.request_log) == calls


def test_tracking_ids_of_an_edit_must_be_xero_ids(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    paid = world.pay(business)
    response = user.call("PATCH", f"/v1/expenses/{paid}", {"tracking": [
        {"tracking_category_id": "Region", "tracking_option_id": "North"}]})
    assert response.status == 400 and "tracking.0.tracking_category_id" in str(_error(response)["message"])


@pytest.mark.parametrize("query", ["posted_from=0001-01-01", "posted_to=9999-12-31",
                                   "posted_from=1999-12-31&posted_to=2026-01-01"])
def test_dates_outside_what_the_lists_accept_are_refused(world: World, query: str) -> None:
    business = world.business()
    response = world.user(business.business_id).call("GET", "/v1/expenses", query=query)
    assert response.status == 400 and _error(response)["code"] == "invalid_dates"


def test_a_cursor_is_only_good_for_the_filters_it_was_made_with(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    world.seed_expenses(business, 3)
    first = user.ok("GET", "/v1/expenses", query="limit=2")
    assert first["next_cursor"]
    # The same cursor with other filters, or tampered with, is refused instead of reading the wrong page
    for query in (f"limit=2&posted_from=2026-01-01&cursor={first['next_cursor']}",
                  f"limit=2&tab=synced&cursor={first['next_cursor']}",
                  "limit=2&cursor=eyJwayI6IiJ9"):
        response = user.call("GET", "/v1/expenses", query=query)
        assert response.status == 400 and _error(response)["code"] == "invalid_cursor", query
    # And with its own filters it reads the next page
    assert len(user.ok("GET", "/v1/expenses", query=f"limit=2&cursor={first['next_cursor']}")["items"]) == 1
