"""Queue consumer of FeedEventsQueue (standard queue, a second target of the ledger's events rule): each posting
on a linked account asks the fast lane for a feed sync of its Xero organisation (``xerosync.auto_sync.fast_lane``).

Events come at least once, late and out of order; none of that matters here: a posting only asks for a sync,
and the worker reads the ledger from each feed's cursor. A batch asks once per organisation. A record that
fails goes back to the queue on its own (partial batch response) and, after 5 receives, to the alarmed
dead-letter queue; the 3-hour sweep carries its lines meanwhile.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

# Before anything loads pydantic: Powertools' batch utility builds its parser's event models (two dozen pydantic
# models this function never uses) when it finds pydantic loaded (docs/architecture.md, "Cold start").
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync.auto_sync.fast_lane import POSTED, Outcome, PostingEvent, log_decision
from xerosync.auto_sync.wiring import get_fast_lane
from xerosync.observability import instrument, logger, metrics
from xerosync.queue import consume

LEDGER_SOURCE = "bank.ledger"
_METRICS = {Outcome.SENT: "FastLaneSyncsSent", Outcome.DEFERRED: "FastLaneSyncsDeferred",
            Outcome.COVERED: "FastLanePostingsCovered", Outcome.STOOD_DOWN: "FastLaneStoodDown"}


@instrument()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    lane = get_fast_lane()
    handled: set[str] = set()  # organisations this batch already asked for: a sync after now covers them
    outcomes: Counter[Outcome] = Counter()
    slowed: Counter[str] = Counter()  # postings that met a stretched window or a stand-down, by what slowed it
    longest = 0

    def ask(record: SQSRecord) -> None:
        nonlocal longest
        envelope = json.loads(record.body)
        if envelope.get("source") != LEDGER_SOURCE or envelope.get("detail-type") != POSTED:
            return  # a change of an existing transaction adds no statement line
        decision = lane.on_posting(PostingEvent.model_validate(envelope["detail"]), handled.__contains__)
        if decision.tenant_id:
            handled.add(decision.tenant_id)
        outcomes[decision.outcome] += 1
        if decision.slowed_by:
            slowed[decision.slowed_by] += 1
            longest = max(longest, decision.window_seconds)
        log_decision(decision)

    response = consume(event, context, ask)
    for outcome, name in _METRICS.items():
        if outcomes[outcome]:
            metrics.add_metric(name=name, unit="Count", value=outcomes[outcome])
    for reason, count in slowed.items():
        # A budget ran short: the lane's window grew toward the 3-hour cadence (or it stood down). The reason is
        # the metric's dimension: feeds-budget, post-budget or app-minute.
        with single_metric(name="FastLaneSlowed", unit=MetricUnit.Count, value=count,
                           default_dimensions={"reason": reason}):
            pass
    if slowed:
        metrics.add_metric(name="FastLaneWindowSeconds", unit="Seconds", value=longest)
    logger.debug("postings handled", extra={"outcomes": {k.value: v for k, v in outcomes.items()}})
    return response
