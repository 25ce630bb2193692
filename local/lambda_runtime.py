"""Runs the template's handlers in this process, as Lambda would: same module path, an event, a context.

Handler modules are imported the way Lambda imports them: the layer's directory and each function's
CodeUri on ``sys.path`` (module names are unique across functions, so they never collide).
"""

from __future__ import annotations

import collections
import contextvars
import importlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.template import REPO_ROOT, FunctionSpec, Template

LAYER_DIR = REPO_ROOT / "layers" / "common"
KEEP_INVOCATIONS = 1000  # the last invocations, for tests to read (a long run must not keep every event)

# The function whose execution role AWS would use for what runs now (its handler, or Lambda's poller
# receiving and deleting its messages); None for everything else in the process.
_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("local_lambda_function", default=None)


def acting_function() -> str | None:
    return _acting.get()


@contextmanager
def acting_as(function: str) -> Iterator[None]:
    token = _acting.set(function)
    try:
        yield
    finally:
        _acting.reset(token)


_invocation_log_keys: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "local_lambda_log_keys", default=None)


class _InvocationLogKeys(logging.Filter):
    """Writes the running invocation's function name, ARN, request id, cold start and service on its lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_invocation_log_keys.get() or {}).items():
            setattr(record, key, value)
        return True


_LOG_KEYS = _InvocationLogKeys()


def _correlation_id_per_invocation(logger: Any) -> None:
    """The correlation id an invocation sets (Powertools keeps it on the shared formatter) is also kept as one of
    its own log keys, so that another function's lines meanwhile carry theirs, not this request's id."""
    setting = logger.set_correlation_id
    if getattr(setting, "per_invocation", False):
        return

    def set_correlation_id(value: str | None) -> None:
        keys = _invocation_log_keys.get()
        if keys is not None:
            keys["correlation_id"] = value
        setting(value)

    set_correlation_id.per_invocation = True  # type: ignore[attr-defined]
    logger.set_correlation_id = set_correlation_id


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that Powertools and the product read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    started: float  # on ``now``
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    now: Callable[[], float] = time.monotonic  # the runtime's clock: a soak's virtual time when it has one

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - self.now()) * 1000))


class TaskTimedOut(Exception):
    """The invocation ran past its function's timeout on the runtime's clock: Lambda reports it failed."""


@dataclass
class Invocation:
    function: str
    event: dict[str, Any]
    result: Any = None
    error: BaseException | None = None
    duration_ms: float = 0.0  # real time
    seconds: float = 0.0  # on the runtime's clock, from the moment the handler started (a soak's world time)


_running: contextvars.ContextVar[LocalContext | None] = contextvars.ContextVar("local_lambda_context", default=None)


def running_context() -> LocalContext | None:
    """The context of the invocation whose handler runs in this thread now (None outside a handler): what a soak
    reads to end an invocation at its timeout, as Lambda does."""
    return _running.get()


class LambdaRuntime:
    """Imports handlers on first use and invokes them, several at once if asked (each in its own thread, as
    concurrent Lambda instances); keeps the last invocations for tests."""

    def __init__(self, template: Template, clock: Any = None) -> None:
        self.functions = template.functions()
        self.template = template
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self._lock = threading.Lock()
        # One HTTP request at a time per function: see ``invoke``.
        self._http_locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self.invocations: collections.deque[Invocation] = collections.deque(maxlen=KEEP_INVOCATIONS)
        self._warm: set[str] = set()  # functions invoked once already: their next invocation is warm
        self.listeners: list[Callable[[Invocation], None]] = []
        for path in {LAYER_DIR, *(spec.code_uri for spec in self.functions.values())}:
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        # Each function keeps its own cold-start caches (clients, the secret, tokens), as in Lambda.
        from xerosync.lifecycle import set_environment_key

        set_environment_key(acting_function)
        self._clock = clock
        if clock is not None:
            from xerosync.clock import use_process_clock

            use_process_clock(clock)  # the functions' time (as on the emulators and SQS): a soak's virtual clock

        from xerosync.observability import logger

        logger.addFilter(_LOG_KEYS)  # once: logging adds a filter object that is already there only once
        _correlation_id_per_invocation(logger)

    def close(self) -> None:
        """The functions' clock is real time again."""
        if self._clock is not None:
            from xerosync.clock import use_process_clock

            use_process_clock(None)

    def handler(self, function: str) -> Callable[[dict[str, Any], Any], Any]:
        with self._lock:
            if function not in self._handlers:
                spec = self.functions[function]
                module = importlib.import_module(spec.module)
                self._handlers[function] = getattr(module, spec.attribute)
            return self._handlers[function]

    def override(self, function: str, handler: Callable[[dict[str, Any], Any], Any]) -> None:
        """Stand a test's own handler in for a function (to exercise the event source, not the code)."""
        if function not in self.functions:
            raise KeyError(f"{function} is not a function of the template")
        with self._lock:
            self._handlers[function] = handler

    def context(self, spec: FunctionSpec) -> LocalContext:
        """The invocation's context, its time counted from now on the runtime's clock (the functions' clock)."""
        name = self.template.physical_name(spec.logical_id)
        now = self._clock.time if self._clock is not None else time.monotonic
        return LocalContext(
            function_name=name, memory_limit_in_mb=spec.memory,
            invoked_function_arn=self.template.arn(spec.logical_id), aws_request_id=str(uuid.uuid4()),
            timeout_seconds=spec.timeout, started=now(), log_group_name=f"/aws/lambda/{name}", now=now,
        )

    def _log_keys(self, spec: FunctionSpec, context: LocalContext) -> dict[str, Any]:
        """What Powertools' logger writes on the invocation's lines, as this function's own process would.

        In Lambda each function has its own process, so the layer's one logger holds that function's keys. Here
        every function shares the process and the logger, and ``inject_lambda_context`` stores the keys on the
        shared formatter: a line would carry whichever function's invocation set them last (and the service
        read when the layer was first imported, and one cold start for the whole process). The decorator also
        clears Powertools' thread-safe keys, so the runtime puts its keys on each record instead (a record's
        own attributes are written last), from a context variable set for the invocation's thread. The
        correlation id is one of them: the one the invocation set, or none (``_correlation_id_per_invocation``)."""
        with self._lock:
            cold_start = spec.logical_id not in self._warm
            self._warm.add(spec.logical_id)
        service = spec.environment.get("POWERTOOLS_SERVICE_NAME")
        keys: dict[str, Any] = {
            "cold_start": cold_start, "function_name": context.function_name,
            "function_memory_size": context.memory_limit_in_mb, "function_arn": context.invoked_function_arn,
            "function_request_id": context.aws_request_id, "correlation_id": None,
        }
        if isinstance(service, str):
            keys["service"] = service
        return keys

    @contextmanager
    def _one_request_at_a_time(self, function: str, event: dict[str, Any]) -> Iterator[None]:
        """An HTTP request waits for the function's previous one to finish.

        In Lambda an execution environment serves one invocation at a time, and concurrent requests get
        environments of their own, each with its own copy of the handler module. Here every invocation of a
        function shares one module, and Powertools' resolver keeps the request it is resolving on itself (the
        event, the route whose response model validates the answer): two requests at once would read each
        other's. Queue and schedule invocations keep their per-invocation state in locals and still run
        several at once, as the soak and the concurrency tests need."""
        if not isinstance(event.get("requestContext"), dict) or "http" not in event["requestContext"]:
            yield
            return
        with self._http_locks[function]:
            yield

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke synchronously; an exception from the handler propagates, as Lambda reports it."""
        handler = self.handler(function)
        record = Invocation(function=function, event=event)
        started = time.perf_counter()
        spec = self.functions[function]
        try:
            with acting_as(function), self._one_request_at_a_time(function, event):
                # Its time counts from here: in Lambda it would not have waited for another request's environment.
                context = self.context(spec)
                keys = _invocation_log_keys.set(self._log_keys(spec, context))
                running = _running.set(context)
                try:
                    result = handler(event, context)
                finally:
                    _running.reset(running)
                    _invocation_log_keys.reset(keys)
                    record.seconds = context.now() - context.started
                if record.seconds > spec.timeout:
                    # Lambda would have ended it at its timeout: it answers nothing (the HTTP API answers 500, a
                    # queue's batch comes back). A soak ends it there, at its next call (local/soak/chaos.py).
                    raise TaskTimedOut(f"Task timed out after {spec.timeout:.2f} seconds")
                record.result = result
            return record.result
        except BaseException as exc:
            record.error = exc
            raise
        finally:
            record.duration_ms = (time.perf_counter() - started) * 1000
            self.invocations.append(record)
            for listener in self.listeners:
                listener(record)
