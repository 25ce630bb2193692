"""Versions and events: every posting emits TransactionPosted; every change of spend_category, description or
attachments bumps version once and emits TransactionUpdated listing what changed."""

from __future__ import annotations

import json

import pytest

from emulators.ledger import (
    LedgerEmulator,
    LedgerError,
    RecordingPublisher,
    Transaction,
    generated_spec,
    uploaded_spec,
)
from emulators.time_control import ManualClock
from tests.integration.emulators.ledger.ledger_http import LedgerHttp


@pytest.fixture
def debit(ledger: LedgerEmulator, publisher: RecordingPublisher) -> Transaction:
    """A categorised debit with two receipts on an SG account, after which nothing has been published."""
    business = ledger.create_business("SG", business_id="biz_sg")
    account = ledger.create_account(business.business_id, "SGD", account_id="acc_sg")
    ledger.post_transaction(account.account_id, "5000.00", "CREDIT")
    txn = ledger.post_transaction(
        account.account_id,
        "120.00",
        "DEBIT",
        type="CARD",
        description="Team lunch",
        spend_category="entertainment",
        attachments=[generated_spec("jpeg", 40_000, seed=1), generated_spec("pdf", 9_000, seed=2)],
    )
    publisher.clear()
    return txn


def _read(http: LedgerHttp, txn: Transaction) -> dict[str, object]:
    response = http.get(f"/v1/accounts/{txn.account_id}/transactions/{txn.transaction_id}")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def test_given_a_posting_when_made_then_one_transaction_posted_event_with_the_contract_detail(
    ledger: LedgerEmulator, publisher: RecordingPublisher
) -> None:
    account = ledger.add_sample_account()

    txn = ledger.post_transaction(account.account_id, "10.00", "CREDIT")

    assert len(publisher.entries) == 1
    entry = publisher.entries[0]
    assert entry["Source"] == "bank.ledger"
    assert entry["DetailType"] == "TransactionPosted"
    assert entry["EventBusName"] == "ledger-events"
    assert json.loads(entry["Detail"]) == {
        "business_id": account.business_id,
        "account_id": account.account_id,
        "transaction_id": txn.transaction_id,
        "sequence": 1,
        "direction": "CREDIT",
        "version": 1,
        "changed": [],
        "occurred_at": "2026-11-20T08:15:00Z",
    }


def test_given_a_debit_when_its_category_changes_then_version_2_and_changed_lists_spend_category(
    ledger: LedgerEmulator, http: LedgerHttp, publisher: RecordingPublisher, clock: ManualClock, debit: Transaction
) -> None:
    clock.advance(2700)  # 45 minutes later

    ledger.set_spend_category(debit.account_id, debit.transaction_id, "travel")

    body = _read(http, debit)
    assert body["spend_category"] == "travel"
    assert body["version"] == 2
    assert body["updated_at"] == "2026-11-20T09:00:00Z"
    assert body["posted_at"] == "2026-11-20T08:15:00Z"  # the posting's date never changes
    [detail] = publisher.details("TransactionUpdated")
    assert detail["changed"] == ["spend_category"]
    assert detail["version"] == 2
    assert detail["sequence"] == 2
    assert detail["direction"] == "DEBIT"
    assert detail["occurred_at"] == "2026-11-20T09:00:00Z"


def test_given_a_debit_when_uncategorised_then_category_is_null_and_version_bumps(
    ledger: LedgerEmulator, http: LedgerHttp, publisher: RecordingPublisher, debit: Transaction
) -> None:
    ledger.set_spend_category(debit.account_id, debit.transaction_id, None)

    body = _read(http, debit)
    assert body["spend_category"] is None
    assert body["version"] == 2
    assert publisher.details("TransactionUpdated")[0]["changed"] == ["spend_category"]


def test_given_a_debit_when_its_description_changes_then_changed_lists_description(
    ledger: LedgerEmulator, http: LedgerHttp, publisher: RecordingPublisher, debit: Transaction
) -> None:
    ledger.set_description(debit.account_id, debit.transaction_id, "Lunch with the Xero team")

    body = _read(http, debit)
    assert body["description"] == "Lunch with the Xero team"
    assert body["version"] == 2
    assert publisher.details("TransactionUpdated")[0]["changed"] == ["description"]


def test_given_a_debit_when_a_receipt_is_added_then_it_is_appended_and_changed_lists_attachments(
    ledger: LedgerEmulator, http: LedgerHttp, publisher: RecordingPublisher, debit: Transaction
) -> None:
    before = [a.attachment_id for a in debit.attachments]

    updated = ledger.add_attachment(
        debit.account_id, debit.transaction_id, uploaded_spec("note.txt", b"paid by card\n", "text/plain")
    )

    body = _read(http, debit)
    ids = [a["attachment_id"] for a in body["attachments"]]  # type: ignore[attr-defined]
    assert ids[:2] == before
    assert len(ids) == 3
    assert ids[2] == updated.attachments[2].attachment_id
    assert body["attachments"][2]["size_bytes"] == 13  # type: ignore[index]
    assert body["version"] == 2
    assert publisher.details("TransactionUpdated")[0]["changed"] == ["attachments"]


def test_given_a_debit_when_a_receipt_is_removed_then_it_is_gone_and_its_bytes_404(
    ledger: LedgerEmulator, http: LedgerHttp, publisher: RecordingPublisher, debit: Transaction
) -> None:
    removed = debit.attachments[0].attachment_id

    ledger.remove_attachment(debit.account_id, debit.transaction_id, removed)

    body = _read(http, debit)
    assert [a["attachment_id"] for a in body["attachments"]] == [debit.attachments[1].attachment_id]  # type: ignore[attr-defined]
    assert body["version"] == 2
    gone = http.get(f"/v1/accounts/{debit.account_id}/transactions/{debit.transaction_id}/attachments/{removed}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "attachment_not_found"
    assert publisher.details("TransactionUpdated")[0]["changed"] == ["attachments"]


def test_given_a_debit_when_a_receipt_is_replaced_then_a_new_id_takes_its_place_with_new_bytes(
    ledger: LedgerEmulator, http: LedgerHttp, publisher: RecordingPublisher, debit: Transaction
) -> None:
    old = debit.attachments[0]

    ledger.replace_attachment(
        debit.account_id, debit.transaction_id, old.attachment_id, generated_spec("png", 30_000, seed=9)
    )

    body = _read(http, debit)
    first = body["attachments"][0]  # type: ignore[index]
    assert first["attachment_id"] != old.attachment_id
    assert first["content_type"] == "image/png"
    assert first["size_bytes"] == 30_000
    assert first["sha256"] != old.to_json()["sha256"]
    assert body["attachments"][1]["attachment_id"] == debit.attachments[1].attachment_id  # type: ignore[index]
    assert body["version"] == 2
    assert publisher.details("TransactionUpdated")[0]["changed"] == ["attachments"]


def test_given_several_changes_in_one_update_then_one_version_bump_and_one_event_listing_all(
    ledger: LedgerEmulator, http: LedgerHttp, publisher: RecordingPublisher, debit: Transaction
) -> None:
    ledger.update_transaction(
        debit.account_id,
        debit.transaction_id,
        spend_category="travel",
        description="Airport lunch",
        remove_attachment_ids=[debit.attachments[1].attachment_id],
    )

    assert _read(http, debit)["version"] == 2
    [detail] = publisher.details("TransactionUpdated")
    assert detail["changed"] == ["spend_category", "description", "attachments"]


def test_given_successive_changes_then_versions_count_up_and_each_event_carries_its_version(
    ledger: LedgerEmulator, publisher: RecordingPublisher, debit: Transaction
) -> None:
    ledger.set_spend_category(debit.account_id, debit.transaction_id, "travel")
    ledger.set_description(debit.account_id, debit.transaction_id, "Taxi")
    ledger.remove_attachment(debit.account_id, debit.transaction_id, debit.attachments[0].attachment_id)

    assert [d["version"] for d in publisher.details("TransactionUpdated")] == [2, 3, 4]
    assert ledger.get_transaction(debit.account_id, debit.transaction_id).version == 4


def test_given_a_change_to_the_same_value_then_no_version_bump_and_no_event(
    ledger: LedgerEmulator, publisher: RecordingPublisher, debit: Transaction
) -> None:
    ledger.set_spend_category(debit.account_id, debit.transaction_id, "entertainment")
    ledger.set_description(debit.account_id, debit.transaction_id, "Team lunch")
    ledger.update_transaction(debit.account_id, debit.transaction_id)

    assert ledger.get_transaction(debit.account_id, debit.transaction_id).version == 1
    assert publisher.entries == []


def test_given_an_update_then_amount_direction_date_and_balance_are_unchanged(
    ledger: LedgerEmulator, http: LedgerHttp, clock: ManualClock, debit: Transaction
) -> None:
    before = _read(http, debit)
    clock.advance(86_400)

    ledger.update_transaction(debit.account_id, debit.transaction_id, spend_category="other", description="x")

    after = _read(http, debit)
    for field in ("amount", "direction", "posted_at", "running_balance", "sequence", "currency", "counterparty"):
        assert after[field] == before[field], field


def test_given_a_credit_when_a_category_is_set_then_refused_because_credits_have_none(
    ledger: LedgerEmulator, publisher: RecordingPublisher, debit: Transaction
) -> None:
    credit = ledger.list_transactions(debit.account_id).transactions[0]

    with pytest.raises(LedgerError) as raised:
        ledger.set_spend_category(credit.account_id, credit.transaction_id, "travel")

    assert raised.value.status == 400
    assert publisher.entries == []


def test_given_an_unknown_category_or_attachment_when_updating_then_refused_and_nothing_changes(
    ledger: LedgerEmulator, debit: Transaction
) -> None:
    with pytest.raises(LedgerError) as bad_category:
        ledger.update_transaction(debit.account_id, debit.transaction_id, spend_category="yachts", description="x")
    with pytest.raises(LedgerError) as bad_attachment:
        ledger.update_transaction(
            debit.account_id, debit.transaction_id, description="y", remove_attachment_ids=["att_nope"]
        )

    assert bad_category.value.code == "invalid_request"
    assert bad_attachment.value.code == "attachment_not_found"
    txn = ledger.get_transaction(debit.account_id, debit.transaction_id)
    assert (txn.version, txn.description) == (1, "Team lunch")  # all or nothing


def test_given_events_when_read_from_the_log_then_they_are_in_order_with_indexes(
    ledger: LedgerEmulator, http: LedgerHttp, debit: Transaction
) -> None:
    ledger.set_description(debit.account_id, debit.transaction_id, "Changed")

    body = http.get("/_ledger/events").json()
    only_updates = http.get("/_ledger/events", params={"detail_type": "TransactionUpdated"}).json()
    from_index_2 = http.get("/_ledger/events", params={"after": 2}).json()

    assert [e["detail_type"] for e in body["events"]] == [
        "TransactionPosted",
        "TransactionPosted",
        "TransactionUpdated",
    ]
    assert [e["index"] for e in body["events"]] == [0, 1, 2]
    assert body["next_index"] == 3
    assert body["events"][2]["detail"]["transaction_id"] == debit.transaction_id
    assert body["events"][2]["source"] == "bank.ledger"
    assert [e["index"] for e in only_updates["events"]] == [2]
    assert [e["index"] for e in from_index_2["events"]] == [2]


def test_given_no_publisher_when_posting_then_events_are_still_recorded_in_memory() -> None:
    emulator = LedgerEmulator(clock=ManualClock(start=0))
    account = emulator.add_sample_account(transactions=3, seed=4)

    assert [e.detail["sequence"] for e in emulator.events()] == [1, 2, 3]
    assert emulator.publish_errors == []
    assert emulator.get_account(account.account_id).status == "ACTIVE"


def test_given_a_failing_publisher_when_posting_then_the_posting_stands_and_the_error_is_kept() -> None:
    def broken(entries: object) -> None:
        raise ConnectionError("bus down")

    emulator = LedgerEmulator(clock=ManualClock(start=0), event_publisher=broken)
    account = emulator.add_sample_account()

    txn = emulator.post_transaction(account.account_id, "1.00", "CREDIT")

    assert emulator.get_transaction(account.account_id, txn.transaction_id).sequence == 1
    assert len(emulator.events()) == 1
    assert [str(e) for e in emulator.publish_errors] == ["bus down"]


def test_given_seeding_when_events_are_not_asked_for_then_history_emits_none_and_with_emit_events_all(
    ledger: LedgerEmulator, publisher: RecordingPublisher
) -> None:
    quiet = ledger.seed_demo(seed=1, businesses=1, transactions_per_account=5)
    assert ledger.events() == []
    assert publisher.entries == []

    loud = ledger.seed_demo(seed=2, businesses=1, transactions_per_account=5, emit_events=True)

    assert quiet.transactions == loud.transactions
    assert len(publisher.details("TransactionPosted")) == loud.transactions
