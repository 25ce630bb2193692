"""Spend and Receive Money: ``/BankTransactions``, validated with Xero's messages.

Messages and their sources (README has the full table):

* "A Contact must be specified for this type of transaction" / "One or more line items must be
  specified" - Xero's XML answers quoted in pyxero's tests.
* "Account code '200' is not a valid code for this document." - Xero-NetStandard#364.
* "Account code 'X' has been archived, or has been deleted. Each line item must reference a valid
  account." - public integrations quoting Xero.
* "The TaxType code X does not exist or cannot be used for this type of transaction." and
  "The TaxType code 'X' cannot be used with account code 'Y'." - Xero-Java#336.
* "Account must be valid." - what Xero says when a payment's account is not a bank account (Chargebee).
* "Organisation is not subscribed to currency EUR" - Xero's documentation example.
* "The document date cannot be before the period lock date, currently set at 31-Jul-2013" /
  "... end of year lock date ..." - xeroizer#92 (Xero XML).
* "This Bank Transaction cannot be edited as it has been reconciled with a Bank Statement." -
  docs/xero-facts.md#spend-money.
* "The quantity value '-1.0000' is invalid. Quantity must not be less than zero." - WorkGuru's list.
Messages marked UNCONFIRMED in the README are the emulator's own wording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from .accounting import (
    AccountingService,
    ElementOutcome,
    ListingError,
    UndoLog,
    batch_answer,
    batch_elements,
    envelope,
    flatten,
    select,
)
from .formats import (
    FOUR_PLACES,
    TWO_PLACES,
    date_string,
    day_offset,
    money,
    ms_date,
    parse_xero_date,
    to_decimal,
    utc,
)
from .http import (
    ApiRequest,
    ApiResponse,
    BadRequestBody,
    Router,
    accounting_response,
    not_found,
    post_data_invalid,
)
from .models import Account, BankTransaction, Contact, LineItem, Organisation, TaxRate, new_id

TRANSACTIONS_READ = frozenset(
    {
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.banktransactions",
        "accounting.banktransactions.read",
    }
)
TRANSACTIONS_WRITE = frozenset({"accounting.transactions", "accounting.banktransactions"})
SUPPORTED_TYPES = frozenset({"SPEND", "RECEIVE"})
MAX_TRACKING_PER_LINE = 2
RECONCILED_MESSAGE = "This Bank Transaction cannot be edited as it has been reconciled with a Bank Statement."

QUERY_FIELDS = frozenset(
    {
        "BankTransactionID",
        "Type",
        "Status",
        "Date",
        "Reference",
        "Url",
        "IsReconciled",
        "HasAttachments",
        "CurrencyCode",
        "CurrencyRate",
        "LineAmountTypes",
        "SubTotal",
        "TotalTax",
        "Total",
        "UpdatedDateUTC",
        "Contact.ContactID",
        "Contact.Name",
        "BankAccount.AccountID",
        "BankAccount.Code",
        "BankAccount.Name",
    }
)


@dataclass
class _Draft:
    """A validated element, ready to be written."""

    type: str
    contact: Contact | None
    new_contact_name: str | None
    bank_account: Account
    day: date
    currency_code: str
    currency_rate: Decimal | None
    line_amount_types: str
    line_items: list[LineItem]
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal
    status: str
    reference: str | None
    url: str | None
    is_reconciled: bool


def _lock_message(organisation: Organisation, day: date) -> str | None:
    # Lock dates stop changes "on and before" the date (Xero's lock settings).
    if organisation.end_of_year_lock_date is not None and day <= organisation.end_of_year_lock_date:
        shown = organisation.end_of_year_lock_date.strftime("%d-%b-%Y")
        return f"The document date cannot be before the end of year lock date, currently set at {shown}"
    if organisation.period_lock_date is not None and day <= organisation.period_lock_date:
        shown = organisation.period_lock_date.strftime("%d-%b-%Y")
        return f"The document date cannot be before the period lock date, currently set at {shown}"
    return None


def _lookup(mapping: dict[str, Any], key: str, *names: str) -> Any:
    """A field by Xero's name, ignoring case (Xero's JSON reader does)."""
    for name in (key, *names):
        for candidate, value in mapping.items():
            if candidate.lower() == name.lower():
                return value
    return None


class BankTransactionsService:
    def __init__(self, accounting: AccountingService) -> None:
        self.accounting = accounting
        self.clock = accounting.clock
        self.config = accounting.config

    def register(self, router: Router) -> None:
        base = "/api.xro/2.0/BankTransactions"
        router.add("GET", base, self.list_transactions, "accounting", TRANSACTIONS_READ)
        router.add("PUT", base, self.put, "accounting", TRANSACTIONS_WRITE)
        router.add("POST", base, self.post, "accounting", TRANSACTIONS_WRITE)
        router.add("GET", base + "/{BankTransactionID}", self.get_one, "accounting", TRANSACTIONS_READ)
        router.add("POST", base + "/{BankTransactionID}", self.post_one, "accounting", TRANSACTIONS_WRITE)

    # ------------------------------------------------------------------------------------- rendering
    def render(
        self, organisation: Organisation, transaction: BankTransaction, unitdp: int = 2, attachments: bool = False
    ) -> dict[str, Any]:
        account = organisation.accounts[transaction.bank_account_id]
        unit_places = FOUR_PLACES if unitdp == 4 else TWO_PLACES
        rendered: dict[str, Any] = {
            "BankTransactionID": transaction.bank_transaction_id,
            "BankAccount": account.reference(),
            "Type": transaction.type,
            "IsReconciled": transaction.is_reconciled,
            "HasAttachments": bool(transaction.attachments),
        }
        if transaction.reference is not None:
            rendered["Reference"] = transaction.reference
        if transaction.url is not None:
            rendered["Url"] = transaction.url
        contact = organisation.contacts.get(transaction.contact_id or "")
        if contact is not None:
            rendered["Contact"] = contact.reference()
        rendered.update(
            {
                "DateString": date_string(transaction.date),
                "Date": transaction.date_rendered,
                "Status": transaction.status,
                "LineAmountTypes": transaction.line_amount_types,
                "LineItems": [
                    {
                        "Description": line.description,
                        "UnitAmount": money(line.unit_amount, unit_places),
                        "TaxType": line.tax_type,
                        "TaxAmount": line.tax_amount,
                        "LineAmount": line.line_amount,
                        "AccountCode": line.account_code,
                        "AccountID": line.account_id,
                        "Tracking": [dict(t) for t in line.tracking],
                        "Quantity": money(line.quantity, FOUR_PLACES),
                        "LineItemID": line.line_item_id,
                        "ValidationErrors": [],
                    }
                    for line in transaction.line_items
                ],
                "SubTotal": transaction.sub_total,
                "TotalTax": transaction.total_tax,
                "Total": transaction.total,
                "UpdatedDateUTC": ms_date(transaction.updated),
                "CurrencyCode": transaction.currency_code,
            }
        )
        if transaction.currency_rate is not None:
            rendered["CurrencyRate"] = transaction.currency_rate
        if attachments:
            url = f"https://api.xero.com/api.xro/2.0/BankTransactions/{transaction.bank_transaction_id}"
            rendered["Attachments"] = [a.to_xero(url) for a in transaction.attachments]
        return rendered

    def _query_row(self, organisation: Organisation, transaction: BankTransaction) -> dict[str, Any]:
        row = flatten(self.render(organisation, transaction))
        row["Date"] = transaction.date
        row["UpdatedDateUTC"] = transaction.updated
        return row

    @staticmethod
    def _unitdp(request: ApiRequest) -> int:
        return 4 if request.query_value("unitdp") == "4" else 2

    # ------------------------------------------------------------------------------------------ reads
    def list_transactions(self, request: ApiRequest) -> ApiResponse:
        organisation = self.accounting.organisation_of(request)
        try:
            chosen = select(
                request,
                list(organisation.bank_transactions.values()),
                lambda t: self._query_row(organisation, t),
                QUERY_FIELDS,
                "BankTransaction",
                modified_of=lambda t: t.updated,
            )
        except ListingError as refused:
            return refused.response
        # Paged: without page= the first page comes back (Xero pages BankTransactions; 100 by default,
        # pageSize up to 1000 since July 2024 - Xero-OpenAPI#595/#597).
        page_text = request.query_value("page") or "1"
        size_text = request.query_value("pageSize")
        page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
        size = self.config.bank_transactions_default_page_size
        if size_text and size_text.isdigit() and int(size_text) > 0:
            size = min(int(size_text), self.config.bank_transactions_max_page_size)
        total = len(chosen)
        window = chosen[(page - 1) * size : page * size]
        unitdp = self._unitdp(request)
        pagination = {"page": page, "pageSize": size, "pageCount": (total + size - 1) // size, "itemCount": total}
        document = envelope(
            request,
            self.clock.time(),
            "BankTransactions",
            [self.render(organisation, t, unitdp) for t in window],
            pagination=pagination,
        )
        return accounting_response(request, 200, document, "Response")

    def get_one(self, request: ApiRequest) -> ApiResponse:
        organisation = self.accounting.organisation_of(request)
        transaction = organisation.bank_transactions.get(request.path_vars["BankTransactionID"].lower())
        if transaction is None:
            return not_found()
        rendered = self.render(organisation, transaction, self._unitdp(request), attachments=True)
        return accounting_response(
            request, 200, envelope(request, self.clock.time(), "BankTransactions", [rendered]), "Response"
        )

    # ----------------------------------------------------------------------------------------- writes
    def put(self, request: ApiRequest) -> ApiResponse:
        return self._save(request, allow_update=False)

    def post(self, request: ApiRequest) -> ApiResponse:
        return self._save(request, allow_update=True)

    def post_one(self, request: ApiRequest) -> ApiResponse:
        return self._save(request, allow_update=True, forced_id=request.path_vars["BankTransactionID"].lower())

    def _save(self, request: ApiRequest, allow_update: bool, forced_id: str | None = None) -> ApiResponse:
        try:
            elements = batch_elements(request, "BankTransactions")
        except BadRequestBody as error:
            return post_data_invalid(request, str(error))
        organisation = self.accounting.organisation_of(request)
        unitdp = self._unitdp(request)
        undo = UndoLog()
        return batch_answer(
            request,
            self.clock.time(),
            "BankTransactions",
            elements,
            lambda element: self._outcome(organisation, element, allow_update, forced_id, unitdp, undo),
            self.config,
            undo,
        )

    def _outcome(
        self,
        organisation: Organisation,
        element: dict[str, Any],
        allow_update: bool,
        forced_id: str | None,
        unitdp: int,
        undo: UndoLog,
    ) -> ElementOutcome:
        outcome = ElementOutcome(element)
        given_id = _lookup(element, "BankTransactionID")
        transaction_id = forced_id or (str(given_id).lower() if given_id else None)
        existing = organisation.bank_transactions.get(transaction_id) if transaction_id else None
        if transaction_id and existing is None:
            outcome.errors.append("The BankTransaction with the specified BankTransactionID could not be found.")
            return outcome
        if existing is not None:
            if not allow_update:
                outcome.errors.append("A BankTransactionID cannot be given when creating (PUT); use POST to update.")
                return outcome
            if existing.is_reconciled:
                outcome.errors.append(RECONCILED_MESSAGE)
                return outcome
            if existing.status == "DELETED":
                outcome.errors.append("This Bank Transaction cannot be edited as it has been deleted.")
                return outcome
            locked = _lock_message(organisation, existing.date)
            if locked:
                outcome.errors.append(locked)
                return outcome
        draft, errors = self._draft(organisation, element, existing, unitdp)
        if draft is None:
            outcome.errors.extend(errors)
            return outcome
        outcome.commit = lambda: self._commit(organisation, draft, existing, undo, unitdp)
        return outcome

    # ------------------------------------------------------------------------------------ validation
    def _draft(
        self, organisation: Organisation, element: dict[str, Any], existing: BankTransaction | None, unitdp: int
    ) -> tuple[_Draft | None, list[str]]:
        """The element merged over the existing transaction and checked; (None, messages) when refused."""
        errors: list[str] = []

        def pick(name: str, fallback: Any) -> Any:
            value = _lookup(element, name)
            return fallback if value is None else value

        # Type ---------------------------------------------------------------------------------------
        transaction_type = str(pick("Type", existing.type if existing else "")).upper()
        if not transaction_type:
            errors.append("The Type field is mandatory.")
        elif transaction_type not in SUPPORTED_TYPES:
            errors.append(f"Bank transactions of Type {transaction_type} cannot be created through this endpoint.")

        status = str(pick("Status", existing.status if existing else "AUTHORISED")).upper()
        if existing is None and status != "AUTHORISED":
            errors.append("Bank Transaction not of valid status for creation")
        elif existing is not None and status not in {"AUTHORISED", "DELETED"}:
            errors.append("Bank Transaction not of valid status for modification")

        # Contact --------------------------------------------------------------------------------------
        contact, new_contact_name = self._contact(organisation, element, existing, errors)

        # Bank account ---------------------------------------------------------------------------------
        bank_account = self._bank_account(organisation, element, existing, errors)

        # Date and lock dates ------------------------------------------------------------------------------
        raw_date = _lookup(element, "Date")
        day: date | None
        if raw_date is None:
            # Xero dates an undated transaction today, in the organisation's time zone.
            day = existing.date if existing else day_offset(utc(self.clock.time()), organisation.utc_offset_hours)
        else:
            day = parse_xero_date(raw_date)
            if day is None:
                errors.append(f"The date '{raw_date}' is not a valid date.")
        if day is not None:
            locked = _lock_message(organisation, day)
            if locked:
                errors.append(locked)

        # Currency -----------------------------------------------------------------------------------------
        default_currency = (bank_account.currency_code if bank_account else None) or organisation.base_currency
        currency = str(pick("CurrencyCode", existing.currency_code if existing else default_currency)).upper()
        if currency not in organisation.enabled_currencies():
            errors.append(f"Organisation is not subscribed to currency {currency}")
        elif bank_account is not None and currency != default_currency:
            errors.append(
                f"The currency {currency} does not match the currency {default_currency} of the bank account."
            )
        rate_value = _lookup(element, "CurrencyRate")
        currency_rate = (
            to_decimal(rate_value) if rate_value is not None else (existing.currency_rate if existing else None)
        )
        if currency == organisation.base_currency:
            currency_rate = None

        # Lines -------------------------------------------------------------------------------------------
        line_amount_types = str(pick("LineAmountTypes", existing.line_amount_types if existing else "Exclusive"))
        canonical_types = {"exclusive": "Exclusive", "inclusive": "Inclusive", "notax": "NoTax"}
        line_amount_types = canonical_types.get(line_amount_types.lower(), line_amount_types)
        if line_amount_types not in canonical_types.values():
            errors.append(f"LineAmountTypes {line_amount_types} is not valid.")
        raw_lines = _lookup(element, "LineItems")
        lines: list[LineItem] = []
        if raw_lines is None and existing is not None:
            lines = [replace(line) for line in existing.line_items]
        elif not isinstance(raw_lines, list) or not raw_lines:
            errors.append("One or more line items must be specified")
        else:
            for raw in raw_lines:
                line = self._line(organisation, raw if isinstance(raw, dict) else {}, line_amount_types, unitdp, errors)
                if line is not None:
                    lines.append(line)
        sub_total = sum((line.line_amount for line in lines), Decimal(0))
        total_tax = sum((line.tax_amount for line in lines), Decimal(0))
        if line_amount_types == "Inclusive":
            sub_total -= total_tax
        total = sub_total + total_tax

        # Free text ------------------------------------------------------------------------------------
        reference = pick("Reference", existing.reference if existing else None)
        url = pick("Url", existing.url if existing else None)
        if url is not None:
            parts = urlsplit(str(url))
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                errors.append("The Url must be an absolute http or https URL.")
        is_reconciled = bool(pick("IsReconciled", existing.is_reconciled if existing else False))

        if errors or bank_account is None or day is None:
            return None, errors
        draft = _Draft(
            transaction_type,
            contact,
            new_contact_name,
            bank_account,
            day,
            currency,
            currency_rate,
            line_amount_types,
            lines,
            money(sub_total),
            money(total_tax),
            money(total),
            status,
            None if reference is None else str(reference),
            None if url is None else str(url),
            is_reconciled,
        )
        return draft, []

    def _contact(
        self, organisation: Organisation, element: dict[str, Any], existing: BankTransaction | None, errors: list[str]
    ) -> tuple[Contact | None, str | None]:
        raw = _lookup(element, "Contact")
        if raw is None and existing is not None and existing.contact_id:
            return organisation.contacts.get(existing.contact_id), None
        if not isinstance(raw, dict) or not (_lookup(raw, "ContactID") or _lookup(raw, "Name")):
            errors.append("A Contact must be specified for this type of transaction")
            return None, None
        contact_id = _lookup(raw, "ContactID")
        if contact_id:
            contact = organisation.contacts.get(str(contact_id).lower())
            if contact is None:
                errors.append("The contact with the specified ContactID could not be found.")
                return None, None
        else:
            name = str(_lookup(raw, "Name")).strip()
            contact = next((c for c in organisation.contacts.values() if c.name.lower() == name.lower()), None)
            if contact is None:
                # An unknown name creates a contact, as Xero does (xero-prompt-library: duplicate contacts).
                return None, name
        if contact.status != "ACTIVE":
            errors.append("The contact is archived and cannot be used.")
        return contact, None

    def _bank_account(
        self, organisation: Organisation, element: dict[str, Any], existing: BankTransaction | None, errors: list[str]
    ) -> Account | None:
        raw = _lookup(element, "BankAccount")
        if raw is None and existing is not None:
            return organisation.accounts[existing.bank_account_id]
        account: Account | None = None
        if isinstance(raw, dict):
            account_id, code = _lookup(raw, "AccountID"), _lookup(raw, "Code")
            if account_id:
                account = organisation.accounts.get(str(account_id).lower())
            elif code:
                account = organisation.account_by_code(str(code))
        # Spend/Receive Money move money through a bank account: anything else, archived or unknown is
        # refused the way Xero refuses a payment from a non-bank account.
        if account is None or account.type != "BANK" or account.status != "ACTIVE":
            errors.append("Account must be valid.")
            return None
        return account

    def _line(
        self,
        organisation: Organisation,
        raw: dict[str, Any],
        line_amount_types: str,
        unitdp: int,
        errors: list[str],
    ) -> LineItem | None:
        count_before = len(errors)
        description = _lookup(raw, "Description")
        if not isinstance(description, str) or not description.strip():
            errors.append("The description field is mandatory for each line item.")

        quantity = to_decimal(_lookup(raw, "Quantity"))
        unit_amount = to_decimal(_lookup(raw, "UnitAmount"))
        given_line_amount = to_decimal(_lookup(raw, "LineAmount"))
        if quantity is None:
            quantity = Decimal(1)
        if quantity < 0:
            errors.append(
                f"The quantity value '{money(quantity, FOUR_PLACES)}' is invalid. Quantity must not be less than zero."
            )
        if unit_amount is None:
            unit_amount = given_line_amount / quantity if given_line_amount is not None and quantity else Decimal(0)
        unit_amount = money(unit_amount, FOUR_PLACES if unitdp == 4 else TWO_PLACES)
        line_amount = money(quantity * unit_amount)
        if given_line_amount is not None and abs(money(given_line_amount) - line_amount) >= Decimal("0.01"):
            errors.append(
                f"The line amount {money(given_line_amount)} does not equal the quantity multiplied by the unit "
                f"amount ({line_amount})."
            )

        account = self._line_account(organisation, raw, errors)
        tax_rate = self._tax_rate(organisation, raw, account, errors)
        tracking = self._tracking(organisation, raw, errors)

        tax_amount = Decimal(0)
        if tax_rate is not None and line_amount_types != "NoTax":
            rate = tax_rate.rate
            if line_amount_types == "Inclusive":
                tax_amount = money(line_amount * rate / (Decimal(100) + rate))
            else:
                tax_amount = money(line_amount * rate / Decimal(100))
            override = to_decimal(_lookup(raw, "TaxAmount"))
            if override is not None:
                # Xero lets a client correct the calculated tax by a rounding difference.
                if abs(override) > abs(line_amount):
                    errors.append("The tax amount cannot be greater than the line amount!")
                tax_amount = money(override)
        if len(errors) != count_before or account is None:
            return None
        line_item_id = _lookup(raw, "LineItemID")
        return LineItem(
            line_item_id=str(line_item_id).lower() if line_item_id else new_id(),
            description=str(description),
            quantity=quantity,
            unit_amount=unit_amount,
            account_code=account.code,
            account_id=account.account_id,
            tax_type=tax_rate.tax_type if tax_rate is not None else "NONE",
            tax_amount=tax_amount,
            line_amount=line_amount,
            tracking=tracking,
        )

    def _line_account(self, organisation: Organisation, raw: dict[str, Any], errors: list[str]) -> Account | None:
        code, account_id = _lookup(raw, "AccountCode"), _lookup(raw, "AccountID")
        if not code and not account_id:
            errors.append("Account code must be specified")
            return None
        account = (
            organisation.account_by_code(str(code)) if code else organisation.accounts.get(str(account_id).lower())
        )
        shown = code if code else (account.code if account else account_id)
        if account is None:
            errors.append(f"Account code '{shown}' is not a valid code for this document.")
            return None
        if account.status != "ACTIVE":
            errors.append(
                f"Account code '{shown}' has been archived, or has been deleted. Each line item must reference a "
                "valid account."
            )
            return None
        if account.type == "BANK" or account.system_account is not None:
            errors.append(f"Account code '{shown}' is not a valid code for this document.")
            return None
        if organisation.require_payments_enabled_line_accounts and not account.enable_payments_to_account:
            errors.append(f"Account code '{shown}' is not a valid code for this document.")
            return None
        return account

    def _tax_rate(
        self, organisation: Organisation, raw: dict[str, Any], account: Account | None, errors: list[str]
    ) -> TaxRate | None:
        given = _lookup(raw, "TaxType")
        code = str(given) if given else (account.tax_type if account else "NONE")
        rate = next((r for r in organisation.tax_rates.values() if r.tax_type.upper() == code.upper()), None)
        if rate is None or rate.status != "ACTIVE":
            errors.append(f"The TaxType code {code} does not exist or cannot be used for this type of transaction.")
            return None
        if account is not None and not rate.can_apply_to_class(account.account_class):
            errors.append(f"The TaxType code '{code}' cannot be used with account code '{account.code}'.")
            return None
        return rate

    def _tracking(self, organisation: Organisation, raw: dict[str, Any], errors: list[str]) -> list[dict[str, str]]:
        entries = _lookup(raw, "Tracking") or []
        if not isinstance(entries, list):
            errors.append("Tracking must be a list.")
            return []
        if len(entries) > MAX_TRACKING_PER_LINE:
            errors.append("A line item can only have a maximum of 2 tracking categories.")
            return []
        resolved: list[dict[str, str]] = []
        for entry in entries:
            entry = entry if isinstance(entry, dict) else {}
            category_id, category_name = _lookup(entry, "TrackingCategoryID"), _lookup(entry, "Name")
            option_id, option_name = _lookup(entry, "TrackingOptionID"), _lookup(entry, "Option")
            category = next(
                (
                    c
                    for c in organisation.tracking_categories.values()
                    if (category_id and c.category_id == str(category_id).lower())
                    or (not category_id and category_name and c.name.lower() == str(category_name).lower())
                ),
                None,
            )
            label = category_name or category_id
            if category is None or category.status != "ACTIVE":
                errors.append(f"The tracking category '{label}' does not exist or is not active.")
                continue
            option = next(
                (
                    o
                    for o in category.options
                    if (option_id and o.option_id == str(option_id).lower())
                    or (not option_id and option_name and o.name.lower() == str(option_name).lower())
                ),
                None,
            )
            option_label = option_name or option_id
            if option is None:
                errors.append(
                    f"The tracking option '{option_label}' does not exist in tracking category '{category.name}'."
                )
                continue
            if option.status != "ACTIVE":
                errors.append(f"The tracking option '{option.name}' has been archived and cannot be used.")
                continue
            if any(r["TrackingCategoryID"] == category.category_id for r in resolved):
                errors.append(f"The tracking category '{category.name}' can only be used once per line item.")
                continue
            resolved.append(
                {
                    "Name": category.name,
                    "Option": option.name,
                    "TrackingCategoryID": category.category_id,
                    "TrackingOptionID": option.option_id,
                }
            )
        return resolved

    # -------------------------------------------------------------------------------------------- write
    def _commit(
        self, organisation: Organisation, draft: _Draft, existing: BankTransaction | None, undo: UndoLog, unitdp: int
    ) -> dict[str, Any]:
        now = utc(self.clock.time())
        contact = draft.contact
        if contact is None and draft.new_contact_name is not None:
            contact = Contact(new_id(), draft.new_contact_name, now)
            organisation.contacts[contact.contact_id] = contact
            undo.add(_remover(organisation.contacts, contact.contact_id))
        if existing is None:
            transaction = BankTransaction(
                bank_transaction_id=new_id(),
                type=draft.type,
                contact_id=contact.contact_id if contact else None,
                bank_account_id=draft.bank_account.account_id,
                date=draft.day,
                line_amount_types=draft.line_amount_types,
                line_items=draft.line_items,
                sub_total=draft.sub_total,
                total_tax=draft.total_tax,
                total=draft.total,
                currency_code=draft.currency_code,
                updated=now,
                created=now,
                status=draft.status,
                reference=draft.reference,
                url=draft.url,
                currency_rate=draft.currency_rate,
                is_reconciled=draft.is_reconciled,
            )
            organisation.bank_transactions[transaction.bank_transaction_id] = transaction
            undo.add(_remover(organisation.bank_transactions, transaction.bank_transaction_id))
        else:
            transaction = existing
            snapshot = replace(existing, line_items=list(existing.line_items), attachments=list(existing.attachments))

            def restore() -> None:
                organisation.bank_transactions[snapshot.bank_transaction_id] = snapshot

            undo.add(restore)
            transaction.type = draft.type
            transaction.contact_id = contact.contact_id if contact else None
            transaction.bank_account_id = draft.bank_account.account_id
            transaction.date = draft.day
            transaction.line_amount_types = draft.line_amount_types
            transaction.line_items = draft.line_items
            transaction.sub_total, transaction.total_tax, transaction.total = (
                draft.sub_total,
                draft.total_tax,
                draft.total,
            )
            transaction.currency_code = draft.currency_code
            transaction.currency_rate = draft.currency_rate
            transaction.status = draft.status
            transaction.reference = draft.reference
            transaction.url = draft.url
            transaction.is_reconciled = draft.is_reconciled
            transaction.updated = now
        return self.render(organisation, transaction, unitdp)


def _remover(mapping: dict[str, Any], key: str) -> Callable[[], None]:
    def remove() -> None:
        mapping.pop(key, None)

    return remove
