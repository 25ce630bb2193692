"""One job per sync request, even when it is sent twice (a double click): Powertools idempotency on the
IdempotencyTable.

The request's fingerprint is the business, the selected expenses with their content revisions and the number
of syncs that ended for each, and the client's ``Idempotency-Key`` header when it sends one. The same
selection sent again within the window returns the first job; a selection whose expenses changed meanwhile
(edited, changed in the bank) or whose last sync ended since (a retry after an error) is a new request. A
second request that arrives while the first is still being created waits for its answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import deadline
from xerosync.errors import Conflict

KEY_PREFIX = "sync-expenses-job"
# With the client's own key a retry is recognised for longer: the key names one click, not a selection.
CLIENT_KEY_WINDOW_SECONDS = 3600
_WAIT_STEP_SECONDS = 0.2
_WAIT_LIMIT_SECONDS = 10.0
_REST_OF_REQUEST_SECONDS = 3.0  # the request stops waiting with this much of its time left (xerosync.deadline)


class SyncRequestDeduplicator:
    def __init__(self, table_name: str, dynamodb_client: Any, window_seconds: int,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.table_name = table_name
        self.client = dynamodb_client
        self.window_seconds = window_seconds
        self.sleep = sleep

    def once(self, fingerprint: dict[str, Any], create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        window = CLIENT_KEY_WINDOW_SECONDS if fingerprint.get("client_key") else self.window_seconds
        config = IdempotencyConfig(expires_after_seconds=window)
        if deadline.current() is not None:
            # An invocation that dies mid-way frees the key when its time is up, not after the whole window.
            config.register_lambda_context(cast(LambdaContext, _InvocationTimeLeft()))
        persistence = DynamoDBPersistenceLayer(table_name=self.table_name, boto3_client=self.client)

        @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config,
                             key_prefix=KEY_PREFIX)
        def start(request: dict[str, Any]) -> dict[str, Any]:
            return create()

        waited = 0.0
        while True:
            try:
                return dict(start(request=fingerprint))
            except IdempotencyAlreadyInProgressError:
                if waited >= _WAIT_LIMIT_SECONDS or not deadline.allows(_WAIT_STEP_SECONDS + _REST_OF_REQUEST_SECONDS):
                    raise Conflict("The same sync is already being started.",
                                   action="Wait a few seconds, then look at the Synced tab or the sync's progress.",
                                   code="sync_already_starting") from None
                self.sleep(_WAIT_STEP_SECONDS)
                waited += _WAIT_STEP_SECONDS


class _InvocationTimeLeft:
    """All Powertools' idempotency reads of a Lambda context: the invocation's time left. The HTTP request's budget
    (``xerosync.deadline``) ends ``ANSWER_SECONDS`` before the invocation does, so the use case needs no context."""

    def get_remaining_time_in_millis(self) -> int:
        return int(((deadline.left() or 0.0) + deadline.ANSWER_SECONDS) * 1000)
