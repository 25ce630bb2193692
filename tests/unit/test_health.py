"""The health check over an in-memory store of connection statuses."""

from __future__ import annotations

from tests.unit.auto_sync.fakes import FixedClock
from xerosync.auth import Caller
from xerosync.health import HealthCheck

FIONA = Caller(business_id="biz_1", user_id="u_fiona", role="Finance", can_manage_accounting=True)


class Statuses:
    def __init__(self, **statuses: str) -> None:
        self.statuses = statuses
        self.asked: list[str] = []

    def status_of(self, business_id: str) -> str | None:
        self.asked.append(business_id)
        return self.statuses.get(business_id)


def test_the_health_check_reports_the_callers_business_and_its_connection_as_stored() -> None:
    statuses = Statuses(biz_1="NEEDS_RECONNECT")
    report = HealthCheck(statuses, FixedClock()).check(FIONA)
    assert statuses.asked == ["biz_1"]
    assert (report.status, report.business_id, report.user_id, report.role) == ("ok", "biz_1", "u_fiona", "Finance")
    assert report.can_manage_accounting is True and report.xero_connection == "NEEDS_RECONNECT"
    assert report.checked_at == "2026-11-20T04:00:00Z"


def test_a_business_without_a_connection_or_with_no_status_says_so() -> None:
    assert HealthCheck(Statuses(), FixedClock()).check(FIONA).xero_connection == "NOT_CONNECTED"
    assert HealthCheck(Statuses(biz_1=""), FixedClock()).check(FIONA).xero_connection == "UNKNOWN"
