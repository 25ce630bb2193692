"""The Xero calls of sync expenses, on top of the shared ``XeroSession`` (governor, retries, typed errors).

Reference data is cached per organisation (``ReferenceDataCache``): listing and validating read the cache;
only a stale or missing snapshot (or a user asking for a refresh, at most once a minute) costs Xero calls,
five of them, whatever the number of expenses, and one Lambda refreshes while the others wait for its result.
A snapshot that lacks something an expense names (an account or bank account created in Xero since) is
refreshed once before the product calls it archived or deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from xerosync.clock import Clock, from_iso
from xerosync.observability import logger
from xerosync.store.feeds import FeedRecord
from xerosync.sync_expenses.mapping import CategoryMappings
from xerosync.sync_expenses.reference_data import (
    ReferenceData,
    XeroAccount,
    XeroTaxRate,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from xerosync.sync_expenses.store import ReferenceDataStore
from xerosync.xero.errors import ReconnectRequired, XeroError, XeroRateLimited

if TYPE_CHECKING:  # the Xero session and models load with the first call to Xero: the expenses API's tabs and
    # edits make none (docs/architecture.md, "Cold start")
    from xerosync.xero.expense_models import BankTransaction
    from xerosync.xero.session import XeroSession

# A user's "refresh" goes to Xero at most this often per organisation: one person's clicks must not spend the
# organisation's 60 calls a minute.
FORCED_REFRESH_INTERVAL_SECONDS = 60.0
# A snapshot that lacks what an expense names is refreshed unless it was refreshed this recently.
MISSING_REFRESH_INTERVAL_SECONDS = 10.0


def fetch_reference_data(session: XeroSession, now: float) -> ReferenceData:
    """Five calls: Organisation, Accounts (every status), TaxRates, TrackingCategories (archived too), Currencies."""
    organisation = session.organisation()
    accounts = session.accounts()
    tax_rates = session.tax_rates()
    tracking = session.tracking_categories(include_archived=True)
    currencies = session.call("GET", "/Currencies").body or {}
    return ReferenceData(
        tenant_id=session.tenant_id, refreshed_at=now, base_currency=organisation.base_currency,
        currencies=sorted({str(c["Code"]).upper() for c in currencies.get("Currencies") or [] if c.get("Code")}),
        short_code=organisation.short_code,
        period_lock_date=organisation.period_lock_date.isoformat() if organisation.period_lock_date else None,
        end_of_year_lock_date=(organisation.end_of_year_lock_date.isoformat()
                               if organisation.end_of_year_lock_date else None),
        accounts=[XeroAccount(account_id=a.account_id, code=a.code, name=a.name, type=a.type, status=a.status,
                              tax_type=a.tax_type, enable_payments_to_account=a.enable_payments_to_account,
                              currency_code=a.currency_code) for a in accounts],
        tax_rates=[XeroTaxRate(tax_type=t.tax_type, name=t.name, status=t.status,
                               can_apply_to_expenses=t.can_apply_to_expenses,
                               rate=t.effective_rate if t.effective_rate is not None else t.display_tax_rate)
                   for t in tax_rates],
        tracking_categories=[XeroTrackingCategory(
            tracking_category_id=c.tracking_category_id, name=c.name, status=c.status,
            options=[XeroTrackingOption(tracking_option_id=o.tracking_option_id, name=o.name, status=o.status)
                     for o in c.options]) for c in tracking],
    )


class ReferenceDataCache:
    def __init__(self, store: ReferenceDataStore, clock: Clock, max_age_seconds: float) -> None:
        self.store = store
        self.clock = clock
        self.max_age_seconds = max_age_seconds

    def cached(self, tenant_id: str) -> ReferenceData | None:
        return self.store.get(tenant_id)

    def current(self, tenant_id: str, open_session: Callable[[], XeroSession] | None, *, force: bool = False,
                required: bool = False) -> ReferenceData | None:
        """The snapshot, refreshed from Xero when stale (or forced). When Xero cannot be asked (busy,
        unreachable) the stale snapshot is used; with none at all, the error is raised if ``required``.
        ``ReconnectRequired`` always propagates: only the user can fix it. The session is opened only when
        Xero is really called."""
        now = self.clock.time()
        snapshot = self.store.get(tenant_id)
        fresh = snapshot is not None and snapshot.age(now) < self.max_age_seconds
        recently = snapshot is not None and snapshot.age(now) < FORCED_REFRESH_INTERVAL_SECONDS
        if snapshot is not None and (recently if force else fresh):
            return snapshot
        wanted_since = now - (FORCED_REFRESH_INTERVAL_SECONDS if force else self.max_age_seconds)
        return self._refreshed(tenant_id, open_session, snapshot, wanted_since, required=required)

    def without_gaps(self, snapshot: ReferenceData | None, tenant_id: str,
                     open_session: Callable[[], XeroSession] | None, *, known_since: float = 0.0
                     ) -> ReferenceData | None:
        """A snapshot that lacks something an expense names, refreshed once: unless it is a moment old and
        newer than ``known_since`` (when the business last chose something in Xero: a link, a mapping)."""
        now = self.clock.time()
        if (snapshot is not None and snapshot.age(now) < MISSING_REFRESH_INTERVAL_SECONDS
                and snapshot.refreshed_at >= known_since):
            return snapshot
        return self._refreshed(tenant_id, open_session, snapshot,
                               max(known_since, now - MISSING_REFRESH_INTERVAL_SECONDS), required=False)

    def _refreshed(self, tenant_id: str, open_session: Callable[[], XeroSession] | None,
                   snapshot: ReferenceData | None, wanted_since: float, *, required: bool) -> ReferenceData | None:
        if open_session is None:
            return snapshot
        try:
            refreshed = self.store.refreshed(tenant_id, lambda: fetch_reference_data(open_session(),
                                                                                    self.clock.time()),
                                             unless_since=wanted_since)
        except ReconnectRequired:
            raise
        except XeroError as error:
            logger.warning("xero reference data could not be refreshed",
                           extra={"tenant_id": tenant_id, "error": type(error).__name__, "status": error.status})
            if snapshot is None and required:
                raise
            return snapshot
        if refreshed is None and required:
            raise XeroRateLimited("The organisation's reference data is being fetched from Xero",
                                  status=429, retry_after=2, problem="refresh")
        return refreshed or snapshot


def chosen_since(feeds: Iterable[FeedRecord], mappings: CategoryMappings | None) -> float:
    """When the business last chose something the reference data must know (a link, a mapping): a snapshot
    older than that cannot know it, so it is refreshed before anything is called missing."""
    moments = [m for f in feeds for m in (f.linked_at, f.status_changed_at) if m]
    if mappings is not None and mappings.changed_at:
        moments.append(mappings.changed_at)
    # The product's times are whole seconds: a snapshot taken within that second may still predate the choice.
    return max((from_iso(m).timestamp() + 1 for m in moments), default=0.0)


def update_spend_money(session: XeroSession, items: Sequence[BankTransaction], *, key: str) -> list[BankTransaction]:
    """POST /BankTransactions with each item's BankTransactionID: up to 50 updates in one call, one result
    per element (summarizeErrors=false). Setting the same values again changes nothing, so it is safe to
    repeat after a lost answer."""
    from xerosync.xero.expense_models import BankTransaction
    from xerosync.xero.session import in_order_of

    if any(not i.bank_transaction_id for i in items):
        raise ValueError("an update needs each item's BankTransactionID")
    body = session.call("POST", "/BankTransactions", params={"summarizeErrors": "false"},
                        json_body={"BankTransactions": [i.to_xero() for i in items]}, idempotency_key=key,
                        safe_to_repeat=True).body
    return in_order_of(items, [BankTransaction.model_validate(e) for e in body["BankTransactions"]],
                       lambda t: t.bank_transaction_id)
