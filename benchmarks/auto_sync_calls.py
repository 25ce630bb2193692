"""Auto-sync: Xero calls per 3-hour window per organisation, against the lower bound.

Lower bound: one POST /Statements per organisation that has new lines in the window (Xero takes several
feeds' statements in one call). The worker also reads back the status of each statement it sent in the
previous window (Xero has no call that reads several statements by id), and, once, the status of a feed
connection that was PENDING. Those reads are what surfaces a statement Xero rejected after accepting it.

Setup: 6 organisations, each fed by one business with HKD, USD and CNY accounts; a 30-day backfill of
about 1,500 lines per account in the first window; then each window 0-12 new transactions per account
(some accounts idle). One more organisation is fed by two businesses (their statements travel in one request
stream under one of their grants, so that organisation's floor is one call too).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from support import connect_business, local_aws, median_of

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator

ORGANISATIONS = 6
CURRENCIES = ("HKD", "USD", "CNY")
BACKFILL_DAYS = 30
WINDOWS = 8


def main() -> None:
    import boto3

    from xerosync.auto_sync.messages import FeedRef, FeedSyncRequest
    from xerosync.auto_sync.worker import FeedSyncWorker
    from xerosync.ledger.client import LedgerClient
    from xerosync.settings import get_settings
    from xerosync.store.connections import ConnectionStore
    from xerosync.store.feeds import FeedRecord, FeedStatus, FeedStore
    from xerosync.xero.bank_feeds import FeedConnection
    from xerosync.xero.client import build_xero_client
    from xerosync.xero.governor import Limits
    from xerosync.xero.session import idempotency_key

    rng = random.Random(7)
    xero, ledger = XeroEmulator(), LedgerEmulator()
    xero.start()
    ledger.start()
    try:
        with local_aws(xero_url=xero.base_url, ledger_url=ledger.base_url) as aws:
            table = boto3.resource("dynamodb").Table(aws.refs["MainTable"])
            client = build_xero_client(get_settings(), limits=Limits(max_wait_seconds=600))
            feeds_store = FeedStore(table)
            worker = FeedSyncWorker(feeds=feeds_store, connections=ConnectionStore(table),
                                    ledger=LedgerClient(ledger.base_url), xero=client, clock=client.clock)
            now = datetime.now(UTC)
            plan: dict[str, list[tuple[str, str, str]]] = {}  # tenant -> (business, account)

            def add_business(tenant: str, business: str) -> None:
                generation = connect_business(client, xero, business, tenant)
                ledger.create_business("SG", business_id=business)
                session = client.session(business)
                for currency in CURRENCIES:
                    account = ledger.create_account(business, currency)
                    start = now - timedelta(days=BACKFILL_DAYS + 2)
                    for n in range(1500):
                        ledger.post_transaction(account.account_id, f"{rng.randint(100, 99_999) / 100:.2f}",
                                                "CREDIT" if n % 3 else "DEBIT",
                                                posted_at=int((start + timedelta(minutes=n * 30)).timestamp()))
                    [created] = session.create_feed_connections([FeedConnection(
                        account_token=account.account_id, account_number=account.account_number,
                        account_name=account.name[:30], account_type="BANK", currency=currency)],
                        key=idempotency_key(tenant, "feed-connection", account.account_id, 0))
                    feeds_store.save(FeedRecord(
                        business_id=business, account_id=account.account_id, currency=currency,
                        account_number=account.account_number, account_name=account.name, tenant_id=tenant,
                        generation=generation, feed_connection_id=created.id, status=FeedStatus.PENDING,
                        backfill_from=(now - timedelta(days=BACKFILL_DAYS)).date()))
                    plan.setdefault(tenant, []).append((business, account.account_id, generation))

            for n in range(ORGANISATIONS):
                add_business(xero.seed_organisation(f"Org {n}"), f"biz_{n}")
            shared = xero.seed_organisation("Group Holdings")
            add_business(shared, "biz_parent")
            add_business(shared, "biz_subsidiary")

            per_window: list[dict[str, Any]] = []
            for window in range(WINDOWS):
                if window:  # the ledger keeps posting between windows; some accounts stay idle
                    for accounts in plan.values():
                        for _, account_id, _ in accounts:
                            count = rng.choice((0, 0, 2, 5, 12))
                            if count:
                                ledger.post_generated(account_id, count)
                xero.clear_request_log()
                new_lines: Counter[str] = Counter()
                for tenant, accounts in plan.items():
                    request = FeedSyncRequest(tenant_id=tenant, reason="schedule", origin=f"bench{window}",
                                              feeds=[FeedRef(business_id=b, account_id=a, generation=g)
                                                     for b, a, g in accounts])
                    report = worker.sync(request, time_left=lambda: 100.0)
                    new_lines[tenant] = report.lines_accepted
                xero.settle_pending()  # Xero processes what it accepted before the next window
                calls: Counter[tuple[str, str]] = Counter()
                for entry in xero.request_log:
                    if entry.get("tenant") and "/bankfeeds.xro/" in entry["path"]:
                        kind = {"POST": "statements POST"}.get(entry["method"], "")
                        if not kind:
                            kind = "statement status GET" if "/Statements/" in entry["path"] else "feed connection GET"
                        calls[(entry["tenant"], kind)] += 1
                per_window.append({"calls": calls, "lines": new_lines, "tenants": list(plan)})
            _report(per_window, shared)
    finally:
        xero.stop()
        ledger.stop()


def _report(per_window: list[dict[str, Any]], shared: str) -> None:
    kinds = ("statements POST", "statement status GET", "feed connection GET")
    first = per_window[0]
    single = [t for t in first["tenants"] if t != shared]
    print(f"Window 1 (backfill of {BACKFILL_DAYS} days, 3 feeds, ~1,500 lines each) per organisation: " + ", ".join(
        f"{kind} {median_of([float(first['calls'][(t, kind)]) for t in single]):.0f}" for kind in kinds)
          + f"; lines {median_of([float(first['lines'][t]) for t in single]):.0f}")
    totals, bounds, posts = [], [], []
    for window in per_window[1:]:
        for tenant in single:
            total = sum(window["calls"][(tenant, kind)] for kind in kinds)
            totals.append(float(total))
            bounds.append(1.0 if window["lines"][tenant] else 0.0)
            posts.append(float(window["calls"][(tenant, "statements POST")]))
    print(f"Windows 2-{len(per_window)}, per organisation and window (median over {len(totals)}): Xero calls "
          f"{median_of(totals):.0f} (mean {statistics.mean(totals):.2f}), of which statements POST "
          f"{median_of(posts):.0f} (mean {statistics.mean(posts):.2f}); lower bound {median_of(bounds):.0f} "
          f"(mean {statistics.mean(bounds):.2f}); statements POSTs above the bound: "
          f"{sum(1 for p, b in zip(posts, bounds, strict=True) if p > b)}")
    shared_posts = [float(w["calls"][(shared, "statements POST")]) for w in per_window[1:]]
    shared_total = [float(sum(w["calls"][(shared, k)] for k in kinds)) for w in per_window[1:]]
    print(f"Organisation fed by two businesses: Xero calls per window median {median_of(shared_total):.0f}, "
          f"statements POST median {median_of(shared_posts):.0f} (both businesses' statements in one request)")


if __name__ == "__main__":
    main()
