"""The s3_schemas stack's desired state as plain data, and the pure rules around it.

Nothing here calls AWS. Desired values are kept in the form the S3 API returns them
(after ``normalize_*``), so the stack compares desired and live with :func:`same`, and
:data:`VERDICTS` says how risky closing each difference is.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bbws.schemas.common import ChangeKind, Target, TargetError
from bbws.templates.store import template_objects

MANAGED_BY = "bbws-s3-schemas"
BUCKET_ROLES = ("frontend", "templates", "product-images", "orders", "tenant-assets", "logs")
CDN_ROLES = frozenset({"frontend", "product-images"})  # only the CDN reads these
# SSE-S3: a CloudFront OAI cannot read SSE-KMS objects, and SSE-S3 needs no key policy
# or replica key in the DR region for replication to work.
DEFAULT_ENCRYPTION = "AES256"
PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
OAI_PRINCIPAL_PREFIX = "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity "
_ENV = re.compile(r"^[a-z0-9]+$")
CREATE, UPDATE, DESTRUCTIVE = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DESTRUCTIVE
Verdict = tuple[ChangeKind, str, str]  # kind, action, reason


def bucket_name(role: str, env: str) -> str:
    return f"bbws-{role}-{env}"


def oai_comment(env: str) -> str:
    return f"bbws-cdn-{env}"


def oai_principal(oai_id: str) -> str:
    return f"{OAI_PRINCIPAL_PREFIX}{oai_id}"


def pending_oai_principal(comment: str) -> str:
    """Stands in for the OAI's ARN in a plan made before the OAI exists; apply resolves it."""
    return oai_principal(f"(pending {comment})")


@dataclass(frozen=True)
class PublicAccessBlock:
    block_public_acls: bool = True
    ignore_public_acls: bool = True
    block_public_policy: bool = True
    restrict_public_buckets: bool = True

    def to_api(self) -> dict[str, bool]:
        values = dataclasses.astuple(self)
        return dict(zip(PAB_FLAGS, values, strict=True))


@dataclass(frozen=True)
class LifecycleRule:
    id: str
    transition_days: int | None = None
    transition_class: str = "STANDARD_IA"
    expire_days: int | None = None
    noncurrent_expire_days: int | None = None

    def to_api(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"ID": self.id, "Status": "Enabled", "Filter": {"Prefix": ""}}
        if self.transition_days is not None:
            rule["Transitions"] = [
                {"Days": self.transition_days, "StorageClass": self.transition_class}
            ]
        if self.expire_days is not None:
            rule["Expiration"] = {"Days": self.expire_days}
        if self.noncurrent_expire_days is not None:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": self.noncurrent_expire_days}
        return rule


# Access logs: cheap storage after a month, gone after a year; old versions after a month.
LOGS_LIFECYCLE = LifecycleRule(
    "logs-retention", transition_days=30, expire_days=365, noncurrent_expire_days=30
)


@dataclass(frozen=True)
class BucketSpec:
    name: str
    region: str
    public_access_block: PublicAccessBlock = PublicAccessBlock()
    versioning: bool = True
    encryption: str | None = DEFAULT_ENCRYPTION
    lifecycle: tuple[LifecycleRule, ...] = ()
    cdn_read: bool = False  # the OAI may s3:GetObject
    extra_readers: tuple[str, ...] = ()  # principals besides the OAI: always destructive
    replicate_to: str | None = None  # DR bucket name
    tags: Mapping[str, str] = field(default_factory=dict)

    def desired(self, oai: str, role: str | None) -> dict[str, Any]:
        """Each attribute's desired value as the stack reads it back; ``oai`` is the OAI's
        principal ARN and ``role`` the replication role's name."""
        return {
            "public_access_block": self.public_access_block.to_api(),
            "encryption": self.encryption,
            "versioning": "Enabled" if self.versioning else "Suspended",
            "tags": dict(self.tags),
            "lifecycle": normalize_lifecycle(rule.to_api() for rule in self.lifecycle),
            "policy": policy_document(self, oai),
            "replication": replication_value(self, role),
        }

    def violations(self) -> list[str]:
        """How this spec breaks the S3 warnings of the promotion plan (empty when safe)."""
        found = [f"{flag} off" for flag, on in self.public_access_block.to_api().items() if not on]
        if not self.versioning:
            found.append("versioning off")
        if self.encryption is None:
            found.append("no default encryption")
        found.extend(f"{reader} may read objects" for reader in self.extra_readers)
        return found


@dataclass(frozen=True)
class S3Definition:
    env: str
    region: str
    buckets: tuple[BucketSpec, ...]
    templates_bucket: str
    templates: Mapping[str, str]  # object key -> template source
    oai_comment: str
    replication_role: str | None = None
    ignored_buckets: frozenset[str] = frozenset()  # bbws-*-{env} buckets other stacks own

    def bucket(self, name: str) -> BucketSpec:
        for spec in self.buckets:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def without_bucket(self, name: str) -> S3Definition:
        self.bucket(name)
        return dataclasses.replace(self, buckets=tuple(b for b in self.buckets if b.name != name))

    def with_bucket(self, name: str, **changes: Any) -> S3Definition:
        """A copy with one bucket's fields replaced, e.g. ``versioning=False``."""
        updated = dataclasses.replace(self.bucket(name), **changes)
        return dataclasses.replace(
            self, buckets=tuple(updated if b.name == name else b for b in self.buckets)
        )


def define(target: Target) -> S3Definition:
    """The six BBWS buckets for one environment, plus DR copies where it has a DR region."""
    env = target.env
    if not _ENV.match(env) or target.dr_region == target.region:
        raise TargetError(f"cannot define S3 buckets for env {env!r} in {target.region}")
    tags = {"managed-by": MANAGED_BY, "environment": env}
    buckets: list[BucketSpec] = []
    for role in BUCKET_ROLES:
        name = bucket_name(role, env)
        lifecycle = (LOGS_LIFECYCLE,) if role == "logs" else ()
        dr_name = f"{name}-dr" if target.dr_region else None
        buckets.append(
            BucketSpec(
                name,
                target.region,
                lifecycle=lifecycle,
                cdn_read=role in CDN_ROLES,
                replicate_to=dr_name,
                tags=tags,
            )
        )
        if target.dr_region and dr_name:
            buckets.append(BucketSpec(dr_name, target.dr_region, lifecycle=lifecycle, tags=tags))
    return S3Definition(
        env=env,
        region=target.region,
        buckets=tuple(buckets),
        templates_bucket=bucket_name("templates", env),
        templates=template_objects(),
        oai_comment=oai_comment(env),
        replication_role=f"bbws-s3-replication-{env}" if target.dr_region else None,
        ignored_buckets=frozenset({bucket_name("terraform-state", env)}),
    )


# --- desired values, in the shape the stack reads them back -------------------------------


def policy_document(spec: BucketSpec, oai: str) -> dict[str, Any] | None:
    """Only the OAI (``oai`` is its principal ARN) may GetObject; ``None``: no policy."""
    statements: list[dict[str, Any]] = []
    objects = f"arn:aws:s3:::{spec.name}/*"
    if spec.cdn_read:
        statements.append(_read_statement("CdnReadOnly", [oai], objects))
    if spec.extra_readers:
        statements.append(_read_statement("ExtraReaders", list(spec.extra_readers), objects))
    return {"Version": "2012-10-17", "Statement": statements} if statements else None


def _read_statement(sid: str, principals: list[str], resource: str) -> dict[str, Any]:
    principal: Any = "*" if principals == ["*"] else {"AWS": sorted(principals)}
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": resource,
    }


def replication_value(spec: BucketSpec, role: str | None) -> dict[str, Any] | None:
    """Everything is copied to the DR bucket; deletions are not, so DR survives a bad delete."""
    if spec.replicate_to is None or role is None:
        return None
    rule = {
        "ID": "dr",
        "Priority": 1,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{spec.replicate_to}", "StorageClass": "STANDARD"},
    }
    return {"Role": role, "Rules": [rule]}


REPLICATION_TRUST_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def replication_role_policy(definition: S3Definition) -> dict[str, Any]:
    """Least privilege for S3 replication: read the sources, write replicas into DR only."""
    pairs = [(b.name, b.replicate_to) for b in definition.buckets if b.replicate_to]
    sources = sorted(f"arn:aws:s3:::{src}" for src, _ in pairs)
    targets = sorted(f"arn:aws:s3:::{dst}/*" for _, dst in pairs)
    return {
        "Version": "2012-10-17",
        "Statement": [
            _allow(
                "ReadSourceConfig", ["s3:GetReplicationConfiguration", "s3:ListBucket"], sources
            ),
            _allow(
                "ReadSourceObjects",
                [
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionTagging",
                ],
                [f"{arn}/*" for arn in sources],
            ),
            _allow(
                "WriteReplicas",
                ["s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"],
                targets,
            ),
        ],
    }


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


# --- normalizing what AWS returns ----------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _principals(principal: Any) -> list[str]:
    if principal is None:  # identity policies have no principal
        return [""]
    if principal == "*":
        return ["*"]
    found: list[str] = []
    for kind, values in sorted(dict(principal).items()):
        prefix = "" if kind == "AWS" else f"{kind}:"
        found.extend(f"{prefix}{value}" for value in _as_list(values))
    return found


def policy_grants(doc: Mapping[str, Any] | None) -> frozenset[tuple[str, ...]]:
    """A policy as a set of (effect, principal, action, resource, condition) grants, so
    formatting, ordering and single-vs-list differences do not count as a change."""
    grants: set[tuple[str, ...]] = set()
    for st in _as_list((doc or {}).get("Statement", [])):
        condition = repr(sorted(dict(st.get("Condition", {})).items()))
        for principal in _principals(st.get("Principal")):
            for action in _as_list(st.get("Action", [])):
                for resource in _as_list(st.get("Resource", [])):
                    grants.add((st.get("Effect", ""), principal, action, resource, condition))
    return frozenset(grants)


def readers(doc: Mapping[str, Any] | None) -> list[str]:
    """Principals a policy allows anything, for reasons a reviewer reads."""
    return sorted({g[1] for g in policy_grants(doc) if g[0] == "Allow"})


def _filter(rule: Mapping[str, Any]) -> dict[str, Any]:
    # S3 echoes a rule's filter in several equivalent spellings; use one.
    raw = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
    return dict(raw) if raw else {"Prefix": ""}


_LIFECYCLE_KEYS = (
    "ID",
    "Status",
    "Transitions",
    "Expiration",
    "NoncurrentVersionExpiration",
    "NoncurrentVersionTransitions",
    "AbortIncompleteMultipartUpload",
)


def normalize_lifecycle(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = [{**{k: r[k] for k in _LIFECYCLE_KEYS if k in r}, "Filter": _filter(r)} for r in rules]
    return sorted(out, key=lambda r: str(r.get("ID", "")))


def expiry_days(rules: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The shortest current and noncurrent expiry over enabled rules, in days."""
    found: dict[str, int] = {}
    for rule in rules:
        if rule.get("Status") != "Enabled":
            continue
        for label, key, days in (
            ("expiry", "Expiration", "Days"),
            ("noncurrent expiry", "NoncurrentVersionExpiration", "NoncurrentDays"),
        ):
            value = rule.get(key, {}).get(days)
            if value is not None:
                found[label] = min(found.get(label, value), int(value))
    return found


_REPLICATION_KEYS = ("ID", "Priority", "Status", "DeleteMarkerReplication", "Destination")


def normalize_replication(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Live replication config with the role reduced to its name (the account differs)."""
    if not config:
        return None
    rules = [
        {**{k: r[k] for k in _REPLICATION_KEYS if k in r}, "Filter": _filter(r)}
        for r in config.get("Rules", [])
    ]
    role = str(config.get("Role", "")).rsplit("/", 1)[-1]
    return {"Role": role, "Rules": sorted(rules, key=lambda r: str(r.get("ID", "")))}


def replication_target(value: Mapping[str, Any] | None) -> str:
    if not value:
        return "none"
    buckets = [r.get("Destination", {}).get("Bucket", "?") for r in value.get("Rules", [])]
    return ", ".join(b.removeprefix("arn:aws:s3:::") for b in buckets) or "none"


# --- classification: what changing one attribute risks ----------------------------------
#
# Each verdict takes the bucket's spec and the desired and live values of one attribute
# (as the stack reads them) and says how risky making live match desired is, and why.


def _flags(value: Mapping[str, bool]) -> str:
    off = [flag for flag, on in value.items() if not on]
    return f"{', '.join(off)} off" if off else "all four on"


def _verdict_pab(spec: BucketSpec, desired: Any, live: Any) -> Verdict:
    weakened = [flag for flag in PAB_FLAGS if live[flag] and not desired[flag]]
    if weakened:
        return (
            DESTRUCTIVE,
            "weaken-public-access-block",
            f"turns off {', '.join(weakened)}: ALL buckets MUST block public access; "
            "a policy or ACL could then make the bucket public",
        )
    why = f"public access block: defined {_flags(desired)}, live {_flags(live)}"
    return UPDATE, "put-public-access-block", why


def _verdict_versioning(spec: BucketSpec, desired: Any, live: Any) -> Verdict:
    if desired == "Enabled":
        why = f"versioning: defined Enabled, live {live}; Versioning MUST be enabled"
        return UPDATE, "enable-versioning", why
    why = (
        f"versioning: defined {desired}, live {live}; overwrites and deletes could no longer "
        "be undone and PROD replication stops"
    )
    return DESTRUCTIVE, "suspend-versioning", why


def _verdict_encryption(spec: BucketSpec, desired: Any, live: Any) -> Verdict:
    if desired is None:
        why = f"default encryption: defined none, live {live}; new objects may be unencrypted"
        return DESTRUCTIVE, "remove-bucket-encryption", why
    why = f"default encryption: defined {desired}, live {live or 'none'}"
    return UPDATE, "put-bucket-encryption", why


def _verdict_tags(spec: BucketSpec, desired: Any, live: Any) -> Verdict:
    wrong = sorted(k for k, v in desired.items() if live.get(k) != v)
    defined = ", ".join(f"{k}={desired[k]}" for k in wrong)
    current = ", ".join(f"{k}={live.get(k, '(missing)')}" for k in wrong)
    why = f"tags: defined {defined}, live {current}; other tags are kept"
    return UPDATE, "put-bucket-tagging", why


def _days(expiry: Mapping[str, int]) -> str:
    return ", ".join(f"{label} {days} days" for label, days in expiry.items()) or "no expiry"


def _verdict_lifecycle(spec: BucketSpec, desired: Any, live: Any) -> Verdict:
    if not desired:
        why = f"lifecycle: defined none, live {len(live)} rule(s); objects stop expiring"
        return UPDATE, "delete-bucket-lifecycle", why
    new, old = expiry_days(desired), expiry_days(live)
    shorter = [f"{k} {old[k]} -> {new[k]} days" for k in new if k in old and new[k] < old[k]]
    if shorter:
        why = f"lifecycle shortens {', '.join(shorter)}: older objects are deleted for good"
        return DESTRUCTIVE, "shorten-lifecycle-expiry", why
    ids = ", ".join(str(r.get("ID")) for r in live) or "none"
    why = f"lifecycle: defined {_days(new)}, live rules {ids} ({_days(old)})"
    return UPDATE, "put-bucket-lifecycle", why


def _verdict_policy(spec: BucketSpec, desired: Any, live: Any) -> Verdict:
    allowed = ", ".join(readers(live)) or "nobody"
    if desired is None:
        why = f"policy: defined none, live allows {allowed}; deleting it revokes their access"
        return UPDATE, "delete-bucket-policy", why
    if spec.extra_readers:
        why = (
            f"policy lets {', '.join(spec.extra_readers)} read objects besides the CDN OAI: "
            "ALL buckets MUST block public access (CloudFront OAI only)"
        )
        return DESTRUCTIVE, "put-bucket-policy", why
    why = f"policy: defined s3:GetObject for the CDN OAI only, live allows {allowed}"
    return UPDATE, "put-bucket-policy", why


def _verdict_replication(spec: BucketSpec, desired: Any, live: Any) -> Verdict:
    if desired is None:
        why = f"replication: defined none, live to {replication_target(live)}; DR copies stop"
        return DESTRUCTIVE, "delete-bucket-replication", why
    why = (
        f"replication: defined to {replication_target(desired)} via role {desired['Role']}, "
        f"live {'to ' + replication_target(live) if live else 'none'}"
    )
    return (CREATE if live is None else UPDATE), "put-bucket-replication", why


def _tags_same(desired: Any, live: Any) -> bool:
    return all(live.get(k) == v for k, v in desired.items())


def _policy_same(desired: Any, live: Any) -> bool:
    return (desired is None) == (live is None) and policy_grants(desired) == policy_grants(live)


def _versioning_same(desired: Any, live: Any) -> bool:
    return bool(desired == live or (desired == "Suspended" and live == "Disabled"))


def _default_same(desired: Any, live: Any) -> bool:
    return bool(desired == live)


VERDICTS: Mapping[str, Callable[[BucketSpec, Any, Any], Verdict]] = {
    "public_access_block": _verdict_pab,
    "encryption": _verdict_encryption,
    "versioning": _verdict_versioning,
    "tags": _verdict_tags,
    "lifecycle": _verdict_lifecycle,
    "policy": _verdict_policy,
    "replication": _verdict_replication,
}
_SAME: Mapping[str, Callable[[Any, Any], bool]] = {
    "tags": _tags_same,
    "policy": _policy_same,
    "versioning": _versioning_same,
}


def same(attribute: str, desired: Any, live: Any) -> bool:
    """Whether the live value already satisfies the desired one."""
    return _SAME.get(attribute, _default_same)(desired, live)
