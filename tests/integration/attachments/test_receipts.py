"""Receipts: after a Spend Money is created or updated, its receipts go to Xero through AttachmentsQueue, one
Xero call per file, within Xero's limits; what cannot go is shown per file on the Synced tab's Sync error and
at the attachment status route."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.ledger import generated_spec, uploaded_spec
from emulators.ledger.models import ReceiptSpec
from emulators.time_control import OffsetClock
from local.lambda_runtime import acting_as
from tests.integration.expense_world import ApiUser, Business, World, killed_once_xero_took
from tests.support.sqs_clock import SqsClock
from xerosync.attachments.plan import UploadState
from xerosync.attachments.store import ReceiptUploadStore
from xerosync.attachments.uploader import UPLOAD_LEASE_SECONDS
from xerosync.attachments.wiring import get_receipts_worker
from xerosync.clock import iso, utc_now
from xerosync.ledger.client import LedgerClient
from xerosync.store.connections import ConnectionStatus, ConnectionStore
from xerosync.sync_expenses.state_machine import apply_ledger
from xerosync.sync_expenses.store import ExpenseStore
from xerosync.xero.session import XeroSession


@pytest.fixture(autouse=True)
def _xeros_limits_as_configured(world: World) -> Iterator[None]:
    yield
    world.xero.configure(attachment_max_bytes=3_000_000)


def _synced(world: World, business: Business, user: ApiUser, receipts: tuple[ReceiptSpec, ...]) -> tuple[str, str]:
    """A payment with ``receipts``, synced; its receipts uploaded. Returns (transaction id, BankTransactionID)."""
    paid = world.pay(business, receipts=receipts)
    job = user.sync([paid])
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["synced"] == 1
    world.pump("AttachmentsWorkerFunction")
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    return paid, expense["spend_money"]["bank_transaction_id"]


def _in_xero(world: World, business: Business, bank_transaction_id: str) -> list[dict[str, Any]]:
    return world.xero.attachments(business.tenant_id, bank_transaction_id)


def _uploads(world: World) -> list[dict[str, Any]]:
    return [r for r in world.xero.request_log if "/Attachments/" in r["path"] and r["method"] in ("PUT", "POST")]


def _status(user: ApiUser, transaction_id: str) -> dict[str, Any]:
    return dict(user.ok("GET", f"/v1/expenses/{transaction_id}/attachments"))


def _content(world: World, business: Business, transaction_id: str, attachment_id: str) -> bytes:
    return world.ledger.attachment_bytes(business.accounts["HKD"], transaction_id, attachment_id)


def test_an_expense_with_three_receipts_has_all_three_in_xero_one_call_each(world: World) -> None:
    business, user = world.mapped_business()
    receipts = (generated_spec("pdf", 40_000, seed=1), generated_spec("png", 25_000, seed=2),
                generated_spec("jpeg", 30_000, seed=3, file_name="taxi.jpg"))
    paid = world.pay(business, receipts=receipts)
    # Before the sync, the receipts wait for the expense
    before = _status(user, paid)
    assert [f["state"] for f in before["files"]] == ["WAITING"] * 3
    assert before["summary"] == "3 receipt(s) will go to Xero when the expense is synced."

    paid, bank_transaction_id = _synced(world, business, user, receipts)  # (a second payment, same receipts)
    in_xero = _in_xero(world, business, bank_transaction_id)
    ledger_files = world.ledger.get_transaction(business.accounts["HKD"], paid).attachments
    assert sorted(a["sha256"] for a in in_xero) == sorted(
        hashlib.sha256(_content(world, business, paid, f.attachment_id)).hexdigest() for f in ledger_files)
    assert sorted(a["FileName"] for a in in_xero) == ["receipt-00001.pdf", "receipt-00002.png", "taxi.jpg"]
    assert {a["MimeType"] for a in in_xero} == {"application/pdf", "image/png", "image/jpeg"}
    assert len(_uploads(world)) == 3
    status = _status(user, paid)
    assert status["summary"] == "3 of 3 receipt(s) in Xero."
    assert [f["state"] for f in status["files"]] == ["SYNCED"] * 3
    assert status["limits"] == {"max_count": 10, "max_bytes": 3_000_000}
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNCED" and expense["attachment_errors"] == [] and expense["error"] is None


def test_eleven_files_send_ten_and_the_eleventh_is_a_sync_error_with_the_reason(world: World) -> None:
    business, user = world.mapped_business()
    receipts = tuple(generated_spec("pdf", 2_000 + n, seed=100 + n) for n in range(11))
    paid, bank_transaction_id = _synced(world, business, user, receipts)
    assert len(_in_xero(world, business, bank_transaction_id)) == 10
    assert len(_uploads(world)) == 10
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNCED"
    [problem] = expense["attachment_errors"]
    assert problem["file_name"] == "receipt-00110.pdf"
    assert problem["message"] == "Xero allows at most 10 attachments on a transaction."
    assert "10 receipts" in problem["action"]
    # The Synced tab's Sync error filter finds it
    assert [e["transaction_id"] for e in user.tab("synced", has_error="true")] == [paid]
    status = _status(user, paid)
    assert status["summary"] == "10 of 11 receipt(s) in Xero, 1 not synced (see each file's reason)."


@pytest.mark.parametrize(("receipt", "reason"), [
    (generated_spec("pdf", 3_100_000, seed=7), "The file is 3.1 MB; Xero accepts attachments under 3.0 MB."),
    (generated_spec("exe", 50_000, seed=8, file_name="invoice.pdf"),
     "Xero does not accept this file: it is a program, not a document."),
    (generated_spec("empty", 0, seed=9), "The file is empty."),
], ids=["3.1 MB", "executable renamed .pdf", "empty"])
def test_a_file_that_breaks_a_rule_is_not_sent_and_says_why(world: World, receipt: ReceiptSpec, reason: str) -> None:
    business, user = world.mapped_business()
    good = generated_spec("pdf", 10_000, seed=10)
    paid, bank_transaction_id = _synced(world, business, user, (good, receipt))
    assert [a["FileName"] for a in _in_xero(world, business, bank_transaction_id)] == ["receipt-00010.pdf"]
    assert len(_uploads(world)) == 1  # the bad file cost no Xero call
    [problem] = user.ok("GET", f"/v1/expenses/{paid}")["attachment_errors"]
    assert problem["message"] == reason and problem["action"].endswith("sync the expense again.")
    [_, bad] = _status(user, paid)["files"]
    assert bad["state"] == "ERROR" and bad["reason"] == reason


def test_a_file_name_with_a_path_in_it_keeps_only_its_name(world: World) -> None:
    business, user = world.mapped_business()
    receipts = (generated_spec("pdf", 5_000, seed=11, file_name="C:\\Users\\fiona\\Receipts\\taxi fare.pdf"),
                generated_spec("png", 5_000, seed=12, file_name="../../etc/passwd"))
    paid, bank_transaction_id = _synced(world, business, user, receipts)
    names = sorted(a["FileName"] for a in _in_xero(world, business, bank_transaction_id))
    assert names == ["passwd.png", "taxi fare.pdf"]
    assert sorted(f["xero_file_name"] for f in _status(user, paid)["files"]) == names


def test_the_same_file_twice_is_uploaded_once(world: World) -> None:
    business, user = world.mapped_business()
    content = b"%PDF-1.4\n" + b"same receipt " * 500 + b"\n%%EOF\n"
    receipts = (uploaded_spec("taxi.pdf", content, "application/pdf"),
                uploaded_spec("taxi (copy).pdf", content, "application/pdf"))
    paid, bank_transaction_id = _synced(world, business, user, receipts)
    assert [a["FileName"] for a in _in_xero(world, business, bank_transaction_id)] == ["taxi.pdf"]
    assert len(_uploads(world)) == 1
    assert [f["state"] for f in _status(user, paid)["files"]] == ["SYNCED", "SYNCED"]


def test_xero_answering_413_is_a_per_file_error_and_the_others_go(world: World) -> None:
    # Xero's own limit is lower than the product's (it has changed over time)
    world.xero.configure(attachment_max_bytes=1_000_000)
    business, user = world.mapped_business()
    receipts = (generated_spec("pdf", 1_500_000, seed=13), generated_spec("png", 8_000, seed=14))
    paid, bank_transaction_id = _synced(world, business, user, receipts)
    assert [a["FileName"] for a in _in_xero(world, business, bank_transaction_id)] == ["receipt-00014.png"]
    [problem] = user.ok("GET", f"/v1/expenses/{paid}")["attachment_errors"]
    assert problem == {"attachment_id": problem["attachment_id"], "file_name": "receipt-00013.pdf",
                       "message": "Xero refused the file as too large.",
                       "action": "Attach a smaller copy in the bank's app, then sync the expense again."}
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "SYNCED"


def test_a_crash_between_the_upload_and_its_record_never_uploads_twice(world: World,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      sqs_clock: SqsClock) -> None:
    business, user = world.mapped_business()
    receipts = (generated_spec("pdf", 20_000, seed=15), generated_spec("png", 20_000, seed=16))
    paid = world.pay(business, receipts=receipts)
    user.sync([paid])
    world.pump_worker()
    # The worker dies right after Xero took the first file, before it wrote that down
    save = ReceiptUploadStore.save
    crashed = []

    def crash_after_upload(self: ReceiptUploadStore, uploads: Any) -> Any:
        if not crashed and any(r.state == UploadState.UPLOADED for r in uploads.records.values()):
            crashed.append(True)
            raise RuntimeError("the execution environment died")
        return save(self, uploads)

    monkeypatch.setattr(ReceiptUploadStore, "save", crash_after_upload)
    [outcome] = world.pump("AttachmentsWorkerFunction")
    assert outcome.failed and crashed
    # The message comes back after its visibility timeout (720 s as deployed): the dead run's lease on the file
    # has run out by then
    with acting_as("AttachmentsWorkerFunction"):
        uploader = get_receipts_worker().uploader
    monkeypatch.setattr(uploader, "clock", OffsetClock(uploader.clock, UPLOAD_LEASE_SECONDS + 1))
    sqs_clock.advance(1.1)
    world.pump("AttachmentsWorkerFunction")
    bank_transaction_id = user.ok("GET", f"/v1/expenses/{paid}")["spend_money"]["bank_transaction_id"]
    assert sorted(a["FileName"] for a in _in_xero(world, business, bank_transaction_id)) == [
        "receipt-00015.pdf", "receipt-00016.png"]
    assert len(_uploads(world)) == 2  # Xero was asked what it has before anything was sent again
    assert [f["state"] for f in _status(user, paid)["files"]] == ["SYNCED", "SYNCED"]


def test_two_runs_of_one_expense_at_once_upload_its_receipt_once(world: World, sqs_clock: SqsClock) -> None:
    # Given a synced expense with a receipt, and the receipts message's run A sending it to Xero
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("pdf", 8_000, seed=17),))
    user.sync([paid])
    world.pump_worker()
    mapping = world.mapping("AttachmentsWorkerFunction")
    first = threading.get_ident()
    upload, b_outcome = XeroSession.upload_attachment, []

    def b_runs_meanwhile(self: XeroSession, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == first and not b_outcome:
            # When A's message outlives its visibility timeout while A's upload is on its way (not landed yet),
            # and SQS hands it to run B, which finds A's UPLOADING record and looks in Xero
            sqs_clock.advance(mapping.in_flight_visibility + 1)
            b_delivery = threading.Thread(target=lambda: b_outcome.append(
                world.mapping("AttachmentsWorkerFunction").poll_once()))
            b_delivery.start()
            b_delivery.join(60)
        return upload(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(XeroSession, "upload_attachment", b_runs_meanwhile)
        a_outcome = mapping.poll_once()
    # (A recorded what Xero took; B sent nothing and returned the message for when A's lease runs out)
    assert a_outcome is not None and a_outcome.deleted == 1
    assert b_outcome and b_outcome[0] is not None and b_outcome[0].failed == 1
    sqs_clock.advance(UPLOAD_LEASE_SECONDS + 60)  # whatever came back, comes back
    world.pump("AttachmentsWorkerFunction")
    # Then the receipt is in Xero once: B did not send what A was sending
    bank_transaction_id = user.ok("GET", f"/v1/expenses/{paid}")["spend_money"]["bank_transaction_id"]
    assert [a["FileName"] for a in _in_xero(world, business, bank_transaction_id)] == ["receipt-00017.pdf"]
    assert len(_uploads(world)) == 1
    assert _status(user, paid)["summary"] == "1 of 1 receipt(s) in Xero."
    assert world.queue_depth("AttachmentsQueue") == 0


def test_a_run_killed_mid_upload_holds_its_receipt_until_its_timeout_then_xero_is_asked_first(
        world: World, sqs_clock: SqsClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a receipts run killed at its timeout while its upload was on its way (it landed in Xero)
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("png", 8_000, seed=18),))
    user.sync([paid])
    world.pump_worker()
    with killed_once_xero_took("upload_attachment"):
        world.pump("AttachmentsWorkerFunction")
    # When the message comes back before that run's longest possible end: nothing is sent, it comes back later
    sqs_clock.advance(1.1)
    [early] = world.pump("AttachmentsWorkerFunction")
    assert early.failed == 1 and len(_uploads(world)) == 1
    assert [f["state"] for f in _status(user, paid)["files"]] == ["UPLOADING"]
    # And once that run's timeout has passed, Xero is asked first: the receipt is there, and is not sent again
    with acting_as("AttachmentsWorkerFunction"):  # the worker's own uploader, as it runs
        uploader = get_receipts_worker().uploader
    monkeypatch.setattr(uploader, "clock", OffsetClock(uploader.clock, UPLOAD_LEASE_SECONDS + 1))
    sqs_clock.advance(UPLOAD_LEASE_SECONDS + 60)
    world.pump("AttachmentsWorkerFunction")
    bank_transaction_id = user.ok("GET", f"/v1/expenses/{paid}")["spend_money"]["bank_transaction_id"]
    assert len(_in_xero(world, business, bank_transaction_id)) == 1 and len(_uploads(world)) == 1
    assert _status(user, paid)["summary"] == "1 of 1 receipt(s) in Xero."
    assert world.queue_depth("AttachmentsQueue") == 0


def test_after_a_500_the_receipt_is_looked_up_and_sent_again_under_a_new_key(world: World) -> None:
    # Given Xero failing the first upload with a 500 (which it remembers under that request's Idempotency-Key)
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("pdf", 4_000, seed=60),))
    user.sync([paid])
    world.pump_worker()
    world.xero.add_fault("error", status=500, path="*/Attachments/*", method="PUT", times=1)
    # When the worker takes the receipts
    [outcome] = world.pump("AttachmentsWorkerFunction")
    # Then it looked up what landed, sent the file again under a key of its own, and the file is in Xero once
    assert outcome.deleted == 1
    bank_transaction_id = user.ok("GET", f"/v1/expenses/{paid}")["spend_money"]["bank_transaction_id"]
    assert len(_in_xero(world, business, bank_transaction_id)) == 1
    sent = _uploads(world)
    assert [r["status"] for r in sent] == [500, 200] and not any(r["replayed"] for r in sent)
    assert len({r["idempotency_key"] for r in sent}) == 2
    assert _status(user, paid)["summary"] == "1 of 1 receipt(s) in Xero."


def test_a_receipt_xero_keeps_failing_goes_on_a_later_delivery_not_a_remembered_500(
        world: World, sqs_clock: SqsClock) -> None:
    # Given Xero failing every send of the first delivery (more than one delivery's tries)
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("png", 4_000, seed=61),))
    user.sync([paid])
    world.pump_worker()
    fault = world.xero.add_fault("error", status=500, path="*/Attachments/*", method="PUT", times=None)
    [first] = world.pump("AttachmentsWorkerFunction")
    assert first.failed == 1
    world.xero.remove_fault(fault["id"])
    # When SQS hands the message back within Xero's memory of those keys (minutes)
    sqs_clock.advance(1.1)
    [second] = world.pump("AttachmentsWorkerFunction")
    # Then the redelivery looked Xero up and sent under a key Xero has not seen: the file is in Xero, once
    assert second.deleted == 1
    bank_transaction_id = user.ok("GET", f"/v1/expenses/{paid}")["spend_money"]["bank_transaction_id"]
    assert len(_in_xero(world, business, bank_transaction_id)) == 1
    sent = _uploads(world)
    assert sent[-1]["status"] == 200 and not sent[-1]["replayed"]
    assert len({r["idempotency_key"] for r in sent}) == len(sent)


def test_a_429_returns_the_message_for_retry_after_and_nothing_is_lost(world: World, sqs_clock: SqsClock) -> None:
    business, user = world.mapped_business()
    receipts = tuple(generated_spec("pdf", 3_000, seed=20 + n) for n in range(3))
    paid = world.pay(business, receipts=receipts)
    user.sync([paid])
    world.pump_worker()
    world.xero.add_fault("rate_limit", path="*/Attachments/*", times=1, retry_after=1, problem="minute")
    [outcome] = world.pump("AttachmentsWorkerFunction")
    assert outcome.failed
    sqs_clock.advance(1.2)
    world.pump("AttachmentsWorkerFunction")
    bank_transaction_id = user.ok("GET", f"/v1/expenses/{paid}")["spend_money"]["bank_transaction_id"]
    assert len(_in_xero(world, business, bank_transaction_id)) == 3
    assert _status(user, paid)["summary"] == "3 of 3 receipt(s) in Xero."


def _hotel_bill_corrected(world: World, seed: int) -> tuple[Business, ApiUser, str, str, str]:
    """A synced expense with hotel.pdf and taxi.png in Xero, whose hotel bill the customer then replaces with a
    corrected one (same name, new content): business, user, transaction, Spend Money and bank account ids."""
    business, user = world.mapped_business()
    receipts = (generated_spec("pdf", 9_000, seed=seed, file_name="hotel.pdf"),
                generated_spec("png", 9_000, seed=seed + 1, file_name="taxi.png"))
    paid, bank_transaction_id = _synced(world, business, user, receipts)
    account = business.accounts["HKD"]
    hotel = world.ledger.get_transaction(account, paid).attachments[0]
    world.ledger.replace_attachment(account, paid, hotel.attachment_id,
                                    generated_spec("pdf", 11_000, seed=seed + 2, file_name="hotel.pdf"))
    return business, user, paid, bank_transaction_id, account


def test_changed_receipts_upload_only_what_is_missing_and_a_replaced_one_replaces(world: World) -> None:
    # The customer replaces the hotel bill with a corrected one and adds a dinner receipt
    business, user, paid, bank_transaction_id, account = _hotel_bill_corrected(world, seed=30)
    world.ledger.add_attachment(account, paid, generated_spec("jpeg", 7_000, seed=33, file_name="dinner.jpg"))
    world.pump_events()
    assert user.ok("GET", f"/v1/expenses/{paid}")["updated"] is True
    world.xero.clear_request_log()
    user.sync([paid])
    world.pump_worker()
    world.pump("AttachmentsWorkerFunction")
    uploads = _uploads(world)
    assert sorted((r["method"], r["path"].rsplit("/", 1)[1]) for r in uploads) == [
        ("POST", "hotel.pdf"), ("PUT", "dinner.jpg")]
    in_xero = {a["FileName"]: a for a in _in_xero(world, business, bank_transaction_id)}
    assert sorted(in_xero) == ["dinner.jpg", "hotel.pdf", "taxi.png"]
    new_hotel = world.ledger.get_transaction(account, paid).attachments
    corrected = next(f for f in new_hotel if f.file_name == "hotel.pdf")
    assert in_xero["hotel.pdf"]["sha256"] == hashlib.sha256(
        _content(world, business, paid, corrected.attachment_id)).hexdigest()


def test_a_replacement_cut_off_by_a_429_still_replaces_when_the_message_comes_back(
        world: World, sqs_clock: SqsClock) -> None:
    business, user, paid, bank_transaction_id, account = _hotel_bill_corrected(world, seed=40)
    world.pump_events()
    user.sync([paid])
    world.pump_worker()
    # Given Xero answering the replacement with 429, after the worker wrote down that it was sending it
    world.xero.add_fault("rate_limit", path="*/Attachments/hotel.pdf", method="POST", times=1, retry_after=1,
                         problem="minute")
    [outcome] = world.pump("AttachmentsWorkerFunction")
    assert outcome.failed
    # When the message comes back
    sqs_clock.advance(1.2)
    world.pump("AttachmentsWorkerFunction")
    # Then the corrected file replaced the old one, as intended: no second hotel bill beside it
    in_xero = {a["FileName"]: a for a in _in_xero(world, business, bank_transaction_id)}
    assert sorted(in_xero) == ["hotel.pdf", "taxi.png"]
    corrected = next(f for f in world.ledger.get_transaction(account, paid).attachments if f.file_name == "hotel.pdf")
    assert in_xero["hotel.pdf"]["sha256"] == hashlib.sha256(
        _content(world, business, paid, corrected.attachment_id)).hexdigest()
    assert _status(user, paid)["summary"] == "2 of 2 receipt(s) in Xero."


def test_receipts_wait_for_a_reconnect_and_the_retry_sends_them(world: World) -> None:
    business, user = world.mapped_business()
    receipts = (generated_spec("pdf", 4_000, seed=40), generated_spec("png", 4_000, seed=41))
    paid = world.pay(business, receipts=receipts)
    user.sync([paid])
    world.pump_worker()
    connections = ConnectionStore(world.table)
    now = iso(utc_now(world.client.clock))
    connections.set_status(business.business_id, ConnectionStatus.NEEDS_RECONNECT, "Xero refused the token.", now)
    world.pump("AttachmentsWorkerFunction")
    problems = user.ok("GET", f"/v1/expenses/{paid}")["attachment_errors"]
    assert len(problems) == 2 and problems[0]["action"].startswith("Connect to Xero again")
    assert len(_uploads(world)) == 0
    # The status route tells the same story as the Synced tab, not "on the way"
    waiting = _status(user, paid)
    assert [f["state"] for f in waiting["files"]] == ["ERROR", "ERROR"]
    assert waiting["files"][0]["action"].startswith("Connect to Xero again")
    # Reconnected: the retry sends them
    connections.set_status(business.business_id, ConnectionStatus.ACTIVE, None, now)
    retried = user.ok("POST", f"/v1/expenses/{paid}/attachments/retry", status=202)
    assert [f["state"] for f in retried["files"]] == ["QUEUED", "QUEUED"]
    world.pump("AttachmentsWorkerFunction")
    assert user.ok("GET", f"/v1/expenses/{paid}")["attachment_errors"] == []
    assert _status(user, paid)["summary"] == "2 of 2 receipt(s) in Xero."
    assert len(_uploads(world)) == 2


def test_the_status_route_follows_the_feature_rules(world: World) -> None:
    business, user = world.mapped_business()
    paid = world.pay(business, receipts=(generated_spec("pdf", 4_000, seed=50),))
    employee = world.user(business.business_id, role="Employee", user_id="u_eric")
    assert employee.call("GET", f"/v1/expenses/{paid}/attachments").status == 403
    assert user.call("GET", "/v1/expenses/txn_unknown/attachments").status == 404
    other, _ = world.mapped_business()
    assert world.user(other.business_id).call("GET", f"/v1/expenses/{paid}/attachments").status == 404
    # Not synced yet: nothing to retry
    response = user.call("POST", f"/v1/expenses/{paid}/attachments/retry")
    assert response.status == 409 and response.json()["error"]["code"] == "expense_not_synced"


def _changed_without_its_event(world: World, *, receipt_seed: int) -> tuple[Business, ApiUser, str]:
    """A payment whose expense exists; then a receipt and a new description in the bank's app, whose event the
    product does not get (EventBridge lost it, or it is late)."""
    business, user = world.mapped_business()
    paid = world.pay(business, description="Taxi")
    account = business.accounts["HKD"]
    world.ledger_events.muted = True
    try:
        world.ledger.add_attachment(account, paid, generated_spec("pdf", 9_000, seed=receipt_seed,
                                                                  file_name="taxi.pdf"))
        world.ledger.set_description(account, paid, "Taxi to the airport")
    finally:
        world.ledger_events.muted = False
    return business, user, paid

def test_a_receipt_whose_ledger_event_was_lost_still_goes_with_the_sync(world: World) -> None:
    # The payment's expense exists (its posting's event arrived); the receipt added in the bank's app next day
    # never reaches the product as an event (EventBridge lost it). Syncing the expense reads the ledger first:
    # the Spend Money carries the current description and the receipt goes to Xero, shown SYNCED.
    business, user, paid = _changed_without_its_event(world, receipt_seed=41)
    account = business.accounts["HKD"]
    assert _status(user, paid)["files"] == []  # nothing told the product yet
    job = user.sync([paid])
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["synced"] == 1
    world.pump("AttachmentsWorkerFunction")
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNCED" and expense["updated"] is False
    bank_transaction_id = expense["spend_money"]["bank_transaction_id"]
    [spend] = [s for s in world.spend_money(business.tenant_id) if s["BankTransactionID"] == bank_transaction_id]
    assert spend["LineItems"][0]["Description"].startswith("Taxi to the airport")
    [receipt] = world.ledger.get_transaction(account, paid).attachments
    in_xero = _in_xero(world, business, bank_transaction_id)
    assert [a["sha256"] for a in in_xero] == [
        hashlib.sha256(_content(world, business, paid, receipt.attachment_id)).hexdigest()]
    status = _status(user, paid)
    assert status["summary"] == "1 of 1 receipt(s) in Xero."
    assert [(f["attachment_id"], f["state"]) for f in status["files"]] == [(receipt.attachment_id, "SYNCED")]
    # Handing the expense over again (a retry) sends nothing twice
    user.ok("POST", f"/v1/expenses/{paid}/attachments/retry", status=202)
    world.pump("AttachmentsWorkerFunction")
    assert len(_in_xero(world, business, bank_transaction_id)) == 1


def test_a_ledger_event_that_lands_while_the_worker_reads_the_payment_still_sends_the_current_payment(
        world: World) -> None:
    # The receipt and the new description reach the ledger; their event is late. The worker reads its batch (the
    # expense as it was), then the payment from the ledger; just then the event lands and writes the same
    # version first, so the worker's own write of it changes nothing. What goes to Xero is still the payment as
    # the ledger has it (not the copy read before the event), and the expense is not left showing Updated.
    business, user, paid = _changed_without_its_event(world, receipt_seed=43)
    original, raced = LedgerClient.transaction, []

    def event_lands_first(self: LedgerClient, account_id: str, transaction_id: str) -> Any:
        payment = original(self, account_id, transaction_id)
        if transaction_id == paid and not raced:
            # The consumer's write of the event: the same state machine and conditional write
            saved = ExpenseStore(world.table).change(business.business_id, paid, lambda record: apply_ledger(
                record, payment, iso(utc_now(world.client.clock))))
            raced.append(saved)
        return payment

    job = user.sync([paid])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LedgerClient, "transaction", event_lands_first)
        world.pump_worker()
    assert len(raced) == 1 and raced[0] is not None and raced[0].status == "QUEUED"  # the event won the race
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert progress["status"] == "COMPLETED" and progress["synced"] == 1
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNCED" and expense["updated"] is False
    [spend] = world.spend_money(business.tenant_id)
    assert spend["LineItems"][0]["Description"].startswith("Taxi to the airport")
    world.pump("AttachmentsWorkerFunction")
    assert len(_in_xero(world, business, expense["spend_money"]["bank_transaction_id"])) == 1


def _ledger_reads(patch: pytest.MonkeyPatch) -> list[str]:
    """The ledger's calls the functions make from here on, by kind."""
    calls: list[str] = []
    original = LedgerClient._get

    def counted(self: LedgerClient, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        calls.append("list" if path.endswith("/transactions") else "get")
        return original(self, path, params, **kwargs)

    patch.setattr(LedgerClient, "_get", counted)
    return calls


def test_a_batch_reads_its_payments_in_one_listing_and_an_event_landing_meanwhile_still_sends_the_current_copy(
        world: World) -> None:
    # Four payments, money coming in between them; two change in the bank while their events are late. The batch
    # reads the account's postings once (not one call per payment); one late event lands during that read and
    # writes its version first. Xero gets each payment as the ledger has it, and nothing is left Updated.
    business, user = world.mapped_business()
    account = business.accounts["HKD"]
    paid = []
    for n in range(4):
        paid.append(world.pay(business, description=f"Taxi {n}", pump=False))
        world.ledger.post_transaction(account, "500.00", "CREDIT")
    world.pump_events()
    world.ledger_events.muted = True
    try:
        world.ledger.add_attachment(account, paid[1], generated_spec("pdf", 9_000, seed=44, file_name="taxi.pdf"))
        world.ledger.set_description(account, paid[1], "Taxi to the airport")
        world.ledger.set_description(account, paid[2], "Taxi home")
    finally:
        world.ledger_events.muted = False
    original, raced = LedgerClient.transactions, []

    def event_lands_during_the_listing(self: LedgerClient, account_id: str, **kwargs: Any) -> Any:
        page = original(self, account_id, **kwargs)
        if not raced:
            [payment] = [t for t in page.transactions if t.transaction_id == paid[2]]
            raced.append(ExpenseStore(world.table).change(business.business_id, paid[2], lambda record: apply_ledger(
                record, payment, iso(utc_now(world.client.clock)))))
        return page

    job = user.sync(paid)
    with pytest.MonkeyPatch.context() as patch:
        reads = _ledger_reads(patch)
        patch.setattr(LedgerClient, "transactions", event_lands_during_the_listing)
        world.pump_worker()
    assert reads == ["list"]  # one batch, one read of the ledger
    assert len(raced) == 1 and raced[0] is not None and raced[0].status == "QUEUED"  # the event won the race
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert progress["status"] == "COMPLETED" and progress["synced"] == 4
    sent = {s["Url"].rsplit("/", 1)[-1]: s["LineItems"][0]["Description"]
            for s in world.spend_money(business.tenant_id)}
    assert [sent[t].split(" (")[0] for t in paid] == ["Taxi 0", "Taxi to the airport", "Taxi home", "Taxi 3"]
    for transaction_id in paid:
        expense = user.ok("GET", f"/v1/expenses/{transaction_id}")
        assert expense["status"] == "SYNCED" and expense["updated"] is False
    world.pump("AttachmentsWorkerFunction")
    bank_transaction_id = user.ok("GET", f"/v1/expenses/{paid[1]}")["spend_money"]["bank_transaction_id"]
    assert len(_in_xero(world, business, bank_transaction_id)) == 1
