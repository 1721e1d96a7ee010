"""Which function answers which URL, and which bucket which site host. Pure: estate in, table out.

An API is served at ``https://{api_domain}{base_path}/...`` (API Gateway's custom-domain base
path mapping) by the project's function alias in the environment's account and home region.
A request goes to the route with the longest base path that is a prefix of its path at a
segment boundary: ``/v1.0/products`` serves ``/v1.0/products`` and ``/v1.0/products/42``, never
``/v1.0/productsx``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from promote.interpolation import UndefinedVariable, interpolate, project_variables, scope_for
from promote.model import Estate
from promote.sandbox.invocation import FunctionRef

LOOPBACK_HOSTS = ("localhost",)
S3_GLOBAL = "s3.amazonaws.com"
S3_HOME = "us-east-1"  # the global endpoint's region


@dataclass(frozen=True)
class Route:
    host: str
    base_path: str
    function: FunctionRef
    environment: str
    project: str


@dataclass(frozen=True)
class ApiMatch:
    route: Route
    # The path below the base path, without its leading "/": "" for the base path itself.
    proxy: str


@dataclass(frozen=True)
class SiteBucket:
    """A host served straight from a bucket (an environment's ``static_sites``)."""

    host: str
    bucket: str
    account_id: str
    region: str
    environment: str


@dataclass(frozen=True)
class RouteTable:
    # Per host, longest base path first.
    apis: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    sites: Mapping[str, SiteBucket] = field(default_factory=dict)
    # Every environment's account, where CloudFront distributions are looked for.
    accounts: tuple[str, ...] = ()
    # The names the gateway's certificate covers (see :meth:`hosts`).
    domains: tuple[str, ...] = ()
    # Every environment's home, DR and edge region: S3's regional endpoints in the certificate.
    regions: tuple[str, ...] = ()
    # Routes that could not be filled in, as readable sentences.
    problems: tuple[str, ...] = ()

    def is_api_host(self, host: str) -> bool:
        return host in self.apis

    def match(self, host: str, path: str) -> ApiMatch | None:
        for route in self.apis.get(host, ()):
            base = route.base_path
            if path == base or path == base + "/":
                return ApiMatch(route, "")
            if path.startswith(base + "/"):
                return ApiMatch(route, path[len(base) + 1 :])
        return None

    def site(self, host: str) -> SiteBucket | None:
        return self.sites.get(host)

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for routes in self.apis.values() for route in routes)

    def hosts(self) -> tuple[str, ...]:
        """Every name the gateway answers for: API domains, each environment's domain,
        ``www.`` and ``*.`` under it (CloudFront aliases), static site hosts, localhost, and
        S3's virtual-hosted endpoints: ``*.s3.amazonaws.com`` and ``*.s3.<region>...`` for
        us-east-1 and each region."""
        names = [*self.apis, *self.sites, *LOOPBACK_HOSTS]
        for domain in self.domains:
            names += [domain, f"www.{domain}", f"*.{domain}"]
        names.append(f"*.{S3_GLOBAL}")
        names += [f"*.s3.{region}.amazonaws.com" for region in (S3_HOME, *self.regions)]
        return tuple(dict.fromkeys(names))


def routes_for(estate: Estate) -> RouteTable:
    environments = estate.spec.environments
    found: dict[str, list[Route]] = {}
    problems: list[str] = []
    sites: dict[str, SiteBucket] = {}
    for env_name, env in environments.items():
        scope = scope_for(environments, env_name)
        for project in estate.projects:
            if project.api is None:
                continue
            try:
                values = project_variables(scope, project.vars)
                route = Route(
                    host=env.api_domain.lower(),
                    base_path=interpolate(project.api.base_path, values),
                    function=FunctionRef(
                        account_id=env.account_id,
                        region=env.region,
                        name=interpolate(project.api.function, values),
                        qualifier=interpolate(project.api.alias, values),
                    ),
                    environment=env_name,
                    project=project.name,
                )
            except UndefinedVariable as error:
                problems.append(
                    f"{project.name} in {env_name}: the api uses ${{{error.name}}}, "
                    "which is only known during a run"
                )
                continue
            _add(found, route, problems)
        for host, bucket in env.static_sites.items():
            sites[host.lower()] = SiteBucket(
                host.lower(), bucket, env.account_id, env.region, env_name
            )
    return RouteTable(
        apis={host: _longest_first(routes) for host, routes in found.items()},
        sites=sites,
        accounts=tuple(dict.fromkeys(env.account_id for env in environments.values())),
        domains=tuple(dict.fromkeys(env.domain.lower() for env in environments.values())),
        regions=tuple(
            dict.fromkeys(
                region
                for env in environments.values()
                for region in (env.region, env.dr_region, env.edge_region)
                if region
            )
        ),
        problems=tuple(problems),
    )


def _add(found: dict[str, list[Route]], route: Route, problems: list[str]) -> None:
    routes = found.setdefault(route.host, [])
    clash = next((r for r in routes if r.base_path == route.base_path), None)
    if clash is None:
        routes.append(route)
        return
    problems.append(
        f"{route.project} in {route.environment}: https://{route.host}{route.base_path} "
        f"is already served by {clash.project}; the first one wins"
    )


def _longest_first(routes: list[Route]) -> tuple[Route, ...]:
    return tuple(sorted(routes, key=lambda r: len(r.base_path), reverse=True))
