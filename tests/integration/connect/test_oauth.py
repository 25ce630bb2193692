"""Connecting: OAuth start and completion, organisation choice, Business Edition and active only, bad input."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from emulators.ledger import LedgerEmulator
from emulators.time_control import OffsetClock
from emulators.xero import XeroEmulator
from local.lambda_runtime import acting_as
from local.provision import Provisioned
from tests.support.connect_api import Api, token_items
from xerosync.connect.wiring import get_connect
from xerosync.store.keys import connection_key
from xerosync.xero.client import get_xero_client


def _connection_item(aws: Provisioned, business_id: str) -> dict[str, object] | None:
    return boto3.resource("dynamodb").Table(aws.refs["MainTable"]).get_item(Key=connection_key(business_id)).get("Item")


def test_start_gives_xeros_authorize_url_with_the_products_scopes_a_state_and_pkce(api: Api, xero: XeroEmulator
                                                                                   ) -> None:
    response = api.as_user("biz_1").call("POST", "/v1/xero/connect")
    assert response.status == 200
    url = urlsplit(response.json()["authorize_url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.geturl().startswith(xero.base_url + "/identity/connect/authorize")
    assert query["response_type"] == "code" and query["client_id"] == "local-dev-client"
    # Only the scopes the product uses: no sign-in scopes (the id token is never read), settings read-only
    assert set(query["scope"].split()) == {"offline_access", "accounting.transactions", "accounting.settings.read",
                                           "accounting.contacts", "accounting.attachments", "bankfeeds"}
    assert query["state"] == response.json()["state"] and len(query["state"]) >= 40
    # PKCE: the code can only be exchanged with the verifier kept beside the state
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43


def test_only_admin_and_finance_may_connect(api: Api) -> None:
    response = api.as_user("biz_1", role="Employee").call("POST", "/v1/xero/connect")
    assert response.status == 403 and response.json()["error"]["code"] == "role_not_allowed"


def test_completing_stores_the_connection_and_sealed_tokens(api: Api, xero: XeroEmulator, aws: Provisioned) -> None:
    # Given a Business Edition organisation in Singapore
    tenant = xero.seed_organisation("Lion City Trading", country_code="SG", base_currency="SGD")
    # When Fiona (Finance) connects her business to it
    response = api.as_user("biz_sg").connect(tenant)
    # Then the business is connected, with the organisation's details and who connected it
    assert response.status == 200
    connection = response.json()["connection"]
    assert response.json()["status"] == "CONNECTED"
    assert connection["status"] == "ACTIVE" and connection["organisation_name"] == "Lion City Trading"
    assert connection["tenant_id"] == tenant and connection["base_currency"] == "SGD"
    assert connection["country_code"] == "SG" and connection["edition"] == "BUSINESS"
    assert connection["connected_by"] == "u_fiona" and connection["connected_at"]
    # And tokens are stored only in the tokens table, sealed
    assert "access_token" not in str(_connection_item(aws, "biz_sg"))
    [sealed] = token_items(aws, "biz_sg")
    assert "sealed" in sealed and "refresh_token" not in str(sealed) and "ttl" not in sealed


def test_consent_to_several_organisations_asks_for_one_and_removes_the_others(api: Api, xero: XeroEmulator) -> None:
    first = xero.seed_organisation("Parent Holdings")
    second = xero.seed_organisation("Subsidiary One")
    user = api.as_user("biz_group")
    answer = user.call("POST", "/v1/xero/connect/complete", user.consent([first, second]))
    assert answer.status == 200 and answer.json()["status"] == "CHOOSE_ORGANISATION"
    assert {o["tenant_id"] for o in answer.json()["organisations"]} == {first, second}
    chosen = user.call("POST", "/v1/xero/connect/organisation", {"tenant_id": second})
    assert chosen.status == 200 and chosen.json()["connection"]["organisation_name"] == "Subsidiary One"
    assert {c["tenantId"] for c in xero.connections() if c.get("active", True)} == {second}
    # A second choice with the same (now spent) selection is refused
    again = user.call("POST", "/v1/xero/connect/organisation", {"tenant_id": first})
    assert again.status == 400 and again.json()["error"]["code"] == "no_pending_choice"


def test_a_sign_in_never_removes_a_connection_another_business_uses(api: Api, xero: XeroEmulator,
                                                                   ledger: LedgerEmulator) -> None:
    # Given the parent company connected to its organisation
    parent = xero.seed_organisation("Parent Holdings")
    subsidiary = xero.seed_organisation("Subsidiary One")
    parent_business = api.as_user(ledger.create_business("SG").business_id)
    assert parent_business.connect(parent).status == 200
    # When the same Xero user connects the subsidiary, ticking both organisations on Xero's consent page
    user = api.as_user("biz_subsidiary")
    answer = user.call("POST", "/v1/xero/connect/complete", user.consent([parent, subsidiary]))
    assert answer.json()["status"] == "CHOOSE_ORGANISATION"
    assert user.call("POST", "/v1/xero/connect/organisation", {"tenant_id": subsidiary}).status == 200
    # Then the parent's connection, which Xero shares between the two sign-ins, is kept
    assert {c["tenantId"] for c in xero.connections()} == {parent, subsidiary}
    assert parent_business.call("GET", "/v1/xero/connection").json()["connection"]["status"] == "ACTIVE"
    assert parent_business.call("GET", "/v1/xero/bank-accounts").status == 200


@pytest.mark.parametrize(("seed", "code", "words"), [
    ({"edition": "PARTNER"}, "partner_edition", "Partner Edition"),
    ({"status": "INACTIVE"}, "organisation_inactive", "not an active Xero organisation"),
])
def test_partner_edition_and_inactive_organisations_are_refused_and_disconnected(
        api: Api, xero: XeroEmulator, aws: Provisioned, seed: dict[str, str], code: str, words: str) -> None:
    tenant = xero.seed_organisation("Refused Org", **seed)  # type: ignore[arg-type]
    response = api.as_user("biz_refused").connect(tenant)
    assert response.status == 422
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"] and error["action"]
    assert _connection_item(aws, "biz_refused") is None and token_items(aws, "biz_refused") == []
    assert tenant not in {c["tenantId"] for c in xero.connections() if c.get("active", True)}


@pytest.mark.parametrize("case", ["unknown", "replayed", "other business", "other user", "expired"])
def test_a_bad_state_is_refused_with_its_reason_and_nothing_is_stored(
        api: Api, xero: XeroEmulator, aws: Provisioned, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = xero.seed_organisation()
    fiona = api.as_user("biz_state")
    redirect = fiona.consent([tenant])
    caller = fiona
    if case == "unknown":
        redirect["state"] = "made-up-state-of-the-right-shape"
    elif case == "replayed":
        assert fiona.call("POST", "/v1/xero/connect/complete", redirect).status == 200
        redirect = {**fiona.consent([tenant]), "state": redirect["state"]}
    elif case == "other business":
        caller = api.as_user("biz_intruder")
    elif case == "other user":
        caller = api.as_user("biz_state", user_id="u_mallory")
    else:
        with acting_as("ConnectApiFunction"):  # the connect function's own use case, as it runs
            oauth = get_connect().oauth
        monkeypatch.setattr(oauth, "clock", OffsetClock(oauth.clock, 601))
    before = _connection_item(aws, caller_business(caller, api))
    response = caller.call("POST", "/v1/xero/connect/complete", redirect)
    expected = {"unknown": "state_unknown", "replayed": "state_replayed", "other business": "state_mismatch",
                "other user": "state_mismatch", "expired": "state_expired"}[case]
    assert response.status == 400 and response.json()["error"]["code"] == expected
    assert response.json()["error"]["action"].startswith("Start connecting to Xero again")
    assert _connection_item(aws, caller_business(caller, api)) == before


def caller_business(user: object, api: Api) -> str:
    token = user.token  # type: ignore[attr-defined]
    return str(api.authority.verify(f"Bearer {token}")["business_id"])


def test_a_code_xero_does_not_accept_is_refused(api: Api, xero: XeroEmulator, aws: Provisioned) -> None:
    tenant = xero.seed_organisation()
    fiona = api.as_user("biz_code")
    redirect = fiona.consent([tenant])
    response = fiona.call("POST", "/v1/xero/connect/complete", {**redirect, "code": "not-the-code"})
    assert response.status == 400 and response.json()["error"]["code"] == "code_rejected"
    assert _connection_item(aws, "biz_code") is None


def test_a_malformed_body_names_the_field(api: Api) -> None:
    response = api.as_user("biz_x").call("POST", "/v1/xero/connect/complete", {"code": "c"})
    assert response.status == 400
    assert "state" in response.json()["error"]["message"]


def test_a_business_connected_to_one_organisation_cannot_switch_without_disconnecting(
        api: Api, xero: XeroEmulator) -> None:
    first, second = xero.seed_organisation("First Org"), xero.seed_organisation("Second Org")
    fiona = api.as_user("biz_switch")
    assert fiona.connect(first).status == 200
    response = fiona.connect(second)
    assert response.status == 409 and response.json()["error"]["code"] == "already_connected"
    assert "First Org" in response.json()["error"]["message"]
    assert get_xero_client().connections.get("biz_switch").tenant_id == first  # type: ignore[union-attr]
