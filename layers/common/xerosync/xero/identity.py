"""Xero's identity service: the authorize URL, the token endpoint, revocation and connections.

The app is a confidential client: the token endpoint is called with HTTP Basic client authentication
(Xero refuses credentials in the form body). Codes are single use; refresh tokens rotate on every use.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from xerosync.clock import Clock, process_clock
from xerosync.xero.errors import XeroError, XeroInvalidGrant, XeroNotFound, XeroValidationError
from xerosync.xero.models import TokenSet, XeroConnection
from xerosync.xero.transport import XeroRequest, XeroTransport


class XeroIdentity:
    def __init__(self, transport: XeroTransport, *, login_url: str, identity_url: str, api_url: str, client_id: str,
                 client_secret: Callable[[], str], redirect_uri: str, scopes: str, clock: Clock | None = None
                 ) -> None:
        self.transport = transport
        self.login_url = login_url.rstrip("/")
        self.identity_url = identity_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.clock = clock or process_clock()

    def authorize_url(self, state: str, code_challenge: str) -> str:
        """Xero's consent page for this sign-in. PKCE (S256): only the holder of the verifier behind
        ``code_challenge`` can exchange the code, so a code leaked from the browser is useless to anyone else."""
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                 "scope": self.scopes, "state": state, "code_challenge": code_challenge,
                 "code_challenge_method": "S256"}
        return f"{self.login_url}/identity/connect/authorize?{urlencode(query)}"

    def _token_call(self, form: dict[str, str], *, repeatable: bool) -> TokenSet:
        sent_at = self.clock.time()
        request = XeroRequest(
            method="POST", url=f"{self.identity_url}/connect/token",
            data=urlencode(form).encode(), content_type="application/x-www-form-urlencoded",
            extra_headers={"Authorization": _basic(self.client_id, self._client_secret())},
            safe_to_repeat=repeatable,
        )
        try:
            body = self.transport.send(request).body
        except XeroValidationError as error:
            if error.problem_type in ("invalid_grant", "invalid_client", "unauthorized_client"):
                raise XeroInvalidGrant(f"Xero refused the grant: {error.problem_type}", status=error.status,
                                       problem_type=error.problem_type, correlation_id=error.correlation_id) from None
            raise
        if not isinstance(body, dict) or "access_token" not in body:
            raise XeroError("Xero's token endpoint answered without tokens")
        return TokenSet(
            access_token=body["access_token"], refresh_token=body.get("refresh_token", ""),
            expires_at=sent_at + float(body.get("expires_in", 1800)), token_type=body.get("token_type", "Bearer"),
            scope=body.get("scope", ""), id_token=body.get("id_token"),
        )

    def exchange_code(self, code: str, code_verifier: str) -> TokenSet:
        # A code is single use: a retry after a lost answer would only get invalid_grant.
        return self._token_call({"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": self.redirect_uri, "code_verifier": code_verifier},
                                repeatable=False)

    def refresh(self, refresh_token: str) -> TokenSet:
        # Repeating a refresh with the same token is what Xero's 30-minute grace period is for.
        return self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token}, repeatable=True)

    def revoke(self, refresh_token: str) -> None:
        self.transport.send(XeroRequest(
            method="POST", url=f"{self.identity_url}/connect/revocation",
            data=urlencode({"token": refresh_token}).encode(), content_type="application/x-www-form-urlencoded",
            extra_headers={"Authorization": _basic(self.client_id, self._client_secret())}, safe_to_repeat=True,
        ))

    def connections(self, access_token: str, auth_event_id: str | None = None) -> list[XeroConnection]:
        params = {"authEventId": auth_event_id} if auth_event_id else None
        body = self.transport.send(XeroRequest(method="GET", url=f"{self.api_url}/connections",
                                               access_token=access_token, params=params)).body
        return [XeroConnection.model_validate(item) for item in body or []]

    def delete_connection(self, access_token: str, connection_id: str) -> bool:
        """Remove one organisation's connection; False when Xero no longer had it."""
        try:
            self.transport.send(XeroRequest(method="DELETE", url=f"{self.api_url}/connections/{connection_id}",
                                            access_token=access_token, safe_to_repeat=True))
        except XeroNotFound:
            return False
        return True


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier (RFC 7636: 43 to 128 characters of its alphabet) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)  # 86 characters
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
