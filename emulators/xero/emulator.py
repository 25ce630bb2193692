"""The emulator: Xero's services behind one request pipeline, and the Python control surface tests drive it by.

Requests go through ``pipeline.RequestPipeline``; the services (identity, accounting, bank transactions,
attachments, bank feeds) answer them; ``control.ControlApi`` serves the control surface over HTTP. The loopback
HTTP server for all of Xero's hosts, and the WSGI app that turns its requests into ``ApiRequest``s, are
``server.py``'s.
"""

from __future__ import annotations

import copy
import logging
import threading
from datetime import date
from typing import Any

from emulators.time_control import SystemClock

from .accounting import AccountingService
from .attachments import AttachmentsService, attachment_summary
from .bank_transactions import BankTransactionsService
from .bankfeeds import BankFeedsService
from .config import EmulatorConfig
from .control import ControlApi
from .emulator_clock import Clock, EmulatorClock
from .faults import Fault, FaultPlan
from .formats import utc
from .http import ApiRequest, ApiResponse, Router
from .idempotency import IdempotencyStore
from .identity import IdentityService
from .models import App, BankTransaction, Organisation
from .pipeline import RequestPipeline
from .ratelimits import RateLimiter
from .seed import account_from_xero, build_organisation, check_tracking_limits
from .server import BackgroundServer, WsgiApp
from .spec import SpecFilesMissing, XeroSpecs, find_spec_dir, in_ci, missing_spec_message
from .state import EmulatorState

logger = logging.getLogger(__name__)


class XeroEmulator:
    """Xero's OAuth, Accounting and Bank Feeds APIs on loopback, strict by default.

    ``clock`` is any object with ``time()`` (``emulators.time_control.ManualClock`` lets tests move time);
    ``strict`` validates every request against Xero's OpenAPI files, read from ``spec_dir`` (default:
    ``$XERO_OPENAPI_DIR``, else ``<repo>/../shared/xero-openapi``); ``config`` overrides limits and delays.

    ``strict=True`` without the files raises :class:`SpecFilesMissing`. ``strict=None`` (the default) is
    strict where the files are; without them it raises in CI (``CI=true``) and elsewhere runs lenient,
    saying so in a warning and in ``strict_off_reason``. Strict mode never turns itself off silently.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        strict: bool | None = None,
        spec_dir: str | None = None,
        config: EmulatorConfig | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._initial_config = copy.deepcopy(self.config)
        self.clock = EmulatorClock(clock or SystemClock())
        self.spec_dir = find_spec_dir(spec_dir)
        if strict is None:
            strict = self.spec_dir is not None or in_ci()
        if strict and self.spec_dir is None:
            raise SpecFilesMissing(missing_spec_message(spec_dir))
        self.strict = strict
        #: Why requests are not checked against Xero's files (None in strict mode).
        self.strict_off_reason: str | None = None
        if not strict:
            self.strict_off_reason = ("strict=False was asked for" if self.spec_dir is not None
                                      else "strict mode is off: " + missing_spec_message(spec_dir))
            if self.spec_dir is None:
                logger.warning("%s", self.strict_off_reason)
        self._specs: XeroSpecs | None = None
        self.state = EmulatorState()
        self.rate_limiter = RateLimiter(self.config)
        self.idempotency = IdempotencyStore()
        self.fault_plan = FaultPlan()
        self.identity = IdentityService(self.state, self.clock, self.config)
        self.accounting = AccountingService(self.state, self.clock, self.config)
        self.bank_transactions_service = BankTransactionsService(self.accounting)
        self.attachments_service = AttachmentsService(self.accounting)
        self.bankfeeds = BankFeedsService(self.state, self.clock, self.config)
        self.router = Router()
        # Registration order matters only where literal segments compete with parameters.
        self.identity.register(self.router)
        self.accounting.register(self.router)
        self.bank_transactions_service.register(self.router)
        self.attachments_service.register(self.router)
        self.bankfeeds.register(self.router)
        self.control = ControlApi(self)
        self.pipeline = RequestPipeline(self)
        #: The WSGI app of every Xero host (the local runner may also serve it in process).
        self.app = WsgiApp(self.handle)
        self._server = BackgroundServer(self.app, name="xero-emulator")
        #: Set while stopping (or resetting): releases responses that a timeout fault is holding.
        self.stopping = threading.Event()
        #: Counts resets: a request logs itself only in the emulator's life it arrived in.
        self.generation = 0

    # ------------------------------------------------------------------------------------- lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL for every Xero host."""
        if self._server.running:
            raise RuntimeError("already started")
        if self.strict:
            self.specs()  # load before the first request rather than during it
        self.stopping.clear()
        return self._server.start(host, port)

    @property
    def base_url(self) -> str | None:
        """Where every Xero host is served (None until ``start``)."""
        return self._server.base_url

    def hold(self, request: ApiRequest, seconds: float) -> None:
        """What a "timeout" fault does with the request's answer: hold it ``seconds`` REAL seconds, or until the
        emulator stops. A host that plays time itself may replace this (the soak: ``local/soak/chaos.py``)."""
        self.stopping.wait(seconds)

    def stop(self) -> None:
        self.stopping.set()  # releases held (timeout fault) responses
        self._server.stop()

    def reset(self) -> None:
        """Back to a fresh emulator: no data, faults, keys or counters, the constructor's settings, the clock
        with no offset of its own (a clock handed in is not moved back), no answer held; the default dev app
        registered. A request that arrived before the reset and answers after it (a held answer released) leaves
        nothing in the request log."""
        released, self.stopping = self.stopping, threading.Event()
        released.set()  # held (timeout fault) answers leave now, as when the emulator stops
        with self.state.lock:
            self.generation += 1
            self.state.clear()
            self.fault_plan.clear()
            self.idempotency.reset()
            self.rate_limiter.reset()
            self.config.update(self._initial_config.as_dict())
            self.clock.reset()

    def specs(self) -> XeroSpecs:
        if self.spec_dir is None:
            raise RuntimeError("Xero's OpenAPI files are not available")
        if self._specs is None:
            self._specs = XeroSpecs.shared(self.spec_dir)
        return self._specs

    def __enter__(self) -> XeroEmulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- requests
    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one request (the WSGI app calls this; tests may too)."""
        return self.pipeline.handle(request)

    # ========================================================================= Python control surface
    # Apps, organisations and reference data ------------------------------------------------------------
    def register_app(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        name: str | None = None,
        bank_feeds_enabled: bool = True,
    ) -> dict[str, Any]:
        app = App(client_id, client_secret, list(redirect_uris), name or client_id, bank_feeds_enabled)
        with self.state.lock:
            self.state.apps[client_id] = app
        return app.as_dict()

    def seed_organisation(self, name: str = "Emulated Trading Ltd", **options: Any) -> str:
        """Create an organisation (Business Edition, active, HKD, chart/tax/tracking defaults); its tenant id.

        Options: ``tenant_id, edition, status, country_code, base_currency, timezone, utc_offset_hours,
        is_demo, org_class, version, short_code, period_lock_date, end_of_year_lock_date, multicurrency,
        currencies, bank_feeds_enabled, require_payments_enabled_line_accounts, default_chart, accounts,
        tax_rates, tracking_categories, contacts`` (lists of Xero-shaped dictionaries).
        """
        if options.get("tenant_id"):
            options["tenant_id"] = str(options["tenant_id"]).lower()
        organisation = build_organisation(utc(self.clock.time()), name=name, **options)
        with self.state.lock:
            if organisation.organisation_id in self.state.organisations:
                raise ValueError(f"tenant {organisation.organisation_id} already exists")
            self.state.organisations[organisation.organisation_id] = organisation
        return organisation.organisation_id

    def _organisation(self, tenant_id: str) -> Organisation:
        organisation = self.state.organisation(tenant_id)
        if organisation is None:
            raise KeyError(f"no organisation {tenant_id}")
        return organisation

    _UPDATABLE = frozenset(
        {
            "name",
            "edition",
            "status",
            "country_code",
            "base_currency",
            "timezone",
            "utc_offset_hours",
            "is_demo",
            "org_class",
            "version",
            "period_lock_date",
            "end_of_year_lock_date",
            "multicurrency",
            "currencies",
            "bank_feeds_enabled",
            "require_payments_enabled_line_accounts",
        }
    )

    def update_organisation(self, tenant_id: str, **changes: Any) -> dict[str, Any]:
        unknown = set(changes) - self._UPDATABLE
        if unknown:
            raise KeyError(f"cannot change {sorted(unknown)}")
        with self.state.lock:
            organisation = self._organisation(tenant_id)
            for name, value in changes.items():
                if name in {"period_lock_date", "end_of_year_lock_date"} and isinstance(value, str):
                    value = date.fromisoformat(value)
                if name in {"edition", "status", "org_class", "version", "country_code", "base_currency", "timezone"}:
                    value = str(value).upper()
                setattr(organisation, name, value)
            return organisation.to_xero()

    def add_account(self, tenant_id: str, account: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            organisation = self._organisation(tenant_id)
            created = account_from_xero(account, utc(self.clock.time()))
            organisation.accounts[created.account_id] = created
            return created.to_xero()

    def update_account(self, tenant_id: str, account_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change an account with Xero-shaped fields (``Status``, ``EnablePaymentsToAccount``...)."""
        with self.state.lock:
            organisation = self._organisation(tenant_id)
            current = organisation.accounts[account_id.lower()]
            merged = {**current.to_xero(), **changes, "AccountID": current.account_id}
            updated = account_from_xero(merged, utc(self.clock.time()))
            organisation.accounts[current.account_id] = updated
            return updated.to_xero()

    def delete_bank_account(self, tenant_id: str, account_id: str) -> int:
        """The user deletes a bank account in Xero's chart of accounts (the help centre's way of removing the
        bank from Xero): the account leaves the chart and its bank feed connections go with it (GET answers
        404 for them). Returns how many feed connections went.

        Xero deletes only an account nothing uses; one with transactions on it is archived instead (it stays in
        the chart, and the transactions keep naming it), so the emulator archives an account a Spend Money
        names, and deletes the others."""
        with self.state.lock:
            organisation = self._organisation(tenant_id)
            wanted = account_id.lower()
            if any(t.bank_account_id == wanted for t in organisation.bank_transactions.values()):
                current = organisation.accounts[wanted]
                current.status = "ARCHIVED"
                current.updated = utc(self.clock.time())
            else:
                current = organisation.accounts.pop(wanted)
            removed = 0
            for connection in organisation.feed_connections.values():
                if connection.account_id == current.account_id and connection.status != "DELETED":
                    connection.status = "DELETED"
                    removed += 1
            return removed

    def set_tracking_status(self, tenant_id: str, item_id: str, status: str) -> None:
        """Archive (or reactivate) a tracking category or option by its id."""
        with self.state.lock:
            organisation = self._organisation(tenant_id)
            wanted = item_id.lower()
            for category in organisation.tracking_categories.values():
                if category.category_id == wanted:
                    previous = category.status
                    category.status = status.upper()
                    try:
                        check_tracking_limits(list(organisation.tracking_categories.values()))
                    except ValueError:
                        category.status = previous
                        raise
                    return
                for option in category.options:
                    if option.option_id == wanted:
                        option.status = status.upper()
                        return
            raise KeyError(f"no tracking category or option {item_id}")

    def set_reconciled(self, tenant_id: str, bank_transaction_id: str, reconciled: bool = True) -> None:
        """Mark a bank transaction reconciled, as if matched to a statement line in Xero."""
        with self.state.lock:
            self._transaction(tenant_id, bank_transaction_id).is_reconciled = reconciled

    def _transaction(self, tenant_id: str, bank_transaction_id: str) -> BankTransaction:
        transaction = self._organisation(tenant_id).bank_transactions.get(bank_transaction_id.lower())
        if transaction is None:
            raise KeyError(f"no bank transaction {bank_transaction_id}")
        return transaction

    # Identity --------------------------------------------------------------------------------------------
    def consent(
        self, authorize_url: str, tenant_ids: list[str] | None = None, user: str | None = None, deny: bool = False
    ) -> str:
        """Complete Xero's consent screen headlessly; returns the redirect URL (with code and state)."""
        return self.identity.consent(authorize_url, tenant_ids, user, deny)

    def disconnect(self, tenant_id: str, client_id: str | None = None) -> int:
        """Disconnect an organisation from Xero's side (the user removed the app); how many connections."""
        removed = 0
        with self.state.lock:
            for connection in list(self.state.connections.values()):
                if connection.tenant_id == tenant_id.lower() and client_id in (None, connection.client_id):
                    self.identity.remove_connection(connection, source="xero")
                    removed += 1
        return removed

    def connections(self) -> list[dict[str, Any]]:
        with self.state.lock:
            rendered = []
            for connection in self.state.connections.values():
                item = self.identity.connection_json(connection)
                item["clientId"] = connection.client_id
                item["userId"] = connection.user_id
                rendered.append(item)
            return rendered

    def disconnections(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(d) for d in self.state.disconnections]

    def token_stats(self) -> dict[str, int]:
        """Counts of codes issued and exchanged, access/refresh tokens issued, refreshes, grace reuses,
        invalid_grant answers and revocations, plus live grants."""
        with self.state.lock:
            stats = {
                name: self.state.token_stats[name]
                for name in (
                    "codes_issued",
                    "code_exchanges",
                    "access_tokens_issued",
                    "refresh_tokens_issued",
                    "refreshes",
                    "grace_reuses",
                    "invalid_grant",
                    "revocations",
                )
            }
            stats["live_grants"] = sum(1 for g in self.state.grants.values() if not g.revoked)
            return stats

    # Reads ------------------------------------------------------------------------------------------------
    def organisation(self, tenant_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self._organisation(tenant_id).to_xero()

    def organisations(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [o.to_xero() for o in self.state.organisations.values()]

    def accounts(self, tenant_id: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return [a.to_xero() for a in self._organisation(tenant_id).accounts.values()]

    def tracking_categories(self, tenant_id: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return [c.to_xero(True) for c in self._organisation(tenant_id).tracking_categories.values()]

    def contacts(self, tenant_id: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return [c.to_xero() for c in self._organisation(tenant_id).contacts.values()]

    def bank_transactions(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every bank transaction written, in creation order, as Xero renders them (with attachments)."""
        with self.state.lock:
            organisation = self._organisation(tenant_id)
            return [
                self._transaction_with_attachments(organisation, t) for t in organisation.bank_transactions.values()
            ]

    def bank_transaction(self, tenant_id: str, bank_transaction_id: str) -> dict[str, Any]:
        with self.state.lock:
            organisation = self._organisation(tenant_id)
            return self._transaction_with_attachments(organisation, self._transaction(tenant_id, bank_transaction_id))

    def _transaction_with_attachments(self, organisation: Organisation, transaction: BankTransaction) -> dict[str, Any]:
        rendered = self.bank_transactions_service.render(organisation, transaction)
        rendered["Attachments"] = [attachment_summary(a) for a in transaction.attachments]
        return rendered

    def attachments(self, tenant_id: str, bank_transaction_id: str) -> list[dict[str, Any]]:
        """Attachments with their size and SHA-256, to check the right bytes arrived."""
        with self.state.lock:
            return [attachment_summary(a) for a in self._transaction(tenant_id, bank_transaction_id).attachments]

    def attachment_bytes(self, tenant_id: str, bank_transaction_id: str, file_name: str) -> bytes:
        with self.state.lock:
            for attachment in self._transaction(tenant_id, bank_transaction_id).attachments:
                if attachment.file_name == file_name:
                    return attachment.content
        raise KeyError(file_name)

    def feed_connections(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every feed connection, with its internal ``state`` (PENDING, ACTIVE, REJECTED, DELETING, DELETED)."""
        self.bankfeeds.settle(self.clock.time())
        with self.state.lock:
            rendered = []
            for connection in self._organisation(tenant_id).feed_connections.values():
                item = connection.to_bankfeeds()
                item["state"] = connection.status
                rendered.append(item)
            return rendered

    def settle_feed_connection(
        self, tenant_id: str, feed_connection_id: str, status: str = "ACTIVE", error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Decide now what a PENDING feed connection becomes (ACTIVE, or REJECTED with ``error``)."""
        with self.state.lock:
            connection = self._organisation(tenant_id).feed_connections[feed_connection_id.lower()]
            if connection.status != "PENDING":
                raise ValueError(f"feed connection is {connection.status}, not PENDING")
            connection.status = status.upper()
            if connection.status == "REJECTED":
                connection.error = error or {
                    "type": "invalid-feed-connection",
                    "title": "Feed Connection Failed",
                    "status": 400,
                    "detail": "The feed connection was rejected.",
                }
            return connection.to_bankfeeds()

    def reject_next_feed_connections(self, tenant_id: str, error: dict[str, Any] | None = None) -> int:
        """Make every PENDING feed connection of an organisation settle as REJECTED when it is due."""
        with self.state.lock:
            pending = [c for c in self._organisation(tenant_id).feed_connections.values() if c.status == "PENDING"]
            for connection in pending:
                connection.outcome = "REJECTED"
                connection.error = error or {
                    "type": "invalid-feed-connection",
                    "title": "Feed Connection Failed",
                    "status": 400,
                    "detail": "The feed connection was rejected.",
                }
            return len(pending)

    def settle_pending(self) -> None:
        """Process every PENDING feed connection, deletion and statement now, whatever their delay."""
        with self.state.lock:
            for organisation in self.state.organisations.values():
                for connection in organisation.feed_connections.values():
                    connection.due = min(connection.due, self.clock.time())
                for statement in organisation.statements.values():
                    statement.due = min(statement.due, self.clock.time())
        self.bankfeeds.settle(self.clock.time())

    def statements(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every statement posted, in order, with its lines, status and errors."""
        self.bankfeeds.settle(self.clock.time())
        with self.state.lock:
            return [s.to_bankfeeds(include_lines=True) for s in self._organisation(tenant_id).statements.values()]

    def statement_lines(self, tenant_id: str, feed_connection_id: str) -> list[dict[str, Any]]:
        """The lines Xero accepted on a feed, in delivery order, each once (repeats skipped)."""
        self.bankfeeds.settle(self.clock.time())
        with self.state.lock:
            lines = self._organisation(tenant_id).accepted_lines.get(feed_connection_id.lower(), [])
            return [dict(line) for line in lines]

    # Observations -------------------------------------------------------------------------------------
    @property
    def request_log(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(e) for e in self.state.request_log]

    def clear_request_log(self) -> None:
        with self.state.lock:
            self.state.request_log.clear()

    @property
    def spec_violations(self) -> list[dict[str, Any]]:
        """Requests that broke Xero's OpenAPI specification (strict mode); tests expect it empty."""
        with self.state.lock:
            return [v.as_dict() for v in self.state.spec_violations]

    def clear_spec_violations(self) -> None:
        with self.state.lock:
            self.state.spec_violations.clear()

    # Faults ---------------------------------------------------------------------------------------------
    def add_fault(self, kind: str, **options: Any) -> dict[str, Any]:
        """Plan a fault; see ``faults.Fault`` for kinds and matching. Returns it (with its id)."""
        return self.fault_plan.add(Fault(kind=kind, **options)).as_dict()

    def faults(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.fault_plan.all()]

    def fired_faults(self) -> list[dict[str, Any]]:
        """Every firing of a planned fault, in order: its id, kind, status or problem, and the request."""
        return self.fault_plan.fired()

    def expire_access_tokens(self, tenant_id: str | None = None) -> int:
        """Force a token refresh: every live access token (of the users connected to ``tenant_id``, or all)
        expires now, so each client's next call gets 401 and must refresh. Returns how many expired."""
        return self.identity.expire_access_tokens(tenant_id)

    def remove_fault(self, fault_id: str) -> bool:
        return self.fault_plan.remove(fault_id)

    def clear_faults(self) -> None:
        self.fault_plan.clear()

    # Clock and settings ----------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.time()

    def advance_clock(self, seconds: float) -> float:
        self.clock.advance(seconds)
        return self.clock.time()

    def set_clock(self, epoch_seconds: float) -> float:
        self.clock.set(epoch_seconds)
        return self.clock.time()

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change limits and delays (see ``EmulatorConfig``); ``reset`` restores the constructor's values."""
        self.config.update(settings)
        return self.config.as_dict()
