"""template.yaml as the local stack sees it: resources, parameters, intrinsics resolved to local names.

The runner creates what the template declares and nothing else, so there is no second, hand-kept list of
tables, queues or routes that could drift from what `sam deploy` creates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

_SHORT_FORMS = {
    "Ref": "Ref", "Condition": "Condition",
    **{name: f"Fn::{name}" for name in (
        "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or", "FindInMap",
        "ImportValue", "Base64", "GetAZs", "Cidr", "Length", "ToJsonString",
    )},
}


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation's short-form tags into their long form."""


def _construct(tag: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {tag: value}

    return construct


for _short, _long in _SHORT_FORMS.items():
    _CfnLoader.add_constructor(f"!{_short}", _construct(_long))


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class HttpRoute:
    function: str
    method: str
    path: str  # API Gateway form: /v1/bank-accounts/{account_id}/feed


@dataclass
class SqsSource:
    function: str
    queue: str  # logical id
    batch_size: int
    batching_window: int
    report_failures: bool
    maximum_concurrency: int | None = None  # ScalingConfig: invocations the mapping may have in flight at once


@dataclass
class ScheduleSource:
    function: str
    name: str
    expression: str
    enabled: bool = True

    @property
    def rate_seconds(self) -> int | None:
        match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", self.expression)
        if not match:
            return None
        unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
        return int(match.group(1)) * unit


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


class Template:
    """The parsed template plus the local values of its parameters and the names given to its resources."""

    def __init__(self, body: dict[str, Any], parameters: dict[str, str], stack_name: str = "xero-sync-local"):
        self.body = body
        self.stack_name = stack_name
        self.resources: dict[str, dict[str, Any]] = body["Resources"]
        self.parameters = self._parameter_values(parameters)
        self.conditions = {name: bool(self.resolve(expr)) for name, expr in body.get("Conditions", {}).items()}

    def _parameter_values(self, overrides: dict[str, str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, spec in self.body.get("Parameters", {}).items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise ValueError(f"template parameter {name} has no default and no local value")
        unknown = set(overrides) - set(values)
        if unknown:
            raise ValueError(f"not parameters of the template: {sorted(unknown)}")
        return values

    def with_parameters(self, **values: str) -> Template:
        """The same template with some parameters' values replaced."""
        return Template(self.body, {**self.parameters, **values}, self.stack_name)

    # ------------------------------------------------------------------ resources by type
    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == resource_type}

    def physical_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        name = f"{self.stack_name}-{logical_id}"
        if resource["Type"] == "AWS::SQS::Queue" and resource.get("Properties", {}).get("FifoQueue"):
            name += ".fifo"
        return name

    def queue_url(self, logical_id: str, endpoint: str) -> str:
        return f"{endpoint.rstrip('/')}/{ACCOUNT_ID}/{self.physical_name(logical_id)}"

    def arn(self, logical_id: str) -> str:
        rtype = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        return {
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
        }.get(rtype, f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{name}")

    # ------------------------------------------------------------------ intrinsics
    def resolve(self, value: Any, refs: dict[str, str] | None = None) -> Any:
        """Resolve intrinsics; ``refs`` maps logical ids to what ``Ref`` returns locally (URL, ARN, id)."""
        refs = refs or {}
        if isinstance(value, list):
            return [self.resolve(v, refs) for v in value if not _is_no_value(v)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg, refs)
            if key == "Fn::GetAtt":
                return self._get_att(arg[0], arg[1], refs)
            if key == "Fn::Sub":
                return self._sub(arg, refs)
            if key == "Fn::Join":
                joined = self.resolve(arg[1], refs)
                return str(arg[0]).join(str(v) for v in (joined if isinstance(joined, list) else [joined]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2], refs)
            if key == "Fn::Equals":
                return self.resolve(arg[0], refs) == self.resolve(arg[1], refs)
            if key == "Fn::Not":
                return not self.resolve(arg[0], refs)
            if key == "Fn::And":
                return all(self.resolve(v, refs) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v, refs) for v in arg)
            if key == "Fn::Select":
                return self.resolve(arg[1], refs)[int(arg[0])]
        resolved = {k: self.resolve(v, refs) for k, v in value.items() if not _is_no_value(v)}
        return {k: v for k, v in resolved.items() if v is not None}

    def _ref(self, name: str, refs: dict[str, str]) -> Any:
        if name == "AWS::NoValue":
            return None
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": self.stack_name,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            kind = str(self.body.get("Parameters", {}).get(name, {}).get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                return [item.strip() for item in value.split(",")] if value else []
            return value
        if name in refs:
            return refs[name]
        if name in self.resources:
            return self.physical_name(name)
        raise KeyError(f"Ref to unknown name {name}")

    def _get_att(self, logical_id: str, attribute: str, refs: dict[str, str]) -> Any:
        if attribute == "Arn" and self.resources[logical_id]["Type"] == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{refs.get(logical_id, logical_id)}"
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute == "QueueName":
            return self.physical_name(logical_id)
        if attribute == "QueueUrl":
            return refs[logical_id]
        raise KeyError(f"GetAtt {logical_id}.{attribute} is not emulated locally")

    def _sub(self, arg: Any, refs: dict[str, str]) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name], refs))
            if "." in name:
                lid, attribute = name.split(".", 1)
                return str(self._get_att(lid, attribute, refs))
            return str(self._ref(name, refs))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    # ------------------------------------------------------------------ functions and their triggers
    def functions(self) -> dict[str, FunctionSpec]:
        globals_ = self.body.get("Globals", {}).get("Function", {})
        specs = {}
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            props = res["Properties"]
            env = {**globals_.get("Environment", {}).get("Variables", {}),
                   **props.get("Environment", {}).get("Variables", {})}
            specs[lid] = FunctionSpec(
                logical_id=lid,
                code_uri=REPO_ROOT / props["CodeUri"],
                handler=props["Handler"],
                timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
                memory=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
                environment=env,
            )
        return specs

    def _events(self, event_type: str) -> list[tuple[str, str, dict[str, Any]]]:
        found = []
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            for name, event in res["Properties"].get("Events", {}).items():
                if event["Type"] == event_type:
                    found.append((lid, name, event.get("Properties", {})))
        return found

    def http_routes(self) -> list[HttpRoute]:
        return [HttpRoute(function=lid, method=props["Method"].upper(), path=props["Path"])
                for lid, _, props in self._events("HttpApi")]

    def sqs_sources(self) -> list[SqsSource]:
        sources = []
        for lid, _, props in self._events("SQS"):
            queue = props["Queue"]["Fn::GetAtt"][0]
            sources.append(SqsSource(
                function=lid, queue=queue, batch_size=int(props.get("BatchSize", 10)),
                batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                maximum_concurrency=(int(props["ScalingConfig"]["MaximumConcurrency"])
                                     if "MaximumConcurrency" in props.get("ScalingConfig", {}) else None),
            ))
        return sources

    def schedules(self) -> list[ScheduleSource]:
        return [ScheduleSource(function=lid, name=name, expression=props["Schedule"],
                               enabled=props.get("Enabled", True))
                for lid, name, props in self._events("Schedule")]

    def authorizer(self) -> dict[str, Any]:
        """Issuer and audience of the HTTP API's JWT authorizer, resolved."""
        auth = self.of_type("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["Auth"]
        config = auth["Authorizers"][auth["DefaultAuthorizer"]]["JwtConfiguration"]
        return {"issuer": self.resolve(config["issuer"]), "audience": self.resolve(config["audience"])}


def _is_no_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get("Ref") == "AWS::NoValue"
