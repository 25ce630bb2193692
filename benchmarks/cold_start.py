"""Cold start of every handler against the stack it stands on, and its first invocation.

Import. A fresh interpreter imports a handler module the way Lambda does (the layer's directory and the
function's CodeUri on the path) and reports the CPU the import took and the process's peak resident memory.
The *bare stack* is measured the same way: a fresh interpreter that imports boto3, requests and pydantic and
builds Powertools' ``Logger``, ``Metrics`` and ``APIGatewayHttpResolver(enable_validation=True)``, the floor
every handler stands on. Each handler run is paired with a bare run, in an order that alternates from pair to
pair (this machine is shared and noisy), and the figures are ratios of medians measured in the same run, each
with an interval: the 5th to 95th percentile of that ratio over the pairs resampled (a bootstrap), so that two
figures whose intervals overlap are not told apart. A self-check runs first in every round: the bare stack paired
with itself, which must come out at 1.00x with a tight interval (a wide one says the machine is too busy to read).

First invocation. Each checkout, in each round, runs on a local stack of its own (moto server, the Xero and
ledger emulators, in this process), started afresh and seeded alike: the same businesses in the same order, the
same events. The schedules go over every connection, feed, job and parked item in the stack and change what the
next run finds, so two checkouts sharing one stack would not answer the same event. Its queues are not polled, so
each function's first event is caught as the stack would deliver it (an API request, a queue's messages, a
schedule's firing) and handed to a fresh interpreter, which imports the handler and answers it: settings
validated, AWS clients built, tokens opened, the DynamoDB, SQS and Xero calls made. Its wall time and its own CPU
time are reported; the answer is checked (a 2xx, no failed record), so a figure never times an error.

    .venv/bin/python benchmarks/cold_start.py [--rounds N] [--first 3] [--only api] [--against DIR] [--tracing]
                                              [--instructions]

``--rounds`` defaults to 15 for all the handlers and to more for a few (60 for one: ``--only connect_api``), so
that a single handler's figure is read off enough pairs to hold still.

Instructions. CPU time on a shared machine moves with its load, so ``--instructions`` counts instead the
instructions each import executes, under Valgrind (``cachegrind``, no cache simulation; hash seed fixed): the
count of a run of the probe minus that of the same probe importing nothing. It does not move from run to run
(two runs of the bare stack agree to a millionth), so one run of each is enough, and the ratio to the bare stack
reads a change of a few milliseconds that CPU time cannot tell from noise. Each run takes some 15 s. Unless
``--first 0``, the first invocation is counted too, its import left out: a fresh interpreter under Valgrind that
imports the handler and answers its first event, less the same one that imports it and reads the event without
answering (each handler answers once beforehand without Valgrind, so that no count includes compiling what its
first request imports). Each checkout's are counted on a fresh stack of its own, seeded alike. The first
handler's is counted twice on the first checkout, about two businesses, to show how far it holds: the AWS and
Xero calls go to the local stack, whose answers differ a little (ids, times) from run to run.

``--against DIR`` measures another checkout's handlers (``git archive`` of a commit, unpacked) in the same run,
its imports interleaved with this one's against the same bare runs, its first invocations on a stack seeded
like this one's: a before/after that the machine's drift cannot bend. ``--code DIR`` measures another checkout
instead of this one. Imports run with tracing off, as the issue's bare stack has no tracer; ``--tracing`` imports
the handlers as Lambda does with the template's ``Tracing: Active``, the X-Ray SDK loaded and patching boto3 and
requests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.template import FunctionSpec, Template, load_template  # noqa: E402

# The process's peak resident memory: VmHWM starts afresh with the new program (getrusage's ru_maxrss would
# carry the parent's over a fork and exec).
PEAK = "int(next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')).split()[1])"
IMPORT_PROBE = """\
import sys, time
sys.path[:0] = {paths!r}
cpu, wall = time.process_time(), time.perf_counter()
{body}
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(cpu, wall, {peak})
"""
BARE_STACK = ("import boto3, requests, pydantic\n"
              "from aws_lambda_powertools import Logger, Metrics\n"
              "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
              "Logger(); Metrics(); APIGatewayHttpResolver(enable_validation=True)")
BARE = "bare stack"

# The first event arrives on stdin; the answer is summed up on a marked line (the handler's logs go to stdout too).
INVOKE_PROBE = """\
import json, sys, time
sys.path[:0] = {paths!r}
event = json.loads(sys.stdin.read())
import {module} as handler_module

class Context:
    function_name, memory_limit_in_mb, function_version = {name!r}, {memory!r}, "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + {name!r}
    aws_request_id, log_group_name, log_stream_name = "cold-start-bench", "/aws/lambda/" + {name!r}, "bench"
    _deadline = time.monotonic() + {timeout!r}
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

cpu, wall = time.process_time(), time.perf_counter()
answer = handler_module.{attribute}(event, Context()) if {answer!r} else {{"statusCode": 200}}
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
if isinstance(answer, dict) and "statusCode" in answer:
    summary = {{"status": answer["statusCode"]}}
elif isinstance(answer, dict) and "batchItemFailures" in answer:
    summary = {{"failed": len(answer["batchItemFailures"])}}
else:
    summary = {{"returned": str(answer)[:200]}}
print("COLD_START_RESULT", json.dumps({{"cpu": cpu, "wall": wall, "summary": summary,
      "rss": {peak}}}))
"""

GOAL_CPU, GOAL_MEMORY = 1.20, 1.15
RESAMPLES = 2000  # bootstrap resamples of a handler's pairs


@dataclass
class Figures:
    cpu: list[float] = field(default_factory=list)  # seconds
    rss: list[float] = field(default_factory=list)  # KiB
    paired_bare: list[tuple[float, float]] = field(default_factory=list)  # the bare runs of this handler's pairs
    first_wall: list[float] = field(default_factory=list)
    first_cpu: list[float] = field(default_factory=list)
    first_rss: list[float] = field(default_factory=list)


def _functions(only: str | None) -> list[FunctionSpec]:
    body = load_template()
    template = Template(body, {n: "x" for n, spec in body["Parameters"].items() if "Default" not in spec})
    specs = sorted(template.functions().values(), key=lambda s: s.module)
    return [s for s in specs if not only or any(part in s.module for part in only.split(","))]


def _paths(code: Path, spec: FunctionSpec | None) -> list[str]:
    layer = str(code / "layers" / "common")
    return [layer] if spec is None else [layer, str(code / "functions" / spec.code_uri.name)]


def _import_once(code: Path, spec: FunctionSpec | None, tracing: bool) -> tuple[float, float]:
    body = BARE_STACK if spec is None else f"import {spec.module}"
    probe = IMPORT_PROBE.format(paths=_paths(code, spec), body=body, peak=PEAK)
    # Tracing on is Lambda's environment with the template's Tracing: Active (the X-Ray SDK loaded, its patches
    # applied); off is the local stack's and the tests' (POWERTOOLS_TRACE_DISABLED).
    switch = {"LAMBDA_TASK_ROOT": _paths(code, spec)[-1]} if tracing else {"POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False,
                         env={"PATH": "/usr/bin:/bin", **switch})
    if out.returncode:
        raise RuntimeError(f"importing {spec.module if spec else BARE} failed:\n{out.stderr[-3000:]}")
    cpu, _wall, rss = out.stdout.split()
    return float(cpu), float(rss)


COUNT_PROBE = "import sys\nsys.path[:0] = {paths!r}\n{body}\n"
VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")


def _instructions_once(code: Path, spec: FunctionSpec | None, body: str | None = None) -> int:
    """The instructions a fresh interpreter executes to start, set its path and run ``body`` (the import)."""
    body = body if body is not None else BARE_STACK if spec is None else f"import {spec.module}"
    probe = COUNT_PROBE.format(paths=_paths(code, spec), body=body)
    out = subprocess.run([*VALGRIND, sys.executable, "-c", probe], capture_output=True, text=True, check=False,
                         env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true", "PYTHONHASHSEED": "0"})
    counted = [line for line in out.stderr.splitlines() if "I   refs:" in line or "I refs:" in line]
    if out.returncode or not counted:
        raise RuntimeError(f"counting {spec.module if spec else BARE} failed:\n{out.stderr[-3000:]}")
    return int(counted[0].split(":")[1].replace(",", ""))


def measure_instructions(trees: list[Path], specs: list[FunctionSpec]) -> tuple[list[int], dict[tuple[str, str], int]]:
    """Instructions of each import, less those of an interpreter that imports nothing; the bare stack twice."""
    for tree in trees:  # compile every module once, so that no count includes writing .pyc files
        for spec in [None, *specs]:
            _import_once(tree, spec, tracing=False)
    empty = _instructions_once(trees[0], None, body="pass")
    bare = [_instructions_once(trees[0], None) - empty for _ in range(2)]
    counts: dict[tuple[str, str], int] = {}
    for tree in trees:
        for spec in specs:
            # The empty probe with this handler's path: sys.path's length changes what the start costs by a little.
            floor = _instructions_once(tree, spec, body="pass")
            counts[str(tree), spec.module] = _instructions_once(tree, spec) - floor
            print(f"  instructions: {spec.module} of {tree} counted", file=sys.stderr)
    return bare, counts


def report_instructions(trees: list[Path], specs: list[FunctionSpec], bare: list[int],
                        counts: dict[tuple[str, str], int], calls: dict[tuple[str, str], list[int]]) -> None:
    first, second = bare
    print(f"Instructions executed by each import (Valgrind), one run each. Bare stack: {first / 1e6:.1f} M; "
          f"counted twice, the second over the first is {second / first:.4f}x.")
    if calls:
        again = calls[str(trees[0]), specs[0].module]
        print(f"1st call: the instructions of the first invocation, its import left out; {specs[0].module}'s "
              f"counted twice (two businesses), the second over the first is {again[1] / again[0]:.4f}x.")
    other = "   (this checkout, then the other, and this one's over the other's)"
    print(f"{'handler module':<22}" + "".join(f" {'M instr':>9} {'x bare':>7}" + (f" {'1st call M':>10}" if calls
                                                                                    else "") for _ in trees)
          + (f" {'import':>7}" + (f" {'1st call':>8}" if calls else "") + other if len(trees) > 1 else ""))
    for spec in specs:
        row = f"{spec.module:<22}"
        for tree in trees:
            mine = counts[str(tree), spec.module]
            row += f" {mine / 1e6:>9.1f} {mine / first:>6.3f}{' ' if mine / first <= GOAL_CPU else '!'}"
            if calls:
                row += f" {calls[str(tree), spec.module][0] / 1e6:>10.1f}"
        if len(trees) > 1:
            this, that = (str(tree) for tree in trees)
            row += f" {counts[this, spec.module] / counts[that, spec.module]:>6.3f}x"
            if calls:
                row += f" {calls[this, spec.module][0] / calls[that, spec.module][0]:>7.3f}x"
        print(row)
    print()


def _rotated(items: list[Any], by: int) -> list[Any]:
    by %= len(items)
    return items[by:] + items[:by]


def default_rounds(handlers: int) -> int:
    """Enough pairs for a handler's ratio to hold still: 15 each for all the handlers, more for a few."""
    return max(15, 60 // max(handlers, 1))


def measure_imports(trees: list[Path], specs: list[FunctionSpec], rounds: int,
                    figures: dict[tuple[Path, str], Figures], tracing: bool = False) -> Figures:
    """Per handler and round, one bare run and one run of the handler from each tree, in an order that rotates;
    each round opens with the self-check, a bare run paired with another. Returns the self-check's figures."""
    for tree in trees:  # compile every module once, so that no run pays for writing .pyc files
        for spec in [None, *specs]:
            _import_once(tree, spec, tracing)
    itself = Figures()
    for round_ in range(rounds):
        first, second = _rotated([_import_once(trees[0], None, tracing), _import_once(trees[0], None, tracing)],
                                 round_)
        itself.cpu.append(first[0])
        itself.rss.append(first[1])
        itself.paired_bare.append(second)
        for index, spec in enumerate(specs):
            runs = {side: _import_once(side or trees[0], spec if side else None, tracing)
                    for side in _rotated([None, *trees], round_ + index)}
            for tree in trees:
                mine = figures[tree, spec.module]
                mine.cpu.append(runs[tree][0])
                mine.rss.append(runs[tree][1])
                mine.paired_bare.append(runs[None])
        print(f"  imports: round {round_ + 1}/{rounds} done", file=sys.stderr)
    return itself


# ---------------------------------------------------------------------------------------------- first invocation

class SeededStack:
    """The local stack with no queue pollers: the benchmark moves the messages, so that it can catch a function's
    first event and hand it to a fresh process instead of running it here."""

    def __init__(self) -> None:
        from local.stack import DevStack, DevStackConfig

        # Sync now and the live connection check would answer a second request from what the first recorded.
        self.stack = DevStack(DevStackConfig(log_level="ERROR", concurrency=0, extra_environment={
            "SYNC_NOW_INTERVAL_SECONDS": "0", "CONNECTION_CONFIRM_SECONDS": "0"})).start()

    def stop(self) -> None:
        self.stack.stop()

    def environment(self) -> dict[str, str]:
        """What the function's environment holds in the template, pointed at the local stack."""
        assert self.stack.provisioned is not None
        names = set(self.stack.provisioned.environment) | {"SYNC_NOW_INTERVAL_SECONDS", "CONNECTION_CONFIRM_SECONDS"}
        env = {k: v for k, v in os.environ.items() if k in names or k.startswith(("AWS_", "POWERTOOLS_"))}
        return {**env, "PATH": "/usr/bin:/bin", "POWERTOOLS_LOG_LEVEL": "INFO"}

    def catch(self, function: str, trigger: Callable[[], Any]) -> dict[str, Any]:
        """The event ``trigger`` makes the stack deliver to ``function``, caught instead of run."""
        runtime = self.stack.runtime
        assert runtime is not None
        real = runtime.handler(function)
        caught: list[dict[str, Any]] = []

        def catcher(event: dict[str, Any], context: Any) -> dict[str, Any]:
            caught.append(event)
            return {"statusCode": 200, "body": "{}"} if "requestContext" in event else {"batchItemFailures": []}

        runtime.override(function, catcher)
        try:
            trigger()
        finally:
            runtime.override(function, real)
        if not caught:
            raise RuntimeError(f"{function} received nothing")
        return caught[0]

    def poll(self, function: str) -> None:
        outcome = self.stack.mappings[function].poll_once()
        if outcome is None or outcome.failed:
            raise RuntimeError(f"{function}: {outcome}")

    def empty(self, *queues: str) -> None:
        assert self.stack.provisioned is not None
        sqs = self.stack.sqs()
        for queue in queues:
            url = self.stack.provisioned.queue_url(queue)
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


@dataclass
class Business:
    token: str
    account: str
    tenant: str
    with_receipts: str
    plain: list[str]


def seed_business(seeded: SeededStack, name: str, *, expenses: bool = True) -> Business:
    """A Singapore business connected to an organisation of its own, its HKD account linked, travel mapped to
    Xero's 493, and (``expenses``) four payments waiting in Pending Sync, one with two receipts."""
    from emulators.ledger import Counterparty, generated_spec
    from tests.support.frontend import Frontend, connect_and_link

    stack = seeded.stack
    business = stack.ledger.create_business("SG", f"{name} Pte. Ltd.").business_id
    account = stack.ledger.create_account(business, "HKD").account_id
    tenant = stack.xero.seed_organisation(f"{name} Books", base_currency="HKD")
    user = Frontend(stack, stack.token(business_id=business, user_id="u_bench", role="Finance"))
    connect_and_link(stack, user, tenant, account)
    if not expenses:
        return Business(user.token, account, tenant, "", [])
    codes = {a["code"]: a["account_id"] for a in user.call("GET", "/v1/expenses/reference-data")["accounts"]}
    user.call("PUT", "/v1/expenses/mappings", {"mappings": [{"category": "travel", "xero_account_id": codes["493"]}]})
    posted = [stack.ledger.post_transaction(
        account, f"{120 + n}.50", "DEBIT", spend_category="travel", counterparty=Counterparty(f"Hotel {n}", "1"),
        description=f"Trip {n}", attachments=[generated_spec("pdf", 60_000, seed=n), generated_spec("png", 30_000)]
        if n == 0 else ()) for n in range(4)]
    stack.ledger.post_transaction(account, "5000.00", "CREDIT", counterparty=Counterparty("Client", "2"))
    seeded.empty("FeedSyncQueue")
    while stack.queue_depth("LedgerEventsQueue"):
        seeded.poll("LedgerEventsFunction")
    ids = [t.transaction_id for t in posted]
    return Business(user.token, account, tenant, ids[0], ids[1:])


def _sync_job(seeded: SeededStack, business: Business, ids: list[str]) -> None:
    """Start a sync job from the API and let the Spend Money worker run its plan here."""
    seeded.empty("ExpenseSyncQueue")
    answer = seeded.stack.api("POST", "/v1/expenses/sync-jobs", token=business.token,
                              json_body={"transaction_ids": ids})
    if answer.status_code != 202:
        raise RuntimeError(answer.text)
    seeded.poll("SyncExpensesWorkerFunction")


def first_events(seeded: SeededStack, name: str) -> dict[str, Callable[[], dict[str, Any]]]:
    """For each handler module, how to get its first event, about a business seeded here (each called just before
    its run)."""
    from xerosync.store.parked import ParkedWorkStore

    stack = seeded.stack
    business = seed_business(seeded, f"Cold Start {name}")

    def api(function: str, method: str, path: str, body: Any = None) -> Callable[[], dict[str, Any]]:
        return lambda: seeded.catch(function, lambda: stack.api(method, path, token=business.token, json_body=body))

    def from_queue(function: str, queue: str, before: Callable[[], Any]) -> Callable[[], dict[str, Any]]:
        def event() -> dict[str, Any]:
            seeded.empty(queue)
            before()
            return seeded.catch(function, lambda: seeded.poll(function))
        return event

    def schedule(function: str, name: str, before: Callable[[], Any] = lambda: None) -> Callable[[], dict[str, Any]]:
        def event() -> dict[str, Any]:
            before()
            return seeded.catch(function, lambda: stack.fire(name, as_next=True))
        return event

    def spend_money_batch() -> None:
        _sync_job(seeded, business, business.plain)  # the plan runs here; its batch is the worker's first event

    def receipts() -> None:
        _sync_job(seeded, business, [business.with_receipts])
        seeded.poll("SyncExpensesWorkerFunction")  # the batch: its receipts go to AttachmentsQueue

    def ledger_payment() -> None:
        stack.ledger.post_transaction(business.account, "42.00", "DEBIT", spend_category="travel")

    def sync_now() -> None:
        stack.api("POST", "/v1/xero/sync", token=business.token).raise_for_status()

    def disconnect_during_an_outage() -> None:
        leaving = seed_business(seeded, f"Cold Start {name} Leaving", expenses=False)
        stack.xero.add_fault("error", path="*", status=503, times=None)
        try:
            stack.api("DELETE", "/v1/xero/connection", token=leaving.token).raise_for_status()
        finally:
            stack.xero.clear_faults()

    def parked_message() -> None:
        assert stack.provisioned is not None
        import boto3

        table = boto3.resource("dynamodb").Table(stack.provisioned.environment["MAIN_TABLE_NAME"])
        ParkedWorkStore(table).park(
            queue_url=stack.provisioned.queue_url("FeedSyncQueue"), body=json.dumps({"tenant_id": business.tenant}),
            group_id=business.tenant, message_id=f"parked-{name}", resume_at=time.time() - 1, reason="bench")

    return {
        "connect_api": api("ConnectApiFunction", "GET", "/v1/xero/connection"),
        "auto_sync_api": api("AutoSyncApiFunction", "POST", "/v1/xero/sync"),
        "sync_expenses_api": api("SyncExpensesApiFunction", "GET", "/v1/expenses?tab=pending&limit=50"),
        "attachments_api": api("AttachmentsApiFunction", "GET", f"/v1/expenses/{business.with_receipts}/attachments"),
        "ledger_events": from_queue("LedgerEventsFunction", "LedgerEventsQueue", ledger_payment),
        "feed_events": from_queue("FeedEventsFunction", "FeedEventsQueue", ledger_payment),
        "sync_expenses_worker": from_queue("SyncExpensesWorkerFunction", "ExpenseSyncQueue", spend_money_batch),
        "attachments_worker": from_queue("AttachmentsWorkerFunction", "AttachmentsQueue", receipts),
        "auto_sync_worker": from_queue("AutoSyncWorkerFunction", "FeedSyncQueue", sync_now),
        "xero_cleanup": from_queue("XeroCleanupFunction", "XeroCleanupQueue", disconnect_during_an_outage),
        "auto_sync_dispatcher": schedule("AutoSyncDispatcherFunction", "EveryThreeHours"),
        "connection_check": schedule("ConnectionCheckFunction", "Hourly"),
        "parked_work": schedule("ParkedWorkFunction", "EveryMinute", parked_message),
    }


# Valgrind runs a program some 50 times slower: the context's deadline is stretched by as much, so that a handler
# that stops early when its time runs out (the schedules, the workers) does under Valgrind what it does without.
VALGRIND_SLOWDOWN = 100


def _invoke_once(code: Path, spec: FunctionSpec, event: dict[str, Any], env: dict[str, str], *,
                 answer: bool = True, counted: bool = False) -> dict[str, Any]:
    """A fresh interpreter imports the handler and (``answer``) answers ``event``; ``counted`` runs it under
    Valgrind and adds the instructions it executed (``instructions``) to what it returns."""
    probe = INVOKE_PROBE.format(paths=_paths(code, spec), module=spec.module, attribute=spec.attribute,
                                name=spec.logical_id, memory=spec.memory, peak=PEAK, answer=answer,
                                timeout=spec.timeout * (VALGRIND_SLOWDOWN if counted else 1))
    command = [*VALGRIND, sys.executable, "-c", probe] if counted else [sys.executable, "-c", probe]
    out = subprocess.run(command, input=json.dumps(event), capture_output=True, text=True, check=False,
                         env={**env, "PYTHONHASHSEED": "0"} if counted else env)
    marked = [line for line in out.stdout.splitlines() if line.startswith("COLD_START_RESULT ")]
    if out.returncode or not marked:
        raise RuntimeError(f"{spec.module}'s first invocation failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(marked[0].split(" ", 1)[1])
    summary = result["summary"]
    if summary.get("failed") or not 200 <= summary.get("status", 200) < 300:
        raise RuntimeError(f"{spec.module}'s first invocation did not succeed: {summary}\n{out.stdout[-3000:]}")
    if counted:
        refs = [line for line in out.stderr.splitlines() if "I   refs:" in line or "I refs:" in line]
        if not refs:
            raise RuntimeError(f"counting {spec.module}'s first invocation failed:\n{out.stderr[-3000:]}")
        result["instructions"] = int(refs[0].split(":")[1].replace(",", ""))
    return result


@contextmanager
def fresh_stack() -> Iterator[SeededStack]:
    """A local stack of its own, stopped after use. Each checkout's first invocations run on one, seeded alike: the
    same businesses in the same order, the same events. The schedules go over every connection, feed, sync job and
    parked item in the stack, and each run changes what the next one finds (a connection checked, a batch settled),
    so two checkouts that shared a stack would not answer the same first event."""
    seeded = SeededStack()
    try:
        yield seeded
    finally:
        seeded.stop()


def _count_first(tree: Path, spec: FunctionSpec, event: dict[str, Any], env: dict[str, str]) -> int:
    floor = _invoke_once(tree, spec, event, env, answer=False, counted=True)["instructions"]
    return int(_invoke_once(tree, spec, event, env, counted=True)["instructions"]) - int(floor)


def measure_first_instructions(trees: list[Path], specs: list[FunctionSpec]) -> dict[tuple[str, str], list[int]]:
    """Instructions of each handler's first invocation, its import left out: a fresh interpreter that imports the
    handler and answers a first event, less the same interpreter importing it and reading the event without
    answering. Each checkout on a fresh stack of its own, seeded alike (``fresh_stack``). The first handler is
    counted twice on the first checkout (a business of its own each time, the second once all are counted), to
    show the count holds."""
    counts: dict[tuple[str, str], list[int]] = {}
    for tree in trees:
        with fresh_stack() as seeded:
            env = seeded.environment()
            # Answered once without Valgrind first, about another business: what a first request imports lazily is
            # compiled then, so that no count includes writing .pyc files.
            warm = first_events(seeded, "warm")
            for spec in specs:
                _invoke_once(tree, spec, warm[spec.module](), env)
            counted, again = first_events(seeded, "counted"), first_events(seeded, "again")
            for spec in specs:
                counts[str(tree), spec.module] = [_count_first(tree, spec, counted[spec.module](), env)]
                print(f"  instructions: {spec.module}'s first invocation of {tree} counted", file=sys.stderr)
            if tree == trees[0]:
                counts[str(tree), specs[0].module].append(_count_first(tree, specs[0], again[specs[0].module](), env))
    return counts


def measure_first_invocations(trees: list[Path], specs: list[FunctionSpec], rounds: int,
                              figures: dict[tuple[Path, str], Figures]) -> None:
    """Each round, each checkout (in an order that rotates) answers every handler's first event on a fresh stack of
    its own, seeded alike (``fresh_stack``)."""
    for round_ in range(rounds):
        for tree in _rotated(trees, round_):
            with fresh_stack() as seeded:
                env = seeded.environment()
                events = first_events(seeded, "first")
                for spec in specs:
                    result = _invoke_once(tree, spec, events[spec.module](), env)
                    mine = figures[tree, spec.module]
                    mine.first_wall.append(result["wall"])
                    mine.first_cpu.append(result["cpu"])
                    mine.first_rss.append(result["rss"])
        print(f"  first invocations: round {round_ + 1}/{rounds} done", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- the report

def _ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _mib(kib: list[float]) -> float:
    return statistics.median(kib) / 1024


def ratio(pairs: list[tuple[float, float]]) -> float:
    """The handler's median over the median of the bare runs paired with it."""
    return statistics.median(p[0] for p in pairs) / statistics.median(p[1] for p in pairs)


def interval(pairs: list[tuple[float, float]], seed: int = 16) -> tuple[float, float]:
    """The 5th and 95th percentiles of ``ratio`` over the pairs resampled with replacement (a fixed seed: the
    same runs always give the same interval)."""
    draw = random.Random(seed).choices
    ratios = sorted(ratio(draw(pairs, k=len(pairs))) for _ in range(RESAMPLES))
    return ratios[math.floor(0.05 * (RESAMPLES - 1))], ratios[math.ceil(0.95 * (RESAMPLES - 1))]


def _pairs(mine: Figures, index: int) -> list[tuple[float, float]]:
    """(handler, its bare run) of each round, for CPU (0) or memory (1)."""
    return [(own, bare[index]) for own, bare in zip(mine.cpu if index == 0 else mine.rss, mine.paired_bare,
                                                    strict=True)]


def report(trees: list[Path], specs: list[FunctionSpec], figures: dict[tuple[Path, str], Figures], rounds: int,
           first: int, tracing: bool = False, itself: Figures | None = None) -> None:
    print(f"Cold start of each handler. Import (tracing {'on, as in Lambda' if tracing else 'off'}): {rounds} runs "
          f"per handler, each with a run of the bare stack{' and of the other checkout' if len(trees) > 1 else ''} "
          f"in an order that rotates; first invocation: {first} run(s), each in a fresh process. One run of this "
          "benchmark.")
    if itself is not None and itself.cpu:
        print(f"Self-check, the bare stack paired with itself ({len(itself.cpu)} pairs): import CPU "
              f"{_ratio_text(_pairs(itself, 0))}, peak memory {_ratio_text(_pairs(itself, 1))}.")
    for tree in trees:
        mine_all = [figures[tree, spec.module] for spec in specs]
        bare_cpu = [b[0] for f in mine_all for b in f.paired_bare]
        bare_rss = [b[1] for f in mine_all for b in f.paired_bare]
        print(f"\n{tree}")
        if bare_cpu:
            print(f"Bare stack: import CPU {_ms(bare_cpu):.0f} ms, peak memory {_mib(bare_rss):.1f} MiB (median of "
                  f"{len(bare_cpu)}).")
        print(f"{'handler module':<22} {'import CPU':>10} {'x bare [90% interval]':>22} {'peak MiB':>9} "
              f"{'x bare [90% interval]':>22}   {'1st call ms':>11} {'its CPU ms':>10} {'peak MiB':>9}")
        for spec in specs:
            print(_row(spec.module, figures[tree, spec.module]))
    print(f"\nGoal: import CPU at most {GOAL_CPU:.2f}x the bare stack's, peak memory at most {GOAL_MEMORY:.2f}x "
          "(! marks a handler above it). Ratios are medians of the handler's runs\nover medians of the bare runs "
          "paired with them; in brackets, the 5th to 95th percentile of that ratio over the pairs resampled. "
          "'1st call' is the\nhandler answering its first event in a fresh process (wall time); 'its CPU' is that "
          "process's CPU for it (AWS and Xero run in this\none); peak MiB is the process's after answering.")


def _ratio_text(pairs: list[tuple[float, float]], goal: float | None = None) -> str:
    value, (low, high) = ratio(pairs), interval(pairs)
    mark = "" if goal is None else " " if value <= goal else "!"
    return f"{value:.2f}x{mark}[{low:.2f}-{high:.2f}]"


def _row(module: str, mine: Figures) -> str:
    row = f"{module:<22}"
    if mine.cpu:
        row += (f" {_ms(mine.cpu):>10.0f} {_ratio_text(_pairs(mine, 0), GOAL_CPU):>22}"
                f" {_mib(mine.rss):>9.1f} {_ratio_text(_pairs(mine, 1), GOAL_MEMORY):>22}")
    else:
        row += " " * 56
    if mine.first_wall:
        row += f"   {_ms(mine.first_wall):>11.0f} {_ms(mine.first_cpu):>10.0f} {_mib(mine.first_rss):>9.1f}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="import runs of each handler (0: none; default 15, and more "
                        "when fewer than four handlers are measured: 60 for one)")
    parser.add_argument("--first", type=int, default=3, help="first invocations of each handler (0: none)")
    parser.add_argument("--only", help="handler modules whose name contains this (or one of these, comma-separated)")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose handlers are measured")
    parser.add_argument("--against", type=Path, help="another checkout, measured in the same run, interleaved")
    parser.add_argument("--save", type=Path, help="also write every run's figures to this JSON file")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions of each import and (unless --first 0) of each first "
                        "invocation under Valgrind (one run each, some 15 s a run)")
    parser.add_argument("--tracing", action="store_true",
                        help="import with tracing on, as in Lambda (the bare stack stays without it)")
    args = parser.parse_args()
    trees = [args.code.resolve(), *([args.against.resolve()] if args.against else [])]
    specs = _functions(args.only)
    figures = {(tree, spec.module): Figures() for tree in trees for spec in specs}
    rounds = default_rounds(len(specs)) if args.rounds is None else args.rounds
    counted: tuple[list[int], dict[tuple[str, str], int]] | None = None
    calls: dict[tuple[str, str], list[int]] = {}
    if args.instructions:
        if shutil.which(VALGRIND[0]) is None:
            parser.error("--instructions counts under Valgrind, which is not installed here: install Debian's "
                         "'valgrind' package (sudo apt-get install valgrind), or leave --instructions out")
        counted = measure_instructions(trees, specs)
        if args.first:
            calls = measure_first_instructions(trees, specs)
        report_instructions(trees, specs, *counted, calls)
    itself = measure_imports(trees, specs, rounds, figures, args.tracing) if rounds else None
    if args.first:
        measure_first_invocations(trees, specs, args.first, figures)
    if rounds or args.first:
        report(trees, specs, figures, rounds, args.first, args.tracing, itself)
    if args.save:
        args.save.write_text(json.dumps({
            "self_check": asdict(itself) if itself else None,
            "runs": [{"tree": str(tree), "module": module, **asdict(mine)} for (tree, module), mine in figures.items()],
            "instructions": None if counted is None else {"bare": counted[0], "imports": [
                {"tree": t, "module": m, "count": c} for (t, m), c in counted[1].items()], "first_invocations": [
                {"tree": t, "module": m, "counts": c} for (t, m), c in calls.items()]},
        }, indent=1))


if __name__ == "__main__":
    main()
