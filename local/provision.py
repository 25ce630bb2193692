"""Creates the template's AWS resources in moto (server or ``mock_aws``) and derives each function's
environment from the template, as CloudFormation would."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from local.template import ACCOUNT_ID, REGION, Template


@dataclass
class Provisioned:
    template: Template
    refs: dict[str, str]
    environment: dict[str, str] = field(default_factory=dict)
    secret_keys: dict[str, str] = field(default_factory=dict)  # secret ARN -> id of the KMS key encrypting it
    queue_keys: dict[str, str] = field(default_factory=dict)  # queue ARN -> id of its customer-managed key

    def queue_url(self, logical_id: str) -> str:
        return self.refs[logical_id]


# Called with each environment provisioned (the IAM check in the tests follows the latest one).
LISTENERS: list[Callable[[Provisioned], None]] = []


def _session_clients(session: boto3.session.Session, endpoint_url: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": REGION}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return {name: session.client(name, **kwargs)
            for name in ("dynamodb", "sqs", "kms", "secretsmanager", "events", "cloudwatch", "logs")}


def provision(template: Template, *, endpoint_url: str | None = None,
              session: boto3.session.Session | None = None,
              visibility_timeout_override: int | None = None) -> Provisioned:
    """Create every resource the local stack emulates and return what ``Ref`` gives for each.

    ``visibility_timeout_override`` shortens queue visibility timeouts so that a failed message comes
    back in seconds rather than the deployed minutes; nothing else about the queues changes.
    """
    session = session or boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                               region_name=REGION)
    c = _session_clients(session, endpoint_url)
    refs: dict[str, str] = {}
    template, secret_keys = _create_outside_secrets(template, c)

    for lid, res in template.of_type("AWS::KMS::Key").items():
        key = c["kms"].create_key(Description=res["Properties"].get("Description", lid))
        refs[lid] = key["KeyMetadata"]["KeyId"]
    for lid, res in template.of_type("AWS::KMS::Key").items():  # policies name roles and other keys
        policy = template.resolve(res["Properties"]["KeyPolicy"], refs)
        c["kms"].put_key_policy(KeyId=refs[lid], PolicyName="default", Policy=json.dumps(policy))
    for lid, res in template.of_type("AWS::KMS::Alias").items():
        props = template.resolve(res["Properties"], refs)
        c["kms"].create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        refs[lid] = props["AliasName"]

    for lid, res in template.of_type("AWS::DynamoDB::Table").items():
        refs[lid] = _create_table(c["dynamodb"], template.physical_name(lid), template.resolve(res["Properties"]))

    # Dead-letter queues first: the others' redrive policies point at them.
    queues = template.of_type("AWS::SQS::Queue")
    ordered = sorted(queues, key=lambda lid: "RedrivePolicy" in queues[lid].get("Properties", {}))
    for lid in ordered:
        props = template.resolve(queues[lid].get("Properties", {}), refs)
        refs[lid] = _create_queue(c["sqs"], template.physical_name(lid), props, visibility_timeout_override)

    for lid, res in template.of_type("AWS::Events::Rule").items():
        refs[lid] = _create_rule(c["events"], template, lid, template.resolve(res["Properties"], refs))

    for res in template.of_type("AWS::SQS::QueuePolicy").values():
        props = template.resolve(res["Properties"], refs)
        for url in props["Queues"]:
            c["sqs"].set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})

    for lid, res in template.of_type("AWS::CloudWatch::Alarm").items():
        props = template.resolve(res["Properties"], refs)
        c["cloudwatch"].put_metric_alarm(
            AlarmName=template.physical_name(lid), AlarmDescription=props.get("AlarmDescription", ""),
            Namespace=props["Namespace"], MetricName=props["MetricName"], Dimensions=props["Dimensions"],
            Statistic=props["Statistic"], Period=int(props["Period"]),
            EvaluationPeriods=int(props["EvaluationPeriods"]),
            Threshold=float(props["Threshold"]), ComparisonOperator=props["ComparisonOperator"],
            TreatMissingData=props.get("TreatMissingData", "missing"), AlarmActions=props.get("AlarmActions", []),
        )

    for lid in template.of_type("AWS::Serverless::Function"):
        refs.setdefault(lid, template.physical_name(lid))
    for lid in template.resources:
        refs.setdefault(lid, template.physical_name(lid))

    queue_keys = {template.arn(lid): refs[key["Fn::GetAtt"][0]] for lid, res in queues.items()
                  if isinstance(key := res.get("Properties", {}).get("KmsMasterKeyId"), dict)}
    provisioned = Provisioned(template=template, refs=refs, secret_keys=secret_keys, queue_keys=queue_keys)
    provisioned.environment = function_environment(template, refs)
    for listener in LISTENERS:
        listener(provisioned)
    return provisioned


# A secret parameter given as ``create_locally(value)`` names a secret that the operator creates outside the
# stack (README, Deploying); the runner creates it in moto, under a customer-managed key of its own.
_CREATE_LOCALLY = "create-locally:"


def create_locally(value: str) -> str:
    return _CREATE_LOCALLY + value


def _create_outside_secrets(template: Template, c: dict[str, Any]) -> tuple[Template, dict[str, str]]:
    created: dict[str, str] = {}
    keys: dict[str, str] = {}
    for name, value in template.parameters.items():
        if not value.startswith(_CREATE_LOCALLY):
            continue
        key = c["kms"].create_key(Description=f"{template.stack_name}: {name}")["KeyMetadata"]["KeyId"]
        arn = c["secretsmanager"].create_secret(Name=f"{template.stack_name}/{name}", KmsKeyId=key,
                                                SecretString=value.removeprefix(_CREATE_LOCALLY))["ARN"]
        created[name], keys[arn] = arn, key
    return (template.with_parameters(**created) if created else template), keys


def function_environment(template: Template, refs: dict[str, str]) -> dict[str, str]:
    """One environment for every function, as the template resolves it.

    Functions run in one process locally, so they must not disagree on a variable's value; the template
    keeps every variable in Globals, and this refuses a template that breaks that.
    """
    merged: dict[str, str] = {}
    for spec in template.functions().values():
        for name, value in template.resolve(spec.environment, refs).items():
            value = str(value)
            if name in merged and merged[name] != value:
                raise ValueError(f"functions disagree on {name}; the local runner needs one value per variable")
            merged[name] = value
    return merged


def _create_table(dynamodb: Any, name: str, props: dict[str, Any]) -> str:
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    dynamodb.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return name


_QUEUE_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
                     "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                     "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")


def _create_queue(sqs: Any, name: str, props: dict[str, Any], visibility_override: int | None) -> str:
    attributes = {key: _attr(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    if visibility_override is not None:
        attributes["VisibilityTimeout"] = str(visibility_override)
    if "RedrivePolicy" in props:
        policy = props["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": policy["deadLetterTargetArn"],
                                                  "maxReceiveCount": int(policy["maxReceiveCount"])})
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _attr(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _create_rule(events: Any, template: Template, lid: str, props: dict[str, Any]) -> str:
    name = template.physical_name(lid)
    bus = props.get("EventBusName", "default")
    if bus != "default":
        with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
            events.create_event_bus(Name=bus)
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]),
                    State=props.get("State", "ENABLED"), Description=props.get("Description", ""))
    events.put_targets(Rule=name, EventBusName=bus, Targets=props["Targets"])
    return name


__all__ = ["ACCOUNT_ID", "Provisioned", "create_locally", "function_environment", "provision"]
