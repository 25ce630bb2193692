"""Receipts: upload throughput against Xero's 60 calls a minute per organisation, on the emulator's clock, and
Xero calls per file against the lower bound (one call per file).

Expenses with receipts are synced as deployed (the API's use case, then the Spend Money worker), and their
receipts uploaded by the attachments worker draining AttachmentsQueue, on moto, with the receipts served by
the ledger emulator over HTTP and Xero played by its emulator. Both sides share a manual clock that moves only
when the rate governor waits, so the minutes below are what Xero's limits cost, not this machine's speed.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

from support import connect_business, local_aws, median_of
from sync_expenses_calls import _drain, _Profiles

from emulators.ledger import Counterparty, LedgerEmulator, generated_spec
from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "XeroSyncBench")
warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")

RUNS = 3
RECEIPTS_PER_EXPENSE = 4
KINDS = ("pdf", "png", "jpeg", "pdf")


def upload_run(expenses: int, fault: dict[str, Any] | None = None) -> dict[str, float]:
    import boto3

    from xerosync.attachments.wiring import build_receipts_worker
    from xerosync.auth import Caller
    from xerosync.clock import iso, utc_now
    from xerosync.ledger.client import LedgerClient
    from xerosync.ledger.models import LedgerTransaction
    from xerosync.settings import get_settings
    from xerosync.store.feeds import FeedRecord, FeedStatus, FeedStore
    from xerosync.sync_expenses.models import AttachmentUploadRequest, SpendMoneyBatch
    from xerosync.sync_expenses.state_machine import apply_ledger
    from xerosync.sync_expenses.store import ExpenseStore
    from xerosync.sync_expenses.views import MappingsUpdate, StartSync
    from xerosync.sync_expenses.wiring import build_expense_service, build_spend_money_worker
    from xerosync.xero.client import build_xero_client
    from xerosync.xero.governor import Limits

    clock = ManualClock()
    emulator, ledger = XeroEmulator(clock=clock), LedgerEmulator()
    emulator.start()
    ledger.start()
    try:
        with local_aws(xero_url=emulator.base_url, ledger_url=ledger.base_url) as provisioned:
            settings = get_settings()
            client = build_xero_client(settings, clock=clock, limits=Limits(max_wait_seconds=24 * 3600))
            business = ledger.create_business("SG", "Bench Pte. Ltd.").business_id
            account = ledger.create_account(business, "HKD").account_id
            tenant = emulator.seed_organisation()
            generation = connect_business(client, emulator, business, tenant)
            bank = next(a["AccountID"] for a in emulator.accounts(tenant)
                        if a["Type"] == "BANK" and a.get("CurrencyCode") == "HKD")
            table = boto3.resource("dynamodb").Table(settings.main_table_name)
            FeedStore(table).save(FeedRecord(business_id=business, account_id=account, currency="HKD",
                                             account_number="1", account_name="HKD Operating", tenant_id=tenant,
                                             generation=generation,
                                             xero_account_id=bank, status=FeedStatus.ACTIVE))
            posted = [ledger.post_transaction(
                account, f"{100 + n}.00", "DEBIT", spend_category="travel",
                counterparty=Counterparty(f"Hotel {n % 7}", "1"), description=f"Trip {n}",
                attachments=[generated_spec(KINDS[k], 40_000 + 1_000 * k, seed=n * 10 + k)
                             for k in range(RECEIPTS_PER_EXPENSE)]) for n in range(expenses)]
            now = iso(utc_now(clock))
            records = [apply_ledger(None, LedgerTransaction.model_validate(t.to_json()), now) for t in posted]
            ExpenseStore(table).save_many([r for r in records if r is not None])
            service = build_expense_service(settings, xero=client, ledger=_Profiles(), clock=clock)
            caller = Caller(business_id=business, user_id="u_bench", role="Finance", can_manage_accounting=True)
            codes = {a["Code"]: a["AccountID"] for a in emulator.accounts(tenant) if a.get("Code")}
            service.set_mappings(caller, MappingsUpdate.model_validate(
                {"mappings": [{"category": "travel", "xero_account_id": codes["493"]}]}))
            service.start_sync(caller, StartSync(transaction_ids=[t.transaction_id for t in posted]))
            _drain(provisioned.queue_url("ExpenseSyncQueue"), build_spend_money_worker(settings, xero=client,
                                                                                      clock=clock), SpendMoneyBatch)
            # The receipts phase: what AttachmentsQueue now holds, drained by the attachments worker
            emulator.clear_request_log()
            if fault:
                emulator.add_fault(path="*/Attachments/*", method="PUT", times=None, **fault)
            started_at, wall = clock.time(), time.perf_counter()
            worker = build_receipts_worker(settings, xero=client, ledger=LedgerClient(ledger.base_url), clock=clock)
            _drain_retrying(provisioned.queue_url("AttachmentsQueue"), worker, AttachmentUploadRequest)
            wall = time.perf_counter() - wall
            minutes = (clock.time() - started_at) / 60
            files = expenses * RECEIPTS_PER_EXPENSE
            calls = [r for r in emulator.request_log if r.get("tenant") == tenant]
            in_xero = [a for t in emulator.bank_transactions(tenant) if t["Type"] == "SPEND"
                       for a in emulator.attachments(tenant, t["BankTransactionID"])]
            return {"files": files, "calls": len(calls), "in_xero": len(in_xero),
                    "duplicates": len(in_xero) - len({(a["sha256"]) for a in in_xero}), "xero_minutes": minutes,
                    "per_minute": files / minutes if minutes else float(files), "wall": wall}
    finally:
        emulator.stop()
        ledger.stop()


def _drain_retrying(queue_url: str, worker: Any, model: Any) -> None:
    """As Lambda's event source would: a message whose processing failed comes back and is processed again."""
    import boto3

    sqs = boto3.client("sqs")
    for _ in range(3):
        try:
            _drain(queue_url, worker, model)
            return
        except Exception:  # the message stays in the queue; the next round takes it again
            for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                               VisibilityTimeout=0).get("Messages", []):
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
    _drain(queue_url, worker, model)


def main() -> None:
    print(f"{'scenario':<48} {'files':>6} {'calls':>6} {'in Xero':>8} {'dupes':>6} {'Xero min':>9} "
          f"{'files/min':>10} {'wall s':>7}")
    scenarios: list[tuple[str, int, dict[str, Any] | None, int]] = [
        (f"60 expenses x {RECEIPTS_PER_EXPENSE} receipts, one organisation", 60, None, RUNS),
        ("same, Xero's answer dropped on every 5th upload", 60, {"kind": "drop", "every": 5}, 1),
    ]
    for name, expenses, fault, runs in scenarios:
        results = [upload_run(expenses, fault) for _ in range(runs)]
        figure = {key: median_of([r[key] for r in results]) for key in results[0]}
        label = f"{name} (median of {runs})" if runs > 1 else name
        print(f"{label:<48} {figure['files']:>6.0f} {figure['calls']:>6.0f} {figure['in_xero']:>8.0f} "
              f"{figure['duplicates']:>6.0f} {figure['xero_minutes']:>9.2f} {figure['per_minute']:>10.1f} "
              f"{figure['wall']:>7.1f}")
    print("Lower bound: one Xero call per file; Xero allows 60 calls a minute per organisation.")


if __name__ == "__main__":
    main()
