"""The four Lambda functions, in us-east-1.

A version is published only when no published version already has this code and these
settings, so a deploy of unchanged code publishes nothing and reuses the version ARN the
distribution already points at.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from ._package import EdgePackage

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.literals import RuntimeType
    from mypy_boto3_lambda.type_defs import FunctionConfigurationTypeDef

# Lambda@Edge caps viewer-trigger functions at 128 MB and 5 s; the same suits origin ones here.
MEMORY_MB: Final = 128
TIMEOUT_S: Final = 5


@dataclass(frozen=True)
class FunctionVersion:
    name: str
    arn: str  # the numbered version's ARN: CloudFront accepts nothing else
    published: bool


@dataclass(frozen=True)
class _Settings:
    runtime: str
    handler: str
    role: str

    @property
    def lambda_runtime(self) -> RuntimeType:
        return cast("RuntimeType", self.runtime)  # checked against RUNTIME_GLIBC when packaging

    def differs(self, config: Mapping[str, Any]) -> bool:
        return (
            config.get("Runtime") != self.runtime
            or config.get("Handler") != self.handler
            or config.get("Role") != self.role
            or config.get("MemorySize") != MEMORY_MB
            or config.get("Timeout") != TIMEOUT_S
        )


def ensure_function(
    lam: LambdaClient, package: EdgePackage, env: str, role_arn: str, runtime: str
) -> FunctionVersion:
    name = package.function.name(env)
    settings = _Settings(runtime, package.function.handler, role_arn)
    current = _configuration(lam, name)
    if current is None:
        _create(lam, name, package, settings)
    else:
        _update(lam, name, package, settings, current)
    existing = _published_match(lam, name, package.code_sha256, settings)
    if existing is not None:
        return FunctionVersion(name, existing, published=False)
    version = lam.publish_version(
        FunctionName=name, CodeSha256=package.code_sha256, Description=package.function.slug
    )
    return FunctionVersion(name, version["FunctionArn"], published=True)


def _configuration(lam: LambdaClient, name: str) -> Mapping[str, Any] | None:
    try:
        return lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return None


def _create(lam: LambdaClient, name: str, package: EdgePackage, settings: _Settings) -> None:
    # IAM is eventually consistent: a role created seconds ago may not be assumable yet.
    for attempt in range(8):
        try:
            lam.create_function(
                FunctionName=name,
                Runtime=settings.lambda_runtime,
                Role=settings.role,
                Handler=settings.handler,
                Code={"ZipFile": package.zip_bytes},
                Description=package.function.slug,
                MemorySize=MEMORY_MB,
                Timeout=TIMEOUT_S,
                Architectures=["x86_64"],
                Publish=False,
            )
            break
        except lam.exceptions.InvalidParameterValueException as exc:
            if "assumed" not in str(exc) or attempt == 7:
                raise
            time.sleep(2 + 2 * attempt)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def _update(
    lam: LambdaClient,
    name: str,
    package: EdgePackage,
    settings: _Settings,
    current: Mapping[str, Any],
) -> None:
    if current.get("CodeSha256") != package.code_sha256:
        lam.update_function_code(FunctionName=name, ZipFile=package.zip_bytes)
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    if settings.differs(current):
        lam.update_function_configuration(
            FunctionName=name,
            Runtime=settings.lambda_runtime,
            Role=settings.role,
            Handler=settings.handler,
            MemorySize=MEMORY_MB,
            Timeout=TIMEOUT_S,
        )
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)


def _versions(lam: LambdaClient, name: str) -> Iterator[FunctionConfigurationTypeDef]:
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name):
        yield from page.get("Versions", [])


def _published_match(lam: LambdaClient, name: str, sha: str, settings: _Settings) -> str | None:
    """The newest numbered version with this code and these settings, if there is one."""
    matches = [
        v
        for v in _versions(lam, name)
        if v.get("Version", "$LATEST").isdigit()
        and v.get("CodeSha256") == sha
        and not settings.differs(v)
    ]
    if not matches:
        return None
    return max(matches, key=lambda v: int(v.get("Version", "0"))).get("FunctionArn")
