"""A small soak world that is right, for the auditor's tests: each test plants one fault in it."""

from __future__ import annotations

from decimal import Decimal

from local.soak.audit import Expense, Facts, Feed, Job, Line, SpendMoney, Statement, Txn

TENANT, FEED_CONNECTION, XERO_ACCOUNT = "tenant-1", "fc-1", "xa-1"


def right_world() -> Facts:
    """One business on one linked account: money in (100.00), a payment out (40.00) with a receipt; both lines
    delivered once in one statement, the payment synced as one Spend Money with its receipt, its job complete."""
    income = Txn("t-in", "biz-1", "acc-1", 1, "2026-03-01T02:00:00Z", "CREDIT", Decimal("100.00"), Decimal("100.00"))
    payment = Txn("t-out", "biz-1", "acc-1", 2, "2026-03-01T03:00:00Z", "DEBIT", Decimal("40.00"),
                  Decimal("60.00"), receipts=(("att-1", "sha-1", 2048),))
    return Facts(
        transactions=[income, payment],
        syncing_businesses={"biz-1"},
        feeds=[Feed("biz-1", "acc-1", "ACTIVE", TENANT, XERO_ACCOUNT, None)],
        live_xero_accounts={TENANT: {XERO_ACCOUNT}},
        feed_connection_accounts={FEED_CONNECTION: XERO_ACCOUNT},
        lines=[Line(TENANT, FEED_CONNECTION, "t-in"), Line(TENANT, FEED_CONNECTION, "t-out")],
        statements=[Statement(TENANT, FEED_CONNECTION, "st-1", "DELIVERED", Decimal("0.00"), Decimal("60.00"),
                              ("t-in", "t-out"))],
        spend_money=[SpendMoney(TENANT, "bt-1", "t-out", "AUTHORISED", Decimal("40.00"),
                                attachments=(("receipt.pdf", "sha-1"),))],
        expenses=[Expense("biz-1", "t-out", "SYNCED", bank_transaction_id="bt-1", job_id="job-1")],
        receipts_refused={},
        jobs=[Job("biz-1", "job-1", completed=True, dispatched=True)],
        dead_letters=[],
        failure_reasons={},
    )
