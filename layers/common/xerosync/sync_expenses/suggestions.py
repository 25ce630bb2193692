"""What a payee's history and a user's per-payee rule suggest for an expense (pure).

One summary per business and normalised payee (``sync_expenses.payees``) holds the last synced expenses of that
payee with the Xero account, tax rate and tracking each was synced with, and the rule a user saved for the
payee, if any. The worker adds to the history when a sync ends (a resync after an edit replaces the expense's
entry, so edits teach); the API changes the rule. Each change bumps the summary's ``version``, and the
suggestion it gives is written on the payee's pending expenses with that version (``suggestion_store``), so
lists read suggestions with the expenses and never compute them (docs/sync-expenses.md, "Suggestions and
per-payee rules").

A learned value is suggested only when the history is consistent enough: at least ``MIN_HISTORY`` synced
expenses among the last ``WINDOW``, and at least ``MIN_SHARE`` of them agreeing on the account (the tax rate and
tracking are learned from the expenses that agree on the account, by the same share).
"""

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from xerosync.sync_expenses.models import Coding, ExpenseRecord, Record, Suggestion, TrackingChoice
from xerosync.sync_expenses.payees import normalise_payee

# The thresholds (chosen with benchmarks/suggestions.py; docs/sync-expenses.md states the figures).
MIN_HISTORY = 3
MIN_SHARE = 0.8
WINDOW = 10
RECENT = 1
KEPT = 20  # history entries a summary keeps (newest payments first)

SuggestionSource = Literal["rule", "history"]


@dataclass(frozen=True)
class Thresholds:
    min_history: int = MIN_HISTORY
    min_share: float = MIN_SHARE
    window: int = WINDOW
    recent: int = RECENT  # the newest this many must all agree (a payee recoded for good stops the old suggestion)


DEFAULT = Thresholds()


class HistoryEntry(Coding):
    transaction_id: str
    posted_at: str
    category: str | None = None  # the bank's spend category when it was synced


class PayeeRule(Record):
    """A user's own choice for every expense of a payee (below the expense's own values, above the history)."""

    xero_account_id: str | None = None
    tax_type: str | None = None
    tracking: list[TrackingChoice] | None = None
    changed_by: str
    changed_at: str


class PayeeSummary(Record):
    business_id: str
    payee_key: str  # the normalised payee
    payee: str = ""  # the payee as first synced, for people
    history: list[HistoryEntry] = Field(default_factory=list)  # newest payment first, at most KEPT
    rule: PayeeRule | None = None
    version: int = 0

    def learned(self, entries: list[HistoryEntry]) -> "PayeeSummary":
        """The summary with these synced expenses in its history (an expense already there is replaced)."""
        fresh = {e.transaction_id: e for e in entries}
        kept = [e for e in self.history if e.transaction_id not in fresh] + list(fresh.values())
        kept.sort(key=lambda e: (e.posted_at, e.transaction_id), reverse=True)
        return self.model_copy(update={"history": kept[:KEPT]})


def entry_of(expense: ExpenseRecord) -> HistoryEntry | None:
    """What a synced expense teaches: the coding its Spend Money was sent with."""
    link = expense.spend_money
    if link is None or link.coding is None or not link.coding.xero_account_id:
        return None
    return HistoryEntry(transaction_id=expense.transaction_id, posted_at=expense.payment.posted_at,
                        category=expense.payment.spend_category, **link.coding.model_dump())



def _agreeing(values: list[object], share: float, at_least: int) -> tuple[object, int] | None:
    if len(values) < at_least:
        return None
    value, count = Counter(values).most_common(1)[0]
    return (value, count) if count >= at_least and count / len(values) >= share else None


def suggestion_for(summary: PayeeSummary, thresholds: Thresholds = DEFAULT) -> Suggestion:
    """The rule's values, then what the history agrees on, field by field (``version`` says which summary).
    The history speaks when its recent expenses agree, the newest among them."""
    window = summary.history[:thresholds.window]
    learned = Suggestion(payee_key=summary.payee_key, payee=summary.payee, summary_version=summary.version,
                         considered=len(window))
    account = _agreeing([e.xero_account_id for e in window], thresholds.min_share, thresholds.min_history)
    if account is not None and any(e.xero_account_id != account[0] for e in window[:thresholds.recent]):
        account = None
    if account is not None:
        same = [e for e in window if e.xero_account_id == account[0]]
        categories = Counter(e.category for e in same if e.category).most_common(1)
        learned = learned.model_copy(update={"xero_account_id": account[0], "account_source": "history",
                                             "agreeing": account[1],
                                             "category": categories[0][0] if categories else None})
        tax = _agreeing([e.tax_type for e in same], thresholds.min_share, 1)
        if tax is not None and tax[0]:
            learned = learned.model_copy(update={"tax_type": tax[0], "tax_source": "history"})
        tracking = _agreeing([e.tracking_key() for e in same], thresholds.min_share, 1)
        if tracking is not None and tracking[0]:
            pairs: tuple[tuple[str, str], ...] = tracking[0]  # type: ignore[assignment]
            learned = learned.model_copy(update={
                "tracking": [TrackingChoice(tracking_category_id=c, tracking_option_id=o) for c, o in pairs],
                "tracking_source": "history"})
    rule = summary.rule
    if rule is None:
        return learned
    update: dict[str, object] = {}
    if rule.xero_account_id:
        update |= {"xero_account_id": rule.xero_account_id, "account_source": "rule"}
        if rule.xero_account_id != learned.xero_account_id:
            # What the history learned with another account does not go with the rule's.
            update |= {"tax_type": None, "tax_source": None, "tracking": None, "tracking_source": None}
    if rule.tax_type:
        update |= {"tax_type": rule.tax_type, "tax_source": "rule"}
    if rule.tracking is not None:
        update |= {"tracking": list(rule.tracking), "tracking_source": "rule"}
    return learned.model_copy(update=update)


def with_suggestion(expense: ExpenseRecord, summary: PayeeSummary | None) -> ExpenseRecord:
    """The expense carrying what its payee's summary suggests; the same object when that changes nothing (a
    suggestion from the same or a newer summary is kept: summaries only move forward)."""
    key = normalise_payee(expense.payment.payee)
    current = expense.suggestion
    if summary is None or summary.payee_key != key:
        if current is not None and current.payee_key != key:
            return expense.model_copy(update={"suggestion": None})  # the payee changed in the ledger
        return expense
    if current is not None and current.payee_key == key and current.summary_version >= summary.version:
        return expense
    suggestion = suggestion_for(summary)
    if suggestion == current:
        return expense
    return expense.model_copy(update={"suggestion": suggestion})


def explanation(source: str, suggestion: Suggestion | None) -> str:
    """Where a value came from, in the words the Pending Sync tab shows."""
    payee = suggestion.payee if suggestion is not None and suggestion.payee else "this payee"
    if source == "history" and suggestion is not None:
        if suggestion.agreeing == suggestion.considered:
            return f"from your last {suggestion.agreeing} expenses at {payee}"
        return f"from {suggestion.agreeing} of your last {suggestion.considered} expenses at {payee}"
    return {
        "expense": "chosen for this expense",
        "rule": f"from your rule for {payee}",
        "mapping": "from the mapping",
        "account": "the account's default tax rate",
    }.get(source, source)
