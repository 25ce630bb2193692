"""Disconnecting from the bank's side or from Xero's, and reconnecting."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from emulators.ledger import LedgerEmulator
from emulators.time_control import OffsetClock
from emulators.xero import XeroEmulator
from local.event_sources import Scheduler, SqsEventSourceMapping
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from tests.support.connect_api import Api, User, token_items
from tests.support.connect_steps import disconnect_that_dies_after_marking, linked_business
from xerosync.clock import SystemClock, use_process_clock
from xerosync.store.connections import ConnectionCheckPosition, ConnectionStatus, ConnectionStore
from xerosync.xero.client import get_xero_client
from xerosync.xero.tokens import TokenVault


def _live_connections(xero: XeroEmulator) -> set[str]:
    return {c["tenantId"] for c in xero.connections()}


def test_disconnect_removes_feeds_connection_and_tokens_and_is_idempotent(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned) -> None:
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    # When Fiona disconnects Xero from the bank's side
    response = fiona.call("DELETE", "/v1/xero/connection")
    # Then the connection shows DISCONNECTED at once, with nothing left pending
    assert response.status == 200
    assert response.json()["status"] == "DISCONNECTED" and response.json()["cleanup_pending"] is False
    # And in Xero the feed connection is deleted, the app's connection removed and the grant revoked
    xero.advance_clock(5)
    xero.settle_pending()
    assert [f["state"] for f in xero.feed_connections(tenant)] == ["DELETED"]
    assert tenant not in _live_connections(xero)
    assert xero.token_stats()["revocations"] == 1
    # And the tokens are gone from the tokens table
    assert token_items(aws, business_id) == []
    # And the status shows what happened and the way back
    status = fiona.call("GET", "/v1/xero/connection").json()
    assert status["connection"]["status"] == "DISCONNECTED" and status["connection"]["action"]
    link = status["accounts"][0]["link"]
    assert link["status"] == "DISCONNECTED" and link["action"].startswith("Link the account to a Xero bank account")
    # And disconnecting again is fine
    again = fiona.call("DELETE", "/v1/xero/connection")
    assert again.status == 200 and again.json()["status"] == "DISCONNECTED"


def test_disconnect_while_xero_is_unreachable_finishes_later_from_the_queue(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    xero.add_fault("error", path="*", status=503, times=None)
    # When Fiona disconnects during a Xero outage, the bank's side still ends DISCONNECTED
    response = fiona.call("DELETE", "/v1/xero/connection")
    assert response.status == 200
    assert response.json()["status"] == "DISCONNECTED" and response.json()["cleanup_pending"] is True
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "DISCONNECTED"
    # And once Xero is back, the cleanup queue's consumer finishes the job in Xero
    xero.clear_faults()
    source = next(s for s in aws.template.sqs_sources() if s.function == "XeroCleanupFunction")
    mapping = SqsEventSourceMapping(source, aws.template, runtime, boto3.client("sqs"), aws.queue_url(source.queue))
    outcome = mapping.poll_once()
    assert outcome is not None and outcome.deleted == 1
    xero.advance_clock(5)
    xero.settle_pending()
    assert [f["state"] for f in xero.feed_connections(tenant)] == ["DELETED"]
    assert tenant not in _live_connections(xero)
    assert token_items(aws, business_id) == []


def test_a_cleanup_that_meets_xeros_rate_limit_hands_its_message_back_for_later(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    # Given a disconnect whose cleanup in Xero was deferred to the queue during an outage
    fiona, business_id, _, _ = linked_business(api, xero, ledger)
    xero.add_fault("error", path="*", status=503, times=None)
    assert fiona.call("DELETE", "/v1/xero/connection").json()["cleanup_pending"] is True
    xero.clear_faults()
    # When the cleanup worker meets Xero's minute limit (ten minutes to wait)
    xero.add_fault("rate_limit", path="*", times=None, retry_after=600, problem="minute")
    source = next(s for s in aws.template.sqs_sources() if s.function == "XeroCleanupFunction")
    mapping = SqsEventSourceMapping(source, aws.template, runtime, boto3.client("sqs"), aws.queue_url(source.queue))
    outcome = mapping.poll_once()
    # Then the message goes back to the queue, hidden for the wait, neither lost nor dead-lettered
    assert outcome is not None and outcome.failed == 1 and outcome.deleted == 0
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_url(source.queue), AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert token_items(aws, business_id) != []  # nothing wiped before Xero's side is done


def test_disconnect_after_xero_already_cut_the_connection(api: Api, xero: XeroEmulator, ledger: LedgerEmulator,
                                                         aws: Provisioned) -> None:
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    xero.disconnect(tenant)  # the user removed the app in Xero first
    response = fiona.call("DELETE", "/v1/xero/connection")
    assert response.status == 200 and response.json()["status"] == "DISCONNECTED"
    assert response.json()["cleanup_pending"] is False
    assert token_items(aws, business_id) == []


def test_a_disconnect_in_xero_is_noticed_on_the_next_call_with_reconnect_guidance(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    fiona, _, _, tenant = linked_business(api, xero, ledger)
    xero.disconnect(tenant)
    calls_before = len(xero.request_log)
    picker = fiona.call("GET", "/v1/xero/bank-accounts")
    assert picker.status == 409
    error = picker.json()["error"]
    assert error["code"] == "reconnect_required" and "removed in Xero" in error["message"]
    assert error["action"].startswith("Connect to Xero again")
    status = fiona.call("GET", "/v1/xero/connection").json()["connection"]
    assert status["status"] == "NEEDS_RECONNECT" and "removed in Xero" in status["status_reason"]
    # Nothing keeps calling Xero for it
    fiona.call("GET", "/v1/xero/bank-accounts")
    fiona.call("GET", "/v1/xero/connection")
    xero_calls = [e for e in xero.request_log[calls_before:] if e.get("tenant") == tenant]
    assert len(xero_calls) == 1, "only the call that discovered the disconnect reached the organisation"


def test_the_periodic_check_notices_a_disconnect_in_xero_before_anyone_calls(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    fiona, _, _, tenant = linked_business(api, xero, ledger)
    other, _, _, _ = linked_business(api, xero, ledger, name="Second Org")
    xero.disconnect(tenant)
    report = Scheduler(aws.template, runtime).fire("Hourly")
    assert report["checked"] == 2 and report["still_connected"] == 1 and len(report["needs_reconnect"]) == 1
    assert report["finished_pass"] is True
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "NEEDS_RECONNECT"
    assert other.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"


def test_an_aws_error_on_one_connection_leaves_it_to_the_next_pass_and_the_check_goes_on(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two businesses whose organisations were both disconnected in Xero
    fiona, first, _, tenant = linked_business(api, xero, ledger)
    other, _, _, other_tenant = linked_business(api, xero, ledger, name="Second Org")
    xero.disconnect(tenant)
    xero.disconnect(other_tenant)
    # When DynamoDB throttles the read of the first one's tokens past the SDK's retries, once
    load, refused = TokenVault.load, []

    def throttled_once(vault: TokenVault, business_id: str, generation: str) -> object:
        if business_id == first and not refused:
            refused.append(business_id)
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                              "GetItem")
        return load(vault, business_id, generation)

    monkeypatch.setattr(TokenVault, "load", throttled_once)
    report = Scheduler(aws.template, runtime).fire("Hourly")
    # Then the run goes on to the other connection and finishes its pass, leaving the first to the next one
    assert refused == [first]
    assert report["left_to_next_pass"] == 1 and len(report["needs_reconnect"]) == 1
    assert report["finished_pass"] is True
    # (read from the store: the status page would ask Xero itself, and notice)
    first_record = get_xero_client().connections.get(first)
    assert first_record is not None and first_record.status == ConnectionStatus.ACTIVE
    assert other.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "NEEDS_RECONNECT"
    # And the next pass notices the first
    again = Scheduler(aws.template, runtime).fire("Hourly")
    assert again["left_to_next_pass"] == 0 and again["checked"] == 1 and len(again["needs_reconnect"]) == 1
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "NEEDS_RECONNECT"


def test_the_periodic_check_continues_where_the_last_run_stopped_then_starts_the_next_pass_over(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    _, first, _, _ = linked_business(api, xero, ledger)
    _, second, _, _ = linked_business(api, xero, ledger, name="Second Org")
    records = [get_xero_client().connections.get(business_id) for business_id in (first, second)]
    earlier, _ = sorted((r for r in records if r is not None), key=ConnectionStore.position)
    position = ConnectionCheckPosition(boto3.resource("dynamodb").Table(aws.refs["MainTable"]))
    # Given the last run ran short of time after the first connection of the walk
    position.save(ConnectionStore.position(earlier))
    # When the next run comes
    report = Scheduler(aws.template, runtime).fire("Hourly")
    # Then it looks at the other connection only, finishes the pass and forgets where the last run stopped
    assert report["checked"] == 1 and report["finished_pass"] is True
    assert position.load() is None
    # And the pass after looks at both
    assert Scheduler(aws.template, runtime).fire("Hourly")["checked"] == 2


def test_the_periodic_check_notices_a_bank_account_deleted_in_xero_and_shows_the_way_back(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    # Given a linked account whose feed Xero has activated, and another that stays
    fiona, business_id, account, tenant = linked_business(api, xero, ledger)
    kept = ledger.create_account(business_id, "HKD").account_id
    assert fiona.call("PUT", f"/v1/bank-accounts/{kept}/feed",
                      {"new_account": {"name": "HKD Payroll", "number": "43"}}).status == 200
    xero.advance_clock(5)
    xero.settle_pending()
    links = {a["account_id"]: a["link"] for a in fiona.call("GET", "/v1/xero/connection").json()["accounts"]}
    assert links[account]["status"] == links[kept]["status"] == "ACTIVE"
    # When the user deletes the first one's bank account in Xero's chart of accounts
    assert xero.delete_bank_account(tenant, links[account]["xero_account_id"]) == 1
    report = Scheduler(aws.template, runtime).fire("Hourly")
    # Then the hourly check finds it, before any transaction would have, and the status says what to do
    assert report["feeds_gone"] == [account] and report["still_connected"] == 1
    after = {a["account_id"]: a["link"] for a in fiona.call("GET", "/v1/xero/connection").json()["accounts"]}
    assert after[account]["status"] == "REJECTED" and "deleted in Xero" in after[account]["status_reason"]
    assert after[account]["action"].startswith("Link the account again")
    assert after[kept]["status"] == "ACTIVE"
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"
    # And a second pass changes nothing more
    assert Scheduler(aws.template, runtime).fire("Hourly")["feeds_gone"] == []


def test_reconnecting_after_needs_reconnect_restores_the_connection_and_its_feeds(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    fiona, _, account, tenant = linked_business(api, xero, ledger)
    xero.advance_clock(5)
    xero.settle_pending()
    fiona.call("GET", "/v1/xero/connection")  # settles the feed as ACTIVE
    xero.add_fault("invalid_grant", path="/connect/token", times=1)
    xero.advance_clock(1800)  # the access token expires; the refresh is refused
    assert fiona.call("GET", "/v1/xero/bank-accounts").status == 409
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "NEEDS_RECONNECT"
    # When Fiona connects again to the same organisation
    assert fiona.connect(tenant).status == 200
    # Then the connection is ACTIVE and the account is still linked to the same feed
    status = fiona.call("GET", "/v1/xero/connection").json()
    assert status["connection"]["status"] == "ACTIVE"
    link = next(a for a in status["accounts"] if a["account_id"] == account)["link"]
    assert link["status"] == "ACTIVE"
    assert fiona.call("GET", "/v1/xero/bank-accounts").status == 200


def test_disconnecting_one_business_leaves_another_on_the_same_connection_working(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    # Two businesses of a group connected by the same Xero user to the same organisation share a connection.
    tenant = xero.seed_organisation("Group Books", base_currency="HKD")
    first = api.as_user(ledger.create_business("SG").business_id)
    second = api.as_user(ledger.create_business("SG").business_id, user_id="u_sam")
    assert first.connect(tenant).status == 200
    assert second.connect(tenant).status == 200
    assert first.call("DELETE", "/v1/xero/connection").status == 200
    assert tenant in _live_connections(xero)
    assert second.call("GET", "/v1/xero/bank-accounts").status == 200
    assert second.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"


def test_disconnecting_one_business_keeps_the_same_xero_users_other_organisations_connected(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned) -> None:
    # Given one person who connected two entities of a group to two organisations (one Xero user, two grants)
    parent = xero.seed_organisation("Parent Books", base_currency="HKD")
    subsidiary = xero.seed_organisation("Subsidiary Books", base_currency="HKD")
    first_id = ledger.create_business("SG").business_id
    first = api.as_user(first_id)
    second = api.as_user(ledger.create_business("SG").business_id)
    assert first.connect(parent).status == 200
    assert second.connect(subsidiary).status == 200
    # When the first business disconnects
    assert first.call("DELETE", "/v1/xero/connection").json()["cleanup_pending"] is False
    # Then its organisation's connection is removed and its tokens wiped, but the grant is not revoked:
    # revoking would remove every connection of that Xero user, the second business's included
    assert _live_connections(xero) == {subsidiary}
    assert xero.token_stats()["revocations"] == 0
    assert token_items(aws, first_id) == []
    assert second.call("GET", "/v1/xero/bank-accounts").status == 200
    assert second.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"
    # And once the last of that user's organisations is disconnected, the grant is revoked too
    assert second.call("DELETE", "/v1/xero/connection").status == 200
    assert _live_connections(xero) == set() and xero.token_stats()["revocations"] == 1


def _ended_in_xero_and_here(fiona: User, xero: XeroEmulator, aws: Provisioned, business_id: str,
                            tenant: str) -> None:
    xero.advance_clock(5)
    xero.settle_pending()
    assert [f["state"] for f in xero.feed_connections(tenant)] == ["DELETED"]
    assert tenant not in _live_connections(xero)
    assert token_items(aws, business_id) == []
    assert fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]["status"] == "DISCONNECTED"


def test_disconnecting_again_finishes_a_disconnect_that_died_half_way(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned) -> None:
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    disconnect_that_dies_after_marking(fiona)
    # When Fiona, told it failed, disconnects again
    again = fiona.call("DELETE", "/v1/xero/connection")
    # Then the disconnect is finished: links ended, feed connection and Xero connection removed, tokens gone
    assert again.status == 200 and again.json()["status"] == "DISCONNECTED"
    _ended_in_xero_and_here(fiona, xero, aws, business_id, tenant)


def test_the_periodic_check_finishes_a_disconnect_that_died_half_way(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    disconnect_that_dies_after_marking(fiona)
    # When nobody clicks again, the hourly check finds the disconnect unfinished (once it is surely not running)
    # and finishes it
    use_process_clock(OffsetClock(SystemClock(), 20 * 60))
    try:
        Scheduler(aws.template, runtime).fire("Hourly")
    finally:
        use_process_clock(None)
    _ended_in_xero_and_here(fiona, xero, aws, business_id, tenant)


def test_relinking_while_the_disconnects_cleanup_waits_removes_the_old_feed_and_asks_to_wait(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    # Given a disconnect whose cleanup could not remove the feed connection in Xero (it waits in the queue)
    fiona, _, account, tenant = linked_business(api, xero, ledger)
    fault = xero.add_fault("error", path="*/FeedConnections/DeleteRequests", status=503, times=None)
    assert fiona.call("DELETE", "/v1/xero/connection").json()["cleanup_pending"] is True
    xero.remove_fault(fault["id"])
    # When Fiona connects again and links the account to the same Xero account (by its number)
    assert fiona.connect(tenant).status == 200
    body = {"new_account": {"name": "HKD Operating", "number": "42"}}
    waiting = fiona.call("PUT", f"/v1/bank-accounts/{account}/feed", body)
    # Then she is asked to wait a few minutes (not told it is "already connected"), and the old feed goes
    assert waiting.status == 409 and waiting.json()["error"]["code"] == "feed_still_being_removed"
    xero.advance_clock(5)
    xero.settle_pending()
    linked = fiona.call("PUT", f"/v1/bank-accounts/{account}/feed", body)
    assert linked.status == 200, linked.body
    live = [f for f in xero.feed_connections(tenant) if f["state"] not in ("DELETED", "DELETING")]
    assert [f["id"] for f in live] == [linked.json()["account"]["link"]["feed_connection_id"]]
