"""Bank Feeds: feed connections (create, match, reject, settle, delete) and statements (asynchronous
delivery, balances, dates, duplicates, sizes), with problem+json errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness
from tests.support.xero_feeds import connect_feeds, feed

ALREADY = (
    "The AccountToken, AccountNumber or AccountId is already connected to another Xero Bank Account in the "
    "selected Xero Organisation."
)


def active_feed(emu: XeroEmulator, xero: XeroHarness, token: str = "acc-001", **overrides: Any) -> str:
    answer = connect_feeds(xero, feed(token, **overrides))
    assert answer.status_code == 202, answer.text
    emu.settle_pending()
    return str(answer.json()["items"][0]["id"])


def line(tx: str, amount: str, indicator: str = "DEBIT", day: str = "2026-02-10") -> dict[str, Any]:
    return {
        "postedDate": day,
        "description": f"Payment {tx}",
        "amount": float(amount),
        "creditDebitIndicator": indicator,
        "transactionId": tx,
        "payeeName": "Acme",
    }


def statement(feed_id: str, start: str, end: str, lines: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    movement = sum(
        (Decimal(str(li["amount"])) * (1 if li["creditDebitIndicator"] == "CREDIT" else -1) for li in lines), Decimal(0)
    )
    item = {
        "feedConnectionId": feed_id,
        "startDate": "2026-02-01",
        "endDate": "2026-02-28",
        "startBalance": {"amount": float(start), "creditDebitIndicator": "CREDIT"},
        "endBalance": {"amount": float(end), "creditDebitIndicator": "CREDIT"},
        "statementLines": lines,
    }
    assert Decimal(start) + movement == Decimal(end) or overrides.pop("unbalanced", False)
    item.update(overrides)
    return item


def post_statements(xero: XeroHarness, *items: dict[str, Any]) -> requests.Response:
    return xero.bankfeeds("POST", "Statements", json={"items": list(items)})


# --------------------------------------------------------------------------------- feed connections
def test_given_a_new_account_number_when_connecting_then_pending_then_active_with_a_new_bank_account(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness, tenant: str
) -> None:
    answer = connect_feeds(xero, feed())
    assert answer.status_code == 202
    (item,) = answer.json()["items"]
    assert (item["accountToken"], item["status"]) == ("acc-001", "PENDING")
    assert xero.bankfeeds("GET", f"FeedConnections/{item['id']}").json()["status"] == "PENDING"
    clock.advance(2)
    connection = xero.bankfeeds("GET", f"FeedConnections/{item['id']}").json()
    assert "status" not in connection  # Xero's GET examples show settled connections without a status
    account = next(a for a in emu.accounts(tenant) if a["AccountID"] == connection["accountId"])
    assert (account["Type"], account["Name"], account["BankAccountNumber"], account["CurrencyCode"]) == (
        "BANK",
        "Aspire HKD",
        "999-acc-001",
        "HKD",
    )


def test_given_an_existing_account_number_when_connecting_then_the_feed_lands_in_that_account(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    before = len(emu.accounts(tenant))
    feed_id = active_feed(emu, xero, accountNumber="012 345678 001")  # 090's number, spaced differently
    assert xero.bankfeeds("GET", f"FeedConnections/{feed_id}").json()["accountId"] == bank_account_id
    assert len(emu.accounts(tenant)) == before


def test_given_an_account_id_when_connecting_then_linked_and_a_non_bank_id_is_rejected(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    expense = next(a["AccountID"] for a in emu.accounts(tenant) if a.get("Code") == "429")
    answer = connect_feeds(
        xero,
        feed("ok", accountNumber=None, accountName=None, accountId=bank_account_id),
        feed("bad", accountNumber=None, accountName=None, accountId=expense),
    )
    assert answer.status_code == 400
    ok, bad = answer.json()["items"]
    assert ok["status"] == "PENDING"
    assert (bad["status"], bad["error"]["type"]) == ("REJECTED", "account-not-valid")


def test_given_a_feed_already_connected_when_connecting_again_then_400_with_xeros_409_item(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    active_feed(emu, xero)
    answer = connect_feeds(xero, feed())
    assert answer.status_code == 400
    (item,) = answer.json()["items"]
    assert item["status"] == "REJECTED"
    assert item["error"] == {
        "type": "feed-already-connected-in-current-organisation",
        "title": "Feed Connection Failed",
        "status": 409,
        "detail": ALREADY,
    }


def test_given_the_same_bank_account_under_another_token_when_connecting_then_already_connected(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    active_feed(emu, xero, "first", accountNumber="777")
    answer = connect_feeds(xero, feed("second", accountNumber="777"))
    assert answer.json()["items"][0]["error"]["type"] == "feed-already-connected-in-current-organisation"


def test_given_a_foreign_currency_on_a_single_currency_org_when_connecting_then_multi_currency_problem(
    emu: XeroEmulator, base_url: str
) -> None:
    tenant = emu.seed_organisation("Single", multicurrency=False)
    harness = XeroHarness(base_url)
    harness.connect([tenant])
    answer = connect_feeds(harness, feed(currency="USD"), feed("hkd", currency="HKD"))
    assert answer.status_code == 400
    usd, hkd = answer.json()["items"]
    assert usd["error"]["type"] == "invalid-organisation-multi-currency"
    assert hkd["status"] == "PENDING"


def test_given_a_demo_company_when_using_bank_feeds_then_403_invalid_organisation_bank_feeds(
    emu: XeroEmulator, base_url: str
) -> None:
    tenant = emu.seed_organisation("Demo Company (Global)", is_demo=True)
    harness = XeroHarness(base_url)
    harness.connect([tenant])
    answer = connect_feeds(harness, feed())
    assert answer.status_code == 403
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["type"] == "invalid-organisation-bank-feeds"


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"accountNumber": "1" * 41}, "For the request field 'AccountNumber' exceeded the maximum length of 40."),
        ({"accountName": "n" * 31}, "For the request field 'AccountName' exceeded the maximum length of 30."),
        ({"accountToken": "t" * 51}, "For the request field 'AccountToken' exceeded the maximum length of 50."),
        (
            {"accountType": "CREDITCARD", "accountNumber": "12345"},
            "For the request field 'AccountNumber' exceeded the maximum length of 4.",
        ),
    ],
)
def test_given_a_field_too_long_when_connecting_then_400_invalid_request(
    xero: XeroHarness, overrides: dict[str, Any], detail: str
) -> None:
    answer = connect_feeds(xero, feed(**overrides))
    assert answer.status_code == 400
    assert answer.json() == {"type": "invalid-request", "title": "Invalid Request", "status": 400, "detail": detail}


def test_given_twelve_connections_when_listing_then_pages_of_ten(emu: XeroEmulator, xero: XeroHarness) -> None:
    connect_feeds(xero, *[feed(f"t{i:02d}") for i in range(12)])
    first = xero.bankfeeds("GET", "FeedConnections")
    assert first.status_code == 200
    assert first.json()["pagination"] == {"page": 1, "pageSize": 10, "pageCount": 2, "itemCount": 12}
    second = xero.bankfeeds("GET", "FeedConnections", params={"page": "2"}).json()
    assert [i["accountToken"] for i in second["items"]] == ["t10", "t11"]


def test_given_an_unknown_feed_connection_when_read_then_404_problem(xero: XeroHarness) -> None:
    answer = xero.bankfeeds("GET", "FeedConnections/8a0f1b6e-1111-4c1a-9c1a-000000000001")
    assert answer.status_code == 404
    assert answer.json()["type"] == "bank-feed-not-found"


def test_given_a_rejection_decided_by_control_when_read_then_rejected_with_its_error(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    feed_id = connect_feeds(xero, feed()).json()["items"][0]["id"]
    emu.settle_feed_connection(tenant, feed_id, "REJECTED")
    connection = xero.bankfeeds("GET", f"FeedConnections/{feed_id}").json()
    assert connection["status"] == "REJECTED"
    assert connection["error"]["type"] == "invalid-feed-connection"


def test_given_a_delete_request_then_pending_then_gone_and_unknown_ids_rejected(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness
) -> None:
    feed_id = active_feed(emu, xero)
    answer = xero.bankfeeds(
        "POST",
        "FeedConnections/DeleteRequests",
        json={"items": [{"id": feed_id}, {"id": "8a0f1b6e-1111-4c1a-9c1a-000000000001"}]},
    )
    assert answer.status_code == 202
    deleted, unknown = answer.json()["items"]
    assert deleted == {"id": feed_id, "status": "PENDING"}
    assert (unknown["status"], unknown["error"]["type"]) == ("REJECTED", "feed-not-found-or-already-deleted")
    clock.advance(2)
    assert xero.bankfeeds("GET", "FeedConnections").json()["items"] == []
    assert connect_feeds(xero, feed()).status_code == 202  # the token can be connected again


def test_given_a_token_without_bankfeeds_scope_when_calling_then_403_invalid_application(
    base_url: str, tenant: str
) -> None:
    harness = XeroHarness(base_url)
    harness.connect([tenant], scopes="offline_access accounting.settings.read")
    answer = harness.bankfeeds("GET", "FeedConnections")
    assert answer.status_code == 403
    assert answer.json()["type"] == "invalid-application"


def test_given_an_app_xero_has_not_enabled_for_bank_feeds_then_403_invalid_application(
    emu: XeroEmulator, base_url: str, tenant: str
) -> None:
    emu.register_app("other", "secret", ["http://127.0.0.1:3000/cb"], bank_feeds_enabled=False)
    harness = XeroHarness(base_url, client_id="other", client_secret="secret", redirect_uri="http://127.0.0.1:3000/cb")
    harness.connect([tenant])
    assert harness.bankfeeds("GET", "FeedConnections").json()["type"] == "invalid-application"


# ----------------------------------------------------------------------------------------- statements
def test_given_statements_for_two_feeds_in_one_request_then_pending_then_delivered(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness, tenant: str
) -> None:
    hkd = active_feed(emu, xero, "hkd")
    usd = active_feed(emu, xero, "usd", currency="USD", accountName="Aspire USD")
    answer = post_statements(
        xero,
        statement(hkd, "1000", "900", [line("h1", "100")]),
        statement(usd, "50", "75", [line("u1", "25", "CREDIT")]),
    )
    assert answer.status_code == 202
    items = answer.json()["items"]
    assert [(i["feedConnectionId"], i["status"]) for i in items] == [(hkd, "PENDING"), (usd, "PENDING")]
    assert xero.bankfeeds("GET", f"Statements/{items[0]['id']}").json()["status"] == "PENDING"
    clock.advance(2)
    listed = xero.bankfeeds("GET", "Statements").json()
    assert [s["status"] for s in listed["items"]] == ["DELIVERED", "DELIVERED"]
    assert listed["items"][0]["statementLineCount"] == 1
    assert [li["transactionId"] for li in emu.statement_lines(tenant, hkd)] == ["h1"]


@pytest.mark.parametrize(
    ("overrides", "status", "problem_type"),
    [
        ({"endDate": "2026-01-31"}, 422, "invalid-start-and-end-date"),
        ({"startDate": "2025-02-28"}, 422, "invalid-start-date"),
        ({"endDate": "2026-03-03"}, 422, "invalid-end-date"),
    ],
)
def test_given_bad_statement_dates_when_posted_then_rejected(
    emu: XeroEmulator, xero: XeroHarness, overrides: dict[str, Any], status: int, problem_type: str
) -> None:
    feed_id = active_feed(emu, xero)
    answer = post_statements(xero, statement(feed_id, "100", "100", [], **overrides))
    assert answer.status_code == status
    (item,) = answer.json()["items"]
    assert item["status"] == "REJECTED"
    assert item["errors"][0]["type"] == problem_type


def test_given_a_statement_a_year_old_to_the_day_when_posted_then_accepted(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    feed_id = active_feed(emu, xero)
    answer = post_statements(xero, statement(feed_id, "100", "100", [], startDate="2025-03-02", endDate="2026-03-02"))
    assert answer.status_code == 202


def test_given_balances_that_do_not_add_up_when_posted_then_422_invalid_end_balance(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    feed_id = active_feed(emu, xero)
    answer = post_statements(xero, statement(feed_id, "100", "60", [line("a", "30")], unbalanced=True))
    assert answer.status_code == 422
    error = answer.json()["items"][0]["errors"][0]
    assert error == {
        "type": "invalid-end-balance",
        "title": "Invalid End Balance",
        "status": 422,
        "detail": "End balance does not match start balance +/- statement line amounts.",
    }
    emu.settle_pending()
    assert emu.statement_lines(tenant, feed_id) == []


def test_given_debit_balances_when_posted_then_signs_come_from_the_indicator(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    feed_id = active_feed(emu, xero)
    item = statement(feed_id, "0", "0", [line("d1", "50")], unbalanced=True)
    item["startBalance"] = {"amount": 20, "creditDebitIndicator": "CREDIT"}
    item["endBalance"] = {"amount": 30, "creditDebitIndicator": "DEBIT"}  # 20 - 50 = -30
    assert post_statements(xero, item).status_code == 202


def test_given_every_line_seen_before_when_posted_then_409_duplicate_statement(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    feed_id = active_feed(emu, xero)
    assert post_statements(xero, statement(feed_id, "100", "70", [line("a", "10"), line("b", "20")])).status_code == 202
    again = post_statements(xero, statement(feed_id, "100", "70", [line("a", "10"), line("b", "20")]))
    assert again.status_code == 409
    assert again.json()["items"][0]["errors"][0]["title"] == "Duplicate Statement Received"


def test_given_some_new_lines_when_posted_then_accepted_and_repeats_skipped(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    feed_id = active_feed(emu, xero)
    post_statements(xero, statement(feed_id, "100", "70", [line("a", "10"), line("b", "20")]))
    overlap = post_statements(xero, statement(feed_id, "80", "45", [line("b", "20"), line("c", "15")]))
    assert overlap.status_code == 202
    emu.settle_pending()
    assert [li["transactionId"] for li in emu.statement_lines(tenant, feed_id)] == ["a", "b", "c"]


def test_given_reused_lines_of_two_earlier_statements_when_posted_then_409_and_nothing_delivered_twice(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    feed_id = active_feed(emu, xero)
    assert post_statements(xero, statement(feed_id, "100", "90", [line("a", "10")])).status_code == 202
    assert post_statements(xero, statement(feed_id, "90", "70", [line("b", "20")])).status_code == 202
    # A statement of the same lines again, under other balances: still every line seen before
    again = post_statements(xero, statement(feed_id, "500", "470", [line("a", "10"), line("b", "20")]))
    assert again.status_code == 409
    assert again.json()["items"][0]["errors"][0]["type"] == "duplicate-statement"
    emu.settle_pending()
    assert [li["transactionId"] for li in emu.statement_lines(tenant, feed_id)] == ["a", "b"]


@pytest.mark.parametrize(
    ("day", "start", "end", "status", "problem_type"),
    [
        # a line dated tomorrow: the statement must end by then, and Xero refuses a future end date
        ("2026-03-03", "2026-03-02", "2026-03-03", 422, "invalid-end-date"),
        # ...and a statement ending today cannot hold it (a line outside its statement's dates)
        ("2026-03-03", "2026-03-02", "2026-03-02", 400, "invalid-request"),
        # a line more than a year old: the statement would start more than a year back
        ("2025-02-28", "2025-02-28", "2026-03-02", 422, "invalid-start-date"),
        ("2025-02-28", "2025-03-02", "2026-03-02", 400, "invalid-request"),
    ],
)
def test_given_a_line_dated_in_the_future_or_over_a_year_back_when_posted_then_refused(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, day: str, start: str, end: str, status: int, problem_type: str
) -> None:
    feed_id = active_feed(emu, xero)
    answer = post_statements(xero, statement(feed_id, "100", "90", [line("x", "10", day=day)], startDate=start,
                                             endDate=end))
    assert answer.status_code == status
    body = answer.json()
    problem = body["items"][0]["errors"][0]["type"] if "items" in body else body["type"]
    assert problem == problem_type
    emu.settle_pending()
    assert emu.statement_lines(tenant, feed_id) == []


def test_given_a_body_over_3000000_bytes_when_posted_then_413(emu: XeroEmulator, xero: XeroHarness) -> None:
    feed_id = active_feed(emu, xero)
    lines = [line(f"t{i}", "1", day="2026-02-10") | {"description": "x" * 1900} for i in range(1600)]
    item = statement(feed_id, "2000", "400", lines)
    answer = post_statements(xero, item)
    assert answer.status_code == 413
    body = answer.json()
    assert body["title"] == "Request too large"
    assert body["detail"].endswith("exceeds the limit of 3000000 bytes.")


def test_given_an_unknown_or_foreign_feed_when_posting_then_403_problems(
    emu: XeroEmulator, base_url: str, xero: XeroHarness
) -> None:
    other_tenant = emu.seed_organisation("Other")
    other = XeroHarness(base_url)
    other.connect([other_tenant])
    foreign = active_feed(emu, other, "foreign")
    answer = post_statements(
        xero,
        statement("8a0f1b6e-1111-4c1a-9c1a-000000000001", "1", "1", []),
        statement(foreign, "1", "1", []),
    )
    assert answer.status_code == 403
    assert [i["errors"][0]["type"] for i in answer.json()["items"]] == [
        "invalid-feed-connection",
        "invalid-feed-connection-for-organisation",
    ]


@pytest.mark.parametrize(
    ("line_overrides", "detail"),
    [
        (
            {"chequeNumber": "1" * 21},
            "For the request field 'StatementLine.ChequeNumber' exceeded the maximum length of 20.",
        ),
        (
            {"payeeName": "p" * 256},
            "For the request field 'StatementLine.PayeeName' exceeded the maximum length of 255.",
        ),
        (
            {"transactionType": "t" * 31},
            "For the request field 'StatementLine.TransactionType' exceeded the maximum length of 30.",
        ),
        ({"amount": 1.23456}, "For the request field 'StatementLine.Amount' at most 4 decimal places are allowed."),
        ({"amount": -5}, "For the request field 'StatementLine.Amount' the amount must be unsigned."),
        (
            {"postedDate": "2026-03-01"},
            "For the request field 'StatementLine.PostedDate' the date must be within the statement's start and end "
            "dates.",
        ),
    ],
)
def test_given_a_malformed_line_when_posting_then_400_invalid_request(
    emu: XeroEmulator, xero: XeroHarness, line_overrides: dict[str, Any], detail: str
) -> None:
    feed_id = active_feed(emu, xero)
    item = statement(feed_id, "100", "100", [line("a", "0") | line_overrides], unbalanced=True)
    answer = post_statements(xero, item)
    assert answer.status_code == 400
    assert answer.json()["detail"] == detail


def test_given_statements_over_time_then_lines_arrive_once_in_order_with_continuous_balances(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness, tenant: str
) -> None:
    feed_id = active_feed(emu, xero)
    post_statements(xero, statement(feed_id, "500", "450", [line("t1", "30"), line("t2", "20")], endDate="2026-02-10"))
    post_statements(
        xero,
        statement(
            feed_id,
            "450",
            "470",
            [line("t3", "20", "CREDIT", day="2026-02-11")],
            startDate="2026-02-11",
            endDate="2026-02-12",
        ),
    )
    clock.advance(2)
    assert [li["transactionId"] for li in emu.statement_lines(tenant, feed_id)] == ["t1", "t2", "t3"]
    delivered = emu.statements(tenant)
    assert all(s["status"] == "DELIVERED" for s in delivered)
    assert delivered[1]["startBalance"] == delivered[0]["endBalance"]


def test_given_a_statement_for_a_pending_feed_then_it_waits_and_is_rejected_if_the_feed_is(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness, tenant: str
) -> None:
    feed_id = connect_feeds(xero, feed()).json()["items"][0]["id"]
    emu.reject_next_feed_connections(tenant)
    statement_id = post_statements(xero, statement(feed_id, "1", "1", [])).json()["items"][0]["id"]
    clock.advance(5)
    rejected = xero.bankfeeds("GET", f"Statements/{statement_id}").json()
    assert rejected["status"] == "REJECTED"
    assert rejected["errors"][0]["type"] == "invalid-feed-connection"


def test_given_an_unknown_statement_id_when_read_then_404_statement_not_found(xero: XeroHarness) -> None:
    answer = xero.bankfeeds("GET", "Statements/8a0f1b6e-1111-4c1a-9c1a-000000000001")
    assert (answer.status_code, answer.json()["type"]) == (404, "statement-not-found")


def test_given_a_configured_delay_when_posting_then_statements_stay_pending_until_it_passes(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness
) -> None:
    emu.configure(statement_delay_s=60)
    feed_id = active_feed(emu, xero)
    statement_id = post_statements(xero, statement(feed_id, "1", "1", [])).json()["items"][0]["id"]
    clock.advance(59)
    assert xero.bankfeeds("GET", f"Statements/{statement_id}").json()["status"] == "PENDING"
    clock.advance(1)
    assert xero.bankfeeds("GET", f"Statements/{statement_id}").json()["status"] == "DELIVERED"
