"""What `make console` starts with, and what the browser tests drive: three businesses on the bank's side (one
incorporated in Hong Kong) and four Xero organisations (two Business Edition ones, one Partner Edition, one
inactive), so every story of the help centre can be walked in the page.

The Singapore business's HKD account holds three weeks of history: ``PAYMENTS`` payments out (two of them
uncategorised, a few with receipts, one receipt over Xero's limit) and some money in. None of it is in the
product yet: linking the account with its history (the link form's "Send history from") makes each payment
out a pending expense, as auto-sync reads the history.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from emulators.ledger import Counterparty, LedgerEmulator, generated_spec
from local.demo_sync_expenses import MAPPING, PAYEES
from local.stack import DevStack

BUSINESS = "Harbour & Lion Trading Pte. Ltd."
SISTER = "Lion Logistics Pte. Ltd."
HONG_KONG = "Kowloon Imports Limited"
ORGANISATION = "Harbour & Lion Trading"
GROUP_ORGANISATION = "Lion Group Holdings"
PARTNER_ORGANISATION = "Ledger Advisers"
INACTIVE_ORGANISATION = "Dormant Harbour Ltd"

#: Fixed ids, so that a walkthrough written down once (the README's, run by tests/e2e/test_readme_walkthrough.py)
#: and the default of `make token` name the seeded business, its accounts, payments and Xero organisation.
BUSINESS_ID = "biz_demo"
SISTER_ID = "biz_demo_sister"
HONG_KONG_ID = "biz_demo_hk"
ACCOUNT_IDS = {"HKD": "acc_demo_hkd", "USD": "acc_demo_usd", "SGD": "acc_demo_sgd"}
ORGANISATION_TENANT_ID = "6d0c8a3e-5b1f-4c1e-9a57-3f0b2d1c4e70"
PAYMENT_ID = "txn_demo_{:03d}"  # the HKD account's payments out, n = 0..PAYMENTS-1

PAYMENTS = 300
HISTORY_DAYS = 21
UNCATEGORISED_EVERY = 150  # payments 0 and 150: no category, so no Xero account until someone picks one
RECEIPT_EVERY = 30
# The payees are the demo's (PAYEES), and so is the mapping a finance user would choose (category -> Xero
# account code of the seeded chart).
SUGGESTED_MAPPING = MAPPING


@dataclass(frozen=True)
class ConsoleSeed:
    business_id: str
    accounts: dict[str, str]  # currency -> the Singapore business's account id
    sister_business_id: str
    hk_business_id: str
    organisations: dict[str, str]  # name -> Xero tenant id
    payments: list[str] = field(default_factory=list)  # the HKD account's payments out, oldest first
    uncategorised: list[str] = field(default_factory=list)
    oversized_receipt: str = ""  # the payment whose receipt Xero will refuse (3.1 MB)
    history_from: date = date.min

    @property
    def businesses(self) -> dict[str, str]:
        return {BUSINESS: self.business_id, SISTER: self.sister_business_id, HONG_KONG: self.hk_business_id}


def seed_console(stack: DevStack) -> ConsoleSeed:
    """Seed the running stack's emulators (not the product: it learns everything through its own API)."""
    ledger, xero = stack.ledger, stack.xero
    organisations = {
        ORGANISATION: xero.seed_organisation(ORGANISATION, tenant_id=ORGANISATION_TENANT_ID, base_currency="HKD",
                                             country_code="SG", multicurrency=True, currencies=["HKD", "USD", "SGD"]),
        GROUP_ORGANISATION: xero.seed_organisation(GROUP_ORGANISATION, base_currency="SGD", country_code="SG"),
        PARTNER_ORGANISATION: xero.seed_organisation(PARTNER_ORGANISATION, edition="PARTNER"),
        INACTIVE_ORGANISATION: xero.seed_organisation(INACTIVE_ORGANISATION, status="INACTIVE"),
    }
    business = ledger.create_business("SG", BUSINESS, business_id=BUSINESS_ID).business_id
    accounts = {currency: ledger.create_account(business, currency, name=f"{currency} Operating",
                                                account_number=f"88{i}0012345",
                                                account_id=ACCOUNT_IDS[currency]).account_id
                for i, currency in enumerate(("HKD", "USD", "SGD"))}
    sister = ledger.create_business("SG", SISTER, business_id=SISTER_ID).business_id
    sister_hkd = ledger.create_account(sister, "HKD", name="HKD Operating", account_number="8830012345").account_id
    hong_kong = ledger.create_business("HK", HONG_KONG, business_id=HONG_KONG_ID).business_id
    hk_hkd = ledger.create_account(hong_kong, "HKD", name="HKD Operating", account_number="8840012345").account_id

    now = int(time.time())
    start = now - HISTORY_DAYS * 86400
    with _history(ledger):
        payments = _hkd_history(ledger, accounts["HKD"], start, now)
        for account_id, count in ((accounts["USD"], 12), (accounts["SGD"], 6), (sister_hkd, 8), (hk_hkd, 10)):
            ledger.post_generated(account_id, count, seed=count)
    return ConsoleSeed(
        business_id=business, accounts=accounts, sister_business_id=sister, hk_business_id=hong_kong,
        organisations=organisations, payments=payments,
        uncategorised=[p for n, p in enumerate(payments) if n % UNCATEGORISED_EVERY == 0],
        oversized_receipt=payments[RECEIPT_EVERY], history_from=datetime.fromtimestamp(start, tz=UTC).date())


@contextmanager
def _history(ledger: LedgerEmulator) -> Iterator[None]:
    """Postings made before the product subscribed to the ledger's events: none is published (as the ledger
    emulator's own ``seed_demo`` does); the product reads them as history when an account is linked."""
    publisher, ledger.event_publisher = ledger.event_publisher, None
    try:
        yield
    finally:
        ledger.event_publisher = publisher


def _hkd_history(ledger: LedgerEmulator, account_id: str, start: int, end: int) -> list[str]:
    step = (end - 3600 - start) // (PAYMENTS + PAYMENTS // 10)
    moment = start
    ledger.post_transaction(account_id, "250000.00", "CREDIT", counterparty=Counterparty("Harbour & Lion Holdings"),
                            reference="CAPITAL", description="Opening capital", posted_at=moment)
    categories = list(PAYEES)
    payments = []
    for n in range(PAYMENTS):
        moment += step
        if n % 10 == 5:
            ledger.post_transaction(account_id, f"{1200 + 37 * n}.00", "CREDIT",
                                    counterparty=Counterparty(f"Customer {n % 7 + 1} Ltd"), reference=f"SO-{4100 + n}",
                                    description="Customer payment", posted_at=moment)
            moment += step
        category = categories[n % len(categories)]
        payee = PAYEES[category][n % len(PAYEES[category])]
        receipts = []
        if n % RECEIPT_EVERY == 0 and n:
            size = 3_100_000 if n == RECEIPT_EVERY else 40_000 + n
            receipts = [generated_spec("pdf", size, seed=n, file_name=f"{payee} receipt {n}.pdf")]
        categorised = n % UNCATEGORISED_EVERY != 0
        payments.append(ledger.post_transaction(
            account_id, f"{18 + (n * 37) % 900}.{n % 100:02d}", "DEBIT",
            spend_category=category if categorised else None, counterparty=Counterparty(payee),
            reference=f"INV-{2300 + n}",
            description=f"{payee}, {category.replace('_', ' ')}" if categorised else "", attachments=receipts,
            posted_at=moment, transaction_id=PAYMENT_ID.format(n)).transaction_id)
    return payments


def describe(seed: ConsoleSeed) -> str:
    lines = ["Seeded:",
             f"  {BUSINESS} (Singapore, {seed.business_id}): HKD, USD and SGD accounts "
             f"({', '.join(seed.accounts.values())}); {PAYMENTS} payments out of the HKD account since "
             f"{seed.history_from:%d %b %Y} ({PAYMENT_ID.format(0)}..{PAYMENT_ID.format(PAYMENTS - 1)})",
             f"  {SISTER} ({seed.sister_business_id}) and {HONG_KONG} (Hong Kong, {seed.hk_business_id}): "
             "an HKD account each",
             "  Xero organisations: " + ", ".join(
                 f"{name}{suffix}" for name, suffix in ((ORGANISATION, ""), (GROUP_ORGANISATION, ""),
                                                        (PARTNER_ORGANISATION, " (Partner Edition)"),
                                                        (INACTIVE_ORGANISATION, " (inactive)")))]
    return "\n".join(lines)
