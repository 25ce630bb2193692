"""Every action a function's role grants is used by some test: the other half of least privilege.

The first half runs around every test (tests/conftest.py): each AWS call a function makes under the local
runner must be allowed by its role. This one can only be judged on the whole suite (`make test`): a subset
of the tests exercises a subset of the code, so on a partial run it skips and says so.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from local.iam import CallRecorder, Grant, ObservedCall, PolicyChecker

REPORT = Path(__file__).resolve().parents[2] / ".local" / "iam-report.txt"

# What AWS does with a function's role on its behalf and the local runner does not play: each is granted
# for that reason alone, and every other grant must be seen used.
PERFORMED_BY_AWS = {
    ("logs:CreateLogStream", None): "Lambda writes the function's log to its own log group",
    ("logs:PutLogEvents", None): "Lambda writes the function's log to its own log group",
    ("xray:PutTraceSegments", None): "Lambda sends the function's traces (tracing is off locally)",
    ("xray:PutTelemetryRecords", None): "Lambda sends the function's traces (tracing is off locally)",
    ("sqs:GetQueueAttributes", None): "Lambda's poller reads the source queue's attributes",
    ("sqs:SendMessage", "DispatchDeadLetterQueue.Arn"): (
        "Lambda's on-failure destination of the dispatcher's scheduled runs (the runner invokes schedules "
        "synchronously and reports the failure to the test instead)"),
}


# Granted for a path of the code that no test drives through the runtime yet: each names the path. Keep this
# list short; the way off it is the test.
NOT_DRIVEN_YET = {
    ("AutoSyncWorkerFunction", "sqs:SendMessage", "FeedSyncQueue.Arn"): (
        "the worker's continuation when one invocation cannot send a feed's backlog (over 5,000 lines, or its "
        "time runs out); tests/unit/feeds test the unfinished report and the continuation message"),
}


def _exempt(grant: Grant) -> bool:
    return ((grant.action, None) in PERFORMED_BY_AWS or (grant.action, grant.label) in PERFORMED_BY_AWS
            or (grant.function, grant.action, grant.label) in NOT_DRIVEN_YET)


def test_every_action_a_role_grants_is_used_by_some_test(aws_calls: CallRecorder, policy_checker: PolicyChecker,
                                                          whole_suite: bool) -> None:
    if not whole_suite:
        pytest.skip("runs only with the whole suite (`make test`): a subset of the tests cannot show that every "
                    "granted action is needed")
    by_environment: dict[int, list[ObservedCall]] = defaultdict(list)
    for call in aws_calls.calls:
        by_environment[id(call.environment)].append(call)
    assert by_environment, "no function made an AWS call: the recorder is not hooked into botocore"
    used: dict[tuple[str, str, str, str], bool] = {}
    for calls in by_environment.values():
        model = policy_checker.model(calls[0].environment)
        for grant in model.grants():
            key = (grant.function, grant.action, grant.label, grant.via)
            used[key] = used.get(key, False) or any(grant.used_by(call) for call in calls)
    _report(aws_calls.calls, used)
    unused = sorted(f"{function}: {action} on {label} (granted by its {via})"
                    for (function, action, label, via), seen in used.items()
                    if not seen and not _exempt(Grant(function, action, "", label, via)))
    assert not unused, ("granted but never used by any test: remove the grant, or add the test that needs it\n"
                        + "\n".join(unused))


def _report(calls: list[ObservedCall], used: dict[tuple[str, str, str, str], bool]) -> None:
    """What each function was seen doing, and what it holds (.local/iam-report.txt, for reviews)."""
    observed: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        resource = call.request.resource.rsplit(":", 1)[-1].removeprefix("xero-sync-local-")
        observed[call.function].add(f"{call.request.action} {resource}")
    lines = []
    for function in sorted({key[0] for key in used}):
        lines.append(function)
        lines += [f"  granted  {action} on {label}{'' if seen else '  (not used by the tests)'}"
                  for (f, action, label, _), seen in sorted(used.items()) if f == function]
        lines += [f"  observed {entry}" for entry in sorted(observed[function])]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
