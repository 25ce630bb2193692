"""Sync jobs: the Spend Money, validation before sending, Xero's per-element answers, Updated expenses, the
double click, reconnecting, Xero's limits, progress and the hand-over of receipts."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import boto3
import pytest

from emulators.ledger import generated_spec
from tests.integration.expense_world import World
from tests.support.sqs_clock import SqsClock
from xerosync.sync_expenses.request_dedup import KEY_PREFIX


def _puts(world: World) -> list[dict[str, Any]]:
    return [r for r in world.xero.request_log if r["method"] in ("PUT", "POST") and "BankTransactions" in r["path"]]


def test_a_synced_expense_is_a_spend_money_with_the_details_and_a_link_back(world: World) -> None:
    # Given an SG business with HKD and USD accounts, each linked to its Xero bank account
    business = world.business(currencies=("HKD", "USD"))
    user = world.user(business.business_id)
    world.map_categories(business, travel="493", software="429")
    taxi = world.pay(business, "123.45", payee="Harbour Taxi", reference="INV-7", description="Taxi to client")
    saas = world.pay(business, "20.00", currency="USD", category="software", payee="GitHub", reference="",
                     description="")
    fee = world.pay(business, "5.00", category="bank_fees", payee="", reference="FEE-1", description="",
                    transaction_type="FEE")
    user.ok("PATCH", f"/v1/expenses/{fee}", {"xero_account_id": world.account_id(business.tenant_id, "404")})
    # When they are synced
    job = user.sync([taxi, saas, fee])
    assert job["status"] == "RUNNING" and job["total"] == 3 and job["summary"].startswith("Syncing")
    world.pump_worker()
    # Then each is SYNCED with its BankTransactionID and a link into Xero
    done = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (done["status"], done["synced"], done["failed"], done["percent_done"]) == ("COMPLETED", 3, 0, 100)
    synced = {e["transaction_id"]: e for e in user.tab("synced")}
    spend = {t["Url"].rsplit("/", 1)[1]: t for t in world.spend_money(business.tenant_id)}
    assert set(synced) == set(spend) == {taxi, saas, fee}
    for transaction_id, expense in synced.items():
        bank_transaction_id = spend[transaction_id]["BankTransactionID"]
        assert expense["spend_money"]["bank_transaction_id"] == bank_transaction_id
        assert expense["spend_money"]["url"].endswith(f"bankTransactionID={bank_transaction_id}")
    # And the Spend Money carries what the issue lists
    taxi_money = spend[taxi]
    assert taxi_money["Type"] == "SPEND" and taxi_money["BankAccount"]["AccountID"] == business.xero_banks["HKD"]
    assert taxi_money["Contact"]["Name"] == "Harbour Taxi" and taxi_money["Reference"] == "INV-7"
    assert taxi_money["CurrencyCode"] == "HKD" and taxi_money["Total"] == Decimal("123.45")
    assert taxi_money["DateString"][:10] == synced[taxi]["date"]
    assert taxi_money["Url"] == f"https://app.bank.example/transactions/{taxi}"
    [line] = taxi_money["LineItems"]
    assert (line["AccountCode"], line["TaxType"], line["Description"], line["LineAmount"]) == (
        "493", "INPUT", "Taxi to client", Decimal("123.45"))
    assert spend[saas]["BankAccount"]["AccountID"] == business.xero_banks["USD"]
    assert spend[saas]["CurrencyCode"] == "USD" and spend[saas]["LineItems"][0]["Description"] == "GitHub"
    assert spend[fee]["Contact"]["Name"] == "Bank"  # the bank's own charge has no payee in the ledger
    # Syncing them again does nothing: they are skipped, not duplicated
    again = user.sync([taxi])
    assert again["skipped"][0]["reason"] == "already_synced" and again["status"] == "COMPLETED"


def test_invalid_expenses_fail_at_once_with_a_reason_and_without_a_xero_call(world: World) -> None:
    # Given expenses that Xero would refuse in different ways
    business = world.business(currencies=("HKD", "USD"))
    tenant = business.tenant_id
    user = world.user(business.business_id)
    world.map_categories(business, travel="493", rent="420")
    regions = next(c for c in world.xero.tracking_categories(tenant) if c["Name"] == "Region")
    north = next(o for o in regions["Options"] if o["Name"] == "North")
    uncategorised = world.pay(business, category=None, pump=False)
    archived_account = world.pay(business, category="rent", pump=False)
    archived_option = world.pay(business, category="travel", pump=False)
    no_payee = world.pay(business, category="travel", payee="", pump=False)
    good = world.pay(business, category="travel", pump=False)
    world.pump_events()
    user.ok("PATCH", f"/v1/expenses/{archived_option}", {"tracking": [
        {"tracking_category_id": regions["TrackingCategoryID"], "tracking_option_id": north["TrackingOptionID"]}]})
    # ... and Xero changed since the mapping and the edit were made
    world.xero.update_account(tenant, world.account_id(tenant, "420"), {"Status": "ARCHIVED"})
    world.xero.set_tracking_status(tenant, north["TrackingOptionID"], "ARCHIVED")
    world.age_reference_data(tenant, seconds=3600)
    world.xero.clear_request_log()
    # When all are synced
    job = user.sync([uncategorised, archived_account, archived_option, no_payee, good])
    # Then the invalid ones are SYNC_ERROR at once, each with its reason, and the job counts them
    assert (job["total"], job["failed"]) == (5, 4) and set(job["failed_transaction_ids"]) == {
        uncategorised, archived_account, archived_option, no_payee}
    errors = {e["transaction_id"]: e["error"] for e in user.pending(status="SYNC_ERROR")}
    assert errors[uncategorised]["code"] == "no_account"
    assert errors[archived_account]["message"] == "The Xero account 420 Entertainment is archived in Xero."
    assert errors[archived_option]["message"] == "The tracking option 'North' of 'Region' is archived in Xero."
    assert errors[no_payee]["code"] == "no_contact"
    assert all(e["action"] for e in errors.values())
    # And only the valid one reached Xero, in one call
    world.pump_worker()
    assert len(_puts(world)) == 1 and [t["Url"].rsplit("/", 1)[1] for t in world.spend_money(tenant)] == [good]
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["summary"] == (
        "Done: 1 of 5 synced, 4 failed (each failed expense shows why).")


def test_a_currency_the_organisation_lacks_fails_before_sending(world: World) -> None:
    # Given a single-currency (HKD) organisation, and a USD account linked to a USD bank account in it
    business = world.business(currencies=("HKD",), multicurrency=False)
    usd = world.ledger.create_account(business.business_id, "USD", name="USD Operating").account_id
    business.accounts["USD"] = usd
    bank = world.xero.add_account(business.tenant_id, {"Code": "092", "Name": "USD", "Type": "BANK",
                                                       "CurrencyCode": "USD"})
    world.link(business, "USD", bank["AccountID"])
    world.map_categories(business, travel="493")
    paid = world.pay(business, currency="USD")
    job = world.user(business.business_id).sync([paid])
    assert job["failed"] == 1
    error = world.user(business.business_id).ok("GET", f"/v1/expenses/{paid}")["error"]
    assert error["code"] == "currency_not_in_organisation"
    assert error["message"] == "Your Xero organisation does not use USD."


def test_xeros_refusal_is_a_fixable_sync_error_and_the_fixed_expense_syncs(world: World) -> None:
    # Given a payee whose contact is archived in Xero (only Xero knows)
    business = world.business(contacts=[{"Name": "Old Supplier", "ContactStatus": "ARCHIVED"}])
    user = world.user(business.business_id)
    world.map_categories(business, travel="493")
    refused = world.pay(business, payee="Old Supplier", pump=False)
    fine = world.pay(business, payee="New Supplier", pump=False)
    world.pump_events()
    job = user.sync([refused, fine])
    world.pump_worker()
    # Then Xero's message is kept, in the person's terms, and the other expense went through
    expense = user.ok("GET", f"/v1/expenses/{refused}")
    assert expense["status"] == "SYNC_ERROR" and expense["error"]["code"] == "xero_refused"
    assert expense["error"]["xero_messages"] == ["The contact is archived and cannot be used."]
    assert expense["error"]["message"] == ("Xero did not accept this expense: The contact is archived and cannot be "
                                           "used.")
    progress = user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")
    assert (progress["synced"], progress["failed"], progress["failed_transaction_ids"]) == (1, 1, [refused])
    # When the user fixes it and syncs it again, it is SYNCED, and the error is gone
    fixed = user.ok("PATCH", f"/v1/expenses/{refused}", {"contact_name": "Old Supplier (2024)"})
    assert fixed["status"] == "PENDING" and fixed["error"] is None
    user.sync([refused])
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/{refused}")["status"] == "SYNCED"
    assert len(world.spend_money(business.tenant_id)) == 2


def test_a_sync_takes_1_to_1000_and_the_same_request_twice_creates_one_job(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    # More than 1000 is a clear 400 naming the limit; none is a 400 too
    response = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": [f"txn_{n}" for n in range(1001)]})
    assert response.status == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_expenses" and "at most 1000 expenses at a time" in error["message"]
    assert "1,001" in error["message"]
    assert user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": []}).status == 400
    world.map_categories(business, travel="493")
    ids = [world.pay(business, pump=False) for _ in range(3)]
    world.pump_events()
    # A double click: the second request returns the first job, nothing is queued twice
    first = user.sync(ids)
    second = user.sync(list(reversed(ids)), plan=False)
    assert second["job_id"] == first["job_id"]
    assert world.queue_depth("ExpenseSyncQueue") == 1  # the one batch the first request's plan sent
    # So does a retry carrying the client's Idempotency-Key
    keyed = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": ids[:1]}, headers={"Idempotency-Key": "k1"})
    again = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": ids[:1]}, headers={"Idempotency-Key": "k1"})
    assert keyed.status == again.status == 202 and keyed.json()["job_id"] == again.json()["job_id"]
    assert keyed.json()["skipped"][0]["reason"] == "already_queued"
    world.pump_worker()
    assert len(world.spend_money(business.tenant_id)) == 3
    # After an expense changed, the same selection is a new request
    world.ledger.set_description(business.accounts["HKD"], ids[0], "Taxi, corrected")
    world.pump_events()
    third = user.sync(ids)
    assert third["job_id"] != first["job_id"] and third["total"] == 1 and len(third["skipped"]) == 2


def test_an_updated_synced_expense_updates_its_spend_money_instead_of_creating_another(world: World) -> None:
    business = world.business()
    tenant = business.tenant_id
    user = world.user(business.business_id)
    world.map_categories(business, travel="493", software="429")
    paid = world.pay(business, category="travel", description="Taxi")
    user.sync([paid])
    world.pump_worker()
    [before] = world.spend_money(tenant)
    # When its category changes in the bank, it is Updated on the Synced tab
    world.ledger.set_spend_category(business.accounts["HKD"], paid, "software")
    world.pump_events()
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert (expense["status"], expense["updated"], expense["xero_account"]["code"]) == ("SYNCED", True, "429")
    # And syncing it again updates the same Spend Money
    job = user.sync([paid])
    assert job["total"] == 1
    world.pump_worker()
    [after] = world.spend_money(tenant)
    assert after["BankTransactionID"] == before["BankTransactionID"]
    assert after["LineItems"][0]["AccountCode"] == "429"
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert (expense["status"], expense["updated"], expense["error"]) == ("SYNCED", False, None)
    assert [r["method"] for r in _puts(world)] == ["PUT", "POST"]


def test_a_reconciled_spend_money_cannot_be_updated_and_the_expense_says_so(world: World) -> None:
    business = world.business()
    user = world.user(business.business_id)
    world.map_categories(business, travel="493", software="429")
    paid = world.pay(business)
    user.sync([paid])
    world.pump_worker()
    [spend] = world.spend_money(business.tenant_id)
    world.xero.set_reconciled(business.tenant_id, spend["BankTransactionID"])
    world.ledger.set_spend_category(business.accounts["HKD"], paid, "software")
    world.pump_events()
    job = user.sync([paid])
    world.pump_worker()
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    # Still synced (it is in Xero), still Updated (the change is not), with the reason and the way out
    assert (expense["status"], expense["updated"]) == ("SYNCED", True)
    assert expense["error"]["code"] == "reconciled_in_xero" and "unreconcile" in expense["error"]["action"]
    assert "reconciled" in expense["error"]["xero_messages"][0]
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["failed"] == 1
    assert user.tab("synced", has_error="true")[0]["transaction_id"] == paid
    [still] = world.spend_money(business.tenant_id)
    assert still["LineItems"][0]["AccountCode"] == "493"


def test_a_spend_money_deleted_in_xero_is_created_again_on_the_next_sync(world: World) -> None:
    business, user = world.mapped_business()
    paid = world.pay(business)
    user.sync([paid])
    world.pump_worker()
    [spend] = world.spend_money(business.tenant_id)
    # The user deletes the Spend Money in Xero
    session = world.client.session(business.business_id)
    existing = session.bank_transaction(spend["BankTransactionID"])
    session.update_bank_transaction(existing.model_copy(update={"status": "DELETED"}), key="delete-by-user")
    world.ledger.set_description(business.accounts["HKD"], paid, "Taxi, corrected")
    world.pump_events()
    user.sync([paid])
    world.pump_worker()
    expense = user.ok("GET", f"/v1/expenses/{paid}")
    assert expense["status"] == "SYNC_ERROR" and expense["error"]["code"] == "deleted_in_xero"
    user.sync([paid])
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "SYNCED"
    [created] = world.spend_money(business.tenant_id)
    assert created["BankTransactionID"] != spend["BankTransactionID"]


def test_a_connection_removed_in_xero_ends_in_sync_error_with_reconnect_guidance_without_looping(
        world: World) -> None:
    business, user = world.mapped_business()
    ids = [world.pay(business, pump=False) for _ in range(2)]
    world.pump_events()
    job = user.sync(ids)
    # When the user removes the app in Xero before the batch runs
    world.xero.disconnect(business.tenant_id)
    outcomes = world.pump_worker()
    # Then the message is finished, not retried, and every expense says what to do
    assert [o.deleted for o in outcomes] == [1] and world.queue_depth("ExpenseSyncQueue") == 0
    for expense in user.pending():
        assert expense["status"] == "SYNC_ERROR" and expense["error"]["code"] == "reconnect_required"
        assert "Connect to Xero again" in expense["error"]["action"]
    assert user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}")["status"] == "COMPLETED"
    # And a new sync is refused until the business reconnects
    response = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": ids})
    assert response.status == 409 and response.json()["error"]["code"] == "reconnect_required"
    assert world.spend_money(business.tenant_id) == []


def test_xeros_rate_limit_returns_the_batch_for_later_instead_of_failing_it(world: World, sqs_clock: SqsClock) -> None:
    business, user = world.mapped_business()
    paid = world.pay(business)
    user.sync([paid])
    world.xero.add_fault("rate_limit", path="*/BankTransactions", method="PUT", times=1, retry_after=1,
                         problem="minute")
    [limited] = world.pump_worker()
    assert limited.failed == 1 and user.ok("GET", f"/v1/expenses/{paid}")["status"] == "QUEUED"
    sqs_clock.advance(1.2)
    world.pump_worker()
    assert user.ok("GET", f"/v1/expenses/{paid}")["status"] == "SYNCED"
    assert len(world.spend_money(business.tenant_id)) == 1


def test_progress_is_readable_batch_by_batch(world: World) -> None:
    # Given 51 expenses: two batches (50 and 1), one Xero call each
    business, user = world.mapped_business()
    ids = world.seed_expenses(business, 51)
    job = user.sync(ids)
    assert (job["status"], job["total"], job["remaining"], job["percent_done"]) == ("RUNNING", 51, 51, 0)
    mapping = world.mapping("SyncExpensesWorkerFunction")
    seen = []
    while mapping.poll_once() is not None:
        seen.append(user.ok("GET", f"/v1/expenses/sync-jobs/{job['job_id']}"))
    assert [(p["synced"], p["remaining"], p["percent_done"], p["status"]) for p in seen] == [
        (50, 1, 98, "RUNNING"), (51, 0, 100, "COMPLETED")]
    assert seen[0]["summary"] == "Syncing: 50 of 51 synced, 0 failed, 1 to go."
    assert seen[-1]["summary"] == "Done: 51 of 51 synced." and seen[-1]["completed_at"]
    assert len([r for r in _puts(world) if r["method"] == "PUT"]) == 2
    assert len(world.spend_money(business.tenant_id)) == 51
    assert user.call("GET", "/v1/expenses/sync-jobs/job_unknown").status == 404


def test_receipts_are_handed_to_the_attachments_queue_unless_uploads_are_switched_off(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from xerosync.lifecycle import new_cold_start

    business, user = world.mapped_business()
    receipt = (generated_spec("pdf", 3000, seed=1),)
    first = world.pay(business, receipts=receipt)
    # Switched off (ATTACHMENT_UPLOADS_ENABLED=false): nothing is handed over
    monkeypatch.setenv("ATTACHMENT_UPLOADS_ENABLED", "false")
    new_cold_start()
    user.sync([first])
    world.pump_worker()
    assert world.queue_depth("AttachmentsQueue") == 0
    # As deployed (the template switches it on), a synced expense with receipts is handed over; one without
    # receipts is not
    monkeypatch.undo()
    new_cold_start()
    with_receipts = world.pay(business, receipts=receipt, pump=False)
    without = world.pay(business, pump=False)
    world.pump_events()
    user.sync([with_receipts, without])
    world.pump_worker()
    [message] = boto3.client("sqs").receive_message(QueueUrl=world.aws.queue_url("AttachmentsQueue"),
                                                    MaxNumberOfMessages=10,
                                                    MessageSystemAttributeNames=["MessageGroupId"])["Messages"]
    body = json.loads(message["Body"])
    expense = user.ok("GET", f"/v1/expenses/{with_receipts}")
    generation = world.client.connections.get(business.business_id).generation  # type: ignore[union-attr]
    assert body == {"kind": "expense_attachments", "business_id": business.business_id,
                    "tenant_id": business.tenant_id, "generation": generation, "account_id": business.accounts["HKD"],
                    "transaction_id": with_receipts,
                    "bank_transaction_id": expense["spend_money"]["bank_transaction_id"], "expense_version": 1}
    assert message["Attributes"]["MessageGroupId"] == f"{business.tenant_id}:{business.business_id}"


def test_a_sync_request_that_failed_half_way_is_forgotten_by_the_double_click_guard(world: World) -> None:
    # Given pending expenses, and the expense queue unreachable when Fiona clicks Sync
    business = world.business()
    user = world.user(business.business_id)
    world.map_categories(business, travel="493")
    ids = [world.pay(business, pump=False) for _ in range(2)]
    world.pump_events()
    sqs = boto3.client("sqs")
    url = world.aws.queue_url("ExpenseSyncQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    sqs.delete_queue(QueueUrl=url)
    failed = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": ids})
    assert failed.status == 500 and failed.json()["error"]["code"] == "internal_error"
    # When the queue is back and she clicks again, the guard does not hold the failed request against her
    # (no "already being started", no replay of the failure): a new job answers and takes both expenses, which
    # the failed one never marked (its plan never left the API)
    kept = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
            "VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy")
    sqs.create_queue(QueueName=url.rsplit("/", 1)[1], Attributes={k: attributes[k] for k in kept if k in attributes})
    again = user.sync(ids)
    assert again["requested"] == again["total"] == 2 and again["skipped"] == []


def test_a_sync_request_that_dies_while_starting_frees_its_key_when_its_invocation_would_have_ended(
        world: World) -> None:
    # Given a business with an expense to sync
    business = world.business()
    user = world.user(business.business_id)
    world.map_categories(business, travel="493")
    paid = world.pay(business)
    table = boto3.resource("dynamodb").Table(world.aws.refs["IdempotencyTable"])

    def records() -> dict[str, Any]:
        return {str(item["id"]): item for item in table.scan()["Items"] if str(item["id"]).startswith(KEY_PREFIX)}

    earlier = records()  # the module's other tests' requests
    # When its sync is started (through the HTTP API, whose function has 29 s)
    started_ms = time.time() * 1000
    user.sync([paid], plan=False)
    # Then the request's deduplication record is held for the invocation's time, not the whole dedup window: a
    # request killed mid-way would leave the selection free again about 29 s later
    [record] = [item for key, item in records().items() if key not in earlier]
    held_ms = int(record["in_progress_expiration"]) - started_ms
    assert 25_000 < held_ms <= 29_500, held_ms
