"""The Xero page in a real browser: the help centre's "How to Integrate and Disconnect Xero" walked through the
console, which calls the HTTP API as the bank's frontend would. Each step asserts what the user sees.

The module's tests are chapters of one story on one stack and one page, in order: connected and linked in the
first, the others build on it.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from local.console.seed import (
    BUSINESS,
    GROUP_ORGANISATION,
    HONG_KONG,
    INACTIVE_ORGANISATION,
    ORGANISATION,
    PARTNER_ORGANISATION,
)
from tests.browser.console import Console

pytestmark = pytest.mark.browser


@pytest.mark.long
def test_connect_link_and_watch_the_sync_recover(console: Console) -> None:
    page = console.page
    # Given Fiona, Finance user of a Singapore business that is not connected to Xero
    console.open(BUSINESS, "Finance")
    expect(page.locator("#connection-status")).to_have_text("Not connected")
    expect(console.button("Sync an Expense")).to_be_disabled()
    expect(page.locator("#expenses-unavailable")).to_contain_text(
        "available once at least one of your bank accounts is connected to Xero")
    console.shot("not-connected")

    # When she picks a Partner Edition organisation on Xero's consent page, it is refused with the reason
    console.connect_in_xero(PARTNER_ORGANISATION)
    expect(console.flash.get_by_role("alert")).to_contain_text(
        f"'{PARTNER_ORGANISATION}' is a Xero Partner Edition organisation")
    expect(page.locator("#connection-status")).to_have_text("Not connected")
    console.shot("partner-edition-refused")
    # And so is an inactive one
    console.connect_in_xero(INACTIVE_ORGANISATION)
    expect(console.flash.get_by_role("alert")).to_contain_text(
        f"'{INACTIVE_ORGANISATION}' is not an active Xero organisation")

    # When she consents to two organisations, the page asks which one this business connects to
    console.connect_in_xero(ORGANISATION, GROUP_ORGANISATION)
    chooser = page.get_by_role("group", name="Organisations you gave access to")
    expect(chooser.get_by_role("radio")).to_have_count(2)
    console.shot("choose-organisation")
    chooser.get_by_role("radio", name=ORGANISATION).check()
    console.button("Connect this organisation").click()
    expect(page.locator("#connection-status")).to_have_text("Connected")
    expect(console.flash).to_contain_text(f"Connected to {ORGANISATION}.")
    expect(page.locator(".facts")).to_contain_text("Business Edition, base currency HKD")
    console.shot("connected")

    # When she links the HKD account to Xero's HKD bank account (from today: its history is for another test)
    hkd, usd = console.account("HKD Operating"), console.account("USD Operating")
    hkd.get_by_role("button", name="Link to Xero").click()
    form = page.get_by_role("form", name="Link HKD Operating to Xero")
    form.get_by_label("Xero bank account", exact=True).select_option(label="Business Bank Account (012-345678-001)")
    form.get_by_label("Send history from").fill(date.today().isoformat())
    form.get_by_role("button", name="Link account").click()
    expect(hkd.locator(".feed-state")).to_have_text(re.compile("Pending|Active"))
    # and the USD account to a new Xero bank account
    usd.get_by_role("button", name="Link to Xero").click()
    form = page.get_by_role("form", name="Link USD Operating to Xero")
    form.get_by_role("radio", name="A new Xero bank account").check()
    form.get_by_label("Name").fill("USD Operating")
    form.get_by_label("Number").fill("8810012345")
    form.get_by_label("Send history from").fill(date.today().isoformat())
    form.get_by_role("button", name="Link account").click()
    # Then Xero activates both feeds, and both accounts show their first sync
    for row, xero_account in ((hkd, "Business Bank Account"), (usd, "USD Operating")):
        expect(row.locator(".feed-state")).to_have_text("Active")
        expect(row).to_contain_text(xero_account)
        expect(row.locator(".last-sync time")).to_be_visible()
    expect(page.locator("#last-sync time")).to_be_visible()
    expect(console.button("Sync an Expense")).to_be_enabled()
    console.shot("two-accounts-linked", readme="xero-page")

    # When the bank posts new transactions and the 3-hour schedule runs, the last sync moves on
    synced_at = page.locator("#last-sync time").get_attribute("datetime")
    hkd_synced_at = hkd.locator(".last-sync time").get_attribute("datetime")
    controls = page.locator("#controls")
    controls.get_by_label("Ledger account", exact=True).select_option(label="HKD Operating (HKD)")
    controls.get_by_label("How many", exact=True).fill("6")
    console.local_control("Post transactions")
    console.local_control("Run the 3-hour auto-sync now")
    expect(page.locator("#last-sync time")).not_to_have_attribute("datetime", synced_at)
    expect(hkd.locator(".last-sync time")).not_to_have_attribute("datetime", hkd_synced_at)
    console.shot("last-sync-moved")

    # When she presses Sync now, the sync is requested; pressed again at once, the page says when it can be
    console.button("Sync now").click()
    expect(console.flash).to_contain_text("Sync requested for 2 linked account(s)")
    console.button("Sync now").click()
    expect(console.flash.get_by_role("alert")).to_contain_text("Sync now was used moments ago")
    console.shot("sync-now-too-soon")

    # When Xero is down, the scheduled sync meets Xero's errors, and linking an account says Xero did not answer
    synced_at = page.locator("#last-sync time").get_attribute("datetime")
    console.local_control("Xero is down (503)")
    faults = page.locator("#active-faults")
    # (the fast lane's and Sync now's syncs may still be running, and meet it first)
    expect(faults).to_contain_text(re.compile(r"error 503: fired \d+"))
    console.local_control("Post transactions")
    console.local_control("Run the 3-hour auto-sync now")
    expect(faults).not_to_contain_text("fired 0")
    console.account("SGD Operating").get_by_role("button", name="Link to Xero").click()
    expect(console.flash.get_by_role("alert")).to_contain_text("Xero could not complete the request.")
    console.shot("xero-down")
    # Then once Xero is back, the sync Xero refused goes through by itself: the last sync moves on
    console.local_control("Clear faults")
    expect(faults).to_have_count(0)
    expect(page.locator("#last-sync time")).not_to_have_attribute("datetime", synced_at)
    console.shot("xero-back")


def test_employees_see_the_connection_and_hong_kong_businesses_have_no_sync_expenses(console: Console) -> None:
    page = console.page
    # Given the connected business, seen by Eric, an Employee: he sees the connection but cannot change it
    console.act_as(BUSINESS, "Employee")
    expect(page.locator("#connection-status")).to_have_text("Connected")
    expect(console.account("HKD Operating").locator(".feed-state")).to_have_text("Active")
    expect(page.locator("#read-only")).to_have_text(
        "You can see the connection; only Admin and Finance users can change it.")
    for hidden in ("Sync now", "Manage Connection", "Unlink", "Link to Xero"):
        expect(console.button(hidden)).to_have_count(0)
    # and Sync expenses is not his, in the product's words
    expect(console.button("Sync an Expense")).to_be_disabled()
    expect(page.locator("#expenses-unavailable")).to_contain_text("Only Admin and Finance users can use Sync expenses.")
    console.shot("employee")
    # Given a business incorporated in Hong Kong, Sync expenses is not available, as the help centre says
    console.act_as(HONG_KONG, "Finance")
    expect(console.button("Connect Now")).to_be_visible()
    expect(page.locator("#expenses-unavailable")).to_contain_text(
        "Xero Sync Expense feature is not available for Hong Kong-incorporated businesses.")
    console.shot("hong-kong-business")
    console.act_as(BUSINESS, "Finance")


def test_disconnected_in_xero_reconnected_then_disconnected_with_confirmation(console: Console) -> None:
    page = console.page
    hkd, usd = console.account("HKD Operating"), console.account("USD Operating")

    # When the USD account's bank account is deleted in Xero's chart of accounts, the hourly check notices it
    # and the page shows how to link the account again
    page.get_by_label("Bank account to delete in Xero").select_option(label="USD Operating (fed by USD Operating)")
    console.local_control("Delete in Xero")
    console.local_control("Run the hourly connection check")
    expect(usd.locator(".feed-state")).to_have_text("Rejected")
    expect(console.account_notice("USD Operating")).to_contain_text("deleted in Xero")
    expect(console.account_notice("USD Operating")).to_contain_text("Link the account again")
    expect(usd.get_by_role("button", name="Link again")).to_be_visible()
    console.shot("bank-account-deleted-in-xero")

    # When the app is disconnected in Xero, the page prompts to reconnect, and reconnecting restores it
    console.local_control("Disconnect the app in Xero")
    console.local_control("Run the hourly connection check")
    prompt = page.locator("#reconnect-prompt")
    expect(page.locator("#connection-status")).to_have_text("Needs reconnecting")
    expect(prompt).to_contain_text("Xero has disconnected this business.")
    console.shot("reconnect-prompt")
    console.connect_in_xero(ORGANISATION, start="Reconnect to Xero")
    expect(page.locator("#connection-status")).to_have_text("Connected")
    expect(prompt).to_have_count(0)
    expect(hkd.locator(".feed-state")).to_have_text("Active")

    # When she disconnects from the bank's side: Manage Connection, Disconnect Xero, YES, DISCONNECT
    console.button("Manage Connection").click()
    manage = page.get_by_role("dialog", name="Manage Connection")
    expect(manage).to_contain_text(ORGANISATION)
    console.shot("manage-connection")
    manage.get_by_role("button", name="Disconnect Xero").click()
    confirm = page.get_by_role("dialog", name="Disconnect Xero?")
    expect(confirm).to_be_visible()
    console.shot("confirm-disconnect")
    confirm.get_by_role("button", name="YES, DISCONNECT").click()
    # Then the business is disconnected; each account keeps what it had, to link again after connecting
    expect(confirm).to_be_hidden()
    expect(console.flash).to_contain_text("Your Xero account is now disconnected")
    expect(page.locator("#connection-status")).to_have_text("Disconnected")
    expect(hkd.locator(".feed-state")).to_have_text("Disconnected")
    expect(console.button("Connect Now")).to_be_visible()
    expect(console.button("Sync an Expense")).to_be_disabled()
    console.shot("disconnected")
