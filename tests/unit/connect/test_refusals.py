"""Which organisations may connect, and what a refused one is told."""

from __future__ import annotations

import pytest

from xerosync.connect.oauth import _refusal


@pytest.mark.parametrize(("edition", "status", "code", "words"), [
    ("PARTNER", "ACTIVE", "partner_edition", "is a Xero Partner Edition organisation"),
    ("PARTNER", "INACTIVE", "partner_edition", "is a Xero Partner Edition organisation"),
    ("BUSINESS", "INACTIVE", "organisation_inactive", "is not an active Xero organisation"),
    (None, "INACTIVE", "organisation_inactive", "is not an active Xero organisation"),
    (None, "ACTIVE", "edition_not_supported", "Xero reports its edition as unknown"),
    ("STANDARD", "ACTIVE", "edition_not_supported", "Xero reports its edition as STANDARD"),
])
def test_only_active_business_edition_organisations_connect_and_others_hear_why(
        edition: str | None, status: str, code: str, words: str) -> None:
    refusal = _refusal("Harbour Books", edition, status)
    assert refusal is not None and refusal.code == code and refusal.status == 422
    assert refusal.message.startswith("'Harbour Books' ") and words in refusal.message and refusal.action


def test_an_active_business_edition_organisation_is_not_refused() -> None:
    assert _refusal("Harbour Books", "BUSINESS", "ACTIVE") is None
