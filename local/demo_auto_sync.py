"""`make demo`, auto-sync chapter: the 3-hour schedule sends the bank's transactions to Xero's bank feeds,
the last sync time shows, and Sync now does the same at once (and not twice in a row).

Needs from the connect chapter (``story.state``): ``business_id``, ``finance_token``, ``tenant_id`` and
``linked_accounts`` (currency -> ledger account id, linked and active).
"""

from __future__ import annotations

from typing import Any

from local.demo import Story


def _lines_in_xero(story: Story, account_id: str) -> list[dict[str, Any]]:
    xero, tenant = story.stack.xero, story.state["tenant_id"]
    feed = next(f for f in xero.feed_connections(tenant) if f["accountToken"] == account_id and f["state"] == "ACTIVE")
    return xero.statement_lines(tenant, feed["id"])


def chapter_auto_sync(story: Story) -> None:
    story.say("4. Auto-sync: every 3 hours, inbound and outbound transactions reach Xero's bank feeds")
    token, linked = story.state["finance_token"], story.state["linked_accounts"]
    ledger, xero = story.stack.ledger, story.stack.xero
    posted = {currency: ledger.post_generated(account_id, 12 if currency == "HKD" else 5)
              for currency, account_id in linked.items()}
    for currency, transactions in posted.items():
        money_in = sum(1 for t in transactions if t.direction == "CREDIT")
        story.say(f"   The bank posts {len(transactions)} {currency} transactions ({money_in} in, "
                  f"{len(transactions) - money_in} out)")

    result = story.stack.fire("EveryThreeHours")
    story.say(f"   The schedule fires (window {result['window']}): {result['feeds']} feeds of {result['tenants']} "
              f"organisation(s) queued, grouped by Xero organisation")
    story.stack.drain()
    xero.settle_pending()  # Xero processes the statements it accepted
    for currency, account_id in linked.items():
        lines = _lines_in_xero(story, account_id)
        expected = {t.transaction_id for t in posted[currency]}
        story.expect(expected <= {line["transactionId"] for line in lines}, f"the {currency} transactions reach Xero")
        story.expect(len(lines) == len({line["transactionId"] for line in lines}), "each line once")
        last = lines[-1]
        story.say(f"   Xero's {currency} feed now has {len(lines)} statement lines; the latest: {last['postedDate']} "
                  f"{last['creditDebitIndicator'].lower()} {last['amount']} {last.get('payeeName') or ''}".rstrip())

    status = story.call("GET", "/v1/xero/connection", token)
    story.expect(bool(status["connection"]["last_sync_at"]), "the connection shows its last sync")
    story.say(f"   GET /v1/xero/connection: last sync {status['connection']['last_sync_at']}")
    for account in status["accounts"]:
        if account["link"]:
            story.say(f"     {account['currency']} account: last sync {account['link']['last_sync_at']}, "
                      f"error: {account['link']['last_sync_error'] or 'none'}")

    fresh = ledger.post_generated(linked["HKD"], 2)
    queued = story.call("POST", "/v1/xero/sync", token, expect=202)
    story.say(f"   Fiona presses Sync now after 2 more HKD transactions: {queued['status']} for "
              f"{len(queued['account_ids'])} accounts")
    story.stack.drain()
    xero.settle_pending()
    story.expect({t.transaction_id for t in fresh} <= {line["transactionId"] for line in _lines_in_xero(
        story, linked["HKD"])}, "sync now sends the new transactions")
    again = story.stack.api("POST", "/v1/xero/sync", token=token)
    story.expect(again.status_code == 429, "sync now twice in a row is refused")
    story.say(f"   ...and presses it again: {again.status_code} {again.json()['error']['message']} "
              f"(Retry-After {again.headers['Retry-After']} s)")
    story.facts.append("transactions auto-synced to Xero once each, last sync shown, sync now rate-limited")
