"""Linking the business's bank accounts to Xero bank accounts as bank feeds, and unlinking them.

The help centre: several bank accounts (and several businesses) may feed one organisation; an account already
linked gives Xero's "already connected" error in the help centre's words, with its way out. A link belongs to
the connection generation it was made in; its feed connection is created with that generation's grant, and
an unlink's cleanup names that generation. docs/architecture.md, Connect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from xerosync.auth import Caller
from xerosync.clock import Clock, iso, utc_now
from xerosync.connect.cleanup import CleanupJob
from xerosync.connect.models import LinkAccount, LinkedAccount, XeroBankAccounts, XeroBankAccountView
from xerosync.connect.ports import (
    Cleaner,
    Connections,
    ConnectSession,
    ConnectSessions,
    Feeds,
    FeedSyncRequester,
    LedgerAccounts,
    OrganisationCache,
)
from xerosync.connect.views import account_view
from xerosync.errors import Conflict, InvalidRequest, NotFound, UpstreamUnavailable
from xerosync.ledger.models import LedgerAccount
from xerosync.observability import logger, metrics
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import LIVE_STATUSES, FeedRecord, FeedStatus, SentStatement, StaleFeed
from xerosync.xero.bank_feeds import Balance, FeedConnection, Statement
from xerosync.xero.errors import RECONNECT_ACTION, GenerationChanged, XeroError, XeroNotFound, XeroRateLimited
from xerosync.xero.governor import INTERACTIVE
from xerosync.xero.models import Account
from xerosync.xero.session import idempotency_key

# The help centre's wording for Xero's feed-already-connected-in-current-organisation, and its way out.
ALREADY_CONNECTED = ("The AccountToken, AccountNumber, or AccountId is already connected to another bank account "
                     "in the selected Xero organization")
_ACTIVE_BANK_ACCOUNTS = 'Type=="BANK" AND Status=="ACTIVE"'
ALREADY_CONNECTED_ACTION = ("Choose another Xero bank account, or create a new account in Xero's Chart of Accounts "
                            "and choose it.")
BACKFILL_DAYS = 365  # Xero accepts statement lines from the last 365 days only
# The picker's list of the organisation's Xero bank accounts is shared by its businesses for this long (and
# forgotten when a link creates a new one), so that reloading the page costs Xero nothing.
BANK_ACCOUNTS_MAX_AGE_SECONDS = 60.0


@dataclass
class FeedLinking:
    connections: Connections
    feeds: Feeds
    ledger: LedgerAccounts
    sessions: ConnectSessions
    cleaner: Cleaner
    clock: Clock
    cache: OrganisationCache
    request_feed_sync: FeedSyncRequester | None = None

    def _now(self) -> str:
        return iso(utc_now(self.clock))

    def _active(self, business_id: str) -> tuple[XeroConnectionRecord, ConnectSession]:
        record = self.connections.get(business_id)
        if record is None or record.status == ConnectionStatus.DISCONNECTED:
            raise Conflict("This business is not connected to Xero.",
                           action="Connect to Xero first from Accounting > Xero.", code="not_connected")
        if record.status == ConnectionStatus.NEEDS_RECONNECT:
            raise Conflict(record.status_reason or "The connection to Xero needs to be renewed.",
                           action=RECONNECT_ACTION, code="reconnect_required")
        try:
            return record, self.sessions.session(business_id, record.generation, purpose=INTERACTIVE)
        except GenerationChanged:
            raise Conflict("The business's Xero connection changed while this request ran.",
                           action="Refresh the page and try again.", code="connection_changed") from None

    # ------------------------------------------------------------------ the picker
    def xero_bank_accounts(self, caller: Caller) -> XeroBankAccounts:
        caller.require_accounting_role()
        record, session = self._active(caller.business_id)
        fed = {f.xero_account_id for f in self.feeds.live_for_tenant(record.tenant_id)}
        return XeroBankAccounts(accounts=[XeroBankAccountView(
            account_id=a.account_id, name=a.name, code=a.code, bank_account_number=a.bank_account_number,
            currency_code=a.currency_code or record.base_currency, linked=a.account_id in fed)
            for a in self._bank_accounts(record, session)])

    def _bank_accounts(self, record: XeroConnectionRecord, session: ConnectSession) -> list[Account]:
        """The organisation's active Xero bank accounts: cached, one Xero read a minute whoever asks."""
        key = record.tenant_id
        now = self.clock.time()
        cached = self.cache.get(key)
        if cached is None or cached.refreshed_at < now - BANK_ACCOUNTS_MAX_AGE_SECONDS:
            cached = self.cache.refreshed(key, lambda: json.dumps([a.model_dump(mode="json", by_alias=True) for a in
                                                                   session.accounts(where=_ACTIVE_BANK_ACCOUNTS)]),
                                          unless_since=now - BANK_ACCOUNTS_MAX_AGE_SECONDS) or cached
        if cached is None:
            raise XeroRateLimited("The organisation's Xero bank accounts are being read", status=429, retry_after=2,
                                  problem="refresh")
        return [Account.model_validate(a) for a in json.loads(cached.data)]

    # ------------------------------------------------------------------ linking
    def link(self, caller: Caller, account_id: str, body: LinkAccount) -> LinkedAccount:
        caller.require_accounting_role()
        account = self._business_account(caller.business_id, account_id)
        existing = self.feeds.get(caller.business_id, account_id)
        if existing is not None and existing.is_live:
            raise Conflict("This bank account is already linked to Xero.",
                           action="Unlink it first to link it to another Xero bank account.", code="already_linked")
        backfill_from = self._backfill_from(body.backfill_from)
        record, session = self._active(caller.business_id)
        foreign = account.currency != record.base_currency
        if foreign and session.organisation_actions().get("UseMulticurrency") != "ALLOWED":
            raise _multicurrency_refusal(record, account.currency)
        feed, xero_account_name = self._feed_connection_for(session, record, account, body)
        # The same link sent twice (a double click) is one write; another target is another write.
        target = feed.account_id or f"new:{feed.account_name}:{feed.account_number}"
        key = idempotency_key(record.tenant_id, "feed-connection", account_id, existing.version if existing else 0,
                              target)
        # Xero may hold a feed connection for this account that no link records: a link request that died after
        # Xero made it (its answer, or the record, lost). It is this account's (its token is the bank's account
        # id): adopted when it feeds the Xero account chosen now, removed otherwise. Asked before creating, so
        # that Xero never remembers a refusal under the key a later attempt will send.
        result = (self._own_unrecorded(session, account.account_id, existing, feed)
                  or session.create_feed_connections([feed], key=key)[0])
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
        if body.new_account is not None:
            self.cache.forget(record.tenant_id)  # Xero creates the bank account now
        xero_account_id = feed.account_id or session.feed_connection(str(result.id)).account_id
        # An earlier link that has sent anything (its cursor moved, or its first statement went and Xero's answer
        # was never recorded) continues where Xero has its lines (docs/auto-sync.md, "Relinking").
        keep_cursor = (existing is not None and existing.xero_account_id == xero_account_id
                       and (existing.cursor > 0 or bool(existing.unconfirmed_statements))
                       and body.backfill_from is None)
        cursor, cursor_balance = self._delivered_through(session, existing) if keep_cursor and existing else (0, None)
        saved = self._replace_feed(existing, FeedRecord(
            business_id=caller.business_id, account_id=account_id, currency=account.currency,
            account_number=account.account_number, account_name=account.name, tenant_id=record.tenant_id,
            generation=record.generation, feed_connection_id=result.id, xero_account_id=xero_account_id,
            xero_account_name=xero_account_name,
            status=FeedStatus.PENDING, linked_by=caller.user_id, linked_at=self._now(),
            cursor=cursor, cursor_balance=cursor_balance,
            dated_through=_dated_through(existing, cursor) if keep_cursor and existing else None,
            backfill_from=existing.backfill_from if keep_cursor and existing else backfill_from,
            # Relinked to the same Xero account: its sync history (the last sync shown) continues.
            last_sync_at=existing.last_sync_at if existing and existing.xero_account_id == xero_account_id else None,
        ))
        if self.request_feed_sync is not None:
            self.request_feed_sync(record.tenant_id, caller.business_id, record.generation, [account_id], "linked")
        metrics.add_metric(name="AccountLinked", unit="Count", value=1)
        return LinkedAccount(account=account_view(account, saved, record))

    @staticmethod
    def _own_unrecorded(session: ConnectSession, account_id: str, existing: FeedRecord | None,
                        wanted: FeedConnection) -> FeedConnection | None:
        """A feed connection Xero has for this bank account that no link of the product records, if any: returned
        when it feeds the Xero account wanted; otherwise Xero is asked to remove it (the user is asked to wait).
        The ended link's own feed connection, still there (its cleanup waits in the queue), is removed too."""
        recorded = existing.feed_connection_id if existing is not None else None
        for candidate in session.feed_connections():
            if candidate.account_token != account_id or candidate.status == "REJECTED":
                continue
            if candidate.id != recorded and _feeds(candidate, wanted):
                logger.info("adopting the feed connection an earlier link request made", extra={
                    "account_id": account_id, "feed_connection_id": candidate.id})
                return candidate
            assert candidate.id is not None
            session.delete_feed_connections([candidate.id])
            raise Conflict("Xero is still removing a bank feed an earlier link of this account left.",
                           action="Wait a few minutes, then link the account again.",
                           code="feed_still_being_removed")
        return None

    @staticmethod
    def _delivered_through(session: ConnectSession, previous: FeedRecord) -> tuple[int, Decimal | None]:
        """Where the previous feed's lines are surely in Xero: after its last statement Xero delivered, or at the
        start of the first one Xero refused or does not have (those lines go again, to the new feed connection).

        Entries without a statement id sit above the cursor (written ahead, Xero's answer never recorded): one
        Xero delivered moves the new cursor past it. A statement Xero is still processing, or one Xero cannot be
        asked about now, refuses the link for now: sending its lines again could put them in twice
        (docs/auto-sync.md, "Relinking over statements Xero has not confirmed")."""
        through = (previous.cursor, previous.cursor_balance)
        for entry in previous.unconfirmed_statements:
            try:
                statement = (session.statement(entry.statement_id) if entry.statement_id
                             else _left_in_xero(session, previous, entry))
            except XeroRateLimited:
                raise  # the user tries again in a moment; nothing is stored yet
            except XeroNotFound:
                statement = None  # unknown to Xero: its lines go again
            except XeroError as error:
                raise UpstreamUnavailable("Xero could not be asked what the previous link delivered.",
                                          action="Link the account again in a few minutes.") from error
            if statement is not None and not statement.delivered and statement.status != "REJECTED":
                logger.info("relink waits for a statement Xero is still processing", extra={
                    "account_id": previous.account_id, "statement_id": statement.id,
                    "from_sequence": entry.first_sequence})
                raise UpstreamUnavailable("Xero is still processing transactions the previous link sent.",
                                          action="Link the account again in a few minutes.",
                                          code="statement_still_processing")
            if statement is None or not statement.delivered:
                logger.info("relink resends what the previous feed had not delivered", extra={
                    "account_id": previous.account_id, "from_sequence": entry.first_sequence})
                return entry.first_sequence - 1, entry.start_balance
            if entry.last_sequence > through[0]:
                through = (entry.last_sequence, entry.end_balance)
        return through

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

    @staticmethod
    def _feed_connection_for(session: ConnectSession, record: XeroConnectionRecord, account: LedgerAccount,
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

    def _replace_feed(self, previous: FeedRecord | None, record: FeedRecord) -> FeedRecord:
        """Store a new link over a previous (not live) one, while the connection it was made on is still the
        business's and not disconnected; a link made meanwhile by another request wins."""
        try:
            saved = self.feeds.save_for_connection(record.model_copy(update={
                "version": previous.version if previous else 0, "status_changed_at": self._now()}),
                record.generation)
        except StaleFeed:
            raise Conflict("This bank account was linked by another request at the same time.",
                           action="Refresh to see its link.", code="already_linked") from None
        if saved is None:
            # Disconnected or connected again since this request began. The feed connection Xero has just made is
            # left as a link request that died there leaves it: the account's next link adopts or removes it.
            raise Conflict("The business's Xero connection changed while this request ran.",
                           action="Refresh the page and try again.", code="connection_changed")
        return saved

    # ------------------------------------------------------------------ unlinking
    def unlink(self, caller: Caller, account_id: str) -> LinkedAccount:
        caller.require_accounting_role()
        account = self._business_account(caller.business_id, account_id)
        feed = self.feeds.get(caller.business_id, account_id)
        if feed is None or not feed.is_live:
            raise Conflict("This bank account is not linked to Xero.", code="not_linked")
        changed_meanwhile = Conflict("The bank account's link changed while this request ran.", action="Try again.",
                                     code="link_changed")
        try:
            # same_link: a link made again meanwhile (another feed connection) is not the one this request read
            saved = self.feeds.change(feed, only_if=LIVE_STATUSES, same_link=True,
                                      status=FeedStatus.UNLINKED, status_reason="Unlinked by a user.",
                                      status_changed_at=self._now())
        except StaleFeed:
            raise changed_meanwhile from None
        if saved.feed_connection_id != feed.feed_connection_id:
            raise changed_meanwhile
        if saved.status != FeedStatus.UNLINKED:
            raise Conflict("This bank account is not linked to Xero.", code="not_linked")
        if feed.feed_connection_id:
            self.cleaner.clean_or_queue(CleanupJob(business_id=caller.business_id, tenant_id=feed.tenant_id,
                                                   generation=feed.generation,
                                                   feed_connection_ids=[feed.feed_connection_id]))
        return LinkedAccount(account=account_view(account, saved, self.connections.get(caller.business_id)))


def _feeds(candidate: FeedConnection, wanted: FeedConnection) -> bool:
    """Whether a feed connection feeds the Xero bank account a link asks for (by AccountID, or by the number of
    the new account, as Xero matches it: spaces and dashes aside)."""
    if wanted.account_id is not None:
        return (candidate.account_id or "").lower() == wanted.account_id.lower()

    def number(value: str | None) -> str:
        return "".join(ch for ch in (value or "") if ch not in " -").upper()

    return bool(wanted.account_number) and number(candidate.account_number) == number(wanted.account_number)


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


def _left_in_xero(session: ConnectSession, previous: FeedRecord, entry: SentStatement) -> Statement | None:
    """The statement a request whose answer was never recorded left in Xero for the previous feed, if Xero has
    it (docs/soak.md, "Findings"): the same feed connection, dates and balances. Xero may hold several (one
    refused, then the same sent again): a delivered one wins, then one still being processed."""
    wanted = (previous.feed_connection_id or "").lower()
    found = [statement for statement in session.statements()
             if (statement.feed_connection_id or "").lower() == wanted and statement.start_date == entry.start_date
             and statement.end_date == entry.end_date and _signed(statement.start_balance) == entry.start_balance
             and _signed(statement.end_balance) == entry.end_balance]
    return min(found, key=lambda s: 0 if s.delivered else 2 if s.status == "REJECTED" else 1, default=None)


def _signed(balance: Balance | None) -> Decimal | None:
    if balance is None:
        return None
    return balance.amount if balance.credit_debit_indicator == "CREDIT" else -balance.amount


def _dated_through(previous: FeedRecord, cursor: int) -> date | None:
    """The newest statement date the previous feed had in Xero up to the kept cursor: the new feed's lines are
    never dated before it (docs/auto-sync.md, "Out-of-order postings")."""
    days = [entry.end_date for entry in previous.unconfirmed_statements if entry.last_sequence <= cursor]
    if previous.dated_through is not None:
        days.append(previous.dated_through)
    return max(days, default=None)
