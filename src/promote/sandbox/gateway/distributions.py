"""The estate's CloudFront distributions as the CDN front serves them, read from the emulator.

A host is served by the distribution that lists it in ``Aliases``, looked for in every
environment's account (CloudFront is global: its API is in us-east-1). The list is read at
most once a second, and each distribution's invalidations at most every half second, when a
request for it arrives; new invalidations' paths go to ``on_invalidation``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from promote.sandbox.gateway.cache import (
    CACHING_OPTIMIZED,
    MANAGED_POLICIES,
    UNCOMPRESSED_POLICIES,
    TtlPolicy,
)
from promote.sandbox.gateway.clients import Clients
from promote.sandbox.gateway.edge import EventType
from promote.sandbox.gateway.routes import SiteBucket
from promote.sandbox.invocation import FunctionRef

_log = logging.getLogger(__name__)
REFRESH_SECONDS: Final = 1.0
MISS_REFRESH_SECONDS: Final = 0.1
INVALIDATION_POLL_SECONDS: Final = 0.5
# <bucket>.s3.amazonaws.com, <bucket>.s3.<region>.amazonaws.com, <bucket>.s3-<region>...,
# and the website endpoints <bucket>.s3-website[.-]<region>.amazonaws.com.
_S3_DOMAIN: Final = re.compile(
    r"^(?P<bucket>[^/]+?)\.s3(?:-website)?(?:[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-\d+))?"
    r"\.amazonaws\.com$"
)
_EVENT_TYPES: Final = frozenset(e.value for e in EventType)
_VERSION_ARN: Final = re.compile(
    r"^arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)


@dataclass(frozen=True)
class Origin:
    id: str
    domain_name: str
    bucket: str | None  # None: not an S3 origin, which the sandbox cannot fetch from
    region: str
    path: str = ""  # OriginPath: a prefix for every key
    # A bucket behind an origin access identity without ListBucket answers 403 for a
    # missing key; a public site bucket answers 404.
    missing_status: int = 403


@dataclass(frozen=True)
class Behaviour:
    path_pattern: str  # "*" for the default behaviour
    origin_id: str
    viewer_protocol_policy: str = "allow-all"
    allowed_methods: frozenset[str] = frozenset({"GET", "HEAD"})
    ttl: TtlPolicy = CACHING_OPTIMIZED
    functions: Mapping[EventType, FunctionRef] = field(default_factory=dict)
    # Compress objects automatically: ``Compress`` and a cache policy that caches compressed
    # objects (see :mod:`promote.sandbox.gateway.compression`).
    compress: bool = False

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        pattern = self.path_pattern
        if not pattern.startswith(("/", "*")):
            pattern = "/" + pattern
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        return re.compile(regex, re.DOTALL)

    def matches(self, uri: str) -> bool:
        return bool(self._pattern.fullmatch(uri))


@dataclass(frozen=True)
class Distribution:
    id: str
    domain_name: str
    account_id: str
    aliases: tuple[str, ...]
    origins: Mapping[str, Origin]
    behaviours: tuple[Behaviour, ...]  # CacheBehaviors in order, the default one last
    default_root_object: str = ""
    static: bool = False  # a static site host, not a CloudFront distribution

    def behaviour_for(self, uri: str) -> Behaviour:
        return next((b for b in self.behaviours if b.matches(uri)), self.behaviours[-1])


def static_site(site: SiteBucket) -> Distribution:
    """A site host as a distribution without functions: the bucket, cached like CloudFront."""
    origin = Origin(
        id=site.bucket,
        domain_name=f"{site.bucket}.s3.{site.region}.amazonaws.com",
        bucket=site.bucket,
        region=site.region,
        missing_status=404,
    )
    return Distribution(
        id=f"static-site:{site.host}",
        domain_name=site.host,
        account_id=site.account_id,
        aliases=(site.host,),
        origins={origin.id: origin},
        behaviours=(Behaviour("*", origin.id),),
        static=True,
    )


def parse_distribution(
    account_id: str, summary: Mapping[str, Any], config: Mapping[str, Any]
) -> Distribution:
    """From ``list_distributions``' summary and ``get_distribution_config``'s config."""
    origins = [_origin(o) for o in config.get("Origins", {}).get("Items") or []]
    behaviours = [_behaviour(b) for b in config.get("CacheBehaviors", {}).get("Items") or []]
    behaviours.append(_behaviour({**config["DefaultCacheBehavior"], "PathPattern": "*"}))
    return Distribution(
        id=summary["Id"],
        domain_name=summary.get("DomainName", ""),
        account_id=account_id,
        aliases=tuple(a.lower() for a in config.get("Aliases", {}).get("Items") or []),
        origins={o.id: o for o in origins},
        behaviours=tuple(behaviours),
        default_root_object=config.get("DefaultRootObject") or "",
    )


def parse_s3_domain(domain: str) -> tuple[str, str] | None:
    """(bucket, region) of an S3 origin domain; us-east-1 for the global name."""
    match = _S3_DOMAIN.match(domain.lower())
    if match is None:
        return None
    return match["bucket"], match["region"] or "us-east-1"


def function_ref(arn: str) -> FunctionRef | None:
    match = _VERSION_ARN.match(arn)
    if match is None:
        return None
    return FunctionRef(match["account"], match["region"], match["name"], match["qualifier"])


def _origin(data: Mapping[str, Any]) -> Origin:
    domain = data.get("DomainName", "")
    bucket, region = parse_s3_domain(domain) or (None, "us-east-1")
    path = (data.get("OriginPath") or "").strip("/")
    return Origin(data["Id"], domain, bucket, region, path)


def _behaviour(data: Mapping[str, Any]) -> Behaviour:
    functions: dict[EventType, FunctionRef] = {}
    for item in data.get("LambdaFunctionAssociations", {}).get("Items") or []:
        ref = function_ref(item.get("LambdaFunctionARN", ""))
        if ref is not None and item.get("EventType") in _EVENT_TYPES:
            functions[EventType(item["EventType"])] = ref
    methods = data.get("AllowedMethods", {}).get("Items") or ["GET", "HEAD"]
    return Behaviour(
        path_pattern=data.get("PathPattern") or "*",
        origin_id=data.get("TargetOriginId", ""),
        viewer_protocol_policy=data.get("ViewerProtocolPolicy") or "allow-all",
        allowed_methods=frozenset(m.upper() for m in methods),
        ttl=_ttl_policy(data),
        functions=functions,
        compress=_compresses(data),
    )


def _compresses(data: Mapping[str, Any]) -> bool:
    # Moto answers Compress as sent; when it was left out moto answers true, where CloudFront
    # would have false: a configuration that omits it compresses in the sandbox.
    return data.get("Compress") is True and data.get("CachePolicyId") not in UNCOMPRESSED_POLICIES


def _ttl_policy(data: Mapping[str, Any]) -> TtlPolicy:
    policy_id = data.get("CachePolicyId") or ""
    if policy_id in MANAGED_POLICIES:
        return MANAGED_POLICIES[policy_id]
    if not policy_id and data.get("DefaultTTL"):
        # The legacy settings, when given (moto fills 0 for all three when they are not).
        return TtlPolicy(data.get("MinTTL") or 0, data["DefaultTTL"], data.get("MaxTTL") or 0)
    return CACHING_OPTIMIZED


@dataclass
class _Invalidations:
    seen: set[str]
    polled_at: float


class Directory:
    """Finds the distribution for a host, and reports new invalidations."""

    def __init__(
        self,
        clients: Clients,
        accounts: Iterable[str],
        on_invalidation: Callable[[Distribution, list[str]], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._accounts = tuple(accounts)
        self._on_invalidation = on_invalidation
        self._clock = clock
        self._by_alias: dict[str, Distribution] = {}
        self._read_at = float("-inf")
        self._invalidations: dict[str, _Invalidations] = {}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()

    def find(self, host: str) -> Distribution | None:
        with self._lock:
            age = self._clock() - self._read_at
            # A host not known yet looks again sooner: a distribution created a moment ago
            # (a deploy, then its smoke tests) is served at once, not a second later.
            missing = host not in self._by_alias and age >= MISS_REFRESH_SECONDS
            if age >= REFRESH_SECONDS or missing:
                self._by_alias = self._read()
                self._read_at = self._clock()
            distribution = self._by_alias.get(host)
        if distribution is not None:
            self._poll(distribution)
        return distribution

    def _read(self) -> dict[str, Distribution]:
        found: dict[str, Distribution] = {}
        for account in self._accounts:
            client = self._clients.cloudfront(account)
            try:
                for page in client.get_paginator("list_distributions").paginate():
                    for summary in page["DistributionList"].get("Items") or []:
                        if not summary.get("Aliases", {}).get("Items"):
                            continue
                        config = client.get_distribution_config(Id=summary["Id"])
                        if not config["DistributionConfig"].get("Enabled", True):
                            continue  # a disabled distribution serves nothing
                        parsed = parse_distribution(account, summary, config["DistributionConfig"])
                        found.update(dict.fromkeys(parsed.aliases, parsed))
            except (BotoCoreError, ClientError) as error:
                _log.warning("could not list the distributions of %s: %s", account, error)
        return found

    def _poll(self, distribution: Distribution) -> None:
        with self._poll_lock:
            state = self._invalidations.get(distribution.id)
            now = self._clock()
            if state is not None and now - state.polled_at < INVALIDATION_POLL_SECONDS:
                return
            client = self._clients.cloudfront(distribution.account_id)
            try:
                ids = self._invalidation_ids(client, distribution.id)
                if state is None:
                    # Invalidations older than the first look purge nothing we hold.
                    self._invalidations[distribution.id] = _Invalidations(ids, now)
                    return
                paths = [
                    path
                    for new in sorted(ids - state.seen)
                    for path in client.get_invalidation(DistributionId=distribution.id, Id=new)[
                        "Invalidation"
                    ]["InvalidationBatch"]["Paths"].get("Items", [])
                ]
            except (BotoCoreError, ClientError) as error:
                _log.warning("could not read the invalidations of %s: %s", distribution.id, error)
                return
            state.seen, state.polled_at = ids, now
        if paths:
            self._on_invalidation(distribution, paths)

    @staticmethod
    def _invalidation_ids(client: Any, distribution_id: str) -> set[str]:
        paginator = client.get_paginator("list_invalidations")
        return {
            item["Id"]
            for page in paginator.paginate(DistributionId=distribution_id)
            for item in page["InvalidationList"].get("Items") or []
        }
