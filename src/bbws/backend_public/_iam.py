# ruff: noqa: N803  (the Protocol mirrors boto3's CamelCase keyword arguments)
"""The Lambda@Edge execution role: trusted by lambda and edgelambda, allowed to write logs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Protocol

from botocore.exceptions import ClientError

from ._spec import role_name

LOGS_POLICY_NAME: Final = "lambda-edge-logs"
TRUST_POLICY: Final[Mapping[str, Any]] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}
# Lambda@Edge writes logs in the region that ran it, as /aws/lambda/us-east-1.<name>.
LOGS_POLICY: Final[Mapping[str, Any]] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.bbws-*",
        }
    ],
}


class IamClient(Protocol):
    """The IAM calls we make: boto3-stubs for IAM are not installed in this project."""

    def get_role(self, *, RoleName: str) -> Mapping[str, Any]: ...

    def create_role(
        self, *, RoleName: str, AssumeRolePolicyDocument: str, Description: str
    ) -> Mapping[str, Any]: ...

    def update_assume_role_policy(self, *, RoleName: str, PolicyDocument: str) -> object: ...

    def get_role_policy(self, *, RoleName: str, PolicyName: str) -> Mapping[str, Any]: ...

    def put_role_policy(self, *, RoleName: str, PolicyName: str, PolicyDocument: str) -> object: ...


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_role(iam: IamClient, env: str) -> str:
    """The execution role's ARN, creating it or mending its trust and log policy if needed."""
    name = role_name(env)
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
            Description=f"Lambda@Edge execution role for bbws {env}",
        )["Role"]
    else:
        if role.get("AssumeRolePolicyDocument") != TRUST_POLICY:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(TRUST_POLICY))
    if _role_policy(iam, name) != LOGS_POLICY:
        iam.put_role_policy(
            RoleName=name, PolicyName=LOGS_POLICY_NAME, PolicyDocument=json.dumps(LOGS_POLICY)
        )
    return str(role["Arn"])


def _role_policy(iam: IamClient, role: str) -> Mapping[str, Any] | None:
    try:
        document = iam.get_role_policy(RoleName=role, PolicyName=LOGS_POLICY_NAME)
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        return None
    policy: Mapping[str, Any] = document["PolicyDocument"]
    return policy
