"""One clock for the whole stack: the functions, the Xero and ledger emulators and SQS's timing read the clock
the stack is given (the soak's virtual clock), so time moves for all of them together and only when told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.time_control import ManualClock
from local.stack import DevStack, DevStackConfig

pytestmark = pytest.mark.e2e

T0 = 1_772_409_600.0  # 2026-03-02 00:00 UTC


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture(scope="module")
def stack(clock: ManualClock) -> Iterator[DevStack]:
    with DevStack(DevStackConfig(log_level="ERROR", clock=clock, concurrency=0, visibility_timeout=None)) as running:
        yield running


def test_the_functions_and_the_emulators_read_the_stacks_clock(stack: DevStack, clock: ManualClock) -> None:
    token = stack.token(business_id="biz_clock", user_id="u_1", role="Admin")
    assert stack.api("GET", "/v1/health", token=token).json()["checked_at"] == "2026-03-02T00:00:00Z"
    clock.advance(3600)
    assert stack.api("GET", "/v1/health", token=token).json()["checked_at"] == "2026-03-02T01:00:00Z"
    assert stack.xero.now() == T0 + 3600
    account = stack.ledger.add_sample_account("HKD", transactions=1)
    [posted] = stack.ledger.list_transactions(account.account_id).transactions
    assert posted.to_json()["posted_at"] == "2026-03-02T01:00:00Z"


def test_sqs_hides_a_failed_message_for_the_queues_visibility_timeout_on_that_clock(
        stack: DevStack, clock: ManualClock) -> None:
    # Given a Spend Money batch whose consumer fails it (the template's 720-second visibility, kept as deployed)
    mapping = stack.mappings["SyncExpensesWorkerFunction"]
    assert stack.runtime is not None
    stack.runtime.override("SyncExpensesWorkerFunction", lambda event, context: {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]} for r in event["Records"]]})
    stack.sqs().send_message(QueueUrl=mapping.queue_url, MessageBody="{}", MessageGroupId="g",
                             MessageDeduplicationId="clock-1")
    failed = mapping.poll_once()
    assert failed is not None and failed.failed == 1
    # Then it stays hidden however long the test takes, until the clock passes the visibility timeout
    assert mapping.poll_once() is None
    clock.advance(719)
    assert mapping.poll_once() is None
    clock.advance(2)
    again = mapping.poll_once()
    assert again is not None and again.received == 1
