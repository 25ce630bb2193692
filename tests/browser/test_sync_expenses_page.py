"""Sync expenses in a real browser: the help centre's "Guide to Syncing Expenses from the bank to Xero" walked
through the console. The business is connected and its HKD account linked with three weeks of history through
the HTTP API (the Xero page's own tests walk that in the page); everything after is done in the page.

The module's tests are chapters of one story on one stack and one page, in order.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, expect

from emulators.ledger import Counterparty
from local.console.seed import BUSINESS, ORGANISATION, PAYMENTS, SUGGESTED_MAPPING, ConsoleSeed
from local.stack import DevStack
from tests.browser.console import Console
from tests.support.frontend import Frontend, connect_and_link

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def linked(stack: DevStack, seeded: ConsoleSeed) -> None:
    fiona = Frontend(stack, stack.token(business_id=seeded.business_id, user_id="u_fiona", role="Finance"))
    connect_and_link(stack, fiona, seeded.organisations[ORGANISATION], seeded.accounts["HKD"],
                     backfill_from=seeded.history_from)
    stack.drain(timeout=120)  # auto-sync has read the history: every payment out is a pending expense


def rows(console: Console) -> Locator:
    return console.page.locator("#expenses tbody tr")


def category_label(category: str) -> str:
    return category.replace("_", " ").capitalize()


@pytest.mark.long
def test_map_categories_then_sync_every_pending_expense_with_the_progress_bar(console: Console) -> None:
    page = console.page
    # Given Fiona on the Xero page of her linked business, she opens Sync expenses
    console.open(BUSINESS, "Finance")
    console.button("Sync an Expense").click()
    # Then she is asked first to map the bank's categories to Xero accounts: those that accept payments only
    mapping = page.get_by_role("form", name="Map your Xero accounts")
    travel = mapping.get_by_label("Xero account for Travel", exact=True)
    expect(travel.locator("option", has_text="493 Travel - National")).to_have_count(1)
    expect(travel.locator("option", has_text="Printing & Stationery")).to_have_count(0)  # payments not enabled
    console.shot("mapping")
    for category, code in SUGGESTED_MAPPING.items():
        select = mapping.get_by_label(f"Xero account for {category_label(category)}", exact=True)
        select.select_option(label=select.locator("option", has_text=re.compile(f"^{code} ")).inner_text())
    mapping.get_by_role("button", name="Save mapping").click()
    expect(console.flash).to_contain_text("Mapping saved")

    # And the Pending Sync tab lists every payment out, a page at a time, with the mapped Xero accounts
    expect(page.get_by_role("tab", name="Pending Sync")).to_have_attribute("aria-selected", "true")
    expect(rows(console)).to_have_count(50)
    expect(rows(console).filter(has_text="Marina Bay Hotel").first).to_contain_text("493 Travel - National")
    console.button("Next").click()
    expect(page.locator("#page-number")).to_have_text("Page 2")
    expect(rows(console)).to_have_count(50)
    console.button("Previous").click()
    expect(page.locator("#page-number")).to_have_text("Page 1")

    # When she selects every pending expense and clicks Sync Expenses
    console.button("Select all matching (up to 1000)").click()
    expect(page.locator("#selected-count")).to_have_text(f"{PAYMENTS} selected")
    console.button("Sync Expenses").click()
    # Then the progress bar follows the job to 100%, and the two payments without a category fail with a reason
    progress = page.locator("#sync-progress-bar")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("value", "100", timeout=180_000)  # 300 expenses: 6 batches to Xero
    expect(page.locator("#sync-summary")).to_have_text(
        f"Done: {PAYMENTS - 2} of {PAYMENTS} synced, 2 failed (each failed expense shows why).")
    expect(rows(console)).to_have_count(2)
    expect(rows(console).filter(has_text="Sync error")).to_have_count(2)
    console.shot("synced-two-errors", readme="sync-expenses")


def test_a_sync_error_explained_fixed_in_the_edit_form_and_synced_again(console: Console) -> None:
    page = console.page
    # Given the two Sync errors on the Pending Sync tab, Fiona opens one: the details pane says what went wrong
    page.get_by_label("Sync errors only").check()
    console.list_ready()
    expect(rows(console)).to_have_count(2)
    rows(console).first.get_by_role("button").click()
    pane = page.get_by_role("complementary", name="Expense details")
    error = pane.locator("#sync-error")
    expect(error).to_contain_text("This expense has no category and no Xero account.")
    expect(error).to_contain_text("Choose a Xero account for this expense.")
    console.shot("sync-error-details")
    # When she chooses the Xero account, a tax rate and a tracking option, and saves
    form = pane.get_by_role("form", name="Edit expense")
    form.get_by_label("Xero account").select_option(label="429 General Expenses")
    form.get_by_label("Tax rate").select_option(label="Tax Exempt (0%)")
    form.get_by_label("Tracking: Region").select_option(label="North")
    form.get_by_role("button", name="Save changes").click()
    # Then the expense is pending again with her choices, and the error is gone
    expect(pane.locator("#expense-status")).to_have_text("pending")
    expect(error).to_have_count(0)
    expect(form.get_by_label("Xero account")).to_have_value(re.compile(".+"))
    expect(form.get_by_label("Tracking: Region").locator("option:checked")).to_have_text("North")
    # When she syncs it from the pane, it goes through and leaves the Pending Sync tab
    pane.get_by_role("button", name="Sync expense").click()
    expect(page.locator("#sync-summary")).to_have_text("Done: 1 of 1 synced.")
    expect(pane.locator("#expense-status")).to_have_text("synced")
    expect(rows(console)).to_have_count(1)
    console.shot("fixed-and-synced")


def test_the_synced_tab_shows_a_receipt_xero_refused_and_an_expense_updated_in_the_bank(
        console: Console, stack: DevStack, seeded: ConsoleSeed) -> None:
    page = console.page
    # Given the receipts have gone to Xero after the sync (one of them is 3.1 MB, over Xero's limit)
    stack.drain(timeout=120)
    # When Fiona looks at the Synced tab's Sync errors
    page.get_by_role("tab", name="Synced").click()
    expect(page.get_by_role("tab", name="Synced")).to_have_attribute("aria-selected", "true")
    console.list_ready()
    expect(rows(console)).to_have_count(1)  # the "Sync errors only" filter stays on
    refused = rows(console).first
    expect(refused).to_contain_text("Sync error")
    expect(refused.get_by_role("link", name="View in Xero")).to_be_visible()
    refused.get_by_role("button").click()
    # Then the pane shows which file did not reach Xero, why, and what to do
    pane = page.get_by_role("complementary", name="Expense details")
    expect(pane.locator("#receipt-errors")).to_contain_text(
        "The file is 3.1 MB; Xero accepts attachments under 3.0 MB.")
    expect(pane.locator(".files li").filter(has_text="Error")).to_have_count(1)
    expect(pane.locator("#receipts-summary")).to_contain_text("0 of 1 receipt(s) in Xero")
    console.shot("receipt-refused")

    # When a synced expense's category changes in the bank, the pane and the Synced tab show it as Updated
    page.get_by_label("Sync errors only").uncheck()
    console.list_ready()
    rows(console).filter(has_text="Marina Bay Hotel").first.get_by_role("button").click()
    expect(pane).to_contain_text("Marina Bay Hotel")
    expect(pane.locator("#expense-status")).to_have_text("synced")
    pane.get_by_label("Bank category").select_option(label="Software")
    console.local_control("Change category")
    expect(pane.get_by_text("Updated", exact=True)).to_be_visible()
    expect(pane).to_contain_text("software")
    page.get_by_label("Updated only").check()
    console.list_ready()
    updated = rows(console)
    expect(updated).to_have_count(1)
    expect(updated).to_contain_text("Marina Bay Hotel")
    expect(updated).to_contain_text("Updated")
    expect(updated).to_contain_text("429 General Expenses")  # software's mapping: its payee's travel history aside
    console.shot("updated")
    # And selecting it and syncing again updates it in Xero: it is no longer Updated
    updated.get_by_role("checkbox").check()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    console.button("Sync Expenses").click()
    expect(page.locator("#sync-summary")).to_have_text("Done: 1 of 1 synced.")
    expect(rows(console)).to_have_count(0)
    expect(page.locator("#expenses-panel")).to_contain_text("No expenses match these filters.")


def test_a_known_payees_new_payment_fills_itself_in_and_is_kept_as_a_rule(
        console: Console, stack: DevStack, seeded: ConsoleSeed) -> None:
    page = console.page
    # Given a new payment to a payee the business has synced before, under the card scheme's spelling
    stack.ledger.post_transaction(seeded.accounts["HKD"], "88.00", "DEBIT", spend_category="travel",
                                  counterparty=Counterparty("GRAB* Grab"), reference="INV-9001",
                                  description="Room for a visitor")
    stack.drain(timeout=120)
    page.get_by_label("Updated only").uncheck()
    console.list_ready()
    page.get_by_role("tab", name="Pending Sync").click()
    expect(page.get_by_role("tab", name="Pending Sync")).to_have_attribute("aria-selected", "true")
    console.list_ready()
    # Then it shows the Xero account its payee's expenses were synced with, and says so
    row = rows(console).filter(has_text="GRAB* Grab")
    expect(row).to_contain_text("493 Travel - National")
    expect(row.locator(".source.history").first).to_contain_text(
        re.compile(r"from your last \d+ expenses at Grab"))
    row.get_by_role("button").first.click()
    pane = page.get_by_role("complementary", name="Expense details")
    sources = pane.locator("#value-sources")
    expect(sources).to_contain_text(re.compile(r"Xero account: from your last \d+ expenses at Grab"))
    console.shot("suggested")
    # When Fiona keeps it as the payee's rule, then accepts the suggestions on this expense
    pane.get_by_role("button", name="Save as rule for GRAB* Grab").click()
    expect(console.flash).to_contain_text("Saved as the rule for GRAB* Grab")
    expect(sources).to_contain_text("Xero account: from your rule for Grab")
    pane.get_by_role("button", name="Accept suggestions").click()
    expect(console.flash).to_contain_text("Suggestions accepted")
    expect(sources).to_contain_text("Xero account: chosen for this expense")
    expect(pane.get_by_role("button", name="Accept suggestions")).to_have_count(0)
