"""The connection lifecycle's race matrix: two simulated Lambdas (each with its own token cache) and a manual
clock shared with Xero, over the interleavings of a warm worker, a disconnect whose cleanup Xero delays,
reconnections to the same and to another organisation, a token refresh coming due, a second user's choice of
organisation, and the late cleanup. After every step the invariants hold:

- no work call to Xero for the business carries a token of a generation other than its current one;
- no cleanup changes a newer generation: the current connection's tokens, Xero connection and feeds stand;
- what the Xero page shows (the status use case, as ``GET /v1/xero/connection``) matches Xero and the tables;
- once the cleanups and the consent sweeper have run, no Xero connection is left that no business owns.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from emulators.ledger import LedgerEmulator
from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from local.provision import Provisioned
from tests.support.integration_stack import aws_on_moto, local_template, serving
from xerosync.auth import Caller
from xerosync.auto_sync.messages import FeedRef, FeedSyncRequest
from xerosync.auto_sync.worker import FeedSyncWorker
from xerosync.connect.cleanup import job_from_body
from xerosync.connect.models import ChooseOrganisation, CompleteConnect, LinkAccount, NewXeroAccount
from xerosync.connect.wiring import ConnectFeature, build_connect
from xerosync.errors import ProductError
from xerosync.ledger.client import LedgerClient
from xerosync.settings import get_settings
from xerosync.store.connections import ConnectionStatus
from xerosync.store.feeds import FeedStore
from xerosync.store.keys import tokens_key
from xerosync.xero.client import XeroClient, build_xero_client
from xerosync.xero.errors import GenerationChanged, ReconnectRequired

# Paths only a cleanup (or the live check's connections list) calls; every other path is work.
CLEANUP_PATHS = ("/bankfeeds.xro/1.0/FeedConnections/DeleteRequests", "/connections")


# One moto, one Xero and one ledger for the whole matrix (each interleaving has its own business, organisations
# and Xero users), so that the matrix costs its steps, not a set-up per interleaving.
@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def xero(clock: ManualClock) -> Iterator[XeroEmulator]:
    with serving(XeroEmulator(clock=clock)) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def ledger() -> Iterator[LedgerEmulator]:
    with serving(LedgerEmulator()) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def aws(xero: XeroEmulator, ledger: LedgerEmulator) -> Iterator[Provisioned]:
    with pytest.MonkeyPatch.context() as patch, aws_on_moto(
            local_template(xero_url=xero.base_url, ledger_url=ledger.base_url), patch) as provisioned:
        yield provisioned


_scenario = itertools.count(1)


def _refused_only_as(code: str, action: Callable[[], object]) -> None:
    """Run ``action``; the one refusal the step may meet is ``code``, any other fails the test."""
    try:
        action()
    except ProductError as refused:
        if refused.code != code:
            raise


@dataclass
class SimulatedLambda:
    """One execution environment: its own Xero client (token cache) and its own connect feature."""

    xero: XeroClient
    connect: ConnectFeature
    worker: FeedSyncWorker


@dataclass
class World:
    aws: Provisioned
    xero: XeroEmulator
    ledger: LedgerEmulator
    clock: ManualClock
    api: SimulatedLambda
    background: SimulatedLambda
    business: str
    org1: str
    org2: str
    account: str
    stale_messages: list[FeedSyncRequest] = field(default_factory=list)
    held_sessions: list[Any] = field(default_factory=list)  # sessions a warm invocation is still working with
    generations: dict[str, str] = field(default_factory=dict)  # Xero auth event -> connection generation
    log_seen: int = 0
    stale_calls: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0

    @property
    def fiona(self) -> Caller:
        return Caller(business_id=self.business, user_id="u_fiona", role="Finance", can_manage_accounting=True)

    @property
    def adam(self) -> Caller:
        return Caller(business_id=self.business, user_id="u_adam", role="Admin", can_manage_accounting=True)

    @property
    def xero_user(self) -> str:  # the business's usual Xero user
        return f"owner@{self.business}.example"

    @property
    def other_xero_user(self) -> str:
        return f"controller@{self.business}.example"

    # ------------------------------------------------------------------ what the business and Xero do
    def consent(self, caller: Caller, tenants: list[str], xero_user: str | None = None) -> CompleteConnect:
        started = self.api.connect.oauth.start(caller)
        redirect = self.xero.consent(started.authorize_url, tenant_ids=tenants, user=xero_user or self.xero_user)
        query = parse_qs(urlsplit(redirect).query)
        return CompleteConnect(code=query["code"][0], state=query["state"][0])

    def connect_to(self, tenant: str, xero_user: str | None = None) -> None:
        # (refused while connected to the other organisation: the business must disconnect first)
        _refused_only_as("already_connected", lambda: self.api.connect.oauth.complete(
            self.fiona, self.consent(self.fiona, [tenant], xero_user)))

    def link(self) -> None:
        self.api.connect.linking.link(self.fiona, self.account, LinkAccount(
            new_account=NewXeroAccount(name="HKD Operating", number="42")))
        self.xero.settle_pending()

    def warm(self) -> None:
        """The background Lambda works for the business now, caching its tokens; a message of that moment is
        kept to arrive late."""
        record = self.record()
        if record is None or record.status != ConnectionStatus.ACTIVE:
            return
        session = self.background.xero.session(self.business, record.generation)
        session.organisation()
        self.held_sessions.append(session)
        feeds = [f for f in FeedStore(self.background.xero.connections.table).for_business(self.business) if f.is_live]
        if feeds:
            self.stale_messages.append(FeedSyncRequest(
                tenant_id=record.tenant_id, reason="schedule", origin=f"race{len(self.stale_messages)}",
                feeds=[FeedRef(business_id=self.business, account_id=f.account_id, generation=f.generation)
                       for f in feeds]))

    def disconnect_while_xero_fails(self) -> None:
        record = self.record()
        if record is None or record.status == ConnectionStatus.DISCONNECTED:
            return
        self.xero.add_fault("error", path="*/FeedConnections/DeleteRequests", status=503, times=None)
        try:
            self.api.connect.disconnect.disconnect(self.fiona)
        finally:
            self.xero.clear_faults()

    def reconnect_same(self) -> None:
        self.connect_to(self.org1)

    def reconnect_other(self) -> None:
        self.connect_to(self.org2, self.other_xero_user)

    def refresh_due(self) -> None:
        self.clock.advance(31 * 60)  # every access token has expired; the next use refreshes it

    def second_user_chooses(self) -> None:
        """Fiona leaves a choice open; Adam, another Admin, tries to take it, then consents and chooses."""
        self.api.connect.oauth.complete(self.fiona, self.consent(self.fiona, [self.org1, self.org2]))
        with pytest.raises(ProductError) as taken:
            self.api.connect.oauth.choose_organisation(self.adam, ChooseOrganisation(tenant_id=self.org1))
        assert taken.value.code == "no_pending_choice"
        self.api.connect.oauth.complete(self.adam, self.consent(self.adam, [self.org1, self.org2]))
        _refused_only_as("already_connected", lambda: self.api.connect.oauth.choose_organisation(
            self.adam, ChooseOrganisation(tenant_id=self.org1)))

    def late_work(self) -> None:
        """The background Lambda, still warm, goes on with the session it held and gets the messages made earlier,
        then works for the business."""
        for session in self.held_sessions:
            try:
                session.organisation()
            except (GenerationChanged, ReconnectRequired):
                self.dropped += 1
        self.held_sessions.clear()
        for message in self.stale_messages:
            report = self.background.worker.sync(message, time_left=lambda: 300.0)
            self.dropped += report.stale
        self.stale_messages.clear()
        record = self.record()
        if record is not None and record.status == ConnectionStatus.ACTIVE:
            self.background.xero.session(self.business).organisation()

    def cleanup(self) -> None:
        """The cleanup queue's consumer, Xero healthy again, in the background Lambda."""
        sqs = boto3.client("sqs")
        url = self.aws.queue_url("XeroCleanupQueue")
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                self.background.connect.cleanup.run(job_from_body(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def sweep(self) -> None:
        self.clock.advance(11 * 60)  # every open choice has expired
        self.background.connect.oauth.sweep_consents(lambda: 300.0)

    # ------------------------------------------------------------------ invariants
    def record(self) -> Any:
        return self.api.xero.connections.get(self.business)

    def check(self, after: str) -> None:
        record = self.record()
        if record is None:
            return
        self.generations[str(record.auth_event_id)] = record.generation
        # What the page shows (looking may confirm the connection with Xero, with the current generation)
        shown = self.api.connect.status.status(self.fiona)
        record = self.record()
        # 1. No work call carries a token of another generation than the current one.
        for entry in self.xero.request_log[self.log_seen:]:
            generation = self.generations.get(entry.get("auth_event_id") or "")
            if (generation is not None and generation != record.generation
                    and not entry["path"].startswith(CLEANUP_PATHS)):
                self.stale_calls.append({"after": after, **entry})
        self.log_seen = len(self.xero.request_log)
        assert self.stale_calls == [], f"after {after}: a call carried an ended generation's token"
        # 2 and 3. The page shows what Xero and the tables hold; nothing has touched the current generation.
        assert shown.connection is not None and shown.connection.status == record.status.value
        assert record.status != ConnectionStatus.NEEDS_RECONNECT, f"after {after}: {record.status_reason}"
        tokens = self.tokens_item(record.generation)
        live_in_xero = {c["id"] for c in self.xero.connections()}
        if record.status == ConnectionStatus.ACTIVE:
            assert tokens is not None and "sealed" in tokens and "retired_at" not in tokens, after
            assert record.xero_connection_id in live_in_xero, f"after {after}: the connection is gone from Xero"
            feeds = {f["id"]: f["state"] for f in self.xero.feed_connections(record.tenant_id)}
            for account in shown.accounts:
                if account.link is not None and account.link.status in ("ACTIVE", "PENDING"):
                    assert feeds.get(str(account.link.feed_connection_id)) in ("ACTIVE", "PENDING"), after
        else:
            assert tokens is None or "retired_at" in tokens, after
            assert all(a.link is None or a.link.status not in ("ACTIVE", "PENDING") for a in shown.accounts), after

    def check_nothing_orphaned(self) -> None:
        """4. Every Xero connection left belongs to a business's connection, and only current tokens remain."""
        table = self.api.xero.connections.table
        owners = {str(i["xero_connection_id"]) for i in table.scan()["Items"]
                  if i.get("sk") == "CONNECTION" and i.get("status") != ConnectionStatus.DISCONNECTED}
        left = {c["id"] for c in self.xero.connections() if c["tenantId"] in (self.org1, self.org2)}
        assert left <= owners, "a Xero connection is left that no business owns"
        record = self.record()
        kept = {tokens_key(self.business, record.generation)["pk"]} if record is not None and \
            record.status != ConnectionStatus.DISCONNECTED else set()
        items = boto3.resource("dynamodb").Table(self.aws.refs["TokensTable"]).scan()["Items"]
        assert {i["pk"] for i in items if str(i["pk"]).startswith(f"BIZ#{self.business}#")} <= kept

    def tokens_item(self, generation: str) -> dict[str, Any] | None:
        return boto3.resource("dynamodb").Table(self.aws.refs["TokensTable"]).get_item(
            Key=tokens_key(self.business, generation)).get("Item")


def _simulated_lambda(clock: ManualClock, ledger: LedgerEmulator) -> SimulatedLambda:
    settings = get_settings()
    xero = build_xero_client(settings, clock=clock)
    ledger_client = LedgerClient(str(settings.ledger_api_url))
    return SimulatedLambda(xero=xero, connect=build_connect(settings, xero=xero, ledger=ledger_client),
                           worker=FeedSyncWorker(feeds=FeedStore(xero.connections.table), connections=xero.connections,
                                                 ledger=ledger_client, xero=xero, clock=clock))


STEPS: dict[str, Callable[[World], None]] = {
    "warm": World.warm,
    "disconnect": World.disconnect_while_xero_fails,
    "reconnect-same": World.reconnect_same,
    "reconnect-other": World.reconnect_other,
    "refresh-due": World.refresh_due,
    "second-user": World.second_user_chooses,
    "late-work": World.late_work,
    "cleanup": World.cleanup,
}


def _interleavings() -> list[tuple[str, ...]]:
    """Every order of disconnect, reconnect, late cleanup and late work after a warm worker (the cleanup after
    the disconnect it cleans), for a reconnection to the same and to another organisation, with a refresh
    coming due at a different point of each; and a second user's choice at each point of the same order."""
    cases: list[tuple[str, ...]] = []
    for reconnect in ("reconnect-same", "reconnect-other"):
        for n, order in enumerate(itertools.permutations(("disconnect", reconnect, "cleanup", "late-work"))):
            if order.index("cleanup") < order.index("disconnect"):
                continue
            steps = ["warm", *order]
            steps.insert(1 + n % 5, "refresh-due")
            cases.append(tuple(steps))
    base = ("warm", "disconnect", "reconnect-same", "cleanup", "late-work")
    for position in range(len(base) + 1):
        cases.append((*base[:position], "second-user", *base[position:]))
    return cases


def _world(aws: Provisioned, xero: XeroEmulator, ledger: LedgerEmulator, clock: ManualClock) -> World:
    """A new business of its own, with two organisations of its own, connected to the first and linked."""
    business = f"biz_race_{next(_scenario)}"
    ledger.create_business("SG", business_id=business)
    world = World(aws=aws, xero=xero, ledger=ledger, clock=clock, api=_simulated_lambda(clock, ledger),
                  background=_simulated_lambda(clock, ledger), business=business,
                  account=ledger.create_account(business, "HKD").account_id,
                  org1=xero.seed_organisation(f"Harbour Trading {business}", base_currency="HKD"),
                  org2=xero.seed_organisation(f"Kowloon Holdings {business}", base_currency="HKD"))
    world.connect_to(world.org1)
    world.link()
    return world


@pytest.mark.parametrize("steps", _interleavings(), ids=lambda steps: ",".join(steps))
def test_every_interleaving_keeps_the_lifecycle_invariants(
        steps: tuple[str, ...], aws: Provisioned, xero: XeroEmulator, ledger: LedgerEmulator,
        clock: ManualClock) -> None:
    # Given a business connected to its organisation with a linked account
    world = _world(aws, xero, ledger, clock)
    world.check("connect")
    # When the steps happen in this order (then the late cleanup and late work, if they had not happened)
    for step in (*steps, "cleanup", "late-work"):
        STEPS[step](world)
        world.check(step)
    world.sweep()
    world.cleanup()
    # Then the invariants held after every step, and once swept nothing is left that nobody owns
    world.check("sweep")
    world.check_nothing_orphaned()
    print(json.dumps({"steps": steps, "stale_calls": len(world.stale_calls), "dropped": world.dropped}))


def test_the_matrix_covers_what_the_issue_names() -> None:
    cases = _interleavings()
    assert len(cases) == len(set(cases)) >= 30
    named = {"warm", "disconnect", "reconnect-same", "reconnect-other", "refresh-due", "second-user", "cleanup",
             "late-work"}
    assert set(itertools.chain.from_iterable(cases)) == named


def test_stale_work_is_refused_even_by_a_session_made_before_the_disconnect(
        aws: Provisioned, xero: XeroEmulator, ledger: LedgerEmulator, clock: ManualClock) -> None:
    # The narrowest window: a worker made its session (generation G) just before the disconnect landed; the
    # disconnect's cleanup waits for Xero, so the old tokens are still there
    world = _world(aws, xero, ledger, clock)
    session = world.background.xero.session(world.business)
    session.organisation()
    world.disconnect_while_xero_fails()
    world.reconnect_same()
    since = len(xero.request_log)
    with pytest.raises(GenerationChanged):
        session.organisation()
    assert xero.request_log[since:] == []
