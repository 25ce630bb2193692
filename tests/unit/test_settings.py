"""The settings model: validated once, failing with the name of each bad variable."""

from __future__ import annotations

import pytest

from xerosync.auth import caller_from_claims
from xerosync.settings import DEFAULT_XERO_SCOPES, ConfigurationError, Settings

COMPLETE = {
    "XERO_CLIENT_ID": "client", "XERO_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    "XERO_REDIRECT_URI": "https://app.bank.example/xero/callback", "LEDGER_API_URL": "http://ledger.internal",
    "MAIN_TABLE_NAME": "main", "TOKENS_TABLE_NAME": "tokens", "IDEMPOTENCY_TABLE_NAME": "idem",
    "TOKENS_KMS_KEY_ID": "key", "FEED_SYNC_QUEUE_URL": "q1", "DISPATCH_QUEUE_URL": "q2",
    "EXPENSE_SYNC_QUEUE_URL": "q3", "ATTACHMENTS_QUEUE_URL": "q4", "XERO_CLEANUP_QUEUE_URL": "q5",
}


def test_complete_environment_gives_xeros_real_hosts_by_default() -> None:
    settings = Settings.from_environ(COMPLETE)
    assert str(settings.xero_api_url) == "https://api.xero.com/"
    assert str(settings.xero_identity_url) == "https://identity.xero.com/"
    assert str(settings.xero_login_url) == "https://login.xero.com/"
    assert settings.xero_scopes == DEFAULT_XERO_SCOPES
    assert settings.attachment_max_bytes == 3_000_000
    assert settings.attachment_max_count == 10
    assert settings.xero_read_timeout_seconds == 25.0


@pytest.mark.parametrize("missing", ["MAIN_TABLE_NAME", "XERO_CLIENT_ID", "LEDGER_API_URL", "TOKENS_KMS_KEY_ID"])
def test_missing_variable_is_named(missing: str) -> None:
    # Given an environment without one required variable
    env = {k: v for k, v in COMPLETE.items() if k != missing}
    # When the settings are read, Then the error names that variable
    with pytest.raises(ConfigurationError, match=rf"{missing} is not set"):
        Settings.from_environ(env)


def test_empty_variable_counts_as_missing() -> None:
    with pytest.raises(ConfigurationError, match="TOKENS_TABLE_NAME is not set"):
        Settings.from_environ({**COMPLETE, "TOKENS_TABLE_NAME": ""})


def test_malformed_url_is_named() -> None:
    with pytest.raises(ConfigurationError, match="XERO_API_URL is malformed"):
        Settings.from_environ({**COMPLETE, "XERO_API_URL": "not a url"})


def test_every_problem_is_reported_at_once() -> None:
    env = {k: v for k, v in COMPLETE.items() if k not in ("MAIN_TABLE_NAME", "XERO_CLIENT_ID")}
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_environ(env)
    assert "MAIN_TABLE_NAME is not set" in str(caught.value)
    assert "XERO_CLIENT_ID is not set" in str(caught.value)


def test_scopes_without_offline_access_are_refused() -> None:
    # Without offline_access Xero issues no refresh token: every connection would die after 30 minutes.
    with pytest.raises(ConfigurationError, match=r"XERO_SCOPES is malformed.*offline_access"):
        Settings.from_environ({**COMPLETE, "XERO_SCOPES": "openid accounting.transactions bankfeeds"})


def test_attachment_limit_is_configurable_but_never_above_xeros_ten() -> None:
    assert Settings.from_environ({**COMPLETE, "ATTACHMENT_MAX_BYTES": "10485760"}).attachment_max_bytes == 10485760
    with pytest.raises(ConfigurationError, match="ATTACHMENT_MAX_COUNT is malformed"):
        Settings.from_environ({**COMPLETE, "ATTACHMENT_MAX_COUNT": "11"})


def test_accounting_roles_are_the_identity_providers_spellings_and_matched_exactly() -> None:
    claims = {"business_id": "biz_1", "sub": "u_1"}
    default = Settings.from_environ(COMPLETE)
    assert default.accounting_roles == {"Admin", "Finance"}
    configured = Settings.from_environ({**COMPLETE, "AUTH_ACCOUNTING_ROLES": "admin, finance-manager"})
    assert configured.accounting_roles == {"admin", "finance-manager"}

    def may_manage(role: str, settings: Settings) -> bool:
        return caller_from_claims({**claims, "role": role}, business_claim="business_id", user_claim="sub",
                                  role_claim="role", accounting_roles=settings.accounting_roles).can_manage_accounting

    assert may_manage("Admin", default) and may_manage("Finance", default)
    assert not any(may_manage(role, default) for role in ("admin", "FINANCE", "Admin ", "finance-manager", ""))
    assert may_manage("admin", configured) and may_manage("finance-manager", configured)
    assert not may_manage("Admin", configured)


def test_an_empty_role_in_the_configured_list_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="AUTH_ACCOUNTING_ROLES"):
        Settings.from_environ({**COMPLETE, "AUTH_ACCOUNTING_ROLES": "Admin,,Finance"})


def test_the_xero_read_timeout_is_bounded_by_what_a_lambda_can_wait() -> None:
    assert Settings.from_environ({**COMPLETE, "XERO_READ_TIMEOUT_SECONDS": "2.5"}).xero_read_timeout_seconds == 2.5
    with pytest.raises(ConfigurationError, match="XERO_READ_TIMEOUT_SECONDS is malformed"):
        Settings.from_environ({**COMPLETE, "XERO_READ_TIMEOUT_SECONDS": "90"})
