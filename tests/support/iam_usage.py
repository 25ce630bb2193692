"""Which granted actions the functions used, recorded per test process and judged over the whole suite.

Each test process (the one process of a serial run, or each pytest-xdist worker) records the AWS calls its
functions make (tests/conftest.py). A grant is used when any call of any process used it, so each process
writes what it saw to a file of its own under RECORDS at its end, and tests/iam judges their union: `make
test` runs the tiers (in parallel) and then tests/iam, which reads and then removes those files.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from local.iam import CallRecorder, ObservedCall, PolicyChecker

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDS = Path(os.environ.get("IAM_RECORDS_DIR", REPO_ROOT / ".local" / "iam-calls"))
# The folders whose tests, run whole, make every call the functions make in tests: tests/iam judges nothing
# until each of them has been run whole (in one run or over several, in any number of processes).
TIERS = ("tests/unit", "tests/integration", "tests/e2e", "tests/browser")

GrantKey = tuple[str, str, str, str]  # function, action, resource label, via ("role" or the key's policy)


@dataclass
class Usage:
    """Each grant and whether a call used it; what each function was seen doing."""

    used: dict[GrantKey, bool] = field(default_factory=dict)
    observed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, other: Usage) -> None:
        for key, seen in other.used.items():
            self.used[key] = self.used.get(key, False) or seen
        for function, entries in other.observed.items():
            self.observed[function] |= entries


def usage_of(calls: list[ObservedCall], checker: PolicyChecker) -> Usage:
    """The grants of every environment the calls ran in, each marked used when one of the calls used it."""
    by_environment: dict[int, list[ObservedCall]] = defaultdict(list)
    for call in calls:
        by_environment[id(call.environment)].append(call)
    usage = Usage()
    for group in by_environment.values():
        model = checker.model(group[0].environment)
        for grant in model.grants():
            key = (grant.function, grant.action, grant.label, grant.via)
            usage.used[key] = usage.used.get(key, False) or any(grant.used_by(call) for call in group)
    for call in calls:
        resource = call.request.resource.rsplit(":", 1)[-1].removeprefix("xero-sync-local-")
        usage.observed[call.function].add(f"{call.request.action} {resource}")
    return usage


@dataclass
class Record:
    """What one test process saw: the tiers its run covered whole, whether its tests passed, its usage."""

    tiers: list[str]
    passed: bool
    usage: Usage
    name: str = ""


def write_record(name: str, tiers: list[str], passed: bool, recorder: CallRecorder, checker: PolicyChecker) -> None:
    usage = usage_of(recorder.calls, checker)
    RECORDS.mkdir(parents=True, exist_ok=True)
    document = {"tiers": tiers, "passed": passed,
                "used": [[*key, seen] for key, seen in sorted(usage.used.items())],
                "observed": {function: sorted(entries) for function, entries in sorted(usage.observed.items())}}
    target = RECORDS / f"{name}.json"
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(document))
    partial.replace(target)


def read_records() -> list[Record]:
    records = []
    for path in sorted(RECORDS.glob("*.json")):
        document = json.loads(path.read_text())
        usage = Usage(used={(f, a, label, via): seen for f, a, label, via, seen in document["used"]})
        for function, entries in document["observed"].items():
            usage.observed[function] = set(entries)
        records.append(Record(document["tiers"], document["passed"], usage, path.stem))
    return records


def clear_records() -> None:
    for path in RECORDS.glob("*.json"):
        path.unlink()


def whole_tiers(args: list[str], rootdir: Path, filtered: bool) -> list[str]:
    """The tiers a run of these arguments covers whole (none when it selects tests by name, mark or failure)."""
    if filtered:
        return []
    covered: set[str] = set()
    for arg in args:
        if "::" in arg:
            continue
        path = (rootdir / arg).resolve() if not Path(arg).is_absolute() else Path(arg).resolve()
        for tier in TIERS:
            tier_path = (rootdir / tier).resolve()
            if path == tier_path or path in tier_path.parents:
                covered.add(tier)
    return sorted(covered)
