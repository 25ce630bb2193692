"""The health check: the caller as the authorizer saw them, and a real read of the main table."""

from xerosync import aws
from xerosync.auth import Caller
from xerosync.clock import iso, process_clock, utc_now
from xerosync.model import Model
from xerosync.settings import get_settings
from xerosync.store.keys import connection_key


class HealthReport(Model):
    status: str
    business_id: str
    user_id: str
    role: str
    can_manage_accounting: bool
    xero_connection: str
    checked_at: str


def check_health(caller: Caller) -> HealthReport:
    item = aws.table(get_settings().main_table_name).get_item(Key=connection_key(caller.business_id)).get("Item")
    return HealthReport(
        status="ok",
        business_id=caller.business_id,
        user_id=caller.user_id,
        role=caller.role,
        can_manage_accounting=caller.can_manage_accounting,
        xero_connection=str(item.get("status", "UNKNOWN")) if item else "NOT_CONNECTED",
        checked_at=iso(utc_now(process_clock())),
    )
