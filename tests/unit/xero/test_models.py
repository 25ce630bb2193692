"""Xero's shapes: /Date()/ dates, Decimal money written as exact JSON numbers, deterministic keys."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from xerosync.xero.bank_feeds import Statement
from xerosync.xero.expense_models import AccountRef, BankTransaction, LineItem
from xerosync.xero.models import Organisation, money_json
from xerosync.xero.session import idempotency_key


def test_xero_dates_parse_from_both_forms() -> None:
    org = Organisation.model_validate({"OrganisationID": "o", "Name": "n", "BaseCurrency": "HKD",
                                       "PeriodLockDate": "/Date(1767139200000+0000)/",
                                       "EndOfYearLockDate": "2025-12-31T00:00:00"})
    assert org.period_lock_date == date(2025, 12, 31) and org.end_of_year_lock_date == date(2025, 12, 31)
    bt = BankTransaction.model_validate({"Type": "SPEND", "BankAccount": {"AccountID": "a"}, "LineItems": [],
                                         "UpdatedDateUTC": "/Date(1573755038314+0000)/"})
    assert bt.updated_date_utc == datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)


def test_money_is_sent_as_an_exact_json_number_and_refused_when_it_would_round() -> None:
    assert money_json(Decimal("1250.00")) == 1250.0
    assert json.dumps(money_json(Decimal("98765432109.12"))) == "98765432109.12"
    with pytest.raises(ValueError, match="rounding"):
        money_json(Decimal("12345678901234567.89"))


def test_a_bank_transaction_serialises_with_xeros_names_and_without_read_only_fields() -> None:
    bt = BankTransaction(type="SPEND", bank_account=AccountRef(account_id="acc"), date=date(2026, 11, 2),
                         line_items=[LineItem(description="Taxi", unit_amount=Decimal("12.30"), account_code="493")],
                         url="https://bank/t/1", total=Decimal("12.30"), status_attribute_string="OK")
    sent = bt.to_xero()
    assert sent["Type"] == "SPEND" and sent["BankAccount"] == {"AccountID": "acc"} and sent["Date"] == "2026-11-02"
    assert sent["LineItems"][0] == {"Description": "Taxi", "Quantity": 1.0, "UnitAmount": 12.3, "AccountCode": "493",
                                    "Tracking": []}
    assert "Total" not in sent and "StatusAttributeString" not in sent


def test_statement_uses_bank_feeds_camel_case() -> None:
    statement = Statement.model_validate({"feedConnectionId": "f", "startDate": "2026-11-01",
                                          "startBalance": {"amount": 10, "creditDebitIndicator": "CREDIT"}})
    assert statement.to_xero()["feedConnectionId"] == "f"
    assert statement.to_xero()["startBalance"] == {"amount": 10.0, "creditDebitIndicator": "CREDIT"}


def test_idempotency_keys_are_deterministic_distinct_and_within_xeros_length() -> None:
    first = idempotency_key("tenant-1", "spend", "job-1", 1)
    assert first == idempotency_key("tenant-1", "spend", "job-1", 1)
    assert first != idempotency_key("tenant-1", "spend", "job-1", 2)
    assert first != idempotency_key("tenant-2", "spend", "job-1", 1)
    assert len(first) <= 128
