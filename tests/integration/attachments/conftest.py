"""Receipts (the attachments feature) on moto against the emulators: they ride on the expenses they belong to, so
these tests live in the expense world (tests/integration/expense_world.py)."""

from tests.integration.expense_world import *  # noqa: F403 (the expense world's fixtures)
