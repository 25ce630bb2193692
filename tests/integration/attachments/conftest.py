"""Receipts (the attachments feature) on moto against the emulators: they ride on the expenses they belong to, so
these tests live in the expense world (tests/integration/expense_world.py)."""

from tests.integration.expense_world import (  # noqa: F401 (the fixtures of the expense world)
    _a_clean_start_and_requests_xeros_specification_allows,
    aws,
    gateway,
    ledger,
    ledger_events,
    runtime,
    template,
    world,
    xero,
    xero_client,
)
