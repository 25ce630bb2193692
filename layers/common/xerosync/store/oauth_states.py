"""OAuth ``state``: random, single use, bound to the business and the user, valid 10 minutes; it keeps the
sign-in's PKCE verifier, which only the token exchange of this very sign-in uses (docs/architecture.md).

One item per state in the main table (``OAUTHSTATE#<state>``), with a TTL a day after it expires. The connect
feature uses the store through its ``OAuthStates`` port and words the refusals itself (``connect/states.py``).
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any

from xerosync.store.conditions import update_if_returning
from xerosync.store.keys import oauth_state_key

STATE_LIFETIME_SECONDS = 600


class StateProblem(StrEnum):
    UNKNOWN = "unknown"  # not a state this product issued (or long gone)
    MISMATCH = "mismatch"  # issued to another business or user
    REPLAYED = "replayed"  # already used
    EXPIRED = "expired"


class StateRefused(Exception):
    """The state cannot be used, for ``problem``."""

    def __init__(self, problem: StateProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class OAuthStateStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def issue(self, business_id: str, user_id: str, now: float, code_verifier: str) -> tuple[str, float]:
        state = secrets.token_urlsafe(32)
        expires_at = now + STATE_LIFETIME_SECONDS
        self.table.put_item(Item={**oauth_state_key(state), "business_id": business_id, "user_id": user_id,
                                  "code_verifier": code_verifier, "expires_at": int(expires_at),
                                  "ttl": int(expires_at) + 86400},
                            ConditionExpression="attribute_not_exists(pk)")
        return state, expires_at

    def consume(self, state: str, business_id: str, user_id: str, now: float) -> str:
        """Use the state once and return its PKCE verifier; ``StateRefused`` for an unknown, expired, replayed or
        foreign one, with its problem."""
        updated = update_if_returning(
            self.table, Key=oauth_state_key(state), UpdateExpression="SET used_at = :now REMOVE code_verifier",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used_at) AND "
                                "business_id = :b AND user_id = :u AND expires_at > :now",
            ExpressionAttributeValues={":now": int(now), ":b": business_id, ":u": user_id},
            ReturnValues="ALL_OLD")
        if updated is not None:
            return str(updated["Attributes"]["code_verifier"])
        item = self.table.get_item(Key=oauth_state_key(state), ConsistentRead=True).get("Item")
        if item is None:
            raise StateRefused(StateProblem.UNKNOWN)
        if item["business_id"] != business_id or item["user_id"] != user_id:
            raise StateRefused(StateProblem.MISMATCH)
        if "used_at" in item:
            raise StateRefused(StateProblem.REPLAYED)
        raise StateRefused(StateProblem.EXPIRED)
