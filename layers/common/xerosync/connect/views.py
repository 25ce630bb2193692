"""What the connect routes show: the connection and each bank account's link, with the way out of any problem."""

from __future__ import annotations

from xerosync.connect.models import BankAccountView, ConnectionView, LinkView
from xerosync.ledger.models import LedgerAccount
from xerosync.store.connections import ConnectionStatus, XeroConnectionRecord
from xerosync.store.feeds import FeedRecord, FeedStatus
from xerosync.xero.errors import RECONNECT_ACTION

CONNECT_ACTION = "Connect to Xero from Accounting > Xero."
RELINK_ACTION = "Link the account again, choosing another Xero bank account or a new one."
LINK_AGAIN_ACTION = ("Link the account to a Xero bank account again to resume syncing it (after connecting to Xero, "
                     "if the connection is not active).")

MOVING_REASON = "The link is being moved to the new connection to Xero; the account syncs again once that is done."
ENDING_REASON = ("The link is to another Xero organisation than the one now connected; it ends once the new "
                 "connection is finished, and the account can then be linked again.")
MOVING_ACTION = "Nothing to do: it is finished within the hour, or at once if you connect to Xero again."


def connection_view(record: XeroConnectionRecord) -> ConnectionView:
    action = {ConnectionStatus.NEEDS_RECONNECT: RECONNECT_ACTION,
              ConnectionStatus.DISCONNECTED: CONNECT_ACTION}.get(record.status)
    return ConnectionView(status=record.status.value, status_reason=record.status_reason, action=action,
                          organisation_name=record.organisation_name, tenant_id=record.tenant_id,
                          base_currency=record.base_currency, country_code=record.country_code, edition=record.edition,
                          connected_by=record.connected_by, connected_at=record.connected_at,
                          last_sync_at=record.last_sync_at)


def account_view(account: LedgerAccount, feed: FeedRecord | None,
                 connection: XeroConnectionRecord | None = None) -> BankAccountView:
    link = None
    if feed is not None:
        reason = feed.status_reason
        action = {FeedStatus.REJECTED: RELINK_ACTION, FeedStatus.DISCONNECTED: LINK_AGAIN_ACTION}.get(feed.status)
        status = feed.status
        if feed.is_live and connection is not None and connection.status == ConnectionStatus.NEEDS_RECONNECT:
            # The link itself is intact, but nothing syncs until the connection is renewed: say so on every link.
            reason = connection.status_reason or "The connection to Xero needs to be renewed."
            action = RECONNECT_ACTION
        elif (feed.is_live and connection is not None and connection.status == ConnectionStatus.ACTIVE
              and feed.generation != connection.generation):
            # A reconnection has not finished moving (or, for another organisation, ending) the link: it does not
            # sync until then.
            status, action = FeedStatus.PENDING, MOVING_ACTION
            reason = MOVING_REASON if feed.tenant_id == connection.tenant_id else ENDING_REASON
        link = LinkView(status=status.value, status_reason=reason, action=action,
                        xero_account_id=feed.xero_account_id, xero_account_name=feed.xero_account_name,
                        feed_connection_id=feed.feed_connection_id, linked_by=feed.linked_by, linked_at=feed.linked_at,
                        backfill_from=feed.backfill_from, last_sync_at=feed.last_sync_at,
                        last_sync_error=feed.last_sync_error)
    return BankAccountView(account_id=account.account_id, name=account.name, account_number=account.account_number,
                           currency=account.currency, link=link)
