"""Deploying small Python functions into the sandbox through boto3, as a user would."""

from __future__ import annotations

import io
import textwrap
import zipfile
from typing import Any

import boto3

from promote.sandbox import Sandbox

ROLE = "arn:aws:iam::{account}:role/promote-sandbox-deploy"


def make_zip(files: dict[str, str]) -> bytes:
    """A code zip from ``{path: source}``; sources are dedented."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, source in files.items():
            archive.writestr(path, textwrap.dedent(source))
    return buffer.getvalue()


def session_for(sandbox: Sandbox, profile: str = "Tebogo-sit") -> boto3.Session:
    """A session in the profile's account, through the sandbox's own config files (needs the
    ``aws_env`` fixture, which points AWS_CONFIG_FILE at them)."""
    return boto3.Session(profile_name=profile)


def deploy(
    session: boto3.Session,
    name: str,
    source: str,
    *,
    handler: str = "app.handler",
    environment: dict[str, str] | None = None,
    timeout: int = 3,
    memory: int = 128,
) -> str:
    """Create (or update) ``name`` with ``source`` as ``app.py`` and publish a version.
    Returns the version number."""
    client = session.client("lambda")
    account = session.client("sts").get_caller_identity()["Account"]
    code = make_zip({"app.py": source})
    settings: dict[str, Any] = {
        "Handler": handler,
        "Timeout": timeout,
        "MemorySize": memory,
        "Environment": {"Variables": environment or {}},
    }
    try:
        client.get_function(FunctionName=name)
    except client.exceptions.ResourceNotFoundException:
        client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=ROLE.format(account=account),
            Code={"ZipFile": code},
            **settings,
        )
    else:
        client.update_function_code(FunctionName=name, ZipFile=code)
        client.update_function_configuration(FunctionName=name, **settings)
    version: str = client.publish_version(FunctionName=name)["Version"]
    return version


def point_alias(
    session: boto3.Session,
    name: str,
    version: str,
    alias: str = "live",
    weights: dict[str, float] | None = None,
) -> None:
    """Create or update ``alias`` -> ``version``, with optional additional version weights."""
    client = session.client("lambda")
    routing = {"AdditionalVersionWeights": weights or {}}
    try:
        client.get_alias(FunctionName=name, Name=alias)
    except client.exceptions.ResourceNotFoundException:
        client.create_alias(
            FunctionName=name, Name=alias, FunctionVersion=version, RoutingConfig=routing
        )
    else:
        client.update_alias(
            FunctionName=name, Name=alias, FunctionVersion=version, RoutingConfig=routing
        )
