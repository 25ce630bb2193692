"""`make demo`, sync-expenses chapter: the help centre's "Guide to Syncing Expenses to Xero" end to end:
not for Hong Kong businesses, Xero's accounts offered, categories mapped, the Pending Sync tab reviewed and
edited, a bulk sync with its progress, the Synced tab with links, and an Updated expense synced again.

Needs from the connect chapter (``story.state``): ``business_id`` (incorporated in Singapore) with
``finance_token``, ``linked_accounts`` (currency -> ledger account id, linked), and ``hk_business_id`` with
``hk_finance_token``.
"""

from __future__ import annotations

import time
from typing import Any

from emulators.ledger import Counterparty, generated_spec
from local.demo import Story

PAYEES = {
    "travel": ("Cathay Pacific", "Grab", "Harbour Taxi", "Marina Bay Hotel"),
    "software": ("GitHub", "Atlassian", "Notion Labs", "Zoom Video"),
    "office_supplies": ("Popular Bookstore", "IKEA Alexandra", "Pacific Office Supplies"),
    "advertising": ("Google Asia Pacific", "Meta Platforms"),
    "entertainment": ("Jumbo Seafood", "Lau Pa Sat"),
}
MAPPING = {"travel": "493", "software": "429", "office_supplies": "429", "advertising": "400",
           "entertainment": "420", "bank_fees": "404"}
PAYMENTS = 240  # enough for five batches of 50, so that the progress can be watched


def _post_payments(story: Story, account_id: str, count: int, currency: str) -> list[str]:
    categories = list(PAYEES)
    ids = []
    for n in range(count):
        category = categories[n % len(categories)]
        payee = PAYEES[category][n % len(PAYEES[category])]
        receipts = [generated_spec("pdf", 20_000 + n, seed=n)] if n % 40 == 0 else []
        ids.append(story.stack.ledger.post_transaction(
            account_id, f"{18 + (n * 37) % 900}.{n % 100:02d}", "DEBIT", spend_category=category,
            counterparty=Counterparty(payee, ""), reference=f"INV-{2300 + n}", description=f"{payee} {category}",
            attachments=receipts).transaction_id)
    return ids


def _expense_line(expense: dict[str, Any]) -> str:
    account = expense["xero_account"]
    tax = expense["tax_rate"]
    shown_account = f"{account['code']} {account['name']} (from {account['source']})" if account else "no account"
    shown_tax = f"{tax['name']}" if tax else "no tax rate"
    problem = f" - {expense['problems'][0]['message']}" if expense["problems"] else ""
    return (f"{expense['date']} {expense['currency']} {expense['amount']:>8} {expense['payee'][:22]:<22} "
            f"-> {shown_account}, {shown_tax}, {expense['attachment_count']} receipt(s){problem}")


def chapter_sync_expenses(story: Story) -> None:
    story.say("5. Sync expenses: outbound payments as Spend Money, mapped, reviewed and synced in bulk")
    token, linked = story.state["finance_token"], story.state["linked_accounts"]
    ledger = story.stack.ledger

    refused = story.stack.api("GET", "/v1/expenses", token=story.state["hk_finance_token"])
    story.expect(refused.status_code == 403, "a Hong Kong business is refused")
    story.say(f"   Henry (Kowloon Imports, Hong Kong) opens Sync expenses: {refused.status_code} "
              f"{refused.json()['error']['message']}")

    # The day's payments arrive from the ledger as events: every outbound payment is a pending expense.
    paid = _post_payments(story, linked["HKD"], PAYMENTS, "HKD")
    unmapped = ledger.post_transaction(linked["HKD"], "88.00", "DEBIT", spend_category=None,
                                       counterparty=Counterparty("Kopi Corner", ""), reference="",
                                       description="Team coffee").transaction_id
    ledger.post_transaction(linked["HKD"], "5000.00", "CREDIT", counterparty=Counterparty("A customer", "1"))
    story.stack.drain()
    story.say(f"   The bank posts {PAYMENTS + 1} payments out of the HKD account and one payment in; "
              "the ledger's events make each payment out a pending expense")

    data = story.call("GET", "/v1/expenses/reference-data", token)
    story.say("   Xero accounts offered (payments enabled): "
              + ", ".join(f"{a['code']} {a['name']}" for a in data["accounts"]))
    story.say(f"   Tax rates for expenses: {', '.join(t['name'] for t in data['tax_rates'])}; tracking: "
              + "; ".join(f"{c['name']} ({', '.join(o['name'] for o in c['options'])})"
                          for c in data["tracking_categories"]))
    by_code = {a["code"]: a["account_id"] for a in data["accounts"]}
    mapped = story.call("PUT", "/v1/expenses/mappings", token, {"mappings": [
        {"category": category, "xero_account_id": by_code[code]} for category, code in MAPPING.items()]})
    story.say("   Fiona maps the bank's categories: " + ", ".join(
        f"{m['label']} -> {m['xero_account']['code']}" for m in mapped["mappings"] if m["xero_account"]))
    wrong = story.stack.api("PUT", "/v1/expenses/mappings", token=token, json_body={"mappings": [
        {"category": "rent", "xero_account_id": next(a["AccountID"] for a in story.stack.xero.accounts(
            story.state["tenant_id"]) if a.get("Code") == "461")}]})
    story.expect(wrong.status_code == 400, "an account without payments is refused")
    story.say(f"   Mapping rent to 461 Printing: {wrong.status_code} {wrong.json()['error']['message']} "
              f"{wrong.json()['error']['action']}")

    page = story.call("GET", "/v1/expenses?tab=pending&limit=4", token)
    story.say("   Pending Sync (newest first):")
    for expense in page["items"]:
        story.say("     " + _expense_line(expense))
    coffee = story.call("GET", f"/v1/expenses/{unmapped}", token)
    story.expect(not coffee["ready_to_sync"], "the uncategorised payment needs an account")
    region = next(c for c in data["tracking_categories"] if c["name"] == "Region")
    edited = story.call("PATCH", f"/v1/expenses/{unmapped}", token, {
        "xero_account_id": by_code["420"], "tax_type": "NONE", "description": "Team coffee with client",
        "tracking": [{"tracking_category_id": region["tracking_category_id"],
                      "tracking_option_id": region["options"][0]["tracking_option_id"]}]})
    story.say(f"   Fiona edits the uncategorised one: {_expense_line(edited)}; tracking "
              f"{edited['tracking'][0]['category_name']}: {edited['tracking'][0]['option_name']}")

    listed = _all(story, token, "pending")
    pending = [e["transaction_id"] for e in listed]
    not_ready = {e["transaction_id"] for e in listed if not e["ready_to_sync"]}
    job = story.call("POST", "/v1/expenses/sync-jobs", token, {"transaction_ids": pending}, expect=202)
    story.say(f"   Fiona selects all {len(pending)} and clicks Sync Expenses: job {job['job_id']}")
    last = ""
    deadline = time.monotonic() + 120
    while True:
        progress = story.call("GET", f"/v1/expenses/sync-jobs/{job['job_id']}", token)
        if progress["summary"] != last:
            story.say(f"     {progress['percent_done']:>3}%  {progress['summary']}")
            last = progress["summary"]
        if progress["status"] == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    story.expect(progress["status"] == "COMPLETED" and progress["synced"] == len(pending) - len(not_ready)
                 and set(progress["failed_transaction_ids"]) == not_ready,
                 "every ready expense synced, the others failed before spending a Xero call")
    if not_ready:
        errors = story.call("GET", "/v1/expenses?tab=pending&has_error=true&limit=1", token)["items"]
        story.say(f"   Sync errors shown for {len(not_ready)} (fix and sync again), e.g. "
                  f"{errors[0]['payee'] or errors[0]['description']}: {errors[0]['error']['message']}")
    synced = story.call("GET", f"/v1/expenses/{unmapped}", token)
    story.say(f"   Synced tab: {synced['payee']} {synced['amount']} is Spend Money "
              f"{synced['spend_money']['bank_transaction_id']}, link {synced['spend_money']['url']}")
    in_xero = [t for t in story.stack.xero.bank_transactions(story.state["tenant_id"])
               if t["Type"] == "SPEND" and t.get("Status") != "DELETED"]
    story.say(f"   Xero now holds {len(in_xero)} Spend Money transactions, one per expense")

    changed = paid[0]  # a travel payment, mapped to 493
    ledger.set_spend_category(linked["HKD"], changed, "software")
    story.stack.drain()
    updated = story.call("GET", f"/v1/expenses/{changed}", token)
    story.expect(updated["updated"] and updated["status"] == "SYNCED", "the change shows as Updated")
    story.say(f"   The bank recategorises {updated['payee']} {updated['amount']} as software: Synced tab shows "
              f"'Updated', account now {updated['xero_account']['code']}")
    again = story.call("POST", "/v1/expenses/sync-jobs", token, {"transaction_ids": [changed]}, expect=202)
    story.stack.drain()
    done = story.call("GET", f"/v1/expenses/sync-jobs/{again['job_id']}", token)
    spend = [t for t in story.stack.xero.bank_transactions(story.state["tenant_id"])
             if t.get("Url", "").endswith(f"/{changed}")]
    story.expect(done["synced"] == 1 and len(spend) == 1, "the Spend Money is updated, not duplicated")
    story.say(f"   Synced again: {done['summary']} Xero still has one Spend Money for it, now on account "
              f"{spend[0]['LineItems'][0]['AccountCode']}")
    story.facts.append(f"{progress['synced']} expenses synced as Spend Money in batches of 50 ({len(not_ready)} shown "
                       "as Sync errors), an Updated one updated")


def _all(story: Story, token: str, tab: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = story.call("GET", f"/v1/expenses?tab={tab}&limit=200" + (f"&cursor={cursor}" if cursor else ""),
                          token)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items
