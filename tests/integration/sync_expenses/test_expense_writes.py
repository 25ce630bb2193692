"""Every expense write is a read-change-save that decides again when another writer got there first."""

from __future__ import annotations

import pytest

from tests.integration.expense_world import World
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.models import ExpenseRecord
from xerosync.sync_expenses.store import ExpenseStore, StaleExpense

NOW = "2026-11-21T09:00:00Z"


def _one_expense(world: World) -> tuple[str, str, ExpenseStore, ExpenseRecord]:
    """A business with one pending expense: its ids, the store, and the expense as read now."""
    business = world.business()
    [transaction_id] = world.seed_expenses(business, 1)
    store = ExpenseStore(world.table)
    read = store.get(business.business_id, transaction_id)
    assert read is not None
    return business.business_id, transaction_id, store, read


def test_a_lost_race_is_decided_again_on_top_of_the_other_writers_copy(world: World) -> None:
    business_id, transaction_id, store, read = _one_expense(world)
    # Given another writer (an edit from a second tab) saving after our read
    store.save(state_machine.edited(read, {"reference": "PO-7"}, NOW))
    seen: list[int] = []

    def ours(record: ExpenseRecord | None) -> ExpenseRecord | None:
        assert record is not None
        seen.append(record.version)
        return state_machine.edited(record, {"description": "Client lunch"}, NOW)

    # When our change is saved from the copy we read first
    saved = store.change(business_id, transaction_id, ours, read)
    # Then it was decided again from the newer copy, and both changes are kept
    assert seen == [read.version, read.version + 1]
    assert saved is not None and saved.version == read.version + 2
    stored = store.get(business_id, transaction_id)
    assert stored is not None
    assert (stored.overrides.reference, stored.overrides.description) == ("PO-7", "Client lunch")


def test_a_change_that_keeps_or_leaves_the_expense_writes_nothing(world: World) -> None:
    business_id, transaction_id, store, before = _one_expense(world)
    assert store.change(business_id, transaction_id, lambda record: record) == before
    assert store.change(business_id, transaction_id, lambda record: None) is None
    assert store.change(business_id, "txn_unknown", lambda record: record) is None
    after = store.get(business_id, transaction_id)
    assert after is not None and after.version == before.version


def test_a_writer_that_loses_every_race_gives_up_with_stale_expense(world: World) -> None:
    business_id, transaction_id, store, _ = _one_expense(world)
    rival = 0

    def always_overtaken(record: ExpenseRecord | None) -> ExpenseRecord | None:
        nonlocal rival
        assert record is not None
        rival += 1
        store.save(state_machine.edited(record, {"reference": f"rival-{rival}"}, NOW))  # somebody is faster
        return state_machine.edited(record, {"description": "never saved"}, NOW)

    with pytest.raises(StaleExpense):
        store.change(business_id, transaction_id, always_overtaken)
    stored = store.get(business_id, transaction_id)
    assert stored is not None and stored.overrides.description != "never saved"
    assert stored.overrides.reference == f"rival-{rival}"
