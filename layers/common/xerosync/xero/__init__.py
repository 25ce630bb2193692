"""Talking to Xero (docs/architecture.md, "Talking to Xero")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xerosync.xero.client import XeroClient


def get_xero_client() -> XeroClient:
    """The cold start's Xero client (``xero.client.get_xero_client``), its modules imported on the first call: a
    function whose first requests may not call Xero (the expenses and attachments APIs, Sync now) does not pay
    for them at its cold start (docs/architecture.md, "Cold start")."""
    from xerosync.xero import client

    return client.get_xero_client()
