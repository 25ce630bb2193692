"""Sync expenses: Xero calls for 1000 expenses against the lower bound, the time Xero's limits impose on the
emulator's clock, and the CPU an expense costs outside the network.

The product's own code runs as deployed (the API's use case, then the worker draining ExpenseSyncQueue) on
moto, against the Xero emulator. Both sides share a manual clock that moves only when the rate governor waits,
so "time on the emulator's clock" is exactly what Xero's limits (60 calls a minute per organisation) cost.
Lower bound: 1000 Spend Money in Xero's recommended batches of 50 need 20 PUTs; reference data adds five
calls per organisation every 15 minutes; contacts go by name, so payees cost nothing.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from support import connect_business, local_aws, median_of

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator

# The use cases run outside their Lambda handlers here: no context for idempotency's timeout, no flush of the
# metrics per invocation (they are dropped after each batch instead).
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "XeroSyncBench")
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")

RUNS = 3
BATCH = 50


class _Profiles:
    """The ledger, as far as the API asks it: the business's country."""

    def business(self, business_id: str) -> Any:
        from xerosync.ledger.models import BusinessProfile

        return BusinessProfile(business_id=business_id, legal_name="Bench Pte. Ltd.", incorporation_country="SG")


def _transactions(business_id: str, account_id: str, count: int, start: datetime) -> list[Any]:
    from xerosync.ledger.models import LedgerTransaction

    return [LedgerTransaction.model_validate({
        "transaction_id": f"txn_{n:05d}", "account_id": account_id, "business_id": business_id, "sequence": n + 1,
        "posted_at": (start + timedelta(minutes=n)).isoformat(), "amount": f"{10 + n % 500}.{n % 100:02d}",
        "direction": "DEBIT", "currency": "HKD", "running_balance": "100000.00",
        "counterparty": {"name": f"Supplier {n % 150}", "account_number": ""}, "reference": f"INV-{n}",
        "description": f"Expense {n}", "spend_category": ("travel", "software", "rent")[n % 3], "version": 1,
    }) for n in range(count)]


def sync_run(expenses: int, fault: dict[str, Any] | None = None) -> dict[str, float]:
    import boto3

    from xerosync.auth import Caller
    from xerosync.clock import iso, utc_now
    from xerosync.settings import get_settings
    from xerosync.store.feeds import FeedRecord, FeedStatus, FeedStore
    from xerosync.sync_expenses.models import SpendMoneyBatch
    from xerosync.sync_expenses.state_machine import apply_ledger
    from xerosync.sync_expenses.store import ExpenseStore
    from xerosync.sync_expenses.views import MappingsUpdate, StartSync
    from xerosync.sync_expenses.wiring import build_expense_service, build_spend_money_worker
    from xerosync.xero.client import build_xero_client
    from xerosync.xero.governor import Limits

    clock = ManualClock()
    emulator = XeroEmulator(clock=clock)
    emulator.start()
    try:
        with local_aws(xero_url=emulator.base_url) as provisioned:
            settings = get_settings()
            # The governor waits as long as Xero's limits need (on the manual clock, instantly).
            client = build_xero_client(settings, clock=clock, limits=Limits(max_wait_seconds=24 * 3600))
            tenant = emulator.seed_organisation()
            business = "biz_bench"
            generation = connect_business(client, emulator, business, tenant)
            bank = next(a["AccountID"] for a in emulator.accounts(tenant)
                        if a["Type"] == "BANK" and a.get("CurrencyCode") == "HKD")
            table = boto3.resource("dynamodb").Table(settings.main_table_name)
            FeedStore(table).save(FeedRecord(business_id=business, account_id="acc_hkd", currency="HKD",
                                             account_number="1", account_name="HKD Operating", tenant_id=tenant,
                                             generation=generation,
                                             xero_account_id=bank, status=FeedStatus.ACTIVE))
            now = iso(utc_now(clock))
            records = [apply_ledger(None, t, now) for t in
                       _transactions(business, "acc_hkd", expenses, datetime.now(UTC) - timedelta(days=20))]
            ExpenseStore(table).save_many([r for r in records if r is not None])
            service = build_expense_service(settings, xero=client, ledger=_Profiles(), clock=clock)  # type: ignore[arg-type]
            worker = build_spend_money_worker(settings, xero=client, clock=clock)
            caller = Caller(business_id=business, user_id="u_bench", role="Finance", can_manage_accounting=True)
            codes = {a["Code"]: a["AccountID"] for a in emulator.accounts(tenant) if a.get("Code")}
            emulator.clear_request_log()
            started_at = clock.time()
            service.set_mappings(caller, MappingsUpdate.model_validate({"mappings": [
                {"category": "travel", "xero_account_id": codes["493"]},
                {"category": "software", "xero_account_id": codes["429"]},
                {"category": "rent", "xero_account_id": codes["429"]}]}))
            if fault:
                emulator.add_fault(path="*/BankTransactions", method="PUT", times=None, **fault)
            ids = [f"txn_{n:05d}" for n in range(expenses)]
            wall = time.perf_counter()
            for start in range(0, expenses, 1000):
                service.start_sync(caller, StartSync(transaction_ids=ids[start:start + 1000]))
                _drain(provisioned.queue_url("ExpenseSyncQueue"), worker, SpendMoneyBatch)
            wall = time.perf_counter() - wall
            calls = [r for r in emulator.request_log if r.get("tenant") == tenant]
            live = [t for t in emulator.bank_transactions(tenant) if t.get("Status") != "DELETED"]
            return {"calls": len(calls), "lower_bound": -(-expenses // BATCH), "created": len(live),
                    "duplicates": len(live) - len({t["Url"] for t in live}),
                    "xero_minutes": (clock.time() - started_at) / 60, "wall": wall}
    finally:
        emulator.stop()


def _drain(queue_url: str, worker: Any, batch_model: Any) -> None:
    import boto3

    from xerosync.observability import metrics

    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1).get("Messages", []):
        worker.process(batch_model.model_validate(json.loads(messages[0]["Body"])))
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        metrics.clear_metrics()


def cpu_per_expense_us(expenses: int = 1000) -> float:
    """The product's own work per expense, no network: resolve, validate, build and serialise the Spend Money,
    read Xero's answer, move the state machine, and present the expense on a tab."""
    from xerosync.sync_expenses import state_machine
    from xerosync.sync_expenses.mapping import CategoryMappings
    from xerosync.sync_expenses.presenter import expense_view
    from xerosync.sync_expenses.reference_data import ReferenceData, XeroAccount, XeroTaxRate
    from xerosync.sync_expenses.spend_money import build_spend_money, outcome_of
    from xerosync.sync_expenses.validation import SyncContext, problems_for_sync
    from xerosync.xero.expense_models import BankTransaction

    reference = ReferenceData(
        tenant_id="t", refreshed_at=0.0, base_currency="HKD", currencies=["USD"],
        accounts=[XeroAccount(account_id="bank", code="090", name="Bank", type="BANK", currency_code="HKD"),
                  *(XeroAccount(account_id=f"a{c}", code=str(c), name=f"Account {c}", type="OVERHEADS",
                                tax_type="INPUT", enable_payments_to_account=True) for c in range(400, 480))],
        tax_rates=[XeroTaxRate(tax_type="INPUT", name="Tax on Purchases", can_apply_to_expenses=True,
                               rate=Decimal("10"))])
    context = SyncContext(reference=reference, mappings=CategoryMappings(
        business_id="b", accounts={"travel": "a429", "software": "a430", "rent": "a431"}),
        linked_accounts={"acc_hkd": "bank"}, bank_contact_name="Bank")
    now = "2026-11-20T00:00:00Z"
    created = (state_machine.apply_ledger(None, t, now)
               for t in _transactions("b", "acc_hkd", expenses, datetime(2026, 11, 1, tzinfo=UTC)))
    records = [r for r in created if r is not None]
    started = time.process_time()
    for record in records:
        problems_for_sync(record, context)
        queued = state_machine.queue(record, "job", now)
        body = build_spend_money(queued, context.resolve(queued), bank_account_id="bank", url="https://x/t",
                                 reference=reference).to_xero()
        echoed = BankTransaction.model_validate({**body, "BankTransactionID": "bt", "StatusAttributeString": "OK"})
        outcome = outcome_of(echoed)
        synced = state_machine.synced(queued, bank_transaction_id=str(outcome.bank_transaction_id), link="l",
                                  sent_revision=queued.revision, job_id="job", now=now)
        synced.model_dump(mode="json", exclude_none=True)
        expense_view(synced, context, {})
    return (time.process_time() - started) / len(records) * 1e6


def main() -> None:
    print(f"{'scenario':<44} {'Xero calls':>10} {'bound':>6} {'created':>8} {'dupes':>6} "
          f"{'Xero min':>9} {'wall s':>7}")
    scenarios: list[tuple[str, int, dict[str, Any] | None, int]] = [
        ("1000 expenses, one job", 1000, None, RUNS),
        ("1000 expenses, answer dropped on every 4th PUT", 1000, {"kind": "drop", "every": 4}, 1),
        ("3000 expenses, three jobs back to back", 3000, None, 1),
    ]
    for name, expenses, fault, runs in scenarios:
        results = [sync_run(expenses, fault) for _ in range(runs)]
        figure = {key: median_of([r[key] for r in results]) for key in results[0]}
        label = f"{name} (median of {runs})" if runs > 1 else name
        print(f"{label:<44} {figure['calls']:>10.0f} {figure['lower_bound']:>6.0f} {figure['created']:>8.0f} "
              f"{figure['duplicates']:>6.0f} {figure['xero_minutes']:>9.2f} {figure['wall']:>7.1f}")
    cpu = median_of([cpu_per_expense_us() for _ in range(RUNS)])
    print(f"CPU per expense outside the network: median {cpu:.0f} µs (validate, build, answer, state, view; "
          f"n={RUNS} runs of 1000)")


if __name__ == "__main__":
    main()
