"""The time an HTTP request has left to answer (docs/http-api.md, "Time").

API Gateway waits 30 seconds for a function's answer and Lambda ends an HTTP function at its timeout (29 s,
``template.yaml``), mid-work and with no answer of the product's own. So every HTTP request runs against a
budget: ``http.install`` opens one for each request (``answer_within``), from the invocation's remaining time
and API Gateway's 30 seconds, less the time kept back to answer. Whatever waits or retries on the request's
path asks how much is left first:

- a Xero call (``xero/transport.py``) is not started, nor retried, without ``XERO_CALL_SECONDS`` left, and its
  read timeout is cut to what is left; the rate governor and a token refresh another Lambda holds are waited for
  only while the budget lasts (``xero/governor.py``, ``xero/tokens.py``);
- the SDK does not retry an AWS call whose backoff would outlast the budget, and no AWS call starts once it is
  spent (``aws.py``);
- the ledger's client cuts its read timeout and stops retrying the same way (``ledger/client.py``).

What could not be done in time is answered 503 ``temporarily_unavailable`` with ``Retry-After``. Queue and
schedule functions open no budget: their waits are as before (each has its own time check where it loops). Work a
request hands to threads of its own (``sync_expenses.store.in_parallel``: a sync's expense writes, which go together)
runs outside the budget, under the SDK's own policy.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from xerosync.clock import Clock, process_clock

GATEWAY_SECONDS = 30.0  # API Gateway's integration timeout for an HTTP API
ANSWER_SECONDS = 2.0  # kept back from the budget: the error answer, its log line, the metrics' flush
XERO_CALL_SECONDS = 2.0  # the least worth starting a Xero call with (an answer, and a read timeout that means it)


class Budget(NamedTuple):
    clock: Clock
    ends_at: float  # on ``clock``

    def left(self) -> float:
        return self.ends_at - self.clock.time()


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("xerosync_request_budget", default=None)


def current() -> Budget | None:
    """The running request's budget; None outside an HTTP request (a queue or schedule function)."""
    return _budget.get()


def left() -> float | None:
    """Seconds the running request has left to work; None when no request runs."""
    budget = _budget.get()
    return None if budget is None else budget.left()


def allows(seconds: float) -> bool:
    """Whether ``seconds`` more of work or waiting fit in the running request's budget (always, outside one)."""
    remaining = left()
    return remaining is None or remaining >= seconds


def ends_by(moment: float) -> float:
    """``moment``, or the budget's end if that comes first (for a loop that waits until ``moment``)."""
    budget = _budget.get()
    return moment if budget is None else min(moment, budget.ends_at)


@contextmanager
def answer_within(remaining_seconds: float | None, clock: Clock | None = None) -> Iterator[Budget]:
    """A budget for the block: the invocation's ``remaining_seconds`` (Lambda's context; None when unknown) or
    API Gateway's wait, whichever is shorter, less ``ANSWER_SECONDS``."""
    clock = clock or process_clock()
    seconds = GATEWAY_SECONDS if remaining_seconds is None else min(remaining_seconds, GATEWAY_SECONDS)
    budget = Budget(clock, clock.time() + seconds - ANSWER_SECONDS)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)
