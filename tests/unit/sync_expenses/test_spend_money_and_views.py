"""The Spend Money built for an expense, Xero's per-element answer, the job's progress and the cache rule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.unit.sync_expenses.factories import BANK, NOW, context, expense, reference, tracking
from xerosync.errors import InvalidRequest
from xerosync.sync_expenses.models import ExpenseTab, Overrides, SkippedExpense, SpendMoneyLink, SyncJob
from xerosync.sync_expenses.presenter import job_view
from xerosync.sync_expenses.spend_money import build_spend_money, outcome_of, xero_link
from xerosync.sync_expenses.store import ExpenseFilter, _decode_cursor
from xerosync.sync_expenses.xero_gateway import ReferenceDataCache
from xerosync.xero.errors import ReconnectRequired, XeroRateLimited
from xerosync.xero.expense_models import BankTransaction

URL = "https://app.bank.example/transactions/txn_1"


def _build(record: Any = None) -> dict[str, Any]:
    record = record or expense(Overrides(tracking=[tracking()]))
    ctx = context()
    return build_spend_money(record, ctx.resolve(record), bank_account_id=BANK, url=URL,
                             reference=ctx.reference).to_xero()


def test_the_spend_money_carries_what_the_issue_lists() -> None:
    body = _build()
    assert body == {
        "Type": "SPEND", "Contact": {"Name": "Harbour Taxi"}, "BankAccount": {"AccountID": BANK},
        "LineItems": [{"Description": "Taxi to client", "Quantity": 1.0, "UnitAmount": 123.45, "AccountCode": "493",
                       "TaxType": "INPUT", "Tracking": [{"TrackingCategoryID": "cat-region",
                                                         "TrackingOptionID": "opt-north", "Name": "Region",
                                                         "Option": "North"}]}],
        "Date": "2026-11-20",  # 23:30 UTC is the next morning on the bank's (UTC+8) booking day
        "Reference": "INV-7", "Url": URL, "CurrencyCode": "HKD",
        "LineAmountTypes": "Inclusive",  # the bank amount is what was paid, tax included
    }


def test_an_updated_expense_carries_its_bank_transaction_id() -> None:
    synced = expense(spend_money=SpendMoneyLink(bank_transaction_id="bt-9", url="u", synced_at=NOW, revision=1,
                                                ledger_version=1))
    assert _build(synced)["BankTransactionID"] == "bt-9"


def test_xeros_answer_per_element() -> None:
    ok = outcome_of(BankTransaction.model_validate({"BankTransactionID": "bt-1", "Type": "SPEND", "BankAccount": {},
                                                    "LineItems": [], "StatusAttributeString": "OK"}))
    assert ok.ok and ok.bank_transaction_id == "bt-1"
    refused = outcome_of(BankTransaction.model_validate({
        "BankTransactionID": "00000000-0000-0000-0000-000000000000", "Type": "SPEND", "BankAccount": {},
        "LineItems": [], "StatusAttributeString": "ERROR", "ValidationErrors": [
            {"Message": "This Bank Transaction cannot be edited as it has been reconciled with a Bank Statement."}]}))
    assert not refused.ok and refused.bank_transaction_id is None and refused.reconciled
    silent = outcome_of(BankTransaction.model_validate({"Type": "SPEND", "BankAccount": {}, "LineItems": [],
                                                        "StatusAttributeString": "ERROR"}))
    assert silent.messages == ["Xero did not accept this expense and gave no reason."]


def test_the_link_opens_the_spend_money_in_the_right_organisation() -> None:
    assert xero_link("https://go.xero.com/", "!abc12", "bt-1") == (
        "https://go.xero.com/organisationlogin/default.aspx?shortcode=!abc12"
        "&redirecturl=/Bank/ViewTransaction.aspx?bankTransactionID=bt-1")
    assert xero_link("https://go.xero.com", None, "bt-1") == (
        "https://go.xero.com/Bank/ViewTransaction.aspx?bankTransactionID=bt-1")


def _job(**changes: Any) -> SyncJob:
    job = SyncJob(business_id="b", job_id="job_1", tenant_id="t", created_by="u", created_at="2026-11-20T09:00:00Z",
                  requested=10, queued=8, rejected=1, batches_total=1, failed=1, dispatched_at=NOW,
                  skipped=[SkippedExpense(transaction_id="x", reason="already_synced", message="m")])
    return job.model_copy(update=changes)


def test_the_jobs_progress_reads_as_a_sentence() -> None:
    started = 1_795_165_200.0  # 2026-11-20T09:00:00Z
    running = job_view(_job(synced=4), started + 5)
    assert (running.status, running.total, running.remaining, running.percent_done) == ("RUNNING", 9, 4, 55)
    assert running.summary == "Syncing: 4 of 9 synced, 1 failed, 4 to go."
    done = job_view(_job(synced=8, completed_at="2026-11-20T09:01:00Z"), started + 60)
    assert done.summary == "Done: 8 of 9 synced, 1 failed (each failed expense shows why)."
    lost = job_view(_job(dispatched_at=None), started + 600)
    assert lost.status == "NOT_STARTED" and "did not start" in lost.summary
    nothing = job_view(_job(queued=0, rejected=0, failed=0, batches_total=0, completed_at=NOW), started)
    assert nothing.percent_done == 100 and nothing.summary.startswith("Nothing to sync")


def test_a_cursor_of_another_list_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        _decode_cursor("not-a-cursor", "EXPENSES#biz#pending", "any-filters")


def test_booking_days_filter_the_utc_postings_they_cover() -> None:
    wanted = ExpenseFilter(tab=ExpenseTab.PENDING_SYNC, posted_from=date(2026, 11, 20), posted_to=date(2026, 11, 21))
    assert wanted.bounds() == ("2026-11-19T16:00:00Z", "2026-11-21T16:00:00Z")


class _Store:
    def __init__(self, snapshot: Any = None) -> None:
        self.snapshot = snapshot
        self.puts = 0

    def get(self, tenant_id: str) -> Any:
        return self.snapshot

    def put(self, data: Any) -> None:
        self.snapshot, self.puts = data, self.puts + 1

    def refreshed(self, tenant_id: str, fetch: Any, *, unless_since: float) -> Any:
        """As the shared cache does alone: a value fresh enough is kept, otherwise one fetch."""
        if self.snapshot is not None and self.snapshot.refreshed_at >= unless_since:
            return self.snapshot
        self.put(fetch())
        return self.snapshot


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _Session:
    """Just enough of XeroSession for fetch_reference_data."""

    tenant_id = "tenant-1"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def _count(self) -> None:
        self.calls += 1
        if self.error:
            raise self.error

    def organisation(self) -> Any:
        from xerosync.xero.models import Organisation

        self._count()
        return Organisation.model_validate({"OrganisationID": "o", "Name": "n", "BaseCurrency": "HKD"})

    def accounts(self) -> list[Any]:
        self._count()
        return []

    def tax_rates(self) -> list[Any]:
        self._count()
        return []

    def tracking_categories(self, include_archived: bool = False) -> list[Any]:
        self._count()
        return []

    def call(self, method: str, path: str) -> Any:
        self._count()
        return type("R", (), {"body": {"Currencies": [{"Code": "USD"}]}})()


def test_reference_data_is_read_from_xero_only_when_stale_forced_at_most_once_a_minute() -> None:
    clock = _Clock(1_000_000.0)
    store = _Store(reference(refreshed_at=clock.now - 100))
    cache = ReferenceDataCache(store, clock, max_age_seconds=900)  # type: ignore[arg-type]
    session = _Session()
    assert cache.current("tenant-1", lambda: session) is store.snapshot and session.calls == 0  # fresh
    assert cache.current("tenant-1", lambda: session, force=True) is not None and session.calls == 5  # forced
    assert store.snapshot.currencies == ["USD"] and store.puts == 1
    clock.now += 30
    cache.current("tenant-1", lambda: session, force=True)
    assert session.calls == 5, "a second forced refresh within a minute waits"
    clock.now += 900
    cache.current("tenant-1", lambda: session)
    assert session.calls == 10, "stale after the maximum age"


def test_a_busy_xero_serves_the_stale_snapshot_and_a_lost_connection_is_never_hidden() -> None:
    clock = _Clock(1_000_000.0)
    stale = reference(refreshed_at=0.0)
    cache = ReferenceDataCache(_Store(stale), clock, max_age_seconds=900)  # type: ignore[arg-type]
    busy = _Session(XeroRateLimited("busy", retry_after=30))
    assert cache.current("tenant-1", lambda: busy) is stale  # type: ignore[arg-type,return-value]
    empty = ReferenceDataCache(_Store(), clock, max_age_seconds=900)  # type: ignore[arg-type]
    with pytest.raises(XeroRateLimited):
        empty.current("tenant-1", lambda: busy, required=True)  # type: ignore[arg-type,return-value]
    gone = _Session(ReconnectRequired("gone", reason="gone"))
    with pytest.raises(ReconnectRequired):
        cache.current("tenant-1", lambda: gone)  # type: ignore[arg-type,return-value]
