"""A consent that covered several organisations waits (10 minutes) for the user to pick one.

The tokens of that consent are kept sealed in the tokens table under the business's pending key, never
in the main table.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from xerosync.store.keys import pending_selection_key
from xerosync.xero.models import TokenSet, XeroConnection
from xerosync.xero.tokens import TokenVault


class PendingSelection(BaseModel):
    business_id: str
    user_id: str
    organisations: list[XeroConnection]
    expires_at: float


class PendingSelectionStore:
    def __init__(self, table: Any, vault: TokenVault) -> None:
        self.table = table
        self.vault = vault

    @staticmethod
    def _vault_key(business_id: str) -> str:
        return f"{business_id}#pending-selection"

    def put(self, selection: PendingSelection, tokens: TokenSet) -> None:
        self.vault.save(self._vault_key(selection.business_id), tokens, expected_version=None)
        self.table.put_item(Item={**pending_selection_key(selection.business_id),
                                  **selection.model_dump(mode="json", by_alias=True),
                                  "expires_at": int(selection.expires_at), "ttl": int(selection.expires_at) + 3600})

    def take(self, business_id: str, user_id: str, now: float | None = None
             ) -> tuple[PendingSelection, TokenSet] | None:
        """The waiting choice of this user, once: it is removed whether or not it is still valid."""
        item = self.table.get_item(Key=pending_selection_key(business_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        self.table.delete_item(Key=pending_selection_key(business_id))
        stored = self.vault.load(self._vault_key(business_id))
        self.vault.wipe(self._vault_key(business_id))
        now = time.time() if now is None else now
        selection = PendingSelection.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk", "ttl")})
        if selection.user_id != user_id or selection.expires_at < now or stored is None:
            return None
        return selection, stored.tokens
