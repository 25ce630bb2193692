"""Accounting API reference data: Organisation, Accounts, TaxRates, TrackingCategories, Currencies and
Contacts, plus the pieces every Accounting endpoint shares (envelope, listing, batch answers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .config import EmulatorConfig
from .emulator_clock import EmulatorClock
from .formats import envelope_date, parse_http_datetime, utc
from .http import (
    ApiRequest,
    ApiResponse,
    BadRequestBody,
    Router,
    accounting_response,
    not_found,
    post_data_invalid,
    query_parse_error,
    validation_exception,
)
from .models import Contact, Organisation, new_id
from .state import EmulatorState
from .where import QueryError, compile_where, parse_order, sort_rows

SETTINGS_READ = frozenset({"accounting.settings", "accounting.settings.read"})
CONTACTS_READ = frozenset({"accounting.contacts", "accounting.contacts.read"})
CONTACTS_WRITE = frozenset({"accounting.contacts"})

ZERO_GUID = "00000000-0000-0000-0000-000000000000"

CURRENCY_NAMES = {
    "AUD": "Australian Dollar",
    "CNY": "Chinese Yuan",
    "EUR": "Euro",
    "GBP": "British Pound",
    "HKD": "Hong Kong Dollar",
    "JPY": "Japanese Yen",
    "NZD": "New Zealand Dollar",
    "SGD": "Singapore Dollar",
    "USD": "United States Dollar",
}


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"Contact": {"ContactID": x}}`` -> ``{"Contact.ContactID": x}``: the rows ``where`` filters."""
    rows: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.update(flatten(value, name + "."))
        elif not isinstance(value, list):
            rows[name] = value
    return rows


class ListingError(Exception):
    def __init__(self, response: ApiResponse) -> None:
        super().__init__("listing refused")
        self.response = response


def select(
    request: ApiRequest,
    items: Iterable[Any],
    row_of: Callable[[Any], dict[str, Any]],
    fields: frozenset[str],
    entity: str,
    modified_of: Callable[[Any], datetime] | None = None,
) -> list[Any]:
    """Apply ``If-Modified-Since``, ``where`` and ``order`` as Xero does; raises ListingError (400)."""
    chosen = list(items)
    since_header = request.headers.get("If-Modified-Since")
    if since_header and modified_of is not None:
        since = parse_http_datetime(since_header)
        if since is None:
            raise ListingError(query_parse_error(request, f"The If-Modified-Since value '{since_header}' is not valid"))
        # "Only records created or modified since this timestamp" [OAS]: strictly after it.
        chosen = [item for item in chosen if modified_of(item) > since]
    try:
        where = request.query_value("where")
        if where:
            predicate = compile_where(where, fields, entity)
            chosen = [item for item in chosen if predicate(row_of(item))]
        order = request.query_value("order")
        if order:
            chosen = sort_rows(chosen, parse_order(order, fields, entity), row_of)
    except QueryError as error:
        raise ListingError(query_parse_error(request, str(error))) from error
    return chosen


def envelope(request: ApiRequest, now: float, collection: str, items: list[Any], **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": request.app_name,
        "DateTimeUTC": envelope_date(utc(now)),
    }
    document.update(extra)
    document[collection] = items
    return document


@dataclass
class ElementOutcome:
    """One element of a PUT/POST batch: what the client sent and what became of it."""

    submitted: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Writes the element and returns its rendering; None when it failed validation.
    commit: Callable[[], dict[str, Any]] | None = None
    id_field: str = "BankTransactionID"


class UndoLog:
    """Undo steps for a batch, for the atomic variant of summarizeErrors (see ``batch_answer``)."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []

    def add(self, step: Callable[[], None]) -> None:
        self._steps.append(step)

    def roll_back(self) -> None:
        for step in reversed(self._steps):
            step()
        self._steps.clear()


def batch_answer(
    request: ApiRequest,
    now: float,
    collection: str,
    elements: list[dict[str, Any]],
    evaluate: Callable[[dict[str, Any]], ElementOutcome],
    config: EmulatorConfig,
    undo: UndoLog,
) -> ApiResponse:
    """Xero's two ways of answering a batch (docs/xero-facts.md#batches).

    Elements are validated and written one after the other, so a later element sees the earlier ones
    (two new contacts with one name clash). ``summarizeErrors=false``: 200, every element echoed with
    ``StatusAttributeString`` and its own ``ValidationErrors``. Otherwise a failing element turns the
    answer into a 400 ValidationException listing the failed elements, while the valid ones were created
    anyway and are not reported, as Xero was observed to do (``summarize_errors_creates_valid_elements``
    False models an atomic batch instead).
    """
    summarize = request.query_flag("summarizeErrors", True)
    rendered: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for element in elements:
        outcome = evaluate(element)
        if outcome.commit is None:
            echo = dict(outcome.submitted)
            echo.setdefault(outcome.id_field, ZERO_GUID)
            echo["StatusAttributeString"] = "ERROR"
            echo["ValidationErrors"] = [{"Message": m} for m in outcome.errors]
            if outcome.warnings:
                echo["Warnings"] = [{"Message": m} for m in outcome.warnings]
            rendered.append(echo)
            failed.append(echo)
            continue
        created = outcome.commit()
        created["StatusAttributeString"] = "WARNING" if outcome.warnings else "OK"
        if outcome.warnings:
            created["Warnings"] = [{"Message": m} for m in outcome.warnings]
        rendered.append(created)
    if summarize and failed:
        if not config.summarize_errors_creates_valid_elements:
            undo.roll_back()
        elements_out = [{k: v for k, v in echo.items() if k != "StatusAttributeString"} for echo in failed]
        return validation_exception(request, elements_out)
    return accounting_response(request, 200, envelope(request, now, collection, rendered), "Response")


def batch_elements(request: ApiRequest, collection: str) -> list[dict[str, Any]]:
    """The elements of ``{"<Collection>": [...]}``; a single object is accepted as Xero does."""
    document = request.json()
    if isinstance(document, dict) and isinstance(document.get(collection), list):
        elements = document[collection]
    elif isinstance(document, dict) and collection not in document:
        elements = [document]
    else:
        raise BadRequestBody(f"JSON for post data was invalid, expected a {collection} collection")
    if not all(isinstance(e, dict) for e in elements):
        raise BadRequestBody("JSON for post data was invalid, elements must be objects")
    return elements


class AccountingService:
    def __init__(self, state: EmulatorState, clock: EmulatorClock, config: EmulatorConfig) -> None:
        self.state = state
        self.clock = clock
        self.config = config

    def register(self, router: Router) -> None:
        base = "/api.xro/2.0"
        router.add("GET", f"{base}/Organisation", self.get_organisation, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/Organisations", self.get_organisation, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/Organisation/Actions", self.get_actions, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/Accounts", self.get_accounts, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/Accounts/{{AccountID}}", self.get_account, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/TaxRates", self.get_tax_rates, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/TaxRates/{{TaxType}}", self.get_tax_rate, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/TrackingCategories", self.get_tracking, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/Currencies", self.get_currencies, "accounting", SETTINGS_READ)
        router.add("GET", f"{base}/Contacts", self.get_contacts, "accounting", CONTACTS_READ)
        router.add("GET", f"{base}/Contacts/{{ContactID}}", self.get_contact, "accounting", CONTACTS_READ)
        router.add("PUT", f"{base}/Contacts", self.put_contacts, "accounting", CONTACTS_WRITE)
        router.add("POST", f"{base}/Contacts", self.post_contacts, "accounting", CONTACTS_WRITE)
        router.add("POST", f"{base}/Contacts/{{ContactID}}", self.post_contact, "accounting", CONTACTS_WRITE)

    def organisation_of(self, request: ApiRequest) -> Organisation:
        organisation = self.state.organisation(request.tenant_id or "")
        if organisation is None:  # the pipeline only lets connected tenants through
            raise LookupError(request.tenant_id)
        return organisation

    def _answer(self, request: ApiRequest, collection: str, items: list[Any], **extra: Any) -> ApiResponse:
        return accounting_response(
            request, 200, envelope(request, self.clock.time(), collection, items, **extra), "Response"
        )

    # ---------------------------------------------------------------------------------- organisation
    def get_organisation(self, request: ApiRequest) -> ApiResponse:
        return self._answer(request, "Organisations", [self.organisation_of(request).to_xero()])

    def get_actions(self, request: ApiRequest) -> ApiResponse:
        organisation = self.organisation_of(request)
        allowed = {
            "UseMulticurrency": organisation.multicurrency,
            "CreateApprovedInvoice": True,
            "CreateDraftInvoice": True,
            "CreateSpendMoney": True,
            "CreateReceiveMoney": True,
            "AttachFilesIntoInvoice": True,
        }
        actions = [{"Name": n, "Status": "ALLOWED" if ok else "NOT-ALLOWED"} for n, ok in allowed.items()]
        return self._answer(request, "Actions", actions)

    def get_currencies(self, request: ApiRequest) -> ApiResponse:
        organisation = self.organisation_of(request)
        rows = [{"Code": c, "Description": CURRENCY_NAMES.get(c, c)} for c in organisation.enabled_currencies()]
        try:
            rows = select(request, rows, lambda r: r, frozenset({"Code", "Description"}), "Currency")
        except ListingError as refused:
            return refused.response
        return self._answer(request, "Currencies", rows)

    # -------------------------------------------------------------------------------------- accounts
    ACCOUNT_FIELDS = frozenset(
        {
            "AccountID",
            "Code",
            "Name",
            "Type",
            "Status",
            "TaxType",
            "Class",
            "EnablePaymentsToAccount",
            "ShowInExpenseClaims",
            "BankAccountNumber",
            "BankAccountType",
            "CurrencyCode",
            "SystemAccount",
            "Description",
            "ReportingCode",
            "UpdatedDateUTC",
            "HasAttachments",
        }
    )

    def get_accounts(self, request: ApiRequest) -> ApiResponse:
        organisation = self.organisation_of(request)

        def row(account: Any) -> dict[str, Any]:
            values = account.to_xero()
            values["UpdatedDateUTC"] = account.updated
            return values

        try:
            accounts = select(
                request,
                sorted(organisation.accounts.values(), key=lambda a: (a.code is None, a.code or "", a.name)),
                row,
                self.ACCOUNT_FIELDS,
                "Account",
                modified_of=lambda a: a.updated,
            )
        except ListingError as refused:
            return refused.response
        return self._answer(request, "Accounts", [a.to_xero() for a in accounts])

    def get_account(self, request: ApiRequest) -> ApiResponse:
        account = self.organisation_of(request).accounts.get(request.path_vars["AccountID"].lower())
        if account is None:
            return not_found()
        return self._answer(request, "Accounts", [account.to_xero()])

    # ------------------------------------------------------------------------------------- tax rates
    TAX_FIELDS = frozenset(
        {
            "Name",
            "TaxType",
            "Status",
            "ReportTaxType",
            "CanApplyToAssets",
            "CanApplyToEquity",
            "CanApplyToExpenses",
            "CanApplyToLiabilities",
            "CanApplyToRevenue",
            "DisplayTaxRate",
            "EffectiveRate",
        }
    )

    def get_tax_rates(self, request: ApiRequest) -> ApiResponse:
        rates = list(self.organisation_of(request).tax_rates.values())
        try:
            rates = select(request, rates, lambda r: r.to_xero(), self.TAX_FIELDS, "TaxRate")
        except ListingError as refused:
            return refused.response
        return self._answer(request, "TaxRates", [r.to_xero() for r in rates])

    def get_tax_rate(self, request: ApiRequest) -> ApiResponse:
        wanted = request.path_vars["TaxType"].upper()
        rate = next((r for r in self.organisation_of(request).tax_rates.values() if r.tax_type.upper() == wanted), None)
        if rate is None:
            return not_found()
        return self._answer(request, "TaxRates", [rate.to_xero()])

    # -------------------------------------------------------------------------------------- tracking
    def get_tracking(self, request: ApiRequest) -> ApiResponse:
        # includeArchived: "Categories and options with a status of ARCHIVED will be included".
        include_archived = request.query_flag("includeArchived", False)
        allowed = {"ACTIVE", "ARCHIVED"} if include_archived else {"ACTIVE"}
        categories = [c for c in self.organisation_of(request).tracking_categories.values() if c.status in allowed]
        try:
            categories = select(
                request,
                categories,
                lambda c: {"TrackingCategoryID": c.category_id, "Name": c.name, "Status": c.status},
                frozenset({"TrackingCategoryID", "Name", "Status"}),
                "TrackingCategory",
            )
        except ListingError as refused:
            return refused.response
        return self._answer(request, "TrackingCategories", [c.to_xero(include_archived) for c in categories])

    # -------------------------------------------------------------------------------------- contacts
    CONTACT_FIELDS = frozenset(
        {
            "ContactID",
            "Name",
            "ContactStatus",
            "EmailAddress",
            "FirstName",
            "LastName",
            "ContactNumber",
            "AccountNumber",
            "IsSupplier",
            "IsCustomer",
            "UpdatedDateUTC",
            "TaxNumber",
        }
    )

    def get_contacts(self, request: ApiRequest) -> ApiResponse:
        organisation = self.organisation_of(request)
        contacts = list(organisation.contacts.values())
        if not request.query_flag("includeArchived", False):
            contacts = [c for c in contacts if c.status == "ACTIVE"]
        ids = request.query_value("IDs")
        if ids:
            wanted = {i.strip().lower() for i in ids.split(",") if i.strip()}
            contacts = [c for c in contacts if c.contact_id in wanted]
        term = request.query_value("searchTerm")
        if term:
            needle = term.lower()
            contacts = [
                c
                for c in contacts
                if any(
                    needle in str(v).lower()
                    for v in (c.name, c.extra.get("FirstName"), c.extra.get("LastName"), c.extra.get("EmailAddress"))
                    if v
                )
            ]

        def row(contact: Contact) -> dict[str, Any]:
            values = contact.to_xero()
            values["UpdatedDateUTC"] = contact.updated
            return values

        try:
            contacts = select(request, contacts, row, self.CONTACT_FIELDS, "Contact", modified_of=lambda c: c.updated)
        except ListingError as refused:
            return refused.response
        extra: dict[str, Any] = {}
        page_text = request.query_value("page")
        if page_text:
            page = max(1, int(page_text)) if page_text.isdigit() else 1
            size = 100
            total = len(contacts)
            contacts = contacts[(page - 1) * size : page * size]
            extra["pagination"] = {
                "page": page,
                "pageSize": size,
                "pageCount": (total + size - 1) // size,
                "itemCount": total,
            }
        return self._answer(request, "Contacts", [c.to_xero() for c in contacts], **extra)

    def get_contact(self, request: ApiRequest) -> ApiResponse:
        contact = self.organisation_of(request).contacts.get(request.path_vars["ContactID"].lower())
        if contact is None:
            return not_found()
        return self._answer(request, "Contacts", [contact.to_xero()])

    def put_contacts(self, request: ApiRequest) -> ApiResponse:
        return self._save_contacts(request, allow_update=False)

    def post_contacts(self, request: ApiRequest) -> ApiResponse:
        return self._save_contacts(request, allow_update=True)

    def post_contact(self, request: ApiRequest) -> ApiResponse:
        return self._save_contacts(request, allow_update=True, forced_id=request.path_vars["ContactID"].lower())

    def _save_contacts(self, request: ApiRequest, allow_update: bool, forced_id: str | None = None) -> ApiResponse:
        try:
            elements = batch_elements(request, "Contacts")
        except BadRequestBody as error:
            return post_data_invalid(request, str(error))
        organisation = self.organisation_of(request)
        undo = UndoLog()
        return batch_answer(
            request,
            self.clock.time(),
            "Contacts",
            elements,
            lambda element: self._contact_outcome(organisation, element, allow_update, forced_id, undo),
            self.config,
            undo,
        )

    def _contact_outcome(
        self,
        organisation: Organisation,
        element: dict[str, Any],
        allow_update: bool,
        forced_id: str | None,
        undo: UndoLog,
    ) -> ElementOutcome:
        outcome = ElementOutcome(element, id_field="ContactID")
        contact_id = forced_id or (str(element["ContactID"]).lower() if element.get("ContactID") else None)
        existing = organisation.contacts.get(contact_id) if contact_id else None
        if contact_id and existing is None:
            outcome.errors.append("The contact with the specified ContactID could not be found.")
            return outcome
        if existing is not None and not allow_update:
            outcome.errors.append("A contact with this ContactID already exists; use POST to update it.")
            return outcome
        name = element.get("Name", existing.name if existing else None)
        if not isinstance(name, str) or not name.strip():
            outcome.errors.append("The contact name must be specified.")
            return outcome
        if name != name.strip() or "  " in name:
            # Xero rejects leading/trailing and repeated spaces in contact names (contacts documentation).
            outcome.errors.append("The contact name must not have leading, trailing or repeating spaces.")
            return outcome
        clash = next(
            (
                c
                for c in organisation.contacts.values()
                if c.status == "ACTIVE" and c.name.lower() == name.lower() and c is not existing
            ),
            None,
        )
        if clash is not None:
            outcome.errors.append(
                f"The contact name {name} is already assigned to another contact. The contact name must be "
                "unique across all active contacts."
            )
            return outcome
        extra = {k: v for k, v in element.items() if k not in {"ContactID", "Name", "ContactStatus"}}

        def commit() -> dict[str, Any]:
            now = utc(self.clock.time())
            if existing is not None:
                before = (existing.name, dict(existing.extra), existing.status, existing.updated)

                def restore() -> None:
                    existing.name, existing.extra, existing.status, existing.updated = before

                undo.add(restore)
                existing.name = name
                existing.extra.update(extra)
                existing.status = str(element.get("ContactStatus", existing.status)).upper()
                existing.updated = now
                return existing.to_xero()
            contact = Contact(new_id(), name, now, str(element.get("ContactStatus", "ACTIVE")).upper(), extra)
            organisation.contacts[contact.contact_id] = contact

            def forget() -> None:
                organisation.contacts.pop(contact.contact_id, None)

            undo.add(forget)
            return contact.to_xero()

        outcome.commit = commit
        return outcome
