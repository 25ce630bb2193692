"""The soak's auditor: a small world that is right passes, and each invariant catches the fault it is for when
one is planted on purpose (a line lost or posted twice, a balance break, a Spend Money posted twice, an expense
or a job left stuck, a receipt lost or doubled, a dead letter nobody can explain)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from local.soak.audit import (
    DeadLetter,
    Expense,
    Facts,
    Job,
    Line,
    SpendMoney,
    Statement,
    Txn,
    audit,
)
from tests.unit.soak.worlds import FEED_CONNECTION, TENANT, right_world


def test_a_world_where_everything_arrived_once_passes() -> None:
    report = audit(right_world())
    assert report.failures == []
    assert report.numbers["delivered_once"] == 2 and report.numbers["expenses_synced"] == 1
    assert report.numbers["receipts_in_xero"] == 1 and report.numbers["jobs_complete"] == 1
    assert "PASS" in report.render("soak")


def _failing(facts: Facts) -> dict[str, int]:
    report = audit(facts)
    assert report.failures, "the planted fault went unnoticed"
    assert "FAIL" in report.render("soak")
    return {key: n for key, n in report.numbers.items() if n and key in _MUST_BE_ZERO}


_MUST_BE_ZERO = {"unlinked", "lines_missing", "lines_duplicated", "lines_stray", "balance_breaks",
                 "expenses_unrecorded", "expenses_stale", "expenses_lost", "expenses_duplicated",
                 "expenses_unexplained", "expenses_stuck", "receipts_missing", "receipts_duplicated", "jobs_stuck",
                 "dead_letters_unexplained", "leftovers"}


def test_a_statement_line_posted_twice_is_a_duplicate() -> None:
    facts = right_world()
    facts.lines.append(Line(TENANT, FEED_CONNECTION, "t-out"))
    assert _failing(facts) == {"lines_duplicated": 1}


def test_a_statement_line_never_delivered_is_missing() -> None:
    facts = right_world()
    facts.lines.pop()
    assert _failing(facts) == {"lines_missing": 1}


def test_a_line_in_xero_the_ledger_never_had_is_reported() -> None:
    facts = right_world()
    facts.lines.append(Line(TENANT, FEED_CONNECTION, "t-invented"))
    assert _failing(facts) == {"lines_stray": 1}


def test_lines_of_a_xero_bank_account_deleted_in_xero_are_not_counted_against_the_product() -> None:
    facts = right_world()
    facts.lines.append(Line(TENANT, "fc-deleted", "t-out"))  # its Xero account, and its lines, went in Xero
    assert audit(facts).failures == []


def test_a_statement_that_does_not_start_where_the_last_ended_is_a_balance_break() -> None:
    facts = right_world()
    txn = Txn("t-later", "biz-1", "acc-1", 3, "2026-03-02T03:00:00Z", "CREDIT", Decimal("5.00"), Decimal("65.00"))
    facts.transactions.append(txn)
    facts.lines.append(Line(TENANT, FEED_CONNECTION, "t-later"))
    facts.statements.append(Statement(TENANT, FEED_CONNECTION, "st-2", "DELIVERED", Decimal("55.00"),
                                      Decimal("65.00"), ("t-later",)))
    assert _failing(facts) == {"balance_breaks": 1}


def test_a_statement_that_ends_away_from_the_ledgers_balance_is_a_balance_break() -> None:
    facts = right_world()
    facts.statements[0] = replace(facts.statements[0], end_balance=Decimal("61.00"))
    assert _failing(facts) == {"balance_breaks": 1}


def test_a_spend_money_posted_twice_is_a_duplicate_even_when_the_product_recorded_one() -> None:
    facts = right_world()
    facts.spend_money.append(SpendMoney(TENANT, "bt-2", "t-out", "AUTHORISED", Decimal("40.00"),
                                        attachments=(("receipt.pdf", "sha-1"),)))
    found = _failing(facts)
    assert found["expenses_duplicated"] == 1


def test_a_spend_money_nobody_recorded_is_a_duplicate() -> None:
    facts = right_world()
    facts.spend_money.append(SpendMoney(TENANT, "bt-9", "t-unknown", "AUTHORISED", Decimal("9.00")))
    assert _failing(facts) == {"expenses_duplicated": 1}


def test_an_expense_shown_synced_that_xero_does_not_have_is_lost() -> None:
    facts = right_world()
    facts.spend_money.clear()
    assert _failing(facts) == {"expenses_lost": 1}


def test_an_outbound_payment_with_no_expense_record_is_reported() -> None:
    facts = right_world()
    facts.expenses.clear()
    facts.spend_money.clear()
    assert _failing(facts) == {"expenses_unrecorded": 1}


def test_an_expense_left_being_synced_is_stuck_and_so_is_its_job() -> None:
    facts = right_world()
    facts.spend_money.clear()
    facts.expenses[0] = Expense("biz-1", "t-out", "QUEUED", job_id="job-1")
    facts.jobs[0] = Job("biz-1", "job-1", completed=False, dispatched=True)
    assert _failing(facts) == {"expenses_stuck": 1, "jobs_stuck": 1}


def test_a_sync_error_without_a_reason_is_reported_and_one_with_a_reason_is_not() -> None:
    facts = right_world()
    facts.spend_money.clear()
    facts.expenses[0] = Expense("biz-1", "t-out", "SYNC_ERROR", error_code="xero_unavailable", job_id="job-1")
    assert _failing(facts) == {"expenses_unexplained": 1}
    facts.expenses[0] = replace(facts.expenses[0], error_message="Xero did not answer.", error_action="Sync again.")
    report = audit(facts)
    assert report.failures == [] and report.numbers["expenses_sync_error"] == 1


def test_a_receipt_neither_in_xero_nor_refused_is_missing_and_one_refused_with_a_reason_is_not() -> None:
    facts = right_world()
    facts.spend_money[0] = replace(facts.spend_money[0], attachments=())
    assert _failing(facts) == {"receipts_missing": 1}
    facts.receipts_refused[("t-out", "att-1")] = "Xero refused the file: too large."
    report = audit(facts)
    assert report.failures == [] and report.numbers["receipts_refused"] == 1


def test_a_receipt_uploaded_twice_is_a_duplicate() -> None:
    facts = right_world()
    facts.spend_money[0] = replace(facts.spend_money[0],
                                   attachments=(("receipt.pdf", "sha-1"), ("receipt-1.pdf", "sha-1")))
    assert _failing(facts) == {"receipts_duplicated": 1}


@pytest.mark.parametrize("reason", [None, "xero_unavailable: Xero answered 503"])
def test_a_dead_letter_is_explained_only_with_its_reason_and_its_work_settled(reason: str | None) -> None:
    facts = right_world()
    letter = DeadLetter("ExpenseSyncDeadLetterQueue", "m-1",
                        {"kind": "spend_money_batch", "job_id": "job-1", "transaction_ids": ["t-out"]})
    facts.dead_letters.append(letter)
    if reason is None:
        assert _failing(facts) == {"dead_letters_unexplained": 1}
        return
    facts.failure_reasons["m-1"] = reason
    report = audit(facts)
    assert report.failures == [] and report.numbers["dead_letters"] == 1
    # while its expenses still wait on it, it is not settled
    facts.expenses[0] = Expense("biz-1", "t-out", "QUEUED", job_id="job-1")
    facts.spend_money.clear()
    assert _failing(facts)["dead_letters_unexplained"] == 1


def test_a_receipts_dead_letter_is_explained_only_when_each_of_its_receipts_is_in_xero_or_failed() -> None:
    # A receipts message that reached its dead-letter queue, with the product's reason for its last failure
    facts = right_world()
    facts.dead_letters.append(DeadLetter("AttachmentsDeadLetterQueue", "m-2",
                                         {"kind": "expense_attachments", "transaction_id": "t-out"}))
    facts.failure_reasons["m-2"] = "ProvisionedThroughputExceededException: throughput exceeded"
    assert audit(facts).failures == []  # its receipt is in Xero
    # whose receipt is neither in Xero nor failed with the way out: lost with it, not explained by it
    facts.spend_money[0] = replace(facts.spend_money[0], attachments=())
    assert _failing(facts) == {"receipts_missing": 1, "dead_letters_unexplained": 1}
    facts.expenses[0] = replace(facts.expenses[0], attachment_errors=(
        ("att-1", "Xero did not take the receipt, however often it was tried.", "Send the receipts again."),))
    assert audit(facts).failures == []


def test_work_left_queued_at_the_end_fails_the_soak() -> None:
    facts = right_world()
    facts.leftovers["FeedSyncQueue"] = 2
    assert _failing(facts) == {"leftovers": 2}


def test_an_expense_in_xero_with_another_amount_than_the_ledgers_is_reported() -> None:
    facts = right_world()
    facts.spend_money[0] = replace(facts.spend_money[0], total=Decimal("4.00"))
    assert _failing(facts) == {"expenses_stale": 1}
    # (unless the user edited it after sync, which the product shows as updated)
    facts.expenses[0] = replace(facts.expenses[0], updated=True)
    assert audit(facts).failures == []


def test_postings_of_an_account_whose_link_did_not_survive_are_reported_not_silently_skipped() -> None:
    facts = right_world()
    facts.feeds[0] = replace(facts.feeds[0], status="DISCONNECTED")
    found = _failing(facts)
    assert found["unlinked"] == 2
