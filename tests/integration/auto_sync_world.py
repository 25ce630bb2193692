"""Auto-sync driven as its users and AWS drive it (the schedule, the queues' messages, the HTTP route), and what
Xero and the stores hold: the auto-sync integration tests' world (their fixtures are in the folder's conftest)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3

from emulators.ledger import LedgerEmulator
from emulators.xero import XeroEmulator
from local.api_gateway import GatewayResponse, HttpApi
from local.authorizer import DevTokenAuthority
from local.event_sources import Scheduler, SqsEventSourceMapping, scheduled_event
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned
from tests.support.xero_sessions import connect
from xerosync.auto_sync.statements import BookingCalendar
from xerosync.ledger.client import LedgerClient
from xerosync.ledger.models import LedgerAccount, LedgerTransaction
from xerosync.store.connections import ConnectionStore
from xerosync.store.feeds import FeedRecord, FeedStatus, FeedStore
from xerosync.xero.bank_feeds import FeedConnection
from xerosync.xero.client import XeroClient
from xerosync.xero.session import idempotency_key


class AutoSync:
    """Drives auto-sync as its users and AWS do, and reads what Xero and the stores hold."""

    def __init__(self, aws: Provisioned, runtime: LambdaRuntime, gateway: HttpApi, authority: DevTokenAuthority,
                 client: XeroClient, xero: XeroEmulator, ledger: LedgerEmulator) -> None:
        self.aws, self.runtime, self.gateway, self.authority = aws, runtime, gateway, authority
        self.client, self.xero, self.ledger = client, xero, ledger
        self.ledger_client = LedgerClient(ledger.base_url)
        table = boto3.resource("dynamodb").Table(aws.refs["MainTable"])
        self.feeds = FeedStore(table)
        self.connections = ConnectionStore(table)
        self.scheduler = Scheduler(aws.template, runtime)
        self.sqs = boto3.client("sqs")
        self.worker = self._mapping("AutoSyncWorkerFunction")
        self.continuations = self._mapping("AutoSyncDispatcherFunction")

    def _mapping(self, function: str) -> SqsEventSourceMapping:
        source = next(s for s in self.aws.template.sqs_sources() if s.function == function)
        return SqsEventSourceMapping(source, self.aws.template, self.runtime, self.sqs,
                                     self.aws.queue_url(source.queue))

    # ------------------------------------------------------------------ given
    def connect(self, business_id: str, tenant_id: str) -> None:
        connect(self.client, self.xero, business_id, tenant_id)

    def connected_account(self, business_id: str) -> tuple[str, LedgerAccount]:
        """A new organisation, the business connected to it, and a new HKD account of the business."""
        tenant = self.xero.seed_organisation()
        self.connect(business_id, tenant)
        return tenant, self.account(business_id)

    def post_days_ago(self, account_id: str, days_ago: int, amount: str = "10.00", direction: str = "CREDIT",
                      **details: Any) -> str:
        posted_at = int((datetime.now(UTC) - timedelta(days=days_ago)).timestamp())
        return str(self.ledger.post_transaction(account_id, amount, direction, posted_at=posted_at,
                                                **details).transaction_id)

    def account(self, business_id: str, currency: str = "HKD") -> LedgerAccount:
        if business_id not in {b.business_id for b in self.ledger.list_businesses()}:
            self.ledger.create_business("HK", business_id=business_id)
        created = self.ledger.create_account(business_id, currency)
        return self.ledger_client.account(created.account_id)

    def link(self, business_id: str, account: LedgerAccount, *, backfill_from: date | None = None) -> FeedRecord:
        """What connect's link does: a Xero feed connection (PENDING at first) and the feed record."""
        record = self.connections.get(business_id)
        assert record is not None
        session = self.client.session(business_id)
        [created] = session.create_feed_connections([FeedConnection(
            account_token=account.account_id, account_number=account.account_number,
            account_name=account.name[:30], account_type="BANK", currency=account.currency)],
            key=idempotency_key(record.tenant_id, "feed-connection", account.account_id, 0))
        assert created.status == "PENDING", created
        return self.feeds.save(FeedRecord(
            business_id=business_id, account_id=account.account_id, currency=account.currency,
            account_number=account.account_number, account_name=account.name, tenant_id=record.tenant_id,
            generation=record.generation, feed_connection_id=created.id, status=FeedStatus.PENDING, linked_by="u_fiona",
            linked_at=datetime.now(UTC).isoformat(), backfill_from=backfill_from or datetime.now(UTC).date()))

    # ------------------------------------------------------------------ when
    def fire(self, when: datetime | None = None) -> Any:
        """The 3-hour schedule fires (``when``: the time EventBridge stamps on that window's event)."""
        if when is None:
            return self.scheduler.fire("EveryThreeHours")
        schedule = self.scheduler.schedules["EveryThreeHours"]
        return self.runtime.invoke(schedule.function, scheduled_event(self.scheduler.rule_arn(schedule), when))

    def pump(self, timeout: float = 30.0) -> int:
        """Let the event-source mappings work until the dispatch and feed-sync queues are empty."""
        deadline, batches = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            progressed = False
            for mapping in (self.continuations, self.worker):
                if mapping.poll_once() is not None:
                    progressed, batches = True, batches + 1
            if not progressed:
                if self.depth("FeedSyncQueue") == 0 and self.depth("DispatchQueue") == 0:
                    return batches
                time.sleep(0.1)  # a message waits out its visibility (a 429's Retry-After, a failure)
        raise TimeoutError("auto-sync queues did not drain")

    def depth(self, queue: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.aws.queue_url(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return sum(int(v) for v in attributes.values())

    def queued(self) -> list[dict[str, Any]]:
        """The feed-sync messages waiting, without consuming them."""
        messages = self.sqs.receive_message(
            QueueUrl=self.aws.queue_url("FeedSyncQueue"), MaxNumberOfMessages=10, VisibilityTimeout=0,
            MessageSystemAttributeNames=["All"]).get("Messages", [])
        return [{**json.loads(m["Body"]), "group": m["Attributes"]["MessageGroupId"],
                 "dedup": m["Attributes"]["MessageDeduplicationId"]} for m in messages]

    def call(self, business_id: str, method: str, path: str, role: str = "Finance") -> GatewayResponse:
        token = self.authority.mint(business_id=business_id, user_id="u_fiona", role=role)
        return self.gateway.handle(method, path, headers={"Authorization": f"Bearer {token}"}, body=b"")

    # ------------------------------------------------------------------ then
    def feed(self, record: FeedRecord) -> FeedRecord:
        found = self.feeds.get(record.business_id, record.account_id)
        assert found is not None
        return found

    def ledger_lines(self, record: FeedRecord, posted_from: date | None = None) -> list[LedgerTransaction]:
        """The account's transactions from a booking day on (the bank's day, as statements date them)."""
        calendar = BookingCalendar()
        return [t for t in self.ledger_client.iter_transactions(record.account_id)
                if posted_from is None or calendar.day_of(t.posted_at) >= posted_from]

    def xero_lines(self, record: FeedRecord) -> list[str]:
        return [line["transactionId"] for line in self.xero.statement_lines(record.tenant_id,
                                                                             str(record.feed_connection_id))]

    def delivered_statements(self, record: FeedRecord) -> list[dict[str, Any]]:
        return [s for s in self.xero.statements(record.tenant_id)
                if s["feedConnectionId"] == str(record.feed_connection_id).lower() and s["status"] == "DELIVERED"]


def signed_balance(balance: dict[str, Any]) -> Decimal:
    amount = Decimal(str(balance["amount"]))
    return amount if balance["creditDebitIndicator"] == "CREDIT" else -amount
