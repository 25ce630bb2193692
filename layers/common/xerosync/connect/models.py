"""The connect API's request and response shapes (they also document the API in docs/openapi.json)."""

from datetime import date
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from xerosync.bodies import StrictBody, XeroId
from xerosync.model import Model
from xerosync.text import NO_FORBIDDEN_CHARACTERS, NOT_BLANK_PATTERN


class ConnectStarted(Model):
    authorize_url: str = Field(description="Send the user's browser here; Xero redirects back with code and state.")
    state: str
    expires_at: str


class CompleteConnect(StrictBody):
    code: str = Field(min_length=1, max_length=2048, pattern=r"^[\x21-\x7e]+$",
                      description="The `code` Xero added to the redirect (visible ASCII, no spaces).")
    state: str = Field(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_-]+$",
                       description="The `state` Xero added to the redirect, as `POST /v1/xero/connect` issued it.")


class ChooseOrganisation(StrictBody):
    tenant_id: XeroId = Field(description="One of the organisations offered (Xero's tenantId, a UUID).")


class OrganisationChoice(Model):
    tenant_id: str
    name: str


class ConnectionView(Model):
    status: str = Field(description="ACTIVE, NEEDS_RECONNECT or DISCONNECTED")
    status_reason: str | None = None
    action: str | None = Field(None, description="What the user can do about the status, when anything.")
    organisation_name: str
    tenant_id: str
    base_currency: str
    country_code: str | None = None
    edition: str | None = None
    connected_by: str
    connected_at: str
    last_sync_at: str | None = Field(None, description="When any linked account last synced to Xero.")
    cleanup_pending: bool = False


class ConnectOutcome(Model):
    status: Literal["CONNECTED", "CHOOSE_ORGANISATION"]
    connection: ConnectionView | None = None
    organisations: list[OrganisationChoice] = Field(default_factory=list)


class LinkView(Model):
    status: str = Field(description="PENDING, ACTIVE, REJECTED, UNLINKED or DISCONNECTED")
    status_reason: str | None = None
    action: str | None = None
    xero_account_id: str | None = None
    xero_account_name: str | None = None
    feed_connection_id: str | None = None
    linked_by: str | None = None
    linked_at: str | None = None
    backfill_from: date | None = None
    last_sync_at: str | None = None
    last_sync_error: str | None = None


class BankAccountView(Model):
    account_id: str
    name: str
    account_number: str
    currency: str
    link: LinkView | None = None


class ConnectionStatusView(Model):
    connection: ConnectionView | None
    accounts: list[BankAccountView]
    can_manage: bool = Field(description="Whether the caller may change the connection (Admin and Finance).")


class XeroBankAccountView(Model):
    account_id: str
    name: str
    code: str | None = None
    bank_account_number: str | None = None
    currency_code: str
    linked: bool = Field(description="Already fed by a bank account (of this or another business).")


class XeroBankAccounts(Model):
    accounts: list[XeroBankAccountView]


class NewXeroAccount(StrictBody):
    # Xero's limits for a feed connection that creates its bank account [OAS xero_bankfeeds.yaml].
    name: Annotated[str, NO_FORBIDDEN_CHARACTERS] = Field(
        min_length=1, max_length=30, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description="Name of the new Xero bank account (at most 30).")
    number: Annotated[str, NO_FORBIDDEN_CHARACTERS] = Field(
        min_length=1, max_length=40, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description="Its account number (at most 40).")


class LinkAccount(StrictBody):
    # Exactly one target, said in the document as the validator below checks it.
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["xero_account_id"], "properties": {"xero_account_id": {"type": "string"},
                                                         "new_account": {"type": "null"}}},
        {"required": ["new_account"], "properties": {"new_account": {"type": "object"},
                                                     "xero_account_id": {"type": "null"}}},
    ]})

    xero_account_id: XeroId | None = Field(None, description="An existing Xero bank account (its AccountID).")
    new_account: NewXeroAccount | None = Field(None, description="Or a new Xero bank account to create.")
    backfill_from: date | None = Field(
        None, description="Send history from this date (at most 365 days back). Default: from today.")

    @model_validator(mode="after")
    def _one_target(self) -> "LinkAccount":
        if (self.xero_account_id is None) == (self.new_account is None):
            raise ValueError("give either xero_account_id or new_account")
        return self


class LinkedAccount(Model):
    account: BankAccountView
