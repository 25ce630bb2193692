"""The Bank Feeds API (``/bankfeeds.xro/1.0``): feed connections and statements [OAS xero_bankfeeds.yaml].

Errors are ``application/problem+json``. Feed connections and statements are processed asynchronously:
they answer PENDING and settle ``feed_connection_delay_s`` / ``statement_delay_s`` later on the emulator
clock (or when a test settles them). Request-level problems (a malformed field, a body over 3,000,000
bytes, an organisation or app without bank feeds) refuse the whole request with one problem object;
rule-level problems (balances, dates, duplicates, an unknown feed) reject only the statement or feed
connection concerned, which the answer lists under ``items`` with its ``error``/``errors``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .config import EmulatorConfig
from .emulator_clock import EmulatorClock
from .formats import day_offset, to_decimal, utc
from .http import PROBLEM_JSON, ApiRequest, ApiResponse, Router, json_response, problem, problem_dict
from .models import Account, Balance, FeedConnection, Organisation, Statement, new_id
from .state import EmulatorState

BANKFEEDS_SCOPE = frozenset({"bankfeeds"})
BASE = "/bankfeeds.xro/1.0"

ALREADY_CONNECTED_DETAIL = (
    "The AccountToken, AccountNumber or AccountId is already connected to another Xero Bank Account in the "
    "selected Xero Organisation."
)  # exact, Xero-OpenAPI#96 and #380


class FieldProblem(ValueError):
    """A malformed field: the whole request is refused with 400 invalid-request."""


def invalid_request(detail: str) -> ApiResponse:
    return problem(400, "invalid-request", "Invalid Request", detail)


def _too_long(field_name: str, value: Any, limit: int) -> None:
    if value is not None and len(str(value)) > limit:
        raise FieldProblem(f"For the request field '{field_name}' exceeded the maximum length of {limit}.")


def _required(field_name: str, value: Any) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FieldProblem(f"For the request field '{field_name}' a value is required.")


def _amount(field_name: str, value: Any) -> Decimal:
    _required(field_name, value)
    number = to_decimal(value)
    if number is None:
        raise FieldProblem(f"For the request field '{field_name}' the value is not a number.")
    if number < 0:
        raise FieldProblem(f"For the request field '{field_name}' the amount must be unsigned.")
    # decimal(19,4): at most four places and fifteen digits before the point.
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise FieldProblem(f"For the request field '{field_name}' at most 4 decimal places are allowed.")
    if number >= Decimal(10) ** 15:
        raise FieldProblem(f"For the request field '{field_name}' the amount is too large.")
    return number


def _indicator(field_name: str, value: Any) -> str:
    _required(field_name, value)
    if value not in {"CREDIT", "DEBIT"}:
        raise FieldProblem(f"For the request field '{field_name}' the value must be CREDIT or DEBIT.")
    return str(value)


def _iso_date(field_name: str, value: Any) -> date:
    _required(field_name, value)
    try:
        return date.fromisoformat(str(value))
    except ValueError as error:
        raise FieldProblem(f"For the request field '{field_name}' the value is not a valid date.") from error


def _normalised_number(number: str) -> str:
    return re.sub(r"[\s-]", "", number).upper()


@dataclass
class _StatementCheck:
    raw: dict[str, Any]
    feed_connection_id: str
    start: date
    end: date
    start_balance: Balance
    end_balance: Balance
    lines: list[dict[str, Any]]
    line_keys: list[str]


class BankFeedsService:
    def __init__(self, state: EmulatorState, clock: EmulatorClock, config: EmulatorConfig) -> None:
        self.state = state
        self.clock = clock
        self.config = config

    def register(self, router: Router) -> None:
        router.add("GET", f"{BASE}/FeedConnections", self.list_feed_connections, "bankfeeds", BANKFEEDS_SCOPE)
        router.add("POST", f"{BASE}/FeedConnections/DeleteRequests", self.delete_requests, "bankfeeds", BANKFEEDS_SCOPE)
        router.add("POST", f"{BASE}/FeedConnections", self.create_feed_connections, "bankfeeds", BANKFEEDS_SCOPE)
        router.add("GET", f"{BASE}/FeedConnections/{{id}}", self.get_feed_connection, "bankfeeds", BANKFEEDS_SCOPE)
        router.add("GET", f"{BASE}/Statements", self.list_statements, "bankfeeds", BANKFEEDS_SCOPE)
        router.add("POST", f"{BASE}/Statements", self.create_statements, "bankfeeds", BANKFEEDS_SCOPE)
        router.add("GET", f"{BASE}/Statements/{{statementId}}", self.get_statement, "bankfeeds", BANKFEEDS_SCOPE)

    # ------------------------------------------------------------------------------------------ gates
    def _organisation(self, request: ApiRequest) -> Organisation | ApiResponse:
        organisation = self.state.organisation(request.tenant_id or "")
        if organisation is None:
            raise LookupError(request.tenant_id)
        if not organisation.bank_feeds_enabled:
            # The Demo Company and other organisations without bank feeds (codat-docs#420).
            return problem(
                403,
                "invalid-organisation-bank-feeds",
                "Invalid Organisation",
                "The organisation does not support bank feeds.",
            )
        return organisation

    def _items(self, request: ApiRequest) -> list[dict[str, Any]]:
        try:
            document = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise FieldProblem("The request body is not valid JSON.") from error
        if not isinstance(document, dict) or not isinstance(document.get("items"), list) or not document["items"]:
            raise FieldProblem("For the request field 'items' a value is required.")
        if not all(isinstance(item, dict) for item in document["items"]):
            raise FieldProblem("For the request field 'items' every item must be an object.")
        return list(document["items"])

    def _page(self, request: ApiRequest, default_size: int) -> tuple[int, int]:
        # "When page value is not a number or a negative number, by default, the first set of records is
        # returned" [OAS]; pages count from 1 as Xero's answers show (Xero-OpenAPI#378).
        page_text, size_text = request.query_value("page") or "", request.query_value("pageSize") or ""
        page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
        size = int(size_text) if size_text.isdigit() and int(size_text) > 0 else default_size
        return page, size

    @staticmethod
    def _paged(items: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
        total = len(items)
        return {
            "pagination": {"page": page, "pageSize": size, "pageCount": (total + size - 1) // size, "itemCount": total},
            "items": items[(page - 1) * size : page * size],
        }

    # ------------------------------------------------------------------------------------- settlement
    def settle(self, now: float) -> None:
        """Move due PENDING feed connections, deletions and statements on to their final state."""
        with self.state.lock:
            for organisation in self.state.organisations.values():
                for connection in organisation.feed_connections.values():
                    if connection.due > now:
                        continue
                    if connection.status == "PENDING":
                        connection.status = connection.outcome
                    elif connection.status == "DELETING":
                        connection.status = "DELETED"
                for statement in organisation.statements.values():  # in the order they were posted
                    if statement.status == "PENDING" and statement.due <= now:
                        self._deliver(organisation, statement)

    def _deliver(self, organisation: Organisation, statement: Statement) -> None:
        connection = organisation.feed_connections.get(statement.feed_connection_id)
        if connection is None or connection.status == "PENDING":
            return  # waits for its feed connection to settle
        if connection.status != "ACTIVE":
            statement.status = "REJECTED"
            statement.errors = [
                problem_dict(
                    403, "invalid-feed-connection", "Invalid Feed Connection", "The feed connection is not active."
                )
            ]
            return
        delivered = organisation.accepted_lines.setdefault(connection.id, [])
        delivered_keys = {line["key"] for line in delivered}
        for line, key in zip(statement.lines, statement.line_keys, strict=True):
            # A statement with some new lines is accepted but its repeated lines are skipped (Apideck's
            # Xero gotchas).
            if key in delivered_keys:
                continue
            delivered_keys.add(key)
            delivered.append({**line, "key": key, "statementId": statement.id})
        statement.status = "DELIVERED"

    # ------------------------------------------------------------------------------- feed connections
    def list_feed_connections(self, request: ApiRequest) -> ApiResponse:
        organisation = self._organisation(request)
        if isinstance(organisation, ApiResponse):
            return organisation
        page, size = self._page(request, self.config.feed_connections_default_page_size)
        items = [c.to_bankfeeds() for c in organisation.feed_connections.values() if c.status != "DELETED"]
        # 200, as Xero answers (Xero-OpenAPI#378), although the file documents 202.
        return json_response(200, self._paged(items, page, size))

    def get_feed_connection(self, request: ApiRequest) -> ApiResponse:
        organisation = self._organisation(request)
        if isinstance(organisation, ApiResponse):
            return organisation
        connection = organisation.feed_connections.get(request.path_vars["id"].lower())
        if connection is None or connection.status == "DELETED":
            return problem(404, "bank-feed-not-found", "Bank Feed Not Found", "The feed connection could not be found.")
        return json_response(200, connection.to_bankfeeds())

    def create_feed_connections(self, request: ApiRequest) -> ApiResponse:
        organisation = self._organisation(request)
        if isinstance(organisation, ApiResponse):
            return organisation
        try:
            items = self._items(request)
            for item in items:
                self._check_feed_fields(item)
        except FieldProblem as refused:
            return invalid_request(str(refused))
        now = self.clock.time()
        answers: list[dict[str, Any]] = []
        for item in items:
            error = self._feed_rule_problem(organisation, item)
            if error is not None:
                answers.append({"accountToken": item.get("accountToken"), "status": "REJECTED", "error": error})
                continue
            account = self._account_for(organisation, item, now)
            connection = FeedConnection(
                id=new_id(),
                account_token=str(item["accountToken"]),
                account_type=str(item["accountType"]),
                currency=item.get("currency"),
                account_id=account.account_id,
                account_number=item.get("accountNumber") or account.bank_account_number,
                account_name=item.get("accountName") or account.name,
                country=item.get("country"),
                created=utc(now),
                due=now + self.config.feed_connection_delay_s,
            )
            organisation.feed_connections[connection.id] = connection
            answers.append({"id": connection.id, "accountToken": connection.account_token, "status": "PENDING"})
        # A rejected item turns the whole answer into a 400 with a status per item (Xero-OpenAPI#380/#390).
        status = 400 if any(a["status"] == "REJECTED" for a in answers) else 202
        return json_response(status, {"items": answers})

    @staticmethod
    def _check_feed_fields(item: dict[str, Any]) -> None:
        _required("AccountToken", item.get("accountToken"))
        _too_long("AccountToken", item.get("accountToken"), 50)
        _required("AccountType", item.get("accountType"))
        if item.get("accountType") not in {"BANK", "CREDITCARD"}:
            raise FieldProblem("For the request field 'AccountType' the value must be BANK or CREDITCARD.")
        _required("Currency", item.get("currency"))
        if not item.get("accountId") and not item.get("accountNumber"):
            raise FieldProblem("For the request field 'AccountNumber' a value is required when AccountId is not given.")
        # String(40) for BANK, the last 4 digits for CREDITCARD [OAS FeedConnection.accountNumber].
        _too_long("AccountNumber", item.get("accountNumber"), 4 if item.get("accountType") == "CREDITCARD" else 40)
        _too_long("AccountName", item.get("accountName"), 30)

    def _live_connections(self, organisation: Organisation) -> list[FeedConnection]:
        return [c for c in organisation.feed_connections.values() if c.status in {"PENDING", "ACTIVE", "DELETING"}]

    def _matching_account(self, organisation: Organisation, item: dict[str, Any]) -> Account | None:
        if item.get("accountId"):
            return organisation.accounts.get(str(item["accountId"]).lower())
        wanted = _normalised_number(str(item["accountNumber"]))
        return next(
            (
                a
                for a in organisation.accounts.values()
                if a.type == "BANK"
                and a.status == "ACTIVE"
                and a.bank_account_number
                and _normalised_number(a.bank_account_number) == wanted
            ),
            None,
        )

    def _feed_rule_problem(self, organisation: Organisation, item: dict[str, Any]) -> dict[str, Any] | None:
        token = str(item["accountToken"])
        currency = str(item["currency"]).upper()
        if currency != organisation.base_currency and not organisation.multicurrency:
            return problem_dict(
                400,
                "invalid-organisation-multi-currency",
                "Invalid Organisation",
                f"The organisation does not use multiple currencies, so it cannot take a {currency} feed.",
            )
        if any(c.account_token == token for c in self._live_connections(organisation)):
            return problem_dict(
                409,
                "feed-already-connected-in-current-organisation",
                "Feed Connection Failed",
                ALREADY_CONNECTED_DETAIL,
            )
        for other in self.state.organisations.values():
            if other is not organisation and any(c.account_token == token for c in self._live_connections(other)):
                return problem_dict(
                    409,
                    "feed-already-connected-in-different-organisation",
                    "Feed Connection Failed",
                    "The AccountToken is already connected to a Xero Bank Account in a different Xero Organisation.",
                )
        account = self._matching_account(organisation, item)
        if item.get("accountId"):
            if account is None or account.type != "BANK" or account.status != "ACTIVE":
                return problem_dict(
                    400, "account-not-valid", "Account Not Valid", "The AccountId is not an active Xero bank account."
                )
            if account.currency_code and account.currency_code.upper() != currency:
                return problem_dict(
                    400,
                    "account-not-valid",
                    "Account Not Valid",
                    f"The bank account's currency {account.currency_code} is not the feed's currency {currency}.",
                )
        elif account is None and not item.get("accountName"):
            return problem_dict(
                400, "invalid-request", "Invalid Request", "For the request field 'AccountName' a value is required."
            )
        if account is not None and any(
            c.account_id == account.account_id for c in self._live_connections(organisation)
        ):
            return problem_dict(
                409,
                "feed-already-connected-in-current-organisation",
                "Feed Connection Failed",
                ALREADY_CONNECTED_DETAIL,
            )
        return None

    def _account_for(self, organisation: Organisation, item: dict[str, Any], now: float) -> Account:
        """The Xero bank account a feed lands in: given, matched by number, or created from the feed."""
        account = self._matching_account(organisation, item)
        if account is not None:
            return account
        currency = str(item["currency"]).upper()
        account = Account(
            account_id=new_id(),
            code=None,
            name=str(item["accountName"]),
            type="BANK",
            updated=utc(now),
            bank_account_number=str(item["accountNumber"]),
            bank_account_type=str(item["accountType"]),
            currency_code=currency,
        )
        organisation.accounts[account.account_id] = account
        if currency not in organisation.currencies and currency != organisation.base_currency:
            organisation.currencies.append(currency)
        return account

    def delete_requests(self, request: ApiRequest) -> ApiResponse:
        organisation = self._organisation(request)
        if isinstance(organisation, ApiResponse):
            return organisation
        try:
            items = self._items(request)
        except FieldProblem as refused:
            return invalid_request(str(refused))
        now = self.clock.time()
        answers: list[dict[str, Any]] = []
        for item in items:
            wanted = str(item.get("id") or "").lower()
            connection = organisation.feed_connections.get(wanted)
            if connection is not None and connection.status in {"PENDING", "ACTIVE", "REJECTED"}:
                connection.status = "DELETING"
                connection.due = now + self.config.feed_connection_delay_s
                answers.append({"id": connection.id, "status": "PENDING"})
                continue
            elsewhere = any(
                wanted in other.feed_connections
                for other in self.state.organisations.values()
                if other is not organisation
            )
            if elsewhere:
                error = problem_dict(
                    409,
                    "feed-connected-in-different-organisation",
                    "Feed connected in different organisation",
                    "The AccountToken is connected to another Xero Bank Account associated with this bank. This "
                    "Xero Bank Account belongs to a different Xero Organisation.",
                )
            else:
                error = problem_dict(
                    404,
                    "feed-not-found-or-already-deleted",
                    "Feed Not Found Or Already Deleted",
                    "The feed connection could not be found or has already been deleted.",
                )
            answers.append({"id": item.get("id"), "status": "REJECTED", "error": error})
        # The file's example answers 202 with PENDING and REJECTED items side by side.
        return json_response(202, {"items": answers})

    # ------------------------------------------------------------------------------------- statements
    def list_statements(self, request: ApiRequest) -> ApiResponse:
        organisation = self._organisation(request)
        if isinstance(organisation, ApiResponse):
            return organisation
        page, size = self._page(request, self.config.statements_default_page_size)
        items = [s.to_bankfeeds() for s in organisation.statements.values()]
        return json_response(200, self._paged(items, page, size))

    def get_statement(self, request: ApiRequest) -> ApiResponse:
        organisation = self._organisation(request)
        if isinstance(organisation, ApiResponse):
            return organisation
        statement = organisation.statements.get(request.path_vars["statementId"].lower())
        if statement is None:
            return problem(404, "statement-not-found", "Statement Not Found", "The statement could not be found.")
        return json_response(200, statement.to_bankfeeds())

    def create_statements(self, request: ApiRequest) -> ApiResponse:
        organisation = self._organisation(request)
        if isinstance(organisation, ApiResponse):
            return organisation
        limit = self.config.statements_max_body_bytes
        if len(request.body) > limit:
            return problem(
                413,
                "invalid-request",
                "Request too large",
                f"Request size of {len(request.body)} bytes exceeds the limit of {limit} bytes.",
            )
        try:
            checks = [self._check_statement_fields(item) for item in self._items(request)]
        except FieldProblem as refused:
            return invalid_request(str(refused))
        now = self.clock.time()
        today = day_offset(utc(now), organisation.utc_offset_hours)
        answers: list[dict[str, Any]] = []
        statuses: set[int] = set()
        for check in checks:
            error = self._statement_rule_problem(organisation, check, today)
            if error is not None:
                statuses.add(int(error["status"]))
                answers.append(
                    {
                        "id": new_id(),
                        "feedConnectionId": check.feed_connection_id,
                        "status": "REJECTED",
                        "errors": [error],
                    }
                )
                continue
            statement = Statement(
                id=new_id(),
                feed_connection_id=check.feed_connection_id,
                start_date=check.start,
                end_date=check.end,
                start_balance=check.start_balance,
                end_balance=check.end_balance,
                lines=check.lines,
                line_keys=check.line_keys,
                due=now + self.config.statement_delay_s,
            )
            organisation.statements[statement.id] = statement
            organisation.submitted_line_keys.setdefault(check.feed_connection_id, set()).update(check.line_keys)
            answers.append({"id": statement.id, "feedConnectionId": statement.feed_connection_id, "status": "PENDING"})
        if not statuses:
            return json_response(202, {"items": answers})
        status = statuses.pop() if len(statuses) == 1 else 400
        # Statement errors are problem documents [OAS: every error of POST /Statements is problem+json].
        rejection = json_response(status, {"items": answers})
        rejection.content_type = PROBLEM_JSON
        return rejection

    def _check_statement_fields(self, item: dict[str, Any]) -> _StatementCheck:
        _required("FeedConnectionId", item.get("feedConnectionId"))
        start = _iso_date("StartDate", item.get("startDate"))
        end = _iso_date("EndDate", item.get("endDate"))
        balances: list[Balance] = []
        for name in ("startBalance", "endBalance"):
            raw = item.get(name)
            label = name[0].upper() + name[1:]
            if not isinstance(raw, dict):
                raise FieldProblem(f"For the request field '{label}' a value is required.")
            balances.append(
                Balance(
                    _amount(f"{label}.Amount", raw.get("amount")),
                    _indicator(f"{label}.CreditDebitIndicator", raw.get("creditDebitIndicator")),
                )
            )
        raw_lines = item.get("statementLines") or []
        if not isinstance(raw_lines, list):
            raise FieldProblem("For the request field 'StatementLines' the value must be a list.")
        lines: list[dict[str, Any]] = []
        keys: list[str] = []
        for raw in raw_lines:
            if not isinstance(raw, dict):
                raise FieldProblem("For the request field 'StatementLines' every line must be an object.")
            posted = _iso_date("StatementLine.PostedDate", raw.get("postedDate"))
            amount = _amount("StatementLine.Amount", raw.get("amount"))
            indicator = _indicator("StatementLine.CreditDebitIndicator", raw.get("creditDebitIndicator"))
            for field_name, limit in (
                ("description", 2000),
                ("payeeName", 255),
                ("reference", 255),
                ("chequeNumber", 20),
                ("transactionType", 30),
            ):
                _too_long(f"StatementLine.{field_name[0].upper()}{field_name[1:]}", raw.get(field_name), limit)
            if not start <= posted <= end:
                raise FieldProblem(
                    "For the request field 'StatementLine.PostedDate' the date must be within the statement's "
                    "start and end dates."
                )
            line = {k: v for k, v in raw.items() if v is not None}
            line["amount"] = amount
            line["creditDebitIndicator"] = indicator
            lines.append(line)
            keys.append(self._line_key(line))
        return _StatementCheck(
            item, str(item["feedConnectionId"]).lower(), start, end, balances[0], balances[1], lines, keys
        )

    @staticmethod
    def _line_key(line: dict[str, Any]) -> str:
        # transactionId "is factored into duplicate detection" [OAS]; without one the line's content is.
        if line.get("transactionId"):
            return "id:" + str(line["transactionId"])
        content = [
            str(line.get(k, ""))
            for k in (
                "postedDate",
                "amount",
                "creditDebitIndicator",
                "description",
                "payeeName",
                "reference",
                "chequeNumber",
            )
        ]
        return "content:" + "|".join(content)

    def _statement_rule_problem(
        self, organisation: Organisation, check: _StatementCheck, today: date
    ) -> dict[str, Any] | None:
        connection = organisation.feed_connections.get(check.feed_connection_id)
        if connection is None or connection.status not in {"PENDING", "ACTIVE"}:
            if any(
                check.feed_connection_id in o.feed_connections
                for o in self.state.organisations.values()
                if o is not organisation
            ):
                return problem_dict(
                    403,
                    "invalid-feed-connection-for-organisation",
                    "Invalid Feed Connection For Organisation",
                    "The feed connection belongs to a different organisation.",
                )
            return problem_dict(
                403, "invalid-feed-connection", "Invalid Feed Connection", "The feed connection is not valid."
            )
        if check.end < check.start:
            return problem_dict(
                422,
                "invalid-start-and-end-date",
                "Invalid Start and End Date",
                "The end date must not be before the start date.",
            )
        if check.start < today - timedelta(days=self.config.statement_max_age_days):
            return problem_dict(
                422,
                "invalid-start-date",
                "Invalid Start Date",
                "The start date can be no older than one year from the current date.",
            )
        if check.end > today:
            return problem_dict(422, "invalid-end-date", "Invalid End Date", "The end date cannot be in the future.")
        movement = sum((Balance(l["amount"], l["creditDebitIndicator"]).signed for l in check.lines), Decimal(0))  # noqa: E741
        if check.start_balance.signed + movement != check.end_balance.signed:
            return problem_dict(
                422,
                "invalid-end-balance",
                "Invalid End Balance",
                "End balance does not match start balance +/- statement line amounts.",
            )
        seen = organisation.submitted_line_keys.get(check.feed_connection_id, set())
        if check.line_keys:
            duplicate = all(k in seen for k in check.line_keys)
        else:
            duplicate = any(
                s.feed_connection_id == check.feed_connection_id
                and s.status != "REJECTED"
                and (s.start_date, s.end_date, s.start_balance, s.end_balance)
                == (check.start, check.end, check.start_balance, check.end_balance)
                for s in organisation.statements.values()
            )
        if duplicate:
            return problem_dict(
                409,
                "duplicate-statement",
                "Duplicate Statement Received",
                "The received statement was marked as a duplicate.",
            )
        return None
