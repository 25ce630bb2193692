"""Everything the emulator remembers between requests, behind one lock."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from .models import (
    AccessToken,
    App,
    AuthorizationCode,
    Connection,
    Grant,
    Organisation,
    RefreshToken,
    User,
)
from .spec import SpecViolation

DEFAULT_CLIENT_ID = "local-dev-client"
DEFAULT_CLIENT_SECRET = "local-dev-secret"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:3000/xero/callback"


class EmulatorState:
    def __init__(self) -> None:
        # Re-entrant: a handler that holds it may call helpers that take it again.
        self.lock = threading.RLock()
        self.apps: dict[str, App] = {}
        self.users: dict[str, User] = {}
        self.organisations: dict[str, Organisation] = {}
        self.auth_codes: dict[str, AuthorizationCode] = {}
        self.grants: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.connections: dict[str, Connection] = {}
        self.disconnections: list[dict[str, Any]] = []
        self.request_log: list[dict[str, Any]] = []
        self.spec_violations: list[SpecViolation] = []
        self.token_stats: Counter[str] = Counter()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.apps.clear()
            self.users.clear()
            self.organisations.clear()
            self.auth_codes.clear()
            self.grants.clear()
            self.refresh_tokens.clear()
            self.access_tokens.clear()
            self.connections.clear()
            self.disconnections.clear()
            self.request_log.clear()
            self.spec_violations.clear()
            self.token_stats.clear()
            self.apps[DEFAULT_CLIENT_ID] = App(
                DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [DEFAULT_REDIRECT_URI], name="Local Dev App"
            )

    def organisation(self, tenant_id: str) -> Organisation | None:
        return self.organisations.get(tenant_id.lower())

    def connections_of(self, client_id: str, user_id: str) -> list[Connection]:
        return [c for c in self.connections.values() if c.client_id == client_id and c.user_id == user_id]

    def is_connected(self, client_id: str, user_id: str, tenant_id: str) -> bool:
        wanted = tenant_id.lower()
        return any(c.tenant_id == wanted for c in self.connections_of(client_id, user_id))
