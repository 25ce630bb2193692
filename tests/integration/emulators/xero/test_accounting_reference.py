"""Accounting API reference data: Organisation (editions, status, demo), Actions, Accounts and their
filters, TaxRates, TrackingCategories, Currencies, Contacts; the envelope and Accept handling."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import XeroHarness

MS_DATE = re.compile(r"^/Date\(\d+\+0000\)/$")


def connect_to(emu: XeroEmulator, base_url: str, **options: object) -> XeroHarness:
    tenant = emu.seed_organisation("Seeded", **options)
    harness = XeroHarness(base_url)
    harness.connect([tenant])
    return harness


def test_given_a_default_seed_when_reading_organisation_then_an_active_business_edition_in_the_envelope(
    xero: XeroHarness, tenant: str
) -> None:
    answer = xero.accounting("GET", "Organisation")
    assert answer.status_code == 200
    document = answer.json()
    assert document["Status"] == "OK"
    assert document["ProviderName"] == "Local Dev App"
    assert re.match(r"^/Date\(\d+\)/$", document["DateTimeUTC"])
    (organisation,) = document["Organisations"]
    assert organisation["OrganisationID"] == tenant
    assert (organisation["Edition"], organisation["OrganisationStatus"]) == ("BUSINESS", "ACTIVE")
    assert (organisation["CountryCode"], organisation["BaseCurrency"]) == ("HK", "HKD")
    assert organisation["IsDemoCompany"] is False
    assert MS_DATE.match(organisation["CreatedDateUTC"])


@pytest.mark.parametrize(
    ("options", "field", "expected"),
    [
        ({"edition": "PARTNER"}, "Edition", "PARTNER"),
        ({"status": "INACTIVE"}, "OrganisationStatus", "INACTIVE"),
        ({"is_demo": True}, "IsDemoCompany", True),
        ({"is_demo": True}, "Class", "DEMO"),
        ({"org_class": "PREMIUM"}, "Class", "PREMIUM"),
        ({"country_code": "SG", "base_currency": "SGD", "timezone": "SINGAPORESTANDARDTIME"}, "BaseCurrency", "SGD"),
        ({"period_lock_date": "2025-12-31"}, "PeriodLockDate", "/Date(1767139200000+0000)/"),
        ({"end_of_year_lock_date": "2025-06-30"}, "EndOfYearLockDate", "/Date(1751241600000+0000)/"),
    ],
)
def test_given_a_seeded_variant_when_reading_organisation_then_it_shows(
    emu: XeroEmulator, base_url: str, options: dict[str, object], field: str, expected: object
) -> None:
    harness = connect_to(emu, base_url, **options)
    assert harness.accounting("GET", "Organisation").json()["Organisations"][0][field] == expected


def test_given_no_multicurrency_when_reading_actions_then_use_multicurrency_is_not_allowed(
    emu: XeroEmulator, base_url: str
) -> None:
    single = connect_to(emu, base_url, multicurrency=False)
    actions = {a["Name"]: a["Status"] for a in single.accounting("GET", "Organisation/Actions").json()["Actions"]}
    assert actions["UseMulticurrency"] == "NOT-ALLOWED"
    multi = connect_to(emu, base_url)
    actions = {a["Name"]: a["Status"] for a in multi.accounting("GET", "Organisation/Actions").json()["Actions"]}
    assert actions["UseMulticurrency"] == "ALLOWED"


def test_given_the_bank_picker_filter_when_listing_accounts_then_only_active_bank_accounts(xero: XeroHarness) -> None:
    answer = xero.accounting("GET", "Accounts", params={"where": 'Type=="BANK"&&Status=="ACTIVE"'})
    accounts = answer.json()["Accounts"]
    assert [a["Code"] for a in accounts] == ["090", "091"]
    assert {a["CurrencyCode"] for a in accounts} == {"HKD", "USD"}
    assert all(a["BankAccountNumber"] and a["BankAccountType"] == "BANK" for a in accounts)


def test_given_the_expense_picker_filter_when_listing_accounts_then_only_active_payment_enabled_accounts(
    xero: XeroHarness,
) -> None:
    where = 'Status=="ACTIVE" AND EnablePaymentsToAccount==true'
    codes = [a["Code"] for a in xero.accounting("GET", "Accounts", params={"where": where}).json()["Accounts"]]
    assert codes == ["400", "404", "420", "429", "493", "494"]  # 419 is archived, 461 not payment-enabled


def test_given_an_archived_account_when_listing_without_filter_then_it_is_there_with_its_status(
    xero: XeroHarness,
) -> None:
    accounts = {a["Code"]: a for a in xero.accounting("GET", "Accounts").json()["Accounts"]}
    assert accounts["419"]["Status"] == "ARCHIVED"
    assert accounts["429"]["Class"] == "EXPENSE"


def test_given_if_modified_since_when_listing_accounts_then_only_later_changes(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness, tenant: str
) -> None:
    cutoff = datetime.fromtimestamp(clock.time(), tz=UTC).isoformat()  # the seed's accounts are not after it
    clock.advance(60)
    emu.add_account(
        tenant, {"Code": "495", "Name": "Subscriptions", "Type": "OVERHEADS", "EnablePaymentsToAccount": True}
    )
    answer = xero.accounting("GET", "Accounts", headers={"If-Modified-Since": cutoff})
    assert [a["Code"] for a in answer.json()["Accounts"]] == ["495"]


def test_given_an_account_id_when_reading_one_then_it_or_404(xero: XeroHarness, bank_account_id: str) -> None:
    assert xero.accounting("GET", f"Accounts/{bank_account_id}").json()["Accounts"][0]["Code"] == "090"
    assert xero.accounting("GET", "Accounts/8a0f1b6e-1111-4c1a-9c1a-000000000001").status_code == 404


def test_given_a_bad_where_when_listing_then_400_query_parse_exception(xero: XeroHarness) -> None:
    answer = xero.accounting("GET", "Accounts", params={"where": 'Colour=="RED"'})
    assert answer.status_code == 400
    assert answer.json()["Type"] == "QueryParseException"
    assert "Colour" in answer.json()["Message"]


def test_given_an_order_when_listing_accounts_then_sorted(xero: XeroHarness) -> None:
    names = [a["Name"] for a in xero.accounting("GET", "Accounts", params={"order": "Name DESC"}).json()["Accounts"]]
    assert names == sorted(names, key=str.lower, reverse=True)


def test_given_tax_rates_when_listed_then_expense_applicability_and_status_show(xero: XeroHarness) -> None:
    rates = {r["TaxType"]: r for r in xero.accounting("GET", "TaxRates").json()["TaxRates"]}
    assert rates["INPUT"]["CanApplyToExpenses"] is True
    assert rates["OUTPUT"]["CanApplyToExpenses"] is False
    assert rates["TAX001"]["Status"] == "DELETED"
    assert rates["INPUT"]["EffectiveRate"] == 10.0
    usable = xero.accounting("GET", "TaxRates", params={"where": 'Status=="ACTIVE"&&CanApplyToExpenses==true'}).json()[
        "TaxRates"
    ]
    assert {r["TaxType"] for r in usable} == {"NONE", "INPUT"}


def test_given_archived_tracking_when_listing_then_hidden_unless_include_archived(xero: XeroHarness) -> None:
    default = xero.accounting("GET", "TrackingCategories").json()["TrackingCategories"]
    assert [c["Name"] for c in default] == ["Region", "Department"]
    region = next(c for c in default if c["Name"] == "Region")
    assert [o["Name"] for o in region["Options"]] == ["North", "South"]
    everything = xero.accounting("GET", "TrackingCategories", params={"includeArchived": "true"}).json()
    names = [c["Name"] for c in everything["TrackingCategories"]]
    assert names == ["Region", "Department", "Legacy Projects"]
    region = everything["TrackingCategories"][0]
    assert {o["Name"]: o["Status"] for o in region["Options"]}["East"] == "ARCHIVED"


def test_given_a_third_active_tracking_category_when_seeding_then_refused(emu: XeroEmulator) -> None:
    categories = [{"Name": n, "Options": [{"Name": "x"}]} for n in ("A", "B", "C")]
    with pytest.raises(ValueError, match="at most 2 active"):
        emu.seed_organisation(tracking_categories=categories)


def test_given_currencies_when_listed_then_the_enabled_ones(emu: XeroEmulator, base_url: str) -> None:
    harness = connect_to(emu, base_url, currencies=["USD"])
    codes = [c["Code"] for c in harness.accounting("GET", "Currencies").json()["Currencies"]]
    assert codes == ["HKD", "USD"]


def test_given_no_accept_json_when_reading_then_xml_as_xero_defaults(xero: XeroHarness) -> None:
    answer = xero.accounting("GET", "Organisation", headers={"Accept": "*/*"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert answer.text.startswith("<?xml")
    assert "<Organisations><Organisation>" in answer.text


# ---------------------------------------------------------------------------------------- contacts
def test_given_a_contact_name_when_filtering_then_found_case_insensitively(xero: XeroHarness) -> None:
    answer = xero.accounting("GET", "Contacts", params={"where": 'Name=="acme supplies ltd"'})
    (contact,) = answer.json()["Contacts"]
    assert contact["Name"] == "Acme Supplies Ltd"
    assert xero.accounting("GET", "Contacts", params={"where": 'Name=="Nobody"'}).json()["Contacts"] == []


def test_given_a_new_contact_when_put_then_created_and_readable(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    answer = xero.accounting(
        "PUT", "Contacts", json={"Contacts": [{"Name": "Kowloon Couriers", "EmailAddress": "k@c.hk"}]}
    )
    assert answer.status_code == 200
    (created,) = answer.json()["Contacts"]
    assert created["ContactStatus"] == "ACTIVE"
    assert xero.accounting("GET", f"Contacts/{created['ContactID']}").json()["Contacts"][0]["EmailAddress"] == "k@c.hk"
    assert "Kowloon Couriers" in [c["Name"] for c in emu.contacts(tenant)]


def test_given_a_taken_contact_name_when_put_then_validation_exception(xero: XeroHarness) -> None:
    answer = xero.accounting("PUT", "Contacts", json={"Contacts": [{"Name": "Acme Supplies Ltd"}]})
    assert answer.status_code == 400
    message = answer.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert message.startswith("The contact name Acme Supplies Ltd is already assigned to another contact.")


def test_given_two_new_contacts_with_one_name_in_a_batch_when_put_then_the_second_fails(xero: XeroHarness) -> None:
    body = {"Contacts": [{"Name": "Twin"}, {"Name": "Twin"}]}
    answer = xero.accounting("PUT", "Contacts", json=body, params={"summarizeErrors": "false"})
    assert [c["StatusAttributeString"] for c in answer.json()["Contacts"]] == ["OK", "ERROR"]


def test_given_a_contact_id_when_posted_then_the_contact_is_updated(xero: XeroHarness) -> None:
    contact = xero.accounting("GET", "Contacts").json()["Contacts"][0]
    answer = xero.accounting(
        "POST", "Contacts", json={"Contacts": [{"ContactID": contact["ContactID"], "Name": "Acme Ltd"}]}
    )
    assert answer.status_code == 200
    assert xero.accounting("GET", f"Contacts/{contact['ContactID']}").json()["Contacts"][0]["Name"] == "Acme Ltd"
