"""The health check: the caller as the authorizer saw them, and a real read of the main table (the business's
connection, through ``ConnectionStatuses``)."""

from dataclasses import dataclass
from typing import Protocol

from xerosync import aws
from xerosync.auth import Caller
from xerosync.clock import Clock, iso, process_clock, utc_now
from xerosync.lifecycle import per_cold_start
from xerosync.model import Model
from xerosync.settings import get_settings
from xerosync.store.connections import ConnectionStore


class HealthReport(Model):
    status: str
    business_id: str
    user_id: str
    role: str
    can_manage_accounting: bool
    xero_connection: str
    checked_at: str


class ConnectionStatuses(Protocol):
    def status_of(self, business_id: str) -> str | None: ...


@dataclass
class HealthCheck:
    connections: ConnectionStatuses
    clock: Clock

    def check(self, caller: Caller) -> HealthReport:
        status = self.connections.status_of(caller.business_id)
        return HealthReport(
            status="ok",
            business_id=caller.business_id,
            user_id=caller.user_id,
            role=caller.role,
            can_manage_accounting=caller.can_manage_accounting,
            xero_connection="NOT_CONNECTED" if status is None else status or "UNKNOWN",
            checked_at=iso(utc_now(self.clock)),
        )


@per_cold_start
def get_health_check() -> HealthCheck:
    return HealthCheck(ConnectionStore(aws.table(get_settings().main_table_name)), process_clock())
