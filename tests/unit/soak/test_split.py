"""Playing the soak's world as groups of organisations, one process each: the groups together are the world
(every organisation, business and event exactly once, or in every group for the world-wide ones), and the facts
of the groups merge into what one audit of the world reads, so a fault planted in any group still fails it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from local.soak.audit import Line, audit, merge
from local.soak.world import EVERY_GROUP, WorldSize, plan, split
from tests.unit.soak.worlds import right_world


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_the_groups_hold_the_world_once(parts: int) -> None:
    world = plan(3, WorldSize(businesses=14, organisations=7, days=4))
    groups = split(world, parts)
    assert len(groups) == parts
    tenants = [o.tenant_id for g in groups for o in g.organisations]
    assert sorted(tenants) == sorted(o.tenant_id for o in world.organisations)
    businesses = [b.business_id for g in groups for b in g.businesses]
    assert sorted(businesses) == sorted(b.business_id for b in world.businesses)
    for group in groups:
        own_tenants = {o.tenant_id for o in group.organisations}
        assert {b.tenant_id for b in group.businesses} <= own_tenants
        own = {b.business_id for b in group.businesses}
        for event in group.events:
            assert event.business_id in own if event.business_id else True
            assert event.args["tenant_id"] in own_tenants if "tenant_id" in event.args else True
        assert [e.at for e in group.events] == sorted(e.at for e in group.events)
    seen = Counter(id(e) for g in groups for e in g.events)
    for event in world.events:
        assert seen[id(event)] == (parts if event.kind in EVERY_GROUP else 1), event.kind
    # The same world and parts give the same groups.
    again = split(plan(3, WorldSize(businesses=14, organisations=7, days=4)), parts)
    assert [[o.tenant_id for o in g.organisations] for g in again] == [[o.tenant_id for o in g.organisations]
                                                                       for g in groups]


def test_more_parts_than_organisations_gives_one_group_each() -> None:
    world = plan(1, WorldSize.ci())
    assert [len(g.organisations) for g in split(world, 5)] == [1, 1]
    assert split(world, 1) == [world]


def _other_organisation() -> object:
    """The right world of ``right_world`` again, on another organisation, business and ids (a second group)."""
    facts = right_world()
    return replace(
        facts,
        transactions=[replace(t, transaction_id=t.transaction_id + "-2", business_id="biz-2", account_id="acc-2")
                      for t in facts.transactions],
        syncing_businesses={"biz-2"},
        feeds=[replace(f, business_id="biz-2", account_id="acc-2", tenant_id="tenant-2", xero_account_id="xa-2")
               for f in facts.feeds],
        live_xero_accounts={"tenant-2": {"xa-2"}},
        feed_connection_accounts={"fc-2": "xa-2"},
        lines=[Line("tenant-2", "fc-2", line.transaction_id + "-2") for line in facts.lines],
        statements=[replace(s, tenant_id="tenant-2", feed_connection_id="fc-2", statement_id="st-2",
                            transaction_ids=tuple(t + "-2" for t in s.transaction_ids)) for s in facts.statements],
        spend_money=[replace(s, tenant_id="tenant-2", bank_transaction_id="bt-2", transaction_id="t-out-2")
                     for s in facts.spend_money],
        expenses=[replace(e, business_id="biz-2", transaction_id="t-out-2", bank_transaction_id="bt-2",
                          job_id="job-2") for e in facts.expenses],
        jobs=[replace(j, business_id="biz-2", job_id="job-2") for j in facts.jobs],
    )


def test_merged_groups_pass_as_one_world() -> None:
    first, second = right_world(), _other_organisation()
    first.invocations, second.invocations = Counter({"AutoSyncWorker": 3}), Counter({"AutoSyncWorker": 4})  # type: ignore[attr-defined]
    first.quiet_at, second.quiet_at = 100.0, 250.0  # type: ignore[attr-defined]
    merged = merge([first, second])  # type: ignore[list-item]
    report = audit(merged)
    assert report.failures == []
    assert report.numbers["delivered_once"] == 4 and report.numbers["expenses_synced"] == 2
    assert merged.invocations["AutoSyncWorker"] == 7 and merged.quiet_at == 250.0


def test_a_fault_in_one_group_fails_the_merged_audit() -> None:
    second = _other_organisation()
    second.lines.append(second.lines[0])  # type: ignore[attr-defined]  # a line delivered twice in group 2
    report = audit(merge([right_world(), second]))  # type: ignore[list-item]
    assert report.numbers["lines_duplicated"] == 1 and report.failures
