"""What the user is told when a sign-in's OAuth ``state`` is refused (the state itself: ``store/oauth_states.py``)."""

from __future__ import annotations

from xerosync.errors import InvalidRequest
from xerosync.store.oauth_states import StateProblem

RESTART = "Start connecting to Xero again from Accounting > Xero."

_REFUSALS = {
    StateProblem.UNKNOWN: "This Xero sign-in is not one we started.",
    StateProblem.MISMATCH: "This Xero sign-in was started by another user or business.",
    StateProblem.REPLAYED: "This Xero sign-in has already been used.",
    StateProblem.EXPIRED: "This Xero sign-in took longer than 10 minutes and has expired.",
}


def state_refused(problem: StateProblem) -> InvalidRequest:
    return InvalidRequest(_REFUSALS[problem], action=RESTART, code=f"state_{problem.value}")
