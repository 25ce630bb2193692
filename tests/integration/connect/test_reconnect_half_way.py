"""A reconnection that dies after writing the new connection, before it has ended the generation it replaced.

Found by the soak (docs/soak.md): the links stayed live on the ended generation, the Xero page showed them
ACTIVE with nothing to do, and the 3-hour schedule skipped them as "being moved by a reconnection", so no line
reached Xero again. The new connection records what it replaced (docs/architecture.md, "Connection
generations"); until that is ended the page says the links are being moved, and the next sign-in or the hourly
check finishes it, wherever the request died, even with two finishers at once or one overtaken by a newer
connection.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

from emulators.ledger import LedgerEmulator
from emulators.time_control import OffsetClock
from emulators.xero import XeroEmulator
from local.event_sources import Scheduler
from local.lambda_runtime import LambdaRuntime, acting_as
from local.provision import Provisioned
from tests.support.connect_api import Api, User, token_items
from tests.support.connect_steps import disconnect_that_dies_after_marking, linked_business
from xerosync.clock import SystemClock, use_process_clock
from xerosync.connect.views import ENDING_REASON, LINK_AGAIN_ACTION, MOVING_REASON
from xerosync.connect.wiring import get_connect
from xerosync.store.connections import ConnectionStore, XeroConnectionRecord
from xerosync.store.consents import ConsentStore
from xerosync.store.feeds import FeedStore
from xerosync.xero.tokens import TokenVault

# Where the request dies: right after writing the connection; while moving the links; while ending the old
# generation's tokens; before recording that it is all done.
STEPS = {"connection written": (ConsentStore, "close"),
         "moving the links": (FeedStore, "change_for_connection"),
         "ending the old tokens": (TokenVault, "retire"),
         "recording it done": (ConnectionStore, "mark_replacement_finished")}


def _needing_renewal(api: Api, xero: XeroEmulator, ledger: LedgerEmulator) -> tuple[User, str, str]:
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    xero.advance_clock(5)
    xero.settle_pending()
    fiona.call("GET", "/v1/xero/connection")
    xero.add_fault("invalid_grant", path="/connect/token", times=1)
    xero.advance_clock(1800)  # the access token expires; the refresh is refused: the connection needs renewing
    assert fiona.call("GET", "/v1/xero/bank-accounts").status == 409
    return fiona, business_id, tenant


def _reconnection_dies(fiona: User, tenant: str, step: str) -> None:
    owner, method = STEPS[step]

    def died(*_: object, **__: object) -> None:
        raise RuntimeError("the execution environment died")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, method, died)
        assert fiona.connect(tenant).status == 500


def _connection_item(aws: Provisioned, business_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(aws.refs["MainTable"])
    item: dict[str, Any] = table.get_item(Key={"pk": f"BIZ#{business_id}", "sk": "CONNECTION"})["Item"]
    return item


def _syncing_on_the_new_connection(fiona: User, aws: Provisioned, runtime: LambdaRuntime, business_id: str) -> None:
    """What the user sees and what the schedule does once the reconnection is finished."""
    page = fiona.call("GET", "/v1/xero/connection").json()
    assert page["connection"]["status"] == "ACTIVE"
    link = page["accounts"][0]["link"]
    assert link["status"] == "ACTIVE" and link["status_reason"] is None and link["action"] is None
    report = Scheduler(aws.template, runtime).fire("EveryThreeHours")
    assert (report["feeds"], report["skipped"]) == (1, 0), report
    connection = _connection_item(aws, business_id)
    assert "replaced" not in connection  # nothing left to finish
    # Only the new generation's tokens are usable: every earlier one is retired (or already wiped)
    usable = [i for i in token_items(aws, business_id) if "retired_at" not in i]
    assert [i["pk"] for i in usable] == [f"BIZ#{business_id}#GEN#{connection['generation']}"]


@pytest.mark.parametrize("step", list(STEPS))
def test_signing_in_again_finishes_a_reconnection_that_died(
        step: str, api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned,
        runtime: LambdaRuntime) -> None:
    fiona, business_id, tenant = _needing_renewal(api, xero, ledger)
    # When her reconnection dies half-way
    _reconnection_dies(fiona, tenant, step)
    # Then the page says the link is being moved until it is (it never says ACTIVE for a link not syncing)
    link = fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]
    if step in ("connection written", "moving the links"):
        assert (link["status"], link["status_reason"]) == ("PENDING", MOVING_REASON)
        assert "connect to Xero again" in link["action"]
    else:  # the link was moved before the request died
        assert link["status"] == "ACTIVE"
        assert Scheduler(aws.template, runtime).fire("EveryThreeHours")["skipped"] == 0
    # And when Fiona, told it failed, connects again, everything is finished and the account syncs
    assert fiona.connect(tenant).status == 200
    _syncing_on_the_new_connection(fiona, aws, runtime, business_id)


@pytest.mark.parametrize("step", ["connection written", "moving the links", "ending the old tokens"])
def test_the_hourly_check_finishes_a_reconnection_that_died(
        step: str, api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned,
        runtime: LambdaRuntime) -> None:
    fiona, business_id, tenant = _needing_renewal(api, xero, ledger)
    _reconnection_dies(fiona, tenant, step)
    # When nobody signs in again, the hourly check finds it unfinished (once it is surely not running)
    use_process_clock(OffsetClock(SystemClock(), 20 * 60))
    try:
        report = Scheduler(aws.template, runtime).fire("Hourly")
    finally:
        use_process_clock(None)
    # Then it finishes it, and the account syncs on the new connection
    assert report["reconnections_finished"] == 1
    _syncing_on_the_new_connection(fiona, aws, runtime, business_id)


def test_the_hourly_check_leaves_a_reconnection_that_may_still_be_running(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    fiona, _, tenant = _needing_renewal(api, xero, ledger)
    _reconnection_dies(fiona, tenant, "connection written")
    assert Scheduler(aws.template, runtime).fire("Hourly")["reconnections_finished"] == 0


def _record(business_id: str) -> XeroConnectionRecord:
    with acting_as("ConnectionCheckFunction"):
        record = get_connect().xero.connections.get(business_id)
    assert record is not None
    return record


def test_two_finishers_at_once_move_each_link_once(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    fiona, business_id, tenant = _needing_renewal(api, xero, ledger)
    _reconnection_dies(fiona, tenant, "connection written")
    record = _record(business_id)
    # When the hourly check and a late retry of the request finish it at the same moment
    with acting_as("ConnectionCheckFunction"):
        oauth = get_connect().oauth
    results: list[bool] = []
    start = threading.Barrier(2)

    def finish() -> None:
        start.wait()
        with acting_as("ConnectionCheckFunction"):
            results.append(oauth.finish_replacement(record))

    threads = [threading.Thread(target=finish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then both succeed, and the link is on the new generation, syncing
    assert results == [True, True]
    _syncing_on_the_new_connection(fiona, aws, runtime, business_id)


def test_a_finisher_overtaken_by_a_newer_connection_moves_nothing_back(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    fiona, business_id, tenant = _needing_renewal(api, xero, ledger)
    _reconnection_dies(fiona, tenant, "connection written")
    overtaken = _record(business_id)
    # Given Fiona signed in again, which finished the move onto the newest connection
    assert fiona.connect(tenant).status == 200
    # When the finisher of the connection her second sign-in replaced runs late (a request that was slow)
    with acting_as("ConnectionCheckFunction"):
        assert get_connect().oauth.finish_replacement(overtaken) is False
    # Then it moved nothing back: the link stays on the newest connection and syncs
    _syncing_on_the_new_connection(fiona, aws, runtime, business_id)


def test_a_reconnection_to_another_organisation_that_died_ends_the_old_links_once_finished(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned) -> None:
    fiona, _, _ = _needing_renewal(api, xero, ledger)
    other = xero.seed_organisation("Harbour Holdings Ltd", base_currency="HKD")
    # When her reconnection, to another organisation, dies right after writing the connection
    _reconnection_dies(fiona, other, "connection written")
    # Then the page says the link will end (not that it syncs)
    link = fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]
    assert (link["status"], link["status_reason"]) == ("PENDING", ENDING_REASON)
    # And once she connects again, it has ended, naming the organisation it was linked to, with the way back
    assert fiona.connect(other).status == 200
    link = fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]
    assert link["status"] == "DISCONNECTED"
    assert link["status_reason"] == "Linked to 'Harbour Trading Ltd', a different Xero organisation."
    assert link["action"] == LINK_AGAIN_ACTION


def test_a_finisher_that_read_the_links_before_one_was_linked_again_leaves_the_new_link(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fiona, business_id, tenant = _needing_renewal(api, xero, ledger)
    other = xero.seed_organisation("Harbour Holdings Ltd", base_currency="HKD")
    _reconnection_dies(fiona, other, "connection written")
    record = _record(business_id)
    # Given the finisher read the links while the old one was still live (it is to end: another organisation)
    with acting_as("ConnectionCheckFunction"):
        oauth = get_connect().oauth
        read = oauth.feeds.for_business(business_id)
    assert [(f.is_live, f.generation != record.generation) for f in read] == [(True, True)]
    # and meanwhile Fiona unlinked the account, deleted its bank account in the old organisation (the old grant
    # being dead, the product could not remove its feed there), and linked it in the new organisation
    account = read[0].account_id
    path = f"/v1/bank-accounts/{account}/feed"
    assert fiona.call("DELETE", path).status == 200
    assert xero.delete_bank_account(tenant, str(read[0].xero_account_id)) == 1
    linked = fiona.call("PUT", path, {"new_account": {"name": "Holdings HKD", "number": "77"}})
    assert linked.status == 200, linked.body
    bank = linked.json()["account"]["link"]["xero_account_id"]
    # When the finisher goes on from what it read
    reads, real_read = [read], FeedStore.for_business
    monkeypatch.setattr(FeedStore, "for_business",
                        lambda store, business: reads.pop() if reads else real_read(store, business))
    with acting_as("ConnectionCheckFunction"):
        assert oauth.finish_replacement(record) is True
    # Then the new link is left as she made it, not ended as the link it replaced was to be
    link = fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]
    assert link["status"] in ("PENDING", "ACTIVE") and link["xero_account_id"] == bank, link
    assert [f["state"] for f in xero.feed_connections(other)] != ["DELETED"]


def test_connecting_after_a_disconnect_that_died_half_way_ends_the_disconnected_links(
        api: Api, xero: XeroEmulator, ledger: LedgerEmulator, aws: Provisioned, runtime: LambdaRuntime) -> None:
    fiona, business_id, _, tenant = linked_business(api, xero, ledger)
    # Given a disconnect that died right after marking the connection (its links still live)
    disconnect_that_dies_after_marking(fiona)
    # When Fiona connects again before anything finished it
    assert fiona.connect(tenant).status == 200
    # Then the disconnected generation is ended: its link DISCONNECTED (not carried over), its feed connection
    # removed in Xero, its tokens no longer usable
    link = fiona.call("GET", "/v1/xero/connection").json()["accounts"][0]["link"]
    assert (link["status"], link["status_reason"], link["action"]) == (
        "DISCONNECTED", "The business disconnected Xero.", LINK_AGAIN_ACTION)
    xero.advance_clock(5)
    xero.settle_pending()
    assert [f["state"] for f in xero.feed_connections(tenant)] == ["DELETED"]
    connection = _connection_item(aws, business_id)
    assert "replaced" not in connection
    usable = [i for i in token_items(aws, business_id) if "retired_at" not in i]
    assert [i["pk"] for i in usable] == [f"BIZ#{business_id}#GEN#{connection['generation']}"]
    assert Scheduler(aws.template, runtime).fire("EveryThreeHours")["skipped"] == 0
