"""Identity: authorize and consent, the token endpoint, refresh-token rotation, revocation, connections."""

from __future__ import annotations

import base64
import hashlib

import jwt
import requests

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from emulators.xero.harness import PRODUCT_SCOPES, XeroHarness, authorize_url, basic_auth, query_of

REDIRECT = "http://127.0.0.1:3000/xero/callback"


# --------------------------------------------------------------------------------------- authorize
def test_given_the_dev_app_when_consent_is_given_by_header_then_redirects_with_code_and_state(
    base_url: str, tenant: str
) -> None:
    answer = requests.get(
        authorize_url(base_url, state="s-42"), headers={"X-Emulator-Consent": "allow"}, allow_redirects=False
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == "s-42"
    assert len(params["code"]) >= 32


def test_given_an_unknown_client_when_authorizing_then_error_page_and_no_redirect(base_url: str, tenant: str) -> None:
    answer = requests.get(
        authorize_url(base_url, client_id="nope"), headers={"X-Emulator-Consent": "allow"}, allow_redirects=False
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "unauthorized_client" in answer.text


def test_given_an_unregistered_redirect_uri_when_authorizing_then_error_page_and_no_redirect(
    base_url: str, tenant: str
) -> None:
    url = authorize_url(base_url, redirect_uri="http://127.0.0.1:3000/xero/callback/")  # trailing slash: no match
    answer = requests.get(url, headers={"X-Emulator-Consent": "allow"}, allow_redirects=False)
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_given_an_unknown_scope_when_authorizing_then_redirects_with_invalid_scope(base_url: str, tenant: str) -> None:
    answer = requests.get(authorize_url(base_url, scopes="openid accounting.everything"), allow_redirects=False)
    assert answer.status_code == 302
    assert query_of(answer.headers["Location"]) == {"error": "invalid_scope", "state": "state-123"}


def test_given_the_user_cancels_when_consenting_then_redirects_with_access_denied(
    emu: XeroEmulator, tenant: str
) -> None:
    assert emu.base_url
    redirect = emu.consent(authorize_url(emu.base_url, state="abc"), deny=True)
    assert query_of(redirect) == {"error": "access_denied", "state": "abc"}
    assert emu.connections() == []


def test_given_no_consent_header_when_authorizing_then_an_html_consent_page_lists_the_organisations(
    base_url: str, tenant: str
) -> None:
    page = requests.get(authorize_url(base_url), allow_redirects=False)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Harbour Trading Ltd" in page.text
    assert tenant in page.text


def test_given_the_consent_form_when_posted_with_allow_then_redirects_with_a_code(base_url: str, tenant: str) -> None:
    form = {**query_of(authorize_url(base_url, state="f1")), "tenant": tenant, "decision": "allow"}
    answer = requests.post(f"{base_url}/identity/connect/authorize", data=form, allow_redirects=False)
    assert answer.status_code == 302
    assert query_of(answer.headers["Location"])["state"] == "f1"


def test_given_two_organisations_when_consenting_to_both_then_two_connections_share_one_auth_event(
    emu: XeroEmulator, base_url: str
) -> None:
    first = emu.seed_organisation("Org One")
    second = emu.seed_organisation("Org Two")
    harness = XeroHarness(base_url)
    harness.connect([first, second])
    listed = harness.call("GET", "/connections", tenant=False).json()
    assert {c["tenantId"] for c in listed} == {first, second}
    assert len({c["authEventId"] for c in listed}) == 1
    assert {c["tenantName"] for c in listed} == {"Org One", "Org Two"}


def test_given_the_control_api_when_consent_is_requested_then_the_redirect_carries_a_usable_code(
    emu: XeroEmulator, base_url: str, tenant: str
) -> None:
    answer = requests.post(
        f"{base_url}/_emulator/consent",
        json={"authorize_url": authorize_url(base_url), "tenant_ids": [tenant], "user": "finance@example.com"},
    )
    assert answer.status_code == 200
    code = query_of(answer.json()["redirect_url"])["code"]
    harness = XeroHarness(base_url)
    tokens = harness.exchange(code)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["email"] == "finance@example.com"


def test_given_a_reconnection_when_listing_connections_then_updated_differs_from_created(
    emu: XeroEmulator, clock: ManualClock, base_url: str, tenant: str
) -> None:
    harness = XeroHarness(base_url)
    harness.connect([tenant])
    clock.advance(90)
    harness.connect([tenant])
    (connection,) = harness.call("GET", "/connections", tenant=False).json()
    assert connection["updatedDateUtc"] != connection["createdDateUtc"]


# ------------------------------------------------------------------------------------------- token
def test_given_a_code_when_exchanged_then_tokens_carry_lifetime_type_scopes_and_id_token(
    base_url: str, tenant: str
) -> None:
    harness = XeroHarness(base_url)
    tokens = harness.exchange(harness.consent([tenant]))
    assert tokens["expires_in"] == 1800
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == PRODUCT_SCOPES
    assert tokens["refresh_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert "accounting.banktransactions" in claims["scope"]
    assert claims["exp"] - claims["nbf"] == 1800
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["aud"] == harness.client_id


def test_given_no_offline_access_when_exchanging_then_no_refresh_token_is_issued(base_url: str, tenant: str) -> None:
    harness = XeroHarness(base_url)
    tokens = harness.exchange(harness.consent([tenant], scopes="accounting.settings.read"))
    assert "refresh_token" not in tokens
    assert "id_token" not in tokens


def test_given_credentials_in_the_form_body_when_exchanging_then_invalid_client(base_url: str, tenant: str) -> None:
    harness = XeroHarness(base_url)
    code = harness.consent([tenant])
    answer = requests.post(
        f"{base_url}/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": harness.client_id,
            "client_secret": harness.client_secret,
        },
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_client"}


def test_given_a_wrong_secret_when_exchanging_then_invalid_client(base_url: str, tenant: str) -> None:
    harness = XeroHarness(base_url)
    code = harness.consent([tenant])
    answer = requests.post(
        f"{base_url}/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        headers={"Authorization": basic_auth(harness.client_id, "wrong")},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client"


def test_given_a_used_code_when_exchanged_again_then_invalid_grant(base_url: str, tenant: str) -> None:
    harness = XeroHarness(base_url)
    code = harness.consent([tenant])
    harness.exchange(code)
    again = harness.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}


def test_given_a_code_older_than_five_minutes_when_exchanged_then_invalid_grant(
    clock: ManualClock, base_url: str, tenant: str
) -> None:
    harness = XeroHarness(base_url)
    fresh, stale = harness.consent([tenant]), harness.consent([tenant])
    clock.advance(299)
    assert harness.token_request({"grant_type": "authorization_code", "code": fresh, "redirect_uri": REDIRECT}).ok
    clock.advance(2)
    late = harness.token_request({"grant_type": "authorization_code", "code": stale, "redirect_uri": REDIRECT})
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant"}


def test_given_another_redirect_uri_when_exchanging_then_invalid_grant(base_url: str, tenant: str) -> None:
    harness = XeroHarness(base_url)
    code = harness.consent([tenant])
    answer = harness.token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:3000/other"}
    )
    assert answer.json() == {"error": "invalid_grant"}


def test_given_pkce_when_the_verifier_is_wrong_then_invalid_grant_and_right_then_tokens(
    emu: XeroEmulator, base_url: str, tenant: str
) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = authorize_url(base_url, code_challenge=challenge, code_challenge_method="S256")
    harness = XeroHarness(base_url)
    wrong_code = query_of(emu.consent(url, [tenant]))["code"]
    form = {"grant_type": "authorization_code", "redirect_uri": REDIRECT}
    assert harness.token_request({**form, "code": wrong_code, "code_verifier": "x" * 50}).json() == {
        "error": "invalid_grant"
    }
    right_code = query_of(emu.consent(url, [tenant]))["code"]
    assert harness.token_request({**form, "code": right_code, "code_verifier": verifier}).status_code == 200


def test_given_an_access_token_older_than_30_minutes_when_calling_then_401_token_expired(
    clock: ManualClock, xero: XeroHarness
) -> None:
    assert xero.accounting("GET", "Organisation").status_code == 200
    clock.advance(1800)
    answer = xero.accounting("GET", "Organisation")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["Detail"].startswith("TokenExpired")
    assert answer.headers["Xero-Correlation-Id"]


def test_given_a_garbage_token_when_calling_then_401_authentication_unsuccessful(xero: XeroHarness) -> None:
    xero.access_token = "not-a-token"
    answer = xero.accounting("GET", "Organisation")
    assert answer.status_code == 401
    assert answer.json()["Detail"] == "AuthenticationUnsuccessful"


# -------------------------------------------------------------------------------------- refresh
def test_given_a_refresh_token_when_used_then_it_rotates_and_the_new_access_token_works(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    first = xero.refresh_token
    answer = xero.refresh()
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 1800
    assert xero.refresh_token
    assert xero.refresh_token != first
    assert xero.accounting("GET", "Organisation").status_code == 200
    assert emu.token_stats()["refreshes"] == 1


def test_given_a_rotated_token_when_retried_within_30_minutes_then_a_fresh_pair_is_issued(
    emu: XeroEmulator, clock: ManualClock, xero: XeroHarness
) -> None:
    original = xero.refresh_token or ""
    first_answer = xero.refresh().json()  # its answer is "lost"
    clock.advance(29 * 60)
    retry = xero.token_request({"grant_type": "refresh_token", "refresh_token": original})
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] not in {original, first_answer["refresh_token"]}
    assert emu.token_stats()["grace_reuses"] == 1


def test_given_a_rotated_token_when_retried_after_30_minutes_then_invalid_grant(
    clock: ManualClock, xero: XeroHarness
) -> None:
    original = xero.refresh_token or ""
    xero.refresh()
    clock.advance(30 * 60 + 1)
    late = xero.token_request({"grant_type": "refresh_token", "refresh_token": original})
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant"}
    assert xero.refresh().status_code == 200  # the current token still works


def test_given_a_token_replaced_by_a_retry_when_used_after_the_grace_period_then_invalid_grant(
    clock: ManualClock, xero: XeroHarness
) -> None:
    original = xero.refresh_token or ""
    superseded = xero.refresh().json()["refresh_token"]
    newest = xero.token_request({"grant_type": "refresh_token", "refresh_token": original}).json()["refresh_token"]
    clock.advance(31 * 60)
    assert xero.token_request({"grant_type": "refresh_token", "refresh_token": superseded}).status_code == 400
    assert xero.token_request({"grant_type": "refresh_token", "refresh_token": newest}).status_code == 200


def test_given_a_refresh_token_unused_for_60_days_when_used_then_invalid_grant(
    clock: ManualClock, xero: XeroHarness
) -> None:
    clock.advance(60 * 24 * 3600 + 1)
    assert xero.refresh().json() == {"error": "invalid_grant"}


def test_given_an_unknown_refresh_token_when_used_then_invalid_grant(xero: XeroHarness) -> None:
    answer = xero.token_request({"grant_type": "refresh_token", "refresh_token": "made-up"})
    assert (answer.status_code, answer.json()) == (400, {"error": "invalid_grant"})


# ----------------------------------------------------------------------------------- revocation
def test_given_a_revoked_refresh_token_then_connections_go_tokens_die_and_refresh_is_invalid_grant(
    emu: XeroEmulator, base_url: str, xero: XeroHarness
) -> None:
    answer = requests.post(
        f"{base_url}/connect/revocation",
        data={"token": xero.refresh_token},
        headers={"Authorization": basic_auth(xero.client_id, xero.client_secret)},
    )
    assert answer.status_code == 200
    assert emu.connections() == []
    assert xero.accounting("GET", "Organisation").status_code == 401
    assert xero.refresh().json() == {"error": "invalid_grant"}
    assert emu.disconnections()[0]["source"] == "revocation"


def test_given_no_client_credentials_when_revoking_then_invalid_client_and_nothing_changes(
    emu: XeroEmulator, base_url: str, xero: XeroHarness
) -> None:
    answer = requests.post(f"{base_url}/connect/revocation", data={"token": xero.refresh_token})
    assert answer.json() == {"error": "invalid_client"}
    assert len(emu.connections()) == 1


# ---------------------------------------------------------------------------------- connections
def test_given_connections_when_listed_then_xero_shape_and_only_the_app_rate_header(xero: XeroHarness) -> None:
    answer = xero.call("GET", "/connections", tenant=False)
    assert answer.status_code == 200
    (connection,) = answer.json()
    assert set(connection) == {
        "id",
        "authEventId",
        "tenantId",
        "tenantType",
        "tenantName",
        "createdDateUtc",
        "updatedDateUtc",
    }
    assert connection["tenantType"] == "ORGANISATION"
    assert answer.headers["X-AppMinLimit-Remaining"]
    assert "X-MinLimit-Remaining" not in answer.headers
    assert "X-DayLimit-Remaining" not in answer.headers


def test_given_an_auth_event_filter_when_listing_then_only_that_event(emu: XeroEmulator, base_url: str) -> None:
    first, second = emu.seed_organisation("A"), emu.seed_organisation("B")
    harness = XeroHarness(base_url)
    harness.connect([first])
    harness.connect([second])
    events = {c["tenantId"]: c["authEventId"] for c in harness.call("GET", "/connections", tenant=False).json()}
    filtered = harness.call("GET", "/connections", params={"authEventId": events[second]}, tenant=False).json()
    assert [c["tenantId"] for c in filtered] == [second]


def test_given_a_deleted_connection_then_tenant_calls_get_403_and_a_second_delete_404(
    emu: XeroEmulator, xero: XeroHarness
) -> None:
    (connection,) = xero.call("GET", "/connections", tenant=False).json()
    assert xero.call("DELETE", f"/connections/{connection['id']}", tenant=False).status_code == 204
    forbidden = xero.accounting("GET", "Organisation")
    assert forbidden.status_code == 403
    assert forbidden.json()["Detail"] == "AuthenticationUnsuccessful"
    assert xero.call("DELETE", f"/connections/{connection['id']}", tenant=False).status_code == 404
    assert xero.refresh().json() == {"error": "invalid_grant"}  # the grant's last connection is gone
    assert emu.disconnections()[0]["tenant_id"] == connection["tenantId"]


def test_given_an_unknown_connection_id_when_deleting_then_404(xero: XeroHarness) -> None:
    answer = xero.call("DELETE", "/connections/8a0f1b6e-1111-4c1a-9c1a-000000000001", tenant=False)
    assert answer.status_code == 404


def test_given_a_disconnect_from_xeros_side_then_403_and_the_disconnection_is_recorded(
    emu: XeroEmulator, xero: XeroHarness, tenant: str
) -> None:
    assert emu.disconnect(tenant) == 1
    assert xero.accounting("GET", "Organisation").status_code == 403
    assert xero.refresh().json() == {"error": "invalid_grant"}
    assert emu.disconnections()[0]["source"] == "xero"
