"""Spend Money through /BankTransactions: batches and summarizeErrors, Xero's validation messages, totals,
updates and deletes, reconciled transactions, and the list endpoint's where/order/paging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness, spend_money

RECONCILED = "This Bank Transaction cannot be edited as it has been reconciled with a Bank Statement."


def put(xero: XeroHarness, *elements: dict[str, Any], summarize: bool | None = False) -> requests.Response:
    params = None if summarize is None else {"summarizeErrors": str(summarize).lower()}
    return xero.accounting("PUT", "BankTransactions", json={"BankTransactions": list(elements)}, params=params)


def messages(answer: requests.Response, index: int = 0) -> list[str]:
    element = answer.json()["BankTransactions"][index]
    return [m["Message"] for m in element.get("ValidationErrors", [])]


def created_id(xero: XeroHarness, element: dict[str, Any]) -> str:
    answer = put(xero, element)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["BankTransactions"][0]["BankTransactionID"])


# ------------------------------------------------------------------------------------ batches
def test_given_summarize_errors_false_when_one_element_fails_then_200_and_every_element_echoed(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    answer = put(xero, spend_money(bank_account_id), spend_money(bank_account_id, line={"AccountCode": "999"}))
    assert answer.status_code == 200
    first, second = answer.json()["BankTransactions"]
    assert first["StatusAttributeString"] == "OK"
    assert first["BankTransactionID"] != "00000000-0000-0000-0000-000000000000"
    assert second["StatusAttributeString"] == "ERROR"
    assert second["ValidationErrors"] == [{"Message": "Account code '999' is not a valid code for this document."}]
    assert [t["BankTransactionID"] for t in emu.bank_transactions(tenant)] == [first["BankTransactionID"]]


def test_given_default_summarize_when_one_element_fails_then_400_lists_it_but_the_valid_one_was_created(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    answer = put(
        xero, spend_money(bank_account_id, Reference="GOOD"), spend_money(bank_account_id, Contact=None), summarize=None
    )
    assert answer.status_code == 400
    document = answer.json()
    assert (document["ErrorNumber"], document["Type"]) == (10, "ValidationException")
    assert document["Message"] == "A validation exception occurred"
    (element,) = document["Elements"]
    assert element["ValidationErrors"] == [{"Message": "A Contact must be specified for this type of transaction"}]
    assert "BankTransactions" not in document  # no IDs for what was created
    assert [t["Reference"] for t in emu.bank_transactions(tenant)] == ["GOOD"]


def test_given_atomic_batches_configured_when_one_element_fails_then_nothing_is_created(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    emu.configure(summarize_errors_creates_valid_elements=False)
    answer = put(xero, spend_money(bank_account_id), spend_money(bank_account_id, LineItems=[]), summarize=True)
    assert answer.status_code == 400
    assert emu.bank_transactions(tenant) == []


def test_given_all_valid_with_default_summarize_then_200_with_ids(xero: XeroHarness, bank_account_id: str) -> None:
    answer = put(xero, spend_money(bank_account_id), spend_money(bank_account_id), summarize=None)
    assert answer.status_code == 200
    assert len({t["BankTransactionID"] for t in answer.json()["BankTransactions"]}) == 2


# --------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"Contact": None}, "A Contact must be specified for this type of transaction"),
        ({"LineItems": []}, "One or more line items must be specified"),
        ({"line": {"AccountCode": "999"}}, "Account code '999' is not a valid code for this document."),
        (
            {"line": {"AccountCode": "419"}},
            "Account code '419' has been archived, or has been deleted. Each line item must reference a valid account.",
        ),
        ({"line": {"AccountCode": "090"}}, "Account code '090' is not a valid code for this document."),
        ({"line": {"AccountCode": "610"}}, "Account code '610' is not a valid code for this document."),
        (
            {"line": {"TaxType": "GST15"}},
            "The TaxType code GST15 does not exist or cannot be used for this type of transaction.",
        ),
        (
            {"line": {"TaxType": "TAX001"}},
            "The TaxType code TAX001 does not exist or cannot be used for this type of transaction.",
        ),
        ({"line": {"TaxType": "OUTPUT"}}, "The TaxType code 'OUTPUT' cannot be used with account code '493'."),
        ({"line": {"Quantity": -1}}, "The quantity value '-1.0000' is invalid. Quantity must not be less than zero."),
        ({"line": {"AccountCode": None}}, "Account code must be specified"),
        ({"CurrencyCode": "EUR"}, "Organisation is not subscribed to currency EUR"),
        (
            {"Type": "SPEND-TRANSFER"},
            "Bank transactions of Type SPEND-TRANSFER cannot be created through this endpoint.",
        ),
        ({"Url": "payments/1"}, "The Url must be an absolute http or https URL."),
    ],
)
def test_given_an_invalid_element_when_put_then_xeros_message(
    xero: XeroHarness, bank_account_id: str, overrides: dict[str, Any], expected: str
) -> None:
    answer = put(xero, spend_money(bank_account_id, **overrides))
    assert answer.status_code == 200
    assert expected in messages(answer)


def test_given_a_bank_account_that_is_not_a_bank_account_when_put_then_account_must_be_valid(
    xero: XeroHarness,
) -> None:
    answer = put(xero, spend_money("ignored", BankAccount={"Code": "429"}))
    assert messages(answer) == ["Account must be valid."]


def test_given_an_archived_bank_account_when_put_then_account_must_be_valid(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    emu.update_account(tenant, bank_account_id, {"Status": "ARCHIVED"})
    assert messages(put(xero, spend_money(bank_account_id))) == ["Account must be valid."]


def test_given_a_bank_account_in_use_when_deleted_in_the_chart_then_archived_and_its_spend_money_still_listed(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    """Xero deletes only an account nothing uses: one a Spend Money names is archived, and the Spend Money keeps
    naming it (a list filtered on it answers, it does not fail)."""
    created = created_id(xero, spend_money(bank_account_id))
    emu.delete_bank_account(tenant, bank_account_id)
    account = next(a for a in emu.accounts(tenant) if a["AccountID"] == bank_account_id)
    assert account["Status"] == "ARCHIVED"
    listed = xero.accounting(
        "GET", "BankTransactions", params={"where": f'BankAccount.AccountID==Guid("{bank_account_id}")'}
    )
    assert listed.status_code == 200, listed.text
    assert [t["BankTransactionID"] for t in listed.json()["BankTransactions"]] == [created]
    assert messages(put(xero, spend_money(bank_account_id))) == ["Account must be valid."]


def test_given_a_line_account_without_enable_payments_then_xero_accepts_it_unless_the_org_demands_it(
    emu: XeroEmulator, base_url: str, xero: XeroHarness, bank_account_id: str
) -> None:
    assert (
        put(xero, spend_money(bank_account_id, line={"AccountCode": "461"})).json()["BankTransactions"][0][
            "StatusAttributeString"
        ]
        == "OK"
    )
    strict_tenant = emu.seed_organisation("Strict", require_payments_enabled_line_accounts=True)
    strict = XeroHarness(base_url)
    strict.connect([strict_tenant])
    bank = next(a["AccountID"] for a in emu.accounts(strict_tenant) if a.get("Code") == "090")
    assert messages(put(strict, spend_money(bank, line={"AccountCode": "461"}))) == [
        "Account code '461' is not a valid code for this document."
    ]


def test_given_a_foreign_currency_on_a_base_currency_bank_account_then_refused_and_on_its_own_account_accepted(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    assert "does not match the currency HKD" in messages(put(xero, spend_money(bank_account_id, CurrencyCode="USD")))[0]
    usd_account = next(a["AccountID"] for a in emu.accounts(tenant) if a.get("Code") == "091")
    answer = put(xero, spend_money(usd_account, CurrencyCode="USD", CurrencyRate=7.8))
    (created,) = answer.json()["BankTransactions"]
    assert (created["StatusAttributeString"], created["CurrencyCode"], created["CurrencyRate"]) == ("OK", "USD", 7.8)


def test_given_lock_dates_when_dated_on_or_before_them_then_refused_with_xeros_message(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    emu.update_organisation(tenant, period_lock_date="2026-01-31", end_of_year_lock_date="2025-12-31")
    assert messages(put(xero, spend_money(bank_account_id, Date="2026-01-31"))) == [
        "The document date cannot be before the period lock date, currently set at 31-Jan-2026"
    ]
    assert messages(put(xero, spend_money(bank_account_id, Date="2025-12-31"))) == [
        "The document date cannot be before the end of year lock date, currently set at 31-Dec-2025"
    ]
    assert (
        put(xero, spend_money(bank_account_id, Date="2026-02-01")).json()["BankTransactions"][0][
            "StatusAttributeString"
        ]
        == "OK"
    )


# ---------------------------------------------------------------------------------- tracking
def test_given_tracking_by_name_when_put_then_resolved_to_ids(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    tracking = [{"Name": "Region", "Option": "North"}, {"Name": "Department", "Option": "Sales"}]
    (created,) = put(xero, spend_money(bank_account_id, line={"Tracking": tracking})).json()["BankTransactions"]
    rendered = created["LineItems"][0]["Tracking"]
    assert [(t["Name"], t["Option"]) for t in rendered] == [("Region", "North"), ("Department", "Sales")]
    region = next(c for c in emu.tracking_categories(tenant) if c["Name"] == "Region")
    assert rendered[0]["TrackingCategoryID"] == region["TrackingCategoryID"]


def test_given_tracking_by_id_when_put_then_accepted(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    region = next(c for c in emu.tracking_categories(tenant) if c["Name"] == "Region")
    south = next(o for o in region["Options"] if o["Name"] == "South")
    tracking = [{"TrackingCategoryID": region["TrackingCategoryID"], "TrackingOptionID": south["TrackingOptionID"]}]
    (created,) = put(xero, spend_money(bank_account_id, line={"Tracking": tracking})).json()["BankTransactions"]
    assert created["LineItems"][0]["Tracking"][0]["Option"] == "South"


@pytest.mark.parametrize(
    ("tracking", "expected"),
    [
        ([{"Name": "Region", "Option": "East"}], "The tracking option 'East' has been archived and cannot be used."),
        (
            [{"Name": "Region", "Option": "West"}],
            "The tracking option 'West' does not exist in tracking category 'Region'.",
        ),
        (
            [{"Name": "Legacy Projects", "Option": "Alpha"}],
            "The tracking category 'Legacy Projects' does not exist or is not active.",
        ),
        (
            [
                {"Name": "Region", "Option": "North"},
                {"Name": "Department", "Option": "Sales"},
                {"Name": "Region", "Option": "South"},
            ],
            "A line item can only have a maximum of 2 tracking categories.",
        ),
        (
            [{"Name": "Region", "Option": "North"}, {"Name": "Region", "Option": "South"}],
            "The tracking category 'Region' can only be used once per line item.",
        ),
    ],
)
def test_given_bad_tracking_when_put_then_refused(
    xero: XeroHarness, bank_account_id: str, tracking: list[dict[str, str]], expected: str
) -> None:
    assert messages(put(xero, spend_money(bank_account_id, line={"Tracking": tracking}))) == [expected]


def test_given_an_option_archived_by_control_when_put_then_refused(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    region = next(c for c in emu.tracking_categories(tenant) if c["Name"] == "Region")
    north = next(o for o in region["Options"] if o["Name"] == "North")
    emu.set_tracking_status(tenant, north["TrackingOptionID"], "ARCHIVED")
    tracking = [{"Name": "Region", "Option": "North"}]
    assert messages(put(xero, spend_money(bank_account_id, line={"Tracking": tracking}))) == [
        "The tracking option 'North' has been archived and cannot be used."
    ]


# ------------------------------------------------------------------------------------ totals
@pytest.mark.parametrize(
    ("line_amount_types", "unit", "quantity", "totals"),
    [
        ("Exclusive", 10.55, 3, (31.65, 3.17, 34.82)),  # tax 3.165 rounds half up
        ("Inclusive", 110.00, 1, (100.0, 10.0, 110.0)),
        ("Inclusive", 33.33, 1, (30.3, 3.03, 33.33)),
        ("NoTax", 99.99, 2, (199.98, 0.0, 199.98)),
    ],
)
def test_given_line_amount_types_when_put_then_totals_are_exact(
    xero: XeroHarness,
    bank_account_id: str,
    line_amount_types: str,
    unit: float,
    quantity: int,
    totals: tuple[float, ...],
) -> None:
    element = spend_money(
        bank_account_id, LineAmountTypes=line_amount_types, line={"UnitAmount": unit, "Quantity": quantity}
    )
    (created,) = put(xero, element).json()["BankTransactions"]
    assert (created["SubTotal"], created["TotalTax"], created["Total"]) == totals


def test_given_a_line_amount_that_disagrees_with_quantity_times_unit_when_put_then_refused(
    xero: XeroHarness, bank_account_id: str
) -> None:
    answer = put(xero, spend_money(bank_account_id, line={"Quantity": 2, "UnitAmount": 10, "LineAmount": 25}))
    assert messages(answer) == [
        "The line amount 25.00 does not equal the quantity multiplied by the unit amount (20.00)."
    ]


# ----------------------------------------------------------------------- contacts on transactions
def test_given_a_contact_name_when_put_then_existing_contacts_are_reused_and_unknown_ones_created(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    put(
        xero,
        spend_money(bank_account_id, Contact={"Name": "ACME SUPPLIES LTD"}),
        spend_money(bank_account_id, Contact={"Name": "New Cafe"}),
    )
    assert sorted(c["Name"] for c in emu.contacts(tenant)) == ["Acme Supplies Ltd", "New Cafe"]


def test_given_an_unknown_contact_id_when_put_then_refused(xero: XeroHarness, bank_account_id: str) -> None:
    answer = put(xero, spend_money(bank_account_id, Contact={"ContactID": "8a0f1b6e-1111-4c1a-9c1a-000000000001"}))
    assert messages(answer) == ["The contact with the specified ContactID could not be found."]


# -------------------------------------------------------------------------- updates and deletes
def test_given_a_bank_transaction_id_when_posted_then_updated_and_lines_replaced(
    clock: ManualClock, xero: XeroHarness, bank_account_id: str
) -> None:
    transaction_id = created_id(xero, spend_money(bank_account_id))
    before = xero.accounting("GET", f"BankTransactions/{transaction_id}").json()["BankTransactions"][0]
    clock.advance(5)
    update = {
        "BankTransactionID": transaction_id,
        "Reference": "PAY-1b",
        "LineItems": [{"Description": "Fuel", "UnitAmount": 50, "AccountCode": "429"}],
    }
    answer = xero.accounting("POST", "BankTransactions", json={"BankTransactions": [update]})
    assert answer.status_code == 200
    after = xero.accounting("GET", f"BankTransactions/{transaction_id}").json()["BankTransactions"][0]
    assert after["Reference"] == "PAY-1b"
    assert [line["Description"] for line in after["LineItems"]] == ["Fuel"]
    assert after["Total"] == 55.0
    assert after["UpdatedDateUTC"] != before["UpdatedDateUTC"]


def test_given_a_bank_transaction_id_when_put_then_refused_because_put_creates(
    xero: XeroHarness, bank_account_id: str
) -> None:
    transaction_id = created_id(xero, spend_money(bank_account_id))
    answer = put(xero, spend_money(bank_account_id, BankTransactionID=transaction_id))
    assert messages(answer) == ["A BankTransactionID cannot be given when creating (PUT); use POST to update."]


def test_given_status_deleted_when_posted_then_deleted_and_no_longer_editable(
    xero: XeroHarness, bank_account_id: str
) -> None:
    transaction_id = created_id(xero, spend_money(bank_account_id))
    xero.accounting(
        "POST",
        f"BankTransactions/{transaction_id}",
        json={"BankTransactions": [{"BankTransactionID": transaction_id, "Status": "DELETED"}]},
    )
    assert (
        xero.accounting("GET", f"BankTransactions/{transaction_id}").json()["BankTransactions"][0]["Status"]
        == "DELETED"
    )
    again = xero.accounting(
        "POST",
        "BankTransactions",
        json={"BankTransactions": [{"BankTransactionID": transaction_id, "Reference": "x"}]},
        params={"summarizeErrors": "false"},
    )
    assert messages(again) == ["This Bank Transaction cannot be edited as it has been deleted."]


def test_given_a_reconciled_transaction_when_edited_or_deleted_then_xeros_exact_message(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    transaction_id = created_id(xero, spend_money(bank_account_id))
    emu.set_reconciled(tenant, transaction_id)
    for change in ({"Reference": "edited"}, {"Status": "DELETED"}):
        answer = xero.accounting(
            "POST", "BankTransactions", json={"BankTransactions": [{"BankTransactionID": transaction_id, **change}]}
        )
        assert answer.status_code == 400
        assert answer.json()["Elements"][0]["ValidationErrors"] == [{"Message": RECONCILED}]
    assert emu.bank_transaction(tenant, transaction_id)["Reference"] == "PAY-1"


def test_given_the_control_api_when_reconciling_over_http_then_the_transaction_is_reconciled(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    transaction_id = created_id(xero, spend_money(bank_account_id))
    answer = xero.control("PATCH", f"organisations/{tenant}/bank-transactions/{transaction_id}", {"IsReconciled": True})
    assert answer.json()["IsReconciled"] is True
    assert (
        xero.accounting("GET", f"BankTransactions/{transaction_id}").json()["BankTransactions"][0]["IsReconciled"]
        is True
    )


def test_given_a_transaction_in_a_locked_period_when_deleted_then_refused(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    transaction_id = created_id(xero, spend_money(bank_account_id, Date="2026-01-15"))
    emu.update_organisation(tenant, period_lock_date="2026-01-31")
    answer = xero.accounting(
        "POST",
        "BankTransactions",
        json={"BankTransactions": [{"BankTransactionID": transaction_id, "Status": "DELETED"}]},
        params={"summarizeErrors": "false"},
    )
    assert messages(answer) == ["The document date cannot be before the period lock date, currently set at 31-Jan-2026"]


# ------------------------------------------------------------------------------------- reads
def test_given_transactions_when_filtered_with_where_then_xeros_syntax_selects_them(
    emu: XeroEmulator, xero: XeroHarness, tenant: str, bank_account_id: str
) -> None:
    put(
        xero,
        spend_money(bank_account_id, Reference="INV-A1", Date="2026-02-01"),
        spend_money(bank_account_id, Reference="INV-B2", Date="2026-02-15", Contact={"Name": "Other Co"}),
        spend_money(
            bank_account_id,
            Reference="EXP-C3",
            Date="2026-02-25",
            Type="RECEIVE",
            line={"AccountCode": "200", "TaxType": "OUTPUT"},
        ),
    )
    acme = next(c["ContactID"] for c in emu.contacts(tenant) if c["Name"] == "Acme Supplies Ltd")

    def refs(where: str) -> list[str]:
        answer = xero.accounting("GET", "BankTransactions", params={"where": where, "order": "Reference"})
        assert answer.status_code == 200, answer.text
        return [t["Reference"] for t in answer.json()["BankTransactions"]]

    assert refs('Type=="SPEND"') == ["INV-A1", "INV-B2"]
    assert refs("Date >= DateTime(2026, 02, 10) AND Date < DateTime(2026,02,20)") == ["INV-B2"]
    assert refs(f'Contact.ContactID==Guid("{acme}")') == ["EXP-C3", "INV-A1"]
    assert refs(f'BankAccount.AccountID==Guid("{bank_account_id}") && Reference.StartsWith("INV")') == [
        "INV-A1",
        "INV-B2",
    ]
    assert refs('Reference.Contains("C3") || Reference=="INV-A1"') == ["EXP-C3", "INV-A1"]
    assert refs('Status!="DELETED" && Total > 100') == ["EXP-C3", "INV-A1", "INV-B2"]
    assert refs('IsReconciled==false && Type=="RECEIVE"') == ["EXP-C3"]


def test_given_many_transactions_when_paged_then_pagination_block_and_windows(
    xero: XeroHarness, bank_account_id: str
) -> None:
    put(xero, *[spend_money(bank_account_id, Reference=f"R{i:02d}") for i in range(7)])
    answer = xero.accounting("GET", "BankTransactions", params={"page": "2", "pageSize": "3", "order": "Reference"})
    document = answer.json()
    assert document["pagination"] == {"page": 2, "pageSize": 3, "pageCount": 3, "itemCount": 7}
    assert [t["Reference"] for t in document["BankTransactions"]] == ["R03", "R04", "R05"]
    assert xero.accounting("GET", "BankTransactions").json()["pagination"]["pageSize"] == 100


def test_given_page_size_above_1000_when_listing_then_capped(xero: XeroHarness) -> None:
    assert (
        xero.accounting("GET", "BankTransactions", params={"pageSize": "5000"}).json()["pagination"]["pageSize"] == 1000
    )


def test_given_if_modified_since_when_listing_then_only_changed_transactions(
    clock: ManualClock, xero: XeroHarness, bank_account_id: str
) -> None:
    old_id = created_id(xero, spend_money(bank_account_id, Reference="old"))
    clock.advance(60)
    cutoff = datetime.fromtimestamp(clock.time(), tz=UTC).isoformat()
    clock.advance(60)
    created_id(xero, spend_money(bank_account_id, Reference="new"))
    xero.accounting(
        "POST",
        "BankTransactions",
        json={"BankTransactions": [{"BankTransactionID": old_id, "Reference": "old-edited"}]},
    )
    answer = xero.accounting(
        "GET", "BankTransactions", headers={"If-Modified-Since": cutoff}, params={"order": "Reference"}
    )
    assert [t["Reference"] for t in answer.json()["BankTransactions"]] == ["new", "old-edited"]


def test_given_unitdp_4_when_putting_and_reading_then_unit_amounts_keep_four_places(
    xero: XeroHarness, bank_account_id: str
) -> None:
    element = spend_money(bank_account_id, line={"UnitAmount": 1.23456, "Quantity": 10})
    answer = xero.accounting(
        "PUT",
        "BankTransactions",
        json={"BankTransactions": [element]},
        params={"unitdp": "4", "summarizeErrors": "false"},
    )
    (created,) = answer.json()["BankTransactions"]
    assert created["LineItems"][0]["UnitAmount"] == 1.2346
    assert created["LineItems"][0]["LineAmount"] == 12.35
    read = xero.accounting("GET", f"BankTransactions/{created['BankTransactionID']}").json()["BankTransactions"][0]
    assert read["LineItems"][0]["UnitAmount"] == 1.23  # without unitdp=4: two places


def test_given_a_transaction_when_read_by_id_then_dates_are_ms_json_and_attachments_listed(
    xero: XeroHarness, bank_account_id: str
) -> None:
    transaction_id = created_id(xero, spend_money(bank_account_id, Date="2026-02-20"))
    transaction = xero.accounting("GET", f"BankTransactions/{transaction_id}").json()["BankTransactions"][0]
    assert transaction["Date"] == "/Date(1771545600000+0000)/"
    assert transaction["DateString"] == "2026-02-20T00:00:00"
    assert transaction["Attachments"] == []
    assert xero.accounting("GET", "BankTransactions/8a0f1b6e-1111-4c1a-9c1a-000000000001").status_code == 404


def test_given_no_date_when_put_then_dated_today_in_the_organisations_zone(
    clock: ManualClock, xero: XeroHarness, bank_account_id: str
) -> None:
    element = spend_money(bank_account_id)
    del element["Date"]
    (created,) = put(xero, element).json()["BankTransactions"]
    local_day = datetime.fromtimestamp(clock.time() + 8 * 3600, tz=UTC).date().isoformat()
    assert created["DateString"] == f"{local_day}T00:00:00"
