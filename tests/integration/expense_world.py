"""The world of the expense tests (sync expenses and receipts, which ride on the expenses they belong to): on moto
with the template's resources, against the Xero and ledger emulators, driven the way users and the platform reach it:
HTTP through the gateway with minted tokens, ledger events through the EventBridge rule and LedgerEventsQueue, Spend
Money batches through ExpenseSyncQueue, receipts through AttachmentsQueue. The fixtures below are imported by the
conftest of tests/integration/sync_expenses and tests/integration/attachments."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import pytest

from emulators.ledger import Counterparty, EventBridgePublisher, LedgerEmulator, ReceiptSpec
from emulators.xero import XeroEmulator
from local.api_gateway import GatewayResponse, HttpApi
from local.authorizer import DevTokenAuthority
from local.event_sources import BatchOutcome, SqsEventSourceMapping
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from local.stack import LEDGER_BUS
from local.template import Template
from tests.support.integration_stack import (
    aws_on_moto,
    local_template,
    serving,
    xeros_specification_allowed_every_request,
)
from tests.support.moto_events import MotoEvents
from tests.support.xero_sessions import connect
from xerosync import aws as xerosync_aws
from xerosync.clock import iso, utc_now
from xerosync.ledger.models import LedgerTransaction
from xerosync.lifecycle import new_cold_start
from xerosync.settings import get_settings
from xerosync.store.feeds import FeedRecord, FeedStatus, FeedStore
from xerosync.sync_expenses import wiring
from xerosync.sync_expenses.state_machine import apply_ledger
from xerosync.sync_expenses.store import ExpenseStore, ReferenceDataStore
from xerosync.sync_expenses.worker import SpendMoneyWorker
from xerosync.xero.client import XeroClient, build_xero_client
from xerosync.xero.session import XeroSession
from xerosync.xero.transport import RetryPolicy

# The fixtures the conftest of each folder in this world takes (``from tests.integration.expense_world import *``).
__all__ = ["_a_clean_start_and_requests_xeros_specification_allows", "aws", "gateway", "ledger", "ledger_events",
           "runtime", "template", "world", "xero", "xero_client"]

# The template's resources, the emulators and the gateway are built once per test module: provisioning moto
# and starting the emulators costs about a second, and these tests keep apart by themselves instead (every
# test has its own businesses and Xero organisations, and starts with empty queues).
MODULE = "module"


@pytest.fixture(scope=MODULE)
def xero() -> Iterator[XeroEmulator]:
    with serving(XeroEmulator()) as emulator:
        yield emulator


@pytest.fixture(scope=MODULE)
def ledger_events() -> MotoEvents:
    return MotoEvents()


@pytest.fixture(scope=MODULE)
def ledger(ledger_events: MotoEvents) -> Iterator[LedgerEmulator]:
    publisher = EventBridgePublisher(ledger_events, LEDGER_BUS)  # type: ignore[arg-type]
    with serving(LedgerEmulator(event_publisher=publisher)) as emulator:
        yield emulator


@pytest.fixture(scope=MODULE)
def template(xero: XeroEmulator, ledger: LedgerEmulator) -> Template:
    return local_template(xero_url=xero.base_url, ledger_url=ledger.base_url)


@pytest.fixture(scope=MODULE)
def aws(template: Template) -> Iterator[Provisioned]:
    with pytest.MonkeyPatch.context() as patch, aws_on_moto(template, patch) as provisioned:
        yield provisioned


@pytest.fixture(scope=MODULE)
def runtime(aws: Provisioned) -> LambdaRuntime:
    return LambdaRuntime(aws.template)


@pytest.fixture(scope=MODULE)
def gateway(aws: Provisioned, runtime: LambdaRuntime, authority: DevTokenAuthority) -> Iterator[HttpApi]:
    api = HttpApi(aws.template, runtime, authority)
    yield api
    api.stop()


@pytest.fixture(scope=MODULE)
def xero_client(aws: Provisioned) -> Iterator[XeroClient]:
    """The functions' Xero client, with retries that back off in milliseconds so faults stay fast."""
    client = build_xero_client(get_settings(), retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wiring, "get_xero_client", lambda: client)
        yield client


@pytest.fixture(autouse=True)
def _a_clean_start_and_requests_xeros_specification_allows(xero: XeroEmulator, aws: Provisioned) -> Iterator[None]:
    """Each test starts a new cold start with empty queues and no emulator faults, and may send Xero only what
    its OpenAPI files allow."""
    new_cold_start()
    sqs = boto3.client("sqs")
    for queue in ("LedgerEventsQueue", "ExpenseSyncQueue", "AttachmentsQueue", "FeedSyncQueue"):
        _empty(sqs, aws.queue_url(queue))  # (moto, like SQS, allows one PurgeQueue a minute)
    xero.clear_faults()
    xero.clear_spec_violations()
    xero.clear_request_log()
    yield
    new_cold_start()
    xeros_specification_allowed_every_request(xero)


def _empty(sqs: Any, queue_url: str) -> None:
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])


class ApiUser:
    def __init__(self, gateway: HttpApi, token: str, plan: Callable[[], object] | None = None) -> None:
        self.gateway = gateway
        self.token = token
        self.plan = plan  # the worker taking a started job's plan message

    def call(self, method: str, path: str, body: Any = None, *, query: str = "",
             headers: dict[str, str] | None = None) -> GatewayResponse:
        sent = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})}
        return self.gateway.handle(method, path, headers=sent, query=query,
                                   body=json.dumps(body) if body is not None else b"")

    def ok(self, method: str, path: str, body: Any = None, *, query: str = "", status: int = 200) -> Any:
        response = self.call(method, path, body, query=query)
        assert response.status == status, (response.status, response.body[:600])
        return response.json()

    def pending(self, **filters: str) -> list[dict[str, Any]]:
        return self.tab("pending", **filters)

    def tab(self, tab: str, **filters: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = "&".join([f"tab={tab}", "limit=200", *(f"{k}={v}" for k, v in filters.items()),
                              *([f"cursor={cursor}"] if cursor else [])])
            page = self.ok("GET", "/v1/expenses", query=query)
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def sync(self, transaction_ids: list[str], status: int = 202, *, plan: bool = True) -> dict[str, Any]:
        """Start a sync; with ``plan``, the worker then takes the job's plan message (the first in its queue when
        a test starts a job), which marks the expenses and sends the batches."""
        started = dict(self.ok("POST", "/v1/expenses/sync-jobs", {"transaction_ids": transaction_ids}, status=status))
        if plan and status == 202 and self.plan is not None:
            self.plan()
        return started


@dataclass
class Business:
    business_id: str
    tenant_id: str
    accounts: dict[str, str] = field(default_factory=dict)  # currency -> ledger account id
    xero_banks: dict[str, str] = field(default_factory=dict)  # currency -> Xero bank AccountID


@dataclass
class World:
    aws: Provisioned
    gateway: HttpApi
    authority: DevTokenAuthority
    runtime: LambdaRuntime
    xero: XeroEmulator
    ledger: LedgerEmulator
    client: XeroClient
    ledger_events: MotoEvents

    @property
    def table(self) -> Any:
        return xerosync_aws.table(self.aws.refs["MainTable"])

    # ------------------------------------------------------------------ people
    def user(self, business_id: str, role: str = "Finance", user_id: str = "u_fiona") -> ApiUser:
        return ApiUser(self.gateway, self.authority.mint(business_id=business_id, user_id=user_id, role=role),
                       plan=lambda: self.mapping("SyncExpensesWorkerFunction").poll_once())

    # ------------------------------------------------------------------ set-up the connect issue provides
    def business(self, country: str = "SG", currencies: tuple[str, ...] = ("HKD",), *, link: bool = True,
                 **organisation: Any) -> Business:
        business_id = self.ledger.create_business(country).business_id
        tenant = self.xero.seed_organisation(**organisation)
        connect(self.client, self.xero, business_id, tenant)
        business = Business(business_id, tenant)
        for currency in currencies:
            account = self.ledger.create_account(business_id, currency, name=f"{currency} Operating")
            business.accounts[currency] = account.account_id
            bank = self.xero_bank(tenant, currency)
            if bank:
                business.xero_banks[currency] = bank
            if link and bank:
                self.link(business, currency, bank)
        return business

    def xero_bank(self, tenant_id: str, currency: str) -> str | None:
        return next((a["AccountID"] for a in self.xero.accounts(tenant_id)
                     if a["Type"] == "BANK" and a.get("CurrencyCode") == currency), None)

    def map_categories(self, business: Business, **codes: str) -> None:
        """Map bank spend categories to Xero accounts by code, as Fiona does on the mapping page."""
        self.user(business.business_id).ok("PUT", "/v1/expenses/mappings", {"mappings": [
            {"category": category, "xero_account_id": self.account_id(business.tenant_id, code)}
            for category, code in codes.items()]})

    def mapped_business(self) -> tuple[Business, ApiUser]:
        """A connected business with a linked HKD account whose travel payments go to Xero's 493."""
        business = self.business()
        self.map_categories(business, travel="493")
        return business, self.user(business.business_id)

    def link(self, business: Business, currency: str, xero_account_id: str) -> None:
        now = iso(utc_now(self.client.clock))
        FeedStore(self.table).save(FeedRecord(
            business_id=business.business_id, account_id=business.accounts[currency], currency=currency,
            account_number="0123456789", account_name=f"{currency} Operating", tenant_id=business.tenant_id,
            generation=self.client.connections.get(business.business_id).generation,  # type: ignore[union-attr]
            feed_connection_id=f"feed-{currency}", xero_account_id=xero_account_id, status=FeedStatus.ACTIVE,
            linked_by="u_fiona", linked_at=now))

    def account_id(self, tenant_id: str, code: str) -> str:
        return str(next(a["AccountID"] for a in self.xero.accounts(tenant_id) if a.get("Code") == code))

    # ------------------------------------------------------------------ the ledger
    def pay(self, business: Business, amount: str | Decimal = "100.00", *, currency: str = "HKD",
            category: str | None = "travel", payee: str = "Harbour Taxi", reference: str = "INV-1",
            description: str = "Taxi to client", receipts: tuple[ReceiptSpec, ...] = (), pump: bool = True,
            transaction_type: str = "TRANSFER") -> str:
        txn = self.ledger.post_transaction(
            business.accounts[currency], amount, "DEBIT", counterparty=Counterparty(payee, "998877"),
            reference=reference, description=description, spend_category=category, attachments=receipts,
            type=transaction_type)
        if pump:
            self.pump_events()
        return str(txn.transaction_id)

    def seed_expenses(self, business: Business, count: int, *, category: str = "travel") -> list[str]:
        """``count`` payments in the ledger and their expenses, written as the event consumer writes them but
        without the events' round trip (for tests about what happens after)."""
        self.ledger_events.muted = True
        try:
            posted = [self.ledger.post_transaction(business.accounts["HKD"], f"{n + 10}.00", "DEBIT",
                                                   counterparty=Counterparty(f"Payee {n % 5}", "1"),
                                                   spend_category=category, description=f"Expense {n}")
                      for n in range(count)]
        finally:
            self.ledger_events.muted = False
        now = iso(utc_now(self.client.clock))
        records = [apply_ledger(None, LedgerTransaction.model_validate(t.to_json()), now) for t in posted]
        assert all(ExpenseStore(self.table).save_many([r for r in records if r is not None]))
        return [t.transaction_id for t in posted]

    def mapping(self, function: str) -> SqsEventSourceMapping:
        source = next(s for s in self.aws.template.sqs_sources() if s.function == function)
        return SqsEventSourceMapping(source, self.aws.template, self.runtime, boto3.client("sqs"),
                                     self.aws.queue_url(source.queue))

    def pump(self, function: str, limit: int = 1000) -> list[BatchOutcome]:
        mapping = self.mapping(function)
        outcomes = []
        for _ in range(limit):
            outcome = mapping.poll_once()
            if outcome is None:
                break
            outcomes.append(outcome)
        return outcomes

    def pump_events(self) -> list[BatchOutcome]:
        return self.pump("LedgerEventsFunction")

    def pump_worker(self) -> list[BatchOutcome]:
        return self.pump("SyncExpensesWorkerFunction")

    def queue_depth(self, logical_id: str) -> int:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.aws.queue_url(logical_id), AttributeNames=["All"])["Attributes"]
        return sum(int(attributes[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                                "ApproximateNumberOfMessagesDelayed"))

    def age_reference_data(self, tenant_id: str, seconds: float) -> None:
        """Make the cached snapshot look ``seconds`` older (time passing, without waiting for it)."""
        store = ReferenceDataStore(self.table)
        snapshot = store.get(tenant_id)
        assert snapshot is not None
        store.put(snapshot.model_copy(update={"refreshed_at": snapshot.refreshed_at - seconds}))

    def spend_money(self, tenant_id: str) -> list[dict[str, Any]]:
        return [t for t in self.xero.bank_transactions(tenant_id) if t.get("Status") != "DELETED"]


@contextmanager
def worker_dies_when_xero_answers(error: BaseException, *, times: int | None = None) -> Iterator[list[int]]:
    """The Spend Money worker dies right after Xero answered a batch, before it records anything (``times``
    times, or every time); yields the size of each answer it died on."""
    original = SpendMoneyWorker._settle
    died: list[int] = []

    def settle(self: SpendMoneyWorker, decided: list[Any], tally: Any) -> None:
        if decided and (times is None or len(died) < times):
            died.append(len(decided))
            raise error
        original(self, decided, tally)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SpendMoneyWorker, "_settle", settle)
        yield died


@contextmanager
def killed_once_xero_took(method: str) -> Iterator[None]:
    """The delivery run inside is killed at its timeout right after ``XeroSession.<method>`` returned: what it sent
    is in Xero, and nothing after the call ran."""
    original = getattr(XeroSession, method)

    def lands_then_killed(self: XeroSession, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise SystemExit("the Lambda was killed at its timeout")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(XeroSession, method, lands_then_killed)
        with pytest.raises(SystemExit):
            yield


@pytest.fixture
def world(aws: Provisioned, gateway: HttpApi, authority: DevTokenAuthority, runtime: LambdaRuntime,
          xero: XeroEmulator, ledger: LedgerEmulator, xero_client: XeroClient, ledger_events: MotoEvents) -> World:
    return World(aws, gateway, authority, runtime, xero, ledger, xero_client, ledger_events)
