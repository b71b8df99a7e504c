"""Translate the SAM template into plain CloudFormation, offline.

Used by ``.ci/check_template.sh`` (so cfn-lint can lint what CloudFormation will really
deploy) and by the template rule tests::

    python tests/infrastructure/translate.py template.yaml out.json [Key=Value ...]

    from translate import translate_template
    cfn = translate_template("template.yaml")

No AWS credentials or network are needed:

* local ``CodeUri`` / ``ContentUri`` / ``DefinitionUri`` paths are replaced by a dummy
  ``s3://`` URI, the same thing ``sam validate`` does (the translator only accepts S3);
* the region comes from the ``region`` argument (default ``sa-east-1``, where crmhub is
  deployed), not from a boto3 profile;
* AWS managed policies are resolved from a static map (plus the map bundled with
  aws-sam-translator) instead of calling ``iam:ListPolicies``; a managed policy name that
  neither knows is an error rather than a silent pass-through.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# samtranslator buffers CloudWatch metrics it never publishes offline and warns about them
# when the interpreter exits ("There are unpublished metrics ..."): noise, not a finding.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

DEFAULT_REGION = "sa-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"

# The AWS managed policies SAM attaches on its own (execution role, X-Ray, event sources,
# API Gateway logging), so the translation never depends on the bundled map being
# complete. ARNs are for the "aws" partition.
STATIC_MANAGED_POLICIES: dict[str, str] = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
    "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
    "AWSLambdaKinesisExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole",
    "AWSLambdaMSKExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole",
    "AWSLambdaRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
    "AWSLambda_FullAccess": "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
    "AmazonAPIGatewayPushToCloudWatchLogs": (
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    ),
    "CloudWatchLambdaInsightsExecutionRolePolicy": (
        "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy"
    ),
}


class StaticManagedPolicyLoader:
    """Drop-in for ``samtranslator``'s ``ManagedPolicyLoader`` that never calls IAM."""

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        self._map = dict(get_bundled_managed_policy_map("aws") or {})
        self._map.update(STATIC_MANAGED_POLICIES)
        self._map.update(extra or {})

    def load(self) -> dict[str, str]:
        return dict(self._map)


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML or JSON file, short-form intrinsics included."""
    text = Path(path).read_text(encoding="utf-8")
    return yaml_parse(text)  # type: ignore[no-any-return]


def _fake_s3_uri(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("s3://"):
        return f"s3://crmhub-offline-translation/{value.strip('/') or 'root'}"
    return value


def _replace_local_uris(template: dict[str, Any]) -> None:
    """Point local artefact paths at a dummy S3 URI (what ``sam validate`` does too)."""
    globals_function = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = _fake_s3_uri(globals_function["CodeUri"])
    for resource in template.get("Resources", {}).values():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        rtype = resource.get("Type")
        if rtype == "AWS::Serverless::Function" and props.get("PackageType", "Zip") == "Zip":
            if "CodeUri" in props:
                props["CodeUri"] = _fake_s3_uri(props["CodeUri"])
        elif rtype == "AWS::Serverless::LayerVersion" and "ContentUri" in props:
            props["ContentUri"] = _fake_s3_uri(props["ContentUri"])
        elif (
            rtype
            in {
                "AWS::Serverless::Api",
                "AWS::Serverless::HttpApi",
                "AWS::Serverless::StateMachine",
            }
            and "DefinitionUri" in props
        ):
            props["DefinitionUri"] = _fake_s3_uri(props["DefinitionUri"])


@contextlib.contextmanager
def _region_env(region: str) -> Iterator[None]:
    """samtranslator asks a boto3 Session for the region; give it one without a profile."""
    saved = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _unresolved_managed_policies(cfn: dict[str, Any]) -> list[str]:
    bad = []
    for name, resource in cfn.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []) or []:
            if isinstance(arn, str) and not arn.startswith("arn:"):
                bad.append(f"{name}: {arn}")
    return bad


def translate_template(
    path: str | os.PathLike[str] | dict[str, Any],
    parameter_overrides: Mapping[str, Any] | None = None,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:
    """Return the CloudFormation template that the SAM transform makes of ``path``.

    ``path`` may also be an already-parsed template (it is deep-copied, not changed).
    ``parameter_overrides`` work like ``sam deploy --parameter-overrides``; parameters not
    given keep their template defaults.
    """
    template = copy.deepcopy(path) if isinstance(path, dict) else load_template(path)
    _replace_local_uris(template)

    parameter_values: dict[str, Any] = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "crmhub-offline",
        "AWS::StackId": (
            f"arn:aws:cloudformation:{region}:{account_id}:stack/crmhub-offline/00000000-0000-0000-0000-000000000000"
        ),
        "AWS::NotificationARNs": [],
        "AWS::NoValue": None,
    }
    parameter_values.update(parameter_overrides or {})

    with _region_env(region):
        cfn = transform(template, parameter_values, StaticManagedPolicyLoader())

    unresolved = _unresolved_managed_policies(cfn)
    if unresolved:
        raise ValueError(
            "managed policies not known offline (add them to STATIC_MANAGED_POLICIES): " + ", ".join(unresolved)
        )
    return cfn


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(
            "usage: python tests/infrastructure/translate.py TEMPLATE OUT.json [Key=Value ...]",
            file=sys.stderr,
        )
        return 2
    src, out, *overrides = argv
    params = dict(item.split("=", 1) for item in overrides)
    try:
        cfn = translate_template(src, params)
    except Exception as exc:  # report any translator failure plainly
        causes = getattr(exc, "causes", None)
        print(f"SAM translation of {src} failed: {exc}", file=sys.stderr)
        for cause in causes or []:
            print(f"  - {cause}", file=sys.stderr)
        return 1
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(cfn, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"translated {src} -> {out} ({len(cfn.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
