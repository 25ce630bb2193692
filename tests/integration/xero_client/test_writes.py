"""Exactly-once writes and typed errors, against the emulator's faults."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from emulators.xero import XeroEmulator
from tests.support.xero_sessions import connect, generation_of
from xerosync.store.connections import ConnectionStatus
from xerosync.xero.bank_feeds import Balance, CreditDebit, FeedConnection, Statement, StatementLine
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import ReconnectRequired, XeroNotFound, XeroTooLarge
from xerosync.xero.expense_models import AccountRef, BankTransaction, Contact, LineItem
from xerosync.xero.session import XeroSession, idempotency_key


def _bank_account_id(emulator: XeroEmulator, tenant: str, currency: str = "HKD") -> str:
    return next(a["AccountID"] for a in emulator.accounts(tenant)
                if a["Type"] == "BANK" and a.get("CurrencyCode", currency) == currency)


def _spend(bank_account_id: str, contact: Contact, n: int, account_code: str = "493") -> BankTransaction:
    return BankTransaction(
        type="SPEND", contact=Contact(contact_id=contact.contact_id),
        bank_account=AccountRef(account_id=bank_account_id),
        date=date(2026, 11, 2), reference=f"PAY-{n}", url=f"https://app.bank.example/transactions/txn_{n}",
        currency_code="HKD",
        line_items=[LineItem(description=f"Expense {n}", quantity=Decimal(1), unit_amount=Decimal("12.34") + n,
                             account_code=account_code, tax_type="INPUT")],
    )


def _live_spend_money(emulator: XeroEmulator, tenant: str) -> list[dict[str, object]]:
    return [t for t in emulator.bank_transactions(tenant) if t.get("Status") != "DELETED"]


@pytest.mark.parametrize("fault", [
    {"kind": "drop", "every": 2},                     # the write happens, the answer never arrives
    {"kind": "error", "status": 500, "every": 3},     # Xero fails (and replays its failure for the same key)
    {"kind": "error", "status": 503, "every": 2},
])
def test_a_hundred_writes_under_faults_land_exactly_once(client: XeroClient, emulator: XeroEmulator,
                                                         fault: dict[str, object]) -> None:
    # Given a connected organisation and a fault on every few bank-transaction writes
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_once", tenant)
    contact = session.find_or_create_contact("Pacific Office Supplies")
    bank = _bank_account_id(emulator, tenant)
    emulator.add_fault(path="*/BankTransactions", method="PUT", times=None, **fault)  # type: ignore[arg-type]
    # When 100 expenses are written in batches of 10
    results = []
    for batch in range(10):
        items = [_spend(bank, contact, batch * 10 + i) for i in range(10)]
        results.extend(session.create_bank_transactions_once(items, batch_id=f"job-1:{batch}"))
    # Then Xero holds each exactly once, and every write is resolved to its BankTransactionID
    live = _live_spend_money(emulator, tenant)
    urls = Counter(str(t["Url"]) for t in live)
    assert len(live) == 100 and max(urls.values()) == 1
    assert all(r.status_attribute_string in (None, "OK", "WARNING") and r.bank_transaction_id for r in results)
    assert {r.bank_transaction_id for r in results} == {str(t["BankTransactionID"]) for t in live}
    fired = [f for f in emulator.faults() if f["fired"]]
    assert fired and fired[0]["fired"] >= 3, "the fault must actually have hit some writes"


def test_element_errors_come_back_per_element_and_valid_ones_are_created(client: XeroClient,
                                                                        emulator: XeroEmulator) -> None:
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_elements", tenant)
    contact = session.find_or_create_contact("Harbour Taxi")
    bank = _bank_account_id(emulator, tenant)
    items = [_spend(bank, contact, 1), _spend(bank, contact, 2, account_code="999"), _spend(bank, contact, 3)]
    results = session.create_bank_transactions(items, key=idempotency_key(tenant, "test", "elements"))
    assert [r.status_attribute_string for r in results] == ["OK", "ERROR", "OK"]
    assert results[1].validation_errors[0].message == "Account code '999' is not a valid code for this document."
    assert len(_live_spend_money(emulator, tenant)) == 2


def test_a_redelivered_batch_within_xeros_window_is_replayed_not_duplicated(client: XeroClient,
                                                                           emulator: XeroEmulator) -> None:
    # The same message processed twice (SQS redelivery) sends the same body with the same key.
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_replay", tenant)
    contact = session.find_or_create_contact("Harbour Taxi")
    items = [_spend(_bank_account_id(emulator, tenant), contact, n) for n in range(3)]
    first = session.create_bank_transactions_once(items, batch_id="job-9:0")
    second = session.create_bank_transactions_once(items, batch_id="job-9:0")
    assert [r.bank_transaction_id for r in first] == [r.bank_transaction_id for r in second]
    assert len(_live_spend_money(emulator, tenant)) == 3
    assert any(entry.get("replayed") for entry in emulator.request_log)


def test_a_contact_created_behind_a_dropped_answer_is_found_not_created_twice(client: XeroClient,
                                                                             emulator: XeroEmulator) -> None:
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_contact", tenant)
    emulator.add_fault("drop", path="*/Contacts", method="PUT", times=1)
    contact = session.find_or_create_contact("Kowloon Printing Co")
    assert contact.contact_id
    assert [c["Name"] for c in emulator.contacts(tenant)].count("Kowloon Printing Co") == 1


def test_an_unauthorised_token_is_refreshed_once_and_the_call_retried(client: XeroClient,
                                                                     emulator: XeroEmulator) -> None:
    tenant = emulator.seed_organisation()
    connect(client, emulator, "biz_401", tenant)
    generation = generation_of(client, "biz_401")
    stored = client.vault.load("biz_401", generation)
    assert stored is not None and stored.tokens is not None
    broken = stored.tokens.model_copy(update={"access_token": "not-a-valid-token"})
    client.vault.save("biz_401", generation, broken, expected_version=stored.version)
    organisation = client.session("biz_401").organisation()
    assert organisation.organisation_id
    assert emulator.token_stats()["refreshes"] == 1


def test_an_organisation_disconnected_in_xero_is_noticed_and_marked(client: XeroClient, emulator: XeroEmulator) -> None:
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_gone", tenant)
    emulator.disconnect(tenant)  # the user removed the app in Xero's Connected apps
    with pytest.raises(ReconnectRequired) as refused:
        session.accounts()
    assert "removed in Xero" in refused.value.reason
    record = client.connections.get("biz_gone")
    assert record is not None and record.status == ConnectionStatus.NEEDS_RECONNECT
    with pytest.raises(ReconnectRequired):
        client.session("biz_gone")


def test_errors_are_typed_and_carry_xeros_correlation_id(client: XeroClient, emulator: XeroEmulator) -> None:
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_errors", tenant)
    with pytest.raises(XeroNotFound) as missing:
        session.bank_transaction("00000000-0000-0000-0000-000000000123")
    assert missing.value.status == 404 and missing.value.correlation_id
    contact = session.find_or_create_contact("Big Files Ltd")
    created = session.create_bank_transactions([_spend(_bank_account_id(emulator, tenant), contact, 1)],
                                               key=idempotency_key(tenant, "test", "big"))[0]
    assert created.bank_transaction_id
    with pytest.raises(XeroTooLarge) as too_large:
        session.upload_attachment(created.bank_transaction_id, "scan.pdf", b"%PDF-1.7\n" + b"0" * 3_200_000,
                                  key=idempotency_key(tenant, "att", "big"))
    assert too_large.value.status == 413


def _statement(feed_id: str, start: Decimal, lines: list[tuple[str, Decimal, CreditDebit]], day: date
               ) -> Statement:
    end = start + sum((a if d == CreditDebit.CREDIT else -a) for _, a, d in lines)
    return Statement(
        feed_connection_id=feed_id, start_date=day, end_date=day,
        start_balance=Balance(amount=abs(start), credit_debit_indicator=CreditDebit.CREDIT),
        end_balance=Balance(amount=abs(end),
                            credit_debit_indicator=CreditDebit.CREDIT if end >= 0 else CreditDebit.DEBIT),
        statement_lines=[StatementLine(posted_date=day, amount=a, credit_debit_indicator=d, transaction_id=t,
                                       description=f"line {t}", payee_name="Payee")
                         for t, a, d in lines],
    )


def test_bank_feed_calls_give_per_item_results(client: XeroClient, emulator: XeroEmulator) -> None:
    tenant = emulator.seed_organisation()
    session = connect(client, emulator, "biz_feeds", tenant)
    feeds = session.create_feed_connections(
        [FeedConnection(account_token="acc_hkd_1", account_number="0123456789", account_name="HKD Operating",
                        account_type="BANK", currency="HKD")], key=idempotency_key(tenant, "feed", "acc_hkd_1"))
    assert feeds[0].status == "PENDING" and feeds[0].id
    again = session.create_feed_connections(
        [FeedConnection(account_token="acc_hkd_1", account_number="0123456789", account_name="HKD Operating",
                        account_type="BANK", currency="HKD")], key=idempotency_key(tenant, "feed", "acc_hkd_1", 2))
    assert again[0].status == "REJECTED" and again[0].error is not None
    assert again[0].error.type == "feed-already-connected-in-current-organisation"
    emulator.settle_pending()
    today = date.fromtimestamp(emulator.now())
    good = _statement(str(feeds[0].id), Decimal("100"), [("t1", Decimal("25.50"), CreditDebit.DEBIT)], today)
    wrong_end = Balance(amount=Decimal("1"), credit_debit_indicator=CreditDebit.CREDIT)
    bad = good.model_copy(update={"end_balance": wrong_end})
    results = session.post_statements([good, bad], key=idempotency_key(tenant, "stmt", "1"))
    assert results[0].status == "PENDING"
    assert results[1].status == "REJECTED" and results[1].errors[0].type == "invalid-end-balance"
    repeat = session.post_statements([good], key=idempotency_key(tenant, "stmt", "2"))
    assert repeat[0].status == "REJECTED" and repeat[0].errors[0].type == "duplicate-statement"
    emulator.advance_clock(5)  # Xero processes statements asynchronously
    emulator.settle_pending()
    assert session.statement(str(results[0].id)).status == "DELIVERED"
    assert [line["transactionId"] for line in emulator.statement_lines(tenant, str(feeds[0].id))] == ["t1"]


def test_session_covers_reference_data(client: XeroClient, emulator: XeroEmulator) -> None:
    tenant = emulator.seed_organisation(multicurrency=False)
    session: XeroSession = connect(client, emulator, "biz_ref", tenant)
    assert session.organisation().base_currency
    assert session.organisation_actions()["UseMulticurrency"] == "NOT-ALLOWED"
    payable = session.accounts(where='Status=="ACTIVE" AND EnablePaymentsToAccount==true')
    assert payable and all(a.enable_payments_to_account for a in payable)
    assert any(t.can_apply_to_expenses for t in session.tax_rates())
    assert all(c.status == "ACTIVE" for c in session.tracking_categories())
