"""OAuth ``state``: random, single use, bound to the business and the user, valid 10 minutes; it keeps the
sign-in's PKCE verifier, which only the token exchange of this very sign-in uses (docs/architecture.md)."""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from xerosync.errors import InvalidRequest
from xerosync.store.conditions import condition_failed
from xerosync.store.keys import oauth_state_key

STATE_LIFETIME_SECONDS = 600
RESTART = "Start connecting to Xero again from Accounting > Xero."


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
        """Use the state once and return its PKCE verifier; refuse an unknown, expired, replayed or foreign one
        with its reason."""
        try:
            updated = self.table.update_item(
                Key=oauth_state_key(state), UpdateExpression="SET used_at = :now REMOVE code_verifier",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used_at) AND "
                                    "business_id = :b AND user_id = :u AND expires_at > :now",
                ExpressionAttributeValues={":now": int(now), ":b": business_id, ":u": user_id},
                ReturnValues="ALL_OLD")
            return str(updated["Attributes"]["code_verifier"])
        except ClientError as error:
            if not condition_failed(error):
                raise
        item = self.table.get_item(Key=oauth_state_key(state), ConsistentRead=True).get("Item")
        if item is None:
            raise InvalidRequest("This Xero sign-in is not one we started.", action=RESTART, code="state_unknown")
        if item["business_id"] != business_id or item["user_id"] != user_id:
            raise InvalidRequest("This Xero sign-in was started by another user or business.", action=RESTART,
                                 code="state_mismatch")
        if "used_at" in item:
            raise InvalidRequest("This Xero sign-in has already been used.", action=RESTART, code="state_replayed")
        raise InvalidRequest("This Xero sign-in took longer than 10 minutes and has expired.", action=RESTART,
                             code="state_expired")
