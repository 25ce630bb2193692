"""Xero's where/order syntax, directly on the parser (no HTTP needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from emulators.xero.where import QueryError, compile_where, parse_order, sort_rows

FIELDS = frozenset(
    {"Type", "Status", "Date", "Total", "IsReconciled", "Reference", "Contact.ContactID", "Contact.Name"}
)
ROW: dict[str, Any] = {
    "Type": "SPEND",
    "Status": "AUTHORISED",
    "Date": date(2026, 2, 15),
    "Total": Decimal("120.50"),
    "IsReconciled": False,
    "Reference": "INV-001 taxi",
    "Contact.ContactID": "6e1e1a5c-3c8b-4f55-9f4b-2a4b7b1f0c11",
    "Contact.Name": "Acme Ltd",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Type=="SPEND"', True),
        ('Type == "spend"', True),  # strings compare without case
        ('Type!="SPEND"', False),
        ("Total > 100 && Total <= 120.50", True),
        ('Total >= 121 || Status=="AUTHORISED"', True),
        ('Type=="SPEND" AND Status=="DELETED"', False),
        ('Type=="RECEIVE" OR IsReconciled==false', True),
        ("Date >= DateTime(2026, 02, 15) && Date < DateTime(2026,2,16)", True),
        ("Date > DateTime(2026, 2, 15, 0, 0, 0)", False),
        ('Contact.ContactID==Guid("6E1E1A5C-3C8B-4F55-9F4B-2A4B7B1F0C11")', True),
        ('Reference.Contains("TAXI")', True),
        ('Reference.StartsWith("INV")', True),
        ('Reference.EndsWith("001")', False),
        ('!(Type=="SPEND")', False),
        ('NOT (Type=="RECEIVE")', True),
        ('(Type=="RECEIVE" || Total>100) && Contact.Name.StartsWith("acme")', True),
        ('Reference.ToLower()=="inv-001 taxi"', True),
        ('contact.name=="Acme Ltd"', True),  # field names ignore case too
        ('Reference=="say \\"hi\\""', False),
    ],
)
def test_given_an_expression_when_evaluated_then_it_matches_xeros_semantics(expression: str, expected: bool) -> None:
    assert compile_where(expression, FIELDS, "BankTransaction")(ROW) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('Colour=="RED"', "No property or field 'Colour' exists in type 'BankTransaction'"),
        ('Type=="SPEND" &&', "Syntax error"),
        ('Type=="SPEND"))', "Syntax error"),
        ("Date > DateTime(2026, 13, 1)", "month must be in 1..12"),
        ('Reference.Shout("x")', "No applicable method 'Shout' exists"),
        ("Type=='SPEND'", "Syntax error"),
    ],
)
def test_given_a_broken_expression_when_compiled_then_query_error(expression: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_where(expression, FIELDS, "BankTransaction")


def test_given_an_order_when_sorting_then_multi_key_with_direction() -> None:
    rows = [
        {"Type": "SPEND", "Total": Decimal(5)},
        {"Type": "RECEIVE", "Total": Decimal(7)},
        {"Type": "SPEND", "Total": Decimal(9)},
    ]
    keys = parse_order("Type ASC, Total DESC", FIELDS, "BankTransaction")
    assert keys == [("Type", False), ("Total", True)]
    assert [r["Total"] for r in sort_rows(rows, keys, lambda r: r)] == [Decimal(7), Decimal(9), Decimal(5)]


def test_given_a_datetime_field_when_compared_with_a_date_literal_then_timezone_aware() -> None:
    row = {"Date": datetime(2026, 2, 15, 10, 0, tzinfo=UTC)}
    assert compile_where("Date > DateTime(2026,2,15)", frozenset({"Date"}), "X")(row) is True


def test_given_an_unknown_order_field_then_query_error() -> None:
    with pytest.raises(QueryError, match="Colour"):
        parse_order("Colour DESC", FIELDS, "BankTransaction")
