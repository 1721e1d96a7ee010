"""A small estate of two Lambda APIs for engine tests that promote into a real sandbox, and
the sandbox itself, served in this process so that ``promote run --sandbox`` subprocesses
find it (as ``promote sandbox up`` would be found).

``alpha`` and ``beta`` (beta depends on alpha) each build a zip from their own ``app.py``,
deploy it with ``lambda.deploy`` to ``<name>-${env}`` (created with a role made in each
account), smoke-test ``GET /v1/<name>/health`` through the sandbox's gateway, and in sit
wait for a Tech Lead and a DevOps Lead and shift the ``live`` alias by a canary.
"""

from __future__ import annotations

import contextlib
import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3

from promote.cli import check_estate
from promote.model import Estate
from promote.sandbox import Sandbox
from promote.sandbox.server import clear_running, config_paths, write_running
from tests.promote.sandbox.conftest import AWS_VARIABLES

PROJECTS = ("alpha", "beta")
ROLE = "crash-lambda"  # the functions' execution role, made in each account
ALIAS = "live"
PEOPLE = {"tech_lead": ["ann", "bob"], "devops_lead": ["dan", "eve"]}

ESTATE = """\
name: crash
environments:
  dev:
    account_id: "111111111111"
    region: eu-west-1
    domain: dev.crash.test
    api_domain: api.dev.crash.test
    credentials: {profile: crash-dev}
  sit:
    account_id: "222222222222"
    region: eu-west-1
    domain: sit.crash.test
    api_domain: api.sit.crash.test
    credentials: {profile: crash-sit}
    four_eyes: true
promotion_path: [dev, sit]
roles:
  tech_lead: {title: Tech Lead, people: [ann, bob]}
  devops_lead: {title: DevOps Lead, people: [dan, eve]}
waves:
  - name: apps
"""

PROJECT = """\
name: {name}
kind: lambda-api
wave: apps
depends_on: {depends_on}
artifact:
  source: src/{name}
api:
  base_path: /v1/{name}
  function: {name}-${{env}}
  alias: live
approvals:
  sit: [tech_lead, devops_lead]
steps:
  - kind: lambda.deploy
    function: {name}-${{env}}
    alias: live
    handler: app.handler
    role: arn:aws:iam::${{account_id}}:role/{role}
    memory: 128
    function_timeout: 5s
smoke_tests:
  - name: health
    url: https://${{api_domain}}/v1/{name}/health
    expect: {{status: 200}}
canary:
  sit:
    steps:
      - {{weight: 10, bake: 20s}}
      - {{weight: 50, bake: 20s}}
      - {{weight: 100}}
    # Nothing sends these functions traffic: timed bakes (an analysis would find nothing to
    # judge and wait for a person).
    analysis: {{enabled: false}}
"""

HANDLER = """\
import json
import os


def handler(event, context):
    body = {{"project": "{name}", "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")}}
    return {{
        "statusCode": 200,
        "headers": {{"Content-Type": "application/json"}},
        "body": json.dumps(body),
    }}
"""


def write_estate(directory: Path) -> Path:
    """The estate folder: estate.yaml, projects/<name>.yaml and src/<name>/app.py."""
    (directory / "projects").mkdir(parents=True)
    (directory / "estate.yaml").write_text(ESTATE)
    for index, name in enumerate(PROJECTS):
        depends_on = json.dumps(list(PROJECTS[:index]))
        text = PROJECT.format(name=name, depends_on=depends_on, role=ROLE)
        (directory / "projects" / f"{name}.yaml").write_text(text)
        source = directory / "src" / name
        source.mkdir(parents=True)
        (source / "app.py").write_text(textwrap.dedent(HANDLER.format(name=name)))
    return directory


def load(directory: Path) -> Estate:
    estate, diagnostics, _ = check_estate(directory)
    assert estate is not None, diagnostics
    return estate


@contextlib.contextmanager
def serving(estate: Estate, estate_dir: Path, state_dir: Path) -> Iterator[Sandbox]:
    """The estate's sandbox with its data plane, served from this process under
    ``state_dir``: ``promote ... --sandbox --sandbox-state-dir state_dir`` reaches it. boto3
    in this process uses its profiles while it runs; each account gets the functions' role."""
    saved = {k: os.environ.pop(k) for k in AWS_VARIABLES if k in os.environ}
    files = {k: os.environ.get(k) for k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    sandbox = Sandbox.for_estate(estate, state_dir)
    try:
        with sandbox:
            write_running(state_dir, sandbox, estate.name, estate_dir)
            config, credentials = config_paths(state_dir)
            os.environ["AWS_CONFIG_FILE"] = str(config)
            os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
            for env in estate.spec.environments.values():
                iam = session(env.credentials.profile or "").client("iam")
                trust = {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
                iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
            yield sandbox
    finally:
        clear_running(state_dir)
        for name, value in files.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        os.environ.update(saved)


def session(profile: str) -> boto3.Session:
    return boto3.Session(profile_name=profile)
