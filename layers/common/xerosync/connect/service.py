"""Connecting a business to Xero, linking its bank accounts as feeds, and disconnecting from either side.

The help centre's "How to Integrate and Disconnect Xero": only Business Edition organisations that are
active may connect; several bank accounts and several businesses may feed one organisation; the last sync
is shown; disconnecting from the bank's side removes the feeds and the connection, and a disconnection
made in Xero is noticed and shown instead of failing silently.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from xerosync.auth import Caller
from xerosync.clock import Clock, iso, utc_now
from xerosync.connect.cleanup import CleanupJob, CleanupQueue, XeroCleanup
from xerosync.connect.models import (
    BankAccountView,
    ChooseOrganisation,
    CompleteConnect,
    ConnectionStatusView,
    ConnectionView,
    ConnectOutcome,
    ConnectStarted,
    LinkAccount,
    LinkedAccount,
    LinkView,
    OrganisationChoice,
    XeroBankAccounts,
    XeroBankAccountView,
)
from xerosync.connect.pending import PendingSelection, PendingSelectionStore
from xerosync.connect.states import RESTART, OAuthStateStore
from xerosync.errors import Conflict, InvalidRequest, NotFound, Unprocessable, UpstreamUnavailable
from xerosync.ledger.client import LedgerClient
from xerosync.ledger.models import LedgerAccount
from xerosync.observability import logger, metrics
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import FeedRecord, FeedStatus, FeedStore, StaleFeed
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import (
    RECONNECT_ACTION,
    ReconnectRequired,
    XeroError,
    XeroInvalidGrant,
    XeroNotFound,
    XeroRateLimited,
)
from xerosync.xero.models import FeedConnection, OrganisationEdition, TokenSet, XeroConnection
from xerosync.xero.session import XeroSession, idempotency_key

# The help centre's wording for Xero's feed-already-connected-in-current-organisation, and its way out.
ALREADY_CONNECTED = ("The AccountToken, AccountNumber, or AccountId is already connected to another bank account "
                     "in the selected Xero organization")
ALREADY_CONNECTED_ACTION = ("Choose another Xero bank account, or create a new account in Xero's Chart of Accounts "
                            "and choose it.")
RELINK_ACTION = "Link the account again, choosing another Xero bank account or a new one."
LINK_AGAIN_ACTION = ("Link the account to a Xero bank account again to resume syncing it (after connecting to Xero, "
                     "if the connection is not active).")
BACKFILL_DAYS = 365  # Xero accepts statement lines from the last 365 days only


@dataclass
class ConnectService:
    xero: XeroClient
    feeds: FeedStore
    states: OAuthStateStore
    pending: PendingSelectionStore
    ledger: LedgerClient
    cleanup_queue: CleanupQueue
    clock: Clock
    request_feed_sync: Callable[[str, str, list[str], str], None] | None = None

    @property
    def connections(self) -> Any:
        return self.xero.connections

    def _now(self) -> str:
        return iso(utc_now(self.clock))

    # ------------------------------------------------------------------ OAuth
    def start(self, caller: Caller) -> ConnectStarted:
        caller.require_accounting_role()
        state, expires_at = self.states.issue(caller.business_id, caller.user_id, self.clock.time())
        return ConnectStarted(authorize_url=self.xero.identity.authorize_url(state), state=state,
                              expires_at=iso(datetime.fromtimestamp(expires_at, tz=UTC)))

    def complete(self, caller: Caller, body: CompleteConnect) -> ConnectOutcome:
        caller.require_accounting_role()
        self.states.consume(body.state, caller.business_id, caller.user_id, self.clock.time())
        try:
            tokens = self.xero.identity.exchange_code(body.code)
        except XeroInvalidGrant:
            raise InvalidRequest("Xero did not accept this sign-in: the code is wrong, already used, or older than "
                                 "5 minutes.", action=RESTART, code="code_rejected") from None
        except XeroError as error:
            raise UpstreamUnavailable("Xero could not be reached to finish connecting.", action=RESTART) from error
        organisations = [c for c in self.xero.identity.connections(tokens.access_token, _auth_event_id(tokens))
                         if c.tenant_type == "ORGANISATION"]
        if not organisations:
            raise InvalidRequest("No Xero organisation was chosen on Xero's consent page.", action=RESTART,
                                 code="no_organisation")
        if len(organisations) == 1:
            return self._finish(caller, tokens, organisations[0], [])
        self.pending.put(PendingSelection(business_id=caller.business_id, user_id=caller.user_id,
                                          organisations=organisations, expires_at=self.clock.time() + 600), tokens)
        return ConnectOutcome(status="CHOOSE_ORGANISATION", organisations=[
            OrganisationChoice(tenant_id=c.tenant_id, name=c.tenant_name or c.tenant_id) for c in organisations])

    def choose_organisation(self, caller: Caller, body: ChooseOrganisation) -> ConnectOutcome:
        caller.require_accounting_role()
        found = self.pending.take(caller.business_id, caller.user_id, self.clock.time())
        if found is None:
            raise InvalidRequest("There is no Xero sign-in waiting for a choice of organisation (it may have "
                                 "expired).", action=RESTART, code="no_pending_choice")
        selection, tokens = found
        chosen = next((c for c in selection.organisations if c.tenant_id == body.tenant_id), None)
        if chosen is None:
            self._remove_connections(caller.business_id, tokens, selection.organisations)
            raise InvalidRequest("That organisation was not among those consented to in Xero.", action=RESTART,
                                 code="organisation_not_offered")
        others = [c for c in selection.organisations if c.tenant_id != body.tenant_id]
        return self._finish(caller, tokens, chosen, others)

    def _finish(self, caller: Caller, tokens: TokenSet, chosen: XeroConnection, others: list[XeroConnection]
                ) -> ConnectOutcome:
        business_id = caller.business_id
        # The others offered on the consent page are removed: one business connects to one organisation.
        self._remove_connections(business_id, tokens, others)
        existing = self.connections.get(business_id)
        if existing and existing.status == ConnectionStatus.ACTIVE and existing.tenant_id != chosen.tenant_id:
            self._remove_connections(business_id, tokens, [chosen])
            raise Conflict(f"This business is already connected to the Xero organisation "
                           f"'{existing.organisation_name}'.",
                           action="Disconnect it first (Manage connection > Disconnect Xero), then connect again.",
                           code="already_connected")
        self.xero.vault.save(business_id, tokens, expected_version=None)
        session = self.xero.session_for_tenant(business_id, chosen.tenant_id)
        organisation = session.organisation()
        refusal = _refusal(organisation.name, organisation.edition, organisation.organisation_status)
        if refusal is not None:
            self._remove_connections(business_id, tokens, [chosen])
            self.xero.vault.wipe(business_id)
            metrics.add_metric(name="ConnectRefused", unit="Count", value=1)
            raise refusal
        same_organisation = existing is not None and existing.tenant_id == chosen.tenant_id
        record = XeroConnectionRecord(
            business_id=business_id, tenant_id=chosen.tenant_id, xero_connection_id=chosen.id,
            organisation_name=organisation.name, organisation_id=organisation.organisation_id,
            base_currency=organisation.base_currency, country_code=organisation.country_code,
            edition=organisation.edition, short_code=organisation.short_code, status=ConnectionStatus.ACTIVE,
            connected_by=caller.user_id, connected_at=self._now(), status_changed_at=self._now(),
            last_sync_at=existing.last_sync_at if existing and same_organisation else None,
            version=existing.version if existing else 0)
        self.connections.put(record)
        if existing and not same_organisation:
            self._retire_feeds(business_id, FeedStatus.DISCONNECTED,
                               f"Linked to '{existing.organisation_name}', a different Xero organisation.")
        metrics.add_metric(name="Connected", unit="Count", value=1)
        logger.info("business connected to Xero", extra={"business_id": business_id, "tenant_id": chosen.tenant_id,
                                                          "reconnect": existing is not None})
        return ConnectOutcome(status="CONNECTED", connection=_connection_view(record))

    def _remove_connections(self, business_id: str, tokens: TokenSet, connections: list[XeroConnection]) -> None:
        """Remove connections this sign-in made and the business will not use. One that another business of
        the bank still uses (same Xero user, same organisation: Xero gives them one connection) is kept."""
        for connection in connections:
            if self._sharing(connection.tenant_id, connection.id, business_id):
                logger.info("kept a Xero connection another business uses", extra={"tenant_id": connection.tenant_id})
                continue
            try:
                self.xero.identity.delete_connection(tokens.access_token, connection.id)
            except XeroError:
                logger.warning("could not remove a Xero connection", extra={"tenant_id": connection.tenant_id})

    def _sharing(self, tenant_id: str, connection_id: str | None, business_id: str) -> list[XeroConnectionRecord]:
        """Other businesses, not disconnected, on the same Xero connection (same Xero user, same organisation)."""
        return [c for c in self.connections.by_tenant(tenant_id) if c.xero_connection_id == connection_id
                and c.status != ConnectionStatus.DISCONNECTED and c.business_id != business_id]

    # ------------------------------------------------------------------ status and picker
    def status(self, caller: Caller) -> ConnectionStatusView:
        record = self.connections.get(caller.business_id)
        feeds = {f.account_id: f for f in self.feeds.for_business(caller.business_id)}
        if record is not None and record.status == ConnectionStatus.ACTIVE:
            pending = [f for f in feeds.values() if f.status == FeedStatus.PENDING]
            self._settle_pending_feeds(caller.business_id, pending, feeds)
        accounts = [_account_view(a, feeds.get(a.account_id)) for a in self.ledger.accounts(caller.business_id)]
        return ConnectionStatusView(connection=_connection_view(record) if record else None, accounts=accounts,
                                    can_manage=caller.can_manage_accounting)

    def _settle_pending_feeds(self, business_id: str, pending: list[FeedRecord], feeds: dict[str, FeedRecord]) -> None:
        """A feed connection Xero accepted as PENDING becomes active (or rejected) later: look once per read."""
        if not pending:
            return
        try:
            session = self.xero.session(business_id)
            for feed in pending:
                current = session.feed_connection(str(feed.feed_connection_id))
                if current.status == "REJECTED":
                    reason = (current.error.detail if current.error else None) or "Xero rejected the bank feed."
                    feeds[feed.account_id] = self._change_feed(feed, only_if=FeedStatus.PENDING,
                                                               status=FeedStatus.REJECTED, status_reason=reason)
                elif current.status in (None, "ACTIVE"):
                    feeds[feed.account_id] = self._change_feed(
                        feed, only_if=FeedStatus.PENDING, status=FeedStatus.ACTIVE, status_reason=None,
                        xero_account_id=current.account_id or feed.xero_account_id)
        except (XeroError, ReconnectRequired) as error:
            logger.info("pending feeds not settled on this read", extra={"error": type(error).__name__})

    def xero_bank_accounts(self, caller: Caller) -> XeroBankAccounts:
        caller.require_accounting_role()
        record, session = self._active_session(caller.business_id)
        fed = {f.xero_account_id for f in self.feeds.live_for_tenant(record.tenant_id)}
        accounts = session.accounts(where='Type=="BANK" AND Status=="ACTIVE"')
        return XeroBankAccounts(accounts=[XeroBankAccountView(
            account_id=a.account_id, name=a.name, code=a.code, bank_account_number=a.bank_account_number,
            currency_code=a.currency_code or record.base_currency, linked=a.account_id in fed) for a in accounts])

    def _active_session(self, business_id: str) -> tuple[XeroConnectionRecord, XeroSession]:
        record = self.connections.get(business_id)
        if record is None or record.status == ConnectionStatus.DISCONNECTED:
            raise Conflict("This business is not connected to Xero.",
                           action="Connect to Xero first from Accounting > Xero.", code="not_connected")
        if record.status == ConnectionStatus.NEEDS_RECONNECT:
            raise Conflict(record.status_reason or "The connection to Xero needs to be renewed.",
                           action=RECONNECT_ACTION, code="reconnect_required")
        return record, self.xero.session(business_id)

    # ------------------------------------------------------------------ linking
    def link(self, caller: Caller, account_id: str, body: LinkAccount) -> LinkedAccount:
        caller.require_accounting_role()
        account = self._business_account(caller.business_id, account_id)
        existing = self.feeds.get(caller.business_id, account_id)
        if existing is not None and existing.is_live:
            raise Conflict("This bank account is already linked to Xero.",
                           action="Unlink it first to link it to another Xero bank account.", code="already_linked")
        backfill_from = self._backfill_from(body.backfill_from)
        record, session = self._active_session(caller.business_id)
        foreign = account.currency != record.base_currency
        if foreign and session.organisation_actions().get("UseMulticurrency") != "ALLOWED":
            raise _multicurrency_refusal(record, account.currency)
        feed, xero_account_name = self._feed_connection_for(session, record, account, body)
        # The same link sent twice (a double click) is one write; another target is another write.
        target = feed.account_id or f"new:{feed.account_name}:{feed.account_number}"
        key = idempotency_key(record.tenant_id, "feed-connection", account_id, existing.version if existing else 0,
                              target)
        result = session.create_feed_connections([feed], key=key)[0]
        if result.status == "REJECTED":
            if (existing is not None and existing.tenant_id == record.tenant_id and result.error is not None
                    and result.error.type == "feed-already-connected-in-current-organisation"
                    and feed.account_id is not None and existing.xero_account_id == feed.account_id):
                # This account's own earlier feed to that Xero account: Xero removes a feed connection
                # asynchronously after an unlink or a disconnect, and refuses a new one until it is gone.
                raise Conflict("Xero is still removing this account's earlier bank feed.",
                               action="Wait a few minutes, then link the account again.",
                               code="feed_still_being_removed")
            raise _feed_refusal(result, record, account.currency)
        xero_account_id = feed.account_id or session.feed_connection(str(result.id)).account_id
        keep_cursor = (existing is not None and existing.xero_account_id == xero_account_id and existing.cursor > 0
                       and body.backfill_from is None)
        cursor, cursor_balance = self._delivered_through(session, existing) if keep_cursor and existing else (0, None)
        saved = self._replace_feed(existing, FeedRecord(
            business_id=caller.business_id, account_id=account_id, currency=account.currency,
            account_number=account.account_number, account_name=account.name, tenant_id=record.tenant_id,
            feed_connection_id=result.id, xero_account_id=xero_account_id,
            xero_account_name=xero_account_name,
            status=FeedStatus.PENDING, linked_by=caller.user_id, linked_at=self._now(),
            cursor=cursor, cursor_balance=cursor_balance,
            backfill_from=existing.backfill_from if keep_cursor and existing else backfill_from,
            # Relinked to the same Xero account: its sync history (the last sync shown) continues.
            last_sync_at=existing.last_sync_at if existing and existing.xero_account_id == xero_account_id else None,
        ))
        if self.request_feed_sync is not None:
            self.request_feed_sync(record.tenant_id, caller.business_id, [account_id], "linked")
        metrics.add_metric(name="AccountLinked", unit="Count", value=1)
        return LinkedAccount(account=_account_view(account, saved))

    @staticmethod
    def _delivered_through(session: XeroSession, previous: FeedRecord) -> tuple[int, Decimal | None]:
        """Where the previous feed's lines are surely in Xero: its cursor, or the start of the first statement
        Xero had not delivered when the feed was removed (those lines go again, to the new feed)."""
        for entry in previous.unconfirmed_statements:
            try:
                statement = session.statement(entry.statement_id) if entry.statement_id else None
            except XeroRateLimited:
                raise  # the user tries again in a moment; nothing is stored yet
            except XeroError:
                statement = None  # unknown to Xero now: its lines go again
            if statement is None or not statement.delivered:
                logger.info("relink resends what the previous feed had not delivered", extra={
                    "account_id": previous.account_id, "from_sequence": entry.first_sequence})
                return entry.first_sequence - 1, entry.start_balance
        return previous.cursor, previous.cursor_balance

    def _business_account(self, business_id: str, account_id: str) -> LedgerAccount:
        account = next((a for a in self.ledger.accounts(business_id) if a.account_id == account_id), None)
        if account is None:
            raise NotFound("This bank account is not one of your business's accounts.", code="account_not_found")
        if account.status != "ACTIVE":
            raise Conflict("This bank account is closed and cannot be linked to Xero.", code="account_closed")
        return account

    def _backfill_from(self, chosen: date | None) -> date:
        today = utc_now(self.clock).date()
        if chosen is None:
            return today
        if chosen > today:
            raise InvalidRequest("The history start date is in the future.", code="backfill_in_future",
                                 action="Choose today or an earlier date.")
        if chosen < today - timedelta(days=BACKFILL_DAYS):
            raise InvalidRequest(f"Xero accepts bank transactions from the last {BACKFILL_DAYS} days only.",
                                 code="backfill_too_old",
                                 action=f"Choose a date on or after {today - timedelta(days=BACKFILL_DAYS)}.")
        return chosen

    def _feed_connection_for(self, session: XeroSession, record: XeroConnectionRecord, account: LedgerAccount,
                             body: LinkAccount) -> tuple[FeedConnection, str]:
        """The feed connection to ask Xero for, and the name of the Xero bank account it will feed."""
        common = {"account_token": account.account_id, "account_type": "BANK", "currency": account.currency}
        if body.new_account is not None:
            return FeedConnection(account_number=body.new_account.number, account_name=body.new_account.name,
                                  **common), body.new_account.name
        try:
            target = session.account(str(body.xero_account_id))
        except XeroNotFound:
            raise InvalidRequest("That Xero account does not exist in your organisation.",
                                 action="Choose one of your Xero bank accounts.",
                                 code="xero_account_not_found") from None
        if target.type != "BANK" or target.status != "ACTIVE":
            raise InvalidRequest(f"'{target.name}' is not an active bank account in Xero.",
                                 action="Choose one of your Xero bank accounts, or create a new one.",
                                 code="not_a_bank_account")
        currency = target.currency_code or record.base_currency
        if currency != account.currency:
            raise Conflict(f"'{target.name}' is a {currency} account in Xero, and this bank account is in "
                           f"{account.currency}.", action=f"Choose a {account.currency} bank account in Xero, or "
                                                          "create a new one.", code="currency_mismatch")
        return FeedConnection(account_id=target.account_id, **common), target.name

    def unlink(self, caller: Caller, account_id: str) -> LinkedAccount:
        caller.require_accounting_role()
        account = self._business_account(caller.business_id, account_id)
        feed = self.feeds.get(caller.business_id, account_id)
        if feed is None or not feed.is_live:
            raise Conflict("This bank account is not linked to Xero.", code="not_linked")
        saved = self._change_feed(feed, status=FeedStatus.UNLINKED, status_reason="Unlinked by a user.")
        job = CleanupJob(business_id=caller.business_id, tenant_id=feed.tenant_id,
                         feed_connection_ids=[str(feed.feed_connection_id)])
        self._clean_or_queue(job)
        return LinkedAccount(account=_account_view(account, saved))

    # ------------------------------------------------------------------ disconnecting
    def disconnect(self, caller: Caller) -> ConnectionView:
        """Idempotent; the local side ends DISCONNECTED whatever Xero answers, and the rest is retried."""
        caller.require_accounting_role()
        record = self.connections.get(caller.business_id)
        if record is None:
            raise NotFound("This business is not connected to Xero.", code="not_connected")
        if record.status == ConnectionStatus.DISCONNECTED:
            return _connection_view(record)
        self.connections.set_status(caller.business_id, ConnectionStatus.DISCONNECTED, "Disconnected by a user.",
                                    self._now())
        feed_ids = self._retire_feeds(caller.business_id, FeedStatus.DISCONNECTED, "The business disconnected Xero.")
        sharing = self._sharing(record.tenant_id, record.xero_connection_id, caller.business_id)
        job = CleanupJob(business_id=caller.business_id, tenant_id=record.tenant_id, feed_connection_ids=feed_ids,
                         xero_connection_id=record.xero_connection_id,
                         # Another business may share this Xero connection (same user, same organisation):
                         # deleting it, or revoking the grant, would disconnect that business too.
                         remove_connection=not any(c.status == ConnectionStatus.ACTIVE for c in sharing),
                         wipe_tokens=True)
        pending = not self._clean_or_queue(job)
        metrics.add_metric(name="Disconnected", unit="Count", value=1)
        stored = self.connections.get(caller.business_id)
        assert stored is not None
        view = _connection_view(stored)
        view.cleanup_pending = pending
        return view

    def _retire_feeds(self, business_id: str, status: FeedStatus, reason: str) -> list[str]:
        retired = []
        for feed in self.feeds.for_business(business_id):
            if feed.is_live:
                self._change_feed(feed, status=status, status_reason=reason)
                if feed.feed_connection_id:
                    retired.append(feed.feed_connection_id)
        return retired

    def _clean_or_queue(self, job: CleanupJob) -> bool:
        """Clean up in Xero now; on any failure hand the job to the cleanup queue. True when done now."""
        try:
            XeroCleanup(self.xero).run(job)
            return True
        except Exception as error:  # Xero down, rate-limited, anything: the queue retries, the user is not held
            logger.warning("Xero cleanup deferred to the queue", extra={"error": type(error).__name__,
                                                                        "business_id": job.business_id})
            self.cleanup_queue.send(job)
            return False

    def _change_feed(self, feed: FeedRecord, *, only_if: FeedStatus | None = None, **changes: Any) -> FeedRecord:
        """Change a feed's link state. Auto-sync writes the same item (cursor, last sync), so a conflict is
        expected: the change is re-applied to the fresh copy. With ``only_if``, a feed that has left that status
        meanwhile (auto-sync settled it) is returned as it is."""
        for _ in range(5):
            if only_if is not None and feed.status != only_if:
                return feed
            try:
                return self.feeds.save(feed.model_copy(update={**changes, "status_changed_at": self._now()}))
            except StaleFeed:
                fresh = self.feeds.get(feed.business_id, feed.account_id)
                if fresh is None:
                    raise
                feed = fresh
        raise Conflict("The bank account's link changed while this request ran.", action="Try again.",
                       code="link_changed")

    def _replace_feed(self, previous: FeedRecord | None, record: FeedRecord) -> FeedRecord:
        """Store a new link over a previous (not live) one; a link made meanwhile by another request wins."""
        try:
            return self.feeds.save(record.model_copy(update={"version": previous.version if previous else 0,
                                                             "status_changed_at": self._now()}))
        except StaleFeed:
            raise Conflict("This bank account was linked by another request at the same time.",
                           action="Refresh to see its link.", code="already_linked") from None


def _auth_event_id(tokens: TokenSet) -> str | None:
    """Xero's access token is a JWT naming the consent (authentication_event_id); its connections share it."""
    try:
        payload = tokens.access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["authentication_event_id"])
    except (IndexError, KeyError, ValueError):
        return None


def _refusal(name: str, edition: str | None, organisation_status: str | None) -> Unprocessable | None:
    if edition == OrganisationEdition.PARTNER:
        return Unprocessable(
            f"'{name}' is a Xero Partner Edition organisation. Only Business Edition organisations can be connected.",
            action="Connect a Business Edition organisation, or ask your Xero adviser to move this one to Business "
                   "Edition.", code="partner_edition")
    if organisation_status != "ACTIVE":
        return Unprocessable(f"'{name}' is not an active Xero organisation, so it cannot be connected.",
                             action="Choose an active organisation in Xero.", code="organisation_inactive")
    if edition != OrganisationEdition.BUSINESS:
        return Unprocessable(
            f"'{name}' is not a Xero Business Edition organisation (Xero reports its edition as "
            f"{edition or 'unknown'}). Only Business Edition organisations can be connected.",
            action="Connect a Business Edition organisation.", code="edition_not_supported")
    return None


def _multicurrency_refusal(record: XeroConnectionRecord, currency: str) -> Conflict:
    return Conflict(
        f"The Xero organisation '{record.organisation_name}' does not have multi-currency, so this {currency} "
        f"account cannot be linked.",
        action=f"In Xero, turn on multi-currency and add {currency} (Settings > Currencies), then link the account "
               f"again; or link an account in {record.base_currency}.", code="multicurrency_required")


def _feed_refusal(result: FeedConnection, record: XeroConnectionRecord, currency: str) -> Exception:
    problem = result.error.type if result.error else None
    if problem == "feed-already-connected-in-current-organisation":
        return Conflict(ALREADY_CONNECTED, action=ALREADY_CONNECTED_ACTION, code="feed_already_connected")
    if problem == "invalid-organisation-multi-currency":
        return _multicurrency_refusal(record, currency)
    if problem == "invalid-organisation-bank-feeds":
        return Conflict(f"The Xero organisation '{record.organisation_name}' cannot receive bank feeds (a demo "
                        "company cannot).", action="Connect your real Xero organisation.", code="no_bank_feeds")
    detail = (result.error.detail if result.error else None) or "Xero refused the bank feed."
    return Conflict(detail, action="Check the account in Xero and try again, or choose another Xero bank account.",
                    code=f"feed_rejected_{problem or 'unknown'}".replace("-", "_"))


def _connection_view(record: XeroConnectionRecord) -> ConnectionView:
    action = {ConnectionStatus.NEEDS_RECONNECT: RECONNECT_ACTION,
              ConnectionStatus.DISCONNECTED: "Connect to Xero from Accounting > Xero."}.get(record.status)
    return ConnectionView(status=record.status.value, status_reason=record.status_reason, action=action,
                          organisation_name=record.organisation_name, tenant_id=record.tenant_id,
                          base_currency=record.base_currency, country_code=record.country_code, edition=record.edition,
                          connected_by=record.connected_by, connected_at=record.connected_at,
                          last_sync_at=record.last_sync_at)


def _account_view(account: LedgerAccount, feed: FeedRecord | None) -> BankAccountView:
    link = None
    if feed is not None:
        action = {FeedStatus.REJECTED: RELINK_ACTION, FeedStatus.DISCONNECTED: LINK_AGAIN_ACTION}.get(feed.status)
        link = LinkView(status=feed.status.value, status_reason=feed.status_reason, action=action,
                        xero_account_id=feed.xero_account_id, xero_account_name=feed.xero_account_name,
                        feed_connection_id=feed.feed_connection_id, linked_by=feed.linked_by, linked_at=feed.linked_at,
                        backfill_from=feed.backfill_from, last_sync_at=feed.last_sync_at,
                        last_sync_error=feed.last_sync_error)
    return BankAccountView(account_id=account.account_id, name=account.name, account_number=account.account_number,
                           currency=account.currency, link=link)
