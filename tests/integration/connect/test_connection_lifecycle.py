"""The disconnect-and-reconnect path (the help centre's remedy for a broken sync) under the races a security
review found: each test drives one finding through the HTTP API and the functions as deployed."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from emulators.ledger import LedgerEmulator
from emulators.time_control import OffsetClock
from emulators.xero import XeroEmulator
from local.event_sources import Scheduler, SqsEventSourceMapping
from local.lambda_runtime import LambdaRuntime, acting_as
from local.provision import Provisioned
from tests.support.connect_api import Api, User, token_items
from tests.support.connect_steps import linked_business
from xerosync.connect.wiring import get_connect
from xerosync.settings import get_settings
from xerosync.store.keys import oauth_state_key
from xerosync.xero.client import build_xero_client, get_xero_client


def _drain_cleanup_queue(aws: Provisioned, runtime: LambdaRuntime) -> int:
    source = next(s for s in aws.template.sqs_sources() if s.function == "XeroCleanupFunction")
    mapping = SqsEventSourceMapping(source, aws.template, runtime, boto3.client("sqs"), aws.queue_url(source.queue))
    done = 0
    while (outcome := mapping.poll_once()) is not None and outcome.deleted:
        done += outcome.deleted
    return done


def _generation(business_id: str) -> str:
    record = get_xero_client().connections.get(business_id)
    assert record is not None
    return record.generation


def _calls_for(xero: XeroEmulator, tenant: str, since: int) -> list[dict[str, Any]]:
    return [e for e in xero.request_log[since:] if e.get("tenant") == tenant]


def test_a_warm_worker_never_serves_the_previous_connections_tokens(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
    # Given a business connected to one organisation, and a warm worker Lambda that has used its tokens
    fiona, business_id, _, first = linked_business(api, xero, ledger)
    worker = build_xero_client(get_settings())  # another execution environment: its own token cache
    assert worker.session(business_id).organisation().name == "Harbour Trading Ltd"
    # When the business disconnects (Xero failing, so the old grant is not revoked yet) and connects again to
    # another organisation, signed in to Xero as another person
    xero.add_fault("error", path="*/FeedConnections/DeleteRequests", status=503, times=None)
    assert fiona.call("DELETE", "/v1/xero/connection").json()["cleanup_pending"] is True
    xero.clear_faults()
    second = xero.seed_organisation("Kowloon Holdings", base_currency="HKD")
    assert fiona.connect(second, xero_user="controller@kowloon.example").status == 200
    new_consent = get_xero_client().connections.get(business_id).auth_event_id  # type: ignore[union-attr]
    # Then the warm worker's next call goes to the new organisation with the new consent's token, and the
    # connection stays ACTIVE
    since = len(xero.request_log)
    assert worker.session(business_id).organisation().name == "Kowloon Holdings"
    calls = _calls_for(xero, second, since)
    assert calls and {c["auth_event_id"] for c in calls} == {new_consent}
    assert _calls_for(xero, first, since) == []
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"


def test_a_late_cleanup_of_the_previous_connection_never_touches_the_new_one(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    # Given a linked business that disconnects while Xero fails, so its cleanup waits in the queue
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    xero.add_fault("error", path="*/FeedConnections/DeleteRequests", status=503, times=None)
    assert fiona.call("DELETE", "/v1/xero/connection").json()["cleanup_pending"] is True
    # When it connects again to the same organisation (Xero reuses the same connection), and Xero recovers
    assert fiona.connect(tenant).status == 200
    new_generation = _generation(business_id)
    xero.clear_faults()
    assert _drain_cleanup_queue(aws, runtime) == 1
    # Then the late cleanup removed the old feed but not the new connection, its tokens or its grant
    xero.settle_pending()
    assert [f["state"] for f in xero.feed_connections(tenant)] == ["DELETED"]
    assert tenant in {c["tenantId"] for c in xero.connections()}
    assert [i["generation"] for i in token_items(aws, business_id)] == [new_generation]
    assert xero.token_stats()["revocations"] == 0
    # And the business works: what the status says is what Xero and the tables hold
    assert fiona.call("GET", "/v1/xero/bank-accounts").status == 200
    assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"


def test_a_leaked_code_cannot_be_completed_by_another_business(api: Api, xero: XeroEmulator, aws: Provisioned
                                                               ) -> None:
    # Given a victim who consented in Xero, whose redirect (code and state) leaked from the browser
    tenant = xero.seed_organisation("Victim Books")
    victim = api.as_user("biz_victim")
    leaked = victim.consent([tenant])
    # When another business starts its own sign-in and posts the victim's code with its own state
    attacker = api.as_user("biz_attacker", user_id="u_mallory")
    own_state = attacker.call("POST", "/v1/xero/connect").json()["state"]
    response = attacker.call("POST", "/v1/xero/connect/complete", {"code": leaked["code"], "state": own_state})
    # Then Xero refuses the exchange (the code's PKCE challenge is not the attacker's), and nothing is connected
    assert response.status == 400 and response.json()["error"]["code"] == "code_rejected"
    assert attacker.call("GET", "/v1/xero/bank-accounts").status == 409
    assert token_items(aws, "biz_attacker") == []
    # And the verifier never leaves the product: it is not in the authorize URL, only its S256 challenge
    started = attacker.call("POST", "/v1/xero/connect").json()
    item = boto3.resource("dynamodb").Table(aws.refs["MainTable"]).get_item(
        Key=oauth_state_key(started["state"]))["Item"]
    query = parse_qs(urlsplit(started["authorize_url"]).query)
    assert item["code_verifier"] not in started["authorize_url"] and query["code_challenge_method"] == ["S256"]


def test_only_the_user_who_consented_can_choose_and_nobody_else_can_destroy_the_choice(
        api: Api, xero: XeroEmulator) -> None:
    first, second = xero.seed_organisation("Parent Holdings"), xero.seed_organisation("Subsidiary One")
    fiona = api.as_user("biz_group")
    answer = fiona.call("POST", "/v1/xero/connect/complete", fiona.consent([first, second]))
    assert answer.json()["status"] == "CHOOSE_ORGANISATION"
    # When another Admin of the same business posts a choice
    adam = api.as_user("biz_group", user_id="u_adam", role="Admin")
    refused = adam.call("POST", "/v1/xero/connect/organisation", {"tenant_id": first})
    assert refused.status == 400 and refused.json()["error"]["code"] == "no_pending_choice"
    # And Fiona mistypes hers (an organisation not offered): refused, and her choice stays open
    typo = fiona.call("POST", "/v1/xero/connect/organisation", {"tenant_id": "297c2dc5-cc47-4afd-8ec8-74990b8761e9"})
    assert typo.status == 400 and typo.json()["error"]["code"] == "organisation_not_offered"
    # Then Fiona's choice is still hers to make
    chosen = fiona.call("POST", "/v1/xero/connect/organisation", {"tenant_id": second})
    assert chosen.status == 200 and chosen.json()["connection"]["organisation_name"] == "Subsidiary One"
    assert {c["tenantId"] for c in xero.connections()} == {second}


def test_an_abandoned_consent_leaves_no_xero_connection_and_no_tokens_once_swept(
        api: Api, xero: XeroEmulator, aws: Provisioned, runtime: LambdaRuntime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a user who consented to two organisations and never chose one
    first, second = xero.seed_organisation("Parent Holdings"), xero.seed_organisation("Subsidiary One")
    fiona = api.as_user("biz_abandon")
    assert fiona.call("POST", "/v1/xero/connect/complete", fiona.consent([first, second])).json()["status"] == \
        "CHOOSE_ORGANISATION"
    assert {c["tenantId"] for c in xero.connections()} == {first, second}
    [waiting] = token_items(aws, "biz_abandon")
    assert int(waiting["ttl"]) > 0  # tokens of a consent that may be abandoned expire on their own
    # When the hourly check runs after the choice expired
    with acting_as("ConnectionCheckFunction"):  # the check's own use case, as it runs
        oauth = get_connect().oauth
    monkeypatch.setattr(oauth, "clock", OffsetClock(oauth.clock, 601))
    report = Scheduler(aws.template, runtime).fire("Hourly")
    # Then the consent is given up: its connections removed in Xero, its grant revoked, its tokens wiped
    assert report["consents_given_up"] == 1
    assert xero.connections() == [] and xero.token_stats()["revocations"] == 1
    assert token_items(aws, "biz_abandon") == []
    # And the user is told when they come back
    late = fiona.call("POST", "/v1/xero/connect/organisation", {"tenant_id": first})
    assert late.status == 400 and late.json()["error"]["code"] == "no_pending_choice"


def test_a_consent_swept_while_xero_is_down_is_finished_by_the_cleanup_queue(
        api: Api, xero: XeroEmulator, aws: Provisioned, runtime: LambdaRuntime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = xero.seed_organisation("Parent Holdings"), xero.seed_organisation("Subsidiary One")
    fiona = api.as_user("biz_down")
    fiona.call("POST", "/v1/xero/connect/complete", fiona.consent([first, second]))
    with acting_as("ConnectionCheckFunction"):
        oauth = get_connect().oauth
    monkeypatch.setattr(oauth, "clock", OffsetClock(oauth.clock, 601))
    # When the sweeper gives the expired consent up while Xero cannot remove its connections
    xero.add_fault("error", path="/connections/*", method="DELETE", status=503, times=None)
    assert Scheduler(aws.template, runtime).fire("Hourly")["consents_given_up"] == 1
    assert {c["tenantId"] for c in xero.connections()} == {first, second}
    # Then the cleanup queue finishes the job once Xero is back: nothing is left in Xero or in the tables
    xero.clear_faults()
    assert _drain_cleanup_queue(aws, runtime) == 1
    assert xero.connections() == [] and token_items(aws, "biz_down") == []


def test_a_new_sign_in_abandons_the_users_open_choice_without_cutting_what_the_new_one_offers(
        api: Api, xero: XeroEmulator, aws: Provisioned, runtime: LambdaRuntime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = xero.seed_organisation("Parent Holdings"), xero.seed_organisation("Subsidiary One")
    fiona = api.as_user("biz_again")
    fiona.call("POST", "/v1/xero/connect/complete", fiona.consent([first, second]))
    # When Fiona signs in again, offering the same two (Xero reuses the same connections), and the sweeper runs
    assert fiona.call("POST", "/v1/xero/connect/complete", fiona.consent([first, second])).json()["status"] == \
        "CHOOSE_ORGANISATION"
    assert Scheduler(aws.template, runtime).fire("Hourly")["consents_given_up"] == 1
    # Then the newer choice still has both organisations to choose from
    assert {c["tenantId"] for c in xero.connections()} == {first, second}
    chosen = fiona.call("POST", "/v1/xero/connect/organisation", {"tenant_id": first})
    assert chosen.status == 200
    assert {c["tenantId"] for c in xero.connections()} == {first}


def _looking_later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    with acting_as("ConnectApiFunction"):  # the API's own use case, as it runs
        status = get_connect().status
    monkeypatch.setattr(status, "clock", OffsetClock(status.clock, seconds))


def test_a_disconnect_made_in_xero_shows_when_the_user_looks_and_on_every_link(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a linked business whose feed is active
    fiona, _, account, tenant = linked_business(api, xero, ledger)
    xero.settle_pending()
    assert fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]["status"] == "ACTIVE"
    # When the connection is removed in Xero and, a few minutes later, a Viewer opens the Xero page
    xero.disconnect(tenant)
    _looking_later(monkeypatch, 301)
    viewer = api.as_user(fiona_business(fiona, api), user_id="u_vera", role="Employee")
    status = viewer.call("GET", "/v1/xero/connection").json()
    # Then the page shows it at once, with the way out, on the connection and on every link
    assert status["connection"]["status"] == "NEEDS_RECONNECT" and "removed in Xero" in status["connection"][
        "status_reason"]
    link = next(a for a in status["accounts"] if a["account_id"] == account)["link"]
    assert link["status"] == "ACTIVE" and "removed in Xero" in link["status_reason"]
    assert link["action"].startswith("Connect to Xero again")


def test_the_live_status_asks_xero_at_most_once_per_interval_whoever_looks(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    fiona, _, _, _ = linked_business(api, xero, ledger)
    xero.settle_pending()
    fiona.call("GET", "/v1/xero/connection")  # settles the feed; the connection was confirmed when it was made
    since = len(xero.request_log)
    for _ in range(5):
        fiona.call("GET", "/v1/xero/connection")
    assert xero.request_log[since:] == []
    _looking_later(monkeypatch, 301)
    for _ in range(5):
        assert fiona.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"
    assert [e["path"] for e in xero.request_log[since:]] == ["/connections"]


def fiona_business(user: User, api: Api) -> str:
    return str(api.authority.verify(f"Bearer {user.token}")["business_id"])
