"""Print template.yaml as CloudFormation receives it after the SAM transform, as JSON.

Run by aws-sam-cli's own environment (``.venv-sam/bin/python local/sam_translate.py template.yaml``): its
SAM translator pins a pydantic that the product's environment does not use. Imports nothing of the project.
Code locations become S3 URIs first, as ``sam package`` makes them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class _NoManagedPolicyNames:
    """SAM asks IAM for the ARNs of managed policies named in ``Policies``; the template names none."""

    def load(self) -> dict[str, str]:
        return {}


def main(path: str) -> None:
    with open(path) as handle:
        body: dict[str, Any] = yaml_parse(handle.read())
    for resource in body["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://packaged/{properties[key]}"
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    json.dump(transform(body, pseudo, _NoManagedPolicyNames()), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
