"""IAM as AWS would apply it to the local runner's functions: moto answers every call, this says which ones
AWS would refuse.

- ``requests_of`` turns one botocore call into the IAM authorisations AWS checks for it (action, resource ARN
  and the condition keys the request carries), e.g. a ``TransactWriteItems`` into one ``PutItem`` or
  ``UpdateItem`` per item and table, or a ``GetSecretValue`` of a secret under a customer-managed key into
  the ``kms:Decrypt`` that Secrets Manager makes with the caller's permissions.
- ``CallRecorder`` hooks every botocore client created after it is installed and records each call made
  while the local Lambda runtime runs a function (``local.lambda_runtime.acting_function``), so that each
  call is attributed to the function whose role AWS would use.
- ``AccessModel`` reads each function's role and the key policies from the template as SAM expands it
  (``local/sam_translate.py``, run by aws-sam-cli's environment) and evaluates a request: allowed by the
  role's statements, and for KMS also by the key's policy, with no explicit deny; conditions are evaluated,
  and one the model does not understand is an error, never a silent allow.

See docs/security.md for how the tests use it.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import fnmatch
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.lambda_runtime import acting_function
from local.provision import Provisioned
from local.template import ACCOUNT_ID, REGION, TEMPLATE_PATH, Template, load_template

SAM_PYTHON = Path(os.environ.get("SAM_PYTHON", str(TEMPLATE_PATH.parent / ".venv-sam" / "bin" / "python")))
ACCOUNT_ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"

Context = dict[str, str | list[str]]


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes for a call."""

    action: str
    resource: str
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()

    def condition_values(self) -> Context:
        return {key.lower(): list(value) if isinstance(value, tuple) else value for key, value in self.context}

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


def _context(**values: str | list[str]) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    return tuple(sorted((key, tuple(value) if isinstance(value, list) else value) for key, value in values.items()))


# ---------------------------------------------------------------------------------------------- call -> IAM
def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"


def queue_arn(url_or_name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{url_or_name.rstrip('/').rsplit('/', 1)[-1]}"


def key_arn(key_id: str) -> str:
    if key_id.startswith("arn:"):
        return key_id
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{key_id if key_id.startswith('alias/') else 'key/' + key_id}"


_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
# Batch calls are authorised as the single action (SQS's Batch APIs have no IAM action of their own).
_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def requests_of(service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    """The IAM authorisations AWS checks for one API call (signing name, operation name, its parameters)."""
    if service == "dynamodb":
        return _dynamodb(operation, params)
    if service == "sqs":
        if operation == "GetQueueUrl":
            return [Request("sqs:GetQueueUrl", queue_arn(params["QueueName"]))]
        if "QueueUrl" in params:
            return [Request(f"sqs:{_SQS_BATCH.get(operation, operation)}", queue_arn(params["QueueUrl"]))]
    if service == "kms" and "KeyId" in params:
        context = params.get("EncryptionContext") or {}
        keys = {f"kms:EncryptionContext:{k}": str(v) for k, v in context.items()}
        return [Request(f"kms:{operation}", key_arn(params["KeyId"]),
                        _context(**keys, **{"kms:EncryptionContextKeys": sorted(context)}))]
    if service == "secretsmanager" and "SecretId" in params:
        return [Request(f"secretsmanager:{operation}", params["SecretId"])]
    return [Request(f"{service}:{operation}", "*")]


def _dynamodb(operation: str, params: dict[str, Any]) -> list[Request]:
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Request(f"dynamodb:{operation}", table_arn(name)) for name in params.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                found.append(Request(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", table_arn(body["TableName"])))
        return found
    if "TableName" not in params:
        return [Request(f"dynamodb:{operation}", "*")]
    arn = table_arn(params["TableName"])
    if params.get("IndexName"):
        arn += f"/index/{params['IndexName']}"
    return [Request(f"dynamodb:{operation}", arn)]


# ---------------------------------------------------------------------------------------------- recording
@dataclass(frozen=True)
class ObservedCall:
    function: str
    operation: str  # e.g. dynamodb.TransactWriteItems
    request: Request
    environment: Provisioned


class CallRecorder:
    """Records the AWS calls each function makes under the local Lambda runtime.

    Installed once per process, before the first botocore session is created: it adds a handler to
    botocore's built-in handlers, which every new session registers (moto's ``mock_aws`` hooks in the
    same way). Work a function hands to a thread pool stays attributed to it (the pool's threads get the
    submitting thread's context, as they would in the function's own process).
    """

    def __init__(self) -> None:
        self.calls: list[ObservedCall] = []
        self.environment: Provisioned | None = None
        self._lock = threading.Lock()

    @classmethod
    def install(cls) -> CallRecorder:
        import botocore.handlers

        recorder = cls()
        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", recorder._on_call))
        _propagate_context_to_thread_pools()
        return recorder

    def provisioned(self, environment: Provisioned) -> None:
        """The AWS the functions now run against (the latest stack or ``mock_aws`` provisioned)."""
        self.environment = environment

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        function = acting_function()
        if function is None or self.environment is None:
            return  # the test's own set-up and checks, the emulators, the runner: not a function's role
        service = model.service_model.signing_name
        operation = f"{model.service_model.service_name}.{model.name}"
        found = [ObservedCall(function, operation, request, self.environment)
                 for request in requests_of(service, model.name, params)]
        for call in list(found):
            found.extend(ObservedCall(function, operation, implied, self.environment)
                         for implied in _implied(call.request, self.environment))
        with self._lock:
            self.calls.extend(found)

    def since(self, mark: int) -> list[ObservedCall]:
        with self._lock:
            return self.calls[mark:]

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)


def _implied(request: Request, environment: Provisioned) -> list[Request]:
    """What a service does with the caller's permissions: Secrets Manager decrypts a secret under its key, SQS
    the messages of a queue under a customer-managed key, and makes (and reads) the data key of a message sent
    to one (each with the encryption context it uses)."""
    service, keys, context_key, actions = {
        "secretsmanager:GetSecretValue": ("secretsmanager", environment.secret_keys, "SecretARN", ("kms:Decrypt",)),
        "sqs:ReceiveMessage": ("sqs", environment.queue_keys, "aws:sqs:arn", ("kms:Decrypt",)),
        "sqs:SendMessage": ("sqs", environment.queue_keys, "aws:sqs:arn", ("kms:GenerateDataKey", "kms:Decrypt")),
    }.get(request.action, ("", {}, "", ()))
    key = keys.get(request.resource)
    if not key:
        return []
    return [Request(action, key_arn(key), _context(**{
        "kms:ViaService": f"{service}.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT_ID,
        f"kms:EncryptionContext:{context_key}": request.resource})) for action in actions]


_submit = concurrent.futures.ThreadPoolExecutor.submit


def _propagate_context_to_thread_pools() -> None:
    def submit(self: concurrent.futures.ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
               **kwargs: Any) -> concurrent.futures.Future[Any]:
        return _submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]


# ---------------------------------------------------------------------------------------------- policies
def translate(template_path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as CloudFormation receives it after the SAM transform (aws-sam-cli's own translator)."""
    if not SAM_PYTHON.exists():
        raise RuntimeError(f"{SAM_PYTHON} is missing: `make sam-venv` installs aws-sam-cli, whose SAM translator "
                           "expands the functions' policies")
    script = Path(__file__).with_name("sam_translate.py")
    done = subprocess.run([str(SAM_PYTHON), str(script), str(template_path)], capture_output=True, text=True,  # noqa: S603
                          check=False, env={**os.environ, "AWS_DEFAULT_REGION": REGION})
    if done.returncode != 0:
        raise RuntimeError(f"the SAM translator refused {template_path.name}:\n{done.stderr}")
    translated: dict[str, Any] = json.loads(done.stdout)
    return translated


@dataclass
class Statement:
    effect: str
    actions: list[str]
    resources: list[str]
    conditions: dict[str, dict[str, Any]]
    principals: list[str] = field(default_factory=list)
    source: str = ""
    labels: list[str] = field(default_factory=list)  # the resources as the template names them

    @classmethod
    def parse(cls, raw: dict[str, Any], source: str, template: Template, refs: dict[str, str]) -> Statement:
        """``raw`` as written in the template; intrinsics are resolved here, and kept as labels for reports."""
        unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(raw)
        if unsupported:
            raise ValueError(f"{source}: {sorted(unsupported)} is not evaluated by this model; use Action/Resource")
        resolved = template.resolve(raw, refs)
        principal = resolved.get("Principal", {})
        principals = ["*"] if principal == "*" else _as_list(principal.get("AWS", [])) if principal else []
        raw_resources = _as_list(raw.get("Resource", "*"))
        return cls(effect=resolved["Effect"], actions=_as_list(resolved["Action"]),
                   resources=_as_list(resolved.get("Resource", "*")), conditions=resolved.get("Condition", {}),
                   principals=[str(p) for p in principals], source=source,
                   labels=[label(r) for r in raw_resources])

    def covers(self, request: Request) -> bool:
        return (any(_like(request.action.lower(), a.lower()) for a in self.actions)
                and any(_like(request.resource, r) for r in self.resources)
                and conditions_hold(self.conditions, request.condition_values(), self.source))


def label(value: Any) -> str:
    """A template expression as a reader names it: ``TokensKey.Arn``, ``${MainTable.Arn}/index/gsi1``."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::GetAtt":
            return ".".join(arg)
        if key == "Ref":
            return str(arg)
        if key == "Fn::Sub":
            return str(arg if isinstance(arg, str) else arg[0])
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def conditions_hold(conditions: dict[str, dict[str, Any]], values: Context, source: str) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            if not _condition(operator, values.get(key.lower()), [str(e) for e in _as_list(expected)], source):
                return False
    return True


def _condition(operator: str, actual: str | list[str] | None, expected: list[str], source: str) -> bool:
    if operator == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    quantifier, _, test = operator.rpartition(":")
    match = {
        "StringEquals": lambda v, e: v == e, "ArnEquals": lambda v, e: v == e,
        "StringLike": _like, "ArnLike": _like,
    }.get(test)
    if match is None or quantifier not in ("", "ForAnyValue", "ForAllValues"):
        raise ValueError(f"{source}: condition operator {operator} is not evaluated by this model")
    if quantifier == "ForAllValues":
        return all(any(match(v, e) for e in expected) for v in _as_list(actual or []))
    if actual is None:
        return False
    return any(match(v, e) for v in _as_list(actual) for e in expected)


@dataclass(frozen=True)
class Grant:
    """One action on one resource pattern that a function holds: what the coverage check must see used."""

    function: str
    action: str
    resource: str
    label: str  # the resource as the template names it, the same in every environment
    via: str  # "role", or the key whose policy grants it

    def used_by(self, call: ObservedCall) -> bool:
        return (call.function == self.function and _like(call.request.action.lower(), self.action.lower())
                and _like(call.request.resource, self.resource))


@dataclass
class FunctionAccess:
    function: str
    role_arn: str
    statements: list[Statement]


class AccessModel:
    """Each function's role and the key policies, resolved for one provisioned environment."""

    def __init__(self, translated: dict[str, Any], environment: Provisioned) -> None:
        self.environment = environment
        template = Template(translated, environment.template.parameters, environment.template.stack_name)
        self.functions: dict[str, FunctionAccess] = {}
        self.key_policies: dict[str, list[Statement]] = {}
        refs = environment.refs
        resources = translated["Resources"]
        for lid, res in resources.items():
            if res["Type"] == "AWS::KMS::Key":
                self.key_policies[key_arn(refs[lid])] = [
                    Statement.parse(s, f"{lid} key policy", template, refs)
                    for s in res["Properties"]["KeyPolicy"]["Statement"]]
        for lid, res in resources.items():
            if res["Type"] != "AWS::Lambda::Function":
                continue
            role = res["Properties"]["Role"]
            if not (isinstance(role, dict) and "Fn::GetAtt" in role):
                raise ValueError(f"{lid}: its role is not in the template, so its permissions cannot be checked")
            role_lid = role["Fn::GetAtt"][0]
            self.functions[lid] = FunctionAccess(lid, template.arn(role_lid),
                                                 self._role_statements(template, resources, role_lid))

    def _role_statements(self, template: Template, resources: dict[str, Any], role_lid: str) -> list[Statement]:
        props = resources[role_lid]["Properties"]
        if props.get("ManagedPolicyArns"):
            raise ValueError(f"{role_lid}: managed policies {props['ManagedPolicyArns']} cannot be read here; "
                             "give the role explicit statements")
        documents = [(f"{role_lid}/{p['PolicyName']}", p["PolicyDocument"]) for p in props.get("Policies", [])]
        for lid, res in resources.items():
            if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") \
                    and template.conditions.get(res.get("Condition", ""), True) \
                    and {"Ref": role_lid} in res["Properties"].get("Roles", []):
                documents.append((lid, res["Properties"]["PolicyDocument"]))
        return [Statement.parse(s, source, template, self.environment.refs) for source, document in documents
                for s in _as_list(document["Statement"])]

    def allows(self, call: ObservedCall) -> bool:
        access = self.functions[call.function]
        request = Request(call.request.action, call.request.resource,
                          call.request.context + _context(**{"aws:PrincipalArn": access.role_arn}))
        identity = [s for s in access.statements if s.covers(request)]
        if any(s.effect == "Deny" for s in identity):
            return False
        allowed_by_role = any(s.effect == "Allow" for s in identity)
        if not request.action.startswith("kms:"):
            return allowed_by_role
        # A KMS key answers to its key policy first: it must name the role, or delegate to the account's IAM.
        # A key made outside the stack (the client secret's) has the policy of docs/secret-key-policy.json,
        # which delegates to IAM (only through Secrets Manager: the role's statement says so too).
        if request.resource not in self.key_policies:
            return allowed_by_role
        policy = [s for s in self.key_policies[request.resource] if s.covers(request)]
        if any(s.effect == "Deny" for s in policy):
            return False
        direct = any(s.effect == "Allow" and access.role_arn in s.principals for s in policy)
        delegated = any(s.effect == "Allow" and ({ACCOUNT_ROOT, ACCOUNT_ID, "*"} & set(s.principals)) for s in policy)
        return direct or (delegated and allowed_by_role)

    def grants(self) -> list[Grant]:
        found: list[Grant] = []
        for access in self.functions.values():
            for statement in access.statements:
                if statement.effect == "Allow":
                    found.extend(Grant(access.function, action, resource, name, "role")
                                 for action in statement.actions
                                 for resource, name in zip(statement.resources, statement.labels, strict=True))
            for key, statements in self.key_policies.items():
                for statement in statements:
                    if statement.effect == "Allow" and access.role_arn in statement.principals:
                        found.extend(Grant(access.function, action, key, statement.source, "key policy")
                                     for action in statement.actions)
        return found


class PolicyChecker:
    """Evaluates recorded calls; the SAM translation is made once, each environment's model on first use."""

    def __init__(self, translate_template: Callable[[], dict[str, Any]] = translate) -> None:
        self._translate = translate_template
        self._translated: dict[str, Any] | None = None
        self._models: dict[int, AccessModel] = {}

    def model(self, environment: Provisioned) -> AccessModel:
        if self._translated is None:
            self._translated = self._translate()
        key = id(environment)
        if key not in self._models:
            self._models = {key: AccessModel(self._translated, environment)}  # environments never come back
        return self._models[key]

    def denied(self, calls: Iterable[ObservedCall]) -> list[ObservedCall]:
        return [call for call in calls if not self.model(call.environment).allows(call)]


def describe(calls: Iterable[ObservedCall]) -> str:
    lines = sorted({f"{c.function}: {c.request.action} on {c.request.resource} (in {c.operation})" for c in calls})
    return "\n".join(lines)


__all__ = ["AccessModel", "CallRecorder", "Grant", "ObservedCall", "PolicyChecker", "Request", "describe",
           "load_template", "requests_of", "translate"]

if __name__ == "__main__":  # pragma: no cover - a look at the expansion by hand
    json.dump(translate(), sys.stdout, indent=1)
