"""Retry rules: reads and repeatable writes retried with capped jittered backoff; creations never blindly."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from emulators.time_control import ManualClock
from xerosync import deadline
from xerosync.xero.errors import (
    XeroOutOfTime,
    XeroRateLimited,
    XeroServerError,
    XeroUnavailable,
    XeroUncertainOutcome,
    XeroValidationError,
)
from xerosync.xero.transport import RetryPolicy, XeroRequest, XeroTransport


class ScriptedSession(requests.Session):
    """Answers from a script: an int is a status, an exception is raised."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = list(script)
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append({"method": method, "url": url, **kwargs})
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        status, body, headers = step if isinstance(step, tuple) else (step, b"{}", {})
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers.update({"Content-Type": "application/json", "Xero-Correlation-Id": "corr-1", **headers})
        return response


def _transport(script: list[Any]) -> tuple[XeroTransport, ScriptedSession, list[float]]:
    session = ScriptedSession(script)
    waits: list[float] = []
    return XeroTransport(session, retry=RetryPolicy(attempts=4), sleep=waits.append, rng=lambda: 1.0), session, waits


def test_a_read_is_retried_on_5xx_and_timeouts_with_capped_backoff() -> None:
    transport, session, waits = _transport([500, requests.ReadTimeout(), 503, 200])
    assert transport.send(XeroRequest("GET", "https://api.xero.com/x")).status == 200
    assert len(session.sent) == 4
    assert waits == [0.5, 1.0, 2.0]  # full jitter at its ceiling (rng = 1.0)
    assert RetryPolicy().delay(10, lambda: 1.0) == 8.0


def test_a_creation_answered_5xx_is_not_resent_blindly() -> None:
    transport, session, _ = _transport([500, 200])
    with pytest.raises(XeroServerError) as failed:
        transport.send(XeroRequest("PUT", "https://api.xero.com/BankTransactions", json_body={}))
    assert len(session.sent) == 1 and failed.value.correlation_id == "corr-1"


def test_a_creation_whose_answer_was_lost_is_uncertain() -> None:
    transport, session, _ = _transport([requests.ReadTimeout(), 200])
    with pytest.raises(XeroUncertainOutcome):
        transport.send(XeroRequest("PUT", "https://api.xero.com/BankTransactions", json_body={}))
    assert len(session.sent) == 1, "a write whose answer was lost must not be sent again blindly"
    transport, _, _ = _transport([requests.ConnectionError("Connection aborted, RemoteDisconnected")])
    with pytest.raises(XeroUncertainOutcome):
        transport.send(XeroRequest("POST", "https://api.xero.com/Contacts", json_body={}))


def test_a_creation_that_never_left_is_retried() -> None:
    refused = requests.ConnectionError("NewConnectionError: [Errno 111] Connection refused")
    transport, session, _ = _transport([refused, 200])
    assert transport.send(XeroRequest("PUT", "https://api.xero.com/Contacts", json_body={})).status == 200
    assert len(session.sent) == 2


def test_a_repeatable_write_is_retried() -> None:
    transport, session, _ = _transport([502, requests.ReadTimeout(), 200])
    request = XeroRequest("POST", "https://identity.xero.com/connect/token", data=b"x", safe_to_repeat=True)
    assert transport.send(request).status == 200 and len(session.sent) == 3


def test_validation_errors_are_never_retried_and_carry_per_element_messages() -> None:
    body = (b'{"ErrorNumber":10,"Type":"ValidationException","Message":"A validation exception occurred",'
            b'"Elements":[{"ValidationErrors":[{"Message":"Account code \'9\' is not a valid code"}]}]}')
    transport, session, _ = _transport([(400, body, {})])
    with pytest.raises(XeroValidationError) as invalid:
        transport.send(XeroRequest("GET", "https://api.xero.com/x"))
    assert len(session.sent) == 1
    assert invalid.value.elements == [["Account code '9' is not a valid code"]]
    assert invalid.value.problem_type == "ValidationException"


def test_429_is_typed_with_retry_after_and_not_retried() -> None:
    transport, session, _ = _transport([(429, b"", {"Retry-After": "17", "X-Rate-Limit-Problem": "Minute"})])
    with pytest.raises(XeroRateLimited) as limited:
        transport.send(XeroRequest("GET", "https://api.xero.com/x"))
    assert (limited.value.retry_after, limited.value.problem, len(session.sent)) == (17, "minute", 1)


def test_headers_name_the_tenant_and_the_idempotency_key() -> None:
    transport, session, _ = _transport([200])
    transport.send(XeroRequest("PUT", "https://api.xero.com/x", tenant_id="t-1", access_token="tok",
                               json_body={"a": 1}, idempotency_key="k-1", tenant_header="Xero-Tenant-Id"))
    headers = session.sent[0]["headers"]
    assert headers["Xero-Tenant-Id"] == "t-1" and headers["Idempotency-Key"] == "k-1"
    assert headers["Authorization"] == "Bearer tok" and headers["Accept"] == "application/json"
    assert session.sent[0]["data"] == b'{"a":1}'


def test_a_repeatable_keyed_write_gets_a_key_of_its_own_after_a_5xx() -> None:
    # Xero replays a remembered error for the same key, so the retry must not reuse it.
    transport, session, _ = _transport([500, 503, 200])
    transport.send(XeroRequest("POST", "https://api.xero.com/Statements", json_body={}, idempotency_key="stmt-1",
                               safe_to_repeat=True))
    keys = [sent["headers"]["Idempotency-Key"] for sent in session.sent]
    assert keys == ["stmt-1", "stmt-1~retry1", "stmt-1~retry2"]


class _Slow(ScriptedSession):
    """Every request ends at its read timeout, that long later on ``clock``."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__([])
        self.clock = clock

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append({"method": method, "url": url, **kwargs})
        self.clock.advance(kwargs["timeout"][1])
        raise requests.ReadTimeout()


def test_within_an_http_request_xero_is_waited_for_only_while_the_request_can_use_its_answer() -> None:
    clock = ManualClock(start=1_800_000_000)
    session = _Slow(clock)
    transport = XeroTransport(session, retry=RetryPolicy(attempts=4), sleep=clock.sleep, rng=lambda: 1.0,
                              timeout=(3.05, 10.0))
    # A request with 13 s to work: the read waits 10 s, then 0.5 s of backoff and the 2.5 s left
    with deadline.answer_within(13 + deadline.ANSWER_SECONDS, clock), pytest.raises(XeroOutOfTime):
        transport.send(XeroRequest("GET", "https://api.xero.com/x"))
    assert [sent["timeout"][1] for sent in session.sent] == [10.0, 2.5]
    assert clock.time() - 1_800_000_000 == 13
    # No call starts with less than a Xero call needs; outside a request the full policy applies (4 x 10 s)
    with deadline.answer_within(1.5 + deadline.ANSWER_SECONDS, clock), pytest.raises(XeroOutOfTime):
        transport.send(XeroRequest("GET", "https://api.xero.com/x"))
    assert len(session.sent) == 2
    session.sent.clear()
    with pytest.raises(XeroUnavailable) as failed:
        transport.send(XeroRequest("GET", "https://api.xero.com/x"))
    assert not isinstance(failed.value, XeroOutOfTime)
    assert [sent["timeout"][1] for sent in session.sent] == [10.0] * 4
