"""Xero's identity service: login/consent, tokens, revocation and the connections list.

Token model (see README for the sources):

* An authorization code is single-use, lives 5 minutes and is bound to its client and redirect URI.
* Exchanging it starts a *grant* (a token family). Access tokens are JWTs living 30 minutes; a refresh
  token is issued only with ``offline_access``.
* A grant has one current refresh token. Using it rotates it. A token that stopped being current (used,
  or replaced by a newer one) may still be used for 30 minutes, as a retry after a lost response; each
  such use issues a *fresh* pair and that new token becomes the current one. After the grace period, or
  60 days unused, or once the grant is revoked or its user has no connection left to the app, the answer
  is ``invalid_grant``.
* Client authentication is HTTP Basic only: credentials in the form body (client_secret_post) are
  refused with ``invalid_client``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt

from .config import EmulatorConfig
from .emulator_clock import EmulatorClock
from .formats import connection_date, utc
from .http import (
    ApiRequest,
    ApiResponse,
    Router,
    json_response,
    oauth_error,
    unauthorized,
)
from .models import AccessToken, AuthorizationCode, Connection, Grant, RefreshToken, User, new_id
from .state import EmulatorState

ISSUER = "https://identity.xero.com"

#: Scopes Xero knows [OAS] plus the 2026 granular ones (XeroAPI/xero-prompt-library).
KNOWN_SCOPES = frozenset(
    {
        "openid",
        "profile",
        "email",
        "offline_access",
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.banktransactions",
        "accounting.banktransactions.read",
        "accounting.invoices",
        "accounting.invoices.read",
        "accounting.payments",
        "accounting.payments.read",
        "accounting.manualjournals",
        "accounting.manualjournals.read",
        "accounting.settings",
        "accounting.settings.read",
        "accounting.contacts",
        "accounting.contacts.read",
        "accounting.attachments",
        "accounting.attachments.read",
        "accounting.journals.read",
        "accounting.reports.read",
        "accounting.budgets.read",
        "bankfeeds",
        "paymentservices",
    }
)
_SIGN_IN_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
DEFAULT_USER_EMAIL = "emulated.user@example.com"
CONSENT_HEADER = "X-Emulator-Consent"


class AuthorizeError(ValueError):
    """An authorize request Xero would not redirect for (unknown client, unregistered redirect URI)."""


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    #: Set when Xero would redirect straight back with ``error=...`` instead of asking for consent.
    error: str | None = None


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class IdentityService:
    def __init__(self, state: EmulatorState, clock: EmulatorClock, config: EmulatorConfig) -> None:
        self.state = state
        self.clock = clock
        self.config = config
        self._signing_key = secrets.token_bytes(32)

    # ----------------------------------------------------------------------------------------- routes
    def register(self, router: Router) -> None:
        router.add("GET", "/identity/connect/authorize", self.authorize_page, "login", tenant=False)
        router.add("POST", "/identity/connect/authorize", self.authorize_form, "login", tenant=False)
        router.add("POST", "/connect/token", self.token, "identity", tenant=False)
        router.add("POST", "/connect/revocation", self.revocation, "identity", tenant=False)
        router.add("GET", "/connections", self.list_connections, "connections", tenant=False)
        router.add("DELETE", "/connections/{id}", self.delete_connection, "connections", tenant=False)

    # -------------------------------------------------------------------------------------- authorize
    def parse_authorize(self, params: dict[str, str]) -> AuthorizeRequest:
        client_id = params.get("client_id", "")
        app = self.state.apps.get(client_id)
        if app is None:
            raise AuthorizeError("unauthorized_client: Unknown client or client not enabled")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            # Never redirect to an unregistered URI: Xero shows an error page instead.
            raise AuthorizeError("Invalid redirect_uri: it must exactly match one registered for the app")
        scopes = params.get("scope", "").split()
        error = None
        if params.get("response_type") != "code":
            error = "unsupported_response_type"
        elif not scopes or any(s not in KNOWN_SCOPES for s in scopes):
            error = "invalid_scope"
        elif params.get("code_challenge") and params.get("code_challenge_method", "plain") != "S256":
            error = "invalid_request"
        return AuthorizeRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=params.get("state"),
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method"),
            error=error,
        )

    def _redirect_error(self, request: AuthorizeRequest, error: str) -> str:
        params = {"error": error}
        if request.state is not None:
            params["state"] = request.state
        return _with_query(request.redirect_uri, params)

    def consent(
        self, authorize_url: str, tenant_ids: list[str] | None = None, user: str | None = None, deny: bool = False
    ) -> str:
        """Play the user on Xero's consent screen; returns where Xero redirects the browser.

        ``tenant_ids`` picks the organisations to connect (all of them may be connected at once); it may be
        left out when exactly one organisation exists. ``deny`` answers "Cancel" (``error=access_denied``).
        """
        params = dict(parse_qsl(urlsplit(authorize_url).query, keep_blank_values=True))
        with self.state.lock:
            request = self.parse_authorize(params)
            if request.error is not None:
                return self._redirect_error(request, request.error)
            if deny:
                return self._redirect_error(request, "access_denied")
            return self._grant_consent(request, tenant_ids, user or DEFAULT_USER_EMAIL)

    def _grant_consent(self, request: AuthorizeRequest, tenant_ids: list[str] | None, email: str) -> str:
        now = self.clock.time()
        wants_tenants = any(s not in _SIGN_IN_SCOPES for s in request.scopes)
        chosen: list[str] = []
        if wants_tenants:
            if tenant_ids is None:
                if len(self.state.organisations) != 1:
                    raise ValueError("say which organisations to connect (tenant_ids): there is not exactly one")
                chosen = list(self.state.organisations)
            else:
                chosen = [t.lower() for t in tenant_ids]
            unknown = [t for t in chosen if t not in self.state.organisations]
            if unknown or not chosen:
                raise ValueError(f"unknown organisations: {unknown or 'none chosen'}")
        user = self._user(email)
        auth_event_id = new_id()
        moment = utc(now)
        for tenant_id in chosen:
            existing = next(
                (c for c in self.state.connections_of(request.client_id, user.user_id) if c.tenant_id == tenant_id),
                None,
            )
            if existing is not None:
                existing.auth_event_id = auth_event_id
                existing.updated = moment
            else:
                connection = Connection(
                    new_id(), request.client_id, user.user_id, tenant_id, auth_event_id, moment, moment
                )
                self.state.connections[connection.id] = connection
        code = secrets.token_hex(32)
        self.state.auth_codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            scopes=request.scopes,
            user_id=user.user_id,
            auth_event_id=auth_event_id,
            issued_at=now,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
        )
        self.state.token_stats["codes_issued"] += 1
        params = {"code": code, "scope": " ".join(request.scopes)}
        if request.state is not None:
            params["state"] = request.state
        params["session_state"] = secrets.token_hex(16)
        return _with_query(request.redirect_uri, params)

    def _user(self, email: str) -> User:
        user = self.state.users.get(email.lower())
        if user is None:
            local = email.split("@")[0]
            user = User(new_id(), email, local.split(".")[0].title(), [*local.split("."), "User"][1].title())
            self.state.users[email.lower()] = user
        return user

    def authorize_page(self, request: ApiRequest) -> ApiResponse:
        params = {k: v for k, v in request.query.items()}
        header = request.headers.get(CONSENT_HEADER)
        try:
            if header is not None:
                return self._consent_from_header(params, header)
            with self.state.lock:
                parsed = self.parse_authorize(params)
        except AuthorizeError as error:
            return _html(400, f"<h1>Sorry, something went wrong</h1><p>{html.escape(str(error))}</p>")
        except ValueError as error:
            return _html(400, f"<h1>Consent failed</h1><p>{html.escape(str(error))}</p>")
        if parsed.error is not None:
            return _redirect(self._redirect_error(parsed, parsed.error))
        return _html(200, self._consent_html(params))

    def _consent_from_header(self, params: dict[str, str], header: str) -> ApiResponse:
        """``X-Emulator-Consent: allow; tenants=<id>,<id>; user=<email>`` or ``deny``: consent without a page."""
        parts = [p.strip() for p in header.split(";") if p.strip()]
        options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        tenants = [t for t in options.get("tenants", "").split(",") if t] or None
        url = "?" + urlencode(params)
        return _redirect(self.consent(url, tenants, options.get("user"), deny=parts[:1] == ["deny"]))

    def authorize_form(self, request: ApiRequest) -> ApiResponse:
        form = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {k: v for k, v in form if k != "tenant"}
        tenants = [v for k, v in form if k == "tenant"]
        decision = fields.pop("decision", "deny")
        user = fields.pop("user", None) or None
        try:
            target = self.consent("?" + urlencode(fields), tenants, user, deny=decision != "allow")
        except (AuthorizeError, ValueError) as error:
            return _html(400, f"<h1>Consent failed</h1><p>{html.escape(str(error))}</p>")
        return _redirect(target)

    def _consent_html(self, params: dict[str, str]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        with self.state.lock:
            organisations = [
                f'<label><input type="checkbox" name="tenant" value="{o.organisation_id}"> {html.escape(o.name)}'
                f" ({o.edition.title()} edition)</label><br>"
                for o in self.state.organisations.values()
            ]
        return (
            "<!doctype html><title>Xero | Authorise</title><h1>Emulated Xero wants your consent</h1>"
            f"<p>Scopes: {html.escape(params.get('scope', ''))}</p>"
            '<form method="post" action="/identity/connect/authorize">'
            f"{hidden}{''.join(organisations)}"
            f'<p>User <input name="user" value="{DEFAULT_USER_EMAIL}"></p>'
            '<button name="decision" value="allow">Allow access</button> '
            '<button name="decision" value="deny">Cancel</button></form>'
        )

    # ------------------------------------------------------------------------------------------ token
    def _client(self, request: ApiRequest) -> str | ApiResponse:
        """The authenticated client id, or the error answer."""
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            # client_secret_post (or no credentials): Xero's token endpoint requires HTTP Basic [AuthFlow].
            return oauth_error("invalid_client")
        try:
            client_id, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error("invalid_client")
        app = self.state.apps.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, secret):
            return oauth_error("invalid_client")
        return client_id

    def token(self, request: ApiRequest) -> ApiResponse:
        if not request.content_type.lower().startswith("application/x-www-form-urlencoded"):
            return oauth_error("invalid_request", description="The request must be form encoded")
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        with self.state.lock:
            client = self._client(request)
            if isinstance(client, ApiResponse):
                return client
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                return self._exchange_code(client, form)
            if grant_type == "refresh_token":
                return self._refresh(client, form)
            return oauth_error("unsupported_grant_type")

    def _invalid_grant(self) -> ApiResponse:
        self.state.token_stats["invalid_grant"] += 1
        return oauth_error("invalid_grant")

    def _exchange_code(self, client_id: str, form: dict[str, str]) -> ApiResponse:
        now = self.clock.time()
        record = self.state.auth_codes.get(form.get("code", ""))
        if (
            record is None
            or record.used
            or record.client_id != client_id
            or now - record.issued_at > self.config.authorization_code_lifetime_s
            or form.get("redirect_uri") != record.redirect_uri
        ):
            return self._invalid_grant()
        if record.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != record.code_challenge:
                return self._invalid_grant()
        record.used = True
        grant = Grant(new_id(), client_id, record.user_id, record.scopes, record.auth_event_id, now)
        self.state.grants[grant.grant_id] = grant
        self.state.token_stats["code_exchanges"] += 1
        return json_response(200, self._issue(grant, now, record.nonce), {"Cache-Control": "no-store"})

    def _refresh(self, client_id: str, form: dict[str, str]) -> ApiResponse:
        now = self.clock.time()
        record = self.state.refresh_tokens.get(form.get("refresh_token", ""))
        grant = self.state.grants.get(record.grant_id) if record is not None else None
        if record is None or grant is None or grant.client_id != client_id or grant.revoked:
            return self._invalid_grant()
        if now - record.issued_at > self.config.refresh_token_idle_lifetime_s:
            return self._invalid_grant()
        if record.superseded_at is not None and now - record.superseded_at > self.config.refresh_token_grace_s:
            return self._invalid_grant()
        if not self.state.connections_of(grant.client_id, grant.user_id):
            # Every organisation was disconnected: nothing is left to refresh access to.
            return self._invalid_grant()
        if record.superseded_at is not None:
            self.state.token_stats["grace_reuses"] += 1
        record.last_used_at = now
        if record.superseded_at is None:
            record.superseded_at = now
        grant.refreshes += 1
        self.state.token_stats["refreshes"] += 1
        return json_response(200, self._issue(grant, now, None), {"Cache-Control": "no-store"})

    def _issue(self, grant: Grant, now: float, nonce: str | None) -> dict[str, Any]:
        user = next(u for u in self.state.users.values() if u.user_id == grant.user_id)
        jti = secrets.token_hex(16)
        expires_at = now + self.config.access_token_lifetime_s
        claims = {
            "nbf": int(now),
            "exp": int(expires_at),
            "iss": ISSUER,
            "aud": f"{ISSUER}/resources",
            "client_id": grant.client_id,
            "sub": user.user_id.replace("-", ""),
            "auth_time": int(grant.created_at),
            "xero_userid": user.user_id,
            "global_session_id": grant.grant_id.replace("-", ""),
            "jti": jti,
            "authentication_event_id": grant.auth_event_id,
            "scope": grant.scopes,
        }
        access_token = jwt.encode(claims, self._signing_key, algorithm="HS256")
        self.state.access_tokens[access_token] = AccessToken(
            access_token, jti, grant.grant_id, grant.client_id, grant.user_id, list(grant.scopes), expires_at
        )
        self.state.token_stats["access_tokens_issued"] += 1
        document: dict[str, Any] = {}
        if "openid" in grant.scopes:
            id_claims = {
                "nbf": int(now),
                "exp": int(now) + 300,
                "iss": ISSUER,
                "aud": grant.client_id,
                "iat": int(now),
                "sub": user.user_id.replace("-", ""),
                "auth_time": int(grant.created_at),
                "xero_userid": user.user_id,
                "global_session_id": grant.grant_id.replace("-", ""),
                "preferred_username": user.email,
                "email": user.email,
                "given_name": user.given_name,
                "family_name": user.family_name,
            }
            if nonce:
                id_claims["nonce"] = nonce
            document["id_token"] = jwt.encode(id_claims, self._signing_key, algorithm="HS256")
        document.update({"access_token": access_token, "expires_in": self.config.access_token_lifetime_s})
        document["token_type"] = "Bearer"
        if "offline_access" in grant.scopes:
            token = secrets.token_hex(32)
            previous = self.state.refresh_tokens.get(grant.current_refresh_token or "")
            if previous is not None and previous.superseded_at is None:
                previous.superseded_at = now
            self.state.refresh_tokens[token] = RefreshToken(token, grant.grant_id, now)
            grant.current_refresh_token = token
            self.state.token_stats["refresh_tokens_issued"] += 1
            document["refresh_token"] = token
        document["scope"] = " ".join(grant.scopes)
        return document

    # ------------------------------------------------------------------------------------- revocation
    def revocation(self, request: ApiRequest) -> ApiResponse:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        with self.state.lock:
            client = self._client(request)
            if isinstance(client, ApiResponse):
                return client
            record = self.state.refresh_tokens.get(form.get("token", ""))
            grant = self.state.grants.get(record.grant_id) if record is not None else None
            if grant is not None and grant.client_id == client:
                self.revoke_grant(grant, source="revocation")
        # RFC 7009: an unknown token is not an error.
        return ApiResponse(200, b"", "text/plain")

    def revoke_grant(self, grant: Grant, source: str) -> None:
        grant.revoked = True
        self.state.token_stats["revocations"] += 1
        for token, access in list(self.state.access_tokens.items()):
            if access.grant_id == grant.grant_id:
                del self.state.access_tokens[token]
        # Revoking removes every connection that user gave the app ([PySDK]; calcinai/oauth2-xero).
        for connection in self.state.connections_of(grant.client_id, grant.user_id):
            self.remove_connection(connection, source)

    def remove_connection(self, connection: Connection, source: str) -> None:
        self.state.connections.pop(connection.id, None)
        self.state.disconnections.append(
            {
                "connection_id": connection.id,
                "tenant_id": connection.tenant_id,
                "client_id": connection.client_id,
                "user_id": connection.user_id,
                "source": source,
                "at": self.clock.time(),
            }
        )

    # ------------------------------------------------------------------------------------ bearer auth
    def expire_access_token(self, request: ApiRequest) -> bool:
        """The request's access token expires now (its next use, this request included, gets 401)."""
        header = request.headers.get("Authorization", "")
        with self.state.lock:
            token = self.state.access_tokens.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
            if token is None:
                return False
            token.expires_at = min(token.expires_at, self.clock.time())
            return True

    def expire_access_tokens(self, tenant_id: str | None = None) -> int:
        """Every live access token (of the users connected to ``tenant_id``, or all) expires now: the next call of
        each client must refresh. Returns how many expired."""
        now = self.clock.time()
        with self.state.lock:
            users = None if tenant_id is None else {
                (c.client_id, c.user_id) for c in self.state.connections.values() if c.tenant_id == tenant_id.lower()}
            expired = 0
            for token in self.state.access_tokens.values():
                if token.expires_at > now and (users is None or (token.client_id, token.user_id) in users):
                    token.expires_at = now
                    expired += 1
            return expired

    def authenticate(self, request: ApiRequest) -> AccessToken | ApiResponse:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return unauthorized()
        with self.state.lock:
            token = self.state.access_tokens.get(header[7:].strip())
            if token is None:
                return unauthorized()
            grant = self.state.grants.get(token.grant_id)
            if grant is None or grant.revoked:
                return unauthorized()
            if self.clock.time() >= token.expires_at:
                expired = utc(token.expires_at).strftime("%m/%d/%Y %H:%M:%S")
                return unauthorized(f"TokenExpired: token expired at {expired}")
            return token

    # ------------------------------------------------------------------------------------ connections
    def connection_json(self, connection: Connection) -> dict[str, Any]:
        organisation = self.state.organisations.get(connection.tenant_id)
        return {
            "id": connection.id,
            "authEventId": connection.auth_event_id,
            "tenantId": connection.tenant_id,
            "tenantType": "ORGANISATION",
            "tenantName": organisation.name if organisation else "",
            "createdDateUtc": connection_date(connection.created),
            "updatedDateUtc": connection_date(connection.updated),
        }

    def list_connections(self, request: ApiRequest) -> ApiResponse:
        wanted_event = request.query_value("authEventId")
        with self.state.lock:
            connections = self.state.connections_of(request.client_id or "", request.user_id or "")
            if wanted_event:
                connections = [c for c in connections if c.auth_event_id.lower() == wanted_event.lower()]
            connections.sort(key=lambda c: c.created)
            return json_response(200, [self.connection_json(c) for c in connections])

    def delete_connection(self, request: ApiRequest) -> ApiResponse:
        wanted = request.path_vars["id"].lower()
        with self.state.lock:
            for connection in self.state.connections_of(request.client_id or "", request.user_id or ""):
                if connection.id == wanted:
                    self.remove_connection(connection, source="app")
                    return ApiResponse(204, b"", "")
        return ApiResponse(404, b"", "")


def _html(status: int, body: str) -> ApiResponse:
    return ApiResponse(status, body.encode("utf-8"), "text/html; charset=utf-8")


def _redirect(location: str) -> ApiResponse:
    return ApiResponse(302, b"", "text/plain", {"Location": location})
