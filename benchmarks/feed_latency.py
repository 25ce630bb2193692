"""Bank feeds: how long a posting takes to be DELIVERED in Xero, and what it costs, with the fast lane and without.

A day of postings at business hours (Hong Kong's day: busy 09:00-18:00, quiet at night) for the soak's world
shape (``local.soak.world.plan``: businesses on shared organisations, several accounts each), played on one
virtual clock shared by the product, the Xero emulator and the ledger emulator, minute by minute:

- each posting goes into the ledger at its minute and asks the fast lane (the product's ``FastLane`` as
  ``FeedEventsFunction`` wires it, on moto's DynamoDB) for a sync;
- the every-minute parked-work schedule (``xerosync.auto_sync.parked_resumer.ParkedWorkResumer``) sends deferred
  syncs when due;
- the 3-hour schedule fans every feed out (``dispatch_due_feeds``);
- ``FeedSyncQueue`` (moto, FIFO) is drained by the product's worker against the Xero emulator, whose rate
  limits, idempotency and duplicate rules apply; a line counts as DELIVERED the minute Xero lists it on its feed.

The same day is played twice, the lane at its default window and the lane off (``--window 0``: the 3-hour run
alone). Printed: posting-to-DELIVERED latency (median, p95, max), statement POSTs and Xero calls per
organisation per day, lines lost or doubled; and the app-wide calls in the busiest minute projected to 10,000
and 100,000 organisations against Xero's 10,000 a minute. Not modelled: EventBridge/SQS delivery delays (a
few seconds) and the worker's own run time (virtual time stands still while it runs).

    .venv/bin/python benchmarks/feed_latency.py            # 50 businesses on 20 organisations
    .venv/bin/python benchmarks/feed_latency.py --quick    # 10 businesses on 4 organisations
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import random
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from support import connect_business, local_aws

from emulators.ledger import LedgerEmulator
from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from local.lambda_runtime import acting_as
from local.soak.world import WorldSize, plan
from xerosync.auto_sync.fast_lane import lane_window

MINUTE = 60.0
DAY = 86_400.0
SWEEP_SECONDS = 3 * 3600
APP_LIMIT = 10_000  # Xero's calls a minute per app, across all organisations [FAQ-Limits]
WORKER_INSTANCES = 15  # AutoSyncWorkerFunction's reserved concurrency (template.yaml)
CALLS_PER_INSTANCE_MINUTE = 200  # one instance's calls one after another, ~0.3 s each (template.yaml, Globals)
# Postings per hour of the bank's day (Hong Kong, UTC+8), relative: quiet nights, a morning and an afternoon peak.
HOURLY_WEIGHT = [0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.2, 0.4, 0.9, 1.6, 1.8, 1.7, 1.1, 1.3, 1.6, 1.7, 1.5, 1.2,
                 0.8, 0.5, 0.4, 0.3, 0.2, 0.15]
UTC_OFFSET_HOURS = 8


@dataclass
class Run:
    window_minutes: int
    latencies: list[float] = field(default_factory=list)  # seconds, posting to DELIVERED
    posts: Counter[str] = field(default_factory=Counter)  # statement POSTs per tenant
    # The same per tenant and UTC day: the played day (the bank's midnight, 16:00 UTC, and 27 hours on) spans two
    # of them. The product's cap (fast_lane.POSTS_PER_DAY) holds for the bank's day and for any 24 hours.
    posts_by_utc_day: Counter[tuple[str, int]] = field(default_factory=Counter)
    post_times: dict[str, list[float]] = field(default_factory=dict)  # per tenant, each statement POST's time
    calls: Counter[str] = field(default_factory=Counter)  # Xero calls per tenant
    calls_by_minute: Counter[int] = field(default_factory=Counter)  # app-wide, minute of the day
    sweep_calls: int = 0
    sweeps: int = 0
    sweep_minutes: set[int] = field(default_factory=set)
    businesses_of: dict[str, int] = field(default_factory=dict)  # tenant -> businesses feeding it
    lost: int = 0
    doubled: int = 0
    postings: int = 0
    real_seconds: float = 0.0


def postings_for_day(rng: random.Random, accounts: list[tuple[str, str, str]], day_start: float
                     ) -> list[tuple[float, str, str]]:
    """(at, tenant, account) for a day: each account's own rate (a few to ~60 postings), at business hours."""
    out: list[tuple[float, str, str]] = []
    hours = list(range(24))
    for tenant, _business, account in accounts:
        count = max(1, int(rng.lognormvariate(2.4, 0.8)))  # median ~11, some accounts very busy
        for _ in range(count):
            local_hour = rng.choices(hours, HOURLY_WEIGHT)[0]
            at = day_start + local_hour * 3600 + rng.uniform(0, 3600)  # day_start is the bank's midnight
            out.append((at, tenant, account))
    out.sort()
    return out


def play(world_size: WorldSize, window_minutes: int, seed: int) -> Run:
    import boto3

    from xerosync.auto_sync import wiring
    from xerosync.auto_sync.adapters import SqsMessageSender
    from xerosync.auto_sync.dispatch import dispatch_due_feeds
    from xerosync.auto_sync.fast_lane import PostingEvent
    from xerosync.auto_sync.messages import FeedSyncRequest, schedule_window
    from xerosync.auto_sync.parked_resumer import ParkedWorkResumer
    from xerosync.auto_sync.settling import sync_and_settle
    from xerosync.auto_sync.worker import FeedSyncWorker
    from xerosync.clock import use_process_clock
    from xerosync.ledger.client import LedgerClient
    from xerosync.lifecycle import new_cold_start
    from xerosync.observability import metrics
    from xerosync.settings import get_settings
    from xerosync.store.connections import ConnectionStore
    from xerosync.store.feeds import FeedRecord, FeedStatus, FeedStore
    from xerosync.store.parked import ParkedWorkStore
    from xerosync.xero.bank_feeds import FeedConnection
    from xerosync.xero.client import build_xero_client
    from xerosync.xero.governor import Limits
    from xerosync.xero.session import idempotency_key

    run = Run(window_minutes)
    world = plan(seed, world_size)
    rng = random.Random(seed)
    # The day before yesterday (UTC), so every date is in the past for the ledger, and Xero's "today" follows the
    # virtual clock. The day starts at the bank's midnight (16:00 UTC).
    real_day = math.floor(time.time() / DAY) * DAY
    day_start = real_day - 2 * DAY - UTC_OFFSET_HOURS * 3600
    clock = ManualClock(day_start - 2 * 3600)
    use_process_clock(clock)
    xero, ledger = XeroEmulator(clock=clock), LedgerEmulator(clock=clock)
    xero.start()
    ledger.start()
    started = time.perf_counter()
    try:
        with local_aws(xero_url=xero.base_url, ledger_url=ledger.base_url) as aws:
            os.environ["FEED_FAST_LANE_MINUTES"] = str(window_minutes)
            new_cold_start()
            table = boto3.resource("dynamodb").Table(aws.refs["MainTable"])
            sqs = boto3.client("sqs")
            queue_url = aws.queue_url("FeedSyncQueue")
            client = build_xero_client(get_settings(), clock=clock, limits=Limits(max_wait_seconds=600))
            feeds = FeedStore(table)
            connections = ConnectionStore(table)
            worker = FeedSyncWorker(feeds=feeds, connections=connections, ledger=LedgerClient(ledger.base_url),
                                    xero=client, clock=clock)
            lane = wiring.get_fast_lane()
            parked = ParkedWorkResumer(ParkedWorkStore(table), SqsMessageSender(sqs))

            accounts: list[tuple[str, str, str]] = []  # (tenant, business, account)
            feed_of: dict[str, tuple[str, str]] = {}  # account -> (tenant, feed connection)
            for organisation in world.organisations:
                xero.seed_organisation(organisation.name, tenant_id=organisation.tenant_id)
            for business in world.businesses:
                generation = connect_business(client, xero, business.business_id, business.tenant_id)
                ledger.create_business(business.country, business_id=business.business_id)
                session = client.session(business.business_id)
                for planned in business.accounts:
                    currency = planned.currency if planned.currency in ("HKD", "USD", "CNY") else "USD"
                    account = ledger.create_account(business.business_id, currency)
                    ledger.post_transaction(account.account_id, "50000.00", "CREDIT",
                                            posted_at=int(day_start - 3 * 3600))
                    [created] = session.create_feed_connections([FeedConnection(
                        account_token=account.account_id, account_number=account.account_number,
                        account_name=account.name[:30], account_type="BANK", currency=currency)],
                        key=idempotency_key(business.tenant_id, "feed-connection", account.account_id, 0))
                    feeds.save(FeedRecord(
                        business_id=business.business_id, account_id=account.account_id, currency=currency,
                        account_number=account.account_number, account_name=account.name,
                        tenant_id=business.tenant_id, generation=generation, feed_connection_id=created.id,
                        status=FeedStatus.PENDING,
                        backfill_from=datetime.fromtimestamp(day_start - DAY, tz=UTC).date()))
                    accounts.append((business.tenant_id, business.business_id, account.account_id))
                    feed_of[account.account_id] = (business.tenant_id, str(created.id).lower())

            def drain() -> set[str]:
                synced: set[str] = set()
                while True:
                    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                   VisibilityTimeout=600).get("Messages", [])
                    if not messages:
                        return synced
                    for message in messages:
                        request = FeedSyncRequest.model_validate(json.loads(message["Body"]))
                        sync_and_settle(request, worker, wiring.get_fast_lane_windows(),
                                        wiring.get_feed_sync_queue(), time_left=lambda: 100.0)
                        metrics.clear_metrics()  # what the handler's flush does after each invocation
                        synced.add(request.tenant_id)
                        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

            def sweep() -> set[str]:
                dispatch_due_feeds(window=schedule_window(datetime.fromtimestamp(clock.time(), tz=UTC)),
                                   feeds=feeds, connections=connections, sender=wiring.get_feed_sync_queue(),
                                   continuer=wiring.get_dispatch_queue(), time_left=lambda: 300.0)
                return drain()

            # Before the day: the links' first sync (feed connections go live, the opening balance goes).
            sweep()
            clock.advance(10)
            xero.settle_pending()
            sweep()
            xero.settle_pending()
            delivered_seen: dict[str, set[str]] = defaultdict(set)
            for account_id, (tenant, fc) in feed_of.items():
                delivered_seen[account_id] = {li["transactionId"] for li in xero.statement_lines(tenant, fc)}
            xero.clear_request_log()

            postings = postings_for_day(rng, accounts, day_start)
            run.postings = len(postings)
            posted_at: dict[str, float] = {}
            account_of: dict[str, str] = {}
            next_posting = 0
            minutes = int(DAY / MINUTE) + 3 * 60  # the day, and three hours for what it left to go
            for minute in range(minutes):
                now = day_start + minute * MINUTE
                clock.set(max(clock.time(), now))
                asked: set[str] = set()
                while next_posting < len(postings) and postings[next_posting][0] < now + MINUTE:
                    at, tenant, account_id = postings[next_posting]
                    next_posting += 1
                    txn = ledger.post_transaction(account_id, f"{rng.randint(100, 250_000) / 100:.2f}",
                                                  rng.choice(("DEBIT", "DEBIT", "CREDIT")), posted_at=int(at))
                    posted_at[txn.transaction_id] = at
                    account_of[txn.transaction_id] = account_id
                    business_id = next(b for _, b, a in accounts if a == account_id)
                    if lane.window_seconds:
                        with acting_as("FeedEventsFunction"):
                            lane.on_posting(PostingEvent(business_id=business_id, account_id=account_id),
                                            asked.__contains__)
                    asked.add(tenant)
                parked.resume(clock.time())
                synced = drain()
                if (now - day_start) % SWEEP_SECONDS == 0:
                    before = len(xero.request_log)
                    synced |= sweep()
                    run.sweep_calls += sum(1 for e in xero.request_log[before:] if e.get("tenant"))
                    run.sweeps += 1
                    run.sweep_minutes.add(minute)
                if not synced:
                    continue
                clock.advance(5)  # Xero processes what it accepted (the emulator's 2 s)
                for account_id, (tenant, fc) in feed_of.items():
                    if tenant not in synced:
                        continue
                    lines = [li["transactionId"] for li in xero.statement_lines(tenant, fc)]
                    run.doubled += len(lines) - len(set(lines))
                    for transaction_id in set(lines) - delivered_seen[account_id]:
                        if transaction_id in posted_at:
                            run.latencies.append(clock.time() - posted_at[transaction_id])
                    delivered_seen[account_id] |= set(lines)
            run.businesses_of = Counter(b.tenant_id for b in world.businesses)
            run.lost = sum(1 for t, a in account_of.items() if t not in delivered_seen[a])
            for entry in xero.request_log:
                called = entry.get("tenant")
                if not called:
                    continue
                run.calls[called] += 1
                if entry["method"] == "POST" and entry["path"].lower().endswith("/statements"):
                    run.posts[called] += 1
                    run.posts_by_utc_day[(called, int(entry["timestamp"] // DAY))] += 1
                    run.post_times.setdefault(called, []).append(entry["timestamp"])
                run.calls_by_minute[int((entry["timestamp"] - day_start) // MINUTE)] += 1
    finally:
        use_process_clock(None)
        xero.stop()
        ledger.stop()
    run.real_seconds = time.perf_counter() - started
    return run


def _most_in_a_day(times: list[float]) -> int:
    """The most of ``times`` within any 24 hours."""
    ordered, most, first = sorted(times), 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= DAY:
            first += 1
        most = max(most, last - first + 1)
    return most


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def report(runs: list[Run], organisations: int, businesses: int) -> None:
    print(f"{businesses} businesses on {organisations} Xero organisations, one day at business hours")
    print(f"{'':24}{'median':>10}{'p95':>10}{'max':>10}{'POSTs/org/day':>16}{'calls/org/day':>16}"
          f"{'max POSTs/org':>15}{'lost':>6}{'doubled':>9}")
    for run in runs:
        ordered = sorted(run.latencies)
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0.0
        label = f"lane {run.window_minutes} min" if run.window_minutes else "lane off (3-hour run)"
        print(f"{label:24}{_minutes(statistics.median(ordered)) if ordered else '-':>10}{_minutes(p95):>10}"
              f"{_minutes(ordered[-1]) if ordered else '-':>10}"
              f"{sum(run.posts.values()) / organisations:>16.1f}{sum(run.calls.values()) / organisations:>16.1f}"
              f"{max(run.posts.values(), default=0):>15}{run.lost:>6}{run.doubled:>9}")
        single = [run.posts[t] for t, n in run.businesses_of.items() if n == 1]
        shared = [(run.posts[t], n) for t, n in run.businesses_of.items() if n > 1]
        print(f"{'':24}{run.postings} postings, {len(run.latencies)} delivered, {run.real_seconds:.0f} s to play; "
              f"POSTs/day: organisations fed by one business max {max(single, default=0)}, shared ones "
              f"{', '.join(f'{p} ({n} businesses)' for p, n in sorted(shared, reverse=True)[:3]) or '-'}")
        by_day = getattr(run, "posts_by_utc_day", None)  # absent from measurements kept before it was counted
        times = getattr(run, "post_times", None)
        if by_day and times:
            bank_days = Counter((t, int((at + UTC_OFFSET_HOURS * 3600) // DAY))
                                for t, ats in times.items() for at in ats)
            print(f"{'':24}max POSTs of one organisation in one UTC day {max(by_day.values())}, in one bank's day "
                  f"{max(bank_days.values())}, in any 24 hours {max(_most_in_a_day(ats) for ats in times.values())}")
        elif by_day:
            print(f"{'':24}max POSTs of one organisation in one UTC day: {max(by_day.values())}")
    print()
    print("App-wide Xero calls in the busiest minute, projected (Xero allows an app 10,000 a minute):")
    for run in runs:
        label = f"lane {run.window_minutes} min" if run.window_minutes else "lane off"
        # Outside the sweeps the calls follow the postings: their busiest quarter-hour, per organisation, scales.
        steady = Counter({m: c for m, c in run.calls_by_minute.items() if m not in run.sweep_minutes})
        rolling = [sum(steady.get(m + k, 0) for k in range(15)) / 15 for m in range(int(DAY / MINUTE))]
        per_org_peak = max(rolling, default=0.0) / organisations
        per_sweep = run.sweep_calls / max(1, run.sweeps) / organisations
        for n in (10_000, 100_000):
            lane_minute = per_org_peak * n
            if run.window_minutes and lane_minute > 0:
                # Every organisation's lane reads the app's minute and stretches alike (fast_lane.lane_window):
                # the window where demand (about inversely proportional to it) and the stretch agree.
                window: float = run.window_minutes * 60
                for _ in range(50):
                    demand = lane_minute * run.window_minutes * 60 / window
                    # (the app's minute alone: statement POSTs to spare, as in the business hours)
                    window = (window + lane_window(run.window_minutes * 60, 0, 1, int(demand), APP_LIMIT, posts_used=0,
                                                    posts_cap=10**6, cost=1, day_seconds=12 * 3600)[0]) / 2
                lane_minute = lane_minute * run.window_minutes * 60 / window
                print(f"  {label:10} {n:>7,} orgs: the lane's window settles at {window / 60:.0f} min")
            burst = n * per_sweep  # a sweep fans every organisation out at once
            capped = min(burst, WORKER_INSTANCES * CALLS_PER_INSTANCE_MINUTE)
            drain = burst / (WORKER_INSTANCES * CALLS_PER_INSTANCE_MINUTE)
            print(f"  {label:10} {n:>7,} orgs: {lane_minute:>8,.0f}/min following postings (busiest 15 min), "
                  f"sweep {burst:>9,.0f} calls fanned out, {capped:,.0f}/min at the worker's "
                  f"{WORKER_INSTANCES} instances ({drain:.0f} min to drain); "
                  f"{'within' if max(lane_minute, capped) <= APP_LIMIT else 'OVER'} the limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 businesses on 4 organisations")
    parser.add_argument("--businesses", type=int, default=50)
    parser.add_argument("--organisations", type=int, default=20)
    parser.add_argument("--window", type=int, default=15, help="the fast lane's minutes (the default's)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--save", help="also keep the measurements in this file (pickle), to report again")
    parser.add_argument("--load", help="report the measurements kept by --save instead of playing the day")
    args = parser.parse_args()
    businesses, organisations = (10, 4) if args.quick else (args.businesses, args.organisations)
    if args.load:
        with open(args.load, "rb") as kept:
            runs, organisations, businesses = pickle.load(kept)
    else:
        size = WorldSize(businesses=businesses, organisations=organisations, days=1)
        runs = [play(size, args.window, args.seed), play(size, 0, args.seed)]
        if args.save:
            with open(args.save, "wb") as kept:
                pickle.dump((runs, organisations, businesses), kept)
    report(runs, organisations, businesses)


if __name__ == "__main__":
    main()
