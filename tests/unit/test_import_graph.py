"""Each handler's cold start imports what its function needs and nothing of the others (docs/architecture.md,
"Cold start"; benchmarks/cold_start.py measures what that costs).

Every handler is imported in a fresh interpreter, as Lambda imports it (the layer's directory and the
function's CodeUri on the path), with tracing off, and the modules it loaded are held to the rules below.
The features' rooms are checked from the source as well: a feature's code imports another feature's module only
through the entry points listed in ``CROSS_FEATURE`` (docs/architecture.md, "Features and what they share").
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.template import REPO_ROOT, FunctionSpec, Template, load_template

BODY = load_template()
TEMPLATE = Template(BODY, {name: "x" for name, spec in BODY["Parameters"].items() if "Default" not in spec})
FUNCTIONS = TEMPLATE.functions()
HTTP = {route.function for route in TEMPLATE.http_routes()}
CONSUMERS = {source.function for source in TEMPLATE.sqs_sources()}

# Code that belongs to one function: a module here is imported by its owner only (and by nobody at import time
# if it is built on first use).
OWNED = {
    "xerosync.sync_expenses.worker": "SyncExpensesWorkerFunction",
    "xerosync.sync_expenses.planner": "SyncExpensesWorkerFunction",
    "xerosync.sync_expenses.event_intake": "LedgerEventsFunction",
    "xerosync.auto_sync.worker": "AutoSyncWorkerFunction",
    "xerosync.auto_sync.statements": "AutoSyncWorkerFunction",
    "xerosync.attachments.service": "AttachmentsWorkerFunction",
    "xerosync.attachments.uploader": "AttachmentsWorkerFunction",
    "xerosync.attachments.status": "AttachmentsApiFunction",
    "xerosync.connect.check": "ConnectionCheckFunction",
}
# Queue consumers' machinery: Powertools' batch processing and the product's RetryLater/parking around it.
CONSUMER_ONLY = ("xerosync.queue", "aws_lambda_powertools.utilities.batch")
# HTTP machinery: the validating resolver and the product's error mapping.
HTTP_ONLY = ("xerosync.http", "aws_lambda_powertools.event_handler")
# Loaded on first use, by every function: the X-Ray SDK only where tracing is on; the token cipher (a native
# library of some 6 MiB) with the first tokens opened; the client secret's provider with the first refresh.
NEVER_AT_IMPORT = ("aws_xray_sdk", "cryptography", "aws_lambda_powertools.utilities.parameters")
# Never used: Powertools' parser and its event models (the batch utility builds two dozen of them when it is imported
# after pydantic, so each queue consumer's handler imports it first).
NEVER_USED = ("aws_lambda_powertools.utilities.parser",)

# What a worker never sends, reads or asks (docs/architecture.md, "Cold start"): the Bank Feeds models, the APIs'
# feature gate, caller and request bodies, and what the other worker reads (the ledger's models for the Spend
# Money worker; the category mappings and Xero's reference data for the receipts worker).
NOT_FOR = {
    # The Spend Money worker reads each payment from the ledger before sending it (docs/sync-expenses.md).
    "SyncExpensesWorkerFunction": ("xerosync.xero.bank_feeds", "xerosync.sync_expenses.access", "xerosync.auth",
                                   "xerosync.bodies"),
    "AttachmentsWorkerFunction": ("xerosync.xero.bank_feeds", "xerosync.sync_expenses.access", "xerosync.auth",
                                  "xerosync.bodies", "xerosync.sync_expenses.wiring", "xerosync.sync_expenses.mapping",
                                  "xerosync.sync_expenses.reference_data"),
}

PROBE = """
import json, sys
sys.path[:0] = {paths!r}
import {module}
for then in {then!r}:
    __import__(then)
print(json.dumps(sorted(sys.modules)))
"""


def _probe(spec: FunctionSpec, then: tuple[str, ...] = ()) -> frozenset[str]:
    """The modules loaded by importing the handler, then (``then``) the modules a first event would load."""
    probe = PROBE.format(paths=[str(REPO_ROOT / "layers" / "common"), str(spec.code_uri)], module=spec.module,
                         then=then)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true"})
    assert done.returncode == 0, done.stderr[-2000:]
    return frozenset(json.loads(done.stdout))


@cache
def _graphs() -> dict[str, frozenset[str]]:
    """Every handler's modules, from interpreters started side by side (a few seconds in all)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(FUNCTIONS, pool.map(_probe, FUNCTIONS.values()), strict=True))


def imported_by(function: str) -> frozenset[str]:
    return _graphs()[function]


def _loaded(function: str, prefixes: tuple[str, ...] | str) -> list[str]:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return sorted(m for m in imported_by(function) if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_handler_imports_no_other_functions_code(function: str) -> None:
    others = {spec.module for name, spec in FUNCTIONS.items() if name != function}
    assert not others & imported_by(function), "a handler module imports another function's handler"
    loaded = imported_by(function)
    foreign = {module: owner for module, owner in OWNED.items() if owner != function and module in loaded}
    assert not foreign, f"{function} imports code that belongs to another function: {foreign}"


@pytest.mark.parametrize("function", sorted(HTTP))
def test_an_http_function_imports_no_queue_consumer_machinery(function: str) -> None:
    loaded = _loaded(function, CONSUMER_ONLY)
    assert not loaded, f"{function} imports what only queue consumers need: {loaded[:5]}"


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - HTTP))
def test_a_queue_or_schedule_function_imports_no_http_machinery(function: str) -> None:
    loaded = _loaded(function, HTTP_ONLY)
    assert not loaded, f"{function} imports the HTTP API's resolver or error mapping: {loaded[:5]}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_heavy_libraries_wait_for_their_first_use(function: str) -> None:
    loaded = _loaded(function, NEVER_AT_IMPORT)
    assert not loaded, f"{function} imports with its handler what loads on first use: {loaded[:5]}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_no_handler_builds_event_models_it_never_uses(function: str) -> None:
    loaded = _loaded(function, NEVER_USED)
    assert not loaded, f"{function} builds Powertools' parser models (batch utility not imported first?): {loaded[:5]}"


@pytest.mark.parametrize("function", sorted(set(OWNED.values()) - HTTP))
def test_a_queue_or_schedule_function_loads_its_use_case_with_its_handler(function: str) -> None:
    # Every event runs it: its first event should not wait for its import (docs/architecture.md, "Cold start").
    missing = [module for module, owner in OWNED.items() if owner == function and module not in imported_by(function)]
    assert not missing, f"{function} leaves {missing} to its first event"


@pytest.mark.parametrize("function", sorted(NOT_FOR))
def test_a_worker_imports_only_the_models_it_sends_or_reads(function: str) -> None:
    loaded = _loaded(function, NOT_FOR[function])
    assert not loaded, f"{function} imports what it never uses: {loaded}"


def test_the_apis_that_seldom_call_xero_build_its_client_on_first_use() -> None:
    # The expenses API calls Xero for reference data, mappings and starting a sync only; the receipts' status and
    # Sync now never do (docs/architecture.md, "Cold start").
    for function in ("SyncExpensesApiFunction", "AttachmentsApiFunction", "AutoSyncApiFunction"):
        loaded = _loaded(function, ("xerosync.xero.client", "xerosync.xero.models"))
        assert not loaded, f"{function} imports {loaded}"


# The connect API's use cases, each built when a route first needs it, with what only some of them use: the Bank
# Feeds models, the sync request queue, the shared cache. Its Xero and ledger clients stay at import: every route
# but the health check uses them (docs/architecture.md, "Cold start").
CONNECT_API_ON_FIRST_USE = ("xerosync.connect.oauth", "xerosync.connect.states", "xerosync.store.oauth_states",
                            "xerosync.store.consents", "xerosync.connect.status", "xerosync.connect.views",
                            "xerosync.connect.linking", "xerosync.connect.disconnect", "xerosync.connect.cleanup",
                            "xerosync.connect.adapters", "xerosync.connect.ports", "xerosync.xero.bank_feeds",
                            "xerosync.auto_sync.sync_now", "xerosync.store.shared_cache")


def test_the_connect_api_builds_each_use_case_on_first_use() -> None:
    loaded = _loaded("ConnectApiFunction", CONNECT_API_ON_FIRST_USE)
    assert not loaded, f"ConnectApiFunction imports with its handler what a route builds on first use: {loaded}"


# What only the expense sync sends or reads in Xero (Spend Money, contacts, tax rates, tracking, receipts): the
# functions that never sync an expense never build these classes (docs/architecture.md, "Cold start").
EXPENSE_MODELS = "xerosync.xero.expense_models"
NEVER_SYNC_AN_EXPENSE = ("ConnectApiFunction", "XeroCleanupFunction", "ConnectionCheckFunction",
                         "AutoSyncWorkerFunction", "AutoSyncDispatcherFunction", "FeedEventsFunction",
                         "AutoSyncApiFunction")


@pytest.mark.parametrize("function", NEVER_SYNC_AN_EXPENSE)
def test_a_function_that_never_syncs_an_expense_builds_no_expense_models(function: str) -> None:
    loaded = _loaded(function, EXPENSE_MODELS)
    assert not loaded, f"{function} imports Xero's expense-only models: {loaded}"


# The expenses API's tabs, edits and job reads never call Xero: neither its import nor the use cases its first request
# builds (the modules `build_expense_service` imports) load the Xero session, the rate governor or Xero's models; they
# load with the first call to Xero (`XeroOnFirstUse`). The purposes a call names live apart from the governor for
# this (docs/architecture.md, "Cold start").
XERO_SESSION = ("xerosync.xero.session", "xerosync.xero.governor", "xerosync.xero.transport", "xerosync.xero.tokens",
                "xerosync.xero.identity", "xerosync.xero.models", EXPENSE_MODELS)
EXPENSES_API_USE_CASES = ("xerosync.sync_expenses.service", "xerosync.sync_expenses.access",
                          "xerosync.sync_expenses.suggestion_store", "xerosync.sync_expenses.xero_gateway")


def test_the_expenses_api_loads_the_xero_session_with_its_first_call_to_xero() -> None:
    loaded = _loaded("SyncExpensesApiFunction", XERO_SESSION)
    assert not loaded, f"SyncExpensesApiFunction imports with its handler {loaded}"
    first_request = _probe(FUNCTIONS["SyncExpensesApiFunction"], then=EXPENSES_API_USE_CASES)
    assert set(EXPENSES_API_USE_CASES) <= first_request
    loaded = sorted(m for m in first_request if m in XERO_SESSION)
    assert not loaded, f"the expenses API's first request loads {loaded} before any call to Xero"


# The expenses API's import holds its routes' models and its resolver; what its requests run loads with the first of
# them: the feature gate and the stores it reads (the ledger's client stays: it brings requests, which every request
# needs), the category mapping and Xero's reference data (the edit bodies take Xero's field limits from the models).
# Starting a sync is what a first request seldom does: the request deduplicator (Powertools' idempotency and a
# DynamoDB client) and the SQS client load with the first sync started (docs/architecture.md, "Cold start").
EXPENSES_API_ON_FIRST_REQUEST = ("xerosync.sync_expenses.access", "xerosync.store.feeds", "xerosync.store.connections",
                                 "xerosync.sync_expenses.mapping", "xerosync.sync_expenses.reference_data")
ON_FIRST_SYNC = ("xerosync.sync_expenses.request_dedup", "aws_lambda_powertools.utilities.idempotency")


def test_the_expenses_api_loads_what_its_requests_run_with_the_first_of_them() -> None:
    loaded = _loaded("SyncExpensesApiFunction", EXPENSES_API_ON_FIRST_REQUEST + ON_FIRST_SYNC)
    assert not loaded, f"SyncExpensesApiFunction imports with its handler {loaded}"
    first_request = _probe(FUNCTIONS["SyncExpensesApiFunction"], then=EXPENSES_API_USE_CASES)
    assert set(EXPENSES_API_ON_FIRST_REQUEST) <= first_request
    loaded = sorted(m for m in first_request if any(m == p or m.startswith(p + ".") for p in ON_FIRST_SYNC))
    assert not loaded, f"the expenses API's first request loads {loaded[:5]} before any sync is started"


# The Spend Money worker reads each payment through the ledger's client and teaches payees' histories what it synced,
# both built by its getter with the first batch: the ledger's models and the histories' store load with them, not with
# the handler (docs/architecture.md, "Cold start").
WORKER_ON_FIRST_BATCH = ("xerosync.ledger", "xerosync.sync_expenses.suggestion_store",
                         "xerosync.sync_expenses.suggestions")


def test_the_spend_money_worker_loads_the_ledger_and_the_payees_histories_with_its_first_batch() -> None:
    loaded = _loaded("SyncExpensesWorkerFunction", WORKER_ON_FIRST_BATCH)
    assert not loaded, f"SyncExpensesWorkerFunction imports with its handler {loaded}"
    first_batch = _probe(FUNCTIONS["SyncExpensesWorkerFunction"], then=("xerosync.ledger.client",
                                                                       "xerosync.sync_expenses.suggestion_store"))
    assert {"xerosync.ledger.models", "xerosync.sync_expenses.suggestions"} <= first_batch


def test_the_probe_sees_what_a_handler_imports() -> None:
    # A rule that could never fail would prove nothing: each kind of function loads its own machinery.
    for function in CONSUMERS:
        assert _loaded(function, "aws_lambda_powertools.utilities.batch"), function
    for function in HTTP:
        assert _loaded(function, "aws_lambda_powertools.event_handler.api_gateway"), function
    assert "xerosync.attachments.status" in imported_by("AttachmentsApiFunction")
    assert "xerosync.xero.client" in imported_by("ConnectApiFunction")
    assert "xerosync.xero.models" in imported_by("ConnectApiFunction")
    assert "xerosync.xero.governor" in imported_by("ConnectApiFunction")
    assert "xerosync.xero.session" in _probe(FUNCTIONS["SyncExpensesApiFunction"], then=("xerosync.xero.client",))
    for function in ("SyncExpensesWorkerFunction", "AttachmentsWorkerFunction"):
        assert EXPENSE_MODELS in imported_by(function), function
    assert "xerosync.connect.cleanup" in imported_by("XeroCleanupFunction")
    assert "xerosync.xero.bank_feeds" in imported_by("AutoSyncWorkerFunction")
    for module in ("xerosync.sync_expenses.views", "xerosync.auth", "xerosync.ledger.models"):
        assert module in imported_by("SyncExpensesApiFunction"), module
    for module in ("xerosync.sync_expenses.mapping", "xerosync.sync_expenses.reference_data"):
        assert module in imported_by("SyncExpensesWorkerFunction"), module


def test_the_batch_utility_imported_after_pydantic_builds_the_parser_models() -> None:
    # Why the consumers import the batch utility first; should Powertools stop doing this, the import order no longer
    # matters and this test says so.
    probe = ("import sys, pydantic, aws_lambda_powertools.utilities.batch\n"
             "print('aws_lambda_powertools.utilities.parser.models.sqs' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "True"




# pydantic looks for plugins (the entry points of every installed distribution) when it builds its first validator;
# the product uses none and switches the lookup off in its package (docs/architecture.md, "Cold start"). The HTTP
# functions' Powertools OpenAPI parameters build a validator before the product's package loads, so they still pay.
PLUGINS_PROBE = """
import json, sys
sys.path[:0] = {paths!r}
import {module}
from pydantic.plugin import _loader
print(json.dumps(_loader._plugins is None))
"""


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - HTTP))
def test_a_queue_or_schedule_function_never_looks_for_pydantic_plugins(function: str) -> None:
    looked = not _probed(PLUGINS_PROBE, function)
    assert not looked, f"{function}'s import read the installed distributions for pydantic plugins"


def _probed(probe: str, function: str) -> Any:
    """What ``probe`` prints (JSON) after importing ``function``'s handler in a fresh interpreter, as Lambda does."""
    spec = FUNCTIONS[function]
    done = subprocess.run([sys.executable, "-c", probe.format(paths=[str(LAYER), str(spec.code_uri)],
                                                              module=spec.module)],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)

# pydantic evaluates a model's annotations when its class is created, even when the model is built on first use: given
# as strings (``from __future__ import annotations``), each is compiled first, a third of the class's creation. So the
# modules that define models leave their annotations unpostponed, and quote only a forward reference
# (docs/architecture.md, "Cold start").
POSTPONED = """
import json, sys
sys.path[:0] = {paths!r}
import importlib
from pydantic import BaseModel
for module in {modules!r}:
    importlib.import_module(module)
found, todo = [], [BaseModel]
while todo:
    for model in todo.pop().__subclasses__():
        todo.append(model)
        own = model.__dict__.get("__annotations__", {{}})
        if model.__module__.startswith("xerosync") and any(isinstance(a, str) for a in own.values()):
            found.append(model.__module__ + "." + model.__qualname__)
print(json.dumps(sorted(set(found))))
"""


def test_the_products_models_are_created_from_evaluated_annotations() -> None:
    probe = POSTPONED.format(paths=[str(LAYER)], modules=sorted(LAYER_MODULES))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true"})
    assert done.returncode == 0, done.stderr[-2000:]
    postponed = json.loads(done.stdout)
    assert not postponed, f"models whose annotations pydantic compiles from strings at every cold start: {postponed}"

# ------------------------------------------------------------------------------------------ features and their rooms
# Each feature has one folder of functions and one package in the layer; everything else in the layer is shared
# (store, xero, ledger, model, clock, text, settings, http, queue...). A feature reaches into another only through
# the entry points listed here, each with why; any other import of another feature's module is one of its internals
# and fails. The check reads every import statement, those inside functions (built on first use) and under
# TYPE_CHECKING included.
LAYER = REPO_ROOT / "layers" / "common"
FEATURES = {  # feature: (its functions' folder, its package)
    "connect": ("functions/connect", "xerosync.connect"),
    "auto_sync": ("functions/auto_sync", "xerosync.auto_sync"),
    "sync_expenses": ("functions/sync_expenses", "xerosync.sync_expenses"),
    "attachments": ("functions/attachments", "xerosync.attachments"),
}
CROSS_FEATURE = {  # (importing feature, or "shared"; module of another feature) -> what it uses it for
    # Receipts belong to an expense's Spend Money: the receipts feature reads and writes the expense record, is
    # sent by the expenses' FIFO sender, and answers behind the expenses' feature gate.
    ("attachments", "xerosync.sync_expenses.models"): "the expense record and the receipt upload message",
    ("attachments", "xerosync.sync_expenses.store"): "the expense a receipt belongs to",
    ("attachments", "xerosync.sync_expenses.access"): "the sync-expenses feature gate",
    ("attachments", "xerosync.sync_expenses.fifo_queues"): "the FIFO sender of receipt uploads",
    ("attachments", "xerosync.sync_expenses.state_machine"): "an expense's receipt problems, as its states record them",
    ("sync_expenses", "xerosync.attachments.plan"): "which receipts wait for the Spend Money (an expense's view)",
    ("connect", "xerosync.auto_sync.sync_now"): "a linked or moved feed syncs at once",
    ("auto_sync", "xerosync.sync_expenses.catch_up"): "payments a feed sync delivers catch up their expenses",
    ("auto_sync", "xerosync.sync_expenses.store"): "the catch-up's expense store",
    ("auto_sync", "xerosync.sync_expenses.wiring"): "parked_work settles Spend Money batches killed on their last try",
    ("shared", "xerosync.auto_sync.messages"): "the feed store records the fast lane's charges (LaneCharge)",
}
# What a feature's queue consumers and schedules run: no handler of another feature loads it, even on first use.
WORKERS = {
    "connect": ("xerosync.connect.check", "xerosync.connect.cleanup"),
    "auto_sync": ("xerosync.auto_sync.worker", "xerosync.auto_sync.statements", "xerosync.auto_sync.dispatch",
                  "xerosync.auto_sync.fast_lane", "xerosync.auto_sync.settling"),
    "sync_expenses": ("xerosync.sync_expenses.worker", "xerosync.sync_expenses.planner",
                      "xerosync.sync_expenses.event_intake"),
    "attachments": ("xerosync.attachments.service", "xerosync.attachments.uploader"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


LAYER_MODULES = {_module_name(path): path for path in (LAYER / "xerosync").rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """The product's modules a file imports, at its top or anywhere below (``from a import b`` names ``a.b`` when
    ``b`` is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in LAYER_MODULES else node.module
                      for alias in node.names}
    return {name for name in found if name == "xerosync" or name.startswith("xerosync.")}


def _feature_of_module(module: str) -> str | None:
    return next((f for f, (_, package) in FEATURES.items() if module == package or module.startswith(package + ".")),
                None)


def _code() -> dict[str, tuple[str, Path]]:
    """Every module of the layer and every handler, with the feature it belongs to ("shared" for the rest)."""
    code = {module: (_feature_of_module(module) or "shared", path) for module, path in LAYER_MODULES.items()}
    for feature, (folder, _) in FEATURES.items():
        code |= {f"{folder}/{path.name}": (feature, path) for path in (REPO_ROOT / folder).glob("*.py")}
    return code


def _crossings() -> dict[tuple[str, str], list[str]]:
    """(importing feature, imported module of another feature) -> the modules that import it."""
    crossings: dict[tuple[str, str], list[str]] = {}
    for module, (feature, path) in sorted(_code().items()):
        for imported in _imports(path):
            owner = _feature_of_module(imported)
            if owner is not None and owner != feature and imported != FEATURES[owner][1]:
                crossings.setdefault((feature, imported), []).append(module)
    return crossings


def test_a_feature_reaches_into_another_only_through_its_listed_entry_points() -> None:
    undeclared = {crossing: users for crossing, users in _crossings().items() if crossing not in CROSS_FEATURE}
    assert not undeclared, ("a feature (or shared code) imports another feature's internals; use a shared module or "
                            f"list the entry point in CROSS_FEATURE with its reason: {undeclared}")


def test_every_listed_entry_point_is_still_used() -> None:
    unused = set(CROSS_FEATURE) - set(_crossings())
    assert not unused, f"CROSS_FEATURE lists crossings nobody makes any more; remove them: {sorted(unused)}"


def test_the_feature_map_covers_every_function_and_worker() -> None:
    folders = {folder for folder, _ in FEATURES.values()}
    assert {str(spec.code_uri.relative_to(REPO_ROOT)) for spec in FUNCTIONS.values()} == folders
    for feature, modules in WORKERS.items():
        for module in modules:
            assert module in LAYER_MODULES and _feature_of_module(module) == feature, module
    # An entry point is never a worker, so no crossing leads a handler to another feature's worker on first use.
    assert not {module for _, module in CROSS_FEATURE} & {m for modules in WORKERS.values() for m in modules}
    # The reader sees lazy imports: connect's wiring builds the sign-in on first use, importing auto_sync.sync_now.
    assert ("connect", "xerosync.auto_sync.sync_now") in _crossings()


def test_no_two_modules_one_name_where_a_reader_would_take_one_for_the_other() -> None:
    # A handler is imported by its bare name (Lambda's /var/task); the shared store package is where every feature's
    # data access lives. A layer module named like a handler, or a feature module named like a store, reads as the
    # other one (docs/architecture.md, "Features and what they share").
    stems: dict[str, list[str]] = {}
    for module in LAYER_MODULES:
        stems.setdefault(module.rsplit(".", 1)[-1], []).append(module)
    handlers = {spec.module for spec in FUNCTIONS.values()}
    assert not {h: stems[h] for h in handlers if h in stems}, "a layer module has a handler's name"
    stores = {module.rsplit(".", 1)[-1] for module in LAYER_MODULES if module.startswith("xerosync.store.")}
    twins = {m for m in LAYER_MODULES if m.rsplit(".", 1)[-1] in stores and not m.startswith("xerosync.store.")}
    assert not twins, f"a feature module has a shared store's name: {sorted(twins)}"


def _feature_of_function(function: str) -> str:
    folder = str(FUNCTIONS[function].code_uri.relative_to(REPO_ROOT))
    return next(feature for feature, (own, _) in FEATURES.items() if own == folder)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_handler_loads_no_other_features_worker(function: str) -> None:
    feature = _feature_of_function(function)
    foreign = sorted(m for other, modules in WORKERS.items() if other != feature for m in modules
                     if m in imported_by(function))
    assert not foreign, f"{function} ({feature}) imports another feature's worker: {foreign}"


# What a handler's import built lives as long as its execution environment: ``instrument()`` freezes it, so that no
# collection of an invocation walks it again (docs/architecture.md, "Cold start").
FROZEN_PROBE = """
import gc, json, sys
sys.path[:0] = {paths!r}
before = gc.get_freeze_count()
import {module}
print(json.dumps([before, gc.get_freeze_count(), len(gc.get_objects())]))
"""


@pytest.mark.parametrize("function", ["SyncExpensesWorkerFunction", "AutoSyncDispatcherFunction", "ConnectApiFunction"])
def test_a_handler_import_leaves_its_objects_to_the_collector_no_more(function: str) -> None:
    before, frozen, still_tracked = _probed(FROZEN_PROBE, function)
    assert before == 0
    assert frozen > 20_000, f"{function}'s import left only {frozen} objects frozen"
    assert still_tracked < frozen / 10, f"{function}'s import left {still_tracked} objects for the collector to walk"
