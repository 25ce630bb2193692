"""The statement builder: balances that add up, signs, splitting to Xero's limits, the one-year rule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tests.unit.auto_sync.fakes import NOW, FakeLedger
from xerosync.auto_sync.statements import (
    XERO_MAX_REQUEST_BYTES,
    BookingCalendar,
    PlannedStatement,
    StatementBuilder,
    StatementLimits,
    pack_requests,
    signed,
)
from xerosync.xero.bank_feeds import CreditDebit

TODAY = date(2026, 11, 20)


def _adds_up(statement: PlannedStatement) -> bool:
    movement = sum((line.amount if line.credit_debit_indicator == CreditDebit.CREDIT else -line.amount
                    for line in statement.statement.statement_lines), Decimal(0))
    return statement.start_balance + movement == statement.end_balance


def test_a_statement_starts_at_the_balance_before_its_first_line_and_adds_up_to_the_last() -> None:
    # Given an account with money in and money out
    ledger = FakeLedger()
    ledger.post("a", "1000.00", "CREDIT")
    ledger.post("a", "250.50", "DEBIT")
    ledger.post("a", "99.99", "CREDIT")
    # When the lines after the first are planned
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a", after_sequence=1), today=TODAY)
    # Then one statement covers them, from the balance before the first to the balance after the last
    [statement] = plan.statements
    assert (statement.first_sequence, statement.last_sequence) == (2, 3)
    assert statement.start_balance == Decimal("1000.00") and statement.end_balance == Decimal("849.49")
    assert _adds_up(statement)


def test_amounts_are_unsigned_and_the_direction_is_the_indicator_even_for_an_overdrawn_balance() -> None:
    ledger = FakeLedger()
    ledger.post("a", "100.00", "CREDIT")
    ledger.post("a", "300.00", "DEBIT")  # overdrawn: -200
    [statement] = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY).statements
    lines = statement.statement.statement_lines
    assert [(line.amount, line.credit_debit_indicator) for line in lines] == [
        (Decimal("100.00"), CreditDebit.CREDIT), (Decimal("300.00"), CreditDebit.DEBIT)]
    end = statement.statement.end_balance
    assert end is not None and end.amount == Decimal("200.00") and end.credit_debit_indicator == CreditDebit.DEBIT
    assert signed(end) == Decimal("-200.00") and _adds_up(statement)


def test_each_line_carries_the_transaction_id_date_payee_reference_description_and_type() -> None:
    ledger = FakeLedger()
    # 20:30 UTC is 04:30 the next day in Hong Kong: the booking day the customer sees
    ledger.post("a", "12.30", "DEBIT", at=datetime(2026, 11, 18, 20, 30, tzinfo=UTC), payee="Harbour Taxi",
                reference="INV-1", description="Airport run", type="CARD")
    ledger.post("a", "5.00", "DEBIT", type="DIRECT_DEBIT", payee="Power Co")  # no description: falls back
    [statement] = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY).statements
    first, second = statement.statement.statement_lines
    assert first.transaction_id == "txn_a_1" and first.posted_date == date(2026, 11, 19)
    assert (first.payee_name, first.reference, first.description, first.transaction_type) == (
        "Harbour Taxi", "INV-1", "Airport run", "Card payment")
    assert second.description == "Power Co" and second.transaction_type == "Direct debit" and second.reference is None
    assert statement.start_date == date(2026, 11, 19) and statement.end_date == date(2026, 11, 19)


def test_long_texts_are_cut_to_xeros_field_limits() -> None:
    ledger = FakeLedger()
    ledger.post("a", "1.00", "DEBIT", description="说明" * 1500, payee="P" * 300, reference="R" * 300)
    [statement] = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY).statements
    line = statement.statement.statement_lines[0]
    assert line.description is not None and len(line.description) == 2000
    assert len(line.payee_name or "") == 255 and len(line.reference or "") == 255


def test_more_lines_than_a_statement_takes_split_into_statements_whose_balances_continue() -> None:
    # Given 2,500 new transactions
    ledger = FakeLedger()
    for n in range(2500):
        ledger.post("a", f"{n % 97 + 1}.25", "CREDIT" if n % 3 else "DEBIT")
    # When they are planned with Xero's 1,000-line statements
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY)
    # Then three statements, each adding up, each starting where the previous ended, none skipping a line
    assert [s.line_count for s in plan.statements] == [1000, 1000, 500]
    assert all(_adds_up(s) for s in plan.statements)
    for before, after in zip(plan.statements, plan.statements[1:], strict=False):
        assert after.start_balance == before.end_balance and after.first_sequence == before.last_sequence + 1
    assert plan.statements[-1].end_balance == ledger.accounts["a"][-1].running_balance


def test_a_statement_never_outgrows_the_request_size_xero_accepts() -> None:
    # Given lines whose descriptions are long and non-ASCII (six bytes a character once escaped in JSON)
    ledger = FakeLedger()
    for _ in range(600):
        ledger.post("a", "1.00", "CREDIT", description="付款" * 1000)
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY)
    # Then each statement is split by size, and each fits a request on its own, measured as sent
    assert len(plan.statements) > 1 and sum(s.line_count for s in plan.statements) == 600
    for statement in plan.statements:
        body = json.dumps({"items": [statement.statement.to_xero()]}, separators=(",", ":"))
        assert len(body) == statement.size_bytes + len('{"items":[]}') <= XERO_MAX_REQUEST_BYTES


def test_lines_older_than_xeros_one_year_window_are_skipped_and_the_first_statement_starts_after_them() -> None:
    # Given a history starting 400 days ago
    ledger = FakeLedger()
    start = NOW - timedelta(days=400)
    for day in range(0, 400, 10):
        ledger.post("a", "10.00", "CREDIT", at=start + timedelta(days=day))
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY)
    # Then nothing older than 364 days is sent (a day of margin for the organisation's time zone)
    earliest = TODAY - timedelta(days=364)
    first = plan.statements[0]
    assert first.start_date >= earliest and plan.skipped > 0
    skipped_sequence, skipped_balance = plan.skipped_through or (0, Decimal(0))
    assert first.first_sequence == skipped_sequence + 1
    assert first.start_balance == skipped_balance == Decimal(10 * plan.skipped)


def test_the_backfill_start_date_is_honoured_on_the_booking_day() -> None:
    ledger = FakeLedger()
    ledger.post("a", "1.00", at=datetime(2026, 11, 9, 15, 0, tzinfo=UTC))  # 23:00 on the 9th in Hong Kong
    ledger.post("a", "2.00", at=datetime(2026, 11, 9, 17, 0, tzinfo=UTC))  # 01:00 on the 10th in Hong Kong
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY, not_before=date(2026, 11, 10))
    assert [s.first_sequence for s in plan.statements] == [2] and plan.skipped == 1


def test_a_line_dated_after_today_waits_for_a_later_run() -> None:
    ledger = FakeLedger()
    ledger.post("a", "1.00", at=NOW)
    ledger.post("a", "2.00", at=NOW + timedelta(days=1))
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY)
    assert [s.last_sequence for s in plan.statements] == [1] and not plan.more


def test_a_read_capped_by_max_lines_says_there_is_more() -> None:
    ledger = FakeLedger()
    for _ in range(30):
        ledger.post("a", "1.00")
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY, max_lines=25)
    assert plan.line_count == 25 and plan.more


def test_a_break_in_the_ledgers_running_balance_closes_the_statement_so_each_still_adds_up() -> None:
    ledger = FakeLedger()
    ledger.post("a", "10.00")
    ledger.post("a", "10.00")
    broken = ledger.accounts["a"][1]
    ledger.accounts["a"][1] = broken.model_copy(update={"running_balance": Decimal("25.00")})
    ledger.post("a", "5.00")
    plan = StatementBuilder().plan("fc", ledger.iter_transactions("a"), today=TODAY)
    assert [(s.first_sequence, s.last_sequence) for s in plan.statements] == [(1, 1), (2, 3)]
    assert all(_adds_up(s) for s in plan.statements)


def test_requests_are_packed_in_order_within_the_byte_budget_and_statement_count() -> None:
    limits = StatementLimits(max_request_bytes=1000, max_statements_per_request=3)
    sizes = [400, 400, 300, 100, 100, 100, 100, 900]
    packed = pack_requests(list(range(len(sizes))), lambda i: sizes[i], limits)
    assert packed == [[0, 1], [2, 3, 4], [5, 6], [7]]
    assert [i for group in packed for i in group] == list(range(len(sizes)))


def test_the_booking_day_follows_the_configured_offset() -> None:
    moment = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
    assert BookingCalendar(480).day_of(moment) == date(2026, 11, 20)
    assert BookingCalendar(0).day_of(moment) == date(2026, 11, 19)
