"""The IAM model the tests hold every function's AWS calls to (local/iam.py): it must refuse what AWS refuses."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import AccessModel, ObservedCall, Request, conditions_hold, describe, requests_of
from local.provision import Provisioned
from local.template import Template

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
KEY_ID = "1234abcd-0000-0000-0000-000000000000"
KEY = f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}"


def test_calls_become_the_authorisations_aws_checks() -> None:
    assert requests_of("dynamodb", "Query", {"TableName": "t", "IndexName": "gsi1"}) == [
        Request("dynamodb:Query", TABLE + "/index/gsi1")]
    transact = requests_of("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "u"}}]})
    assert [(r.action, r.resource.rsplit("/", 1)[1]) for r in transact] == [
        ("dynamodb:PutItem", "t"), ("dynamodb:ConditionCheckItem", "u")]
    assert requests_of("sqs", "DeleteMessageBatch", {"QueueUrl": "http://x/123456789012/q.fifo"}) == [
        Request("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:q.fifo")]
    [kms] = requests_of("kms", "GenerateDataKey", {"KeyId": KEY_ID, "EncryptionContext": {"business_id": "b"}})
    assert kms.resource == KEY
    assert kms.condition_values() == {"kms:encryptioncontext:business_id": "b",
                                      "kms:encryptioncontextkeys": ["business_id"]}


def test_conditions_are_evaluated_and_an_unknown_operator_is_an_error_never_an_allow() -> None:
    context = {"kms:encryptioncontext:business_id": "b"}
    assert conditions_hold({"Null": {"kms:EncryptionContext:business_id": "false"}}, context, "s")
    assert not conditions_hold({"Null": {"kms:EncryptionContext:business_id": "false"}}, {}, "s")
    assert not conditions_hold({"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}, context, "s")
    with pytest.raises(ValueError, match="NumericLessThan"):
        conditions_hold({"NumericLessThan": {"aws:EpochTime": "1"}}, context, "s")


def _model(role_statements: list[dict[str, Any]], key_statements: list[dict[str, Any]]) -> AccessModel:
    translated = {"Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": ["FnRole", "Arn"]}}},
        "FnRole": {"Type": "AWS::IAM::Role", "Properties": {
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": role_statements}}]}},
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": key_statements}}},
    }}
    environment = Provisioned(template=Template(translated, {}), refs={"Key": KEY_ID})
    return AccessModel(translated, environment)


def _call(model: AccessModel, request: Request) -> ObservedCall:
    return ObservedCall("Fn", "test.Call", request, model.environment)


def test_a_role_allows_only_its_actions_on_its_resources() -> None:
    model = _model([{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": TABLE}], [])
    assert model.allows(_call(model, Request("dynamodb:GetItem", TABLE)))
    assert not model.allows(_call(model, Request("dynamodb:Scan", TABLE)))
    assert not model.allows(_call(model, Request("dynamodb:GetItem", TABLE + "/index/gsi1")))
    denied = _call(model, Request("dynamodb:Scan", TABLE))
    assert describe([denied]) == f"Fn: dynamodb:Scan on {TABLE} (in test.Call)"


def test_a_key_answers_to_its_policy_first() -> None:
    use = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
           "Principal": {"AWS": {"Fn::GetAtt": ["FnRole", "Arn"]}},
           "Condition": {"Null": {"kms:EncryptionContext:business_id": "false"}}}
    with_context = Request("kms:Decrypt", KEY, (("kms:EncryptionContext:business_id", "b"),))
    # The key's policy names the role: allowed with a business as context, refused without
    model = _model([], [use])
    assert model.allows(_call(model, with_context))
    assert not model.allows(_call(model, Request("kms:Decrypt", KEY)))
    # The role's own statement is not enough when the key's policy does not delegate to the account
    model = _model([{"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"}],
                   [{"Effect": "Allow", "Action": ["kms:DescribeKey"], "Resource": "*",
                     "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}])
    assert not model.allows(_call(model, with_context))
    assert [(g.action, g.via) for g in _model([], [use]).grants()] == [("kms:Decrypt", "key policy")]
