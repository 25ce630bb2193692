"""The periodic check: notices organisations disconnected on Xero's side before anyone calls.

Each ACTIVE connection costs one ``GET /connections`` (Xero counts it against the app's minute only). A run
stops before its time is up and the next continues where it stopped, so any number of connections is
covered, one pass after another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xerosync.observability import logger
from xerosync.store.connections import ConnectionStatus, ConnectionStore
from xerosync.store.keys import connection_check_key
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import ReconnectRequired, XeroError
from xerosync.xero.session import DISCONNECTED_IN_XERO

SAFETY_MARGIN_MS = 30_000


@dataclass
class CheckReport:
    checked: int = 0
    still_connected: int = 0
    needs_reconnect: list[str] = field(default_factory=list)
    unreachable: int = 0
    finished_pass: bool = False


def check_connections(xero: XeroClient, table: Any, remaining_ms: Callable[[], int]) -> CheckReport:
    report = CheckReport()
    position = table.get_item(Key=connection_check_key(), ConsistentRead=True).get("Item", {}).get("after")
    for record in xero.connections.all(after=position):
        if remaining_ms() < SAFETY_MARGIN_MS:
            table.put_item(Item={**connection_check_key(), "after": position})
            return report
        position = ConnectionStore.position(record)
        if record.status != ConnectionStatus.ACTIVE:
            continue
        report.checked += 1
        try:
            token = xero.tokens.access_token(record.business_id)  # invalid_grant marks NEEDS_RECONNECT itself
            tenants = {c.tenant_id for c in xero.identity.connections(token)}
        except ReconnectRequired:
            report.needs_reconnect.append(record.business_id)
            continue
        except XeroError:
            report.unreachable += 1
            continue
        if record.tenant_id in tenants:
            report.still_connected += 1
            continue
        xero.vault.disable(record.business_id, DISCONNECTED_IN_XERO)
        xero.mark_needs_reconnect(record.business_id, DISCONNECTED_IN_XERO)
        report.needs_reconnect.append(record.business_id)
        logger.warning("organisation disconnected on Xero's side", extra={"business_id": record.business_id,
                                                                         "tenant_id": record.tenant_id})
    table.delete_item(Key=connection_check_key())
    report.finished_pass = True
    return report
