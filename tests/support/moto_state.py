"""Provisioned once per process: moto's AWS as provisioning the template left it, copied back for each test.

Provisioning the template in moto (keys, the secret, tables, queues, rules, policies and alarms: some forty
calls) cost every test that provisioned its own AWS about a third of a second of CPU; copying moto's backends
as they stood right after provisioning costs about a millisecond. A test that starts from the copy starts from
what provisioning gives, exactly: the same resources with the same ids, ARNs and attributes, and nothing another
test wrote, sent or received (each test gets a copy of its own; the kept state is never handed out).

The state kept is keyed by what provisioning makes of the template (``aws_state_key``): the resources it
creates, the parameters and conditions those may name, the stack's name and the provisioning options. The
functions' environment (the emulators' addresses, which change from test to test) is not AWS state: it is
derived again from each test's own template.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend

from local.provision import LISTENERS, Provisioned, create_locally, function_environment, provision
from local.template import Template

# Resource types the runner does not create in AWS: the local Lambda runtime reads them from the template.
_NOT_PROVISIONED = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_OUTSIDE_SECRET = create_locally("")
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()), threading.Condition)


class MotoState:
    """A copy of every moto backend in use (each service, account and region), to put back later."""

    def __init__(self) -> None:
        in_use: list[BackendDict[Any]] = BackendDict._instances  # type: ignore[misc]
        live = [(backends, account, region, backend) for backends in in_use
                for account, regional in backends.items() for region, backend in regional.items()]
        self._where = [(backends, account, region) for backends, account, region, _ in live]
        self._shared: list[Any] = [backends for backends, *_ in live]
        self._kept = self._copy([backend for *_, backend in live])

    def restore(self) -> None:
        """Put a fresh copy of the kept state in place of moto's (call it just after ``mock_aws`` started: moto's
        backends are then empty)."""
        for (backends, account, region), backend in zip(self._where, self._copy(self._kept), strict=True):
            dict.__setitem__(backends[account], region, backend)  # backends[account] registers it with moto

    def _copy(self, backends: list[BaseBackend]) -> list[BaseBackend]:
        # One deep copy for all of them, so that anything two backends share stays shared. A lock (SQS keeps one
        # per queue) cannot be copied: each copy gets a new one; a key object of `cryptography` (KMS keys' key
        # material) cannot be either, and never changes: the copies share it.
        locks: list[Any] = []
        memo: dict[int, Any] = {id(shared): shared for shared in self._shared}
        _find_special(backends, locks, memo, set())
        memo.update({id(lock): type(lock)() for lock in locks})
        return copy.deepcopy(backends, memo)


def _find_special(value: Any, locks: list[Any], immutable: dict[int, Any], seen: set[int]) -> None:
    if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None), type)):
        return
    seen.add(id(value))
    if isinstance(value, _LOCK_TYPES):
        locks.append(value)
    elif type(value).__module__.startswith("cryptography"):
        immutable[id(value)] = value
    elif isinstance(value, dict):
        for item in value.values():
            _find_special(item, locks, immutable, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _find_special(item, locks, immutable, seen)
    elif hasattr(value, "__dict__"):
        for item in vars(value).values():
            _find_special(item, locks, immutable, seen)


_resources_text: dict[int, tuple[dict[str, Any], str]] = {}


def aws_state_key(template: Template, **options: Any) -> str:
    """What provisioning makes of ``template`` in AWS depends on: every resource but the functions, the values of
    the parameters those name (any parameter whose name appears in them counts), the conditions, the secrets the
    runner creates from parameters, the stack's name and the options given to ``provision``."""
    body = template.body
    if id(body) not in _resources_text or _resources_text[id(body)][0] is not body:
        resources = {lid: res for lid, res in template.resources.items() if res["Type"] not in _NOT_PROVISIONED}
        _resources_text[id(body)] = (body, json.dumps(resources, sort_keys=True, default=str))
    text = _resources_text[id(body)][1]
    named = {name: value for name, value in template.parameters.items()
             if name in text or value.startswith(_OUTSIDE_SECRET)}
    return json.dumps([template.stack_name, text, named, template.conditions, options], sort_keys=True)


_provisioned: dict[str, tuple[MotoState, Provisioned]] = {}


def provision_once(template: Template, **options: Any) -> Provisioned:
    """``provision(template, **options)`` in moto (started and empty), or a copy of what it gave the first time in
    this process: the same resources and references, with the environment derived from this ``template``."""
    key = aws_state_key(template, **options)
    if key not in _provisioned:
        provisioned = provision(template, **options)
        _provisioned[key] = (MotoState(), provisioned)
        return provisioned
    state, first = _provisioned[key]
    state.restore()
    secrets = {name: first.template.parameters[name] for name, value in template.parameters.items()
               if value.startswith(_OUTSIDE_SECRET)}
    template = template.with_parameters(**secrets) if secrets else template
    provisioned = Provisioned(template=template, refs=dict(first.refs), secret_keys=dict(first.secret_keys),
                              queue_keys=dict(first.queue_keys))
    provisioned.environment = function_environment(template, provisioned.refs)
    for listener in LISTENERS:
        listener(provisioned)
    return provisioned
