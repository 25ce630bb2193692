"""The product's configuration: one model of the environment, validated once per cold start.

Everything that points outside a function is an environment variable (the design's configuration
contract); nothing in code names a host. AWS clients honour ``AWS_ENDPOINT_URL`` on their own.
"""

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from xerosync.lifecycle import per_cold_start

# Xero's scopes as named in the official OpenAPI files (16.1.0). Apps created after March 2026 use the
# granular `accounting.banktransactions` in place of `accounting.transactions`: set XERO_SCOPES for them.
# Only what the product uses (docs/architecture.md, Connect): refresh tokens; Spend Money; reading the
# organisation, accounts, tax rates, tracking and currencies; contacts (created for payees); receipts; bank feeds.
DEFAULT_XERO_SCOPES = (
    "offline_access accounting.transactions accounting.settings.read accounting.contacts accounting.attachments "
    "bankfeeds"
)

# The help centre: "Any user who has access to the accounting features, i.e Admins and Finance users". The
# identity provider's own spellings of those roles are configured (AUTH_ACCOUNTING_ROLES) and matched exactly:
# "admin" or "FINANCE" is another role, not a typing variant, unless the bank configures it.
DEFAULT_ACCOUNTING_ROLES = frozenset({"Admin", "Finance"})

NonEmpty = Annotated[str, Field(min_length=1)]


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable deployment; the message names each bad variable."""


class Settings(BaseModel):
    """Field aliases are the environment variable names, so errors name the variable to fix."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    xero_login_url: HttpUrl = Field(HttpUrl("https://login.xero.com"), alias="XERO_LOGIN_URL")
    xero_identity_url: HttpUrl = Field(HttpUrl("https://identity.xero.com"), alias="XERO_IDENTITY_URL")
    xero_api_url: HttpUrl = Field(HttpUrl("https://api.xero.com"), alias="XERO_API_URL")
    xero_client_id: NonEmpty = Field(alias="XERO_CLIENT_ID")
    xero_client_secret_arn: NonEmpty = Field(alias="XERO_CLIENT_SECRET_ARN")
    xero_redirect_uri: HttpUrl = Field(alias="XERO_REDIRECT_URI")
    xero_scopes: NonEmpty = Field(DEFAULT_XERO_SCOPES, alias="XERO_SCOPES")
    # How long a call waits for Xero's answer before it counts as lost (a write's outcome is then looked up).
    xero_read_timeout_seconds: float = Field(25.0, gt=0, le=60, alias="XERO_READ_TIMEOUT_SECONDS")

    ledger_api_url: HttpUrl = Field(alias="LEDGER_API_URL")
    # The bank's transaction page, linked from each Spend Money's Url; {transaction_id} is filled in.
    bank_transaction_url_template: NonEmpty = Field(
        "https://app.bank.example/transactions/{transaction_id}", alias="BANK_TRANSACTION_URL_TEMPLATE"
    )

    main_table_name: NonEmpty = Field(alias="MAIN_TABLE_NAME")
    tokens_table_name: NonEmpty = Field(alias="TOKENS_TABLE_NAME")
    idempotency_table_name: NonEmpty = Field(alias="IDEMPOTENCY_TABLE_NAME")
    tokens_kms_key_id: NonEmpty = Field(alias="TOKENS_KMS_KEY_ID")

    feed_sync_queue_url: NonEmpty = Field(alias="FEED_SYNC_QUEUE_URL")
    dispatch_queue_url: NonEmpty = Field(alias="DISPATCH_QUEUE_URL")
    expense_sync_queue_url: NonEmpty = Field(alias="EXPENSE_SYNC_QUEUE_URL")
    attachments_queue_url: NonEmpty = Field(alias="ATTACHMENTS_QUEUE_URL")
    xero_cleanup_queue_url: NonEmpty = Field(alias="XERO_CLEANUP_QUEUE_URL")

    # Claim names of the bank's identity provider, as API Gateway's JWT authorizer passes them on.
    claim_business_id: NonEmpty = Field("business_id", alias="AUTH_CLAIM_BUSINESS_ID")
    claim_user_id: NonEmpty = Field("sub", alias="AUTH_CLAIM_USER_ID")
    claim_role: NonEmpty = Field("role", alias="AUTH_CLAIM_ROLE")
    # The roles that may manage the integration, spelled exactly as the identity provider issues them.
    accounting_roles: frozenset[str] = Field(DEFAULT_ACCOUNTING_ROLES, alias="AUTH_ACCOUNTING_ROLES")

    # Xero's attachment limits have changed over time (3 MB, later 10 MB); the product promises "less than
    # 3MB", read as 3,000,000 bytes, the strictest value Xero has used.
    attachment_max_bytes: int = Field(3_000_000, gt=0, alias="ATTACHMENT_MAX_BYTES")
    attachment_max_count: int = Field(10, gt=0, le=10, alias="ATTACHMENT_MAX_COUNT")

    # Sync expenses. Receipts of a synced expense go to the attachments worker; false switches the hand-over
    # off (an operator's switch, e.g. while Xero's Attachments API misbehaves; the retry route sends them later).
    attachment_uploads_enabled: bool = Field(True, alias="ATTACHMENT_UPLOADS_ENABLED")
    # Deliveries of a Spend Money batch before its dead-letter queue (the queue's maxReceiveCount); the last
    # one marks the batch's expenses Sync error before the message goes there.
    expense_batch_max_receives: int = Field(10, ge=4, alias="EXPENSE_BATCH_MAX_RECEIVES")
    # Deliveries of a receipts message before its dead-letter queue; the last one marks the receipts not in Xero
    # failed (reason and way out) before it tries, so that none is left "on the way".
    receipt_upload_max_receives: int = Field(10, ge=4, alias="RECEIPT_UPLOAD_MAX_RECEIVES")
    # Deliveries of a ledger event before its dead-letter queue (the queue's maxReceiveCount); one that fails on the
    # last is parked for later instead, a few times, so that a change to a synced payment is not lost for good.
    ledger_event_max_receives: int = Field(5, ge=2, alias="LEDGER_EVENT_MAX_RECEIVES")
    # Xero reference data (accounts, tax rates, tracking, currencies) is cached per organisation this long.
    expense_reference_data_max_age_seconds: int = Field(900, ge=0, alias="EXPENSE_REFERENCE_DATA_MAX_AGE_SECONDS")
    # The same sync request (same expenses, unchanged) within this window returns the first job: a double click.
    expense_sync_request_window_seconds: int = Field(60, gt=0, alias="EXPENSE_SYNC_REQUEST_WINDOW_SECONDS")
    # Contact for the bank's own charges (fees, FX, interest), which carry no payee name in the ledger.
    expense_bank_contact_name: NonEmpty = Field("Bank", max_length=255, alias="EXPENSE_BANK_CONTACT_NAME")
    # Xero's web app, for the link from a synced expense to its Spend Money.
    xero_app_url: HttpUrl = Field(HttpUrl("https://go.xero.com"), alias="XERO_APP_URL")

    # Auto-sync. Statement lines are dated on the bank's booking day: UTC+8 (Hong Kong, Singapore, China).
    statement_utc_offset_minutes: int = Field(480, ge=-720, le=840, alias="STATEMENT_UTC_OFFSET_MINUTES")
    # Sync now: at most once per business in this many seconds, so it cannot drain the organisation's budget.
    sync_now_interval_seconds: int = Field(600, ge=0, alias="SYNC_NOW_INTERVAL_SECONDS")
    # The fast lane: at most one feed sync per organisation per this many minutes after a posting; 0 turns it
    # off (docs/auto-sync.md, "Fast lane").
    feed_fast_lane_minutes: int = Field(15, ge=0, le=180, alias="FEED_FAST_LANE_MINUTES")
    # Opening the Xero page confirms an active connection with Xero at most this often per business.
    connection_confirm_seconds: int = Field(300, ge=0, alias="CONNECTION_CONFIRM_SECONDS")

    @field_validator("accounting_roles", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            roles = [role.strip() for role in value.split(",")]
            if not all(roles):
                raise ValueError("must list role names separated by commas, none empty")
            return frozenset(roles)
        return value

    @field_validator("xero_scopes")
    @classmethod
    def _needs_offline_access(cls, value: str) -> str:
        # Without offline_access Xero issues no refresh token and every connection dies after 30 minutes.
        if "offline_access" not in value.split():
            raise ValueError("must include offline_access")
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        try:
            return cls.model_validate({k: v for k, v in env.items() if v != ""})
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            problems.append(f"{name} is not set")
        else:
            problems.append(f"{name} is malformed: {error['msg']}")
    return "Invalid configuration: " + "; ".join(problems)


@per_cold_start
def get_settings() -> Settings:
    """The settings of this cold start (tests call ``lifecycle.new_cold_start()`` after changing env)."""
    return Settings.from_environ()
