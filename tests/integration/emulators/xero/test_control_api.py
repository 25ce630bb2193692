"""The control API over HTTP (/_emulator/...): what the demo and out-of-process tests use."""

from __future__ import annotations

import requests

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness, authorize_url, query_of
from tests.support.xero_feeds import connect_feeds, feed
from tests.support.xero_spec import requires_spec


def control(base_url: str, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(method, f"{base_url}/_emulator/{path}", json=body, timeout=10)


def test_given_a_reset_then_everything_is_gone_and_the_dev_app_is_back(
    emu: XeroEmulator, base_url: str, xero: XeroHarness
) -> None:
    emu.register_app("extra", "s", ["http://127.0.0.1:9/cb"])
    assert control(base_url, "POST", "reset").json() == {"reset": True}
    assert control(base_url, "GET", "organisations").json() == []
    assert control(base_url, "GET", "connections").json() == []
    apps = control(base_url, "GET", "apps").json()
    assert apps == [
        {
            "client_id": "local-dev-client",
            "redirect_uris": ["http://127.0.0.1:3000/xero/callback"],
            "name": "Local Dev App",
            "bank_feeds_enabled": True,
        }
    ]


def test_given_an_app_registered_over_http_then_it_can_connect(base_url: str) -> None:
    control(
        base_url,
        "POST",
        "apps",
        {"client_id": "demo", "client_secret": "pw", "redirect_uris": ["http://127.0.0.1:4000/cb"]},
    )
    tenant = control(base_url, "POST", "organisations", {"name": "Via HTTP"}).json()["tenantId"]
    harness = XeroHarness(base_url, client_id="demo", client_secret="pw", redirect_uri="http://127.0.0.1:4000/cb")
    harness.connect([tenant])
    assert harness.accounting("GET", "Organisation").json()["Organisations"][0]["Name"] == "Via HTTP"


def test_given_a_seed_with_options_over_http_then_the_organisation_has_them(base_url: str) -> None:
    answer = control(
        base_url,
        "POST",
        "organisations",
        {
            "name": "Partner Co",
            "edition": "PARTNER",
            "base_currency": "SGD",
            "country_code": "SG",
            "period_lock_date": "2025-12-31",
        },
    )
    assert answer.status_code == 201
    organisation = answer.json()["organisation"]
    assert (organisation["Edition"], organisation["BaseCurrency"]) == ("PARTNER", "SGD")
    assert organisation["PeriodLockDate"] == "/Date(1767139200000+0000)/"


def test_given_organisation_changes_over_http_then_the_api_shows_them(
    base_url: str, tenant: str, xero: XeroHarness
) -> None:
    control(base_url, "PATCH", f"organisations/{tenant}", {"status": "INACTIVE", "end_of_year_lock_date": "2025-06-30"})
    organisation = xero.accounting("GET", "Organisation").json()["Organisations"][0]
    assert organisation["OrganisationStatus"] == "INACTIVE"
    assert organisation["EndOfYearLockDate"] == "/Date(1751241600000+0000)/"


def test_given_account_changes_over_http_then_pickers_change(base_url: str, tenant: str, xero: XeroHarness) -> None:
    created = control(
        base_url, "POST", f"organisations/{tenant}/accounts", {"Code": "499", "Name": "Software", "Type": "OVERHEADS"}
    ).json()
    control(
        base_url, "PATCH", f"organisations/{tenant}/accounts/{created['AccountID']}", {"EnablePaymentsToAccount": True}
    )
    where = "EnablePaymentsToAccount==true"
    codes = [a["Code"] for a in xero.accounting("GET", "Accounts", params={"where": where}).json()["Accounts"]]
    assert "499" in codes


def test_given_a_bank_account_deleted_over_http_then_it_and_its_feed_connection_are_gone(
    base_url: str, tenant: str, xero: XeroHarness, bank_account_id: str
) -> None:
    # Given a feed connection to the organisation's bank account
    feed = {"accountToken": "t9", "accountId": bank_account_id, "accountType": "BANK", "currency": "HKD"}
    feed_id = xero.bankfeeds("POST", "FeedConnections", json={"items": [feed]}).json()["items"][0]["id"]
    # When the user deletes the bank account in Xero's chart of accounts (the console's local control)
    deleted = control(base_url, "DELETE", f"organisations/{tenant}/accounts/{bank_account_id}")
    # Then the chart no longer has it and its feed connection went with it
    assert deleted.status_code == 200 and deleted.json() == {"removed_feed_connections": 1}
    chart = control(base_url, "GET", f"organisations/{tenant}/accounts").json()
    assert bank_account_id not in [a["AccountID"] for a in chart]
    assert [f["state"] for f in control(base_url, "GET", f"organisations/{tenant}/feed-connections").json()
            if f["id"] == feed_id] == ["DELETED"]
    # And deleting it again names what is missing
    assert control(base_url, "DELETE", f"organisations/{tenant}/accounts/{bank_account_id}").status_code == 400


def test_given_writes_then_reads_over_http_show_transactions_attachments_contacts(
    base_url: str, tenant: str, xero: XeroHarness, bank_account_id: str
) -> None:
    element = {
        "Type": "SPEND",
        "Contact": {"Name": "Fresh Contact"},
        "BankAccount": {"AccountID": bank_account_id},
        "LineItems": [{"Description": "Lunch", "UnitAmount": 80, "AccountCode": "420"}],
    }
    transaction_id = xero.accounting("PUT", "BankTransactions", json={"BankTransactions": [element]}).json()[
        "BankTransactions"
    ][0]["BankTransactionID"]
    xero.accounting("PUT", f"BankTransactions/{transaction_id}/Attachments/a.pdf", data=b"abc")
    (transaction,) = control(base_url, "GET", f"organisations/{tenant}/bank-transactions").json()
    assert transaction["Attachments"][0]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (
        control(base_url, "GET", f"organisations/{tenant}/bank-transactions/{transaction_id}/attachments").json()[0][
            "ContentLength"
        ]
        == 3
    )
    assert "Fresh Contact" in [c["Name"] for c in control(base_url, "GET", f"organisations/{tenant}/contacts").json()]


def test_given_feeds_and_statements_then_http_reads_show_states_lines_and_settling(
    base_url: str, tenant: str, xero: XeroHarness
) -> None:
    control(base_url, "PATCH", "config", {"feed_connection_delay_s": 3600, "statement_delay_s": 3600})
    feed = {
        "accountToken": "t1",
        "accountNumber": "55",
        "accountName": "Feed",
        "accountType": "BANK",
        "currency": "HKD",
    }
    feed_id = xero.bankfeeds("POST", "FeedConnections", json={"items": [feed]}).json()["items"][0]["id"]
    assert control(base_url, "GET", f"organisations/{tenant}/feed-connections").json()[0]["state"] == "PENDING"
    control(base_url, "POST", f"organisations/{tenant}/feed-connections/{feed_id}/settle", {"status": "ACTIVE"})
    line = {
        "postedDate": "2026-02-02",
        "amount": 5,
        "creditDebitIndicator": "CREDIT",
        "transactionId": "x1",
        "description": "in",
    }
    body = {
        "items": [
            {
                "feedConnectionId": feed_id,
                "startDate": "2026-02-01",
                "endDate": "2026-02-02",
                "startBalance": {"amount": 0, "creditDebitIndicator": "CREDIT"},
                "endBalance": {"amount": 5, "creditDebitIndicator": "CREDIT"},
                "statementLines": [line],
            }
        ]
    }
    xero.bankfeeds("POST", "Statements", json=body)
    assert control(base_url, "GET", f"organisations/{tenant}/statements").json()[0]["status"] == "PENDING"
    control(base_url, "POST", "settle")
    assert control(base_url, "GET", f"organisations/{tenant}/statements").json()[0]["status"] == "DELIVERED"
    (accepted,) = control(base_url, "GET", f"organisations/{tenant}/feed-connections/{feed_id}/lines").json()
    assert (accepted["transactionId"], accepted["amount"]) == ("x1", 5.0)


def test_given_the_request_log_then_each_call_has_method_path_tenant_status_key_and_time(
    base_url: str, tenant: str, xero: XeroHarness, clock: ManualClock
) -> None:
    control(base_url, "DELETE", "requests")
    xero.accounting("GET", "Organisation")
    xero.accounting("POST", "Contacts", json={"Contacts": [{"Name": "Logged"}]}, headers={"Idempotency-Key": "log-1"})
    entries = control(base_url, "GET", "requests").json()
    assert [(e["method"], e["path"], e["tenant"], e["status"]) for e in entries] == [
        ("GET", "/api.xro/2.0/Organisation", tenant, 200),
        ("POST", "/api.xro/2.0/Contacts", tenant, 200),
    ]
    assert entries[1]["idempotency_key"] == "log-1"
    assert entries[0]["timestamp"] == clock.time()
    assert entries[0]["client_id"] == "local-dev-client"


@requires_spec
def test_given_spec_violations_then_readable_and_clearable_over_http(base_url: str, xero: XeroHarness) -> None:
    xero.call("GET", "/api.xro/2.0/Organisation", tenant=False)
    assert len(control(base_url, "GET", "spec-violations").json()) == 1
    control(base_url, "DELETE", "spec-violations")
    assert control(base_url, "GET", "spec-violations").json() == []


def test_given_the_clock_over_http_then_advance_and_set_move_emulator_time(base_url: str, clock: ManualClock) -> None:
    before = control(base_url, "GET", "clock").json()["now"]
    assert control(base_url, "POST", "clock", {"advance": 90}).json()["now"] == before + 90
    assert control(base_url, "POST", "clock", {"set": before + 1000}).json()["now"] == before + 1000
    assert clock.time() == before + 1000  # the shared ManualClock moved too


def test_given_token_counts_over_http_then_issued_and_refreshed_are_counted(base_url: str, xero: XeroHarness) -> None:
    xero.refresh()
    stats = control(base_url, "GET", "tokens").json()
    assert (stats["code_exchanges"], stats["refreshes"], stats["access_tokens_issued"]) == (1, 1, 2)


def test_given_consent_over_http_with_deny_then_access_denied(base_url: str, tenant: str) -> None:
    answer = control(base_url, "POST", "consent", {"authorize_url": authorize_url(base_url), "deny": True})
    assert query_of(answer.json()["redirect_url"])["error"] == "access_denied"


def test_given_a_disconnect_over_http_then_the_tenant_is_403(base_url: str, tenant: str, xero: XeroHarness) -> None:
    assert control(base_url, "POST", f"organisations/{tenant}/disconnect", {}).json() == {"removed": 1}
    assert xero.accounting("GET", "Organisation").status_code == 403


def test_given_a_bad_control_request_then_400_or_404_with_a_message(base_url: str) -> None:
    assert control(base_url, "GET", "organisations/nope").status_code == 400
    assert control(base_url, "PATCH", "config", {"no_such_setting": 1}).status_code == 400
    assert control(base_url, "GET", "nothing-here").status_code == 404


def test_given_a_clock_that_cannot_move_when_advancing_then_only_emulator_time_moves() -> None:
    from emulators.time_control import SystemClock
    from emulators.xero.emulator_clock import EmulatorClock

    wall = SystemClock()
    emulated = EmulatorClock(wall)
    emulated.advance(3600)
    assert 3599 < emulated.time() - wall.time() < 3601
    emulated.set(wall.time() + 7200)
    assert 7199 < emulated.time() - wall.time() < 7201


def test_given_pending_feed_connections_rejected_over_http_then_they_settle_rejected_with_the_error(
    emu: XeroEmulator, clock: ManualClock, base_url: str, xero: XeroHarness, tenant: str
) -> None:
    feed_id = connect_feeds(xero, feed()).json()["items"][0]["id"]
    error = {"type": "invalid-feed-connection", "title": "Feed Connection Failed", "status": 400, "detail": "No."}
    answer = control(base_url, "POST", f"organisations/{tenant}/feed-connections/reject-pending", {"error": error})
    assert answer.json() == {"rejected": 1}
    clock.advance(emu.config.feed_connection_delay_s + 1)
    shown = xero.bankfeeds("GET", f"FeedConnections/{feed_id}").json()
    assert (shown["status"], shown["error"]["detail"]) == ("REJECTED", "No.")


def test_given_a_receipt_in_xero_then_its_bytes_are_read_over_http(
    base_url: str, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    from emulators.xero.harness import spend_money

    element = spend_money(bank_account_id, line={"Description": "Lunch", "AccountCode": "420"})
    created = xero.accounting("PUT", "BankTransactions", json={"BankTransactions": [element]})
    transaction_id = created.json()["BankTransactions"][0]["BankTransactionID"]
    content = b"%PDF-1.4 " + bytes(range(256))
    xero.accounting("PUT", f"BankTransactions/{transaction_id}/Attachments/lunch receipt.pdf", data=content,
                    headers={"Content-Type": "application/octet-stream"})
    path = f"organisations/{tenant}/bank-transactions/{transaction_id}/attachments/lunch%20receipt.pdf"
    answer = control(base_url, "GET", path)
    assert (answer.status_code, answer.content) == (200, content)
    assert control(base_url, "GET", path.replace("lunch%20", "other%20")).status_code == 400


#: XeroEmulator methods that are its own machinery, not a state or fault a test sets or reads.
_NOT_CONTROLS = {"start", "stop", "handle", "hold", "specs", "log", "log_request"}


def test_every_state_and_fault_the_python_surface_offers_is_also_an_http_control() -> None:
    """Tests and the demo drive the emulator in process; a person or another process has only HTTP."""
    import inspect

    from emulators.xero import control as control_module

    source = inspect.getsource(control_module)
    public = {name for name, member in inspect.getmembers(XeroEmulator, inspect.isfunction)
              if not name.startswith("_") and name not in _NOT_CONTROLS}
    missing = sorted(name for name in public if f".{name}(" not in source)
    assert missing == [], f"XeroEmulator methods with no /_emulator route in control.py: {missing}"
