"""`make demo`, receipts chapter: an expense's receipts go to its Spend Money in Xero after the sync, one Xero
call per file; one that Xero would not take is shown per file on the Synced tab's Sync error.

Needs from the connect and sync-expenses chapters (``story.state``): ``finance_token``, ``linked_accounts``
and ``tenant_id`` (the travel category mapped).
"""

from __future__ import annotations

import time

from emulators.ledger import Counterparty, generated_spec
from local.demo import Story


def chapter_receipts(story: Story) -> None:
    story.say("6. Receipts: attached in the bank's app, synced to the Spend Money in Xero")
    token, hkd = story.state["finance_token"], story.state["linked_accounts"]["HKD"]
    ledger, xero = story.stack.ledger, story.stack.xero
    receipts = (generated_spec("pdf", 240_000, seed=501, file_name="Hotel folio.pdf"),
                generated_spec("jpeg", 1_200_000, seed=502, file_name="C:\\Users\\fiona\\Photos\\dinner.JPG"),
                generated_spec("png", 80_000, seed=503, file_name="taxi.png"),
                generated_spec("pdf", 3_100_000, seed=504, file_name="conference pass.pdf"))
    paid = ledger.post_transaction(hkd, "4120.00", "DEBIT", spend_category="travel",
                                   counterparty=Counterparty("Marina Bay Hotel", ""), reference="BK-2041",
                                   description="Client visit", attachments=receipts).transaction_id
    story.stack.drain()
    story.say("   A hotel payment with 4 receipts: " + ", ".join(
        f"{r.file_name.rsplit(chr(92), 1)[-1]} ({r.source.size_bytes / 1_000_000:.2f} MB)"
        for r in receipts))
    job = story.call("POST", "/v1/expenses/sync-jobs", token, {"transaction_ids": [paid]}, expect=202)
    deadline = time.monotonic() + 60
    while True:
        status = story.call("GET", f"/v1/expenses/{paid}/attachments", token)
        if (status["waiting"] == 0 and status["expense_status"] == "SYNCED") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    story.expect(status["synced"] == 3 and status["failed"] == 1, "three receipts in Xero, one refused")
    story.say(f"   Synced ({job['job_id']}); GET /v1/expenses/{paid}/attachments: {status['summary']}")
    for file in status["files"]:
        shown = f"as '{file['xero_file_name']}'" if file["state"] == "SYNCED" else f"- {file['reason']}"
        story.say(f"     {file['state']:<7} {file['file_name']} {shown}")
    expense = story.call("GET", f"/v1/expenses/{paid}", token)
    [problem] = expense["attachment_errors"]
    story.say(f"   Synced tab: {expense['status']}, Sync error: {problem['file_name']}: {problem['message']}")
    story.say(f"     way out: {problem['action']}")
    in_xero = xero.attachments(story.state["tenant_id"], expense["spend_money"]["bank_transaction_id"])
    story.expect(len(in_xero) == 3, "Xero holds the three receipts")
    story.say("   Xero's Spend Money now has: " + ", ".join(
        f"{a['FileName']} ({a['ContentLength']:,} bytes)" for a in in_xero))
    story.facts.append("receipts uploaded to the Spend Money (one refused file shown with its reason)")
