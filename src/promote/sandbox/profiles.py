"""One emulated account per environment, and the AWS config files that reach them.

Pure: the estate in, text out. Moto keys its backends by account id, and credentials that
come from STS AssumeRole into ``arn:aws:iam::<account>:role/<name>`` act in ``<account>``,
so a profile that assumes a role in an environment's account lands in that account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promote.model import Estate
from promote.sandbox.errors import SandboxError

DEPLOY_ROLE = "promote-sandbox-deploy"
BASE_PROFILE = "promote-sandbox"
# Moto accepts any keys; these belong to its default account, 123456789012.
FAKE_KEY_ID = "testing"
FAKE_SECRET = "testing"  # a fake key for the emulator, never a real secret
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(.+)$")


@dataclass(frozen=True)
class SandboxAccount:
    """An environment as the sandbox emulates it."""

    environment: str
    profile: str
    account_id: str
    region: str
    role_arn: str

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]


def accounts_for(estate: Estate) -> list[SandboxAccount]:
    """One account per environment, in the estate's order.

    The profile is the environment's ``credentials.profile`` (``promote-sandbox-<env>`` when it
    only names a role). The role is the environment's ``credentials.role_arn`` when that role
    lives in the environment's own account, else ``promote-sandbox-deploy`` there.
    """
    accounts: list[SandboxAccount] = []
    for name, env in estate.spec.environments.items():
        role_arn = f"arn:aws:iam::{env.account_id}:role/{DEPLOY_ROLE}"
        given = _ROLE_ARN.match(env.credentials.role_arn or "")
        if given and given.group(1) == env.account_id:
            role_arn = env.credentials.role_arn or role_arn
        profile = env.credentials.profile or f"{BASE_PROFILE}-{name}"
        clash = next((a.environment for a in accounts if a.profile == profile), None)
        if clash or profile == BASE_PROFILE:
            raise SandboxError(
                f"environments `{clash or name}` and `{name}` would share the profile "
                f"`{profile}`; give each environment its own credentials.profile"
            )
        accounts.append(
            SandboxAccount(
                environment=name,
                profile=profile,
                account_id=env.account_id,
                region=env.region,
                role_arn=role_arn,
            )
        )
    return accounts


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def render_config(
    accounts: list[SandboxAccount], port: int, session_name: str = "promote-sandbox"
) -> str:
    """``AWS_CONFIG_FILE``: the base profile, then one profile per environment.

    The AWS CLI caches assumed-role credentials (~/.aws/cli/cache) keyed by the role and the
    session name, and moto puts keys it has never issued in its default account: a session
    name of its own per start keeps a stale cache entry from outliving the sandbox."""
    url = endpoint(port)
    first_region = accounts[0].region if accounts else "us-east-1"
    sections = [
        f"[profile {BASE_PROFILE}]\nregion = {first_region}\nendpoint_url = {url}\n",
    ]
    for account in accounts:
        sections.append(
            f"# {account.environment}: account {account.account_id}\n"
            f"[profile {account.profile}]\n"
            f"region = {account.region}\n"
            f"endpoint_url = {url}\n"
            f"role_arn = {account.role_arn}\n"
            f"source_profile = {BASE_PROFILE}\n"
            f"role_session_name = {session_name}\n"
        )
    return "# Written by `promote sandbox up`: the emulated accounts. Do not edit.\n\n" + "\n".join(
        sections
    )


def render_credentials() -> str:
    """``AWS_SHARED_CREDENTIALS_FILE``: the emulator's fake keys, for the base profile only."""
    return (
        "# Written by `promote sandbox up`: fake keys for the emulator.\n\n"
        f"[{BASE_PROFILE}]\n"
        f"aws_access_key_id = {FAKE_KEY_ID}\n"
        f"aws_secret_access_key = {FAKE_SECRET}\n"
    )
