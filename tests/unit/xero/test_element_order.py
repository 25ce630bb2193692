"""Xero's per-element answers are matched to what was sent by identity, not trusted to keep the order."""

from __future__ import annotations

import pytest

from xerosync.xero.errors import XeroError
from xerosync.xero.expense_models import BankTransaction
from xerosync.xero.session import in_order_of


def _spend(url: str | None, bank_transaction_id: str | None = None) -> BankTransaction:
    return BankTransaction.model_validate({"Type": "SPEND", "Url": url, "BankTransactionID": bank_transaction_id,
                                           "BankAccount": {"AccountID": "acc"}, "LineItems": []})


def test_answers_in_another_order_are_matched_by_their_marker() -> None:
    sent = [_spend("https://bank/t/1"), _spend("https://bank/t/2"), _spend("https://bank/t/3")]
    answered = [_spend("https://bank/t/3", "c"), _spend("https://bank/t/1", "a"), _spend("https://bank/t/2", "b")]
    ordered = in_order_of(sent, answered, lambda t: t.url)
    assert [t.bank_transaction_id for t in ordered] == ["a", "b", "c"]


def test_answers_without_the_marker_keep_the_order_xero_answered_in() -> None:
    sent = [_spend("https://bank/t/1"), _spend("https://bank/t/2")]
    answered = [_spend(None, "a"), _spend(None, "b")]
    assert [t.bank_transaction_id for t in in_order_of(sent, answered, lambda t: t.url)] == ["a", "b"]


def test_a_count_that_differs_is_an_error_not_a_guess() -> None:
    with pytest.raises(XeroError):
        in_order_of([_spend("https://bank/t/1"), _spend("https://bank/t/2")], [_spend(None, "a")], lambda t: t.url)
