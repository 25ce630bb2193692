"""The businesses' users, as the bank's frontend drives the product: the HTTP API over loopback, with a token of
their own. They act as people do: try again when the product says to (a 5xx, a 429 with Retry-After, "wait a
few minutes"), and follow the way out the product shows them (reconnect, link again, sync again, send the
receipts again). Every wait is on the world's clock.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from local.soak.simclock import SimClock
from local.soak.world import FIX_ACCOUNT_CODE, MAPPED_CATEGORIES, Business, World
from local.stack import DevStack

TRIES = 6
PAGE = 200
SYNC_LIMIT = 1000  # the help centre's "up to 1000 at a time"


class UserGaveUp(Exception):
    """A user action that still failed after the tries a person would make."""


class Users:
    def __init__(self, stack: DevStack, world: World, clock: SimClock, activity: Any) -> None:
        self.stack = stack
        self.activity = activity  # the world's work: a double click's second request is work of its own
        self.world = world
        self.clock = clock
        self.api_calls = 0
        self.gave_up: list[str] = []
        self.disconnected_on_purpose: set[str] = set()  # until their planned reconnection
        self.fixes = 0  # things users did because the product showed them something to do
        self.xero_accounts: dict[str, dict[str, str]] = {}  # business -> Xero account id by code
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the HTTP API
    def call(self, business: Business, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 202),
             give_up_on: tuple[int, ...] = (), headers: dict[str, str] | None = None) -> requests.Response:
        """One request, tried again as a person would; returns the answer once it is ``ok`` (or one of
        ``give_up_on``, which the caller handles), else raises ``UserGaveUp``."""
        answer: requests.Response | None = None
        for attempt in range(TRIES):
            token = self.stack.token(business_id=business.business_id, user_id=business.user_id, role="Finance")
            with self._lock:
                self.api_calls += 1
            try:
                answer = self.stack.api(method, path, token=token, json_body=body, headers=headers, timeout=60)
            except requests.RequestException:
                self.clock.sleep(30 * (attempt + 1))
                continue
            if answer.status_code in ok or answer.status_code in give_up_on:
                return answer
            if answer.status_code == 429:
                self.clock.sleep(float(answer.headers.get("Retry-After", "30")) + 1)
            elif answer.status_code >= 500 or _says_wait(answer):
                self.clock.sleep(60 * (attempt + 1))
            else:
                break
        status = answer.status_code if answer is not None else "no answer"
        text = answer.text[:300] if answer is not None else ""
        with self._lock:
            self.gave_up.append(f"{business.business_id} {method} {path}: {status} {text}")
        raise UserGaveUp(f"{method} {path}: {status} {text}")

    def json(self, business: Business, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call(business, method, path, body, **kwargs).json()

    # ------------------------------------------------------------------ connect and link
    def connect(self, business: Business, *, relinking: bool = False) -> None:
        """Connect to the business's organisation (Xero's consent, headless), link every bank account, and map
        the expense categories (outside Hong Kong). A sign-in the product could not finish is started again, as
        its answer says."""
        assert self.stack.xero is not None
        for _ in range(TRIES):
            started = self.json(business, "POST", "/v1/xero/connect")
            redirect = self.stack.xero.consent(started["authorize_url"], tenant_ids=[business.tenant_id],
                                               user=business.xero_user)
            query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
            outcome = self.call(business, "POST", "/v1/xero/connect/complete",
                                {"code": query["code"], "state": query["state"]}, give_up_on=(400, 409, 422))
            if outcome.status_code == 200:
                self._fixed()
                break
            self.clock.sleep(60)  # "Start connecting to Xero again": in a minute
        else:
            with self._lock:
                self.gave_up.append(f"{business.business_id} connect: {outcome.status_code} {outcome.text[:200]}")
            return
        if outcome.json()["status"] == "CHOOSE_ORGANISATION":
            self.call(business, "POST", "/v1/xero/connect/organisation", {"tenant_id": business.tenant_id})
        self.disconnected_on_purpose.discard(business.business_id)
        self.link_all(business, reconnected=relinking)
        if business.syncs_expenses:
            self.map_categories(business)

    def link_all(self, business: Business, *, reconnected: bool = False, refreshed: bool = False) -> None:
        """Link every account that is not linked: history from its opening the first time, or again to a new
        Xero bank account when the old one was deleted in Xero; the history Xero has kept when linking again
        after a disconnect. When the product says the connection needs renewing, reconnect (once); when it says
        the connection changed meanwhile, refresh the page and link what is still to link (once), unless another
        user has disconnected meanwhile."""
        status = self.json(business, "GET", "/v1/xero/connection")
        if refreshed and (status.get("connection") or {}).get("status", "DISCONNECTED") == "DISCONNECTED":
            return
        for account in status["accounts"]:
            link = account.get("link") or {}
            if link.get("status") in ("PENDING", "ACTIVE"):
                continue
            planned = next(a for a in business.accounts if a.account_id == account["account_id"])
            fresh = not link or link.get("status") == "REJECTED"
            body: dict[str, Any] = {"new_account": {"name": planned.name, "number": planned.number}}
            if fresh:
                body["backfill_from"] = _day(planned.opened_at)
            self._fixed()
            answer = self.call(business, "PUT", f"/v1/bank-accounts/{planned.account_id}/feed", body,
                               give_up_on=(409,))
            code = _code(answer) if answer.status_code == 409 else None
            if code == "reconnect_required" and not reconnected:
                self.connect(business, relinking=True)
                return
            if code == "connection_changed" and not refreshed:  # "Refresh the page and try again."
                self.link_all(business, reconnected=reconnected, refreshed=True)
                return
            if code not in (None, "already_linked"):
                with self._lock:
                    self.gave_up.append(f"{business.business_id} link {planned.account_id}: {answer.text[:200]}")

    def map_categories(self, business: Business) -> None:
        accounts = self.reference_accounts(business)
        mappings = [{"category": category, "xero_account_id": accounts[code]}
                    for category, code in MAPPED_CATEGORIES.items() if code in accounts]
        self.call(business, "PUT", "/v1/expenses/mappings", {"mappings": mappings})

    def reference_accounts(self, business: Business) -> dict[str, str]:
        if business.business_id not in self.xero_accounts:
            data = self.json(business, "GET", "/v1/expenses/reference-data")
            self.xero_accounts[business.business_id] = {a["code"]: a["account_id"] for a in data["accounts"]
                                                        if a.get("code")}
        return self.xero_accounts[business.business_id]

    def disconnect(self, business: Business) -> None:
        self.disconnected_on_purpose.add(business.business_id)
        self.call(business, "DELETE", "/v1/xero/connection", give_up_on=(404,))

    def reconnect(self, business: Business) -> None:
        self.disconnected_on_purpose.discard(business.business_id)  # from now on they mean to be connected
        self.connect(business)

    # ------------------------------------------------------------------ what users see and do about it
    def look(self, business: Business, *, fix_expenses: bool = False) -> None:
        """Open the Xero page (and the Synced tab): reconnect when it says so, link what is not linked, send
        receipts again where they failed for a reason that allows it; with ``fix_expenses``, also choose an
        account for expenses whose category has none, and sync everything waiting."""
        if business.business_id in self.disconnected_on_purpose:
            return
        status = self.json(business, "GET", "/v1/xero/connection")
        connection = status.get("connection")
        if connection is None or connection["status"] in ("NEEDS_RECONNECT", "DISCONNECTED"):
            self.connect(business)
        else:
            self.link_all(business)
        if not business.syncs_expenses or not self.expenses_open(business):
            return
        for expense in self.tab(business, "synced", has_error="true"):
            if any(p.get("message") != expense_rule_refusal(p) for p in expense.get("attachment_errors") or []):
                self._fixed()
                self.call(business, "POST", f"/v1/expenses/{expense['transaction_id']}/attachments/retry",
                          give_up_on=(409,))
        if fix_expenses:
            self.edit(business, every=True)
            self.sync_expenses(business)

    def sync_now(self, business: Business) -> None:
        self.call(business, "POST", "/v1/xero/sync", give_up_on=(409, 429))

    def expenses_open(self, business: Business) -> bool:
        """Whether the Sync expenses page opens (it needs a linked account: not while the user reconnects)."""
        return self.call(business, "GET", "/v1/expenses/mappings", give_up_on=(409,)).status_code == 200

    def sync_expenses(self, business: Business, *, double_click: bool = False) -> None:
        """Select everything waiting (Pending Sync, and Updated on the Synced tab) and sync it, 1000 at a time."""
        if not self.expenses_open(business):
            return
        waiting = [e["transaction_id"] for e in self.tab(business, "pending")]
        waiting += [e["transaction_id"] for e in self.tab(business, "synced", updated="true")]
        for start in range(0, len(waiting), SYNC_LIMIT):
            chosen = waiting[start:start + SYNC_LIMIT]
            self._fixed()
            if double_click:
                self._twice(functools.partial(self.call, business, "POST", "/v1/expenses/sync-jobs",
                                              {"transaction_ids": chosen}, give_up_on=(409,)))
            else:
                self.call(business, "POST", "/v1/expenses/sync-jobs", {"transaction_ids": chosen}, give_up_on=(409,))

    def edit(self, business: Business, *, every: bool = False) -> None:
        """Choose an account for expenses that have none (Sync error: the category is not mapped), and change
        the description of some Updated ones, as a user does before syncing them again."""
        if not self.expenses_open(business):
            return
        accounts = self.reference_accounts(business)
        pending = self.tab(business, "pending")
        edited = 0
        for expense in pending:
            needs_account = any(p.get("code") == "no_account" for p in expense.get("problems") or [])
            if needs_account and FIX_ACCOUNT_CODE in accounts:
                self._fixed()
                self.call(business, "PATCH", f"/v1/expenses/{expense['transaction_id']}",
                          {"xero_account_id": accounts[FIX_ACCOUNT_CODE]}, give_up_on=(404, 409))
                edited += 1
                if not every and edited >= 5:
                    break
        for expense in self.tab(business, "synced", updated="true")[:3]:
            self.call(business, "PATCH", f"/v1/expenses/{expense['transaction_id']}",
                      {"description": "Checked by the finance team"}, give_up_on=(409,))

    def _fixed(self) -> None:
        with self._lock:
            self.fixes += 1

    def tab(self, business: Business, tab: str, **filters: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            query = "&".join([f"tab={tab}", f"limit={PAGE}", *(f"{k}={v}" for k, v in filters.items()),
                              *([f"cursor={cursor}"] if cursor else [])])
            page = self.json(business, "GET", f"/v1/expenses?{query}")
            items.extend(page["items"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return items

    def _twice(self, click: Callable[[], Any]) -> None:
        """A double click: the same request twice at once."""
        self.activity.start("double click", _swallow(click))
        _swallow(click)()


RULE_REFUSALS = ("Xero allows at most", "The file is", "Xero does not accept this file", "Xero refused the file")


def expense_rule_refusal(problem: dict[str, Any]) -> str | None:
    """The message of a receipt refused by a rule (size, type, count, Xero's own validation): sending it again
    cannot help, so users leave it; anything else (Xero kept failing, the connection changed) they send again."""
    message = str(problem.get("message") or "")
    return message if message.startswith(RULE_REFUSALS) else None


def _code(answer: requests.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return str(body.get("code") or (body.get("error") or {}).get("code") or "") or None if isinstance(body, dict) \
        else None


def _says_wait(answer: requests.Response) -> bool:
    return _code(answer) in ("feed_still_being_removed", "connection_being_removed", "sync_already_starting",
                             "connection_changed")


def _swallow(action: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(UserGaveUp):
            action()

    return run


def _day(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()
