"""The Xero client: cold import time, and Xero calls per operation against the lower bound.

Lower bounds: 1000 Spend Money in batches of 50 need 20 PUTs; one contact lookup per distinct payee.
With faults (answers dropped after Xero committed, 500s), the extra calls are the marker look-ups and
re-sends of what was missing; duplicates must stay 0.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from decimal import Decimal

from support import ROOT, connect_business, local_aws, median_of

from emulators.time_control import ScaledClock
from emulators.xero import XeroEmulator

RUNS = 5


def cold_import_ms() -> float:
    code = (f"import sys, time; sys.path[:0] = [{str(ROOT / 'layers' / 'common')!r}]; t = time.perf_counter(); "
            "import xerosync.xero.client; print(time.perf_counter() - t)")
    samples = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true"}).stdout) * 1000
               for _ in range(RUNS)]
    return median_of(samples)


def spend_money_run(fault: dict[str, object] | None, expenses: int = 1000, batch: int = 50) -> dict[str, float]:
    from xerosync.settings import get_settings
    from xerosync.xero.client import build_xero_client
    from xerosync.xero.expense_models import AccountRef, BankTransaction, Contact, LineItem
    from xerosync.xero.governor import Limits
    from xerosync.xero.transport import RetryPolicy

    clock = ScaledClock(factor=60)  # Xero's minute passes in a real second
    emulator = XeroEmulator(clock=clock)
    emulator.start()
    try:
        with local_aws(xero_url=emulator.base_url):
            client = build_xero_client(get_settings(), clock=clock, limits=Limits(max_wait_seconds=600),
                                       retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
            tenant = emulator.seed_organisation()
            connect_business(client, emulator, "biz_bench", tenant)
            session = client.session("biz_bench")
            bank = next(a["AccountID"] for a in emulator.accounts(tenant) if a["Type"] == "BANK")
            payees = [session.find_or_create_contact(f"Supplier {n}") for n in range(5)]
            if fault:
                emulator.add_fault(path="*/BankTransactions", method="PUT", times=None, **fault)  # type: ignore[arg-type]
            emulator.clear_request_log()
            started = time.perf_counter()
            for start in range(0, expenses, batch):
                items = [BankTransaction(
                    type="SPEND", contact=Contact(contact_id=payees[n % 5].contact_id),
                    bank_account=AccountRef(account_id=bank), date=date(2026, 11, 2), reference=f"PAY-{n}",
                    url=f"https://app.bank.example/transactions/txn_{n}", currency_code="HKD",
                    line_items=[LineItem(description=f"Expense {n}", unit_amount=Decimal("10.00") + n,
                                         account_code="493", tax_type="INPUT")])
                    for n in range(start, min(expenses, start + batch))]
                session.create_bank_transactions_once(items, batch_id=f"bench:{start}")
            live = [t for t in emulator.bank_transactions(tenant) if t.get("Status") != "DELETED"]
            calls = len(emulator.request_log)
            return {"calls": calls, "lower_bound": expenses // batch, "created": len(live),
                    "duplicates": len(live) - len({t["Url"] for t in live}), "seconds": time.perf_counter() - started}
    finally:
        emulator.stop()


def main() -> None:
    print(f"cold import of xerosync.xero.client: median {cold_import_ms():.0f} ms (n={RUNS}, fresh process each)")
    print(f"{'scenario':<34} {'Xero calls':>10} {'lower bound':>11} {'created':>8} {'dupes':>6} {'wall s':>7}")
    for name, fault in [("1000 Spend Money, no faults", None),
                        ("answers dropped on every 4th PUT", {"kind": "drop", "every": 4}),
                        ("500 on every 4th PUT", {"kind": "error", "status": 500, "every": 4})]:
        result = spend_money_run(fault)
        print(f"{name:<34} {result['calls']:>10.0f} {result['lower_bound']:>11.0f} {result['created']:>8.0f} "
              f"{result['duplicates']:>6.0f} {result['seconds']:>7.1f}")


if __name__ == "__main__":
    main()
