"""Every action a function's role grants is used by some test: the other half of least privilege.

The first half runs around every test (tests/conftest.py): each AWS call a function makes under the local
runner must be allowed by its role. This one can only be judged on the whole suite: a subset of the tests
exercises a subset of the code, so on a partial run it skips and says so. A serial `pytest` judges the calls
its own process recorded; `make test` runs the tiers in parallel processes, each of which writes what it saw
(tests/support/iam_usage.py), and then tests/iam alone, which judges their union.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local.iam import CallRecorder, Grant, PolicyChecker
from tests.support.iam_usage import RECORDS, TIERS, Usage, clear_records, read_records, usage_of, whole_tiers

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
        "time runs out); tests/unit/auto_sync test the unfinished report and the continuation message"),
}


def _exempt(grant: Grant) -> bool:
    return ((grant.action, None) in PERFORMED_BY_AWS or (grant.action, grant.label) in PERFORMED_BY_AWS
            or (grant.function, grant.action, grant.label) in NOT_DRIVEN_YET)


def test_every_action_a_role_grants_is_used_by_some_test(aws_calls: CallRecorder, policy_checker: PolicyChecker,
                                                          whole_suite: bool, pytestconfig: pytest.Config) -> None:
    # One serial run of everything (`pytest`) saw every call itself; after the tiers ran in parallel or one
    # by one (`make test`), each of their processes left its record.
    usage = usage_of(aws_calls.calls, policy_checker) if whole_suite else _recorded_usage(pytestconfig)
    assert usage.used, "no function made an AWS call: the recorder is not hooked into botocore"
    _report(usage)
    unused = sorted(f"{function}: {action} on {label} (granted by its {via})"
                    for (function, action, label, via), seen in usage.used.items()
                    if not seen and not _exempt(Grant(function, action, "", label, via)))
    assert not unused, ("granted but never used by any test: remove the grant, or add the test that needs it\n"
                        + "\n".join(unused))


def _recorded_usage(config: pytest.Config) -> Usage:
    """The union of the records the tiers' test processes wrote, consumed by this judgment. Only a run of
    tests/iam on its own reads them: a run that runs tests itself would judge a record of some earlier run."""
    own_tiers = whole_tiers(list(config.args), config.rootpath, filtered=False)
    if own_tiers or getattr(config, "workerinput", None) is not None or any("::" in a for a in config.args):
        pytest.skip("runs with the whole suite (`make test`, or `pytest` alone), or on its own after every tier "
                    f"({', '.join(TIERS)}) ran whole: a subset of the tests cannot show that every grant is needed")
    records = read_records()
    covered = {tier for record in records for tier in record.tiers}
    missing = [tier for tier in TIERS if tier not in covered]
    if missing:
        pytest.skip(f"no record of a whole run of {', '.join(missing)} in {RECORDS}: run every tier first "
                    "(`make test` does), and then tests/iam")
    failed = [record.name for record in records if not record.passed]
    assert not failed, (f"the records {', '.join(failed)} in {RECORDS} come from test runs that failed: "
                        "run the tiers again until they pass")
    usage = Usage()
    for record in records:
        usage.add(record.usage)
    clear_records()
    return usage


def _report(usage: Usage) -> None:
    """What each function was seen doing, and what it holds (.local/iam-report.txt, for reviews)."""
    lines = []
    for function in sorted({key[0] for key in usage.used}):
        lines.append(function)
        lines += [f"  granted  {action} on {label}{'' if seen else '  (not used by the tests)'}"
                  for (f, action, label, _), seen in sorted(usage.used.items()) if f == function]
        lines += [f"  observed {entry}" for entry in sorted(usage.observed[function])]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
