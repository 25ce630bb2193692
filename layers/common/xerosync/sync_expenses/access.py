"""Who may use Sync expenses, and whether the business has it at all (the issue's rules, in this order):

1. Admin and Finance users only (the help centre: "Any user who has access to the accounting features");
2. not for businesses incorporated in Hong Kong (403 with the help centre's sentence);
3. only once at least one bank account is linked to Xero (409, with the help centre's way to enable it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from xerosync.auth import Caller
from xerosync.clock import Clock
from xerosync.errors import Conflict, Forbidden
from xerosync.ledger.models import BusinessProfile
from xerosync.store.connections import ConnectionStatus, ConnectionStore, XeroConnectionRecord
from xerosync.store.feeds import FeedRecord, FeedStore

NOT_IN_HONG_KONG = "Xero Sync Expense feature is not available for Hong Kong-incorporated businesses."
HONG_KONG_WAY = ("Your linked accounts' transactions still reach Xero as bank-statement lines every 3 hours: "
                 "code and reconcile them in Xero.")
# The help centre: "The expenses sync feature will only be available once you have connected at least one of
# your Aspire accounts to Xero. You can click on the Connect Now button ..."
NO_LINKED_ACCOUNT = "Sync expenses is available once at least one of your bank accounts is connected to Xero."
CONNECT_NOW_ACTION = ("Go to Accounting > Xero and click Connect Now to connect a bank account to Xero and sync your "
                      "bank statements.")
# Incorporation does not change often; reading it once per execution environment and ten minutes is plenty.
PROFILE_TTL_SECONDS = 600.0


class ProfileSource(Protocol):
    def business(self, business_id: str) -> BusinessProfile: ...


class ConnectionSource(Protocol):
    def get(self, business_id: str) -> XeroConnectionRecord | None: ...


class FeedSource(Protocol):
    def for_business(self, business_id: str) -> list[FeedRecord]: ...


@dataclass(frozen=True)
class Admission:
    caller: Caller
    connection: XeroConnectionRecord
    feeds: list[FeedRecord]

    @property
    def business_id(self) -> str:
        return self.caller.business_id

    @property
    def tenant_id(self) -> str:
        return self.connection.tenant_id

    @property
    def linked_accounts(self) -> dict[str, str]:
        """Ledger account id -> the Xero bank account its live feed uses."""
        return {f.account_id: f.xero_account_id for f in self.feeds if f.xero_account_id}

    @property
    def account_names(self) -> dict[str, str]:
        return {f.account_id: f.account_name for f in self.feeds}


@dataclass
class FeatureGate:
    profiles: ProfileSource
    connections: ConnectionSource
    feeds: FeedSource
    clock: Clock
    _countries: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, caller: Caller) -> Admission:
        if not caller.can_manage_accounting:
            raise Forbidden("Only Admin and Finance users can use Sync expenses.",
                            action="Ask an Admin or Finance user of your business to sync expenses.",
                            code="role_not_allowed")
        if self._country(caller.business_id) == "HK":
            raise Forbidden(NOT_IN_HONG_KONG, action=HONG_KONG_WAY, code="not_available_in_hong_kong")
        connection = self.connections.get(caller.business_id)
        feeds = [f for f in self.feeds.for_business(caller.business_id) if f.is_live and f.xero_account_id]
        if connection is None or connection.status == ConnectionStatus.DISCONNECTED or not feeds:
            raise Conflict(NO_LINKED_ACCOUNT, action=CONNECT_NOW_ACTION, code="no_linked_account")
        return Admission(caller=caller, connection=connection, feeds=feeds)

    def _country(self, business_id: str) -> str:
        now = self.clock.time()
        with self._lock:
            cached = self._countries.get(business_id)
        if cached and now - cached[1] < PROFILE_TTL_SECONDS:
            return cached[0]
        country = self.profiles.business(business_id).incorporation_country.upper()
        with self._lock:
            self._countries[business_id] = (country, now)
        return country


def feature_gate(table: Any, ledger: ProfileSource, clock: Clock) -> FeatureGate:
    """Who may use Sync expenses (and its receipts): role, country, a live linked account. Only the APIs ask."""
    return FeatureGate(profiles=ledger, connections=ConnectionStore(table), feeds=FeedStore(table), clock=clock)
