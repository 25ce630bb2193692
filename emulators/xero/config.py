"""Every limit and delay the emulator applies, in one place, each with where its default comes from.

Sources are abbreviated as in ``docs/xero-facts.md#sources``; the README explains each choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class EmulatorConfig:
    # --- Identity [AuthFlow], [FAQ-OAuth] -------------------------------------------------------------
    access_token_lifetime_s: int = 30 * 60
    authorization_code_lifetime_s: int = 5 * 60
    #: A rotated refresh token may be used again for this long (lost-response retries) [FAQ-OAuth].
    refresh_token_grace_s: int = 30 * 60
    #: A refresh token expires after this long unused [FAQ-OAuth].
    refresh_token_idle_lifetime_s: int = 60 * 24 * 3600

    # --- Rate limits [FAQ-Limits] ----------------------------------------------------------------------
    tenant_concurrent_limit: int = 5
    tenant_minute_limit: int = 60
    tenant_day_limit: int = 5000
    app_minute_limit: int = 10_000
    #: The daily allowance is a rolling 24-hour window (older limits page).
    day_window_s: int = 24 * 3600

    # --- Idempotency-Key (XeroAPI/xero-prompt-library, quoting Xero's idempotency guide) ----------------
    idempotency_window_s: int = 6 * 60
    idempotency_key_max_length: int = 128
    #: Xero caches a keyed request's error response too (internal errors included).
    idempotency_caches_errors: bool = True

    # --- Accounting API -------------------------------------------------------------------------------
    #: One PUT/POST body [OldLimits] says 3.5 MB; [2ndary] 10 MB. The smaller is the safe default.
    accounting_max_body_bytes: int = 3_500_000
    bank_transactions_default_page_size: int = 100
    bank_transactions_max_page_size: int = 1000
    #: summarizeErrors absent/true with a failing element: Xero was observed to create the valid siblings
    #: anyway (Stack Overflow q/52706101). Set False to model an all-or-nothing batch instead.
    summarize_errors_creates_valid_elements: bool = True

    # --- Attachments ----------------------------------------------------------------------------------
    #: Per file. Sources say 3 MB (community post, xero-node#15, codat-docs#1311), later 10 or 25 MB.
    #: 3,000,000 bytes is the strictest reading of "3 MB".
    attachment_max_bytes: int = 3_000_000
    attachments_per_document: int = 10

    # --- Bank Feeds API [OAS] -------------------------------------------------------------------------
    statements_max_body_bytes: int = 3_000_000
    feed_connections_default_page_size: int = 10
    statements_default_page_size: int = 10
    #: PENDING feed connections and statements settle this long (emulator clock) after they are posted.
    feed_connection_delay_s: float = 2.0
    statement_delay_s: float = 2.0
    #: Xero only accepts statements starting within the last 365 days (Airwallex help centre, [OAS]).
    statement_max_age_days: int = 365

    # --- Faults ---------------------------------------------------------------------------------------
    #: Real seconds a "timeout" fault holds a response when the fault itself does not say.
    default_timeout_hold_s: float = 35.0

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise KeyError(f"unknown setting {name!r}")
            current = getattr(self, name)
            if isinstance(current, bool):
                setattr(self, name, bool(value))
            elif isinstance(current, int):
                setattr(self, name, int(value))
            elif isinstance(current, float):
                setattr(self, name, float(value))
            else:
                setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
