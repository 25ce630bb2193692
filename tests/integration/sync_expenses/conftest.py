"""Sync expenses on moto against the emulators: the expense world's fixtures (tests/integration/expense_world.py)."""

from tests.integration.expense_world import *  # noqa: F403 (the expense world's fixtures)
