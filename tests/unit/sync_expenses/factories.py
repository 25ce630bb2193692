"""Expenses, reference data and contexts for the pure tests (no AWS, no Xero, no network)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xerosync.ledger.models import LedgerTransaction
from xerosync.sync_expenses.mapping import CategoryMappings
from xerosync.sync_expenses.models import ExpenseRecord, Overrides, Payment, Receipt, TrackingChoice
from xerosync.sync_expenses.reference_data import (
    ReferenceData,
    XeroAccount,
    XeroTaxRate,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from xerosync.sync_expenses.validation import SyncContext

NOW = "2026-11-20T09:00:00Z"
BANK = "bank-hkd"
TRAVEL = "acc-493"
ARCHIVED = "acc-419"
NO_PAYMENTS = "acc-461"
REGION, NORTH, EAST = "cat-region", "opt-north", "opt-east"


def reference(**changes: Any) -> ReferenceData:
    data = ReferenceData(
        tenant_id="tenant-1", refreshed_at=1_000_000.0, base_currency="HKD", currencies=["USD", "SGD"],
        short_code="!abc12",
        accounts=[
            XeroAccount(account_id=BANK, code="090", name="Business Bank", type="BANK", currency_code="HKD"),
            XeroAccount(account_id=TRAVEL, code="493", name="Travel - National", type="OVERHEADS", tax_type="INPUT",
                        enable_payments_to_account=True),
            XeroAccount(account_id=ARCHIVED, code="419", name="Legacy Consulting", type="OVERHEADS",
                        status="ARCHIVED", tax_type="INPUT", enable_payments_to_account=True),
            XeroAccount(account_id=NO_PAYMENTS, code="461", name="Printing", type="OVERHEADS", tax_type="INPUT"),
            XeroAccount(account_id="acc-404", code="404", name="Bank Fees", type="OVERHEADS", tax_type="RETIRED",
                        enable_payments_to_account=True),
        ],
        tax_rates=[
            XeroTaxRate(tax_type="INPUT", name="Tax on Purchases", can_apply_to_expenses=True, rate=Decimal("10")),
            XeroTaxRate(tax_type="NONE", name="Tax Exempt", can_apply_to_expenses=True, rate=Decimal("0")),
            XeroTaxRate(tax_type="OUTPUT", name="Tax on Sales", can_apply_to_expenses=False),
            XeroTaxRate(tax_type="RETIRED", name="Retired Tax", status="ARCHIVED", can_apply_to_expenses=True),
        ],
        tracking_categories=[
            XeroTrackingCategory(tracking_category_id=REGION, name="Region", options=[
                XeroTrackingOption(tracking_option_id=NORTH, name="North"),
                XeroTrackingOption(tracking_option_id=EAST, name="East", status="ARCHIVED")]),
            XeroTrackingCategory(tracking_category_id="cat-legacy", name="Legacy", status="ARCHIVED", options=[
                XeroTrackingOption(tracking_option_id="opt-alpha", name="Alpha")]),
        ],
    )
    return data.model_copy(update=changes)


def payment(**changes: Any) -> Payment:
    values: dict[str, Any] = {
        "account_id": "acc_hkd", "transaction_id": "txn_1", "sequence": 7, "posted_at": "2026-11-19T23:30:00Z",
        "amount": Decimal("123.45"), "currency": "HKD", "payee": "Harbour Taxi", "reference": "INV-7",
        "description": "Taxi to client", "spend_category": "travel", "type": "TRANSFER",
        "receipts": [Receipt(attachment_id="att_1", file_name="r.pdf", content_type="application/pdf",
                             size_bytes=1000, sha256="ab")],
        "ledger_version": 1,
    }
    values.update(changes)
    return Payment(**values)


def expense(overrides: Overrides | None = None, **changes: Any) -> ExpenseRecord:
    record = ExpenseRecord(business_id="biz_1", transaction_id="txn_1", payment=payment(),
                           overrides=overrides or Overrides(), created_at=NOW, changed_at=NOW)
    return record.model_copy(update=changes)


def context(*, mapped: dict[str, str] | None = None, ref: ReferenceData | None = None, linked: bool = True,
            no_reference: bool = False) -> SyncContext:
    return SyncContext(reference=None if no_reference else (ref or reference()),
                       mappings=CategoryMappings(business_id="biz_1",
                                                 accounts={"travel": TRAVEL} if mapped is None else mapped),
                       linked_accounts={"acc_hkd": BANK} if linked else {}, bank_contact_name="Bank")


def tracking(category: str = REGION, option: str = NORTH) -> TrackingChoice:
    return TrackingChoice(tracking_category_id=category, tracking_option_id=option)


def ledger_transaction(**changes: Any) -> LedgerTransaction:
    values: dict[str, Any] = {
        "transaction_id": "txn_1", "account_id": "acc_hkd", "business_id": "biz_1", "sequence": 7,
        "posted_at": "2026-11-19T23:30:00Z", "amount": "123.45", "direction": "DEBIT", "currency": "HKD",
        "running_balance": "1000.00", "counterparty": {"name": "Harbour Taxi", "account_number": "1"},
        "reference": "INV-7", "description": "Taxi to client", "type": "TRANSFER", "spend_category": "travel",
        "attachments": [], "version": 1,
    }
    values.update(changes)
    return LedgerTransaction.model_validate(values)
