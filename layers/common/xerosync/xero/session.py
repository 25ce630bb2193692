"""One business's connection to its Xero organisation: valid tokens, the tenant, and the operations.

Every call goes through the transport (governor, retries, typed errors). Around it the session handles
what only it can: a 401 gets one refresh and one retry; a 403 is checked against ``GET /connections`` so
that an organisation disconnected on Xero's side marks the business NEEDS_RECONNECT instead of failing
silently. Writes that create something carry a deterministic Idempotency-Key and are never sent twice
blindly: an uncertain outcome is resolved by looking the object up by its marker first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from xerosync.clock import Clock, process_clock
from xerosync.observability import logger
from xerosync.xero.errors import (
    ReconnectRequired,
    XeroError,
    XeroForbidden,
    XeroServerError,
    XeroUnauthorised,
    XeroUncertainOutcome,
    XeroValidationError,
)
from xerosync.xero.governor import FEEDS, GENERAL
from xerosync.xero.identity import XeroIdentity
from xerosync.xero.models import Account, Organisation
from xerosync.xero.tokens import AccessTokens
from xerosync.xero.transport import XeroRequest, XeroResponse, XeroTransport

if TYPE_CHECKING:  # loaded by the first call that uses them: most functions never make one (docs/architecture.md)
    from xerosync.xero.bank_feeds import FeedConnection, Statement
    from xerosync.xero.expense_models import Attachment, BankTransaction, Contact, TaxRate, TrackingCategory

ACCOUNTING = "/api.xro/2.0"
BANK_FEEDS = "/bankfeeds.xro/1.0"
MAX_KEY_LENGTH = 128  # Xero's Idempotency-Key limit [OAS]
OCTET_STREAM = "application/octet-stream"
DISCONNECTED_IN_XERO = "The connection was removed in Xero (Settings > Connected apps)."
UPLOAD_TRIES = 3  # sends of one file in one call of upload_attachment, each after looking Xero up


def idempotency_key(tenant_id: str, kind: str, *parts: object) -> str:
    """Deterministic per (tenant, object, version): the same write always carries the same key."""
    digest = hashlib.sha256("|".join([tenant_id, kind, *map(str, parts)]).encode()).hexdigest()
    return f"{kind}-{digest}"[:MAX_KEY_LENGTH]


class XeroSession:
    """Bound to one connection generation of one business: its calls carry only that generation's tokens."""

    def __init__(self, *, business_id: str, tenant_id: str, generation: str, transport: XeroTransport,
                 tokens: AccessTokens, identity: XeroIdentity, api_url: str, clock: Clock | None = None,
                 retired_ok: bool = False, purpose: str = GENERAL) -> None:
        self.business_id = business_id
        self.tenant_id = tenant_id
        self.generation = generation
        self.transport = transport
        self.tokens = tokens
        self.identity = identity
        self.api_url = api_url.rstrip("/")
        self.clock = clock or process_clock()
        self.retired_ok = retired_ok  # the generation's own cleanup, after its connection ended
        self.purpose = purpose  # INTERACTIVE when a user waits for the answer (counted against the business's cap)

    def access_token(self, *, stale: str | None = None) -> str:
        return self.tokens.access_token(self.business_id, self.generation, stale=stale, retired_ok=self.retired_ok)

    # ------------------------------------------------------------------ the call
    def call(self, method: str, path: str, *, api: str = ACCOUNTING, params: dict[str, Any] | None = None,
             json_body: Any = None, data: bytes | None = None, content_type: str | None = None,
             idempotency_key: str | None = None, purpose: str | None = None, safe_to_repeat: bool | None = None,
             headers: dict[str, str] | None = None) -> XeroResponse:
        token = self.access_token()
        request = XeroRequest(
            method=method, url=f"{self.api_url}{api}{path}", tenant_id=self.tenant_id, access_token=token,
            params=params, json_body=json_body, data=data, content_type=content_type,
            idempotency_key=idempotency_key, purpose=purpose or self.purpose, business_id=self.business_id,
            safe_to_repeat=safe_to_repeat,
            extra_headers=dict(headers or {}),
            # Spelled as each specification spells it.
            tenant_header="xero-tenant-id" if api == ACCOUNTING else "Xero-Tenant-Id",
        )
        try:
            return self.transport.send(request)
        except XeroUnauthorised:
            fresh = self.access_token(stale=token)
            return self.transport.send(replace(request, access_token=fresh))
        except XeroForbidden as error:
            self._check_still_connected(token, error)
            raise

    def _check_still_connected(self, token: str, error: XeroForbidden) -> None:
        try:
            tenants = {c.tenant_id for c in self.identity.connections(token)}
        except XeroError:
            return  # cannot tell; the 403 stands
        if self.tenant_id not in tenants:
            logger.warning("organisation disconnected on Xero's side",
                           extra={"business_id": self.business_id, "tenant_id": self.tenant_id,
                                  "xero_correlation_id": error.correlation_id})
            self.tokens.connection_lost(self.business_id, self.generation, DISCONNECTED_IN_XERO)
            raise ReconnectRequired(DISCONNECTED_IN_XERO, reason=DISCONNECTED_IN_XERO, status=403,
                                    correlation_id=error.correlation_id) from None

    def _list(self, path: str, key: str, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> list[Any]:
        body = self.call("GET", path, params=params, headers=headers).body or {}
        return list(body.get(key) or [])

    # ------------------------------------------------------------------ organisation and reference data
    def organisation(self) -> Organisation:
        return Organisation.model_validate(self._list("/Organisation", "Organisations")[0])

    def organisation_actions(self) -> dict[str, str]:
        return {a["Name"]: a["Status"] for a in self._list("/Organisation/Actions", "Actions")}

    def accounts(self, where: str | None = None) -> list[Account]:
        params = {"where": where} if where else None
        return [Account.model_validate(a) for a in self._list("/Accounts", "Accounts", params)]

    def account(self, account_id: str) -> Account:
        return Account.model_validate(self._list(f"/Accounts/{_path_segment(account_id)}", "Accounts")[0])

    def tax_rates(self) -> list[TaxRate]:
        from xerosync.xero.expense_models import TaxRate

        return [TaxRate.model_validate(t) for t in self._list("/TaxRates", "TaxRates")]

    def tracking_categories(self, include_archived: bool = False) -> list[TrackingCategory]:
        from xerosync.xero.expense_models import TrackingCategory

        params = {"includeArchived": "true"} if include_archived else None
        return [TrackingCategory.model_validate(t) for t in self._list("/TrackingCategories", "TrackingCategories",
                                                                        params)]

    # ------------------------------------------------------------------ contacts
    def find_contact(self, name: str) -> Contact | None:
        from xerosync.xero.expense_models import Contact

        found = self._list("/Contacts", "Contacts", {"where": f'Name=="{_quote(name)}"'})
        active = [c for c in found if c.get("ContactStatus", "ACTIVE") == "ACTIVE"]
        return Contact.model_validate(active[0]) if active else None

    def find_or_create_contact(self, name: str) -> Contact:
        from xerosync.xero.expense_models import Contact

        existing = self.find_contact(name)
        if existing:
            return existing
        key = idempotency_key(self.tenant_id, "contact", name.lower())
        try:
            body = self.call("PUT", "/Contacts", json_body={"Contacts": [{"Name": name}]}, idempotency_key=key).body
        except (XeroUncertainOutcome, XeroServerError):
            found = self.find_contact(name)
            if found:
                return found
            raise
        except XeroValidationError:
            found = self.find_contact(name)  # created meanwhile by another batch ("already assigned")
            if found:
                return found
            raise
        return Contact.model_validate(body["Contacts"][0])

    # ------------------------------------------------------------------ bank transactions (Spend Money)
    def create_bank_transactions(self, items: Sequence[BankTransaction], *, key: str) -> list[BankTransaction]:
        """PUT with summarizeErrors=false: one result per element, in request order, HTTP 200 throughout."""
        from xerosync.xero.expense_models import BankTransaction

        body = self.call("PUT", "/BankTransactions", params={"summarizeErrors": "false"},
                         json_body={"BankTransactions": [i.to_xero() for i in items]}, idempotency_key=key).body
        results = [BankTransaction.model_validate(e) for e in body["BankTransactions"]]
        return in_order_of(items, results, lambda t: t.url)

    def create_bank_transactions_once(self, items: Sequence[BankTransaction], *, batch_id: str
                                      ) -> list[BankTransaction]:
        """Create each item exactly once; items are matched to results by their ``url`` marker.

        When the answer is lost or Xero fails, the items already in Xero are found by marker and only the
        missing ones are sent again, under a key that names the attempt: Xero replays a remembered answer
        (even a 500) for a key it has seen, so a retry needs its own key, and the key stays deterministic
        so that a redelivered message repeats attempt 1 and gets Xero's first answer back. Returns one
        result per item, in the items' order.
        """
        markers = [i.url for i in items]
        if any(not m for m in markers) or len(set(markers)) != len(markers):
            raise ValueError("every item needs its own url marker")
        results: dict[str, BankTransaction] = {}
        pending = list(items)
        started = datetime.fromtimestamp(self.clock.time(), tz=UTC)
        for attempt in range(1, 5):
            key = idempotency_key(self.tenant_id, "spend", batch_id, attempt, *sorted(str(i.url) for i in pending))
            try:
                created = self.create_bank_transactions(pending, key=key)
            except (XeroUncertainOutcome, XeroServerError) as error:
                logger.warning("bank transaction batch outcome unknown; looking up by marker",
                               extra={"batch_id": batch_id, "items": len(pending), "error": type(error).__name__})
                found = self.find_bank_transactions_by_marker(pending, modified_after=started)
                results.update(found)
                pending = [i for i in pending if i.url not in found]
                if not pending:
                    break
                continue
            for item, result in zip(pending, created, strict=True):
                results[str(item.url)] = result
            pending = []
            break
        if pending:
            raise XeroUncertainOutcome(f"{len(pending)} bank transactions could not be confirmed in Xero")
        return [results[str(m)] for m in markers]

    def find_bank_transactions_by_marker(self, items: Iterable[BankTransaction], *,
                                         modified_after: datetime | None = None) -> dict[str, BankTransaction]:
        """Look items up by their ``url`` marker, using Xero's optimised filters (Type, Date) to stay cheap."""
        from xerosync.xero.expense_models import BankTransaction

        wanted = {str(i.url): i for i in items}
        dates = [i.date for i in wanted.values() if i.date]
        clauses = ['Type=="SPEND"']
        if dates:
            clauses.append(f"Date>={_xero_date(min(dates))} AND Date<={_xero_date(max(dates))}")
        headers = {}
        if modified_after is not None:
            since = modified_after - timedelta(minutes=5)
            headers["If-Modified-Since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        found: dict[str, BankTransaction] = {}
        page = 1
        while True:
            batch = self._list("/BankTransactions", "BankTransactions",
                               {"where": " AND ".join(clauses), "page": page, "pageSize": 1000}, headers)
            for raw in batch:
                transaction = BankTransaction.model_validate(raw)
                if transaction.url in wanted and transaction.status != "DELETED":
                    found[str(transaction.url)] = transaction
            if len(batch) < 1000:
                return found
            page += 1

    def update_bank_transaction(self, item: BankTransaction, *, key: str) -> BankTransaction:
        from xerosync.xero.expense_models import BankTransaction

        if not item.bank_transaction_id:
            raise ValueError("an update needs the BankTransactionID")
        body = self.call("POST", f"/BankTransactions/{_path_segment(item.bank_transaction_id)}",
                         json_body={"BankTransactions": [item.to_xero()]}, idempotency_key=key,
                         safe_to_repeat=True).body
        return BankTransaction.model_validate(body["BankTransactions"][0])

    def bank_transaction(self, bank_transaction_id: str) -> BankTransaction:
        from xerosync.xero.expense_models import BankTransaction

        return BankTransaction.model_validate(self._list(f"/BankTransactions/{_path_segment(bank_transaction_id)}",
                                                         "BankTransactions")[0])

    # ------------------------------------------------------------------ attachments
    def attachments(self, bank_transaction_id: str) -> list[Attachment]:
        from xerosync.xero.expense_models import Attachment

        path = f"/BankTransactions/{_path_segment(bank_transaction_id)}/Attachments"
        return [Attachment.model_validate(a) for a in self._list(path, "Attachments")]

    def upload_attachment(self, bank_transaction_id: str, file_name: str, content: bytes, *,
                          key: str, replace_existing: bool = False) -> Attachment:
        """One Xero call per file. PUT adds; POST replaces the file of the same name. The body is the file as
        application/octet-stream, as Xero's specification declares; Xero takes the file's type from its name
        (docs/attachments.md).

        When Xero fails (5xx) or its answer is lost, what landed is looked up first; a file that is not there is
        sent again under a key of its own (``<key>~<try>``): Xero replays a remembered failure for a key it has
        seen, so the same key would get the same 500 for as long as Xero remembers it."""
        from xerosync.xero.expense_models import Attachment

        path = f"/BankTransactions/{_path_segment(bank_transaction_id)}/Attachments/{_path_segment(file_name)}"
        for attempt in range(UPLOAD_TRIES):
            try:
                body = self.call("POST" if replace_existing else "PUT", path, data=content,
                                 content_type=OCTET_STREAM, idempotency_key=key if attempt == 0 else f"{key}~{attempt}",
                                 safe_to_repeat=replace_existing).body
            except (XeroUncertainOutcome, XeroServerError) as error:
                landed = next((a for a in self.attachments(bank_transaction_id)
                               if a.file_name == file_name and a.content_length == len(content)), None)
                if landed is not None:
                    return landed
                if attempt == UPLOAD_TRIES - 1:
                    raise
                logger.warning("receipt upload outcome unknown and not in Xero; sending it again under a new key",
                               extra={"bank_transaction_id": bank_transaction_id, "attempt": attempt + 1,
                                      "error": type(error).__name__, "status": error.status})
                continue
            return Attachment.model_validate(body["Attachments"][0])
        raise AssertionError("unreachable")  # the loop returns or raises

    # ------------------------------------------------------------------ bank feeds
    def create_feed_connections(self, connections: Sequence[FeedConnection], *, key: str) -> list[FeedConnection]:
        """POST FeedConnections. Xero answers 202, or 400 overall when any item is rejected: both give items."""
        from xerosync.xero.bank_feeds import FeedConnection

        payload = {"items": [c.to_xero() for c in connections]}
        try:
            body = self.call("POST", "/FeedConnections", api=BANK_FEEDS, json_body=payload, idempotency_key=key).body
        except XeroValidationError as error:
            if isinstance(error.body, dict) and error.body.get("items"):
                return [FeedConnection.model_validate(i) for i in error.body["items"]]
            raise
        except (XeroUncertainOutcome, XeroServerError):
            tokens = {c.account_token for c in connections}
            found = [c for c in self.feed_connections() if c.account_token in tokens]
            if len(found) == len(tokens):
                return found
            raise
        return [FeedConnection.model_validate(i) for i in body.get("items", [])]

    def feed_connection(self, feed_connection_id: str) -> FeedConnection:
        from xerosync.xero.bank_feeds import FeedConnection

        body = self.call("GET", f"/FeedConnections/{_path_segment(feed_connection_id)}", api=BANK_FEEDS).body
        return FeedConnection.model_validate(body)

    def feed_connections(self) -> list[FeedConnection]:
        from xerosync.xero.bank_feeds import FeedConnection

        return [FeedConnection.model_validate(i) for i in self._bank_feed_pages("/FeedConnections")]

    def _bank_feed_pages(self, path: str, **call: Any) -> Iterator[dict[str, Any]]:
        """The items of a Bank Feeds list, page by page (100 a page) until the last page Xero names."""
        page = 1
        while True:
            body = self.call("GET", path, api=BANK_FEEDS, params={"page": page, "pageSize": 100}, **call).body
            items = body.get("items", []) if isinstance(body, dict) else []
            yield from items
            pagination = body.get("pagination") or {} if isinstance(body, dict) else {}
            if not items or page >= int(pagination.get("pageCount") or 1):
                return
            page += 1

    def delete_feed_connections(self, feed_connection_ids: Sequence[str]) -> list[FeedConnection]:
        from xerosync.xero.bank_feeds import FeedConnection

        payload = {"items": [{"id": i} for i in feed_connection_ids]}
        try:
            body = self.call("POST", "/FeedConnections/DeleteRequests", api=BANK_FEEDS, json_body=payload,
                             safe_to_repeat=True).body
        except XeroValidationError as error:
            if isinstance(error.body, dict) and error.body.get("items"):
                return [FeedConnection.model_validate(i) for i in error.body["items"]]
            raise
        return [FeedConnection.model_validate(i) for i in body.get("items", [])]

    def post_statements(self, statements: Sequence[Statement], *, key: str) -> list[Statement]:
        """POST several statements (several feeds) at once; per-item results, PENDING when accepted.

        Safe to repeat: Xero detects lines it already has by transactionId (a statement of only known lines
        is answered ``duplicate-statement``, the product treats that as delivered).
        """
        payload = {"items": [s.to_xero() for s in statements]}
        try:
            body = self.call("POST", "/Statements", api=BANK_FEEDS, json_body=payload, idempotency_key=key,
                             purpose=FEEDS, safe_to_repeat=True).body
        except XeroError as error:
            if isinstance(error.body, dict) and error.body.get("items") and error.status in (400, 403, 409, 422):
                return [_statement_result(i) for i in error.body["items"]]
            raise
        return [_statement_result(i) for i in body.get("items", [])]

    def statement(self, statement_id: str) -> Statement:
        body = self.call("GET", f"/Statements/{_path_segment(statement_id)}", api=BANK_FEEDS, purpose=FEEDS).body
        return _statement_result(body)

    def statements(self) -> Iterator[Statement]:
        """The organisation's statements, every feed's, page by page (a relink looks for one whose answer was
        never recorded)."""
        return (_statement_result(i) for i in self._bank_feed_pages("/Statements", purpose=FEEDS))


def in_order_of(items: Sequence[BankTransaction], results: list[BankTransaction],
                identity: Callable[[BankTransaction], str | None]) -> list[BankTransaction]:
    """Xero's per-element results in the order of the items sent, matched by ``identity`` (the Url marker,
    the BankTransactionID) where every result carries it: no published source promises Xero keeps the
    request's order (docs/xero-facts.md#batches). Position is the fallback, and a count that differs is an error."""
    by_identity = {identity(r): r for r in results if identity(r)}
    wanted = [identity(i) for i in items]
    if len(by_identity) == len(items) and all(w in by_identity for w in wanted):
        return [by_identity[w] for w in wanted]
    if len(results) != len(items):
        raise XeroError(f"Xero answered {len(results)} elements for {len(items)} sent")
    return results


def _statement_result(raw: dict[str, Any]) -> Statement:
    from xerosync.xero.bank_feeds import Statement

    return Statement.model_validate({"feedConnectionId": raw.get("feedConnectionId", ""), **raw})


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _xero_date(day: date) -> str:
    return f"DateTime({day.year},{day.month:02d},{day.day:02d})"


def _path_segment(value: str) -> str:
    """One path segment, whatever it holds: an id or a file name can never change the path or add a query."""
    return quote(value, safe="")
