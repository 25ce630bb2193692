"""What an expense resolves to, and every problem found before sending, without a Xero call."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.sync_expenses.factories import (
    ARCHIVED,
    EAST,
    NO_PAYMENTS,
    REGION,
    TRAVEL,
    context,
    expense,
    payment,
    reference,
    tracking,
)
from xerosync.sync_expenses.models import Overrides
from xerosync.sync_expenses.reference_data import ReferenceData
from xerosync.sync_expenses.validation import problems_for_sync


def _codes(record: object, **kwargs: object) -> list[str]:
    return [p.code for p in problems_for_sync(record, context(**kwargs))]  # type: ignore[arg-type]


def test_the_account_comes_from_the_expense_then_the_mapping_and_the_tax_from_the_expense_then_the_account() -> None:
    mapped = context().resolve(expense())
    assert (mapped.xero_account_id, mapped.account_source, mapped.tax_type, mapped.tax_source) == (
        TRAVEL, "mapping", "INPUT", "account")
    own = context().resolve(expense(Overrides(xero_account_id="acc-404", tax_type="NONE")))
    assert (own.xero_account_id, own.account_source, own.tax_type, own.tax_source) == ("acc-404", "expense", "NONE",
                                                                                      "expense")
    unmapped = context(mapped={}).resolve(expense())
    assert unmapped.xero_account_id is None and unmapped.tax_type is None


def test_contact_description_and_reference_fall_back_sensibly() -> None:
    spaced = context().resolve(expense(payment=payment(payee="  Harbour   Taxi ", description="", reference="")))
    assert (spaced.contact_name, spaced.description, spaced.reference) == ("Harbour Taxi", "Harbour Taxi", "")
    fee = context().resolve(expense(payment=payment(payee="", type="FEE", description="")))
    assert fee.contact_name == "Bank" and fee.description == "Bank"
    transfer = context().resolve(expense(payment=payment(payee="", description="", reference="")))
    assert transfer.contact_name == "" and transfer.description == "Outbound payment"
    chosen = context().resolve(expense(Overrides(contact_name="Acme", description="Chairs", reference="")))
    assert (chosen.contact_name, chosen.description, chosen.reference) == ("Acme", "Chairs", "")


def test_a_valid_expense_has_no_problem() -> None:
    assert _codes(expense()) == []
    assert _codes(expense(Overrides(tracking=[tracking()]))) == []


def test_every_reason_xero_would_refuse_is_found_before_sending() -> None:
    assert _codes(expense(), mapped={}) == ["no_account"]
    assert _codes(expense(payment=payment(spend_category=None)), mapped={}) == ["no_account"]
    assert _codes(expense(Overrides(xero_account_id=ARCHIVED))) == ["account_archived"]
    assert _codes(expense(Overrides(xero_account_id=NO_PAYMENTS))) == ["account_payments_disabled"]
    assert _codes(expense(Overrides(xero_account_id="acc-unknown"))) == ["account_not_found"]
    assert _codes(expense(Overrides(xero_account_id="bank-hkd"))) == ["account_not_found"]
    assert _codes(expense(Overrides(tax_type="OUTPUT"))) == ["tax_rate_not_for_expenses"]
    assert _codes(expense(Overrides(tax_type="GST15"))) == ["tax_rate_not_found"]
    assert _codes(expense(Overrides(xero_account_id="acc-404"))) == ["tax_rate_archived"]  # the account's default
    assert _codes(expense(Overrides(tracking=[tracking(option=EAST)]))) == ["tracking_option_archived"]
    assert _codes(expense(Overrides(tracking=[tracking(option="opt-x")]))) == ["tracking_option_not_found"]
    assert _codes(expense(Overrides(tracking=[tracking("cat-legacy", "opt-alpha")]))) == ["tracking_category_archived"]
    assert _codes(expense(Overrides(tracking=[tracking("cat-gone", "o")]))) == ["tracking_category_not_found"]
    assert _codes(expense(Overrides(tracking=[tracking(), tracking()]))) == ["tracking_category_repeated"]
    assert _codes(expense(Overrides(tracking=[tracking(), tracking("a", "b"), tracking("c", "d")]))) == [
        "tracking_too_many"]
    assert _codes(expense(payment=payment(currency="EUR"))) == ["currency_mismatch", "currency_not_in_organisation"]
    assert _codes(expense(payment=payment(payee=""))) == ["no_contact"]
    assert _codes(expense(payment=payment(amount=Decimal("0")))) == ["amount_not_positive"]
    assert _codes(expense(), linked=False) == ["account_not_linked"]
    locked = reference(period_lock_date="2026-11-20")  # the payment's booking day
    assert _codes(expense(), ref=locked) == ["date_locked"]
    archived_bank = reference(accounts=[a.model_copy(update={"status": "ARCHIVED"}) if a.is_bank else a
                                        for a in reference().accounts])
    assert _codes(expense(), ref=archived_bank) == ["xero_bank_account_unavailable"]


def test_messages_say_what_is_wrong_and_what_to_do() -> None:
    [archived] = problems_for_sync(expense(Overrides(xero_account_id=ARCHIVED)), context())
    assert archived.message == "The Xero account 419 Legacy Consulting is archived in Xero."
    [missing] = problems_for_sync(expense(Overrides(xero_account_id=NO_PAYMENTS)), context())
    assert 'tick "Enable payments to this account"' in (missing.action or "")
    [option] = problems_for_sync(expense(Overrides(tracking=[tracking(option=EAST)])), context())
    assert option.message == "The tracking option 'East' of 'Region' is archived in Xero."
    [unmapped] = problems_for_sync(expense(), context(mapped={}))
    assert "category 'Travel' is not mapped" in unmapped.message
    [currency] = [p for p in problems_for_sync(expense(payment=payment(currency="EUR")), context())
                  if p.code == "currency_not_in_organisation"]
    assert currency.message == "Your Xero organisation does not use EUR."


def test_without_reference_data_only_what_needs_none_is_checked() -> None:
    assert _codes(expense(Overrides(xero_account_id=ARCHIVED)), no_reference=True) == []
    assert _codes(expense(payment=payment(payee="")), mapped={}, no_reference=True) == ["no_account", "no_contact"]


def test_the_reference_data_offers_what_expenses_may_use() -> None:
    data: ReferenceData = reference()
    assert [a.code for a in data.offered_accounts()] == ["404", "493"]
    assert [t.tax_type for t in data.offered_tax_rates()] == ["NONE", "INPUT"]
    [region] = data.active_tracking()
    assert region.tracking_category_id == REGION and [o.name for o in region.options] == ["North"]
    assert data.uses_currency("hkd") and data.uses_currency("SGD") and not data.uses_currency("EUR")
