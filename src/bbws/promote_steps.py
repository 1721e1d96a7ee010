"""Entry points for promote's ``python`` steps: the foundation stacks, applied in one call,
and the customer portal deployed.

The estate names them, e.g.::

    - kind: python
      entry: bbws.promote_steps:apply_dynamodb_schemas
      args: {allow_destructive: false}

promote calls each as ``entry(context, **args)`` with its step context. This package does not
import promote: the context is used by duck typing (:class:`PromoteContext`). A refused
destructive change raises ``DestructiveChangeRefused``, which promote records as a failed
step; an AWS error under the stack is recorded as errored.

Variables read from the context (the estate's, or a run's overrides):

* ``dr_region``: the stacks' DR region (none when empty or absent);
* ``jwt_issuer``, ``jwks_url``: the portal's token issuer and where its JWKS is fetched, at
  deploy time, to be bundled into the auth edge function;
* ``ca_bundle`` (optional): a PEM file of CAs trusted for that fetch besides the system's,
  e.g. ``promote sandbox``'s CA, whose gateway serves the issuers over https on 127.0.0.1.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

import boto3

from bbws.backend_public import DeployResult, SiteSpec, deploy
from bbws.edge.auth_validation import AuthConfig
from bbws.schemas import dynamodb, s3
from bbws.schemas.common import Change, Target

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off", ""})
_JWKS_LIMIT: Final = 1024 * 1024  # bytes; a JWKS is a few kB


class PromoteContext(Protocol):
    """What these entry points use of promote's StepContext."""

    @property
    def env(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def session(self) -> boto3.session.Session: ...
    @property
    def variables(self) -> Mapping[str, str]: ...
    def log(self, message: str) -> None: ...


def apply_dynamodb_schemas(
    context: PromoteContext, allow_destructive: bool | str = False
) -> list[str]:
    """Plan and apply the BBWS tables in the context's environment; the changes made."""
    return _apply(context, dynamodb.apply_all, "dynamodb_schemas", allow_destructive)


def apply_s3_schemas(context: PromoteContext, allow_destructive: bool | str = False) -> list[str]:
    """Plan and apply the BBWS buckets, OAI, replication role and templates; the changes made."""
    return _apply(context, s3.apply_all, "s3_schemas", allow_destructive)


def deploy_backend_public(context: PromoteContext) -> dict[str, Any]:
    """Deploy the customer portal (:func:`bbws.backend_public.deploy`) in the context's
    environment: edge functions, certificate, distribution, site upload, invalidation.

    The step runs in the edge region (``region: ${edge_region}``): CloudFront, ACM and
    Lambda@Edge live in us-east-1, which ``deploy`` checks before any AWS call. The auth edge
    function verifies tokens of ``jwt_issuer`` with the keys at ``jwks_url``, fetched now.
    Returns what the deploy did (``DeployResult``'s fields and ``changed``).
    """
    variables = context.variables
    issuer, jwks_url = variables.get("jwt_issuer"), variables.get("jwks_url")
    if not issuer or not jwks_url:
        raise ValueError("backend_public needs the variables jwt_issuer and jwks_url")
    ca_bundle = variables.get("ca_bundle") or None
    context.log(
        f"backend_public: fetching the JWKS of {issuer} from {jwks_url}"
        + (f" (trusting {ca_bundle} too)" if ca_bundle else "")
    )
    jwks = fetch_jwks(jwks_url, ca_bundle)
    spec = SiteSpec.for_env(context.env, AuthConfig(issuer=issuer, jwks=jwks))
    target = Target(env=context.env, region=context.region, account_id=context.account_id)
    context.log(
        f"backend_public: deploying {', '.join(spec.aliases)} to {target.env} "
        f"({target.account_id or 'any account'}, {target.region}); site bucket in "
        f"{spec.bucket_region}; {len(jwks.get('keys', []))} signing key(s)"
    )
    result = deploy(target, spec, session=context.session)
    summary = _deploy_summary(result)
    for line in _deploy_lines(result):
        context.log(f"backend_public: {line}")
    return summary


def fetch_jwks(url: str, ca_bundle: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """The JSON Web Key Set at ``url``; over https, the system's CAs and ``ca_bundle``'s are
    trusted. Raises OSError when it cannot be fetched, ValueError when it is not a JWKS."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
        body = answer.read(_JWKS_LIMIT + 1)
    if len(body) > _JWKS_LIMIT:
        raise ValueError(f"the JWKS at {url} is larger than {_JWKS_LIMIT} bytes")
    try:
        jwks = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the JWKS at {url} is not JSON: {exc}") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError(f"the JWKS at {url} has no list of keys")
    return jwks


def _deploy_summary(result: DeployResult) -> dict[str, Any]:
    return {
        "distribution_id": result.distribution_id,
        "domain_name": result.domain_name,
        "distribution": str(result.distribution),
        "certificate_arn": result.certificate_arn,
        "versions": dict(result.versions),
        "published": list(result.published),
        "uploaded": list(result.uploaded),
        "deleted": list(result.deleted),
        "invalidation_id": result.invalidation_id,
        "changed": result.changed,
    }


def _deploy_lines(result: DeployResult) -> list[str]:
    lines = [
        f"distribution {result.distribution_id} ({result.domain_name}) {result.distribution}",
        f"certificate {result.certificate_arn}",
    ]
    lines += [
        f"function {name} at {arn}" + (" (published)" if name in result.published else "")
        for name, arn in sorted(result.versions.items())
    ]
    lines.append(f"site: {len(result.uploaded)} uploaded, {len(result.deleted)} deleted")
    lines.append(
        f"invalidation {result.invalidation_id} of /*"
        if result.invalidation_id
        else "nothing changed: no invalidation"
    )
    return lines


def target_of(context: PromoteContext) -> Target:
    """The stacks' target for promote's context (``dr_region`` from the estate's variables)."""
    return Target(
        env=context.env,
        region=context.region,
        account_id=context.account_id,
        dr_region=context.variables.get("dr_region") or None,
    )


_ApplyAll = Callable[..., Sequence[Change]]


def _apply(
    context: PromoteContext, apply_all: _ApplyAll, stack: str, allow_destructive: bool | str
) -> list[str]:
    target = target_of(context)
    allowed = _flag(allow_destructive)
    context.log(
        f"{stack}: applying to {target.env} ({target.account_id or 'any account'}, "
        f"{target.region}, DR {target.dr_region or 'none'}); destructive changes "
        f"{'allowed' if allowed else 'refused'}"
    )
    changes = apply_all(target, allow_destructive=allowed, session=context.session)
    described = [change.describe() for change in changes]
    for line in described:
        context.log(line)
    context.log(
        f"{stack}: {len(described)} change(s) applied" if described else f"{stack}: no change"
    )
    return described


def _flag(value: bool | str) -> bool:
    """A boolean argument, also when a template made it a string (``${allow}`` -> "false")."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"allow_destructive must be true or false, got {value!r}")
