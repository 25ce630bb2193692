"""Per-payee summaries in DynamoDB, and keeping each pending expense's suggestion current
(docs/sync-expenses.md, "Suggestions and per-payee rules").

A summary is one item per business and normalised payee (``BIZ#<business>`` / ``PAYEE#<digest>``), written whole
on a condition on its ``version``: two workers ending syncs of the same payee at once, or a worker and a user
saving a rule, each re-read and merge, and every change bumps the version. After a change, the payee's pending
expenses (the Pending Sync tab's index partition, filtered on the expense's ``payee_key``) get the new
suggestion with that version; an expense keeps a suggestion from a newer summary, so writers that finish in
another order than they started never put an older suggestion back.

When an expense arrives, its payee's summary is read (one GetItem) and the suggestion written with it; a
summary that changed meanwhile is read again after the write, so an expense made while its payee's history
changed is not left with the older suggestion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from boto3.dynamodb.conditions import Attr, Key

from xerosync.store.conditions import update_if
from xerosync.store.keys import business_pk, expense_list_gsi
from xerosync.store.queries import query_items
from xerosync.sync_expenses.models import ExpenseRecord, ExpenseStatus, ExpenseTab
from xerosync.sync_expenses.payees import KEY_LENGTH, normalise_payee, payee_digest
from xerosync.sync_expenses.store import ExpenseStore, StaleExpense, chunks, in_parallel, record_of
from xerosync.sync_expenses.suggestions import (
    HistoryEntry,
    PayeeRule,
    PayeeSummary,
    entry_of,
    suggestion_for,
    with_suggestion,
)

PAYEE_PREFIX = "PAYEE#"
_ATTEMPTS = 8  # lost races in a row before a summary writer gives up (its message or request is retried)
_FILTER_VALUES = 50  # payee keys per query filter (DynamoDB allows 100 operands in an IN)


def payee_summary_key(business_id: str, payee_key: str) -> dict[str, str]:
    return {"pk": business_pk(business_id), "sk": f"{PAYEE_PREFIX}{payee_digest(payee_key)}"}


class PayeeStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, business_id: str, payee_key: str) -> PayeeSummary | None:
        item = self.table.get_item(Key=payee_summary_key(business_id, payee_key), ConsistentRead=True).get("Item")
        return _summary(item) if item else None

    def by_rule_id(self, business_id: str, rule: str) -> PayeeSummary | None:
        """The payee a rule id names (``payees.rule_id``), in this business only."""
        digest = rule.removeprefix("pr_")
        if not rule.startswith("pr_") or len(digest) != KEY_LENGTH or digest.strip("0123456789abcdef"):
            return None
        item = self.table.get_item(Key={"pk": business_pk(business_id), "sk": f"{PAYEE_PREFIX}{digest}"},
                                   ConsistentRead=True).get("Item")
        return _summary(item) if item else None

    def get_many(self, business_id: str, payee_keys: Iterable[str]) -> dict[str, PayeeSummary]:
        found: dict[str, PayeeSummary] = {}
        client = self.table.meta.client
        for keys in chunks([payee_summary_key(business_id, k) for k in dict.fromkeys(payee_keys)], 100):
            request: dict[str, Any] = {self.table.name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table.name, []):
                    summary = _summary(item)
                    found[summary.payee_key] = summary
                request = response.get("UnprocessedKeys") or {}
        return found

    def with_rules(self, business_id: str) -> list[PayeeSummary]:
        """The business's payees that have a rule, by payee name."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(business_pk(business_id)) & Key("sk").begins_with(PAYEE_PREFIX),
            "FilterExpression": Attr("rule").exists(), "ConsistentRead": True}
        found = [_summary(item) for item in query_items(self.table, **kwargs)]
        return sorted(found, key=lambda s: (s.payee.casefold(), s.payee_key))

    def save(self, summary: PayeeSummary) -> PayeeSummary | None:
        """Write the summary if nobody changed it since ``summary.version`` was read; None when somebody did."""
        stored = summary.model_copy(update={"version": summary.version + 1})
        body = stored.model_dump(mode="json", exclude_none=True)
        names = {f"#{n}": n for n in body}
        values = {f":{n}": v for n, v in body.items()}
        remove = "" if stored.rule is not None else " REMOVE #rule"
        if stored.rule is None:
            names["#rule"] = "rule"
        condition = "attribute_not_exists(pk)"
        if summary.version:
            condition, values[":expected"] = "version = :expected", summary.version
        won = update_if(self.table, Key=payee_summary_key(summary.business_id, summary.payee_key),
                        UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in body) + remove,
                        ConditionExpression=condition, ExpressionAttributeNames=names,
                        ExpressionAttributeValues=values)
        return stored if won else None

    def change(self, business_id: str, payee_key: str, transition: Callable[[PayeeSummary], PayeeSummary | None],
               current: PayeeSummary | Literal["unread"] | None = "unread") -> PayeeSummary | None:
        """Read, change and save one summary, again from the latest copy when another writer got there first;
        ``transition`` returns None to leave it alone (then None is returned) and may raise to refuse.
        ``current``: the copy the caller read already (None: there was none)."""
        known = None if isinstance(current, str) else current
        read = not isinstance(current, str)
        for _ in range(_ATTEMPTS):
            if not read:
                known = self.get(business_id, payee_key)
            read = False
            current = known or PayeeSummary(business_id=business_id, payee_key=payee_key)
            changed = transition(current)
            if changed is None:
                return None
            saved = self.save(changed)
            if saved is not None:
                return saved
        raise StaleExpense(f"payee summary {payee_key} kept changing")


def _same_suggestion(before: PayeeSummary, after: PayeeSummary) -> bool:
    """Whether two versions of a summary suggest the same values from the same sources. How many expenses agree
    is left out: a pending expense keeps saying "from your last 3 expenses" when a fourth agrees (still true),
    rather than every sync of a payee rewriting all its pending expenses; a new expense says the current count."""
    ignored = {"summary_version", "payee", "agreeing", "considered"}
    return suggestion_for(before).model_dump(exclude=ignored) == suggestion_for(after).model_dump(exclude=ignored)


def _summary(item: dict[str, Any]) -> PayeeSummary:
    return PayeeSummary.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk")})


class Suggestions:
    """Learning from synced expenses, users' rules, and the suggestion each pending expense carries."""

    def __init__(self, expenses: ExpenseStore, payees: PayeeStore | None = None) -> None:
        self.expenses = expenses
        self.payees = payees or PayeeStore(expenses.table)

    # ------------------------------------------------------------------ an expense arrives or changes
    def attach(self, business_id: str, payee: str) -> Callable[[ExpenseRecord | None], ExpenseRecord | None]:
        """Reads the payee's summary once; the returned function puts its suggestion on a record (for use inside
        an expense transition, after the ledger's change)."""
        key = normalise_payee(payee)
        summary = self.payees.get(business_id, key) if key else None

        def attached(record: ExpenseRecord | None) -> ExpenseRecord | None:
            return None if record is None else with_suggestion(record, summary)

        return attached

    def attach_many(self, business_id: str, payees: Iterable[str]) -> dict[str, PayeeSummary]:
        keys = {normalise_payee(p) for p in payees} - {""}
        return self.payees.get_many(business_id, keys) if keys else {}

    def catch_up(self, saved: ExpenseRecord) -> ExpenseRecord:
        """After an expense was written with its payee's summary as read before: if the summary changed since
        (a sync of the same payee ended meanwhile and refreshed the others), write the newer suggestion."""
        key = normalise_payee(saved.payment.payee)
        if not key or saved.tab != ExpenseTab.PENDING_SYNC:
            return saved
        summary = self.payees.get(saved.business_id, key)
        held = saved.suggestion.summary_version if saved.suggestion else 0
        if summary is None or summary.version <= held:
            return saved
        refreshed = self._refresh_one(saved, summary)
        return refreshed or saved

    # ------------------------------------------------------------------ history changes
    def learn(self, business_id: str, synced: list[ExpenseRecord]) -> list[PayeeSummary]:
        """Add what these synced expenses were sent with to their payees' histories (an expense synced again
        after an edit replaces its entry), then bring the payees' pending expenses up to date."""
        by_payee: dict[str, tuple[str, list[HistoryEntry]]] = {}
        for expense in synced:
            key = normalise_payee(expense.payment.payee)
            entry = entry_of(expense)
            if key and entry is not None:
                by_payee.setdefault(key, (expense.payment.payee, []))[1].append(entry)
        if not by_payee:
            return []
        known = self.payees.get_many(business_id, by_payee)  # one read for the batch's payees

        def learned(key: str) -> PayeeSummary | None:
            """The payee's summary after learning, if what it suggests changed (only then do its pending
            expenses need writing)."""
            payee, entries = by_payee[key]
            before: list[PayeeSummary] = []

            def merge(summary: PayeeSummary) -> PayeeSummary | None:
                before[:] = [summary]
                merged = summary.learned(entries).model_copy(update={"payee": summary.payee or " ".join(
                    payee.split())})
                return None if merged == summary else merged

            saved = self.payees.change(business_id, key, merge, known.get(key))
            if saved is None or _same_suggestion(before[0], saved):
                return None
            return saved

        changed = [s for s in in_parallel(learned, list(by_payee)) if s is not None]
        self.refresh(business_id, changed)
        return changed

    def set_rule(self, business_id: str, payee_key: str, payee: str,
                 change: Callable[[PayeeRule | None], PayeeRule | None]) -> PayeeSummary:
        """Save or remove a payee's rule (``change`` gets the current one and may raise to refuse), then bring
        the payee's pending expenses up to date."""

        def ruled(summary: PayeeSummary) -> PayeeSummary:
            rule = change(summary.rule)
            return summary.model_copy(update={"rule": rule, "payee": summary.payee or payee})

        saved = self.payees.change(business_id, payee_key, ruled)
        assert saved is not None  # ruled never leaves it alone
        self.refresh(business_id, [saved])
        return saved

    def refresh(self, business_id: str, summaries: list[PayeeSummary]) -> int:
        """Write each summary's suggestion on its payee's pending expenses; returns how many changed."""
        if not summaries:
            return 0
        latest = {s.payee_key: s for s in summaries}
        partition = expense_list_gsi(business_id, ExpenseTab.PENDING_SYNC.value, "", "")["gsi1pk"]
        pending: list[ExpenseRecord] = []
        for keys in chunks(list(latest), _FILTER_VALUES):
            # Not the QUEUED ones: a sync has taken them with their values (and is writing them).
            kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": Key("gsi1pk").eq(partition),
                                      "FilterExpression": Attr("payee_key").is_in(keys)
                                      & Attr("status").is_in([ExpenseStatus.PENDING.value,
                                                              ExpenseStatus.SYNC_ERROR.value])}
            pending.extend(record_of(item) for item in query_items(self.expenses.table, **kwargs))
        work = [(r, latest[normalise_payee(r.payment.payee)]) for r in pending
                if normalise_payee(r.payment.payee) in latest]
        return sum(1 for r in in_parallel(lambda pair: self._refresh_one(*pair), work) if r is not None)

    def _refresh_one(self, record: ExpenseRecord, summary: PayeeSummary) -> ExpenseRecord | None:
        def refreshed(current: ExpenseRecord | None) -> ExpenseRecord | None:
            if current is None:
                return None
            changed = with_suggestion(current, summary)
            return None if changed is current else changed

        # (The index is eventually consistent: the copy read there may be older; a lost write re-reads.)
        return self.expenses.change(record.business_id, record.transaction_id, refreshed, record)
