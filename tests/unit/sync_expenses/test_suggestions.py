"""Payee normalisation, what a payee's history and rule suggest, and the precedence of values (pure)."""

from __future__ import annotations

import pytest

from tests.unit.sync_expenses.factories import ARCHIVED, NO_PAYMENTS, NORTH, REGION, TRAVEL, context, expense, payment
from xerosync.sync_expenses.models import Overrides, TrackingChoice
from xerosync.sync_expenses.payees import normalise_payee, rule_id
from xerosync.sync_expenses.presenter import expense_view
from xerosync.sync_expenses.suggestions import (
    HistoryEntry,
    PayeeRule,
    PayeeSummary,
    Thresholds,
    suggestion_for,
    with_suggestion,
)

OFFICE = "acc-404"


@pytest.mark.parametrize(("spelling", "normalised"), [
    ("Grab", "grab"),
    ("  GRAB  ", "grab"),
    ("GRAB* Grab", "grab"),
    ("GRAB*GRAB", "grab"),
    ("GRAB*", "grab"),  # a prefix alone is the payee
    ("SQ *Blue Bottle Coffee", "blue bottle coffee"),
    ("PAYPAL *FIGMA", "figma"),
    ("Google Asia Pacific Pte. Ltd.", "google asia pacific"),
    ("GOOGLE ASIA PACIFIC PTE LTD", "google asia pacific"),
    ("Baker & Partners LLP", "baker & partners"),
    ("Lee & Co", "lee"),
    ("Co", "co"),  # a legal form alone is the payee
    ("Starbucks Coffee #1234", "starbucks coffee"),
    ("\uff33\uff54\uff41\uff52\uff42\uff55\uff43\uff4b\uff53\u3000Coffee", "starbucks coffee"),  # wide
    ("Taobao Seller 3321", "taobao seller 3321"),  # digits that name the seller stay
    ("深圳光明电子有限公司", "深圳光明电子"),
    ("得力文具 (深圳)", "得力文具 深圳"),
    ("", ""),
    ("  ***  ", ""),
])
def test_payee_spellings_normalise_to_one_payee(spelling: str, normalised: str) -> None:
    assert normalise_payee(spelling) == normalised


def test_different_payees_stay_different_and_rule_ids_are_stable() -> None:
    assert normalise_payee("Grab") != normalise_payee("Grabbit Ltd")
    assert rule_id("grab") == rule_id(normalise_payee("GRAB* Grab")) and rule_id("grab").startswith("pr_")
    assert rule_id("grab") != rule_id("grabbit")


def _history(*accounts: str, tax: str = "INPUT", tracking: bool = False) -> list[HistoryEntry]:
    return [HistoryEntry(transaction_id=f"txn_{n}", posted_at=f"2026-11-{20 - n:02d}T00:00:00Z",
                         xero_account_id=account, tax_type=tax,
                         tracking=[TrackingChoice(tracking_category_id=REGION, tracking_option_id=NORTH)]
                         if tracking else [])
            for n, account in enumerate(accounts)]


def _summary(*accounts: str, rule: PayeeRule | None = None, version: int = 3, **kwargs: bool) -> PayeeSummary:
    return PayeeSummary(business_id="biz_1", payee_key="harbour taxi", payee="Harbour Taxi",
                        history=_history(*accounts, **kwargs), rule=rule, version=version)


def test_history_suggests_only_when_consistent_enough() -> None:
    # Too little history: nothing learned
    assert suggestion_for(_summary(TRAVEL, TRAVEL)).xero_account_id is None
    # Enough, and agreeing: the account, with the tax rate and tracking those expenses had
    learned = suggestion_for(_summary(TRAVEL, TRAVEL, TRAVEL, tracking=True))
    assert (learned.xero_account_id, learned.account_source, learned.agreeing, learned.considered) == (
        TRAVEL, "history", 3, 3)
    assert learned.tax_type == "INPUT" and learned.tracking == [
        TrackingChoice(tracking_category_id=REGION, tracking_option_id=NORTH)]
    # Split between two accounts: no suggestion (3 of 5 is below the 80% share)
    assert suggestion_for(_summary(TRAVEL, OFFICE, TRAVEL, OFFICE, TRAVEL)).xero_account_id is None
    # 4 of 5 agree: suggested; a looser threshold suggests more
    assert suggestion_for(_summary(TRAVEL, TRAVEL, OFFICE, TRAVEL, TRAVEL)).agreeing == 4
    loose = Thresholds(min_history=1, min_share=0.5)
    assert suggestion_for(_summary(TRAVEL, OFFICE, TRAVEL), loose).xero_account_id == TRAVEL


def test_a_payee_recoded_for_good_stops_the_old_suggestion_at_once() -> None:
    # The newest expense went to OFFICE: nine of ten still say TRAVEL, but nothing is suggested until they agree
    assert suggestion_for(_summary(OFFICE, *([TRAVEL] * 9))).xero_account_id is None
    assert suggestion_for(_summary(*([OFFICE] * 8), TRAVEL, TRAVEL)).xero_account_id == OFFICE


def test_only_the_most_recent_window_counts() -> None:
    summary = _summary(*([OFFICE] * 10 + [TRAVEL] * 10))  # the newest ten went to OFFICE
    assert suggestion_for(summary).xero_account_id == OFFICE


def test_a_rule_wins_field_by_field_over_the_history() -> None:
    rule = PayeeRule(xero_account_id=OFFICE, changed_by="u_1", changed_at="2026-11-20T00:00:00Z")
    suggested = suggestion_for(_summary(TRAVEL, TRAVEL, TRAVEL, tracking=True, rule=rule))
    assert (suggested.xero_account_id, suggested.account_source) == (OFFICE, "rule")
    # what the history learned with another account does not go with the rule's
    assert suggested.tax_type is None and suggested.tracking is None
    tax_only = PayeeRule(tax_type="NONE", changed_by="u_1", changed_at="2026-11-20T00:00:00Z")
    suggested = suggestion_for(_summary(TRAVEL, TRAVEL, TRAVEL, rule=tax_only))
    assert (suggested.xero_account_id, suggested.account_source) == (TRAVEL, "history")
    assert (suggested.tax_type, suggested.tax_source) == ("NONE", "rule")


def test_precedence_expense_then_rule_then_history_then_mapping() -> None:
    mapped = context(mapped={"travel": TRAVEL})
    plain = expense()
    assert mapped.resolve(plain).account_source == "mapping"
    learned = with_suggestion(plain, _summary(OFFICE, OFFICE, OFFICE, tax="NONE"))
    resolved = mapped.resolve(learned)
    assert (resolved.xero_account_id, resolved.account_source) == (OFFICE, "history")
    assert (resolved.tax_type, resolved.tax_source) == ("NONE", "history")
    rule = PayeeRule(xero_account_id=TRAVEL, changed_by="u_1", changed_at="2026-11-20T00:00:00Z")
    ruled = with_suggestion(learned, _summary(OFFICE, OFFICE, OFFICE, rule=rule, version=4))
    resolved = mapped.resolve(ruled)
    assert (resolved.xero_account_id, resolved.account_source) == (TRAVEL, "rule")
    assert (resolved.tax_type, resolved.tax_source) == ("INPUT", "account")  # the rule's account's own default
    own = ruled.model_copy(update={"overrides": Overrides(xero_account_id=OFFICE, tax_type="INPUT", tracking=[])})
    resolved = mapped.resolve(own)
    assert (resolved.account_source, resolved.tax_source, resolved.tracking) == ("expense", "expense", [])


def test_history_learned_under_one_bank_category_does_not_follow_a_payment_of_another() -> None:
    mapped = context(mapped={"travel": TRAVEL, "software": OFFICE})
    history = [e.model_copy(update={"category": "travel"}) for e in _history(OFFICE, OFFICE, OFFICE)]
    summary = _summary().model_copy(update={"history": history})
    learned = with_suggestion(expense(), summary)
    assert learned.suggestion is not None and learned.suggestion.category == "travel"
    assert mapped.resolve(learned).account_source == "history"
    # recategorised in the bank: the new category's mapping; without a category: the history still helps
    recategorised = learned.model_copy(update={"payment": payment(spend_category="software")})
    assert mapped.resolve(recategorised).account_source == "mapping"
    uncategorised = learned.model_copy(update={"payment": payment(spend_category=None)})
    assert mapped.resolve(uncategorised).account_source == "history"
    # a rule is the user's own: it applies whatever the category
    rule = PayeeRule(xero_account_id=TRAVEL, changed_by="u_1", changed_at="2026-11-20T00:00:00Z")
    ruled = with_suggestion(recategorised, summary.model_copy(update={"rule": rule, "version": 9}))
    assert mapped.resolve(ruled).account_source == "rule"


def test_an_archived_or_payment_less_account_is_never_suggested() -> None:
    mapped = context(mapped={"travel": TRAVEL})
    for account in (ARCHIVED, NO_PAYMENTS, "acc-deleted"):
        learned = with_suggestion(expense(), _summary(account, account, account))
        resolved = mapped.resolve(learned)
        assert (resolved.xero_account_id, resolved.account_source) == (TRAVEL, "mapping")
        assert resolved.tax_source == "account"  # the learned tax went with the learned account
        view = expense_view(learned, mapped, {})
        assert view.xero_account is not None and view.xero_account.source == "mapping" and not view.has_suggestions


def test_a_rule_naming_an_archived_account_is_kept_and_shown_as_a_problem() -> None:
    rule = PayeeRule(xero_account_id=ARCHIVED, changed_by="u_1", changed_at="2026-11-20T00:00:00Z")
    ruled = with_suggestion(expense(), _summary(rule=rule))
    view = expense_view(ruled, context(mapped={"travel": TRAVEL}), {})
    assert view.xero_account is not None and view.xero_account.source == "rule"
    assert [p.code for p in view.problems] == ["account_archived"]


def test_suggestions_only_move_forward_and_follow_the_payee() -> None:
    newer = with_suggestion(expense(), _summary(OFFICE, OFFICE, OFFICE, version=5))
    older = _summary(TRAVEL, TRAVEL, TRAVEL, version=4)
    assert with_suggestion(newer, older) is newer  # a writer that read an older summary changes nothing
    other_payee = newer.model_copy(update={"payment": payment(payee="Someone Else")})
    assert with_suggestion(other_payee, None).suggestion is None


def test_the_view_says_where_each_value_comes_from() -> None:
    mapped = context(mapped={"travel": TRAVEL})
    summary = _summary(OFFICE, OFFICE, OFFICE, OFFICE, OFFICE, OFFICE, TRAVEL, tax="NONE", tracking=True)
    summary = summary.model_copy(update={"payee": "Grab"})
    view = expense_view(with_suggestion(expense(), summary), mapped, {})
    assert [(s.field, s.source, s.explanation) for s in view.sources] == [
        ("xero_account", "history", "from 6 of your last 7 expenses at Grab"),
        ("tax_rate", "history", "from 6 of your last 7 expenses at Grab"),
        ("tracking", "history", "from 6 of your last 7 expenses at Grab")]
    assert view.has_suggestions
    assert [(s.field, s.explanation) for s in expense_view(expense(), mapped, {}).sources] == [
        ("xero_account", "from the mapping"), ("tax_rate", "the account's default tax rate")]
