"""EventBridge as the ledger emulator sees it in the integration tests: moto's, through a client made on first use
(inside the test's mock). ``muted`` drops the events: for tests that need many payments and test something else
than their arrival, or that play an outage between the ledger and the product."""

from __future__ import annotations

from typing import Any

import boto3


class MotoEvents:
    def __init__(self) -> None:
        self._client: Any = None
        self.muted = False

    def put_events(self, **kwargs: Any) -> Any:
        if self.muted:
            return {"FailedEntryCount": 0, "Entries": []}
        if self._client is None:
            self._client = boto3.client("events")
        return self._client.put_events(**kwargs)
